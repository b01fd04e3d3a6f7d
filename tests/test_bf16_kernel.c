/* The bf16 kernels (kernel_bf16: p and g widened, p rounded, in registers)
 * give the bits of the scratch path (kernel_f32 on f32 copies of p and g,
 * then the same rounding: src/bf16.c) for every algorithm that has one:
 * parameters, master copy, optimizer state and the step's status, on random
 * data with NaN, infinities, subnormals and exact rounding ties, tensors of
 * lengths that are not a multiple of any vector width, with and without the
 * master copy and stochastic rounding, blocked (prefetch) and whole-chunk
 * calls, 1-3 threads and every instruction set this CPU runs; and the size
 * descent_dtype_size gives each element type. */
#include "descent.h"
#include "internal.h"
#include "testutil.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Every element-wise algorithm (all have a bf16 kernel), covering the
 * kernels' compile-time variants (weight decay, momentum, Nesterov, AMSGrad,
 * centered, decoupled, rectified, maximize).
 * SGD(lr=1.0) subtracts g itself: g at half a bf16 ulp of p is an exact
 * tie for rounding to nearest even. */
static const char *const specs[] = {
    "SGD(lr=1.0)",
    "SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)",
    "SGD(lr=0.05, momentum=0.9, dampening=0.1, maximize=True)",
    "Adam(lr=0.01, weight_decay=0.1)",
    "AdamW(lr=0.01)",
    "AMSGrad(lr=0.01, maximize=True)",
    "RMSprop(lr=0.01)",
    "RMSprop(lr=0.01, centered=True, momentum=0.9, weight_decay=0.1)",
    "Lion(lr=0.01, weight_decay=0.1)",
    "AdaBelief(lr=0.01, weight_decay=0.1)",
    "AdaBelief(lr=0.01, rectify=False, maximize=True)",
    "Adadelta(lr=0.5, weight_decay=0.1)",
    "Adagrad(lr=0.01, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1)",
    "Adamax(lr=0.01, weight_decay=0.1)",
    "ASGD(lr=0.01, weight_decay=0.1, t0=2)",
    "FTRL(lr=0.01, beta=0.1)",
    "NAdam(lr=0.01, weight_decay=0.1)",
    "NAdam(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)",
    "RAdam(lr=0.01, weight_decay=0.1)",
    "RAdam(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)",
    "Rprop(lr=0.01, maximize=True)",
    "Yogi(lr=0.01)",
    "ScheduleFreeSGD(lr=0.01, weight_decay=0.1)",
    "ScheduleFreeAdamW(lr=0.01, weight_decay=0.1)",
};

#define NT 5
/* The last spans two of the step's chunks (one under valgrind). */
static size_t sizes[NT] = {1, 7, 33, 1001, 70001};
#define STEPS 4

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* A bf16 value: mostly normal numbers in [2^-8, 2) of either sign, some
 * subnormal, zero, large, infinite or NaN (specials: 0 none). */
static uint16_t random_bf16(uint64_t *s, int specials)
{
    uint64_t r = rng_next(s);
    uint16_t sign = (uint16_t)((r & 1) << 15), frac = (uint16_t)((r >> 1) & 0x7F);
    unsigned kind = (unsigned)(r >> 8) % 64;
    if (specials && kind == 0)
        return sign | 0x7F80; /* infinity */
    if (specials && kind == 1)
        return sign | 0x7FC0 | frac; /* NaN */
    if (kind == 2)
        return sign | frac; /* subnormal or zero */
    if (kind == 3)
        return sign | (uint16_t)(0x7E80 + frac); /* near the largest */
    return sign | (uint16_t)((119 + (r >> 16) % 9) << 7) | frac;
}

/* Parameters (at the first step) or the gradient of step t: every 8th
 * gradient value half an ulp of its parameter (a tie under SGD(lr=1.0)). */
