/* The loops of the passes around the step (passes.h): threaded over the
 * optimizer's chunks, vectorized, compiled for AVX-512, AVX2 and the
 * baseline through DESCENT_DISPATCH like the kernels.
 *
 * Fixed reduction order. The p-norm of a gradient (p = 1, 2 or any finite
 * p: sum |x|^p in double) is summed over fixed blocks that do not depend on
 * the thread count: the optimizer's chunks (65536 elements of one tensor,
 * optimizer.c). Inside a chunk, element i goes to lane i mod 32 of 32
 * double accumulators (independent chains: the additions' latency hides
 * behind each other, so the loop keeps up with memory), each summed in
 * index order, and the lanes are added pairwise, lane i + h into lane i for
 * h = 16, 8, 4, 2, 1; a tensor's sum is
 * its chunks' sums added in chunk order (descent_for_chunks folds them in
 * index order after the threads are done). Every instruction set computes
 * the same IEEE additions in the same order (no FMA, no reassociation:
 * -ffp-contract=off, no -ffast-math), so the norm has the same bits for any
 * thread count and any instruction set. For p other than 1, 2 and
 * infinity, |x|^p (pow's value; for f32 and p = 3 or 4 from products,
 * pow34 below) is added in index order into one accumulator per chunk. The infinity norm is a maximum, exact in any order: the largest
 * magnitude bits (for IEEE 754 values, ordered as the magnitudes; a NaN's
 * bits exceed infinity's, so a NaN wins, as in torch.linalg.vector_norm). */
#include "passes.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Chunks whose partials one batch keeps (on the stack); a batch is one
 * threaded loop, then its partials are folded in order. */
#define FOLD_BATCH 512
/* Below this many elements a pass runs on the calling thread (as the step:
 * step.c PARALLEL_MIN_ELEMS). */
#define PASS_PARALLEL_MIN ((size_t)1 << 17)

int descent_for_chunks(const descent_optimizer *opt, int first, int last, descent_chunk_fn fn, void *ctx,
                       descent_fold_fn fold)
{
    double part[FOLD_BATCH];
    int any = 0;
    size_t elems = 0;
    for (int c = first; c < last; c++)
        elems += opt->chunks[c].end - opt->chunks[c].begin;
    for (int c0 = first; c0 < last; c0 += FOLD_BATCH) {
        int m = last - c0 < FOLD_BATCH ? last - c0 : FOLD_BATCH;
#ifdef _OPENMP
        if (opt->threads > 1 && m > 1 && elems >= PASS_PARALLEL_MIN) {
            int threads = opt->threads < m ? opt->threads : m;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(| : any)
            for (int k = 0; k < m; k++)
                any |= fn(opt, c0 + k, ctx, &part[k]);
        } else
#endif
        {
            for (int k = 0; k < m; k++)
                any |= fn(opt, c0 + k, ctx, &part[k]);
        }
        if (fold)
            for (int k = 0; k < m; k++)
                fold(ctx, c0 + k, part[k]);
    }
    (void)elems;
    return any;
}

/* ---- loop bodies ----------------------------------------------------------
 * Arguments in the kernels' block: grad the input (n = end elements from
 * it; begin is 0), param the output, coeffs the constant(s), state[0] the
 * eight double lanes or the int report, state[1] the running maximum of
 * magnitude bits. */
#define LANES DESCENT_NORM_LANES

#define SUM_BODY(NAME, T, TERM)                                                       \
    DESCENT_INLINE void NAME(const descent_kernel_args *a)                            \
    {                                                                                 \
        const T *g = (const T *)a->grad;                                              \
        size_t n = a->end, i = 0;                                                     \
        double *acc = (double *)a->state[0], l[LANES];                                \
        for (int j = 0; j < LANES; j++)                                               \
            l[j] = acc[j];                                                            \
        for (; i + LANES <= n; i += LANES)                                            \
            for (int j = 0; j < LANES; j++) {                                         \
                double x = (double)g[i + j];                                          \
                l[j] += TERM;                                                         \
            }                                                                         \
        for (int j = 0; i < n; i++, j++) {                                            \
            double x = (double)g[i];                                                  \
            l[j] += TERM;                                                             \
        }                                                                             \
        for (int j = 0; j < LANES; j++)                                               \
            acc[j] = l[j];                                                            \
    }

