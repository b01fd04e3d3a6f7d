/* Checkpoints that move between machines. Every optimizer (f32 and f64),
 * bf16 parameters with stochastic rounding, 8-bit state and the training
 * utilities run K1 steps, save a checkpoint, and run K2 more; a second run
 * that loads the checkpoint into a fresh optimizer (the parameters at the
 * save, as the caller keeps them, come from a text file) must end with the
 * same bits.
 *
 *   test_portable_ckpt SRCDIR CLI                 both halves in one process
 *   test_portable_ckpt SRCDIR CLI write DIR       save the checkpoints into DIR
 *   test_portable_ckpt SRCDIR CLI resume DIR      load them, step, compare
 *
 * `make cross-test` runs `write` on one architecture and `resume` on the
 * other (x86-64 to s390x, aarch64, i686 and back: tests/portable_ckpt.sh).
 * The text files hold each value's bits in hexadecimal, so they read the
 * same on either byte order; the checkpoint is the library's own file.
 * Gradients are a fixed polynomial of the parameters and of integers
 * (no libm), the same on every machine. Every kernel is capped at the
 * portable instruction set, the one every architecture runs; with
 * DESCENT_CKPT_WIDE set in the environment an x86-64 side runs its AVX2 or
 * AVX-512 kernels instead (which give the same bits here too). */
#include "internal.h" /* descent_set_isa */
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define K1 9  /* steps before the checkpoint */
#define K2 12 /* steps after it */
#define NT 2  /* tensors: a 6x7 matrix and a vector of 300 */
static const size_t tensor_n[NT] = {42, 300};

typedef struct ckcase {
    char name[64];
    char spec[160];
    const char *schedule; /* NULL: none */
    descent_dtype dtype;
    int utils;            /* EMA, SWA, Lookahead and accumulation over 2 */
    unsigned bf16_flags;
} ckcase;

typedef struct run {
    descent_optimizer *opt;
    void *p[NT];
    void *g[NT];
} run;

static size_t dsize(descent_dtype d) { return d == DESCENT_F64 ? 8 : d == DESCENT_F32 ? 4 : 2; }

/* splitmix64: the data of the problem, from integers only. */
static uint64_t mix(uint64_t z)
{
    z += 0x9E3779B97F4A7C15u;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}
/* A double in [-1, 1) from (a, b, c), exact on every machine. */
static double unit(uint64_t a, uint64_t b, uint64_t c)
{
    return (double)(int64_t)(mix(a ^ mix(b ^ mix(c))) >> 11) / 4503599627370496.0 - 1.0;
}