static void fill(uint16_t *p, uint16_t *g, size_t n, int t, int with_p)
{
    uint64_t s = 1000u * (uint64_t)t + n;
    for (size_t i = 0; i < n; i++) {
        if (with_p)
            p[i] = random_bf16(&s, 1);
        g[i] = random_bf16(&s, 1);
        unsigned e = (p[i] >> 7) & 0xFF;
        if (i % 8 == 3 && e > 8 && e < 0xFF)
            g[i] = (uint16_t)((rng_next(&s) & 1) << 15 | (e - 8) << 7); /* 2^(e-8): half an ulp */
    }
}

typedef struct run {
    uint16_t *p[NT], *g[NT];
    float *state[NT][DESCENT_MAX_STATE];
    float *master[NT];
    int status[STEPS];
} run;

/* STEPS steps of spec on fresh data; the scratch path (scratch 1: by
 * descent_bf16_force_scratch, 2: by the public flag DESCENT_BF16_SCRATCH)
 * or the kernel (0). */
static int do_run(run *r, const char *spec, unsigned flags, int scratch, int threads, int isa, int prefetch,
                  int report)
{
    memset(r, 0, sizeof *r);
    descent_optimizer *opt = t_make_opt(spec);
    if (!opt)
        return -1;
    CHECK(descent_set_bf16_options(opt, flags | (scratch == 2 ? DESCENT_BF16_SCRATCH : 0u), 12345) == 0, "%s: %s",
          spec, descent_errmsg(opt));
    descent_set_threads(opt, threads);
    descent_set_isa(opt, isa);
    descent_set_prefetch(opt, prefetch);
    descent_set_nonfinite_policy(opt, report ? DESCENT_NONFINITE_REPORT : DESCENT_NONFINITE_PROPAGATE);
    descent_bf16_force_scratch(opt, scratch == 1);
    for (int k = 0; k < NT; k++) {
        r->p[k] = malloc(sizes[k] * sizeof(uint16_t));
        r->g[k] = malloc(sizes[k] * sizeof(uint16_t));
        fill(r->p[k], r->g[k], sizes[k], 0, 1);
        if (descent_add_tensor(opt, 0, r->p[k], r->g[k], sizes[k], DESCENT_BF16) < 0)
            CHECK(0, "%s: tensor %d refused: %s", spec, k, descent_errmsg(opt));
    }
    CHECK(opt->algo->kernel_bf16 != NULL, "%s has no bf16 kernel", spec);
    for (int t = 0; t < STEPS; t++) {
        for (int k = 0; k < NT; k++)
            fill(r->p[k], r->g[k], sizes[k], t + 1, 0);
        r->status[t] = descent_step(opt);
    }
    for (int k = 0; k < NT; k++) {
        const descent_tensor *t = &opt->tensors[k];
        for (int j = 0; j < t->nstate; j++) {
            r->state[k][j] = malloc(sizes[k] * sizeof(float));
            memcpy(r->state[k][j], t->state[j], sizes[k] * sizeof(float));
        }
        if (t->master) {
            r->master[k] = malloc(sizes[k] * sizeof(float));
            memcpy(r->master[k], t->master, sizes[k] * sizeof(float));
        }
    }
    descent_destroy(opt);
    return 0;
}

static void free_run(run *r)
{
    for (int k = 0; k < NT; k++) {
        free(r->p[k]);
        free(r->g[k]);
        free(r->master[k]);
        for (int j = 0; j < DESCENT_MAX_STATE; j++)
            free(r->state[k][j]);
    }
}

/* The same bits, or NaN in both: the sign and payload of a NaN are not
 * specified (the f32 kernel's own instruction-set copies differ there, as
 * the compiler orders the operands of an operation on two NaNs). */
static int same16(const uint16_t *a, const uint16_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i] && !((a[i] & 0x7FFFu) > 0x7F80u && (b[i] & 0x7FFFu) > 0x7F80u))
            return 0;
    return 1;
}

