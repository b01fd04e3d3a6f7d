/* Optimizer state by name (src/state_access.c): the buffers and scalars
 * against the update formulas of torch.optim's documentation, writes that
 * change the next step as the formula says, 8-bit state, and errors. */
#include "descent.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

/* Adam (Kingma & Ba 2015, torch.optim.Adam): after one step from zero state
 * m = (1 - b1) g, v = (1 - b2) g^2, step = 1. Writing m, v and step then
 * makes the next step p -= lr (m'/(1 - b1^t)) / (sqrt(v'/(1 - b2^t)) + eps)
 * with m' = b1 m + (1 - b1) g, v' = b2 v + (1 - b2) g^2, t = step + 1. */
static void test_adam_f64(void)
{
    descent_optimizer *opt;
    descent_error err;
    int rc = descent_create_from_spec(&opt, "Adam(lr=0.1, betas=(0.8, 0.9), eps=1e-8, amsgrad=True)", NULL, &err);
    CHECK(rc == 0, "%s", err.message);
    double p[3] = {1, -2, 3}, g[3] = {0.5, -1, 2};
    int g0 = descent_add_group(opt, NULL);
    CHECK(descent_add_tensor(opt, g0, p, g, 3, DESCENT_F64) == 0, "%s", descent_errmsg(opt));
    CHECK(descent_state_count(opt, 0) == 3, "count %d", descent_state_count(opt, 0));
    CHECK(descent_state_name(opt, 0, 2) && strcmp(descent_state_name(opt, 0, 2), "max_exp_avg_sq") == 0, "name");
    CHECK(descent_state_name(opt, 0, 3) == NULL, "name past the end");
    size_t n = 0;
    descent_dtype dt = DESCENT_BF16;
    int bits = 0;
    CHECK(descent_state_info(opt, 0, "exp_avg", &n, &dt, &bits) == 0 && n == 3 && dt == DESCENT_F64 && bits == 64,
          "info n=%zu dt=%d bits=%d", n, (int)dt, bits);
    CHECK(descent_step(opt) == 0, "%s", descent_errmsg(opt));
    double m[3], v[3], step = 0;
    CHECK(descent_state_read(opt, 0, "exp_avg", m, 3) == 0, "%s", descent_errmsg(opt));
    CHECK(descent_state_read(opt, 0, "exp_avg_sq", v, 3) == 0, "%s", descent_errmsg(opt));
    CHECK(descent_state_get_scalar(opt, 0, "step", &step) == 0 && step == 1, "step %g", step);
    for (int i = 0; i < 3; i++) {
        CHECK(t_close(m[i], 0.2 * g[i], 1e-15, 0), "m[%d] = %g", i, m[i]);
        CHECK(t_close(v[i], 0.1 * g[i] * g[i], 1e-15, 0), "v[%d] = %g", i, v[i]);
    }
    /* Write new state (as load_state_dict would) and check the next step. */
    double m2[3] = {0.3, -0.1, 0.05}, v2[3] = {0.2, 0.4, 0.1}, before[3];
    CHECK(descent_state_write(opt, 0, "exp_avg", m2, 3) == 0, "%s", descent_errmsg(opt));
    double *vbuf = NULL;
    CHECK(descent_state_buffer(opt, 0, "exp_avg_sq", (void **)&vbuf, &n) == 0 && vbuf && n == 3, "buffer");
    memcpy(vbuf, v2, sizeof v2);
    double *mx = NULL;
    CHECK(descent_state_buffer(opt, 0, "max_exp_avg_sq", (void **)&mx, NULL) == 0 && mx, "max buffer");
    memcpy(mx, v2, sizeof v2);
    CHECK(descent_state_set_scalar(opt, 0, "step", 4) == 0, "%s", descent_errmsg(opt));
    memcpy(before, p, sizeof p);
    CHECK(descent_step(opt) == 0, "%s", descent_errmsg(opt));
    CHECK(descent_step_count(opt) == 5, "step count %lld", (long long)descent_step_count(opt));
    for (int i = 0; i < 3; i++) {
        double mm = 0.8 * m2[i] + 0.2 * g[i], vv = 0.9 * v2[i] + 0.1 * g[i] * g[i];
        double vmax = vv > v2[i] ? vv : v2[i];
        double want = before[i] - 0.1 * (mm / (1 - pow(0.8, 5))) / (sqrt(vmax / (1 - pow(0.9, 5))) + 1e-8);
        CHECK(t_close(p[i], want, 1e-13, 0), "p[%d] = %.17g, formula %.17g", i, p[i], want);
    }
    /* Errors name the bad value and change nothing. */
    CHECK(descent_state_read(opt, 0, "momentum_buffer", m, 3) == DESCENT_ERR_INVALID, "unknown name");
    CHECK(strstr(descent_errmsg(opt), "'momentum_buffer'") && strstr(descent_errmsg(opt), "'exp_avg_sq'"), "msg: %s",
          descent_errmsg(opt));
    CHECK(descent_state_read(opt, 0, "exp_avg", m, 2) == DESCENT_ERR_INVALID, "wrong n");
    CHECK(strstr(descent_errmsg(opt), "3 elements"), "msg: %s", descent_errmsg(opt));
    CHECK(descent_state_read(opt, 1, "exp_avg", m, 3) == DESCENT_ERR_INVALID, "tensor out of range");
    CHECK(descent_state_read(opt, 0, "exp_avg", NULL, 3) == DESCENT_ERR_INVALID, "NULL array");
    CHECK(descent_state_set_scalar(opt, 0, "step", -1) == DESCENT_ERR_INVALID, "negative step");
    CHECK(descent_state_set_scalar(opt, 0, "step", 1.5) == DESCENT_ERR_INVALID, "fractional step");
    CHECK(descent_state_set_scalar(opt, 0, "eta", 1) == DESCENT_ERR_INVALID &&
              strstr(descent_errmsg(opt), "(it has: 'step')"),
          "Adam has no eta: %s", descent_errmsg(opt));
    CHECK(strstr(descent_errmsg(opt), "'eta'"), "msg: %s", descent_errmsg(opt));
    CHECK(descent_step_count(opt) == 5, "errors changed the step");
    descent_destroy(opt);
}