static double get_val(const void *p, descent_dtype d, size_t i)
{
    if (d == DESCENT_F64)
        return ((const double *)p)[i];
    if (d == DESCENT_F32)
        return ((const float *)p)[i];
    uint32_t u = (uint32_t)((const uint16_t *)p)[i] << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void set_val(void *p, descent_dtype d, size_t i, double v)
{
    if (d == DESCENT_F64)
        ((double *)p)[i] = v;
    else if (d == DESCENT_F32)
        ((float *)p)[i] = (float)v;
    else {
        float f = (float)v;
        uint32_t u;
        memcpy(&u, &f, sizeof u);
        ((uint16_t *)p)[i] = (uint16_t)(u >> 16); /* truncation: any fixed rule will do */
    }
}

/* The gradient of step s: (p - target) * curvature + noise. */
static void gradients(run *r, descent_dtype d, int step)
{
    for (int t = 0; t < NT; t++)
        for (size_t i = 0; i < tensor_n[t]; i++) {
            double p = get_val(r->p[t], d, i);
            double target = unit(1, (uint64_t)t, i), curv = 0.5 + 0.5 * unit(2, (uint64_t)t, i) * unit(2, (uint64_t)t, i);
            set_val(r->g[t], d, i, (p - target) * curv + 0.1 * unit(3, (uint64_t)step, (uint64_t)t * 1000 + i));
        }
}

static int ncases;
static ckcase cases[64];

static void add_case(const char *name, const char *spec, const char *schedule, descent_dtype d, int utils,
                     unsigned bf16_flags)
{
    ckcase *c = &cases[ncases++];
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(c->spec, sizeof c->spec, "%s", spec);
    c->schedule = schedule;
    c->dtype = d;
    c->utils = utils;
    c->bf16_flags = bf16_flags;
}

static void make_cases(void)
{
    for (int i = 0; i < descent_optimizer_count(); i++) {
        const char *opt = descent_optimizer_name(i);
        char name[64], spec[160];
        snprintf(spec, sizeof spec, "%s(lr=0.01)", opt);
        snprintf(name, sizeof name, "%s-f64", opt);
        add_case(name, spec, "StepLR(step_size=4, gamma=0.5)", DESCENT_F64, 0, 0);
        snprintf(name, sizeof name, "%s-f32", opt);
        add_case(name, spec, "LinearLR(start_factor=0.25, total_iters=15)", DESCENT_F32, 0, 0);
    }
    add_case("SGD-nesterov-f64", "SGD(lr=0.02, momentum=0.9, nesterov=True, weight_decay=1e-3)",
             "CosineAnnealingLR(T_max=30)", DESCENT_F64, 0, 0);
    add_case("Adam-cosine-f32", "Adam(lr=0.01, amsgrad=True)", "CosineAnnealingWarmRestarts(T_0=7, T_mult=2)",
             DESCENT_F32, 0, 0);
    add_case("AdamW-onecycle-f64", "AdamW(lr=0.01)", "OneCycleLR(max_lr=0.05, total_steps=40)", DESCENT_F64, 0, 0);
    add_case("Adam-bf16-stochastic", "Adam(lr=0.01)", NULL, DESCENT_BF16, 0, DESCENT_BF16_STOCHASTIC);
    add_case("SGD-bf16", "SGD(lr=0.05, momentum=0.9)", NULL, DESCENT_BF16, 0, 0);
    add_case("AdamW-q8", "AdamW(lr=0.01, state_bits=8)", NULL, DESCENT_F32, 0, 0);
    add_case("Adam-utils-f32", "Adam(lr=0.01)", "ExponentialLR(gamma=0.95)", DESCENT_F32, 1, 0);
    add_case("NAdam-utils-f64", "NAdam(lr=0.01)", NULL, DESCENT_F64, 1, 0);
}

static void free_run(run *r)
{
    descent_destroy(r->opt);
    for (int t = 0; t < NT; t++) {
        free(r->p[t]);
        free(r->g[t]);
    }
    memset(r, 0, sizeof *r);
}

/* A fresh optimizer over fresh parameters for case c. */
static int make_run(const ckcase *c, run *r)
{
    memset(r, 0, sizeof *r);
    descent_error err;
    if (descent_create_from_spec(&r->opt, c->spec, NULL, &err) < 0) {
        CHECK(0, "%s: %s", c->spec, err.message);
        return -1;
    }
    if (!getenv("DESCENT_CKPT_WIDE"))
        descent_set_isa(r->opt, DESCENT_ISA_PORTABLE);
    int ok = descent_set_bf16_options(r->opt, c->bf16_flags, 12345) == 0;
    int grp = descent_add_group(r->opt, NULL);
    for (int t = 0; t < NT; t++) {
        r->p[t] = calloc(tensor_n[t], dsize(c->dtype));
        r->g[t] = calloc(tensor_n[t], dsize(c->dtype));
        if (!r->p[t] || !r->g[t]) {
            CHECK(0, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < tensor_n[t]; i++)
            set_val(r->p[t], c->dtype, i, unit(4, (uint64_t)t, i));
    }
    const size_t mat[2] = {6, 7};
    ok = ok && descent_add_tensor_shaped(r->opt, grp, r->p[0], r->g[0], 2, mat, c->dtype) >= 0;
    ok = ok && descent_add_tensor(r->opt, grp, r->p[1], r->g[1], tensor_n[1], c->dtype) >= 0;
    if (c->schedule)
        ok = ok && descent_set_schedule(r->opt, c->schedule) == 0;
    if (c->utils)
        ok = ok && descent_set_ema(r->opt, 0.9) == 0 && descent_set_swa(r->opt, 1) == 0 &&
             descent_set_lookahead(r->opt, 3, 0.5) == 0 && descent_set_accumulation(r->opt, 2) == 0;
    CHECK(ok, "%s: setup: %s", c->name, descent_errmsg(r->opt));
    return ok ? 0 : -1;
}

/* Micro-steps [from, to): with accumulation over 2, every other one updates. */
static int steps(const ckcase *c, run *r, int from, int to)
{
    for (int s = from; s < to; s++) {
        gradients(r, c->dtype, s);
        int rc = descent_step(r->opt);
        if (rc == 0 && c->schedule)
            rc = descent_schedule_step(r->opt, NAN);
        if (rc == 0 && c->utils && s % 4 == 3)
            rc = descent_swa_update(r->opt);
        if (rc < 0) {
            CHECK(0, "%s: step %d: %s", c->name, s, descent_errmsg(r->opt));
            return -1;
        }
    }
    return 0;
}

static void path_of(char *buf, size_t cap, const char *dir, const ckcase *c, const char *ext)
{
    snprintf(buf, cap, "%s/%s.%s", dir, c->name, ext);
}

/* Parameters (and with utils the EMA and SWA averages) as one line of hex
 * bit patterns per tensor. */
static void put_hex(FILE *f, const void *p, descent_dtype d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (d == DESCENT_F64) {
            uint64_t u;
            memcpy(&u, (const double *)p + i, 8);
            fprintf(f, "%016llx ", (unsigned long long)u);
        } else if (d == DESCENT_F32) {
            uint32_t u;
            memcpy(&u, (const float *)p + i, 4);
            fprintf(f, "%08lx ", (unsigned long)u);
        } else
            fprintf(f, "%04x ", (unsigned)((const uint16_t *)p)[i]);
    }
    fputc('\n', f);
}

static int get_hex(FILE *f, void *p, descent_dtype d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned long long u;
        if (fscanf(f, "%llx", &u) != 1)
            return -1;
        if (d == DESCENT_F64) {
            uint64_t v = (uint64_t)u;
            memcpy((double *)p + i, &v, 8);
        } else if (d == DESCENT_F32) {
            uint32_t v = (uint32_t)u;
            memcpy((float *)p + i, &v, 4);
        } else
            ((uint16_t *)p)[i] = (uint16_t)u;
    }
    return 0;
}

