/* PyTorch syntax pasted into specs, argument checks, and numerics that must
 * stay finite on finite input (LAMB's trust ratio on a frozen tensor). */
#include "descent.h"
#include "internal.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Parses spec; expects success (want == NULL) or an error containing want. */
static void spec_case(const char *spec, const char *want)
{
    descent_hparams hp;
    descent_error err;
    memset(&err, 0, sizeof err);
    int rc = descent_hparams_parse(&hp, spec, &err);
    if (!want)
        CHECK(rc == 0, "%s: %s", spec, err.message);
    else
        CHECK(rc < 0 && strstr(err.message, want), "%s: rc %d, message '%s', wanted '%s'", spec, rc,
              rc < 0 ? err.message : "", want);
}

static void test_pasted_syntax(void)
{
    /* Arguments that only pick a torch implementation change nothing. */
    spec_case("NAdam(lr=0.01, decoupled_weight_decay=True, foreach=False)", NULL);
    spec_case("Adam(lr=1e-3, weight_decay=0.1, decoupled_weight_decay=True, fused=None)", NULL);
    spec_case("SGD(lr=0.1, foreach=None, capturable=False, differentiable=False, fused=False)", NULL);
    spec_case("AdamW(lr=0.1, foreach=True)", NULL);
    spec_case("SGD(lr=0.1, foreach=1)", "foreach must be None, True or False");
    spec_case("SGD(lr=0.1, foreach=False, foreach=None)", "given twice");
    /* A leading params argument, as torch.optim constructors take it. */
    spec_case("SGD(params, lr=0.1)", "drop it");
    spec_case("Adam(model.parameters(), lr=0.1)", "drop it");
    spec_case("Adam([p], lr=0.1)", "drop it");
    /* One argument by position and by keyword. */
    spec_case("SGD(0.1, lr=0.2)", "given twice");
    spec_case("Adam(0.1, (0.9, 0.99), betas=(0.5, 0.5))", "given twice");
    spec_case("SGD(0.1, momentum=0.9)", NULL);
    /* torch 2.x arguments */
    spec_case("RAdam(decoupled_weight_decay=True, weight_decay=0.1)", NULL);
    spec_case("NAdam(lr=0.01, legacy_mu_product=True)", NULL);
    spec_case("AdamW(decoupled_weight_decay=True)", "no argument 'decoupled_weight_decay'");
}

/* Issue 18: default LAMB on f32 reached -inf after ~865 zero-gradient
 * steps (the trust ratio ||p|| / ||u|| above FLT_MAX). */
static void test_lamb_frozen(void)
{
    for (int f64 = 0; f64 <= 1; f64++) {
        descent_optimizer *opt;
        descent_error err;
        int rc = descent_create_from_spec(&opt, "LAMB()", NULL, &err);
        CHECK(rc == 0, "%s", err.message);
        if (rc < 0)
            return;
        float p32[4] = {1, -2, 0.5f, 3}, g32[4] = {0.1f, -0.2f, 0.3f, 0.4f};
        double p64[4] = {1, -2, 0.5, 3}, g64[4] = {0.1, -0.2, 0.3, 0.4};
        size_t n = 4;
        int g = descent_add_group(opt, NULL);
        CHECK(descent_add_tensor_shaped(opt, g, f64 ? (void *)p64 : (void *)p32, f64 ? (void *)g64 : (void *)g32, 1,
                                        &n, f64 ? DESCENT_F64 : DESCENT_F32) == 0,
              "%s", descent_errmsg(opt));
        descent_step(opt);
        memset(g32, 0, sizeof g32);
        memset(g64, 0, sizeof g64);
        int bad_step = -1;
        for (int s = 0; s < 3000 && bad_step < 0; s++) {
            descent_step(opt);
            for (int j = 0; j < 4; j++)
                if (!isfinite(f64 ? p64[j] : p32[j]))
                    bad_step = s;
        }
        CHECK(bad_step < 0, "LAMB %s: non-finite parameter after %d zero-gradient steps", f64 ? "f64" : "f32",
              bad_step + 1);
        descent_destroy(opt);
    }
}

