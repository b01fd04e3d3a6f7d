/* The training utilities (docs/utilities.md): weight-decay masks, EMA and
 * SWA averages and Lookahead against torch 1.13 (tests/golden/gen_utils.py),
 * gradient accumulation against one large batch, checkpoints (save, load,
 * continue = an uninterrupted run, bit for bit), reset, argument checks and
 * the `descent train` flags. */
#include "descent.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NT 2
#define MAXN 12
static const size_t shape0[2] = {3, 4}, shape1[1] = {4};

/* ---- golden cases ------------------------------------------------------- */

typedef struct golden_run {
    descent_optimizer *opt;
    descent_dtype dt;
    double p64[NT][MAXN], g64[NT][MAXN];
    float p32[NT][MAXN], g32[NT][MAXN];
    int which;              /* average compared by 'avg' lines, or -1 */
    char id[128];
    int checked;
} golden_run;

static void *param_ptr(golden_run *r, int t) { return r->dt == DESCENT_F64 ? (void *)r->p64[t] : (void *)r->p32[t]; }

static double value_at(const golden_run *r, const void *base, size_t i)
{
    return r->dt == DESCENT_F64 ? ((const double *)base)[i] : (double)((const float *)base)[i];
}

/* Create the optimizer of a case from its opt and util lines. */
static int golden_setup(golden_run *r, const char *spec, const char *util)
{
    descent_error err;
    r->which = -1;
    double a, b;
    char wrapped[512];
    /* Lookahead: f64 cases through the spec, f32 through the call. */
    int by_spec = r->dt == DESCENT_F64 && sscanf(util, "lookahead %lf %lf", &a, &b) == 2;
    if (by_spec) {
        snprintf(wrapped, sizeof wrapped, "Lookahead(optimizer=%s, k=%d, alpha=%.17g)", spec, (int)a, b);
        spec = wrapped;
    }
    CHECK(descent_create_from_spec(&r->opt, spec, NULL, &err) == 0, "%s: %s", r->id, err.message);
    if (!r->opt)
        return -1;
    int g = descent_add_group(r->opt, NULL);
    int rc = 0;
    /* The rule is set before registration here, after it in test_masks. */
    if (strcmp(util, "nodecay1d") == 0)
        rc = descent_set_no_decay_1d(r->opt, 1);
    for (int t = 0; t < NT && rc >= 0; t++) {
        void *gp = r->dt == DESCENT_F64 ? (void *)r->g64[t] : (void *)r->g32[t];
        rc = descent_add_tensor_shaped(r->opt, g, param_ptr(r, t), gp, t == 0 ? 2 : 1, t == 0 ? shape0 : shape1,
                                       r->dt);
    }
    if (rc >= 0 && sscanf(util, "ema %lf", &a) == 1) {
        rc = descent_set_ema(r->opt, a);
        r->which = DESCENT_AVERAGE_EMA;
    } else if (rc >= 0 && strcmp(util, "swa") == 0) {
        rc = descent_set_swa(r->opt, 1);
        r->which = DESCENT_AVERAGE_SWA;
    } else if (rc >= 0 && !by_spec && sscanf(util, "lookahead %lf %lf", &a, &b) == 2) {
        rc = descent_set_lookahead(r->opt, (int)a, b);
    }
    CHECK(rc >= 0, "%s: setup: %s", r->id, descent_errmsg(r->opt));
    return rc;
}

/* Compare n values against expected, relative 1e-13 in f64 and 2e-6 in f32:
 * the results differ from torch's in the last bits only (torch's vectorized
 * kernels order some operations differently; 1e-15 and 1e-7 fail a few
 * elements, 1e-14 and 1e-6 pass all), with a margin for 8 steps. */
static void compare(golden_run *r, const char *what, int t, const void *have, const double *want, int n)
{
    double rtol = r->dt == DESCENT_F64 ? 1e-13 : 2e-6, atol = r->dt == DESCENT_F64 ? 1e-15 : 1e-7;
    int bad = -1;
    for (int i = 0; i < n && bad < 0; i++)
        if (!t_close(value_at(r, have, (size_t)i), want[i], rtol, atol))
            bad = i;
    CHECK(bad < 0, "%s: step %lld: %s of tensor %d element %d: %.17g, torch %.17g", r->id,
          (long long)descent_step_count(r->opt), what, t, bad, bad >= 0 ? value_at(r, have, (size_t)bad) : 0,
          bad >= 0 ? want[bad] : 0);
    r->checked++;
}

