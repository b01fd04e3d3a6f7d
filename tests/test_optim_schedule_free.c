/* The schedule-free optimizers (ScheduleFreeSGD, ScheduleFreeAdamW; Defazio
 * et al. 2024, as optax implements them) beyond their golden trajectories
 * (test_golden_optim): optax's docstring examples, descent_eval_params
 * through checkpoints and resets (and for bf16 tensors), descent train
 * validating at x while training at y, and argument errors naming the
 * value. */
#include "descent.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static descent_optimizer *make(const char *spec) { return t_make_opt(spec); }

static unsigned char *checkpoint(const descent_optimizer *opt, size_t *len) { return t_checkpoint(opt, len); }

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

static void test_invalid_arguments(void)
{
    t_expect_spec_error("ScheduleFreeSGD(b1=0)", "b1 must be in (0, 1]");
    t_expect_spec_error("ScheduleFreeSGD(b1=1.5)", "b1 must be in (0, 1]");
    t_expect_spec_error("ScheduleFreeSGD(warmup_steps=2.5)", "warmup_steps must be a whole number");
    t_expect_spec_error("ScheduleFreeSGD(warmup_steps=-1)", "warmup_steps must be >= 0");
    t_expect_spec_error("ScheduleFreeAdamW(b2=1)", "b2 must be in [0, 1)");
    t_expect_spec_error("ScheduleFreeAdamW(weight_lr_power=-2)", "weight_lr_power must be >= 0");
    t_expect_spec_error("ScheduleFreeAdamW(betas=(0.9, 0.99))", "has no argument 'betas'");
}

/* bf16 tensors: accepted by the schedule-free optimizers, whose eval
 * params then come back in bf16. */
static void test_bf16(void)
{
    uint16_t p[4] = {0x3f80, 0x4000, 0x4040, 0x4080}, g[4] = {0x3f80, 0x3f80, 0xbf80, 0x3f00}, x[4];
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

/* weight_sum, the sum of max_lr^weight_lr_power over the steps, passes 1
 * at lr = 1 after two steps: the checkpoint still loads and continues. */
static void test_large_weight_sum(void)
{
    double y[3] = {1, -2, 3}, y2[3] = {0}, g[3] = {0.5, 0.25, -1}, ws = 0;
    descent_optimizer *opt = make("ScheduleFreeAdamW(lr=1.0)"), *again = make("ScheduleFreeAdamW(lr=1.0)");
    if (!opt || !again)
        return;
    descent_add_tensor(opt, 0, y, g, 3, DESCENT_F64);
    descent_add_tensor(again, 0, y2, g, 3, DESCENT_F64);
    for (int s = 0; s < 5; s++)
        descent_step(opt);
    CHECK(descent_state_get_scalar(opt, 0, "weight_sum", &ws) == 0 && ws > 1, "weight_sum %g", ws);
    size_t len;
    unsigned char *buf = checkpoint(opt, &len);
    memcpy(y2, y, sizeof y);
    CHECK(descent_load_mem(again, buf, len) == 0, "load with weight_sum %g: %s", ws, descent_errmsg(again));
    descent_step(opt);
    descent_step(again);
    CHECK(memcmp(y, y2, sizeof y) == 0, "resumed step differs");
    free(buf);
    descent_destroy(opt);
    descent_destroy(again);
}

int main(void)
{
    test_large_weight_sum();
    test_optax_schedule_free();
    test_invalid_arguments();
    test_bf16();
    test_eval_params();
    test_trainer_eval_params();
    return t_done();
}