static void put_state(FILE *f, const ckcase *c, run *r)
{
    for (int t = 0; t < NT; t++)
        put_hex(f, r->p[t], c->dtype, tensor_n[t]);
    if (c->utils) {
        void *avg = malloc(tensor_n[1] * dsize(c->dtype));
        for (int which = 0; which < 2 && avg; which++)
            for (int t = 0; t < NT; t++) {
                descent_copy_averaged(r->opt, which, t, avg);
                put_hex(f, avg, c->dtype, tensor_n[t]);
            }
        free(avg);
    }
    uint64_t lr;
    double v = descent_get_lr(r->opt, 0);
    memcpy(&lr, &v, 8);
    fprintf(f, "%016llx %lld\n", (unsigned long long)lr, (long long)descent_step_count(r->opt));
}

/* Write DIR/NAME.ckpt, the parameters at the save (NAME.at) and the state
 * after K2 more steps (NAME.end). */
static void write_case(const ckcase *c, const char *dir)
{
    run r;
    if (make_run(c, &r) < 0 || steps(c, &r, 0, K1) < 0) {
        free_run(&r);
        return;
    }
    char path[512];
    path_of(path, sizeof path, dir, c, "ckpt");
    CHECK(descent_save(r.opt, path) == 0, "%s: save: %s", c->name, descent_errmsg(r.opt));
    path_of(path, sizeof path, dir, c, "at");
    FILE *f = fopen(path, "wb"); /* binary: the same bytes on Windows */
    for (int t = 0; f && t < NT; t++)
        put_hex(f, r.p[t], c->dtype, tensor_n[t]);
    CHECK(f && fclose(f) == 0, "%s: cannot write %s", c->name, path);
    if (steps(c, &r, K1, K1 + K2) == 0) {
        path_of(path, sizeof path, dir, c, "end");
        f = fopen(path, "wb");
        if (f)
            put_state(f, c, &r);
        CHECK(f && fclose(f) == 0, "%s: cannot write %s", c->name, path);
    }
    free_run(&r);
}