static void test_golden(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/utils.txt", dir);
    char *text = t_read_file(path, NULL);
    CHECK(text != NULL, "cannot read %s", path);
    if (!text)
        return;
    char *cur = text, line[8192], spec[256] = "", util[64] = "";
    static golden_run r;
    int cases = 0;
    while (t_next_line(&cur, line, sizeof line)) {
        double v[MAXN];
        int t = 0, off = 0;
        if (strncmp(line, "case ", 5) == 0) {
            memset(&r, 0, sizeof r);
            snprintf(r.id, sizeof r.id, "%.120s", line + 5);
        } else if (strncmp(line, "opt ", 4) == 0) {
            snprintf(spec, sizeof spec, "%.250s", line + 4);
        } else if (strncmp(line, "dtype ", 6) == 0) {
            r.dt = strcmp(line + 6, "f64") == 0 ? DESCENT_F64 : DESCENT_F32;
        } else if (strncmp(line, "util ", 5) == 0) {
            snprintf(util, sizeof util, "%.60s", line + 5);
        } else if (sscanf(line, "init %d %n", &t, &off) == 1 && t >= 0 && t < NT) {
            int n = t_parse_csv(line + off, v, MAXN);
            for (int i = 0; i < n; i++) {
                r.p64[t][i] = v[i];
                r.p32[t][i] = (float)v[i];
            }
            if (t == NT - 1 && golden_setup(&r, spec, util) < 0)
                break;
        } else if (sscanf(line, "grad %d %n", &t, &off) == 1 && t >= 0 && t < NT) {
            int n = t_parse_csv(line + off, v, MAXN);
            for (int i = 0; i < n; i++) {
                r.g64[t][i] = v[i];
                r.g32[t][i] = (float)v[i];
            }
        } else if (strcmp(line, "step") == 0) {
            int rc = descent_step(r.opt);
            CHECK(rc == 0, "%s: step: %d %s", r.id, rc, descent_errmsg(r.opt));
        } else if (strcmp(line, "swa_update") == 0) {
            CHECK(descent_swa_update(r.opt) == 0, "%s: %s", r.id, descent_errmsg(r.opt));
        } else if (sscanf(line, "param %d %n", &t, &off) == 1 && t >= 0 && t < NT) {
            int n = t_parse_csv(line + off, v, MAXN);
            compare(&r, "parameter", t, param_ptr(&r, t), v, n);
        } else if (sscanf(line, "avg %d %n", &t, &off) == 1 && t >= 0 && t < NT) {
            int n = t_parse_csv(line + off, v, MAXN);
            double a64[MAXN];
            float a32[MAXN];
            void *a = r.dt == DESCENT_F64 ? (void *)a64 : (void *)a32;
            CHECK(descent_copy_averaged(r.opt, r.which, t, a) == 0, "%s: %s", r.id, descent_errmsg(r.opt));
            compare(&r, "average", t, a, v, n);
        } else if (strcmp(line, "end") == 0) {
            CHECK(r.checked >= 8 * NT, "%s: only %d comparisons", r.id, r.checked);
            descent_destroy(r.opt);
            r.opt = NULL;
            cases++;
        }
    }
    CHECK(cases == 16, "golden cases run: %d, want 16", cases);
    free(text);
}

/* ---- gradient accumulation ---------------------------------------------- */

/* Rows of a small regression problem, deterministic. */
static void make_data(double *X, double *y, size_t rows, size_t inputs)
{
    uint64_t s = 12345;
    for (size_t i = 0; i < rows * inputs; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        X[i] = (double)(s >> 11) / 9007199254740992.0 * 2 - 1;
    }
    for (size_t i = 0; i < rows; i++)
        y[i] = sin(3 * X[i * inputs]) + X[i * inputs + 1] * X[i * inputs + 2];
}

/* Train an mlp for `updates` updates on batches of B rows, either as one
 * batch per step or as k micro-batches of B/k rows with accumulation; copy
 * the final parameters into out. */
static void train_mlp(const char *opt_spec, int k, size_t B, int updates, descent_dtype dt, double *out, size_t *nout)
{
    enum { IN = 5, ROWS = 96 };
    static double X[ROWS * IN], y[ROWS];
    make_data(X, y, ROWS, IN);
    descent_error err;
    descent_model *m;
    descent_optimizer *opt;
    CHECK(descent_model_create(&m, "mlp(hidden=(8,), activation='tanh')", IN, 0, dt, 7, &err) == 0, "%s",
          err.message);
    CHECK(descent_create_from_spec(&opt, opt_spec, NULL, &err) == 0, "%s", err.message);
    int g = descent_add_group(opt, NULL);
    CHECK(descent_model_register(m, opt, g) == 0, "%s", descent_errmsg(opt));
    CHECK(descent_set_accumulation(opt, k) == 0, "%s", descent_errmsg(opt));
    size_t micro = B / (size_t)k, at = 0;
    for (int u = 0; u < updates; u++)
        for (int j = 0; j < k; j++) {
            double loss;
            if (at + micro > ROWS)
                at = 0;
            descent_model_loss_grad(m, X + at * IN, y + at, micro, &loss);
            at += micro;
            int rc = descent_step(opt);
            int want = j == k - 1 ? 0 : DESCENT_STEP_ACCUMULATED;
            CHECK(rc == want, "k=%d micro-batch %d: step returned %d, want %d", k, j, rc, want);
            int pending = -1;
            CHECK(descent_get_accumulation(opt, &pending) == k && pending == (j == k - 1 ? 0 : j + 1),
                  "pending %d after micro-batch %d", pending, j);
        }
    CHECK(descent_step_count(opt) == updates, "step count %lld, want %d (updates only)",
          (long long)descent_step_count(opt), updates);
    size_t n = 0;
    for (int i = 0; i < descent_model_num_tensors(m); i++) {
        void *p;
        size_t len;
        descent_model_tensor(m, i, &p, NULL, &len, NULL);
        for (size_t e = 0; e < len; e++)
            out[n++] = dt == DESCENT_F64 ? ((double *)p)[e] : ((float *)p)[e];
    }
    *nout = n;
    descent_destroy(opt);
    descent_model_destroy(m);
}