#define MAXBITS_BODY(NAME, T, SFX)                                                    \
    DESCENT_INLINE void NAME(const descent_kernel_args *a)                            \
    {                                                                                 \
        const T *g = (const T *)a->grad;                                              \
        uint64_t *out = (uint64_t *)a->state[1];                                      \
        descent_nf_##SFX m = (descent_nf_##SFX) * out;                                \
        for (size_t i = 0; i < a->end; i++) {                                         \
            descent_nf_##SFX x = descent_nf_bits_##SFX(g[i]);                         \
            m = x > m ? x : m;                                                        \
        }                                                                             \
        *out = m;                                                                     \
    }

/* out = g c, or clamp(g, -c, c) (comparisons false for NaN: kept). */
#define REWRITE_BODY(NAME, T, SFX, EXPR)                                              \
    DESCENT_INLINE void NAME(const descent_kernel_args *a)                            \
    {                                                                                 \
        const T *g = (const T *)a->grad;                                              \
        T *out = (T *)a->param;                                                       \
        const T c = *(const T *)a->coeffs;                                            \
        descent_nf_##SFX m = 0;                                                       \
        for (size_t i = 0; i < a->end; i++) {                                         \
            T x = g[i];                                                               \
            T y = EXPR;                                                               \
            out[i] = y;                                                               \
            descent_nf_##SFX u = descent_nf_bits_##SFX(y);                            \
            m = u > m ? u : m;                                                        \
        }                                                                             \
        *(int *)a->state[0] = m >= DESCENT_NF_INF_##SFX;                              \
    }

/* y = g c stored to out (param; NULL: not stored), its square added to the
 * lanes as SUM_BODY adds it, and the magnitude-bits maximum of y for the
 * verdict: the unscale, the verdict and the 2-norm in one loop. */
#define SCALE_SUMSQ_BODY(NAME, T, SFX, STORE)                                                \
    DESCENT_INLINE void NAME(const descent_kernel_args *a)                            \
    {                                                                                 \
        const T *g = (const T *)a->grad;                                              \
        T *out = (T *)a->param;                                                       \
        const T c = *(const T *)a->coeffs;                                            \
        size_t n = a->end, i = 0;                                                     \
        double *acc = (double *)a->state[0], l[LANES];                                \
        descent_nf_##SFX m = 0;                                                       \
        for (int j = 0; j < LANES; j++)                                               \
            l[j] = acc[j];                                                            \
        for (; i + LANES <= n; i += LANES)                                            \
            for (int j = 0; j < LANES; j++) {                                         \
                T y = g[i + j] * c;                                                   \
                if (STORE)                                                            \
                    out[i + j] = y;                                                   \
                descent_nf_##SFX u = descent_nf_bits_##SFX(y);                        \
                m = u > m ? u : m;                                                    \
                double x = (double)y;                                                 \
                l[j] += x * x;                                                        \
            }                                                                         \
        for (int j = 0; i < n; i++, j++) {                                            \
            T y = g[i] * c;                                                           \
            if (STORE)                                                                \
                out[i] = y;                                                           \
            descent_nf_##SFX u = descent_nf_bits_##SFX(y);                            \
            m = u > m ? u : m;                                                        \
            double x = (double)y;                                                     \
            l[j] += x * x;                                                            \
        }                                                                             \
        for (int j = 0; j < LANES; j++)                                               \
            acc[j] = l[j];                                                            \
        *(int *)a->state[1] |= m >= DESCENT_NF_INF_##SFX;                             \
    }

/* EMA: avg = d avg + od p; SWA: avg = avg + (p - avg) / m
 * (torch.optim.swa_utils.AveragedModel's update, in the array's type). */
#define AVERAGE_BODY(NAME, T, EXPR)                                                   \
    DESCENT_INLINE void NAME(const descent_kernel_args *a)                            \
    {                                                                                 \
        const T *p = (const T *)a->grad;                                              \
        T *avg = (T *)a->param;                                                       \
        const T *k = (const T *)a->coeffs;                                            \
        const T d = k[0], od = k[1], m = k[2];                                        \
        (void)d, (void)od, (void)m;                                                   \
        for (size_t i = 0; i < a->end; i++)                                           \
            avg[i] = EXPR;                                                            \
    }

