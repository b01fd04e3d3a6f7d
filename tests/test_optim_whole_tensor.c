/* The whole-tensor optimizers (LAMB, Adafactor: per-tensor norms, row and
 * column statistics) beyond their golden trajectories (test_golden_optim):
 * bit-identical results and checkpoints for 1, 2 and 3 threads over big
 * tensors of every shape kind; Adafactor's shape-dependent state through
 * checkpoints, and a transposed shape refused; LAMB's trust ratio on zero
 * parameters; bf16 tensors refused; argument errors naming the value. */
#include "descent.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static descent_optimizer *make(const char *spec) { return t_make_opt(spec); }

static unsigned char *checkpoint(const descent_optimizer *opt, size_t *len) { return t_checkpoint(opt, len); }

static void test_invalid_arguments(void)
{
    t_expect_spec_error("LAMB(betas=(0.9, 1.0))", "betas[1] must be in [0, 1)");
    t_expect_spec_error("LAMB(eps_root=-1)", "eps_root must be >= 0");
    t_expect_spec_error("LAMB(maximize=True)", "LAMB has no argument 'maximize'");
    t_expect_spec_error("Adafactor(beta2_decay=0.5)", "beta2_decay must be in [-inf, 0]");
    t_expect_spec_error("Adafactor(d=0.5)", "d must be >= 1");
    t_expect_spec_error("Adafactor(eps=(-1, 1e-3))", "eps[0] must be >= 0");
    t_expect_spec_error("Adafactor(eps=(None, None))", "eps[1] (epsilon2) must be a number >= 0, not None");
    t_expect_spec_error("Adafactor(eps=1e-3)", "eps must be a pair");

    /* None through descent_set / descent_get, and a refused value changes nothing. */
    descent_optimizer *opt = make("Adafactor(eps=(1e-30, 1e-3))");
    if (!opt)
        return;
    double v = 0;
    CHECK(descent_set(opt, 0, "eps[0]", NAN) == 0 && descent_get(opt, 0, "eps[0]", &v) == 0 && isnan(v),
          "eps[0] = None through descent_set: %g", v);
    CHECK(descent_set(opt, 0, "eps[1]", NAN) == DESCENT_ERR_INVALID && strstr(descent_errmsg(opt), "eps[1]"),
          "eps[1] = None accepted: %s", descent_errmsg(opt));
    CHECK(descent_get(opt, 0, "eps[1]", &v) == 0 && v == 1e-3, "refused set changed eps[1]: %g", v);
    CHECK(descent_set(opt, 0, "d", 0.5) == DESCENT_ERR_INVALID && strstr(descent_errmsg(opt), "0.5"), "d = 0.5: %s",
          descent_errmsg(opt));
    descent_destroy(opt);
}

/* bf16 tensors: refused by the whole-tensor optimizers. */
static void test_bf16_refused(void)
{
    uint16_t p[4] = {0x3f80, 0x4000, 0x4040, 0x4080}, g[4] = {0x3f80, 0x3f80, 0xbf80, 0x3f00};
    const char *refused[] = {"LAMB()", "Adafactor()"};
    for (int k = 0; k < 2; k++) {
        descent_optimizer *opt = make(refused[k]);
        if (!opt)
            continue;
        int rc = descent_add_tensor(opt, 0, p, g, 4, DESCENT_BF16);
        CHECK(rc == DESCENT_ERR_INVALID && strstr(descent_errmsg(opt), "DESCENT_BF16") && descent_num_tensors(opt) == 0,
              "%s bf16: %d %s", refused[k], rc, descent_errmsg(opt));
        descent_destroy(opt);
    }
}

/* Several big tensors of each shape kind, stepped with 1, 2 and 3 threads:
 * parameters and checkpoints must be the same bits. */
#define NBIG 3
static const size_t big_shapes[NBIG][3] = {{300001, 0, 0}, {600, 500, 0}, {3, 200, 170}};
static const int big_ndim[NBIG] = {1, 2, 3};