static void test_accumulation(void)
{
    static const char *specs[] = {"SGD(lr=0.1, momentum=0.9)", "AdamW(lr=0.01, weight_decay=0.01)"};
    for (int s = 0; s < 2; s++)
        for (int d = 0; d < 2; d++) {
            descent_dtype dt = d ? DESCENT_F32 : DESCENT_F64;
            static double one[256], acc[256];
            size_t n1, n2;
            train_mlp(specs[s], 1, 24, 12, dt, one, &n1);
            for (int k = 2; k <= 4; k += 2) {
                train_mlp(specs[s], k, 24, 12, dt, acc, &n2);
                /* The same mean gradient, summed in another order: the batch
                 * mean is (1/B) sum of B rows, the accumulated one
                 * (1/k) sum_j (k/B) sum of B/k rows. That is a few ulps per
                 * step, carried over 12 updates (Adam divides by sqrt(v), which
                 * keeps relative errors): 1e-10 in f64, 2e-4 in f32. */
                double rtol = dt == DESCENT_F64 ? 1e-10 : 2e-4, atol = dt == DESCENT_F64 ? 1e-12 : 1e-5, worst = 0;
                int bad = -1;
                for (size_t i = 0; i < n1; i++) {
                    worst = fmax(worst, fabs(one[i] - acc[i]));
                    if (bad < 0 && !t_close(one[i], acc[i], rtol, atol))
                        bad = (int)i;
                }
                CHECK(n1 == n2 && n1 > 50 && bad < 0, "%s %s k=%d: parameter %d %.17g vs %.17g (one batch)", specs[s],
                      d ? "f32" : "f64", k, bad, bad >= 0 ? acc[bad] : 0, bad >= 0 ? one[bad] : 0);
                /* ... and the check is not vacuous: the parameters moved. */
                printf("accumulation %s %s k=%d: max |difference| %.3g over %zu parameters\n", specs[s],
                       d ? "f32" : "f64", k, worst, n1);
            }
        }
    /* Without accumulation of the same micro-batches the trajectory differs. */
    static double a[256], b[256];
    size_t na, nb;
    train_mlp("SGD(lr=0.1)", 1, 24, 6, DESCENT_F64, a, &na);
    train_mlp("SGD(lr=0.1)", 1, 12, 12, DESCENT_F64, b, &nb);
    int differ = 0;
    for (size_t i = 0; i < na; i++)
        differ |= fabs(a[i] - b[i]) > 1e-6;
    CHECK(differ, "twice as many half-size steps should not equal accumulated ones");
}

/* ---- weight-decay masks ------------------------------------------------- */

static void test_masks(void)
{
    descent_error err;
    descent_optimizer *opt;
    CHECK(descent_create_from_spec(&opt, "AdamW(lr=0.1, weight_decay=0.5)", NULL, &err) == 0, "%s", err.message);
    int g = descent_add_group(opt, NULL);
    static double w[12], b[4], gw[12], gb[4];
    for (int i = 0; i < 12; i++)
        w[i] = 1;
    for (int i = 0; i < 4; i++)
        b[i] = 1;
    CHECK(descent_add_tensor_shaped(opt, g, w, gw, 2, shape0, DESCENT_F64) == 0, "%s", descent_errmsg(opt));
    CHECK(descent_add_tensor_shaped(opt, g, b, gb, 1, shape1, DESCENT_F64) == 1, "%s", descent_errmsg(opt));
    CHECK(descent_tensor_weight_decay(opt, 0) == 1 && descent_tensor_weight_decay(opt, 1) == 1, "decayed by default");
    CHECK(descent_set_no_decay_1d(opt, 1) == 0, "%s", descent_errmsg(opt));
    CHECK(descent_tensor_weight_decay(opt, 0) == 1 && descent_tensor_weight_decay(opt, 1) == 0,
          "the rule masks the registered 1-D tensor only");
    /* Zero gradients: AdamW then only decays: w *= 1 - lr wd, b unchanged. */
    descent_step(opt);
    CHECK(w[0] == 1.0 - 0.1 * 0.5 && b[0] == 1.0, "w %.17g b %.17g", w[0], b[0]);
    CHECK(descent_set_tensor_weight_decay(opt, 1, 1) == 0 && descent_tensor_weight_decay(opt, 1) == 1, "override");
    descent_step(opt);
    CHECK(b[0] == 1.0 - 0.1 * 0.5, "b decays again: %.17g", b[0]);
    CHECK(descent_set_no_decay_1d(opt, 0) == 0 && descent_tensor_weight_decay(opt, 1) == 1, "rule off");
    CHECK(descent_set_tensor_weight_decay(opt, 2, 0) == DESCENT_ERR_INVALID &&
              strstr(descent_errmsg(opt), "tensor must be in [0, 2), got 2"),
          "bad tensor: %s", descent_errmsg(opt));
    CHECK(descent_set_tensor_weight_decay(opt, 0, 7) == DESCENT_ERR_INVALID && strstr(descent_errmsg(opt), "got 7"),
          "bad flag: %s", descent_errmsg(opt));
    CHECK(descent_set_no_decay_1d(opt, -1) == DESCENT_ERR_INVALID, "bad rule flag");
    CHECK(descent_tensor_weight_decay(opt, -1) == DESCENT_ERR_INVALID, "bad tensor");
    descent_destroy(opt);
}

/* ---- checkpoints, reset, errors ---------------------------------------- */

/* An optimizer with every utility on, over an f32 and an f64 tensor. */
typedef struct rig {
    descent_optimizer *opt;
    float p32[7], g32[7];
    double p64[5], g64[5];
} rig;

static void rig_make(rig *r, const char *spec)
{
    descent_error err;
    memset(r, 0, sizeof *r);
    for (int i = 0; i < 7; i++)
        r->p32[i] = (float)(0.3 * i - 1);
    for (int i = 0; i < 5; i++)
        r->p64[i] = 0.7 - 0.2 * i;
    CHECK(descent_create_from_spec(&r->opt, spec, NULL, &err) == 0, "%s", err.message);
    int g = descent_add_group(r->opt, NULL);
    descent_add_tensor(r->opt, g, r->p32, r->g32, 7, DESCENT_F32);
    descent_add_tensor(r->opt, g, r->p64, r->g64, 5, DESCENT_F64);
    CHECK(descent_set_accumulation(r->opt, 3) == 0 && descent_set_ema(r->opt, 0.9) == 0 &&
              descent_set_swa(r->opt, 1) == 0 && descent_set_lookahead(r->opt, 4, 0.5) == 0,
          "%s", descent_errmsg(r->opt));
}

static void rig_step(rig *r, int i)
{
    for (int k = 0; k < 7; k++)
        r->g32[k] = (float)sin(i * 0.37 + k) + 0.1f * r->p32[k];
    for (int k = 0; k < 5; k++)
        r->g64[k] = cos(i * 0.53 + k) + 0.1 * r->p64[k];
    descent_step(r->opt);
    if (i % 5 == 4)
        descent_swa_update(r->opt);
}