SUM_BODY(sumsq_f32_body, float, x * x)
SUM_BODY(sumsq_f64_body, double, x * x)
SUM_BODY(sumabs_f32_body, float, fabs(x))
SUM_BODY(sumabs_f64_body, double, fabs(x))
MAXBITS_BODY(maxbits_f32_body, float, f32)
MAXBITS_BODY(maxbits_f64_body, double, f64)
REWRITE_BODY(scale_f32_body, float, f32, x * c)
REWRITE_BODY(scale_f64_body, double, f64, x * c)
REWRITE_BODY(clamp_f32_body, float, f32, x < -c ? -c : x > c ? c : x)
REWRITE_BODY(clamp_f64_body, double, f64, x < -c ? -c : x > c ? c : x)
SCALE_SUMSQ_BODY(scale_sumsq_f32_body, float, f32, 1)
SCALE_SUMSQ_BODY(scale_sumsq_f64_body, double, f64, 1)
SCALE_SUMSQ_BODY(scaled_sumsq_f32_body, float, f32, 0)
SCALE_SUMSQ_BODY(scaled_sumsq_f64_body, double, f64, 0)
AVERAGE_BODY(ema_f32_body, float, d * avg[i] + od * p[i])
AVERAGE_BODY(ema_f64_body, double, d * avg[i] + od * p[i])
AVERAGE_BODY(swa_f32_body, float, avg[i] + (p[i] - avg[i]) / m)
AVERAGE_BODY(swa_f64_body, double, avg[i] + (p[i] - avg[i]) / m)

DESCENT_DISPATCH(sumsq_f32, sumsq_f32_body)
DESCENT_DISPATCH(sumsq_f64, sumsq_f64_body)
DESCENT_DISPATCH(sumabs_f32, sumabs_f32_body)
DESCENT_DISPATCH(sumabs_f64, sumabs_f64_body)
DESCENT_DISPATCH(maxbits_f32, maxbits_f32_body)
DESCENT_DISPATCH(maxbits_f64, maxbits_f64_body)
DESCENT_DISPATCH(scale_f32, scale_f32_body)
DESCENT_DISPATCH(scale_f64, scale_f64_body)
DESCENT_DISPATCH(clamp_f32, clamp_f32_body)
DESCENT_DISPATCH(clamp_f64, clamp_f64_body)
DESCENT_DISPATCH(scale_sumsq_f32, scale_sumsq_f32_body)
DESCENT_DISPATCH(scale_sumsq_f64, scale_sumsq_f64_body)
DESCENT_DISPATCH(scaled_sumsq_f32, scaled_sumsq_f32_body)
DESCENT_DISPATCH(scaled_sumsq_f64, scaled_sumsq_f64_body)
DESCENT_DISPATCH(ema_f32, ema_f32_body)
DESCENT_DISPATCH(ema_f64, ema_f64_body)
DESCENT_DISPATCH(swa_f32, swa_f32_body)
DESCENT_DISPATCH(swa_f64, swa_f64_body)

static void args_for(descent_kernel_args *a, int isa, const void *in, void *out, size_t n, const void *coeffs)
{
    memset(a, 0, sizeof *a);
    a->isa = isa;
    a->grad = in;
    a->param = out;
    a->end = n;
    a->coeffs = coeffs;
}

/* The range entry points (passes.h), one set per element type. */
#define RANGE_FNS(T, SFX)                                                                               \
    int descent_scale_range_##SFX(int isa, T *out, const T *g, size_t n, T c, int clamp)                \
    {                                                                                                   \
        descent_kernel_args a;                                                                          \
        int bad = 0;                                                                                    \
        args_for(&a, isa, g, out, n, &c);                                                               \
        a.state[0] = &bad;                                                                              \
        if (clamp)                                                                                      \
            clamp_##SFX(&a);                                                                            \
        else                                                                                            \
            scale_##SFX(&a);                                                                            \
        return bad;                                                                                     \
    }                                                                                                   \
    int descent_scale_sumsq_range_##SFX(int isa, descent_norm_lanes *l, T *out, const T *g, size_t n, T c) \
    {                                                                                                   \
        descent_kernel_args a;                                                                          \
        int bad = 0;                                                                                    \
        args_for(&a, isa, g, out, n, &c);                                                               \
        a.state[0] = l->sum;                                                                            \
        a.state[1] = &bad;                                                                              \
        if (out)                                                                                        \
            scale_sumsq_##SFX(&a);                                                                      \
        else                                                                                            \
            scaled_sumsq_##SFX(&a);                                                                     \
        return bad;                                                                                     \
    }                                                                                                   \
    void descent_average_range_##SFX(int isa, T *avg, const T *p, size_t n, T d, T od, T m, int ema)    \
    {                                                                                                   \
        descent_kernel_args a;                                                                          \
        const T k[3] = {d, od, m};                                                                      \
        args_for(&a, isa, p, avg, n, k);                                                                \
        if (ema)                                                                                        \
            ema_##SFX(&a);                                                                              \
        else                                                                                            \
            swa_##SFX(&a);                                                                              \
    }
