/* The optimizers of issue 7 (FTRL, ScheduleFreeSGD, ScheduleFreeAdamW,
 * LAMB, Adafactor, AdaBelief(rectify=True)) beyond their golden
 * trajectories (test_golden_optim):
 *  - the numbers the references publish: Keras's FTRL test values
 *    (keras/src/optimizers/ftrl_test.py) and optax's schedule-free
 *    docstring examples (optax/contrib/_schedule_free.py);
 *  - argument errors, with messages naming the value;
 *  - bit-identical results for 1, 2 and 3 threads (whole-tensor steps);
 *  - checkpoints of shaped Adafactor tensors, and shape mismatches;
 *  - descent_eval_params (also inside descent train), and the refusal of
 *    bf16 tensors by whole-tensor optimizers. */
#include "descent.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static descent_optimizer *make(const char *spec)
{
    descent_optimizer *opt = NULL;
    descent_error err;
    int rc = descent_create_from_spec(&opt, spec, NULL, &err);
    CHECK(rc == 0, "%s: %s", spec, err.message);
    if (rc == 0)
        CHECK(descent_add_group(opt, NULL) == 0, "%s: add_group", spec);
    return opt;
}

/* The optimizer's checkpoint in a malloc'd buffer of *len bytes. */
static unsigned char *checkpoint(const descent_optimizer *opt, size_t *len)
{
    descent_save_mem(opt, NULL, 0, len);
    unsigned char *buf = malloc(*len);
    if (buf)
        descent_save_mem(opt, buf, *len, len);
    return buf;
}

/* keras/src/optimizers/ftrl_test.py: test_single_step and
 * test_correctness_with_golden (float32 variables). */
static void test_keras_ftrl(void)
{
    float p[4] = {1, 2, 3, 4}, g[4] = {1, 6, 7, 2};
    const double single[4] = {0.2218, 1.3954, 2.3651, 2.8814};
    descent_optimizer *opt = make("FTRL(lr=0.5)");
    if (!opt)
        return;
    descent_add_tensor(opt, 0, p, g, 4, DESCENT_F32);
    descent_step(opt);
    for (int i = 0; i < 4; i++)
        CHECK(t_close(p[i], single[i], 1e-4, 1e-4), "Keras single step [%d]: %g, expected %g", i, p[i], single[i]);
    descent_destroy(opt);

    static const double golden[5][10] = {
        {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0},
        {-0.0034, -0.0077, -0.0118, -0.0157, -0.0194, -0.023, -0.0263, -0.0294, -0.0325, -0.0354},
        {-0.0078, -0.0162, -0.0242, -0.0317, -0.0387, -0.0454, -0.0516, -0.0575, -0.0631, -0.0685},
        {-0.0121, -0.0246, -0.0363, -0.0472, -0.0573, -0.0668, -0.0757, -0.0842, -0.0922, -0.0999},
        {-0.0164, -0.0328, -0.0481, -0.0623, -0.0753, -0.0875, -0.099, -0.1098, -0.1201, -0.1299},
    };
    float x[10], gx[10];
    for (int i = 0; i < 10; i++) {
        x[i] = 1.0f;
        gx[i] = 0.01f;
    }
    opt = make("FTRL(lr=0.05, learning_rate_power=-0.2, initial_accumulator_value=0.4, "
               "l1_regularization_strength=0.05, l2_regularization_strength=0.15, "
               "l2_shrinkage_regularization_strength=0.01, beta=0.3)");
    if (!opt)
        return;
    descent_add_tensor(opt, 0, x, gx, 10, DESCENT_F32);
    descent_step(opt);
    for (int i = 0; i < 10; i++)
        gx[i] = (float)(0.1 * (i + 1));
    int bad = 0;
    for (int s = 0; s < 5; s++) {
        for (int i = 0; i < 10; i++)
            bad += !t_close(x[i], golden[s][i], 5e-4, 5e-4);
        descent_step(opt);
    }
    CHECK(bad == 0, "Keras FTRL golden: %d values off", bad);
    descent_destroy(opt);
}

/* optax's docstring examples: five steps on f(x) = sum x^2 from (1, 2, 3),
 * printing f(eval params) as %.2E. */