/* Issue 20: values torch accepts that can only give NaN are refused. */
static void test_nan_only_values(void)
{
    spec_case("RMSprop(alpha=2)", "alpha must be in [0, 1)");
    spec_case("RMSprop(alpha=1)", "alpha must be in [0, 1)");
    spec_case("RMSprop(alpha=0.999)", NULL);
    spec_case("FTRL(initial_accumulator_value=0)", "divides 0 by 0");
    spec_case("FTRL(initial_accumulator_value=0, beta=1)", NULL);
    spec_case("Adam(eps=0)", "divides 0 by 0");
    spec_case("Adam(eps=0, eps_root=1e-8)", NULL);
    spec_case("Adadelta(eps=0)", "divides 0 by 0");
    spec_case("Adagrad(eps=0)", "initial_accumulator_value");
    spec_case("Adagrad(eps=0, initial_accumulator_value=0.1)", NULL);
    spec_case("Adafactor(eps=(0, 1e-3))", "eps[0] (epsilon1) = 0");
    spec_case("ScheduleFreeAdamW(eps=0)", "divides 0 by 0");
    spec_case("ScheduleFreeSGD(lr=0.1)", NULL);
}

/* Issue 18: hyperparameters outside the f32 range are refused when an f32
 * or bf16 tensor is registered (they are fine for f64 tensors). */
static void registration_case(const char *spec, descent_dtype dtype, const char *want)
{
    descent_optimizer *opt;
    descent_error err;
    int rc = descent_create_from_spec(&opt, spec, NULL, &err);
    CHECK(rc == 0, "%s: %s", spec, err.message);
    if (rc < 0)
        return;
    float p32[2] = {1, 2}, g32[2] = {0, 0};
    double p64[2] = {1, 2}, g64[2] = {0, 0};
    uint16_t pb[2] = {0x3f80, 0x4000}, gb[2] = {0, 0};
    void *p = dtype == DESCENT_F64 ? (void *)p64 : dtype == DESCENT_F32 ? (void *)p32 : (void *)pb;
    void *g = dtype == DESCENT_F64 ? (void *)g64 : dtype == DESCENT_F32 ? (void *)g32 : (void *)gb;
    int grp = descent_add_group(opt, NULL);
    rc = descent_add_tensor(opt, grp, p, g, 2, dtype);
    if (!want) {
        CHECK(rc == 0, "%s: %s", spec, descent_errmsg(opt));
        for (int s = 0; s < 5; s++)
            descent_step(opt);
        CHECK(dtype != DESCENT_F64 || (isfinite(p64[0]) && isfinite(p64[1])), "%s f64: non-finite", spec);
    } else {
        CHECK(rc < 0 && strstr(descent_errmsg(opt), want), "%s: rc %d, '%s', wanted '%s'", spec, rc,
              descent_errmsg(opt), want);
    }
    descent_destroy(opt);
}

static void test_dtype_range(void)
{
    registration_case("SGD(lr=1e39)", DESCENT_F32, "lr = 1e+39 is outside the range of a f32");
    registration_case("SGD(lr=1e39)", DESCENT_F64, NULL);
    registration_case("Adadelta(eps=1e39)", DESCENT_F32, "eps = ");
    registration_case("Adam(eps=1e-50)", DESCENT_F32, "eps = 1e-50 is outside");
    registration_case("Adam(eps=1e-50)", DESCENT_BF16, "bf16");
    registration_case("Adam(eps=1e-50)", DESCENT_F64, NULL);
    registration_case("FTRL(lr=1e-300)", DESCENT_F32, "lr = ");
    registration_case("Yogi(initial_accumulator_value=1e39)", DESCENT_F32, "initial_accumulator_value = ");
    registration_case("ScheduleFreeSGD(b1=1e-50)", DESCENT_F32, "b1 = ");
    registration_case("Adam(lr=1e-3, eps=1e-8)", DESCENT_F32, NULL);
    registration_case("Adafactor()", DESCENT_F32, NULL); /* eps[0] None */
}

/* Issue 18: a UTF-8 byte-order mark stays out of the first column's name;
 * duplicate header names are refused. */