static unsigned char *save(descent_optimizer *opt, size_t *len)
{
    descent_save_mem(opt, NULL, 0, len);
    unsigned char *b = malloc(*len);
    CHECK(descent_save_mem(opt, b, *len, len) == 0, "%s", descent_errmsg(opt));
    return b;
}

static void test_checkpoint(void)
{
    static const char *spec = "Adam(lr=0.05)";
    rig a, b;
    rig_make(&a, spec);
    rig_make(&b, spec);
    /* a runs 40 micro-batches straight; b runs 17 (mid-cycle), is saved,
     * loaded into a fresh rig with its parameters, and continues. */
    for (int i = 0; i < 40; i++)
        rig_step(&a, i);
    for (int i = 0; i < 17; i++)
        rig_step(&b, i);
    size_t len;
    unsigned char *img = save(b.opt, &len);
    rig c;
    rig_make(&c, spec);
    memcpy(c.p32, b.p32, sizeof c.p32);
    memcpy(c.p64, b.p64, sizeof c.p64);
    CHECK(descent_load_mem(c.opt, img, len) == 0, "%s", descent_errmsg(c.opt));
    int pending = 0;
    CHECK(descent_get_accumulation(c.opt, &pending) == 3 && pending == 17 % 3, "pending %d", pending);
    for (int i = 17; i < 40; i++)
        rig_step(&c, i);
    CHECK(memcmp(a.p32, c.p32, sizeof a.p32) == 0 && memcmp(a.p64, c.p64, sizeof a.p64) == 0,
          "resumed parameters differ from the uninterrupted run");
    size_t la, lc;
    unsigned char *ia = save(a.opt, &la), *ic = save(c.opt, &lc);
    CHECK(la == lc && memcmp(ia, ic, la) == 0, "resumed checkpoint differs from the uninterrupted run's");
    for (int w = 0; w < 2; w++) {
        float x[7], y[7];
        descent_copy_averaged(a.opt, w, 0, x);
        descent_copy_averaged(c.opt, w, 0, y);
        CHECK(memcmp(x, y, sizeof x) == 0, "average %d differs after resume", w);
    }
    CHECK(descent_averaged_count(a.opt, DESCENT_AVERAGE_SWA) == 8 &&
              descent_averaged_count(a.opt, DESCENT_AVERAGE_EMA) == 13,
          "counts %lld %lld", (long long)descent_averaged_count(a.opt, DESCENT_AVERAGE_SWA),
          (long long)descent_averaged_count(a.opt, DESCENT_AVERAGE_EMA));
    /* A plain optimizer refuses the image, and the image with utilities is
     * refused by a plain one; an old (flags 0) image loads into a plain one. */
    rig plain;
    memset(&plain, 0, sizeof plain);
    descent_error err;
    descent_create_from_spec(&plain.opt, spec, NULL, &err);
    int g = descent_add_group(plain.opt, NULL);
    descent_add_tensor(plain.opt, g, plain.p32, plain.g32, 7, DESCENT_F32);
    descent_add_tensor(plain.opt, g, plain.p64, plain.g64, 5, DESCENT_F64);
    CHECK(descent_load_mem(plain.opt, ia, la) == DESCENT_ERR_CHECKPOINT &&
              strstr(descent_errmsg(plain.opt), "utilities differ"),
          "%s", descent_errmsg(plain.opt));
    size_t lp;
    unsigned char *ip = save(plain.opt, &lp);
    CHECK(ip[12] == 0 && ip[8] == 1, "a plain optimizer writes the version-1 image with flags 0");
    CHECK(descent_load_mem(a.opt, ip, lp) == DESCENT_ERR_CHECKPOINT &&
              strstr(descent_errmsg(a.opt), "no accumulation/EMA/SWA/Lookahead state"),
          "%s", descent_errmsg(a.opt));
    CHECK(descent_load_mem(plain.opt, ip, lp) == 0, "%s", descent_errmsg(plain.opt));
    /* Truncated utilities section: refused, optimizer untouched. */
    unsigned char *before = save(a.opt, &la);
    CHECK(descent_load_mem(a.opt, ic, lc - 9) < 0, "truncated image accepted");
    size_t la2;
    unsigned char *after = save(a.opt, &la2);
    CHECK(la2 == la && memcmp(before, after, la) == 0, "rejected image changed the optimizer");
    free(before);
    free(after);
    free(ip);
    /* Reset: counters to zero, averages and slow weights re-seeded from the
     * parameters, the sum cleared. */
    CHECK(descent_reset(c.opt) == 0, "reset");
    float e32[7];
    descent_copy_averaged(c.opt, DESCENT_AVERAGE_EMA, 0, e32);
    CHECK(memcmp(e32, c.p32, sizeof e32) == 0 && descent_averaged_count(c.opt, DESCENT_AVERAGE_EMA) == 0 &&
              descent_get_accumulation(c.opt, &pending) == 3 && pending == 0,
          "reset did not restart the utilities");
    /* Swap twice restores the parameters exactly. */
    float keep[7];
    memcpy(keep, a.p32, sizeof keep);
    descent_copy_averaged(a.opt, DESCENT_AVERAGE_SWA, 0, e32);
    CHECK(descent_swap_averaged(a.opt, DESCENT_AVERAGE_SWA) == 0 && memcmp(a.p32, e32, sizeof e32) == 0,
          "swap puts the average in");
    CHECK(descent_swap_averaged(a.opt, DESCENT_AVERAGE_SWA) == 0 && memcmp(a.p32, keep, sizeof keep) == 0,
          "second swap restores");
    CHECK(descent_state_bytes(a.opt) == (7 * 4 + 5 * 8) * (2 + 4), "state bytes %zu", descent_state_bytes(a.opt));
    free(ia);
    free(ic);
    free(img);
    descent_destroy(a.opt);
    descent_destroy(b.opt);
    descent_destroy(c.opt);
    descent_destroy(plain.opt);
}