static size_t shape_n(int k)
{
    size_t n = 1;
    for (int d = 0; d < big_ndim[k]; d++)
        n *= big_shapes[k][d];
    return n;
}

static unsigned char *run_big(const char *spec, descent_dtype dtype, int threads, float **p32, double **p64,
                              size_t *len)
{
    descent_optimizer *opt = make(spec);
    if (!opt)
        return NULL;
    CHECK(descent_set_threads(opt, threads) == 0, "threads");
    void *g[NBIG];
    for (int k = 0; k < NBIG; k++) {
        size_t n = shape_n(k);
        void *p = dtype == DESCENT_F64 ? (void *)(p64[k] = malloc(n * 8)) : (void *)(p32[k] = malloc(n * 4));
        g[k] = malloc(n * (dtype == DESCENT_F64 ? 8 : 4));
        for (size_t i = 0; i < n; i++) {
            double v = sin(0.001 * (double)i + k), gv = cos(0.37 * (double)i) * (1 + (double)(i % 5));
            if (dtype == DESCENT_F64) {
                ((double *)p)[i] = v;
                ((double *)g[k])[i] = gv;
            } else {
                ((float *)p)[i] = (float)v;
                ((float *)g[k])[i] = (float)gv;
            }
        }
        CHECK(descent_add_tensor_shaped(opt, 0, p, g[k], big_ndim[k], big_shapes[k], dtype) == k, "add: %s",
              descent_errmsg(opt));
    }
    for (int s = 0; s < 3; s++)
        descent_step(opt);
    unsigned char *ck = checkpoint(opt, len);
    descent_destroy(opt);
    for (int k = 0; k < NBIG; k++)
        free(g[k]);
    return ck;
}

static void test_threads(void)
{
    const char *specs[] = {"LAMB(lr=0.01, weight_decay=0.01)", "Adafactor(weight_decay=0.01)"};
    for (int s = 0; s < 2; s++)
        for (int dt = 0; dt < 2; dt++) {
            descent_dtype dtype = dt ? DESCENT_F64 : DESCENT_F32;
            float *ref32[NBIG] = {0}, *p32[NBIG] = {0};
            double *ref64[NBIG] = {0}, *p64[NBIG] = {0};
            size_t rlen = 0, len = 0;
            unsigned char *ref = run_big(specs[s], dtype, 1, ref32, ref64, &rlen);
            for (int threads = 2; threads <= 3; threads++) {
                unsigned char *ck = run_big(specs[s], dtype, threads, p32, p64, &len);
                int same = ref && ck && len == rlen && memcmp(ref, ck, len) == 0;
                for (int k = 0; k < NBIG; k++) {
                    size_t bytes = shape_n(k) * (dt ? 8 : 4);
                    same &= memcmp(dt ? (void *)ref64[k] : (void *)ref32[k], dt ? (void *)p64[k] : (void *)p32[k],
                                   bytes) == 0;
                    free(p32[k]);
                    free(p64[k]);
                    p32[k] = NULL;
                    p64[k] = NULL;
                }
                CHECK(same, "%s (%s): %d threads differ from 1", specs[s], dt ? "f64" : "f32", threads);
                free(ck);
            }
            for (int k = 0; k < NBIG; k++) {
                free(ref32[k]);
                free(ref64[k]);
            }
            free(ref);
        }
}

/* Adafactor's shape-dependent state: sizes, checkpoint round trips of
 * factored tensors, and a transposed shape refused. */