RANGE_FNS(float, f32)
RANGE_FNS(double, f64)

/* ---- the p-norm of a chunk ------------------------------------------------ */

void descent_norm_lanes_init(descent_norm_lanes *l) { memset(l, 0, sizeof *l); }

/* |x|^3 or |x|^4 of a float x, in double, with the bits of
 * pow(|x|, 3 or 4) at a fraction of its cost. a = |x| has 24 significant
 * bits, so a^2 is exact (48 bits) and r = a^2 a or a^2 a^2 is rounded
 * once, to nearest: the correctly rounded power. pow is not correctly
 * rounded: glibc's (and musl's; both from Arm's optimized-routines) states
 * a worst-case error of 0.54 ulp, and returns the other neighbour for
 * about 0.3% of floats, where the exact power lies within 0.04 ulp of the
 * midpoint between two doubles or on it. So r is used only where the
 * exact power is within 0.45 ulp of r, the other neighbour then more than
 * 0.55 ulp away, and pow, within 0.54 ulp, must return r too; the rest
 * (about a tenth) go to pow. The exact error e = a^2 a - r or a^2 a^2 - r
 * comes from Dekker's product (T. J. Dekker, "A floating-point technique
 * for extending the available precision", Numer. Math. 18, 1971), with
 * a^2 split by masking into 26 + 22 significant bits so that every partial
 * product is exact. No underflow or overflow: 2^-596 <= r <= 2^512 for
 * every nonzero finite float. Zero, infinity and NaN go to pow. */
static double pow34(double a, int four)
{
    if (!(a > 0.0 && a <= DBL_MAX))
        return pow(a, four ? 4.0 : 3.0);
    double a2 = a * a, r = four ? a2 * a2 : a2 * a;
    uint64_t u;
    memcpy(&u, &a2, sizeof u);
    u &= ~(uint64_t)0x7FFFFFF;
    double h, t;
    memcpy(&h, &u, sizeof h);
    t = a2 - h;
    double e = four ? (((h * h - r) + h * t) + t * h) + t * t : (h * a - r) + t * a;
    /* the spacing of doubles next to r on e's side (r > 0, normal) */
    memcpy(&u, &r, sizeof u);
    int pow2 = (u & 0x000FFFFFFFFFFFFFu) == 0;
    u &= 0x7FF0000000000000u;
    double spacing;
    memcpy(&spacing, &u, sizeof spacing);
    spacing *= pow2 && e < 0 ? 0x1p-53 : 0x1p-52;
    return fabs(e) < 0.45 * spacing ? r : pow(a, four ? 4.0 : 3.0);
}

/* sum + |x|^p over a range in index order into one accumulator, for p
 * other than 1, 2 and infinity. */
static double pow_sum_f32(double sum, const float *g, size_t n, double p)
{
    if (p == 3.0 || p == 4.0) {
        const int four = p == 4.0;
        for (size_t i = 0; i < n; i++)
            sum += pow34(fabs((double)g[i]), four);
        return sum;
    }
    for (size_t i = 0; i < n; i++)
        sum += pow(fabs((double)g[i]), p);
    return sum;
}

static double pow_sum_f64(double sum, const double *g, size_t n, double p)
{
    for (size_t i = 0; i < n; i++)
        sum += pow(fabs(g[i]), p);
    return sum;
}

/* Add the range's |x|^p into the lanes (ranges of one chunk, in order; every
 * range but a chunk's last a multiple of 32 elements long). */