static void test_optax_schedule_free(void)
{
    static const struct {
        const char *spec;
        double f[5];
    } cases[] = {
        {"ScheduleFreeSGD()", {1.40e+01, 1.75e-14, 9.96e-01, 8.06e-01, 2.41e-01}},
        {"ScheduleFreeAdamW(lr=1.0)", {5.00e+00, 3.05e+00, 1.73e+00, 8.94e-01, 4.13e-01}},
    };
    for (int c = 0; c < 2; c++)
        for (int dt = 0; dt < 2; dt++) {
            descent_optimizer *opt = make(cases[c].spec);
            if (!opt)
                continue;
            double p64[3] = {1, 2, 3}, g64[3], x64[3];
            float p32[3] = {1, 2, 3}, g32[3], x32[3];
            descent_dtype type = dt ? DESCENT_F64 : DESCENT_F32;
            descent_add_tensor(opt, 0, dt ? (void *)p64 : (void *)p32, dt ? (void *)g64 : (void *)g32, 3, type);
            for (int s = 0; s < 5; s++) {
                for (int i = 0; i < 3; i++) {
                    g64[i] = 2 * p64[i];
                    g32[i] = 2 * p32[i];
                }
                descent_step(opt);
                CHECK(descent_eval_params(opt, 0, dt ? (void *)x64 : (void *)x32) == 0, "eval_params");
                double f = 0;
                for (int i = 0; i < 3; i++)
                    f += dt ? x64[i] * x64[i] : (double)x32[i] * x32[i];
                double want = cases[c].f[s];
                /* 1.75e-14 is float32 rounding in optax's run: any tiny value agrees. */
                int ok = want < 1e-10 ? f < 1e-10 : fabs(f - want) <= 0.0051 * want;
                CHECK(ok, "%s (%s) step %d: f(x) = %.3e, optax prints %.2e", cases[c].spec, dt ? "f64" : "f32",
                      s + 1, f, want);
            }
            descent_destroy(opt);
        }
}

static void expect_spec_error(const char *spec, const char *needle)
{
    descent_optimizer *opt = NULL;
    descent_error err;
    int rc = descent_create_from_spec(&opt, spec, NULL, &err);
    CHECK(rc < 0 && opt == NULL && strstr(err.message, needle) != NULL, "%s: rc %d, message: %s (wanted '%s')", spec,
          rc, rc < 0 ? err.message : "", needle);
    descent_destroy(opt);
}

