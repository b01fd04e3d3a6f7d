/* descent bench: time optimizer steps against the memory-bandwidth limit.
 *
 * A step reads p, g and every state buffer once and writes p and the state
 * back, so it is bound by memory bandwidth. For each optimizer the bench
 * times descent_step() and, in the same run with the same sizes and
 * threads, a plain kernel that reads and writes the same arrays with
 * trivial arithmetic (x = a x + g for p and each state buffer): the limit.
 * The ratio of the two is how close the step sits to the bound. */
#include "cli.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <sys/resource.h>
#endif
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

/* The standard set: every optimizer of the library's registry in its
 * default form, plus SGD with momentum after SGD. */
#define SGD_MOMENTUM "SGD(momentum=0.9)"
#define MAX_OPTS 64
#define MAX_THREADS 16
#define LIMIT_CHUNK ((size_t)1 << 16) /* as the library's step splits work */

static void bench_usage(FILE *out)
{
    fprintf(out,
            "usage: descent bench [--opt SPEC ...] [--n N] [--tensors K] [--threads T[,T...]]\n"
            "                     [--dtype f32|bf16|f64] [--reps R] [--clock wall|cpu]\n"
            "                     [--nonfinite propagate|skip|error|report]\n"
            "                     [--clip-norm MAX | --clip-value V] [--unscale INV] [--in-step]\n"
            "                     [--ema DECAY] [--lookahead K] [--clip-recheck]\n"
            "                     [--prefetch B|off|default] [--bf16-options F] [--bf16-scratch]\n"
            "                     [--json]\n\n"
            "  --opt SPEC    optimizer to time (repeatable); default: the standard set,\n"
            "                every optimizer (descent --help lists them) in its default\n"
            "                form, and SGD(momentum=0.9)\n"
            "  --n N         parameters in total (default 16777216)\n"
            "  --tensors K   split them into K tensors of equal size (default 1)\n"
            "  --threads T   threads for the step and the limit kernel; a comma list\n"
            "                runs each count in turn (default 1)\n"
            "  --dtype T     storage of parameters and gradients (default f32)\n"
            "  --reps R      timed repetitions; the median is reported (default 7)\n"
            "  --clock C     wall (default) or cpu: process CPU time / threads, which\n"
            "                leaves out time other processes hold the cores\n"
            "  --nonfinite P the optimizers' non-finite-gradient policy (default\n"
            "                propagate); skip and error add a pass over the gradients\n"
            "                before the step unless a clipping or unscale call left its\n"
            "                verdict; report is tested inside the kernels' own loops\n"
            "  --clip-norm MAX  before each step, descent_clip_grad_norm(MAX, 2), timed\n"
            "                with the step; its verdict that every gradient is finite\n"
            "                spares the step its own check (pick MAX above the norm so\n"
            "                repeated clipping does not shrink the gradients)\n"
            "  --clip-value V   the same with descent_clip_grad_value(V)\n"
            "  --prefetch B  descent_set_prefetch: the step's prefetch block in bytes\n"
            "                (a multiple of 64), off, or default (the algorithm's)\n"
            "  --bf16-options F  with --dtype bf16, descent_set_bf16_options: master,\n"
            "                stochastic or master,stochastic (an f32 master copy of the\n"
            "                parameters, counted as one more state buffer; stochastic\n"
            "                rounding)\n"
            "  --bf16-scratch  with --dtype bf16, DESCENT_BF16_SCRATCH: each step widens\n"
            "                p and g into f32 scratch blocks and runs the f32 kernel (the\n"
            "                same bits as the bf16 kernels, which convert in registers)\n"
            "  --unscale INV    the same with descent_unscale_grads(INV), loss\n"
            "                scaling's unscale (INV = 1 keeps the gradients)\n"
            "                With --clip-norm: descent_unscale_clip_grad_norm, one pass\n"
            "  --in-step     unscale and clip inside the step (descent_set_step_clip)\n"
            "                instead of the calls before it: the gradients are read once\n"
            "                and never written\n"
            "  --ema DECAY   keep an EMA of the parameters (descent_set_ema)\n"
            "  --lookahead K Lookahead(k=K, alpha=0.5) around the optimizer\n"
            "  --clip-recheck   call descent_grads_changed between clipping and the\n"
            "                step, so the step checks the gradients itself\n"
            "                Under skip, error or report each repetition also times the\n"
            "                same pass under propagate: the median extra cost is printed\n"
            "  --json        one JSON object per line instead of a table (the bf16\n"
            "                choices: bf16_options none, master, stochastic or\n"
            "                master,stochastic; bf16_scratch true or false)\n\n"
            "Per optimizer: seconds per step, parameters/s, bytes/s (reads + writes of p,\n"
            "g and each state buffer, plus what clipping, unscaling, the EMA and\n"
            "Lookahead must move at least: bytes_per_step), the bandwidth of a plain kernel that reads and\n"
            "writes the same arrays (the limit), their ratio, the state bytes and the\n"
            "process's peak resident memory while the optimizer ran. With any of\n"
            "--clip-norm, --clip-value, --unscale, --in-step, --ema, --lookahead, each\n"
            "repetition also times the step alone (the same optimizer without those\n"
            "passes, on its own copies of p and g) right after, and the median of the\n"
            "per-repetition ratios is printed (JSON: pipeline_ratio,\n"
            "step_alone_seconds_per_step).\n");
}

/* The clock: wall time by default; with --clock cpu the process's CPU time
 * divided by the threads, which leaves out the time other processes hold
 * the cores — on a shared, oversubscribed machine the only stable figure.
 * (OpenMP threads waiting at the end of a step spin, so that time counts.) */
static int use_cpu_clock;
static int clock_threads = 1;