/* SGD with momentum (torch.optim.SGD): b = g at the first step, then
 * b = mu b + g; p -= lr b. f32 storage; SGD without momentum has no state. */
static void test_sgd_f32(void)
{
    descent_optimizer *opt;
    descent_error err;
    CHECK(descent_create_from_spec(&opt, "SGD(lr=0.5, momentum=0.9)", NULL, &err) == 0, "%s", err.message);
    float p[2] = {1, 2}, g[2] = {1, -1};
    descent_add_group(opt, NULL);
    descent_add_group_spec(opt, "momentum=0");
    CHECK(descent_add_tensor(opt, 0, p, g, 2, DESCENT_F32) == 0, "%s", descent_errmsg(opt));
    float q[2] = {0, 0};
    CHECK(descent_add_tensor(opt, 1, q, g, 2, DESCENT_F32) == 1, "%s", descent_errmsg(opt));
    CHECK(descent_state_count(opt, 1) == 0, "no momentum, no state");
    descent_dtype dt;
    CHECK(descent_state_info(opt, 0, "momentum_buffer", NULL, &dt, NULL) == 0 && dt == DESCENT_F32, "f32 storage");
    descent_step(opt);
    float b[2];
    CHECK(descent_state_read(opt, 0, "momentum_buffer", b, 2) == 0 && b[0] == 1 && b[1] == -1, "b = g");
    float nb[2] = {2, 4};
    CHECK(descent_state_write(opt, 0, "momentum_buffer", nb, 2) == 0, "write");
    descent_step(opt);
    /* b = 0.9 * 2 + 1 = 2.8, p0 = 0.5 - 0.5 * 2.8; b = 0.9 * 4 - 1 = 2.6, p1 = 2.5 - 0.5 * 2.6. */
    CHECK(p[0] == 0.5f - 0.5f * (0.9f * 2 + 1), "p0 %.9g", p[0]);
    CHECK(p[1] == 2.5f - 0.5f * (0.9f * 4 - 1), "p1 %.9g", p[1]);
    CHECK(descent_state_read(opt, 1, "momentum_buffer", b, 2) == DESCENT_ERR_INVALID, "none");
    CHECK(strstr(descent_errmsg(opt), "none"), "msg: %s", descent_errmsg(opt));
    descent_destroy(opt);
}