static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_csv_header(const char *tmp)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bom.csv", tmp);
    write_text(path, "\xEF\xBB\xBFx,y\n1,2\n");
    descent_table t;
    descent_error err;
    int rc = descent_table_read_csv(&t, path, 1, &err);
    CHECK(rc == 0 && t.names && strcmp(t.names[0], "x") == 0, "BOM header: rc %d, first name '%s'", rc,
          rc == 0 && t.names ? t.names[0] : err.message);
    if (rc == 0)
        descent_table_free(&t);
    write_text(path, "\xEF\xBB\xBF" "1,2\n3,4\n");
    rc = descent_table_read_csv(&t, path, 0, &err);
    CHECK(rc == 0 && t.rows == 2 && t.values[0] == 1, "BOM before data: rc %d %s", rc, rc ? err.message : "");
    if (rc == 0)
        descent_table_free(&t);
    snprintf(path, sizeof path, "%s/dup.csv", tmp);
    write_text(path, "a,b,a\n1,2,3\n");
    rc = descent_table_read_csv(&t, path, 1, &err);
    CHECK(rc < 0 && strstr(err.message, "'a'") && strstr(err.message, "columns 1 and 3"),
          "duplicate header: rc %d '%s'", rc, rc < 0 ? err.message : "");
    if (rc == 0)
        descent_table_free(&t);
}

/* Issue 18: replay --shape sizes whose product wraps past SIZE_MAX are a
 * usage error (exit 2), not a product that happens to match. */
static void test_replay_shape(const char *cli, const char *tmp)
{
    char p[512], g[512], cmd[2048];
    snprintf(p, sizeof p, "%s/p.csv", tmp);
    snprintf(g, sizeof g, "%s/g.csv", tmp);
    write_text(p, "1,2\n");
    write_text(g, "0.5,0.5\n");
    const char *shapes[] = {"9223372036854775809,2", "18446744073709551617", "4294967297,4294967297"};
    for (int k = 0; k < 3; k++) {
        snprintf(cmd, sizeof cmd, "%s replay --opt 'SGD(lr=0.1)' --params %s --grads %s --shape %s 2>/dev/null", cli, p,
                 g, shapes[k]);
        char *out = NULL;
        int st = t_run(cmd, &out);
        CHECK(st == 2, "replay --shape %s exited %d, wanted 2", shapes[k], st);
        free(out);
    }
    snprintf(cmd, sizeof cmd, "%s replay --opt 'SGD(lr=0.1)' --params %s --grads %s --shape 1,2", cli, p, g);
    char *out = NULL;
    CHECK(t_run(cmd, &out) == 0 && out && fabs(atof(out) - 0.95) < 1e-6, "replay --shape 1,2: %s", out ? out : "");
    free(out);
}

/* A NAdam checkpoint written before decoupled_weight_decay and
 * legacy_mu_product existed (by 0.1.0's descent_save, 3 steps of
 * NAdam(lr=0.01, weight_decay=0.1) on {1, 2, 3}) loads; the new arguments
 * take their defaults. */
static void test_old_nadam_checkpoint(const char *dir)
{
    descent_optimizer *opt;
    descent_error err;
    CHECK(descent_create_from_spec(&opt, "NAdam(lr=0.01, weight_decay=0.1)", NULL, &err) == 0, "%s", err.message);
    double p[3] = {1, 2, 3}, g[3] = {0.1, -0.2, 0.3};
    int grp = descent_add_group(opt, NULL);
    descent_add_tensor(opt, grp, p, g, 3, DESCENT_F64);
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/nadam_before_torch2.ckpt", dir);
    CHECK(descent_load(opt, path) == 0, "old NAdam checkpoint: %s", descent_errmsg(opt));
    double legacy = -1, decoupled = -1, wd = -1;
    CHECK(descent_get(opt, 0, "legacy_mu_product", &legacy) == 0 && legacy == 0, "legacy_mu_product %g", legacy);
    CHECK(descent_get(opt, 0, "decoupled_weight_decay", &decoupled) == 0 && decoupled == 0, "decoupled %g", decoupled);
    CHECK(descent_get(opt, 0, "weight_decay", &wd) == 0 && wd == 0.1, "weight_decay %g", wd);
    CHECK(descent_step(opt) == 0 && isfinite(p[0]), "step after load: %s", descent_errmsg(opt));
    descent_destroy(opt);
}

/* Issue 18: a schedule section with a repaired checksum but forged state
 * (NaN, +-1e300, 2^63 or -1 in any slot: counters, base lrs, the lane) is
 * refused at load or leaves a finite lr >= 0; no undefined behaviour on the
 * way (the sanitizer build runs this too). A base lr forged to a large
 * finite value is refused where the kind knows its value (CyclicLR,
 * OneCycleLR); where it is the lane's initial_lr at construction (which a
 * later OneCycleLR on the lane may change) it loads and scales the lr. */