static double now_seconds(void)
{
    struct timespec ts;
    if (use_cpu_clock) {
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return ((double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec) / clock_threads;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Peak resident set since the last reset, in bytes. Linux lets a process
 * reset its own high-water mark (clear_refs 5), so each optimizer's peak is
 * its own; elsewhere the figure is the peak of the whole run. */
static void reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

static double peak_rss_bytes(void)
{
    /* VmHWM is this address space's own peak; ru_maxrss also counts the
     * peak of the process that forked us before exec (a Python driver). */
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        double kb = NAN;
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "VmHWM:", 6) == 0) {
                kb = strtod(line + 6, NULL);
                break;
            }
        fclose(f);
        if (kb == kb)
            return kb * 1024.0;
    }
#ifdef _WIN32
    return NAN;
#else
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return NAN;
    return (double)ru.ru_maxrss * 1024.0;
#endif
}

/* ---- the limit: x_j = a x_j + g for k arrays x_j, plus g read ---------- */

#define LIMIT_BODY(T)                                                                       \
    for (size_t i = b; i < e; i++) {                                                        \
        T gi = g[i];                                                                        \
        for (int j = 0; j < K; j++)                                                         \
            x[j][i] = x[j][i] * a + gi;                                                     \
    }

/* One function per array count so each loop is a plain unrolled stream. */
#define LIMIT_FN(T, SFX, KK, ATTR)                                                          \
    ATTR static void limit_##SFX##_##KK(T *const *xs, const T *restrict g, T a, size_t b,   \
                                        size_t e)                                           \
    {                                                                                       \
        enum { K = KK };                                                                    \
        T *restrict x[KK];                                                                  \
        for (int j = 0; j < K; j++)                                                         \
            x[j] = xs[j];                                                                   \
        LIMIT_BODY(T)                                                                       \
    }

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define HAVE_X86_DISPATCH 1
#if defined(__clang__)
#define ATTR_AVX512 __attribute__((target("avx512f")))
#else
#define ATTR_AVX512 __attribute__((target("avx512f,prefer-vector-width=512")))
#endif
#define ATTR_AVX2 __attribute__((target("avx2")))
#else
#define HAVE_X86_DISPATCH 0
#endif

#define LIMIT_FNS(T, SFX)                                                                   \
    LIMIT_FN(T, SFX, 1, ) LIMIT_FN(T, SFX, 2, ) LIMIT_FN(T, SFX, 3, ) LIMIT_FN(T, SFX, 4, ) \
    LIMIT_FN(T, SFX, 5, )
#define LIMIT_FNS_ISA(T, SFX, ATTR)                                                         \
    LIMIT_FN(T, SFX, 1, ATTR) LIMIT_FN(T, SFX, 2, ATTR) LIMIT_FN(T, SFX, 3, ATTR)           \
    LIMIT_FN(T, SFX, 4, ATTR) LIMIT_FN(T, SFX, 5, ATTR)

LIMIT_FNS(float, f32)
LIMIT_FNS(double, f64)
#if HAVE_X86_DISPATCH
LIMIT_FNS_ISA(float, f32_avx512, ATTR_AVX512)
LIMIT_FNS_ISA(double, f64_avx512, ATTR_AVX512)
LIMIT_FNS_ISA(float, f32_avx2, ATTR_AVX2)
LIMIT_FNS_ISA(double, f64_avx2, ATTR_AVX2)
#endif

/* bf16 parameters and gradients with f32 state: p = p + g on the raw bits
 * (p read and written, g read, 2 bytes each) and x_j = a x_j + g for the
 * f32 state buffers. */
#define LIMIT_BF16_FN(SFX, KK, ATTR)                                                       \
    ATTR static void limit_bf16##SFX##_##KK(float *const *xs, uint16_t *restrict p,         \
                                            const uint16_t *restrict g, float a, size_t b,  \
                                            size_t e)                                       \
    {                                                                                       \
        enum { K = KK };                                                                    \
        float *restrict x[KK + 1];                                                          \
        for (int j = 0; j < K; j++)                                                         \
            x[j] = xs[j];                                                                   \
        for (size_t i = b; i < e; i++) {                                                    \
            uint32_t bits = (uint32_t)g[i] << 16;                                           \
            float gi;                                                                       \
            memcpy(&gi, &bits, sizeof gi);                                                  \
            p[i] = (uint16_t)(p[i] + g[i]);                                                 \
            for (int j = 0; j < K; j++)                                                     \
                x[j][i] = x[j][i] * a + gi;                                                 \
        }                                                                                   \
    }
#define LIMIT_BF16_FNS(SFX, ATTR)                                                           \
    LIMIT_BF16_FN(SFX, 0, ATTR) LIMIT_BF16_FN(SFX, 1, ATTR) LIMIT_BF16_FN(SFX, 2, ATTR)     \
    LIMIT_BF16_FN(SFX, 3, ATTR) LIMIT_BF16_FN(SFX, 4, ATTR)