/* The committed fuzz seeds: seed0 has no utilities section (flags 0) and
 * saves back byte for byte; seed1 has a utilities section and loads into
 * the same optimizer with them on. seed1 was written before Adam had
 * state_bits, so it also shows that a checkpoint lacking an argument
 * added later loads, with that argument at its default. */
static void test_old_checkpoint(const char *dir)
{
    for (int seed = 0; seed < 2; seed++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/fuzz/corpus/checkpoint/seed%d", dir, seed);
        size_t len = 0;
        char *img = t_read_file(path, &len);
        CHECK(img != NULL, "cannot read %s", path);
        if (!img)
            continue;
        static float p1[5], g1[5];
        static double p2[3], g2[3];
        descent_error err;
        descent_optimizer *opt;
        descent_create_from_spec(&opt, "Adam(lr=0.01, amsgrad=True)", NULL, &err);
        int a = descent_add_group(opt, NULL), b = descent_add_group_spec(opt, "lr=0.5");
        descent_add_tensor(opt, a, p1, g1, 5, DESCENT_F32);
        descent_add_tensor(opt, b, p2, g2, 3, DESCENT_F64);
        if (seed == 1)
            CHECK(descent_set_accumulation(opt, 2) == 0 && descent_set_ema(opt, 0.9) == 0 &&
                      descent_set_swa(opt, 1) == 0 && descent_set_lookahead(opt, 3, 0.5) == 0,
                  "%s", descent_errmsg(opt));
        CHECK(descent_load_mem(opt, img, len) == 0, "seed%d: %s", seed, descent_errmsg(opt));
        CHECK((unsigned char)img[12] == seed, "seed%d has flags %d", seed, img[12]);
        size_t back_len;
        unsigned char *back = save(opt, &back_len);
        if (seed == 0)
            CHECK(back_len == len && memcmp(back, img, len) == 0, "seed%d does not save back identically", seed);
        else {
            /* seed1 predates state_bits: it loaded with the default (32);
             * what it saves back now has the field and is stable. */
            double bits = 0;
            CHECK(descent_get(opt, 0, "state_bits", &bits) == 0 && bits == 32, "seed1 state_bits %g", bits);
            CHECK(descent_load_mem(opt, back, back_len) == 0, "seed1 saved back: %s", descent_errmsg(opt));
            size_t again_len;
            unsigned char *again = save(opt, &again_len);
            CHECK(again_len == back_len && memcmp(again, back, back_len) == 0, "seed1 does not save back stably");
            free(again);
        }
        free(back);
        free(img);
        descent_destroy(opt);
    }
}

static void test_errors(void)
{
    descent_error err;
    descent_optimizer *opt;
    descent_create_from_spec(&opt, "SGD(lr=0.1)", NULL, &err);
    int g = descent_add_group(opt, NULL);
    static float p[3], gr[3];
    static uint16_t pb[3], gb[3];
    descent_add_tensor(opt, g, p, gr, 3, DESCENT_F32);
    CHECK(descent_set_accumulation(opt, 0) == DESCENT_ERR_INVALID && strstr(descent_errmsg(opt), "got 0"), "%s",
          descent_errmsg(opt));
    CHECK(descent_set_ema(opt, 1.0) == DESCENT_ERR_INVALID && strstr(descent_errmsg(opt), "got 1"), "%s",
          descent_errmsg(opt));
    CHECK(descent_set_ema(opt, NAN) == DESCENT_ERR_INVALID, "NaN decay");
    CHECK(descent_set_lookahead(opt, 2, 1.5) == DESCENT_ERR_INVALID && strstr(descent_errmsg(opt), "1.5"), "%s",
          descent_errmsg(opt));
    CHECK(descent_set_lookahead(opt, -1, 0.5) == DESCENT_ERR_INVALID, "negative k");
    CHECK(descent_swa_update(opt) == DESCENT_ERR_STATE && strstr(descent_errmsg(opt), "SWA is off"), "%s",
          descent_errmsg(opt));
    float out[3];
    CHECK(descent_copy_averaged(opt, DESCENT_AVERAGE_EMA, 0, out) == DESCENT_ERR_STATE, "EMA off");
    CHECK(descent_copy_averaged(opt, 5, 0, out) == DESCENT_ERR_INVALID && strstr(descent_errmsg(opt), "got 5"), "%s",
          descent_errmsg(opt));
    CHECK(descent_state_bytes(opt) == 0, "failed calls allocated nothing: %zu", descent_state_bytes(opt));
    /* Accumulation cannot change mid-cycle. */
    CHECK(descent_set_accumulation(opt, 2) == 0, "%s", descent_errmsg(opt));
    CHECK(descent_step(opt) == DESCENT_STEP_ACCUMULATED, "first micro-batch");
    CHECK(descent_set_accumulation(opt, 4) == DESCENT_ERR_STATE && strstr(descent_errmsg(opt), "1 of 2"), "%s",
          descent_errmsg(opt));
    CHECK(descent_step(opt) == 0, "second micro-batch updates");
    CHECK(descent_set_accumulation(opt, 1) == 0 && descent_state_bytes(opt) == 0, "k=1 frees the sum");
    /* bf16 tensors are refused both ways. */
    CHECK(descent_add_tensor(opt, g, pb, gb, 3, DESCENT_BF16) == 1, "%s", descent_errmsg(opt));
    CHECK(descent_set_ema(opt, 0.9) == DESCENT_ERR_INVALID && strstr(descent_errmsg(opt), "bf16"), "%s",
          descent_errmsg(opt));
    descent_destroy(opt);
    descent_create_from_spec(&opt, "SGD(lr=0.1)", NULL, &err);
    g = descent_add_group(opt, NULL);
    CHECK(descent_set_swa(opt, 1) == 0, "%s", descent_errmsg(opt));
    CHECK(descent_add_tensor(opt, g, pb, gb, 3, DESCENT_BF16) == DESCENT_ERR_INVALID &&
              descent_num_tensors(opt) == 0 && strstr(descent_errmsg(opt), "bf16"),
          "%s", descent_errmsg(opt));
    descent_destroy(opt);
}