static void test_invalid_arguments(void)
{
    expect_spec_error("FTRL(lr=0)", "lr must be > 0");
    expect_spec_error("FTRL(learning_rate_power=0.5)", "learning_rate_power must be in [-inf, 0]");
    expect_spec_error("FTRL(initial_accumulator_value=-0.1)", "initial_accumulator_value must be >= 0");
    expect_spec_error("FTRL(l1_regularization_strength=-1)", "l1_regularization_strength must be >= 0");
    expect_spec_error("FTRL(l2_regularization_strength=-1)", "l2_regularization_strength must be >= 0");
    expect_spec_error("FTRL(l2_shrinkage_regularization_strength=-1)", "l2_shrinkage_regularization_strength");
    expect_spec_error("FTRL(beta=-1)", "beta must be >= 0");
    expect_spec_error("FTRL(weight_decay=0.1)", "FTRL has no argument 'weight_decay'");
    expect_spec_error("ScheduleFreeSGD(b1=0)", "b1 must be in (0, 1]");
    expect_spec_error("ScheduleFreeSGD(b1=1.5)", "b1 must be in (0, 1]");
    expect_spec_error("ScheduleFreeSGD(warmup_steps=2.5)", "warmup_steps must be a whole number");
    expect_spec_error("ScheduleFreeSGD(warmup_steps=-1)", "warmup_steps must be >= 0");
    expect_spec_error("ScheduleFreeAdamW(b2=1)", "b2 must be in [0, 1)");
    expect_spec_error("ScheduleFreeAdamW(weight_lr_power=-2)", "weight_lr_power must be >= 0");
    expect_spec_error("ScheduleFreeAdamW(betas=(0.9, 0.99))", "has no argument 'betas'");
    expect_spec_error("LAMB(betas=(0.9, 1.0))", "betas[1] must be in [0, 1)");
    expect_spec_error("LAMB(eps_root=-1)", "eps_root must be >= 0");
    expect_spec_error("LAMB(maximize=True)", "LAMB has no argument 'maximize'");
    expect_spec_error("Adafactor(beta2_decay=0.5)", "beta2_decay must be in [-inf, 0]");
    expect_spec_error("Adafactor(d=0.5)", "d must be >= 1");
    expect_spec_error("Adafactor(eps=(-1, 1e-3))", "eps[0] must be >= 0");
    expect_spec_error("Adafactor(eps=(None, None))", "eps[1] (epsilon2) must be a number >= 0, not None");
    expect_spec_error("Adafactor(eps=1e-3)", "eps must be a pair");
    expect_spec_error("Adam(eps=(None, 1))", "eps must be a number");
    expect_spec_error("Lion(betas=(None, 0.9))", "betas[0] must be a number");
    expect_spec_error("AdaBelief(rectify=1)", "rectify must be True or False");
    expect_spec_error("AdaBelief(degenerated_to_sgd='yes')", "degenerated_to_sgd must be True or False");

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

/* bf16 tensors: refused by the whole-tensor optimizers, accepted by the
 * schedule-free ones (whose eval params then come back in bf16). */
static void test_bf16(void)
{
    uint16_t p[4] = {0x3f80, 0x4000, 0x4040, 0x4080}, g[4] = {0x3f80, 0x3f80, 0xbf80, 0x3f00}, x[4];
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
    descent_optimizer *opt = make("ScheduleFreeSGD(lr=0.1)");
    if (!opt)
        return;
    CHECK(descent_add_tensor(opt, 0, p, g, 4, DESCENT_BF16) == 0, "bf16 SF: %s", descent_errmsg(opt));
    CHECK(descent_eval_params(opt, 0, x) == 0 && memcmp(x, p, sizeof x) == 0, "eval before a step is the parameters");
    descent_step(opt);
    descent_step(opt);
    CHECK(descent_eval_params(opt, 0, x) == 0, "bf16 eval: %s", descent_errmsg(opt));
    /* x = (y - (1 - b1) z) / b1 differs from y after two steps with lr > 0. */
    CHECK(memcmp(x, p, sizeof x) != 0, "bf16 eval params equal the parameters");
    descent_destroy(opt);
}

static void test_eval_params(void)
{
    double p[3] = {1, -2, 3}, g[3] = {0.5, 0.25, -1}, x[3];
    descent_optimizer *opt = make("Adam(lr=0.1)");
    if (!opt)
        return;
    descent_add_tensor(opt, 0, p, g, 3, DESCENT_F64);
    descent_step(opt);
    CHECK(descent_eval_params(opt, 0, x) == 0 && memcmp(x, p, sizeof x) == 0, "Adam eval params are a copy");
    CHECK(descent_eval_params(opt, 1, x) == DESCENT_ERR_INVALID && strstr(descent_errmsg(opt), "got 1"),
          "tensor 1: %s", descent_errmsg(opt));
    CHECK(descent_eval_params(opt, 0, NULL) == DESCENT_ERR_INVALID, "NULL out");
    CHECK(descent_eval_params(NULL, 0, x) == DESCENT_ERR_INVALID, "NULL opt");
    descent_destroy(opt);

    /* Schedule-free: x = (y - (1 - b1) z) / b1 survives a checkpoint and a reset. */
    double y[3] = {1, -2, 3}, y2[3], x2[3];
    opt = make("ScheduleFreeAdamW(lr=0.1, b1=0.8)");
    descent_optimizer *again = make("ScheduleFreeAdamW(lr=0.1, b1=0.8)");
    if (!opt || !again)
        return;
    descent_add_tensor(opt, 0, y, g, 3, DESCENT_F64);
    descent_add_tensor(again, 0, y2, g, 3, DESCENT_F64);
    for (int s = 0; s < 4; s++)
        descent_step(opt);
    size_t len;
    unsigned char *buf = checkpoint(opt, &len);
    memcpy(y2, y, sizeof y);
    CHECK(descent_load_mem(again, buf, len) == 0, "load: %s", descent_errmsg(again));
    descent_eval_params(opt, 0, x);
    descent_eval_params(again, 0, x2);
    CHECK(memcmp(x, x2, sizeof x) == 0 && memcmp(x, y, sizeof x) != 0, "eval params after a checkpoint");
    descent_step(opt);
    descent_step(again);
    CHECK(memcmp(y, y2, sizeof y) == 0, "resumed schedule-free step differs");
    free(buf);
    CHECK(descent_reset(opt) == 0 && descent_eval_params(opt, 0, x) == 0 && memcmp(x, y, sizeof x) == 0,
          "eval params after reset are the parameters");
    descent_destroy(opt);
    descent_destroy(again);
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

/* descent train with a schedule-free optimizer validates at x and trains on
 * at y: at the end of an epoch the parameters are y again, as the last step
 * left them. */
typedef struct sf_snapshot {
    descent_trainer *t;
    double y[64], x[64];
    size_t n;
} sf_snapshot;

static int snapshot_last_batch(void *ctx, const descent_train_progress *p)
{
    sf_snapshot *s = ctx;
    if (p->batch != p->batches)
        return 0;
    descent_model *m = descent_trainer_model(s->t);
    descent_optimizer *opt = descent_trainer_optimizer(s->t);
    s->n = 0;
    for (int i = 0; i < descent_model_num_tensors(m); i++) {
        void *param, *grad;
        size_t n;
        descent_model_tensor(m, i, &param, &grad, &n, NULL);
        if (s->n + n > 64)
            return 0;
        memcpy(s->y + s->n, param, n * sizeof(double));
        descent_eval_params(opt, i, s->x + s->n);
        s->n += n;
    }
    return 0;
}

static void test_trainer_eval_params(void)
{
    FILE *f = fopen("ton_plane.csv", "w");
    if (!f) {
        CHECK(0, "cannot write ton_plane.csv");
        return;
    }
    fprintf(f, "a,b,y\n");
    for (int i = 0; i < 100; i++) {
        double a = sin(0.7 * i), b = cos(1.3 * i);
        fprintf(f, "%.17g,%.17g,%.17g\n", a, b, 2 * a - 3 * b + 1 + 0.1 * sin(5.0 * i));
    }
    fclose(f);
    descent_train_config c;
    descent_train_default_config(&c);
    c.data = "ton_plane.csv";
    c.target = "y";
    c.model = "linear()";
    c.optimizer = "ScheduleFreeAdamW(lr=0.1)";
    c.batch_size = 16;
    c.dtype = DESCENT_F64;
    descent_error err;
    sf_snapshot s;
    memset(&s, 0, sizeof s);
    CHECK(descent_trainer_create(&s.t, &c, &err) == 0, "trainer: %s", err.message);
    if (!s.t)
        return;
    descent_epoch_result res, first;
    memset(&first, 0, sizeof first);
    for (int e = 0; e < 10; e++) {
        CHECK(descent_trainer_epoch(s.t, snapshot_last_batch, &s, &res) == 0, "epoch: %s", descent_trainer_errmsg(s.t));
        if (e == 0)
            first = res;
    }
    double now[64];
    size_t at = 0;
    descent_model *m = descent_trainer_model(s.t);
    for (int i = 0; i < descent_model_num_tensors(m); i++) {
        void *param, *grad;
        size_t n;
        descent_model_tensor(m, i, &param, &grad, &n, NULL);
        memcpy(now + at, param, n * sizeof(double));
        at += n;
    }
    CHECK(s.n > 0 && at == s.n && memcmp(now, s.y, at * sizeof(double)) == 0,
          "after validation the parameters are not y (%zu of %zu)", at, s.n);
    CHECK(memcmp(s.x, s.y, s.n * sizeof(double)) != 0, "x equals y: the test shows nothing");
    CHECK(isfinite(res.val_loss) && res.val_loss < 0.5 * first.val_loss, "val loss %g after 10 epochs, %g after 1",
          res.val_loss, first.val_loss);
    descent_trainer_destroy(s.t);
    remove("ton_plane.csv");
}

int main(void)
{
    test_keras_ftrl();
    test_optax_schedule_free();
    test_invalid_arguments();
    test_bf16();
    test_eval_params();
    test_threads();
    test_adafactor_shapes();
    test_lamb_zero_norm();
    test_trainer_eval_params();
    return t_done();
}