/* The first value that differs between two state files, with both. */
static void compare_text(const ckcase *c, const char *want, const char *got)
{
    size_t k = 0, line = 1, word = 0, start = 0;
    for (; want[k] && want[k] == got[k]; k++) {
        if (want[k] == '\n')
            line++, word = 0, start = k + 1;
        else if (want[k] == ' ')
            word++, start = k + 1;
    }
    CHECK(!want[k] && !got[k], "%s: the resumed run differs at line %zu (tensor, average or lr), value %zu: want %.16s, got %.16s",
          c->name, line, word, want + start, got + start);
}

static void resume_case(const ckcase *c, const char *dir)
{
    run r;
    if (make_run(c, &r) < 0) {
        free_run(&r);
        return;
    }
    char path[512];
    path_of(path, sizeof path, dir, c, "at");
    FILE *f = fopen(path, "rb");
    int ok = f != NULL;
    for (int t = 0; ok && t < NT; t++)
        ok = get_hex(f, r.p[t], c->dtype, tensor_n[t]) == 0;
    if (f)
        fclose(f);
    CHECK(ok, "%s: cannot read %s", c->name, path);
    /* The parameters changed under the optimizer: bf16 master copies and
     * averages are seeded from them again, as after any external edit. */
    for (int t = 0; ok && t < NT; t++)
        ok = descent_set_tensor_data(r.opt, t, r.p[t], r.g[t]) == 0;
    path_of(path, sizeof path, dir, c, "ckpt");
    int rc = ok ? descent_load(r.opt, path) : -1;
    CHECK(rc == 0, "%s: load %s: %s", c->name, path, descent_errmsg(r.opt));
    if (rc != 0 || steps(c, &r, K1, K1 + K2) < 0) {
        free_run(&r);
        return;
    }
    path_of(path, sizeof path, dir, c, "end");
    char *want = t_read_file(path, NULL);
    CHECK(want != NULL, "%s: cannot read %s", c->name, path);
    char *got = NULL;
    size_t got_len = 0;
    FILE *m = tmpfile();
    if (m && want) {
        put_state(m, c, &r);
        got_len = (size_t)ftell(m);
        rewind(m);
        got = calloc(got_len + 1, 1);
        if (got && fread(got, 1, got_len, m) == got_len)
            compare_text(c, want, got);
        else
            CHECK(0, "%s: tmpfile", c->name);
    }
    if (m)
        fclose(m);
    free(got);
    free(want);
    free_run(&r);
}

int main(int argc, char **argv)
{
    make_cases();
    const char *mode = argc > 4 ? argv[3] : NULL;
    /* Without a mode: a directory under the working directory (the build's tests/). */
    const char *dir = mode ? argv[4] : "portable_ckpt_self";
#ifdef _WIN32
    mkdir(dir);
#else
    mkdir(dir, 0700);
#endif
    if (!mode || strcmp(mode, "write") == 0)
        for (int i = 0; i < ncases; i++)
            write_case(&cases[i], dir);
    if (!mode || strcmp(mode, "resume") == 0)
        for (int i = 0; i < ncases; i++)
            resume_case(&cases[i], dir);
    if (mode && strcmp(mode, "write") != 0 && strcmp(mode, "resume") != 0)
        CHECK(0, "mode must be write or resume, got %s", mode);
    printf("%d cases, %s in %s\n", ncases, mode ? mode : "write and resume", dir);
    return t_done();
}