/* ---- descent train ------------------------------------------------------ */

static const char *cli_path = "descent";

/* 100 rows: 80 for training (5 batches of 16, or 10 of 8), 20 to validate. */
static void write_data(void)
{
    FILE *f = fopen("tu_data.csv", "w");
    if (!f)
        return;
    fputs("a,b,c,y\n", f);
    double X[100 * 3], y[100];
    make_data(X, y, 100, 3);
    for (int i = 0; i < 100; i++)
        fprintf(f, "%.17g,%.17g,%.17g,%.17g\n", X[3 * i], X[3 * i + 1], X[3 * i + 2], y[i]);
    fclose(f);
}

typedef struct train_out {
    int status;
    double train_loss, val_loss, lr;
    char text[4096];
} train_out;

static double json_field(const char *s, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\": ", key);
    const char *p = strstr(s, k);
    return p ? strtod(p + strlen(k), NULL) : NAN;
}

static train_out train(const char *opt, const char *args)
{
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s train --data tu_data.csv --target y --model 'mlp(hidden=(6,), activation=\"tanh\")' "
             "--opt '%s' --dtype f64 --seed 3 --json %s 2>&1", cli_path, opt, args);
    train_out r;
    memset(&r, 0, sizeof r);
    r.status = t_run(cmd, &out);
    snprintf(r.text, sizeof r.text, "%s", out ? out : "");
    r.train_loss = out ? json_field(out, "train_loss") : NAN;
    r.val_loss = out ? json_field(out, "val_loss") : NAN;
    const char *lr = out ? strstr(out, " lr ") : NULL;
    r.lr = NAN;
    for (; lr; lr = strstr(lr + 1, " lr "))
        r.lr = strtod(lr + 4, NULL); /* the last epoch line's */
    free(out);
    return r;
}