static void test_adafactor_shapes(void)
{
    static const size_t s2[2] = {4, 6}, s2t[2] = {6, 4}, s3[3] = {2, 3, 5}, s1[1] = {7};
    float a[24], b[30], c[7], ga[24], gb[30], gc[7];
    float a2[24], b2[30], c2[7];
    for (int i = 0; i < 30; i++) {
        if (i < 24) {
            a[i] = (float)cos(i);
            ga[i] = (float)sin(1.3 * i);
        }
        b[i] = (float)cos(0.5 * i);
        gb[i] = (float)sin(0.7 * i) * (float)(1 + i % 4);
        if (i < 7) {
            c[i] = (float)i - 3.0f;
            gc[i] = 0.1f * (float)i;
        }
    }
    descent_optimizer *one = make("Adafactor(lr=0.05, weight_decay=0.1)");
    descent_optimizer *two = make("Adafactor(lr=0.05, weight_decay=0.1)");
    if (!one || !two)
        return;
    descent_add_tensor_shaped(one, 0, a, ga, 2, s2, DESCENT_F32);
    descent_add_tensor_shaped(one, 0, b, gb, 3, s3, DESCENT_F32);
    descent_add_tensor_shaped(one, 0, c, gc, 1, s1, DESCENT_F32);
    /* row_var + col_var: (4 + 6) + (2*3 + 2*5) + (7 + 0) floats. */
    CHECK(descent_state_bytes(one) == (10 + 16 + 7) * 4, "state bytes %zu", descent_state_bytes(one));
    /* The step's bytes: p read and written and g read (3), the factors read
     * and written, and the later passes' reads: p and g three times more
     * (factored, 4) or p, g and the variance again (1-D, 3; with the
     * variance read and written, 8 in all). */
    CHECK(descent_step_bytes(one) == (7 * 24 + 7 * 30 + 8 * 7) * 4 + 2 * (10 + 16) * 4, "Adafactor step bytes %zu",
          descent_step_bytes(one));
    for (int s = 0; s < 3; s++)
        descent_step(one);
    size_t len;
    unsigned char *buf = checkpoint(one, &len);
    memcpy(a2, a, sizeof a);
    memcpy(b2, b, sizeof b);
    memcpy(c2, c, sizeof c);
    descent_add_tensor_shaped(two, 0, a2, ga, 2, s2, DESCENT_F32);
    descent_add_tensor_shaped(two, 0, b2, gb, 3, s3, DESCENT_F32);
    descent_add_tensor_shaped(two, 0, c2, gc, 1, s1, DESCENT_F32);
    CHECK(descent_load_mem(two, buf, len) == 0, "load: %s", descent_errmsg(two));
    for (int s = 0; s < 4; s++) {
        descent_step(one);
        descent_step(two);
    }
    CHECK(memcmp(a, a2, sizeof a) == 0 && memcmp(b, b2, sizeof b) == 0 && memcmp(c, c2, sizeof c) == 0,
          "Adafactor resumed from a checkpoint is not bit-identical");
    descent_destroy(two);

    /* Same element counts, transposed first tensor: row_var has 6, not 4. */
    two = make("Adafactor(lr=0.05, weight_decay=0.1)");
    descent_add_tensor_shaped(two, 0, a2, ga, 2, s2t, DESCENT_F32);
    descent_add_tensor_shaped(two, 0, b2, gb, 3, s3, DESCENT_F32);
    descent_add_tensor_shaped(two, 0, c2, gc, 1, s1, DESCENT_F32);
    memcpy(a, a2, sizeof a);
    int rc = descent_load_mem(two, buf, len);
    CHECK(rc == DESCENT_ERR_CHECKPOINT && strstr(descent_errmsg(two), "row_var") && strstr(descent_errmsg(two), "shape"),
          "transposed shape: %d %s", rc, descent_errmsg(two));
    descent_step(two);
    descent_destroy(two);
    descent_destroy(one);
    free(buf);

    /* A factored tensor differs from the same values registered flat. */
    float f[24], fl[24];
    memcpy(f, a, sizeof f);
    memcpy(fl, a, sizeof fl);
    descent_optimizer *fac = make("Adafactor()"), *flat = make("Adafactor()");
    descent_add_tensor_shaped(fac, 0, f, ga, 2, s2, DESCENT_F32);
    descent_add_tensor(flat, 0, fl, ga, 24, DESCENT_F32);
    for (int s = 0; s < 3; s++) {
        descent_step(fac);
        descent_step(flat);
    }
    CHECK(memcmp(f, fl, sizeof f) != 0, "factoring made no difference");
    descent_destroy(fac);
    descent_destroy(flat);
}