#define NORM_RANGE_FN(T, SFX)                                                                     \
    void descent_norm_range_##SFX(int isa, descent_norm_lanes *l, const T *g, size_t n, double p) \
    {                                                                                             \
        if (isinf(p)) {                                                                           \
            descent_kernel_args a;                                                                \
            args_for(&a, isa, g, NULL, n, NULL);                                                  \
            a.state[1] = &l->maxbits;                                                             \
            maxbits_##SFX(&a);                                                                    \
        } else if (p == 2.0 || p == 1.0) {                                                        \
            descent_kernel_args a;                                                                \
            args_for(&a, isa, g, NULL, n, NULL);                                                  \
            a.state[0] = l->sum;                                                                  \
            if (p == 2.0)                                                                         \
                sumsq_##SFX(&a);                                                                  \
            else                                                                                  \
                sumabs_##SFX(&a);                                                                 \
        } else {                                                                                  \
            l->sum[0] = pow_sum_##SFX(l->sum[0], g, n, p);                                        \
        }                                                                                         \
    }
NORM_RANGE_FN(float, f32)
NORM_RANGE_FN(double, f64)

double descent_norm_lanes_sum(const descent_norm_lanes *l, double p, int f64)
{
    if (isinf(p)) {
        if (f64) {
            if (l->maxbits > DESCENT_NF_INF_f64)
                return NAN;
            double x;
            memcpy(&x, &l->maxbits, sizeof x);
            return x;
        }
        if (l->maxbits > DESCENT_NF_INF_f32)
            return NAN;
        uint32_t u = (uint32_t)l->maxbits;
        float x;
        memcpy(&x, &u, sizeof x);
        return x;
    }
    /* pairwise: s[i] + s[i + h] for h = 16, 8, 4, 2, 1 */
    double s[DESCENT_NORM_LANES];
    memcpy(s, l->sum, sizeof s);
    for (int h = DESCENT_NORM_LANES / 2; h >= 1; h /= 2)
        for (int i = 0; i < h; i++)
            s[i] = s[i] + s[i + h];
    return s[0];
}

/* ---- per-tensor norm sums (the sharded optimizer's global norm) ----------- */

typedef struct norm_sums_pass {
    const descent_optimizer *opt;
    double p;
    double *sums; /* one per tensor */
} norm_sums_pass;

static int norm_sum_chunk(const descent_optimizer *opt, int c, void *ctx, double *partial)
{
    const norm_sums_pass *x = ctx;
    const descent_chunk *ch = &opt->chunks[c];
    const descent_tensor *t = &opt->tensors[ch->tensor];
    descent_norm_lanes l;
    descent_norm_lanes_init(&l);
    if (t->dtype == DESCENT_F64)
        descent_norm_range_f64(opt->isa, &l, (const double *)t->grad + ch->begin, ch->end - ch->begin, x->p);
    else
        descent_norm_range_f32(opt->isa, &l, (const float *)t->grad + ch->begin, ch->end - ch->begin, x->p);
    *partial = descent_norm_lanes_sum(&l, x->p, t->dtype == DESCENT_F64);
    return 0;
}

/* Chunk sums into their tensor's sum in chunk order, as clip.c folds them. */
static void norm_sum_fold(void *ctx, int c, double partial)
{
    norm_sums_pass *x = ctx;
    double *sum = &x->sums[x->opt->chunks[c].tensor];
    if (isinf(x->p))
        descent_norm_accumulate(sum, partial, x->p);
    else
        *sum += partial;
}

int descent_grad_norm_sums(const descent_optimizer *opt, double p, double *sums)
{
    for (int k = 0; k < opt->ntensors; k++) {
        sums[k] = 0.0;
        if (opt->tensors[k].dtype != DESCENT_F32 && opt->tensors[k].dtype != DESCENT_F64)
            return descent_opt_fail(opt, DESCENT_ERR_INVALID,
                                    "the gradient norm supports f32 and f64 tensors; tensor %d has dtype %d", k,
                                    (int)opt->tensors[k].dtype);
    }
    norm_sums_pass x = {opt, p, sums};
    descent_for_chunks(opt, 0, opt->nchunks, norm_sum_chunk, &x, norm_sum_fold);
    return 0;
}