/* ASGD (torch.optim.ASGD): eta_t = lr / (1 + lambd lr t)^alpha and
 * mu_t = 1 / max(1, t - t0) after step t; NAdam: mu_product = prod mu_i with
 * mu_i = b1 (1 - 0.5 * 0.96^(i psi)). */
static void test_scalars(void)
{
    descent_optimizer *opt;
    descent_error err;
    CHECK(descent_create_from_spec(&opt, "ASGD(lr=0.1, lambd=0.01, alpha=0.75, t0=1)", NULL, &err) == 0, "%s",
          err.message);
    double p[1] = {1}, g[1] = {1};
    descent_add_group(opt, NULL);
    descent_add_tensor(opt, 0, p, g, 1, DESCENT_F64);
    for (int i = 0; i < 3; i++)
        descent_step(opt);
    double eta, mu;
    CHECK(descent_state_get_scalar(opt, 0, "eta", &eta) == 0, "%s", descent_errmsg(opt));
    CHECK(descent_state_get_scalar(opt, 0, "mu", &mu) == 0, "%s", descent_errmsg(opt));
    CHECK(t_close(eta, 0.1 / pow(1 + 0.01 * 0.1 * 3, 0.75), 1e-15, 0), "eta %.17g", eta);
    CHECK(t_close(mu, 1.0 / 2, 1e-15, 0), "mu %.17g", mu);
    /* A written eta is the step size of the next step: p -= eta g (no decay term at lambd eta). */
    CHECK(descent_state_set_scalar(opt, 0, "eta", 0.5) == 0, "%s", descent_errmsg(opt));
    CHECK(descent_set(opt, 0, "lambd", 0) == 0, "%s", descent_errmsg(opt));
    double before = p[0];
    descent_step(opt);
    CHECK(p[0] == before - 0.5, "p %.17g from %.17g", p[0], before);
    CHECK(descent_state_set_scalar(opt, 0, "eta", NAN) == DESCENT_ERR_INVALID, "NaN eta");
    /* What a checkpoint load would refuse is refused here too. */
    CHECK(descent_state_set_scalar(opt, 0, "mu", 2) == DESCENT_ERR_INVALID &&
              strstr(descent_errmsg(opt), "'mu' must be finite and in [0, 1], got 2"),
          "mu = 2: %s", descent_errmsg(opt));
    CHECK(descent_state_set_scalar(opt, 0, "mu_product", 1) == DESCENT_ERR_INVALID &&
              strstr(descent_errmsg(opt), "(it has: 'step', 'eta', 'mu')"),
          "ASGD has no mu_product: %s", descent_errmsg(opt));
    descent_destroy(opt);

    CHECK(descent_create_from_spec(&opt, "NAdam(lr=0.01)", NULL, &err) == 0, "%s", err.message);
    descent_add_group(opt, NULL);
    descent_add_tensor(opt, 0, p, g, 1, DESCENT_F64);
    descent_step(opt);
    descent_step(opt);
    double prod;
    CHECK(descent_state_get_scalar(opt, 0, "mu_product", &prod) == 0, "%s", descent_errmsg(opt));
    double want = 0.9 * (1 - 0.5 * pow(0.96, 0.004)) * 0.9 * (1 - 0.5 * pow(0.96, 0.008));
    CHECK(t_close(prod, want, 1e-15, 0), "mu_product %.17g, formula %.17g", prod, want);
    descent_destroy(opt);
}

/* 8-bit state: no pointer, reads dequantize (close to the f32 run's
 * state), and a write of values that are codes times the block's absmax
 * reads back exactly. */