/* LAMB's trust ratio is 1 when the parameters are all zero: the first step
 * is then plain lr times the Adam direction, sign(g) lr for eps -> 0. */
static void test_lamb_zero_norm(void)
{
    double p[3] = {0, 0, 0}, g[3] = {2, -0.5, 1e-3};
    descent_optimizer *opt = make("LAMB(lr=0.1, eps=1e-300)"); /* eps = 0 is refused (0/0 on zero g) */
    if (!opt)
        return;
    descent_add_tensor(opt, 0, p, g, 3, DESCENT_F64);
    descent_step(opt);
    CHECK(fabs(p[0] + 0.1) < 1e-14 && fabs(p[1] - 0.1) < 1e-14 && fabs(p[2] + 0.1) < 1e-14,
          "zero-norm step: %.17g %.17g %.17g", p[0], p[1], p[2]);
    descent_destroy(opt);
}

/* descent_step_bytes: one pass for the element-wise optimizers, LAMB's
 * second pass reading p and both moments again, each storage's own bytes. */
static void test_step_bytes(void)
{
    static float p[1000], g[1000];
    static uint16_t pb[1000], gb[1000];
    static double pd[1000], gd[1000];
    struct {
        const char *spec;
        void *param, *grad;
        descent_dtype dtype;
        unsigned bf16_flags;
        size_t want;
    } cases[] = {
        {"AdamW()", p, g, DESCENT_F32, 0, 28 * 1000},
        {"AdamW()", pd, gd, DESCENT_F64, 0, 56 * 1000},
        {"SGD()", p, g, DESCENT_F32, 0, 12 * 1000},
        {"LAMB()", p, g, DESCENT_F32, 0, 40 * 1000},
        {"LAMB()", pd, gd, DESCENT_F64, 0, 80 * 1000},
        {"Adafactor()", p, g, DESCENT_F32, 0, 32 * 1000},
        /* bf16 p and g, f32 state; with the master copy p is only written. */
        {"AdamW()", pb, gb, DESCENT_BF16, 0, (3 * 2 + 4 * 4) * 1000},
        {"AdamW()", pb, gb, DESCENT_BF16, DESCENT_BF16_MASTER, (2 * 4 + 2 + 2 + 4 * 4) * 1000},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        descent_optimizer *opt = make(cases[k].spec);
        if (!opt)
            continue;
        if (cases[k].bf16_flags)
            CHECK(descent_set_bf16_options(opt, cases[k].bf16_flags, 1) == 0, "bf16 options: %s",
                  descent_errmsg(opt));
        CHECK(descent_add_tensor(opt, 0, cases[k].param, cases[k].grad, 1000, cases[k].dtype) >= 0, "%s: %s",
              cases[k].spec, descent_errmsg(opt));
        CHECK(descent_step_bytes(opt) == cases[k].want, "%s dtype %d flags %u: step bytes %zu, want %zu",
              cases[k].spec, (int)cases[k].dtype, cases[k].bf16_flags, descent_step_bytes(opt), cases[k].want);
        descent_destroy(opt);
    }
    /* 8-bit state: a byte per element and an f32 scale per 2048-element
     * block of each moment, read and written. */
    descent_optimizer *q8 = make("AdamW(state_bits=8)");
    static float pq[4096], gq[4096];
    if (q8 && descent_add_tensor(q8, 0, pq, gq, 4096, DESCENT_F32) >= 0) {
        size_t want = 12 * 4096 + 2 * 2 * (descent_state_bytes(q8) / 2);
        CHECK(descent_step_bytes(q8) == want && descent_state_bytes(q8) >= 2 * (4096 + 2 * 4),
              "8-bit step bytes %zu, want %zu", descent_step_bytes(q8), want);
    }
    descent_destroy(q8);
    CHECK(descent_step_bytes(NULL) == 0, "no optimizer, no bytes");
}

int main(void)
{
    test_step_bytes();
    test_invalid_arguments();
    test_bf16_refused();
    test_threads();
    test_adafactor_shapes();
    test_lamb_zero_norm();
    return t_done();
}