static void test_forged_schedule_state(void)
{
    static const char *const specs[] = {
        "StepLR(step_size=3, gamma=0.5)",
        "ExponentialLR(gamma=0.9)",
        "CosineAnnealingLR(T_max=10)",
        "CosineAnnealingWarmRestarts(T_0=3, T_mult=2)",
        "CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=4)",
        "OneCycleLR(max_lr=0.1, total_steps=50)",
        "SequentialLR([LinearLR(start_factor=0.1, total_iters=3), CosineAnnealingLR(T_max=5)], [3])",
        "PolynomialLR(total_iters=8, power=2.0)",
    };
    static const double forged[] = {NAN, 1e300, -1e300, 9.3e18, -1};
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        descent_optimizer *opt;
        descent_error err;
        descent_create_from_spec(&opt, "SGD(lr=0.1, momentum=0.9)", NULL, &err);
        double p[2] = {1, 2}, g[2] = {0, 0};
        descent_add_tensor(opt, descent_add_group(opt, NULL), p, g, 2, DESCENT_F64);
        int rc = descent_set_schedule(opt, specs[k]);
        CHECK(rc == 0, "%s: %s", specs[k], descent_errmsg(opt));
        if (rc < 0) {
            descent_destroy(opt);
            continue;
        }
        for (int s = 0; s < 4; s++) {
            descent_step(opt);
            descent_schedule_step(opt, NAN);
        }
        unsigned char img[4096], forge[4096];
        size_t len = descent_schedule_save(opt, img, sizeof img);
        size_t clen = (size_t)img[8] | (size_t)img[9] << 8;
        size_t first = 12 + clen + 8; /* attach values, then the state block */
        int bad = 0;
        for (size_t at = first; at + 8 <= len; at += 8) {
            for (size_t f = 0; f < sizeof forged / sizeof forged[0]; f++) {
                memcpy(forge, img, len);
                uint64_t u;
                memcpy(&u, &forged[f], 8);
                for (int b = 0; b < 8; b++)
                    forge[at + b] = (unsigned char)(u >> (8 * b));
                if (descent_schedule_load(opt, forge, len, 0, &err) < 0)
                    continue; /* refused: what a forged value should get */
                descent_schedule_load(opt, forge, len, 1, &err);
                for (int s = 0; s < 3; s++) {
                    descent_step(opt);
                    descent_schedule_step(opt, NAN);
                }
                double lr = descent_get_lr(opt, 0);
                if (!(isfinite(lr) && lr >= 0)) {
                    bad++;
                    CHECK(0, "%s: value %g at byte %zu loaded and gave lr %g", specs[k], forged[f], at, lr);
                }
                descent_schedule_load(opt, img, len, 1, &err);
            }
        }
        CHECK(bad == 0, "%s: %d forged images accepted", specs[k], bad);
        descent_destroy(opt);
    }
    /* Closed form at extreme t: T_i *= T_mult must not overflow. */
    double lr = -1;
    descent_error err;
    int rc = descent_schedule_lr_at("CosineAnnealingWarmRestarts(T_0=3, T_mult=2)", 0.1, INT64_MAX, &lr, &err);
    CHECK(rc == 0 && isfinite(lr) && lr >= 0 && lr <= 0.1, "lr_at(INT64_MAX): rc %d lr %g", rc, lr);
    rc = descent_schedule_lr_at("CosineAnnealingWarmRestarts(T_0=1000000007, T_mult=1000)", 0.1, INT64_MAX - 1, &lr,
                                &err);
    CHECK(rc == 0 && isfinite(lr) && lr >= 0 && lr <= 0.1, "lr_at(INT64_MAX - 1), T_mult 1000: rc %d lr %g", rc, lr);
}

int main(int argc, char **argv)
{
    const char *cli = argc > 2 ? argv[2] : "descent";
    char tmp[] = "/tmp/descent-parity-XXXXXX";
    if (!mkdtemp(tmp))
        return 1;
    test_old_nadam_checkpoint(argc > 1 ? argv[1] : "tests");
    test_forged_schedule_state();
    test_csv_header(tmp);
    test_replay_shape(cli, tmp);
    test_nan_only_values();
    test_dtype_range();
    test_pasted_syntax();
    test_lamb_frozen();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    return t_done();
}