static int same32(const float *x, const float *y, size_t n)
{
    if (!x || !y)
        return x == y;
    for (size_t i = 0; i < n; i++) {
        uint32_t a, b;
        memcpy(&a, &x[i], sizeof a);
        memcpy(&b, &y[i], sizeof b);
        if (a != b && !((a & 0x7FFFFFFFu) > 0x7F800000u && (b & 0x7FFFFFFFu) > 0x7F800000u))
            return 0;
    }
    return 1;
}

/* Parameters, master copies, state and statuses alike. */
static int same(const run *a, const run *b)
{
    int ok = memcmp(a->status, b->status, sizeof a->status) == 0;
    for (int k = 0; k < NT; k++) {
        ok &= same16(a->p[k], b->p[k], sizes[k]) && same32(a->master[k], b->master[k], sizes[k]);
        for (int j = 0; j < DESCENT_MAX_STATE; j++)
            ok &= same32(a->state[k][j], b->state[k][j], sizes[k]);
    }
    return ok;
}

int main(void)
{
    const int best = descent_isa_detect();
    if (t_valgrind())
        sizes[NT - 1] = 5001;
    const unsigned modes[] = {0, DESCENT_BF16_MASTER, DESCENT_BF16_STOCHASTIC,
                              DESCENT_BF16_MASTER | DESCENT_BF16_STOCHASTIC};
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++)
        for (int m = 0; m < 4; m++)
            for (int report = 0; report < 2; report++) {
                run ref;
                if (do_run(&ref, specs[s], modes[m], 1 + (int)(s + m) % 2, 1, DESCENT_ISA_PORTABLE, 0, report) != 0)
                    continue;
                if (report)
                    CHECK(ref.status[0] == DESCENT_STEP_NONFINITE, "%s: a step with NaN gradients gave %d",
                          specs[s], ref.status[0]);
                /* the kernel: each instruction set on 1 thread, then 2 and 3
                 * threads at the widest; blocked (1 KiB prefetch blocks)
                 * and in one call per chunk (prefetch off) */
                for (int v = 0; v <= best + 2; v++) {
                    int isa = v <= best ? v : best, threads = v <= best ? 1 : v - best + 1;
                    int prefetch = (v + report) % 2 ? -1 : 1024;
                    run r;
                    if (do_run(&r, specs[s], modes[m], 0, threads, isa, prefetch, report) != 0)
                        continue;
                    CHECK(same(&r, &ref),
                          "%s flags %u policy %s: the bf16 kernel at isa %d, %d threads, prefetch %d differs "
                          "from the scratch path",
                          specs[s], modes[m], report ? "REPORT" : "PROPAGATE", isa, threads, prefetch);
                    free_run(&r);
                }
                free_run(&ref);
            }
    /* every element-wise algorithm has a bf16 kernel, and is among the specs */
    for (int k = 0; k < descent_optimizer_count(); k++) {
        const char *name = descent_optimizer_name(k);
        descent_optimizer *opt = t_make_opt(name);
        if (!opt)
            continue;
        int listed = 0;
        for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++)
            listed |= strncmp(specs[s], name, strlen(name)) == 0 && specs[s][strlen(name)] == '(';
        CHECK(opt->algo->tensor_step || opt->algo->kernel_bf16, "%s has no bf16 kernel", name);
        CHECK(!opt->algo->kernel_bf16 || listed, "%s has a bf16 kernel this test does not run", name);
        descent_destroy(opt);
    }
    /* descent_dtype_size: a bf16 element is the upper half of a binary32 */
    CHECK(descent_dtype_size(DESCENT_BF16) == sizeof(uint16_t) && descent_dtype_size(DESCENT_F32) == sizeof(float) &&
              descent_dtype_size(DESCENT_F64) == sizeof(double) && descent_dtype_size((descent_dtype)3) == 0,
          "dtype sizes %zu %zu %zu %zu", descent_dtype_size(DESCENT_BF16), descent_dtype_size(DESCENT_F32),
          descent_dtype_size(DESCENT_F64), descent_dtype_size((descent_dtype)3));
    t_isa_covered(best);
    return t_done();
}