static void test_q8(void)
{
    enum { N = 3000 };
    static float p8[N], p32[N], g[N], m8[N], m32[N], w[N];
    for (int i = 0; i < N; i++) {
        p8[i] = p32[i] = (float)sin(i * 0.1);
        g[i] = (float)cos(i * 0.37);
    }
    descent_optimizer *o8, *o32;
    descent_error err;
    CHECK(descent_create_from_spec(&o8, "AdamW(lr=0.01, state_bits=8)", NULL, &err) == 0, "%s", err.message);
    CHECK(descent_create_from_spec(&o32, "AdamW(lr=0.01)", NULL, &err) == 0, "%s", err.message);
    descent_add_group(o8, NULL);
    descent_add_group(o32, NULL);
    descent_add_tensor(o8, 0, p8, g, N, DESCENT_F32);
    descent_add_tensor(o32, 0, p32, g, N, DESCENT_F32);
    for (int s = 0; s < 3; s++) {
        descent_step(o8);
        descent_step(o32);
    }
    int bits = 0;
    CHECK(descent_state_info(o8, 0, "exp_avg", NULL, NULL, &bits) == 0 && bits == 8, "bits %d", bits);
    void *ptr = NULL;
    CHECK(descent_state_buffer(o8, 0, "exp_avg", &ptr, NULL) == DESCENT_ERR_STATE && !ptr, "no pointer to 8-bit");
    CHECK(strstr(descent_errmsg(o8), "descent_state_read"), "msg: %s", descent_errmsg(o8));
    CHECK(descent_state_read(o8, 0, "exp_avg", m8, N) == 0, "%s", descent_errmsg(o8));
    CHECK(descent_state_read(o32, 0, "exp_avg", m32, N) == 0, "%s", descent_errmsg(o32));
    double worst = 0, scale = 0;
    for (int i = 0; i < N; i++) {
        worst = fmax(worst, fabs(m8[i] - m32[i]));
        scale = fmax(scale, fabs(m32[i]));
    }
    CHECK(worst <= 0.05 * scale && worst > 0, "8-bit exp_avg off by %g of %g", worst, scale);
    for (int i = 0; i < N; i++)
        w[i] = (i % 3 == 0) ? 0.0f : 0.25f; /* 0 and 1 are codes of both maps: 0 and absmax */
    CHECK(descent_state_write(o8, 0, "exp_avg", w, N) == 0, "%s", descent_errmsg(o8));
    CHECK(descent_state_read(o8, 0, "exp_avg", m8, N) == 0, "%s", descent_errmsg(o8));
    CHECK(memcmp(m8, w, sizeof w) == 0, "codes read back");
    descent_destroy(o8);
    descent_destroy(o32);
}

/* Adafactor factors the second moment of a matrix into rows and columns;
 * a vector's column factor is empty: copying it copies nothing. */
static void test_adafactor_factors(void)
{
    descent_optimizer *opt;
    descent_error err;
    CHECK(descent_create_from_spec(&opt, "Adafactor(lr=0.01)", NULL, &err) == 0, "%s", err.message);
    float w[6] = {1, 2, 3, 4, 5, 6}, gw[6] = {1, 1, 1, 1, 1, 1}, b[3] = {0}, gb[3] = {1, 1, 1};
    size_t shape[2] = {2, 3}, one[1] = {3};
    descent_add_group(opt, NULL);
    CHECK(descent_add_tensor_shaped(opt, 0, w, gw, 2, shape, DESCENT_F32) == 0, "%s", descent_errmsg(opt));
    CHECK(descent_add_tensor_shaped(opt, 0, b, gb, 1, one, DESCENT_F32) == 1, "%s", descent_errmsg(opt));
    size_t rows = 0, cols = 0, bcols = 9;
    CHECK(descent_state_info(opt, 0, "row_var", &rows, NULL, NULL) == 0 && rows == 2, "rows %zu", rows);
    CHECK(descent_state_info(opt, 0, "col_var", &cols, NULL, NULL) == 0 && cols == 3, "cols %zu", cols);
    CHECK(descent_state_info(opt, 1, "col_var", &bcols, NULL, NULL) == 0 && bcols == 0, "vector cols %zu", bcols);
    CHECK(descent_state_read(opt, 1, "col_var", NULL, 0) == 0, "%s", descent_errmsg(opt));
    CHECK(descent_state_write(opt, 1, "col_var", NULL, 0) == 0, "%s", descent_errmsg(opt));
    CHECK(descent_state_read(opt, 1, "col_var", NULL, 1) == DESCENT_ERR_INVALID, "n 1 of 0");
    descent_destroy(opt);
}

int main(void)
{
    test_adafactor_factors();
    test_adam_f64();
    test_sgd_f32();
    test_scalars();
    test_q8();
    return t_done();
}