LIMIT_BF16_FNS(, )
#if HAVE_X86_DISPATCH
LIMIT_BF16_FNS(_avx512, ATTR_AVX512)
LIMIT_BF16_FNS(_avx2, ATTR_AVX2)
#endif
typedef void (*limit_bf16_fn)(float *const *, uint16_t *restrict, const uint16_t *restrict, float, size_t, size_t);
#define LIMIT_BF16_TABLE(SFX)                                                               \
    {limit_bf16##SFX##_0, limit_bf16##SFX##_1, limit_bf16##SFX##_2, limit_bf16##SFX##_3, limit_bf16##SFX##_4}
static const limit_bf16_fn limit_bf16_tab[] = LIMIT_BF16_TABLE();
#if HAVE_X86_DISPATCH
static const limit_bf16_fn limit_bf16_avx512_tab[] = LIMIT_BF16_TABLE(_avx512);
static const limit_bf16_fn limit_bf16_avx2_tab[] = LIMIT_BF16_TABLE(_avx2);
#endif

typedef void (*limit_f32_fn)(float *const *, const float *restrict, float, size_t, size_t);
typedef void (*limit_f64_fn)(double *const *, const double *restrict, double, size_t, size_t);

#define LIMIT_TABLE(SFX) {limit_##SFX##_1, limit_##SFX##_2, limit_##SFX##_3, limit_##SFX##_4, limit_##SFX##_5}

static const limit_f32_fn limit_f32_tab[] = LIMIT_TABLE(f32);
static const limit_f64_fn limit_f64_tab[] = LIMIT_TABLE(f64);
#if HAVE_X86_DISPATCH
static const limit_f32_fn limit_f32_avx512_tab[] = LIMIT_TABLE(f32_avx512);
static const limit_f64_fn limit_f64_avx512_tab[] = LIMIT_TABLE(f64_avx512);
static const limit_f32_fn limit_f32_avx2_tab[] = LIMIT_TABLE(f32_avx2);
static const limit_f64_fn limit_f64_avx2_tab[] = LIMIT_TABLE(f64_avx2);
#endif

typedef struct limit_job {
    int k;             /* arrays read and written (p and each state buffer) */
    int wide;          /* 8-byte elements */
    int bf16;          /* x[0] and g are bf16; x[1..k) are f32 */
    void *x[5];
    void *g;
    size_t n;
    int threads;
} limit_job;

static void limit_range(const limit_job *L, size_t b, size_t e)
{
    int i = L->k - 1;
    if (L->bf16) {
        const limit_bf16_fn *tab = limit_bf16_tab;
#if HAVE_X86_DISPATCH
        if (__builtin_cpu_supports("avx512f"))
            tab = limit_bf16_avx512_tab;
        else if (__builtin_cpu_supports("avx2"))
            tab = limit_bf16_avx2_tab;
#endif
        tab[i]((float *const *)L->x + 1, L->x[0], L->g, 0.999f, b, e);
    } else if (L->wide) {
        const limit_f64_fn *tab = limit_f64_tab;
#if HAVE_X86_DISPATCH
        if (__builtin_cpu_supports("avx512f"))
            tab = limit_f64_avx512_tab;
        else if (__builtin_cpu_supports("avx2"))
            tab = limit_f64_avx2_tab;
#endif
        tab[i]((double *const *)L->x, L->g, 0.999, b, e);
    } else {
        const limit_f32_fn *tab = limit_f32_tab;
#if HAVE_X86_DISPATCH
        if (__builtin_cpu_supports("avx512f"))
            tab = limit_f32_avx512_tab;
        else if (__builtin_cpu_supports("avx2"))
            tab = limit_f32_avx2_tab;
#endif
        tab[i]((float *const *)L->x, L->g, 0.999f, b, e);
    }
}

static void limit_pass(const limit_job *L)
{
    size_t nchunks = (L->n + LIMIT_CHUNK - 1) / LIMIT_CHUNK;
#ifdef _OPENMP
    if (L->threads > 1 && nchunks > 1) {
        long nc = (long)nchunks;
#pragma omp parallel for num_threads(L->threads) schedule(static)
        for (long c = 0; c < nc; c++) {
            size_t b = (size_t)c * LIMIT_CHUNK, e = b + LIMIT_CHUNK < L->n ? b + LIMIT_CHUNK : L->n;
            limit_range(L, b, e);
        }
        return;
    }
#endif
    for (size_t c = 0; c < nchunks; c++) {
        size_t b = c * LIMIT_CHUNK, e = b + LIMIT_CHUNK < L->n ? b + LIMIT_CHUNK : L->n;
        limit_range(L, b, e);
    }
}

/* ---- timing ------------------------------------------------------------ */

typedef int (*pass_fn)(void *ctx);

/* Optional gradient clipping or loss-scale unscaling before each timed step
 * (--clip-norm, --clip-value, --unscale), and whether its verdict is dropped (--clip-recheck). */
static enum { CLIP_NONE, CLIP_NORM, CLIP_VALUE, CLIP_UNSCALE } clip_kind;
static double clip_arg;
static int clip_recheck;
/* --unscale with --clip-norm (clip_kind CLIP_NORM): its factor, else 0;
 * --in-step: descent_set_step_clip instead of calls; --ema, --lookahead. */
static double unscale_arg;
static int in_step;
static double ema_decay;
static int lookahead_k;

static int step_pass(void *ctx)
{
    int rc = 0;
    if (in_step)
        rc = 0; /* descent_set_step_clip: the step does it */
    else if (clip_kind == CLIP_NORM && unscale_arg > 0)
        rc = descent_unscale_clip_grad_norm(ctx, unscale_arg, clip_arg, 2.0, NULL, NULL);
    else if (clip_kind == CLIP_NORM)
        rc = descent_clip_grad_norm(ctx, clip_arg, 2.0, NULL);
    else if (clip_kind == CLIP_VALUE)
        rc = descent_clip_grad_value(ctx, clip_arg);
    else if (clip_kind == CLIP_UNSCALE)
        rc = descent_unscale_grads(ctx, clip_arg, NULL);
    if (rc >= 0 && clip_recheck)
        rc = descent_grads_changed(ctx);
    return rc < 0 ? rc : descent_step(ctx);
}

static const char *const nonfinite_names[] = {"propagate", "skip", "error", "report"};

static int bare_pass(void *ctx) { return descent_step(ctx); }

static int limit_pass_cb(void *ctx)
{
    limit_pass(ctx);
    return 0;
}

/* Passes per timed repetition: enough to last about 20 ms, so small sizes
 * are not lost in the clock's resolution. The pass that measures it also
 * warms caches and page tables. */
static long calibrate(pass_fn fn, void *ctx, int *failed)
{
    double t0 = now_seconds();
    *failed = fn(ctx) < 0;
    double once = now_seconds() - t0;
    long inner = once > 0 ? (long)(0.02 / once) : 1000;
    return inner < 1 ? 1 : inner > 1000 ? 1000 : inner;
}

static double time_rep(pass_fn fn, void *ctx, long inner, int *failed)
{
    double t0 = now_seconds();
    for (long k = 0; k < inner; k++)
        if (fn(ctx) < 0) {
            *failed = 1;
            break;
        }
    return (now_seconds() - t0) / (double)inner;
}

/* ---- one measurement --------------------------------------------------- */

typedef struct bench_cfg {
    size_t n;
    long tensors;
    int threads;
    descent_dtype dtype;
    const char *dtype_name;
    int reps;
    int json;
    int nonfinite; /* a descent_nonfinite_policy */
    int prefetch;  /* descent_set_prefetch's block_bytes */
    unsigned bf16_flags; /* descent_set_bf16_options's flags */
} bench_cfg;

typedef struct bench_result {
    const char *name;
    double seconds, limit_seconds; /* medians */
    double fraction;               /* median of limit / step per repetition */
    double one_tensor_seconds;     /* the same n in one tensor (tensors > 1) */
    double overhead_per_tensor;    /* median of (step - one-tensor step) / tensors */
    int compared;                  /* a non-finite policy: also timed under PROPAGATE */
    double propagate_seconds;      /* median of the same pass under PROPAGATE */
    double nonfinite_extra;        /* median of step / PROPAGATE step - 1 per repetition */
    int piped;                     /* passes around the step: also timed without them */
    double alone_seconds;          /* median of the step alone (make_opt bare) */
    double pipeline_ratio;         /* median of step / step alone per repetition */
    double bytes_per_param;
    double limit_bytes_per_param;  /* what the limit kernel moves; differs with 8-bit state */
    size_t state_bytes;
    double peak_rss;
    int nstate;
} bench_result;

static void *alloc_array(size_t n, size_t elem)
{
    size_t bytes = (n ? n : 1) * elem;
    bytes = (bytes + 63) / 64 * 64;
#ifdef _WIN32
    return malloc(bytes); /* Microsoft's C library has no aligned_alloc (16-byte aligned) */
#else
    return aligned_alloc(64, bytes);
#endif
}

static void fill_array(void *x, size_t n, descent_dtype dtype, double scale)
{
    /* Small, varied, normal values: no denormals, no zeros. */
    for (size_t i = 0; i < n; i++) {
        double v = scale * (double)((int)(i % 29) - 14 + 0.5);
        if (dtype == DESCENT_F64)
            ((double *)x)[i] = v;
        else if (dtype == DESCENT_F32)
            ((float *)x)[i] = (float)v;
        else { /* bf16: the upper half of the f32, rounded to nearest even */
            float f = (float)v;
            uint32_t u;
            memcpy(&u, &f, sizeof u);
            ((uint16_t *)x)[i] = (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
        }
    }
}

/* The limit's arrays: p and each state buffer (read and written) and g. */
static void free_limit(limit_job *L)
{
    for (int j = 0; j < L->k; j++)
        free(L->x[j]);
    free(L->g);
}

static int alloc_limit(limit_job *L)
{
    descent_dtype t = L->wide ? DESCENT_F64 : DESCENT_F32;
    int ok = 1;
    for (int j = 0; j < L->k; j++) {
        descent_dtype tj = L->bf16 && j == 0 ? DESCENT_BF16 : t;
        L->x[j] = alloc_array(L->n, descent_dtype_size(tj));
        if (L->x[j])
            fill_array(L->x[j], L->n, tj, 0.01);
        ok = ok && L->x[j];
    }
    descent_dtype tg = L->bf16 ? DESCENT_BF16 : t;
    L->g = alloc_array(L->n, descent_dtype_size(tg));
    if (L->g)
        fill_array(L->g, L->n, tg, 0.001);
    return ok && L->g;
}

/* An optimizer of spec over p and g (n elements) split into k tensors;
 * bare: without the passes around the step (--ema, --lookahead,
 * --in-step), the step alone. */
static descent_optimizer *make_opt(const char *spec, const bench_cfg *cfg, void *p, void *g, long k, int bare)
{
    descent_error err;
    descent_optimizer *opt = NULL;
    char wrapped[1024];
    if (lookahead_k > 0 && !bare) {
        snprintf(wrapped, sizeof wrapped, "Lookahead(optimizer=%s, k=%d, alpha=0.5)", spec, lookahead_k);
        spec = wrapped;
    }
    if (descent_create_from_spec(&opt, spec, NULL, &err) < 0) {
        fprintf(stderr, "descent bench: --opt: %s\n", err.message);
        return NULL;
    }
    size_t es = descent_dtype_size(cfg->dtype), per = cfg->n / (size_t)k, off = 0;
    int grp = descent_set_bf16_options(opt, cfg->bf16_flags, 1) < 0 ? -1 : descent_add_group(opt, NULL);
    for (long t = 0; grp >= 0 && t < k; t++) {
        size_t len = t == k - 1 ? cfg->n - off : per;
        if (descent_add_tensor(opt, grp, (char *)p + off * es, (const char *)g + off * es, len, cfg->dtype) < 0)
            grp = -1;
        off += len;
    }
    if (grp < 0 || descent_set_threads(opt, cfg->threads) < 0 ||
        descent_set_nonfinite_policy(opt, cfg->nonfinite) < 0 || descent_set_prefetch(opt, cfg->prefetch) < 0 ||
        (!bare && ema_decay > 0 && descent_set_ema(opt, ema_decay) < 0) ||
        (!bare && in_step && descent_set_step_clip(opt, clip_kind == CLIP_UNSCALE ? clip_arg : unscale_arg > 0 ? unscale_arg : 1.0,
                                          clip_kind == CLIP_NORM ? clip_arg : INFINITY, 2.0) < 0)) {
        fprintf(stderr, "descent bench: %s: %s\n", spec, descent_errmsg(opt));
        descent_destroy(opt);
        return NULL;
    }
    return opt;
}

/* What the passes around the step must move per parameter, at least: the
 * norm and the verdict read g once (in the step: nothing more; as calls,
 * unscaling and clipping by value also write it back), the EMA reads and
 * writes its buffer (p is the step's), Lookahead's sync every K steps reads
 * and writes p and the slow weights. Clipping by norm rewrites g only when
 * the norm exceeds MAX, which the bench avoids (pick MAX above it). */
static double pipeline_bytes_per_param(size_t es)
{
    double b = 0, e = (double)es;
    if (in_step)
        b += e;
    else if (clip_kind == CLIP_UNSCALE || clip_kind == CLIP_VALUE || unscale_arg > 0)
        b += 2 * e;
    else if (clip_kind == CLIP_NORM)
        b += e;
    if (ema_decay > 0)
        b += 2 * e;
    if (lookahead_k > 0)
        b += 4 * e / lookahead_k;
    return b;
}

/* Time one optimizer and its limit. The repetitions alternate step and
 * limit, so load from elsewhere on the machine hits both alike; the
 * fraction of the limit is the median of the per-repetition ratios. */
static int bench_one(const char *spec, const bench_cfg *cfg, bench_result *res)
{
    memset(res, 0, sizeof *res);
    reset_peak_rss();
    size_t es = descent_dtype_size(cfg->dtype), n = cfg->n;
    void *p = alloc_array(n, es), *g = alloc_array(n, es), *p1 = NULL, *pa = NULL, *ga = NULL;
    descent_optimizer *opt = NULL, *one = NULL, *alone = NULL;
    limit_job L;
    memset(&L, 0, sizeof L);
    int rc = CLI_OK, failed = 0;
    if (!p || !g) {
        fprintf(stderr, "descent bench: out of memory for %zu parameters\n", n);
        free(p);
        free(g);
        return CLI_FAIL;
    }
    fill_array(p, n, cfg->dtype, 0.01);
    fill_array(g, n, cfg->dtype, 0.001);
    if (!(opt = make_opt(spec, cfg, p, g, cfg->tensors, 0))) {
        free(p);
        free(g);
        return CLI_USAGE;
    }
    res->name = descent_name(opt);
    long inner = 1, limit_inner = 1;
    if (rc == CLI_OK && !failed) {
        inner = calibrate(step_pass, opt, &failed);
        /* Memory is measured here, before the limit's arrays exist. */
        res->state_bytes = descent_state_bytes(opt);
        res->peak_rss = peak_rss_bytes();
        /* State is f32 for bf16 parameters, else the parameters' dtype. */
        size_t state_es = cfg->dtype == DESCENT_F64 ? 8 : 4;
        /* The EMA buffer and Lookahead's slow weights are counted in the
         * state's memory but are not the algorithm's state the step moves:
         * their traffic is the pipeline's (pipeline_bytes_per_param). */
        size_t aux_bytes = n * state_es * (size_t)((ema_decay > 0) + (lookahead_k > 0));
        res->nstate = n ? (int)((res->state_bytes - aux_bytes) / (n * state_es)) : 0;
        /* What the step must move (the library's count: p, g and each
         * state buffer in its storage, and the later passes of LAMB and
         * Adafactor), then what the passes around it add. The limit kernel
         * reads and writes as many f32 (f64) arrays as the state has, one
         * more for 8-bit state, whose bytes are not a whole number of
         * arrays: the comparison is by bandwidth. */
        res->bytes_per_param = n ? (double)descent_step_bytes(opt) / (double)n : 0.0;
        if (n && (res->state_bytes - aux_bytes) % (n * state_es) != 0)
            res->nstate++;
        res->limit_bytes_per_param = 3.0 * (double)es + 2.0 * (double)state_es * res->nstate;
        res->bytes_per_param += pipeline_bytes_per_param(es);
        L.k = res->nstate + 1;
        L.wide = cfg->dtype == DESCENT_F64;
        L.bf16 = cfg->dtype == DESCENT_BF16;
        L.n = n;
        L.threads = cfg->threads;
        if (!alloc_limit(&L)) {
            fprintf(stderr, "descent bench: out of memory for the limit kernel\n");
            rc = CLI_FAIL;
        }
    }
    /* With passes around the step, the same optimizer without them on its
     * own copies of p and g (the step alone), timed in every repetition
     * right after the pipeline: the ratio of the two is per repetition, so
     * load from elsewhere on the machine affects both alike. */
    res->piped = clip_kind != CLIP_NONE || in_step || ema_decay > 0 || lookahead_k > 0;
    long alone_inner = 1;
    if (rc == CLI_OK && !failed && res->piped) {
        pa = alloc_array(n, es);
        ga = alloc_array(n, es);
        if (!pa || !ga || !(alone = make_opt(spec, cfg, pa, ga, cfg->tensors, 1))) {
            fprintf(stderr, "descent bench: out of memory for the step-alone twin\n");
            rc = CLI_FAIL;
        } else {
            fill_array(pa, n, cfg->dtype, 0.01);
            fill_array(ga, n, cfg->dtype, 0.001);
            alone_inner = calibrate(bare_pass, alone, &failed);
        }
    }
    long one_inner = 1;
    if (rc == CLI_OK && !failed && cfg->tensors > 1) {
        /* The same parameters in one tensor, to isolate the per-tensor cost. */
        p1 = alloc_array(n, es);
        if (!p1 || !(one = make_opt(spec, cfg, p1, g, 1, 0))) {
            fprintf(stderr, "descent bench: out of memory for the one-tensor twin\n");
            rc = CLI_FAIL;
        } else {
            fill_array(p1, n, cfg->dtype, 0.01);
            one_inner = calibrate(step_pass, one, &failed);
        }
    }
    if (failed && rc == CLI_OK) {
        fprintf(stderr, "descent bench: %s: %s\n", spec, descent_errmsg(opt));
        rc = CLI_FAIL;
    }
    if (rc == CLI_OK) {
        limit_inner = calibrate(limit_pass_cb, &L, &failed);
        double st[256], lt[256], ratio[256], ot[256], over[256], pt[256], extra[256], at[256], pr[256];
        /* Under a checking policy each repetition also times the same pass
         * (clipping included) under PROPAGATE, back to back, so the cost
         * of the check is a per-repetition ratio that load elsewhere on
         * the machine affects alike. */
        res->compared = cfg->nonfinite != DESCENT_NONFINITE_PROPAGATE;
        for (int r = 0; r < cfg->reps && !failed; r++) {
            st[r] = time_rep(step_pass, opt, inner, &failed);
            lt[r] = time_rep(limit_pass_cb, &L, limit_inner, &failed);
            ratio[r] = lt[r] / st[r] * res->bytes_per_param / res->limit_bytes_per_param;
            if (res->compared) {
                int recheck = clip_recheck;
                descent_set_nonfinite_policy(opt, DESCENT_NONFINITE_PROPAGATE);
                clip_recheck = 0;
                pt[r] = time_rep(step_pass, opt, inner, &failed);
                clip_recheck = recheck;
                descent_set_nonfinite_policy(opt, cfg->nonfinite);
                extra[r] = st[r] / pt[r] - 1.0;
            }
            if (alone) {
                at[r] = time_rep(bare_pass, alone, alone_inner, &failed);
                pr[r] = st[r] / at[r];
            }
            if (one) {
                ot[r] = time_rep(step_pass, one, one_inner, &failed);
                over[r] = (st[r] - ot[r]) / (double)cfg->tensors;
            }
        }
        if (failed) {
            fprintf(stderr, "descent bench: %s: %s\n", spec, descent_errmsg(opt));
            rc = CLI_FAIL;
        } else {
            res->seconds = median(st, cfg->reps);
            res->limit_seconds = median(lt, cfg->reps);
            res->fraction = median(ratio, cfg->reps);
            if (one) {
                res->one_tensor_seconds = median(ot, cfg->reps);
                res->overhead_per_tensor = median(over, cfg->reps);
            }
            if (alone) {
                res->alone_seconds = median(at, cfg->reps);
                res->pipeline_ratio = median(pr, cfg->reps);
            }
            if (res->compared) {
                res->propagate_seconds = median(pt, cfg->reps);
                res->nonfinite_extra = median(extra, cfg->reps);
            }
        }
    }
    free_limit(&L);
    descent_destroy(opt);
    descent_destroy(one);
    descent_destroy(alone);
    free(p);
    free(p1);
    free(pa);
    free(ga);
    free(g);
    return rc;
}

static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(out, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(out, "\\u%04x", (unsigned)(unsigned char)*s);
        else
            fputc(*s, out);
    }
    fputc('"', out);
}

static void report(const char *spec, const bench_cfg *cfg, const bench_result *r)
{
    double n = (double)cfg->n;
    double params_per_s = n / r->seconds;
    double gbytes = params_per_s * r->bytes_per_param / 1e9;
    double limit_gbytes = n * r->limit_bytes_per_param / r->limit_seconds / 1e9;
    double fraction = r->fraction;
    if (cfg->json) {
        printf("{\"opt\": ");
        json_string(stdout, spec);
        printf(", \"name\": ");
        json_string(stdout, r->name);
        printf(", \"n\": %zu, \"tensors\": %ld, \"threads\": %d, \"dtype\": \"%s\", \"reps\": %d, "
               "\"seconds_per_step\": %.6e, \"params_per_s\": %.6e, \"bytes_per_param\": %g, \"bytes_per_step\": %.0f, "
               "\"gbytes_per_s\": %.4f, \"limit_gbytes_per_s\": %.4f, \"fraction_of_limit\": %.4f, "
               "\"state_bytes\": %zu, \"state_bytes_per_param\": %g, \"peak_rss_bytes\": %.0f, \"clock\": \"%s\", "
               "\"nonfinite\": \"%s\", \"clip\": \"%s\", \"clip_arg\": %g, \"clip_recheck\": %s, \"prefetch\": %d",
               cfg->n, cfg->tensors, cfg->threads, cfg->dtype_name, cfg->reps, r->seconds, params_per_s,
               r->bytes_per_param, r->bytes_per_param * n, gbytes, limit_gbytes, fraction, r->state_bytes,
               cfg->n ? (double)r->state_bytes / n : 0.0, r->peak_rss, use_cpu_clock ? "cpu" : "wall",
               nonfinite_names[cfg->nonfinite], clip_kind == CLIP_NORM ? "norm" : clip_kind == CLIP_VALUE ? "value" : clip_kind == CLIP_UNSCALE ? "unscale" : "none",
               clip_arg, clip_recheck ? "true" : "false", cfg->prefetch);
        printf(", \"unscale_arg\": %g, \"in_step\": %s, \"ema\": %g, \"lookahead\": %d", unscale_arg,
               in_step ? "true" : "false", ema_decay, lookahead_k);
        const unsigned rounding = cfg->bf16_flags & (DESCENT_BF16_MASTER | DESCENT_BF16_STOCHASTIC);
        printf(", \"bf16_options\": \"%s\", \"bf16_scratch\": %s",
               rounding == (DESCENT_BF16_MASTER | DESCENT_BF16_STOCHASTIC) ? "master,stochastic"
               : rounding == DESCENT_BF16_MASTER                          ? "master"
               : rounding == DESCENT_BF16_STOCHASTIC                      ? "stochastic"
                                                                           : "none",
               cfg->bf16_flags & DESCENT_BF16_SCRATCH ? "true" : "false");
        if (r->piped)
            printf(", \"step_alone_seconds_per_step\": %.6e, \"pipeline_ratio\": %.4f", r->alone_seconds,
                   r->pipeline_ratio);
        if (r->compared)
            printf(", \"propagate_seconds_per_step\": %.6e, \"nonfinite_extra\": %.4f", r->propagate_seconds,
                   r->nonfinite_extra);
        if (cfg->tensors > 1)
            printf(", \"one_tensor_seconds_per_step\": %.6e, \"overhead_ns_per_tensor\": %.1f}\n",
                   r->one_tensor_seconds, r->overhead_per_tensor * 1e9);
        else
            printf("}\n");
    } else {
        printf("%-22.22s %3d %10.3f %9.3f %8.2f %8.2f %6.3f %7.2f %9.1f", spec, cfg->threads,
               r->seconds * 1e3, params_per_s / 1e9, gbytes, limit_gbytes, fraction,
               cfg->n ? (double)r->state_bytes / n : 0.0, r->peak_rss / 1048576.0);
        if (cfg->tensors > 1)
            printf("  %+.0f ns/tensor vs one tensor", r->overhead_per_tensor * 1e9);
        if (r->piped)
            printf("  %.3fx the step alone (%.3f ms)", r->pipeline_ratio, r->alone_seconds * 1e3);
        if (r->compared)
            printf("  %+.1f%% vs propagate (%.3f ms)", 100.0 * r->nonfinite_extra, r->propagate_seconds * 1e3);
        printf("\n");
    }
    fflush(stdout);
}

static int bench_run(int argc, char **argv)
{
    const char *cmd = "bench";
    const char *specs[MAX_OPTS];
    int nspecs = 0;
    int threads[MAX_THREADS], nthreads = 0;
    unsigned bf16_scratch = 0; /* --bf16-scratch: DESCENT_BF16_SCRATCH */
    bench_cfg cfg = {.n = (size_t)1 << 24, .tensors = 1, .threads = 1, .dtype = DESCENT_F32,
                     .dtype_name = "f32", .reps = 7, .json = 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long x;
        if (strcmp(a, "--json") == 0) {
            cfg.json = 1;
            continue;
        }
        if (strcmp(a, "--clip-recheck") == 0) {
            clip_recheck = 1;
            continue;
        }
        if (strcmp(a, "--in-step") == 0) {
            in_step = 1;
            continue;
        }
        if (strcmp(a, "--bf16-scratch") == 0) {
            bf16_scratch = DESCENT_BF16_SCRATCH;
            continue;
        }
        if (strcmp(a, "--opt") != 0 && strcmp(a, "--n") != 0 && strcmp(a, "--tensors") != 0 &&
            strcmp(a, "--threads") != 0 && strcmp(a, "--dtype") != 0 && strcmp(a, "--reps") != 0 &&
            strcmp(a, "--clock") != 0 && strcmp(a, "--nonfinite") != 0 && strcmp(a, "--clip-norm") != 0 &&
            strcmp(a, "--clip-value") != 0 && strcmp(a, "--unscale") != 0 &&
            strcmp(a, "--prefetch") != 0 && strcmp(a, "--ema") != 0 && strcmp(a, "--lookahead") != 0 &&
            strcmp(a, "--bf16-options") != 0)
            return cli_usage_error(cmd, "unknown option '%s' (see descent bench --help)", a);
        if (!(v = cli_flag_value(cmd, argc, argv, &i)))
            return CLI_USAGE;
        if (strcmp(a, "--opt") == 0) {
            if (nspecs == MAX_OPTS)
                return cli_usage_error(cmd, "at most %d --opt", MAX_OPTS);
            specs[nspecs++] = v;
        } else if (strcmp(a, "--n") == 0) {
            if (cli_parse_long(cmd, a, v, 1, &x))
                return CLI_USAGE;
            cfg.n = (size_t)x;
        } else if (strcmp(a, "--tensors") == 0) {
            if (cli_parse_long(cmd, a, v, 1, &x))
                return CLI_USAGE;
            cfg.tensors = x;
        } else if (strcmp(a, "--reps") == 0) {
            if (cli_parse_long(cmd, a, v, 1, &x))
                return CLI_USAGE;
            if (x > 256)
                return cli_usage_error(cmd, "--reps must be at most 256, got %ld", x);
            cfg.reps = (int)x;
        } else if (strcmp(a, "--nonfinite") == 0) {
            if (strcmp(v, "propagate") == 0)
                cfg.nonfinite = DESCENT_NONFINITE_PROPAGATE;
            else if (strcmp(v, "skip") == 0)
                cfg.nonfinite = DESCENT_NONFINITE_SKIP;
            else if (strcmp(v, "error") == 0)
                cfg.nonfinite = DESCENT_NONFINITE_ERROR;
            else if (strcmp(v, "report") == 0)
                cfg.nonfinite = DESCENT_NONFINITE_REPORT;
            else
                return cli_usage_error(cmd, "--nonfinite must be propagate, skip, error or report, got '%s'", v);
        } else if (strcmp(a, "--ema") == 0) {
            if (cli_parse_double(cmd, a, v, &ema_decay))
                return CLI_USAGE;
            if (!(ema_decay > 0 && ema_decay < 1))
                return cli_usage_error(cmd, "--ema must be in (0, 1), got '%s'", v);
        } else if (strcmp(a, "--lookahead") == 0) {
            if (cli_parse_long(cmd, a, v, 1, &x))
                return CLI_USAGE;
            if (x > 1000000)
                return cli_usage_error(cmd, "--lookahead must be at most 1000000, got %ld", x);
            lookahead_k = (int)x;
        } else if (strcmp(a, "--clip-norm") == 0 || strcmp(a, "--clip-value") == 0 || strcmp(a, "--unscale") == 0) {
            double arg;
            if (cli_parse_double(cmd, a, v, &arg))
                return CLI_USAGE;
            if (arg < 0 || isinf(arg) || (strcmp(a, "--unscale") == 0 && arg == 0))
                return cli_usage_error(cmd, "%s must be finite and %s, got '%s'", a,
                                       strcmp(a, "--unscale") == 0 ? "> 0" : ">= 0", v);
            int kind = strcmp(a, "--clip-norm") == 0 ? CLIP_NORM : strcmp(a, "--clip-value") == 0 ? CLIP_VALUE
                                                                                                 : CLIP_UNSCALE;
            /* --unscale pairs with --clip-norm (either order); nothing else pairs. */
            if (clip_kind == CLIP_UNSCALE && kind == CLIP_NORM && unscale_arg == 0) {
                unscale_arg = clip_arg;
            } else if (clip_kind == CLIP_NORM && kind == CLIP_UNSCALE && unscale_arg == 0) {
                unscale_arg = arg;
                continue;
            } else if (clip_kind != CLIP_NONE) {
                return cli_usage_error(cmd, "give at most one of --clip-norm and --clip-value, and --unscale at most "
                                            "once (it pairs with --clip-norm)");
            }
            clip_arg = arg;
            clip_kind = kind;
        } else if (strcmp(a, "--prefetch") == 0) {
            if (strcmp(v, "off") == 0)
                cfg.prefetch = -1;
            else if (strcmp(v, "default") == 0)
                cfg.prefetch = 0;
            else {
                char *end;
                x = strtol(v, &end, 10);
                if (end == v || *end || x < 64 || x > 65536 || x % 64 != 0)
                    return cli_usage_error(cmd, "--prefetch must be off, default or a multiple of 64 in [64, 65536], "
                                                "got '%s'", v);
                cfg.prefetch = (int)x;
            }
        } else if (strcmp(a, "--bf16-options") == 0) {
            if (strcmp(v, "master") == 0)
                cfg.bf16_flags = DESCENT_BF16_MASTER;
            else if (strcmp(v, "stochastic") == 0)
                cfg.bf16_flags = DESCENT_BF16_STOCHASTIC;
            else if (strcmp(v, "master,stochastic") == 0 || strcmp(v, "stochastic,master") == 0)
                cfg.bf16_flags = DESCENT_BF16_MASTER | DESCENT_BF16_STOCHASTIC;
            else
                return cli_usage_error(cmd, "--bf16-options must be master, stochastic or master,stochastic, got '%s'",
                                       v);
        } else if (strcmp(a, "--clock") == 0) {
            if (strcmp(v, "wall") != 0 && strcmp(v, "cpu") != 0)
                return cli_usage_error(cmd, "--clock must be wall or cpu, got '%s'", v);
            use_cpu_clock = strcmp(v, "cpu") == 0;
        } else if (strcmp(a, "--dtype") == 0) {
            if (strcmp(v, "f32") == 0)
                cfg.dtype = DESCENT_F32;
            else if (strcmp(v, "f64") == 0)
                cfg.dtype = DESCENT_F64;
            else if (strcmp(v, "bf16") == 0)
                cfg.dtype = DESCENT_BF16;
            else
                return cli_usage_error(cmd, "--dtype must be f32, bf16 or f64, got '%s'", v);
            cfg.dtype_name = v;
        } else { /* --threads */
            const char *s = v;
            for (;;) {
                char *end;
                long t = strtol(s, &end, 10);
                if (end == s || t < 1 || t > 1024 || (*end && *end != ','))
                    return cli_usage_error(cmd, "--threads must be integers in [1, 1024], got '%s'", v);
                if (nthreads == MAX_THREADS)
                    return cli_usage_error(cmd, "at most %d thread counts", MAX_THREADS);
                threads[nthreads++] = (int)t;
                if (!*end)
                    break;
                s = end + 1;
            }
        }
    }
    if (in_step && clip_kind != CLIP_NORM && clip_kind != CLIP_UNSCALE)
        return cli_usage_error(cmd, "--in-step needs --clip-norm and/or --unscale");
    if (in_step && clip_recheck)
        return cli_usage_error(cmd, "--clip-recheck has no meaning with --in-step (the step reads the gradients once)");
    if ((size_t)cfg.tensors > cfg.n)
        return cli_usage_error(cmd, "--tensors (%ld) must not exceed --n (%zu)", cfg.tensors, cfg.n);
    if (cfg.bf16_flags && cfg.dtype != DESCENT_BF16)
        return cli_usage_error(cmd, "--bf16-options needs --dtype bf16");
    if (bf16_scratch && cfg.dtype != DESCENT_BF16)
        return cli_usage_error(cmd, "--bf16-scratch needs --dtype bf16");
    cfg.bf16_flags |= bf16_scratch;
#if defined(__GLIBC__) && defined(M_MMAP_THRESHOLD)
    /* A fixed threshold: buffers of 1 MiB and more are mapped and unmapped
     * on free, so each optimizer's peak RSS is its own (glibc otherwise
     * raises the threshold after the first free and keeps freed memory). */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
    if (!nspecs)
        for (int k = 0; k < descent_optimizer_count() && nspecs + 2 <= MAX_OPTS; k++) {
            specs[nspecs++] = descent_optimizer_name(k);
            if (strcmp(specs[nspecs - 1], "SGD") == 0)
                specs[nspecs++] = SGD_MOMENTUM;
        }
    if (!nthreads)
        threads[nthreads++] = 1;
    if (!cfg.json)
        printf("%-22s %3s %10s %9s %8s %8s %6s %7s %9s\n", "optimizer", "thr", "ms/step", "Gparam/s", "GB/s",
               "limit", "ratio", "state/p", "peakMiB");
    for (int t = 0; t < nthreads; t++) {
        cfg.threads = threads[t];
        clock_threads = threads[t];
        for (int k = 0; k < nspecs; k++) {
            bench_result r;
            int rc = bench_one(specs[k], &cfg, &r);
            if (rc != CLI_OK)
                return rc;
            report(specs[k], &cfg, &r);
        }
    }
    return CLI_OK;
}

const cli_command cli_bench = {"bench", "time optimizer steps against the memory-bandwidth limit", bench_run,
                               bench_usage};