static int same(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static void test_cli(void)
{
    write_data();
    const char *sgd = "SGD(lr=0.05, momentum=0.9, weight_decay=0.01)";
    /* --accumulate 2 of 8 rows = batches of 16; the schedule steps per update
     * (StepLR halves lr at every step: 5 updates an epoch in both runs). */
    train_out one = train(sgd, "--epochs 3 --batch-size 16 --sched 'StepLR(step_size=1, gamma=0.9)'");
    train_out acc = train(sgd, "--epochs 3 --batch-size 8 --accumulate 2 --sched 'StepLR(step_size=1, gamma=0.9)'");
    CHECK(one.status == 0 && acc.status == 0, "%s\n%s", one.text, acc.text);
    CHECK(t_close(one.val_loss, acc.val_loss, 1e-10, 0) && t_close(one.train_loss, acc.train_loss, 1e-10, 0),
          "accumulated run %.17g/%.17g, one batch %.17g/%.17g", acc.train_loss, acc.val_loss, one.train_loss,
          one.val_loss);
    CHECK(t_close(one.lr, 0.05 * pow(0.9, 15), 1e-3, 0) && t_close(acc.lr, one.lr, 1e-12, 0),
          "lr after 15 updates: %g and %g", one.lr, acc.lr);
    train_out half = train(sgd, "--epochs 3 --batch-size 8");
    CHECK(half.status == 0 && !t_close(half.val_loss, one.val_loss, 1e-6, 0), "batches of 8 without accumulation");

    /* --no-decay-1d: a change with weight decay, none without. */
    train_out wd = train("AdamW(lr=0.01, weight_decay=0.5)", "--epochs 2");
    train_out wd1 = train("AdamW(lr=0.01, weight_decay=0.5)", "--epochs 2 --no-decay-1d");
    train_out nowd = train("AdamW(lr=0.01, weight_decay=0)", "--epochs 2");
    train_out nowd1 = train("AdamW(lr=0.01, weight_decay=0)", "--epochs 2 --no-decay-1d");
    CHECK(wd.status == 0 && wd1.status == 0 && !same(wd.val_loss, wd1.val_loss), "%s\n%s", wd.text, wd1.text);
    CHECK(same(nowd.val_loss, nowd1.val_loss), "no decay: %.17g vs %.17g", nowd.val_loss, nowd1.val_loss);

    /* Clipping: a bound above every gradient changes nothing; a tight one does. */
    train_out loose = train(sgd, "--epochs 2 --clip-norm 1e6 --clip-value 1e6");
    train_out base = train(sgd, "--epochs 2");
    train_out tight = train(sgd, "--epochs 2 --clip-norm 0.01");
    train_out tightv = train(sgd, "--epochs 2 --clip-value 0.001");
    CHECK(same(loose.val_loss, base.val_loss), "loose clipping: %.17g vs %.17g", loose.val_loss, base.val_loss);
    CHECK(tight.status == 0 && !same(tight.val_loss, base.val_loss) && tightv.status == 0 &&
              !same(tightv.val_loss, base.val_loss),
          "tight clipping changed nothing: %s", tight.text);

    /* --ema: the same training, validation with the EMA. --swa-start 2:
     * epoch 1 as without, then the SWA average. */
    train_out ema = train(sgd, "--epochs 2 --ema 0.9");
    CHECK(ema.status == 0 && same(ema.train_loss, base.train_loss) && !same(ema.val_loss, base.val_loss),
          "ema: %s", ema.text);
    train_out swa1 = train(sgd, "--epochs 1 --swa-start 2"), base1 = train(sgd, "--epochs 1");
    train_out swa = train(sgd, "--epochs 3 --swa-start 2"), base3 = train(sgd, "--epochs 3");
    CHECK(same(swa1.val_loss, base1.val_loss) && same(swa.train_loss, base3.train_loss) &&
              !same(swa.val_loss, base3.val_loss),
          "swa: %s", swa.text);

    /* Save after 2 epochs (mid-cycle: 10 batches of 8, k = 3), resume to 4:
     * the uninterrupted run's checkpoint, byte for byte. */
    const char *all = "--batch-size 8 --accumulate 3 --ema 0.8 --no-decay-1d --clip-norm 0.5";
    char args[512];
    snprintf(args, sizeof args, "%s --epochs 4 --save tu_full.ckpt", all);
    train_out full = train(sgd, args);
    snprintf(args, sizeof args, "%s --epochs 2 --save tu_half.ckpt", all);
    train(sgd, args);
    snprintf(args, sizeof args, "%s --epochs 4 --resume tu_half.ckpt --save tu_resumed.ckpt", all);
    train_out resumed = train(sgd, args);
    size_t la = 0, lb = 0;
    char *a = t_read_file("tu_full.ckpt", &la), *b = t_read_file("tu_resumed.ckpt", &lb);
    CHECK(full.status == 0 && resumed.status == 0 && a && b && la == lb && memcmp(a, b, la) == 0 &&
              same(full.val_loss, resumed.val_loss),
          "resumed run differs: %s\n%s", full.text, resumed.text);
    free(a);
    free(b);
    /* A checkpoint without the utilities does not resume a run with them. */
    train_out other = train(sgd, "--batch-size 8 --epochs 3 --resume tu_half.ckpt");
    CHECK(other.status == 2 && strstr(other.text, "--accumulate: saved '3', now '1'"), "%s", other.text);

    /* Lookahead in descent train: a different trajectory from its inner optimizer. */
    train_out look = train("Lookahead(optimizer=SGD(lr=0.05, momentum=0.9, weight_decay=0.01), k=3)", "--epochs 2");
    CHECK(look.status == 0 && !same(look.train_loss, base.train_loss), "lookahead: %s", look.text);

    /* Bad values. */
    static const char *bad[][2] = {{"--accumulate 0", "--accumulate"},   {"--ema 1", "--ema must be in (0, 1)"},
                                   {"--ema -0.5", "--ema"},             {"--clip-norm 0", "--clip-norm must be"},
                                   {"--clip-value nan", "--clip-value"}, {"--swa-start 0", "--swa-start"},
                                   {"--ema 0.9 --swa-start 2", "not both"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(args, sizeof args, "--epochs 1 %s", bad[i][0]);
        train_out r = train(sgd, args);
        CHECK(r.status == 2 && strstr(r.text, bad[i][1]), "%s: status %d: %s", bad[i][0], r.status, r.text);
    }
}

/* ---- Lookahead spec and replay ---------------------------------------- */

static void test_lookahead_spec(const char *dir)
{
    descent_error err;
    descent_optimizer *opt;
    CHECK(descent_create_from_spec(&opt, "Lookahead(optimizer=AdamW(lr=1e-3, weight_decay=0.01))", NULL, &err) == 0,
          "%s", err.message);
    if (opt) {
        double v;
        CHECK(strcmp(descent_name(opt), "AdamW") == 0 && descent_get(opt, -1, "lr", &v) < 0, "inner optimizer");
        descent_add_group(opt, NULL);
        CHECK(descent_get(opt, 0, "weight_decay", &v) == 0 && v == 0.01, "inner hyperparameters");
        CHECK(descent_set_lr(opt, 0, 0.5) == 0 && descent_get_lr(opt, 0) == 0.5, "lr acts on the inner optimizer");
        descent_destroy(opt);
    }
    /* Positional and keyword forms give the same optimizer. */
    CHECK(descent_create_from_spec(&opt, "lookahead(SGD(lr=0.1), 3, 0.25)", NULL, &err) == 0, "%s", err.message);
    descent_destroy(opt);
    static const char *bad[][2] = {
        {"Lookahead(k=5)", "needs the inner optimizer"},
        {"Lookahead(optimizer=AdamW(), k=0)", "k must be an integer"},
        {"Lookahead(optimizer=AdamW(), k=2.5)", "k must be an integer"},
        {"Lookahead(optimizer=AdamW(), alpha=1.5)", "alpha must be in [0, 1]"},
        {"Lookahead(optimizer=AdamW(), kk=5)", "did you mean 'k'"},
        {"Lookahead(optimizer=AdamW(lr=-1))", "lr"},
        {"Lookahead(optimizer=Adamm())", "did you mean 'Adam'"},
        {"Lookahead(optimizer=Lookahead(optimizer=SGD()))", "cannot wrap another Lookahead"},
        {"Lookahead(SGD(), 5, 0.5, 1)", "at most 3 arguments"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        opt = (descent_optimizer *)&err; /* must be reset to NULL */
        int rc = descent_create_from_spec(&opt, bad[i][0], NULL, &err);
        CHECK(rc < 0 && opt == NULL && strstr(err.message, bad[i][1]) && strchr(err.message, '^'), "%s: %s",
              bad[i][0], err.message);
    }
    /* descent replay runs a Lookahead spec: the golden lookahead_adamw_f64
     * case's two tensors as one vector (the rules are elementwise). */
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/utils.txt", dir);
    char *text = t_read_file(path, NULL), *cur = text, line[8192];
    int in_case = 0, rows = 0, nparam = 0;
    double want[8][16];
    FILE *pf = fopen("tu_params.csv", "w"), *gf = fopen("tu_grads.csv", "w");
    while (text && pf && gf && t_next_line(&cur, line, sizeof line)) {
        int t = 0, off = 0;
        if (strncmp(line, "case ", 5) == 0)
            in_case = strcmp(line + 5, "lookahead_adamw_f64") == 0;
        else if (!in_case)
            continue;
        else if (sscanf(line, "init %d %n", &t, &off) == 1)
            fprintf(pf, "%s%s", t ? "," : "", line + off);
        else if (sscanf(line, "grad %d %n", &t, &off) == 1)
            fprintf(gf, "%s%s%s", t ? "," : "", line + off, t ? "\n" : "");
        else if (sscanf(line, "param %d %n", &t, &off) == 1 && rows < 8) {
            nparam += t_parse_csv(line + off, want[rows] + (t ? 12 : 0), 12);
            rows += t == 1;
        }
    }
    if (pf) {
        fputc('\n', pf);
        fclose(pf);
    }
    if (gf)
        fclose(gf);
    free(text);
    CHECK(rows == 8 && nparam == 8 * 16, "golden lookahead case not found: %d rows", rows);
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s replay --opt 'Lookahead(optimizer=AdamW(lr=0.05, weight_decay=0.01), k=3, "
             "alpha=0.5)' --params tu_params.csv --grads tu_grads.csv --dtype f64", cli_path);
    int st = t_run(cmd, &out);
    char *p = out;
    int ok = st == 0 && out, r;
    for (r = 0; ok && r < 8; r++) {
        double have[16];
        char row[4096];
        ok = t_next_line(&p, row, sizeof row) && t_parse_csv(row, have, 16) == 16;
        for (int i = 0; ok && i < 16; i++)
            ok = t_close(have[i], want[r][i], 1e-12, 1e-14);
    }
    CHECK(ok, "replay with Lookahead differs from torch at step %d: %s", r, out ? out : "");
    free(out);
}

/* Accumulation also feeds the optimizers with their own step paths: 8-bit
 * state (q8state.c) and whole-tensor steps (LAMB, Adafactor). Two
 * micro-batches g + 1 and g - 1 must update exactly as one step on g (their
 * mean is exact in f32 here: small integers). */
static void test_accumulation_paths(void)
{
    static const char *const specs[] = {"AdamW(lr=1e-2, state_bits=8)", "LAMB(lr=1e-2)", "Adafactor(lr=1e-2)"};
    enum { N = 6000 };
    static float pa[N], pb[N], ga[N], gb[N];
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        descent_error err;
        descent_optimizer *a, *b;
        CHECK(descent_create_from_spec(&a, specs[s], NULL, &err) == 0 &&
                  descent_create_from_spec(&b, specs[s], NULL, &err) == 0,
              "%s: %s", specs[s], err.message);
        for (int i = 0; i < N; i++)
            pa[i] = pb[i] = (float)(i % 17) * 0.1f - 0.8f;
        size_t shape[2] = {60, 100};
        descent_add_group(a, NULL);
        descent_add_group(b, NULL);
        descent_add_tensor_shaped(a, 0, pa, ga, 2, shape, DESCENT_F32);
        descent_add_tensor_shaped(b, 0, pb, gb, 2, shape, DESCENT_F32);
        CHECK(descent_set_accumulation(a, 2) == 0, "%s: %s", specs[s], descent_errmsg(a));
        for (int step = 0; step < 6; step++) {
            for (int i = 0; i < N; i++)
                gb[i] = (float)((i * 7 + step) % 13) - 6;
            for (int i = 0; i < N; i++)
                ga[i] = gb[i] + 1;
            CHECK(descent_step(a) == DESCENT_STEP_ACCUMULATED, "%s: first micro-batch", specs[s]);
            for (int i = 0; i < N; i++)
                ga[i] = gb[i] - 1;
            CHECK(descent_step(a) == 0 && descent_step(b) == 0, "%s: step", specs[s]);
        }
        CHECK(memcmp(pa, pb, sizeof pa) == 0, "%s: two accumulated micro-batches differ from one step on their mean",
              specs[s]);
        descent_destroy(a);
        descent_destroy(b);
    }
}

/* Non-finite policies under accumulation: SKIP checks each micro-batch as
 * it arrives; REPORT checks the gradient the update used, the mean, so a
 * NaN from an earlier micro-batch is reported at the update. */
static void test_accumulation_nonfinite(void)
{
    static double p[8], g[8];
    descent_error err;
    descent_optimizer *opt;
    CHECK(descent_create_from_spec(&opt, "SGD(lr=0.1)", NULL, &err) == 0, "%s", err.message);
    descent_add_group(opt, NULL);
    descent_add_tensor(opt, 0, p, g, 8, DESCENT_F64);
    descent_set_accumulation(opt, 2);
    descent_set_nonfinite_policy(opt, DESCENT_NONFINITE_REPORT);
    g[5] = NAN;
    CHECK(descent_step(opt) == DESCENT_STEP_ACCUMULATED, "first micro-batch");
    g[5] = 1;
    int rc = descent_step(opt);
    CHECK(rc == DESCENT_STEP_NONFINITE && strstr(descent_errmsg(opt), "element 5") != NULL,
          "REPORT at the update: %d %s", rc, descent_errmsg(opt));
    descent_reset(opt);
    descent_set_nonfinite_policy(opt, DESCENT_NONFINITE_SKIP);
    g[5] = NAN;
    CHECK(descent_step(opt) == DESCENT_STEP_SKIPPED, "SKIP refuses the micro-batch");
    descent_destroy(opt);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests";
    if (argc > 2)
        cli_path = argv[2];
    test_golden(dir);
    test_accumulation();
    test_accumulation_paths();
    test_accumulation_nonfinite();
    test_masks();
    test_checkpoint();
    test_errors();
    test_old_checkpoint(dir);
    test_cli();
    test_lookahead_spec(dir);
    static const char *const scratch[] = {"tu_data.csv", "tu_full.ckpt", "tu_half.ckpt", "tu_resumed.ckpt",
                                          "tu_params.csv", "tu_grads.csv"};
    for (size_t i = 0; i < sizeof scratch / sizeof scratch[0]; i++)
        remove(scratch[i]);
    return t_done();
}
