/* The library's contracts beyond the PyTorch goldens:
 *  - the seed's own formulas (momentum forms, eps inside the root), checked
 *    against plain loops written here from the formulas, and degenerate
 *    settings with closed forms;
 *  - every invalid hyperparameter rejected, with a message naming the value,
 *    through spec strings, descent_set and descent_add_group_spec, and spec
 *    syntax errors pointing at the offending text;
 *  - checkpoints: bit-identical continuation, mismatches and corruption
 *    rejected with the optimizer left untouched;
 *  - step allocates nothing, destroy frees everything, allocation failures
 *    are reported and leak nothing;
 *  - groups equal separate optimizers, threads equal one thread, reset equals
 *    a fresh optimizer. */
#include "descent.h"
#include "testutil.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

/* Every optimizer and the variants that change its state layout or code path. */
static const char *const CONFIGS[] = {
    "SGD(lr=0.05)",
    "SGD(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)",
    "SGD(lr=0.05, momentum=0.9, nesterov=True)",
    "SGD(lr=0.05, momentum=0.8, momentum_form='ewma')",
    "SGD(lr=0.05, momentum=0.8, momentum_form='accumulate', maximize=True)",
    "SGD(lr=0.05, momentum=0.8, momentum_form='direct')",
    "Adagrad(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=0.01)",
    "Adagrad(lr=0.1, eps=0, eps_root=1e-8)",
    "RMSprop(lr=0.01)",
    "RMSprop(lr=0.01, momentum=0.9)",
    "RMSprop(lr=0.01, centered=True)",
    "RMSprop(lr=0.01, centered=True, momentum=0.5, weight_decay=0.01)",
    "Adadelta(weight_decay=0.01)",
    "Adam(lr=0.01)",
    "Adam(lr=0.01, amsgrad=True, weight_decay=0.01)",
    "Adam(lr=0.01, eps=0, eps_root=1e-8, maximize=True)",
    "AdamW(lr=0.01)",
    "AdamW(lr=0.01, amsgrad=True)",
    "AMSGrad(lr=0.01)",
    "NAdam(lr=0.01, weight_decay=0.01)",
    "Adamax(lr=0.01, weight_decay=0.01)",
    "RAdam(lr=0.01, weight_decay=0.01)",
    "RAdam(lr=0.01, betas=(0.9, 0.9))",
    /* The optimizers beyond torch's core set (their own files document them). */
    "Rprop(lr=0.01)",
    "Rprop(lr=0.01, etas=(0.4, 1.3), step_sizes=(1e-4, 1), maximize=True)",
    "ASGD(lr=0.01, t0=3)",
    "ASGD(lr=0.01, lambd=0.01, alpha=0.5, weight_decay=0.01)",
    "Lion(lr=0.001, weight_decay=0.1)",
    "Yogi(lr=0.01)",
    "AdaBelief(lr=0.01, weight_decay=0.01)",
    "AdaBelief(lr=0.01, weight_decay=0.01, rectify=True)",
    "AdaBelief(lr=0.01, betas=(0.9, 0.5), rectify=True, degenerated_to_sgd=False)",
    "FTRL(lr=0.1, l1_regularization_strength=0.01, l2_regularization_strength=0.01, beta=0.1)",
    "FTRL(lr=0.1, learning_rate_power=-0.3, l2_shrinkage_regularization_strength=0.05)",
    "ScheduleFreeSGD(lr=0.05, warmup_steps=3, weight_decay=0.01)",
    "ScheduleFreeAdamW(lr=0.01, warmup_steps=2, weight_decay=0.01)",
    "LAMB(lr=0.01, weight_decay=0.01)",
    "Adafactor(lr=0.01, weight_decay=0.01)",
    "Adafactor(lr=0.05, eps=(1e-20, 1e-3), d=2, maximize=True)",
};
#define NCONFIGS ((int)(sizeof CONFIGS / sizeof CONFIGS[0]))

/* The second group's overrides (weight_decay where the optimizer has it). */
#define GROUP1_OVERRIDES "lr=0.003, weight_decay=0.02"
#define GROUP1_OVERRIDES_LR "lr=0.003"

#define MAXT 4

/* An optimizer with two groups and up to four tensors it owns. */
typedef struct rig {
    descent_optimizer *opt;
    int ntensors;
    size_t n[MAXT];
    descent_dtype dtype[MAXT];
    int group[MAXT];
    void *param[MAXT], *grad[MAXT];
} rig;


/* dtype_mode: 0 all f32, 1 all f64, 2 mixed. sizes: NULL for the default. */
static int rig_make(rig *r, const char *spec, int dtype_mode, const size_t *sizes, const descent_allocator *alloc)
{
    static const size_t default_sizes[MAXT] = {7, 33, 5, 64};
    memset(r, 0, sizeof *r);
    descent_error err;
    if (descent_create_from_spec(&r->opt, spec, alloc, &err) < 0) {
        CHECK(0, "create %s: %s", spec, err.message);
        return -1;
    }
    int g0 = descent_add_group(r->opt, NULL);
    double wd;
    int has_wd = descent_get(r->opt, 0, "weight_decay", &wd) == 0;
    int g1 = descent_add_group_spec(r->opt, has_wd ? GROUP1_OVERRIDES : GROUP1_OVERRIDES_LR);
    CHECK(g0 == 0 && g1 == 1, "%s: groups %d %d: %s", spec, g0, g1, descent_errmsg(r->opt));
    r->ntensors = MAXT;
    for (int t = 0; t < MAXT; t++) {
        r->n[t] = sizes ? sizes[t] : default_sizes[t];
        r->dtype[t] = dtype_mode == 2 ? (t % 2 ? DESCENT_F64 : DESCENT_F32) : (descent_dtype)dtype_mode;
        r->group[t] = t < 2 ? 0 : 1;
        r->param[t] = calloc(r->n[t], t_dsize(r->dtype[t]));
        r->grad[t] = calloc(r->n[t], t_dsize(r->dtype[t]));
        for (size_t i = 0; i < r->n[t]; i++)
            t_set_elem(r->param[t], r->dtype[t], i, cos(0.3 * (double)i + t));
        int idx = descent_add_tensor(r->opt, r->group[t], r->param[t], r->grad[t], r->n[t], r->dtype[t]);
        CHECK(idx == t, "%s: add_tensor %d: %s", spec, t, descent_errmsg(r->opt));
    }
    return 0;
}

static void rig_free(rig *r)
{
    descent_destroy(r->opt);
    for (int t = 0; t < r->ntensors; t++) {
        free(r->param[t]);
        free(r->grad[t]);
    }
    memset(r, 0, sizeof *r);
}

/* The gradient at global step s depends on the parameters, so trajectories
 * diverge as soon as any parameter differs. */
static void rig_grads(rig *r, int s)
{
    for (int t = 0; t < r->ntensors; t++)
        for (size_t i = 0; i < r->n[t]; i++) {
            double p = t_get_elem(r->param[t], r->dtype[t], i);
            t_set_elem(r->grad[t], r->dtype[t], i, 0.3 * p + sin(0.7 * s + 0.37 * (double)i + t) * (1 + (double)(i % 3)));
        }
}

static void rig_run(rig *r, int from, int steps)
{
    for (int s = from; s < from + steps; s++) {
        rig_grads(r, s);
        int rc = descent_step(r->opt);
        CHECK(rc == 0, "step: %s", descent_errmsg(r->opt));
    }
}

static void rig_copy_params(rig *dst, const rig *src)
{
    for (int t = 0; t < src->ntensors; t++)
        memcpy(dst->param[t], src->param[t], src->n[t] * t_dsize(src->dtype[t]));
}

static int rig_params_equal(const rig *a, const rig *b)
{
    for (int t = 0; t < a->ntensors; t++)
        if (memcmp(a->param[t], b->param[t], a->n[t] * t_dsize(a->dtype[t])) != 0)
            return 0;
    return 1;
}

/* The optimizer's own checkpoint image: equal images mean equal state. */
static unsigned char *snapshot(const descent_optimizer *opt, size_t *len)
{
    size_t n = 0;
    if (descent_save_mem(opt, NULL, 0, &n) < 0)
        return NULL;
    unsigned char *buf = malloc(n);
    if (buf && descent_save_mem(opt, buf, n, len) < 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int same_snapshot(const descent_optimizer *opt, const unsigned char *snap, size_t len)
{
    size_t n;
    unsigned char *now = snapshot(opt, &n);
    int same = now && n == len && memcmp(now, snap, len) == 0;
    free(now);
    return same;
}

static int contains(const char *hay, const char *needle) { return hay && strstr(hay, needle) != NULL; }

/* Column of the first '^' of a spec error message ("msg\n  text\n  ^^^"),
 * relative to the quoted text; -1 if there is no caret line. */
static int caret_column(const char *msg)
{
    const char *line = strrchr(msg, '\n');
    if (!line || strncmp(line + 1, "  ", 2) != 0)
        return -1;
    const char *c = strchr(line + 1, '^');
    return c ? (int)(c - (line + 3)) : -1;
}

/* Independent CRC-32 (IEEE, reflected), bit by bit, to forge checkpoints
 * whose checksum is right but whose content is not. */
static uint32_t crc32_bitwise(const unsigned char *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void fix_crc(unsigned char *b, size_t len)
{
    uint32_t c = crc32_bitwise(b, len - 4);
    for (int i = 0; i < 4; i++)
        b[len - 4 + (size_t)i] = (unsigned char)(c >> (8 * i));
}

static descent_optimizer *make1(const char *spec, double *p, const double *g, size_t n)
{
    descent_error err;
    descent_optimizer *opt = NULL;
    if (descent_create_from_spec(&opt, spec, NULL, &err) < 0) {
        CHECK(0, "create %s: %s", spec, err.message);
        return NULL;
    }
    int g0 = descent_add_group(opt, NULL);
    CHECK(descent_add_tensor(opt, g0, p, g, n, DESCENT_F64) == 0, "%s: %s", spec, descent_errmsg(opt));
    return opt;
}

/* descent_set_prefetch changes how the step walks memory, never what it
 * computes: off, the default and several block sizes give the same bits,
 * for an optimizer with the default block and for SGD with momentum, whose
 * block is its own; values that are not a block are refused and named. */
static void test_prefetch(void)
{
    enum { N = 200003 }; /* several chunks, an odd tail */
    static float p[5][N], g[N];
    static const int blocks[5] = {0, -1, 64, 1024, 65536};
    static const char *const specs[] = {"AdamW(lr=0.01)", "SGD(lr=0.1, momentum=0.9)"};
    for (size_t s = 0; s < 2; s++) {
        for (int k = 0; k < 5; k++) {
            for (size_t i = 0; i < N; i++) {
                p[k][i] = (float)(i % 101) * 0.01f;
                g[i] = (float)((int)(i % 13) - 6) * 0.1f;
            }
            descent_optimizer *opt;
            descent_error err;
            if (descent_create_from_spec(&opt, specs[s], NULL, &err) < 0) {
                CHECK(0, "%s: %s", specs[s], err.message);
                return;
            }
            descent_add_tensor(opt, descent_add_group(opt, NULL), p[k], g, N, DESCENT_F32);
            CHECK(descent_set_prefetch(opt, blocks[k]) == 0, "prefetch %d: %s", blocks[k], descent_errmsg(opt));
            for (int step = 0; step < 3; step++)
                descent_step(opt);
            if (k == 0) {
                static const int bad[] = {-2, 1, 100, 65600};
                for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++)
                    CHECK(descent_set_prefetch(opt, bad[b]) == DESCENT_ERR_INVALID &&
                              strstr(descent_errmsg(opt), "prefetch block") != NULL,
                          "prefetch %d accepted: %s", bad[b], descent_errmsg(opt));
            }
            descent_destroy(opt);
            CHECK(k == 0 || memcmp(p[k], p[0], sizeof p[0]) == 0, "%s: prefetch %d changed the step", specs[s],
                  blocks[k]);
        }
    }
    CHECK(descent_set_prefetch(NULL, 0) == DESCENT_ERR_INVALID, "set_prefetch(NULL)");
}

/* The checksum a saved checkpoint carries is CRC-32 (IEEE) of everything
 * before it, computed here bit by bit: for images long enough to take the
 * library's eight-bytes-per-round path, and of every length mod 8. */
static void test_checkpoint_crc(void)
{
    static double p[5003], g[5003];
    static unsigned char img[1 << 17];
    for (size_t i = 0; i < 5003; i++) {
        p[i] = (double)i * 1e-3;
        g[i] = (double)(i % 17) - 8.0;
    }
    for (size_t n = 4990; n < 5003; n++) {
        descent_optimizer *opt = make1("Adam(lr=0.01)", p, g, n);
        if (!opt)
            return;
        descent_step(opt);
        size_t len = 0;
        CHECK(descent_save_mem(opt, img, sizeof img, &len) == 0 && len > 4096, "save: %s", descent_errmsg(opt));
        uint32_t want = crc32_bitwise(img, len - 4);
        uint32_t got = (uint32_t)img[len - 4] | (uint32_t)img[len - 3] << 8 | (uint32_t)img[len - 2] << 16 |
                       (uint32_t)img[len - 1] << 24;
        CHECK(got == want, "n=%zu (%zu bytes): stored CRC %08x, bitwise CRC %08x", n, len, got, want);
        descent_destroy(opt);
    }
}

/* ------------------------------------------------------------------------ */
/* 1. The seed's formulas, computed here independently                       */

#define N 5
#define STEPS 14

static double grad_at(int t, int i) { return sin(1.3 * t + 0.7 * i) + 0.1 * i; }

/* lr changes after step 5, as a schedule would change it. */
static double lr_at(int t) { return t <= 5 ? 0.1 : 0.02; }

static void close_all(const char *what, const double *a, const double *b, int n, double rtol, int t)
{
    int ok = 1;
    for (int i = 0; i < n; i++)
        ok &= t_close(a[i], b[i], rtol, 1e-300);
    CHECK(ok, "%s: step %d: %.17g vs reference %.17g", what, t, a[0], b[0]);
}

static void test_momentum_forms(void)
{
    const double beta = 0.9, wd = 0.05;
    const char *forms[] = {"ewma", "accumulate", "direct"};
    double final[3][N];
    double at5[3][N];
    for (int f = 0; f < 3; f++) {
        for (int maximize = 0; maximize < 2; maximize++) {
            char spec[200];
            snprintf(spec, sizeof spec, "SGD(lr=0.1, momentum=0.9, momentum_form='%s', weight_decay=0.05%s)", forms[f],
                     maximize ? ", maximize=True" : "");
            double p[N], g[N], ref[N], v[N];
            for (int i = 0; i < N; i++) {
                p[i] = ref[i] = 1.0 - 0.3 * i;
                v[i] = 0;
            }
            descent_optimizer *opt = make1(spec, p, g, N);
            if (!opt)
                return;
            for (int t = 1; t <= STEPS; t++) {
                double lr = lr_at(t);
                CHECK(descent_set_lr(opt, 0, lr) == 0, "%s", descent_errmsg(opt));
                for (int i = 0; i < N; i++)
                    g[i] = grad_at(t, i);
                CHECK(descent_step(opt) == 0, "%s", descent_errmsg(opt));
                for (int i = 0; i < N; i++) {
                    double d = (maximize ? -g[i] : g[i]) + wd * ref[i];
                    if (f == 0) { /* v = beta v + (1 - beta) g;  w -= lr v */
                        v[i] = beta * v[i] + (1 - beta) * d;
                        ref[i] -= lr * v[i];
                    } else if (f == 1) { /* v = beta v + g;  w -= lr v */
                        v[i] = beta * v[i] + d;
                        ref[i] -= lr * v[i];
                    } else { /* v = beta v + lr g;  w -= v */
                        v[i] = beta * v[i] + lr * d;
                        ref[i] -= v[i];
                    }
                }
                close_all(spec, p, ref, N, 1e-13, t);
                if (t == 5 && !maximize)
                    memcpy(at5[f], p, sizeof p);
            }
            if (!maximize)
                memcpy(final[f], p, sizeof p);
            descent_destroy(opt);
        }
    }
    /* With a constant lr, direct and accumulate coincide (v_direct = lr v_acc)... */
    close_all("direct == accumulate while lr is constant", at5[2], at5[1], N, 1e-12, 5);
    /* ...and differ once lr changes: direct keeps velocity earned at the old lr. */
    double diff = 0;
    for (int i = 0; i < N; i++)
        diff = fmax(diff, fabs(final[2][i] - final[1][i]));
    CHECK(diff > 1e-3, "direct and accumulate should differ after the lr change, max diff %g", diff);

    /* ewma with lr equals accumulate with lr (1 - beta), for a constant lr. */
    {
        double p1[N], p2[N], g[N];
        for (int i = 0; i < N; i++)
            p1[i] = p2[i] = 0.5 * i - 1;
        descent_optimizer *a = make1("SGD(lr=0.2, momentum=0.9, momentum_form='ewma')", p1, g, N);
        descent_optimizer *b = make1("SGD(lr=0.02, momentum=0.9, momentum_form='accumulate')", p2, g, N);
        for (int t = 1; a && b && t <= STEPS; t++) {
            for (int i = 0; i < N; i++)
                g[i] = grad_at(t, i);
            descent_step(a);
            descent_step(b);
        }
        close_all("ewma(lr) == accumulate(lr (1 - beta))", p1, p2, N, 1e-12, STEPS);
        descent_destroy(a);
        descent_destroy(b);
    }

    /* torch with dampening = 0 is accumulate: the first-step copy of g is
     * beta * 0 + g. */
    {
        double p1[N], p2[N], g[N];
        for (int i = 0; i < N; i++)
            p1[i] = p2[i] = 0.5 * i - 1;
        descent_optimizer *a = make1("SGD(lr=0.2, momentum=0.9)", p1, g, N);
        descent_optimizer *b = make1("SGD(lr=0.2, momentum=0.9, momentum_form='accumulate')", p2, g, N);
        for (int t = 1; a && b && t <= STEPS; t++) {
            for (int i = 0; i < N; i++)
                g[i] = grad_at(t, i);
            descent_step(a);
            descent_step(b);
        }
        CHECK(memcmp(p1, p2, sizeof p1) == 0, "torch(dampening=0) should equal accumulate bit for bit");
        descent_destroy(a);
        descent_destroy(b);
    }

    /* PyTorch's form: b = g on the first step, b = mu b + (1 - dampening) g
     * after; nesterov uses g + mu b. */
    for (int nesterov = 0; nesterov < 2; nesterov++) {
        const double mu = 0.8, damp = nesterov ? 0 : 0.3;
        char spec[200];
        snprintf(spec, sizeof spec, "SGD(lr=0.1, momentum=0.8, dampening=%g, nesterov=%s)", damp,
                 nesterov ? "True" : "False");
        double p[N], g[N], ref[N], b[N];
        for (int i = 0; i < N; i++)
            p[i] = ref[i] = 0.2 * i;
        descent_optimizer *opt = make1(spec, p, g, N);
        for (int t = 1; opt && t <= STEPS; t++) {
            for (int i = 0; i < N; i++)
                g[i] = grad_at(t, i);
            descent_step(opt);
            for (int i = 0; i < N; i++) {
                b[i] = t == 1 ? g[i] : mu * b[i] + (1 - damp) * g[i];
                ref[i] -= 0.1 * (nesterov ? g[i] + mu * b[i] : b[i]);
            }
            close_all(spec, p, ref, N, 1e-13, t);
        }
        descent_destroy(opt);
    }
}

/* Small gradients so that an epsilon of 1e-6 inside the root matters. */
static double small_grad(int t, int i) { return 1e-3 * (sin(0.9 * t + 1.1 * i) + 0.3); }

typedef void (*ref_step_fn)(double *p, const double *g, double *s0, double *s1, double *s2, int t, int n);

static const double ER = 1e-6; /* eps_root in these checks */

/* Adagrad, seed form: G += g^2;  w -= clr g / sqrt(G + e), clr = lr / (1 + (t-1) lr_decay). */
static void ref_adagrad(double *p, const double *g, double *G, double *u1, double *u2, int t, int n)
{
    (void)u1;
    (void)u2;
    double clr = 0.1 / (1 + (t - 1) * 0.05);
    for (int i = 0; i < n; i++) {
        G[i] += g[i] * g[i];
        p[i] -= clr * g[i] / sqrt(G[i] + ER);
    }
}

/* RMSprop, seed form: v = a v + (1 - a) g^2;  w -= lr g / sqrt(v + e). */
static void ref_rmsprop(double *p, const double *g, double *v, double *u1, double *u2, int t, int n)
{
    (void)u1;
    (void)u2;
    (void)t;
    for (int i = 0; i < n; i++) {
        v[i] = 0.9 * v[i] + 0.1 * g[i] * g[i];
        p[i] -= 0.01 * g[i] / sqrt(v[i] + ER);
    }
}

/* Centered RMSprop with momentum: a = alpha a + (1-alpha) g;
 * b = mu b + g / sqrt(v - a^2 + e);  w -= lr b. */
static void ref_rmsprop_centered(double *p, const double *g, double *v, double *a, double *b, int t, int n)
{
    (void)t;
    for (int i = 0; i < n; i++) {
        v[i] = 0.9 * v[i] + 0.1 * g[i] * g[i];
        a[i] = 0.9 * a[i] + 0.1 * g[i];
        b[i] = 0.5 * b[i] + g[i] / sqrt(v[i] - a[i] * a[i] + ER);
        p[i] -= 0.01 * b[i];
    }
}

/* Adam, seed form: w -= lr / sqrt(v_hat + e) * m_hat. */
static void ref_adam(double *p, const double *g, double *m, double *v, double *u, int t, int n)
{
    (void)u;
    for (int i = 0; i < n; i++) {
        m[i] = 0.9 * m[i] + 0.1 * g[i];
        v[i] = 0.99 * v[i] + 0.01 * g[i] * g[i];
        double mh = m[i] / (1 - pow(0.9, t)), vh = v[i] / (1 - pow(0.99, t));
        p[i] -= 0.01 / sqrt(vh + ER) * mh;
    }
}

/* AMSGrad: the max of the raw v, then bias-corrected inside the root. */
static void ref_amsgrad(double *p, const double *g, double *m, double *v, double *vmax, int t, int n)
{
    for (int i = 0; i < n; i++) {
        m[i] = 0.9 * m[i] + 0.1 * g[i];
        v[i] = 0.99 * v[i] + 0.01 * g[i] * g[i];
        vmax[i] = fmax(vmax[i], v[i]);
        double mh = m[i] / (1 - pow(0.9, t)), vh = vmax[i] / (1 - pow(0.99, t));
        p[i] -= 0.01 / sqrt(vh + ER) * mh;
    }
}

/* AdamW: w *= 1 - lr wd, then Adam's seed update. */
static void ref_adamw(double *p, const double *g, double *m, double *v, double *u, int t, int n)
{
    for (int i = 0; i < n; i++)
        p[i] *= 1 - 0.01 * 0.1;
    ref_adam(p, g, m, v, u, t, n);
}

/* NAdam (torch 1.13 momentum schedule) with the root over v_hat + e. */
static void ref_nadam(double *p, const double *g, double *m, double *v, double *prod, int t, int n)
{
    double mu = 0.9 * (1 - 0.5 * pow(0.96, t * 0.004));
    double mu_next = 0.9 * (1 - 0.5 * pow(0.96, (t + 1) * 0.004));
    prod[0] = (t == 1 ? 1.0 : prod[0]) * mu;
    double prod_next = prod[0] * mu_next; /* torch 2.x and Dozat: P_t mu_{t+1} */
    for (int i = 0; i < n; i++) {
        m[i] = 0.9 * m[i] + 0.1 * g[i];
        v[i] = 0.99 * v[i] + 0.01 * g[i] * g[i];
        double denom = sqrt(v[i] / (1 - pow(0.99, t)) + ER);
        p[i] -= 0.01 * (1 - mu) / (1 - prod[0]) * g[i] / denom;
        p[i] -= 0.01 * mu_next / (1 - prod_next) * m[i] / denom;
    }
}

/* RAdam: rectified when rho_t > 5, with 1/sqrt(v_hat + e). */
static void ref_radam(double *p, const double *g, double *m, double *v, double *u, int t, int n)
{
    (void)u;
    double b1 = 0.9, b2 = 0.99;
    double rho_inf = 2 / (1 - b2) - 1;
    double rho_t = rho_inf - 2 * t * pow(b2, t) / (1 - pow(b2, t));
    for (int i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        double mh = m[i] / (1 - pow(b1, t)), vh = v[i] / (1 - pow(b2, t));
        if (rho_t > 5) {
            double r = sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t));
            p[i] -= 0.01 * mh * r / sqrt(vh + ER);
        } else {
            p[i] -= 0.01 * mh;
        }
    }
}

static void test_eps_root(void)
{
    static const struct {
        const char *spec;      /* eps = 0, eps_root = 1e-6: the seed's formula */
        const char *spec_out;  /* the same with eps = 1e-6 outside the root */
        ref_step_fn ref;
    } cases[] = {
        {"Adagrad(lr=0.1, lr_decay=0.05, eps=0, eps_root=1e-6)", "Adagrad(lr=0.1, lr_decay=0.05, eps=1e-6)", ref_adagrad},
        {"RMSprop(lr=0.01, alpha=0.9, eps=0, eps_root=1e-6)", "RMSprop(lr=0.01, alpha=0.9, eps=1e-6)", ref_rmsprop},
        {"RMSprop(lr=0.01, alpha=0.9, eps=0, eps_root=1e-6, centered=True, momentum=0.5)",
         "RMSprop(lr=0.01, alpha=0.9, eps=1e-6, centered=True, momentum=0.5)", ref_rmsprop_centered},
        {"Adam(lr=0.01, betas=(0.9, 0.99), eps=0, eps_root=1e-6)", "Adam(lr=0.01, betas=(0.9, 0.99), eps=1e-6)", ref_adam},
        {"Adam(lr=0.01, betas=(0.9, 0.99), eps=0, eps_root=1e-6, amsgrad=True)",
         "Adam(lr=0.01, betas=(0.9, 0.99), eps=1e-6, amsgrad=True)", ref_amsgrad},
        {"AdamW(lr=0.01, betas=(0.9, 0.99), eps=0, eps_root=1e-6, weight_decay=0.1)",
         "AdamW(lr=0.01, betas=(0.9, 0.99), eps=1e-6, weight_decay=0.1)", ref_adamw},
        {"NAdam(lr=0.01, betas=(0.9, 0.99), eps=0, eps_root=1e-6)", "NAdam(lr=0.01, betas=(0.9, 0.99), eps=1e-6)", ref_nadam},
        {"RAdam(lr=0.01, betas=(0.9, 0.99), eps=0, eps_root=1e-6)", "RAdam(lr=0.01, betas=(0.9, 0.99), eps=1e-6)", ref_radam},
    };
    const int steps = 20; /* RAdam rectifies from t = 6 with beta2 = 0.99 */
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double p[N], q[N], g[N], ref[N], s0[N] = {0}, s1[N] = {0}, s2[N] = {0};
        for (int i = 0; i < N; i++)
            p[i] = q[i] = ref[i] = 0.1 * i - 0.2;
        descent_optimizer *opt = make1(cases[c].spec, p, g, N);
        descent_optimizer *out = make1(cases[c].spec_out, q, g, N);
        if (!opt || !out)
            continue;
        for (int t = 1; t <= steps; t++) {
            for (int i = 0; i < N; i++)
                g[i] = small_grad(t, i);
            descent_step(opt);
            descent_step(out);
            cases[c].ref(ref, g, s0, s1, s2, t, N);
            close_all(cases[c].spec, p, ref, N, 1e-12, t);
        }
        /* Inside and outside the root are different methods at this scale. */
        double diff = 0;
        for (int i = 0; i < N; i++)
            diff = fmax(diff, fabs(p[i] - q[i]));
        CHECK(diff > 1e-6, "%s: eps inside vs outside the root should differ, max diff %g", cases[c].spec, diff);
        descent_destroy(opt);
        descent_destroy(out);
    }
}

/* Degenerate settings whose answer is exact in floating point:
 * sqrt(fl(g*g)) == |g| in IEEE arithmetic, 0^t = 0 makes every bias
 * correction 1, so each update is p - lr g / (|g| + eps) term for term. */
static void test_closed_forms(void)
{
    static const struct {
        const char *spec;
        int kind; /* 0: p - lr g/(|g|+eps); 1: p - lr g; 2: AdamW (p (1 - lr wd)) - lr g/(|g|+eps) */
        int steps;
    } cases[] = {
        {"Adam(lr=0.1, betas=(0, 0), eps=1e-3)", 0, 6},
        {"Adam(lr=0.1, betas=(0, 0), eps=1e-3, amsgrad=False)", 0, 6},
        {"Adamax(lr=0.1, betas=(0, 0), eps=1e-3)", 0, 6},
        {"RMSprop(lr=0.1, alpha=0, eps=1e-3)", 0, 6},
        {"NAdam(lr=0.1, betas=(0, 0), eps=1e-3)", 0, 6},
        {"Adagrad(lr=0.1, eps=1e-3)", 0, 1},
        {"SGD(lr=0.1)", 1, 6},
        {"RAdam(lr=0.1, betas=(0, 0))", 1, 6}, /* rho_t = 1 <= 5: never rectified */
        {"AdamW(lr=0.1, betas=(0, 0), eps=1e-3, weight_decay=0.5)", 2, 6},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double p[N], g[N], ref[N];
        for (int i = 0; i < N; i++)
            p[i] = ref[i] = 0.25 * i - 0.5;
        descent_optimizer *opt = make1(cases[c].spec, p, g, N);
        if (!opt)
            continue;
        int exact = 1;
        for (int t = 1; t <= cases[c].steps; t++) {
            for (int i = 0; i < N; i++)
                g[i] = grad_at(t, i) * (i == 2 ? 1e-4 : 1); /* one element near eps */
            descent_step(opt);
            for (int i = 0; i < N; i++) {
                if (cases[c].kind == 0)
                    ref[i] = ref[i] + (-0.1) * g[i] / (fabs(g[i]) + 1e-3);
                else if (cases[c].kind == 1)
                    ref[i] = ref[i] - g[i] * 0.1;
                else
                    ref[i] = ref[i] * (1 - 0.1 * 0.5) + (-0.1) * g[i] / (fabs(g[i]) + 1e-3);
                exact &= p[i] == ref[i];
            }
        }
        CHECK(exact, "%s: closed form not reproduced exactly: %.17g vs %.17g", cases[c].spec, p[0], ref[0]);
        descent_destroy(opt);
    }
}

/* ------------------------------------------------------------------------ */
/* 2. Invalid hyperparameters                                                */

/* The optimizers come from the registry (descent_optimizer_name) and their
 * arguments from descent_hparam_describe: a new optimizer is tested here
 * without an edit. */
typedef struct opt_args {
    const char *name;
} opt_args;

/* The type of optimizer o's argument arg, or -1 when it takes no such argument. */
static int arg_type(const opt_args *o, const char *arg)
{
    descent_hparam_info info;
    for (int i = 0; descent_hparam_describe(o->name, i, &info) == 0; i++)
        if (strcmp(info.name, arg) == 0)
            return info.type;
    return -1;
}

static int takes(const opt_args *o, const char *arg) { return arg_type(o, arg) >= 0; }

/* Spec text of a value an argument accepts: its default. */
static void default_text(const descent_hparam_info *info, char *buf, size_t cap)
{
    const double *v = info->default_value;
    switch (info->type) {
    case DESCENT_HPARAM_BOOL:
        snprintf(buf, cap, "%s", v[0] != 0 ? "True" : "False");
        break;
    case DESCENT_HPARAM_CHOICE:
        snprintf(buf, cap, "'%s'", info->choices[(int)v[0]]);
        break;
    case DESCENT_HPARAM_PAIR:
        if (isnan(v[0]))
            snprintf(buf, cap, "(None, %.17g)", v[1]);
        else
            snprintf(buf, cap, "(%.17g, %.17g)", v[0], v[1]);
        break;
    default:
        snprintf(buf, cap, "%.17g", v[0]);
    }
}

/* Out-of-range values: argument, spec text, set name, set value, value as printed. */
static const struct {
    const char *arg, *text, *set_name;
    double value;
    const char *shown;
    int off; /* where the offending number starts in text */
} BAD[] = {
    {"lr", "-0.5", "lr", -0.5, "-0.5", 0},
    {"momentum", "-0.5", "momentum", -0.5, "-0.5", 0},
    {"dampening", "-0.5", "dampening", -0.5, "-0.5", 0},
    {"weight_decay", "-0.5", "weight_decay", -0.5, "-0.5", 0},
    {"lr_decay", "-0.5", "lr_decay", -0.5, "-0.5", 0},
    {"initial_accumulator_value", "-0.5", "initial_accumulator_value", -0.5, "-0.5", 0},
    {"eps", "-0.5", "eps", -0.5, "-0.5", 0},
    {"eps_root", "-0.25", "eps_root", -0.25, "-0.25", 0},
    {"alpha", "-0.5", "alpha", -0.5, "-0.5", 0},
    {"rho", "1.5", "rho", 1.5, "1.5", 0},
    {"rho", "-0.5", "rho", -0.5, "-0.5", 0},
    {"momentum_decay", "-0.5", "momentum_decay", -0.5, "-0.5", 0},
    {"betas", "(0.9, 1.5)", "betas[1]", 1.5, "1.5", 6},
    {"betas", "(0.9, 1)", "betas[1]", 1.0, "got 1", 6},
    {"betas", "(0.9, -0.5)", "betas[1]", -0.5, "-0.5", 6},
    {"betas", "(1.5, 0.9)", "betas[0]", 1.5, "1.5", 1},
    {"betas", "(1.0, 0.9)", "betas[0]", 1.0, "got 1", 1},
    {"betas", "(-0.25, 0.9)", "betas[0]", -0.25, "-0.25", 1},
    {"lr", "inf", "lr", INFINITY, "inf", 0},
    {"lr", "nan", "lr", NAN, "nan", 0},
};

/* descent_hparam_describe against torch.optim.Adam's signature
 * (lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False)
 * and SGD's momentum_form choices; every argument of every optimizer has a
 * one-line meaning and a default inside its bounds. */
static void test_hparam_describe(void)
{
    descent_hparam_info info;
    CHECK(descent_hparam_count("NoSuch") == DESCENT_ERR_INVALID, "count of an unknown optimizer");
    CHECK(descent_hparam_describe("NoSuch", 0, &info) == DESCENT_ERR_INVALID, "describe an unknown optimizer");
    CHECK(descent_hparam_describe("Adam", -1, &info) == DESCENT_ERR_INVALID, "describe index -1");
    CHECK(descent_hparam_describe("Adam", descent_hparam_count("Adam"), &info) == DESCENT_ERR_INVALID,
          "describe past the end");
    CHECK(descent_hparam_describe("Adam", 0, NULL) == DESCENT_ERR_INVALID, "describe into NULL");
    CHECK(descent_hparam_count("adam") == descent_hparam_count("Adam"), "alias");
    int found = 0;
    for (int i = 0; descent_hparam_describe("Adam", i, &info) == 0; i++) {
        if (strcmp(info.name, "lr") == 0)
            CHECK(++found && i == 0 && info.type == DESCENT_HPARAM_REAL && info.default_value[0] == 1e-3 &&
                               info.lo == 0 && !info.lo_open && isinf(info.hi),
                           "Adam lr");
        if (strcmp(info.name, "betas") == 0)
            CHECK(++found && info.type == DESCENT_HPARAM_PAIR && info.default_value[0] == 0.9 &&
                               info.default_value[1] == 0.999 && info.lo == 0 && info.hi == 1 && info.hi_open,
                           "Adam betas");
        if (strcmp(info.name, "eps") == 0)
            CHECK(++found && info.type == DESCENT_HPARAM_REAL && info.default_value[0] == 1e-8, "Adam eps");
        if (strcmp(info.name, "amsgrad") == 0)
            CHECK(++found && info.type == DESCENT_HPARAM_BOOL && info.default_value[0] == 0, "Adam amsgrad");
    }
    CHECK(found == 4, "Adam: %d of lr, betas, eps, amsgrad described", found);
    found = 0;
    for (int i = 0; descent_hparam_describe("SGD", i, &info) == 0; i++)
        if (strcmp(info.name, "momentum_form") == 0)
            CHECK(++found && info.type == DESCENT_HPARAM_CHOICE && info.choices && strcmp(info.choices[0], "torch") == 0 &&
                               info.default_value[0] == 0 && info.hi >= 3,
                           "SGD momentum_form");
    CHECK(found == 1, "SGD momentum_form described");
    for (int o = 0; o < descent_optimizer_count(); o++) {
        const char *name = descent_optimizer_name(o);
        CHECK(descent_hparam_count(name) > 0, "%s has no arguments", name);
        for (int i = 0; descent_hparam_describe(name, i, &info) == 0; i++) {
            CHECK(info.name && info.name[0], "%s argument %d has no name", name, i);
            CHECK(info.meaning && strlen(info.meaning) > 8, "%s(%s) has no one-line meaning", name, info.name);
            for (int k = 0; k < (info.type == DESCENT_HPARAM_PAIR ? 2 : 1); k++) {
                double v = info.default_value[k];
                if (isnan(v) && info.none_ok)
                    continue;
                int ok = info.lo_open ? v > info.lo : v >= info.lo;
                ok = ok && (info.hi_open ? v < info.hi : v <= info.hi);
                CHECK(ok, "%s(%s): default %g outside its bounds", name, info.name, v);
            }
        }
    }
}

static void test_invalid_hparams(void)
{
    descent_error err;
    char spec[256];
    CHECK(descent_optimizer_count() >= 20, "registry lists %d optimizers", descent_optimizer_count());
    for (int o = 0; o < descent_optimizer_count(); o++) {
        const opt_args oa_ = {descent_optimizer_name(o)}, *oa = &oa_;
        /* Which arguments exist: each argument of every optimizer, at the
         * default of its owner, is accepted iff this optimizer takes it. */
        for (int p = 0; p < descent_optimizer_count(); p++) {
            descent_hparam_info info;
            for (int i = 0; descent_hparam_describe(descent_optimizer_name(p), i, &info) == 0; i++) {
                descent_hparam_info mine;
                int t = arg_type(oa, info.name);
                char text[96];
                if (t >= 0) {
                    for (int j = 0; descent_hparam_describe(oa->name, j, &mine) == 0; j++)
                        if (strcmp(mine.name, info.name) == 0)
                            break;
                    default_text(&mine, text, sizeof text);
                } else {
                    snprintf(text, sizeof text, "1");
                }
                snprintf(spec, sizeof spec, "%s(%s=%s)", oa->name, info.name, text);
                descent_optimizer *opt = NULL;
                int rc = descent_create_from_spec(&opt, spec, NULL, &err);
                if (t >= 0) {
                    CHECK(rc == 0 && opt, "%s should be accepted: %s", spec, rc < 0 ? err.message : "");
                } else {
                    CHECK(rc < 0 && !opt, "%s should be rejected", spec);
                    if (rc < 0) {
                        char want[80];
                        snprintf(want, sizeof want, "no argument '%s'", info.name);
                        CHECK(contains(err.message, want), "%s: message '%s'", spec, err.message);
                        CHECK(caret_column(err.message) == (int)strlen(oa->name) + 1, "%s: caret in '%s'", spec,
                              err.message);
                    }
                }
                descent_destroy(opt);
            }
        }
        /* Every bound, through the three entry points (where the argument
         * has the type the bad value is written for). */
        for (size_t b = 0; b < sizeof BAD / sizeof BAD[0]; b++) {
            int bt = arg_type(oa, BAD[b].arg);
            if (bt != (BAD[b].text[0] == '(' ? DESCENT_HPARAM_PAIR : DESCENT_HPARAM_REAL))
                continue;
            snprintf(spec, sizeof spec, "%s(%s=%s)", oa->name, BAD[b].arg, BAD[b].text);
            descent_optimizer *opt = NULL;
            int rc = descent_create_from_spec(&opt, spec, NULL, &err);
            CHECK(rc == DESCENT_ERR_INVALID && !opt, "%s: rc %d", spec, rc);
            if (rc < 0) {
                CHECK(contains(err.message, BAD[b].set_name) && contains(err.message, BAD[b].shown),
                      "%s: message does not name %s and %s: %s", spec, BAD[b].set_name, BAD[b].shown, err.message);
                /* The caret sits under the offending value. */
                int want = (int)(strstr(spec, BAD[b].text) - spec) + BAD[b].off;
                CHECK(caret_column(err.message) == want, "%s: caret at %d, want %d: %s", spec,
                      caret_column(err.message), want, err.message);
            }
            /* descent_set: rejected at once, nothing changes. */
            snprintf(spec, sizeof spec, "%s(lr=0.01)", oa->name);
            double p[3] = {1, 2, 3}, g[3] = {0.1, 0.2, 0.3};
            opt = make1(spec, p, g, 3);
            if (!opt)
                continue;
            descent_step(opt);
            size_t len;
            unsigned char *before = snapshot(opt, &len);
            double old = 0, now = 0;
            descent_get(opt, 0, BAD[b].set_name, &old);
            rc = descent_set(opt, 0, BAD[b].set_name, BAD[b].value);
            CHECK(rc == DESCENT_ERR_INVALID, "set %s %s = %g: rc %d", oa->name, BAD[b].set_name, BAD[b].value, rc);
            CHECK(contains(descent_errmsg(opt), BAD[b].set_name) && contains(descent_errmsg(opt), BAD[b].shown),
                  "set %s %s: message '%s'", oa->name, BAD[b].set_name, descent_errmsg(opt));
            descent_get(opt, 0, BAD[b].set_name, &now);
            CHECK(now == old, "set %s %s: value changed to %g", oa->name, BAD[b].set_name, now);
            CHECK(same_snapshot(opt, before, len), "set %s %s: optimizer changed", oa->name, BAD[b].set_name);
            rc = descent_set(opt, -1, BAD[b].set_name, BAD[b].value);
            CHECK(rc == DESCENT_ERR_INVALID && same_snapshot(opt, before, len), "set all %s %s: rc %d", oa->name,
                  BAD[b].set_name, rc);
            /* descent_add_group_spec: no group is added. */
            snprintf(spec, sizeof spec, "%s=%s", BAD[b].arg, BAD[b].text);
            rc = descent_add_group_spec(opt, spec);
            CHECK(rc < 0 && descent_num_groups(opt) == 1, "add_group_spec %s %s: rc %d", oa->name, spec, rc);
            CHECK(contains(descent_errmsg(opt), BAD[b].set_name) && contains(descent_errmsg(opt), BAD[b].shown) &&
                      caret_column(descent_errmsg(opt)) >= 0,
                  "add_group_spec %s %s: message '%s'", oa->name, spec, descent_errmsg(opt));
            CHECK(same_snapshot(opt, before, len), "add_group_spec %s: optimizer changed", oa->name);
            /* An unknown name through set and add_group_spec. */
            CHECK(descent_set(opt, 0, "no_such", 1) == DESCENT_ERR_INVALID && contains(descent_errmsg(opt), "no_such"),
                  "set unknown: %s", descent_errmsg(opt));
            CHECK(descent_add_group_spec(opt, "no_such=1") < 0 && contains(descent_errmsg(opt), "no_such"),
                  "add_group_spec unknown: %s", descent_errmsg(opt));
            CHECK(same_snapshot(opt, before, len) && descent_num_groups(opt) == 1, "%s: changed by unknown names",
                  oa->name);
            free(before);
            descent_destroy(opt);
        }
        /* Lowercase alias and canonical name. */
        char lower[32];
        size_t k = 0;
        for (; oa->name[k] && k < sizeof lower - 1; k++)
            lower[k] = (char)(oa->name[k] >= 'A' && oa->name[k] <= 'Z' ? oa->name[k] - 'A' + 'a' : oa->name[k]);
        lower[k] = '\0';
        snprintf(spec, sizeof spec, "%s(lr=0.25)", lower);
        descent_optimizer *opt = NULL;
        int rc = descent_create_from_spec(&opt, spec, NULL, &err);
        CHECK(rc == 0 && strcmp(descent_name(opt), oa->name) == 0, "%s: %s", spec, rc < 0 ? err.message : "");
        if (opt) {
            descent_add_group(opt, NULL);
            CHECK(descent_get_lr(opt, 0) == 0.25, "%s: lr %g", spec, descent_get_lr(opt, 0));
        }
        descent_destroy(opt);
        /* Positional lr, as torch.optim.X(params, 0.1). */
        snprintf(spec, sizeof spec, "%s(0.125)", oa->name);
        rc = descent_create_from_spec(&opt, spec, NULL, &err);
        CHECK(rc == 0, "%s: %s", spec, rc < 0 ? err.message : "");
        if (opt) {
            descent_add_group(opt, NULL);
            CHECK(descent_get_lr(opt, 0) == 0.125, "%s: lr %g", spec, descent_get_lr(opt, 0));
        }
        descent_destroy(opt);
        /* Wrong types. */
        static const struct {
            const char *args, *arg, *want;
        } types[] = {
            {"lr='x'", "lr", "lr must be a number, got a string"},
            {"lr=True", "lr", "lr must be a number, got a boolean"},
            {"lr=(0.1, 0.2)", "lr", "lr must be a number"},
            {"lr=[0.1]", "lr", "lr must be a number, got a list"},
            {"betas=(0.9,)", "betas", "betas must be a pair"},
            {"betas=0.9", "betas", "betas must be a pair"},
            {"betas=(0.9, 0.99, 0.999)", "betas", "betas must be a pair"},
            {"betas=(0.9, 'a')", "betas", "betas[1] must be a number"},
            {"maximize=1", "maximize", "maximize must be True or False"},
            {"maximize='yes'", "maximize", "maximize must be True or False"},
            {"momentum_form=1", "momentum_form", "momentum_form must be a quoted string"},
            {"momentum_form='foo'", "momentum_form", "momentum_form must be one of"},
            {"momentum_form='Torch'", "momentum_form", "got 'Torch'"},
            {"amsgrad=None", "amsgrad", "amsgrad must be True or False, got None"},
            {"centered=0.5", "centered", "centered must be True or False"},
        };
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
            if (!takes(oa, types[t].arg))
                continue;
            snprintf(spec, sizeof spec, "%s(%s)", oa->name, types[t].args);
            rc = descent_create_from_spec(&opt, spec, NULL, &err);
            CHECK(rc < 0 && !opt && contains(err.message, types[t].want), "%s: rc %d, '%s'", spec, rc,
                  rc < 0 ? err.message : "");
            const char *eq = strchr(spec, '=');
            CHECK(caret_column(err.message) >= (int)(eq - spec), "%s: caret not under the value: %s", spec,
                  err.message);
            descent_destroy(opt);
            opt = NULL;
        }
    }

    /* Cross-field checks (PyTorch's nesterov rule, momentum forms). */
    static const struct {
        const char *spec, *want1, *want2;
    } cross[] = {
        {"SGD(momentum=0.9, nesterov=True, dampening=0.1)", "nesterov", "dampening=0.1"},
        {"SGD(nesterov=True)", "nesterov", "momentum=0"},
        {"SGD(momentum=0.9, momentum_form='ewma', dampening=0.5)", "dampening", "0.5"},
        {"SGD(momentum=0.9, momentum_form='direct', nesterov=True)", "nesterov", "torch"},
        {"Adam(lr=0.1, lr=0.2)", "given twice", "lr"},
        {"Adam(0.1, (0.8, 0.9), 1e-8, 0, False, False, 0, 32, 7)", "at most 8 positional", "Adam"},
        {"Adam(lr=0.1, 0.2)", "positional argument follows keyword", ""},
        {"Adamm(lr=0.1)", "unknown optimizer 'Adamm'", "Adam"},
        {"Foo", "unknown optimizer 'Foo'", "SGD"},
        {"0.1", "expected an optimizer", ""},
        {"(Adam(), SGD())", "expected an optimizer", "tuple"},
    };
    for (size_t c = 0; c < sizeof cross / sizeof cross[0]; c++) {
        descent_optimizer *opt = NULL;
        int rc = descent_create_from_spec(&opt, cross[c].spec, NULL, &err);
        CHECK(rc < 0 && !opt && contains(err.message, cross[c].want1) && contains(err.message, cross[c].want2),
              "%s: rc %d '%s'", cross[c].spec, rc, rc < 0 ? err.message : "");
        CHECK(rc >= 0 || caret_column(err.message) >= 0, "%s: no caret: %s", cross[c].spec, err.message);
        descent_destroy(opt);
    }
    /* Accepted forms: a bare name, positional betas, whitespace, lists as pairs. */
    static const char *const fine[] = {
        "Adam", "Adam()", "  Adam ( 0.01 , ( 0.8 , 0.9 ) )  ", "Adam(betas=[0.8, 0.9])", "amsgrad()",
        "SGD(0.1, 0.9, 0, 0, True)", "Adam(lr=1e-3, eps=1E-8)", "sgd(lr=.5)", "Adam(lr=+0.5)",
    };
    for (size_t c = 0; c < sizeof fine / sizeof fine[0]; c++) {
        descent_optimizer *opt = NULL;
        int rc = descent_create_from_spec(&opt, fine[c], NULL, &err);
        CHECK(rc == 0, "%s: %s", fine[c], rc < 0 ? err.message : "");
        descent_destroy(opt);
    }
    {
        descent_hparams hp;
        CHECK(descent_hparams_parse(&hp, "amsgrad()", &err) == 0 && hp.amsgrad == 1 && strcmp(hp.optimizer, "AMSGrad") == 0,
              "amsgrad alias: %s", err.message);
        CHECK(descent_hparams_parse(&hp, "Adam(0.01, (0.8, 0.9))", &err) == 0 && hp.lr == 0.01 && hp.betas[0] == 0.8 &&
                  hp.betas[1] == 0.9,
              "positional betas");
        CHECK(descent_hparams_parse(&hp, "SGD(0.1, 0.9, 0, 0, True)", &err) == 0 && hp.nesterov == 1 && hp.momentum == 0.9,
              "positional SGD");
        /* The typed route validates too. */
        descent_hparams_init(&hp, "Adam", &err);
        hp.betas[1] = 1.5;
        descent_optimizer *opt = NULL;
        CHECK(descent_create(&opt, &hp, NULL, &err) == DESCENT_ERR_INVALID && !opt && contains(err.message, "betas[1]") &&
                  contains(err.message, "1.5"),
              "descent_create betas[1]=1.5: %s", err.message);
        CHECK(descent_hparams_init(&hp, "nope", &err) < 0 && contains(err.message, "nope"), "init unknown: %s",
              err.message);
        descent_hparams_init(&hp, "SGD", &err);
        hp.momentum = 0.9;
        hp.nesterov = 1;
        hp.dampening = 0.5;
        CHECK(descent_create(&opt, &hp, NULL, &err) < 0 && contains(err.message, "dampening"), "typed nesterov: %s",
              err.message);
        descent_hparams_init(&hp, "SGD", &err);
        hp.momentum_form = 9;
        CHECK(descent_create(&opt, &hp, NULL, &err) < 0 && contains(err.message, "momentum_form"),
              "typed momentum_form: %s", err.message);
        hp.momentum_form = 0;
        hp.nesterov = 2;
        CHECK(descent_create(&opt, &hp, NULL, &err) < 0 && contains(err.message, "nesterov"), "typed bool: %s",
              err.message);
    }

    /* descent_set: booleans and choices, cross-field checks, all-groups atomicity,
     * state-layout changes after registration. */
    {
        double p[3] = {1, 2, 3}, g[3] = {0.1, 0.2, 0.3};
        descent_optimizer *opt = make1("SGD(lr=0.1, momentum=0.9)", p, g, 3);
        int g1 = descent_add_group_spec(opt, "nesterov=True");
        CHECK(g1 == 1, "nesterov group: %s", descent_errmsg(opt));
        descent_step(opt);
        size_t len;
        unsigned char *before = snapshot(opt, &len);
        CHECK(descent_set(opt, 0, "nesterov", 2) == DESCENT_ERR_INVALID && contains(descent_errmsg(opt), "nesterov"),
              "nesterov=2: %s", descent_errmsg(opt));
        CHECK(descent_set(opt, 0, "momentum_form", 4) == DESCENT_ERR_INVALID &&
                  contains(descent_errmsg(opt), "momentum_form"),
              "momentum_form=4: %s", descent_errmsg(opt));
        CHECK(descent_set(opt, 0, "momentum_form", 0.5) == DESCENT_ERR_INVALID, "momentum_form=0.5");
        CHECK(descent_set(opt, 1, "dampening", 0.5) == DESCENT_ERR_INVALID && contains(descent_errmsg(opt), "dampening"),
              "dampening with nesterov: %s", descent_errmsg(opt));
        /* Valid for group 0, invalid for group 1: neither changes. */
        CHECK(descent_set(opt, -1, "dampening", 0.5) == DESCENT_ERR_INVALID, "set all dampening");
        CHECK(same_snapshot(opt, before, len), "a rejected set on all groups changed a group");
        CHECK(descent_set(opt, 5, "lr", 0.1) == DESCENT_ERR_INVALID && contains(descent_errmsg(opt), "5"),
              "bad group: %s", descent_errmsg(opt));
        /* momentum 0.9 -> 0 would drop state, fine; the reverse needs state. */
        double p2[2] = {1, 2}, g2[2] = {0, 0};
        descent_optimizer *plain = make1("SGD(lr=0.1)", p2, g2, 2);
        CHECK(descent_set(plain, 0, "momentum", 0.9) == DESCENT_ERR_STATE && contains(descent_errmsg(plain), "momentum"),
              "momentum after registration: %s", descent_errmsg(plain));
        double mom = -1;
        descent_get(plain, 0, "momentum", &mom);
        CHECK(mom == 0, "momentum changed by a refused set: %g", mom);
        /* Before any tensor is registered the same change is fine. */
        int g2i = descent_add_group(plain, NULL);
        CHECK(descent_set(plain, g2i, "momentum", 0.9) == 0, "momentum before registration: %s", descent_errmsg(plain));
        descent_destroy(plain);
        /* Reads. */
        double v = 0;
        CHECK(descent_get(opt, 1, "nesterov", &v) == 0 && v == 1, "get nesterov %g", v);
        CHECK(descent_get(opt, 0, "betas[0]", &v) == DESCENT_ERR_INVALID, "SGD has no betas");
        CHECK(strcmp(descent_momentum_name(opt), "momentum") == 0, "momentum name");
        free(before);
        descent_destroy(opt);
        opt = make1("Adam", p, g, 3);
        CHECK(strcmp(descent_momentum_name(opt), "betas[0]") == 0, "Adam momentum name");
        CHECK(descent_set(opt, 0, "betas[0]", 0.5) == 0 && descent_get(opt, 0, "betas[0]", &v) == 0 && v == 0.5,
              "set betas[0]");
        CHECK(descent_set(opt, 0, "betas[2]", 0.5) == DESCENT_ERR_INVALID, "betas[2]");
        CHECK(descent_set(opt, 0, "betas", 0.5) == DESCENT_ERR_INVALID || descent_get(opt, 0, "betas[1]", &v) == 0,
              "betas without index");
        descent_destroy(opt);
        opt = make1("Adadelta", p, g, 3);
        CHECK(descent_momentum_name(opt) == NULL, "Adadelta has no momentum");
        CHECK(descent_set(opt, 0, "rho", 1.0) == 0, "rho = 1 is allowed (PyTorch: 0 <= rho <= 1)");
        descent_destroy(opt);
    }
    /* Misuse of the other calls. */
    {
        double p[3] = {1, 2, 3}, g[3] = {0};
        descent_optimizer *opt = make1("Adam", p, g, 3);
        CHECK(descent_add_tensor(opt, 3, p, g, 3, DESCENT_F64) == DESCENT_ERR_INVALID &&
                  contains(descent_errmsg(opt), "got 3"),
              "bad group: %s", descent_errmsg(opt));
        CHECK(descent_add_tensor(opt, 0, p, g, 3, (descent_dtype)7) == DESCENT_ERR_INVALID &&
                  contains(descent_errmsg(opt), "7"),
              "bad dtype: %s", descent_errmsg(opt));
        CHECK(descent_add_tensor(opt, 0, NULL, g, 3, DESCENT_F64) == DESCENT_ERR_INVALID, "NULL param");
        CHECK(descent_set_tensor_data(opt, 4, p, g) == DESCENT_ERR_INVALID, "bad tensor");
        size_t shape[DESCENT_MAX_DIMS + 1] = {3, 1, 1, 1, 1, 1, 1, 1, 1}, got[DESCENT_MAX_DIMS];
        CHECK(descent_add_tensor_shaped(opt, 0, p, g, 0, shape, DESCENT_F64) == DESCENT_ERR_INVALID &&
                  contains(descent_errmsg(opt), "got 0"),
              "ndim 0: %s", descent_errmsg(opt));
        CHECK(descent_add_tensor_shaped(opt, 0, p, g, DESCENT_MAX_DIMS + 1, shape, DESCENT_F64) == DESCENT_ERR_INVALID,
              "ndim too large");
        size_t huge[2] = {SIZE_MAX / 2, 4};
        CHECK(descent_add_tensor_shaped(opt, 0, p, g, 2, huge, DESCENT_F64) == DESCENT_ERR_INVALID &&
                  contains(descent_errmsg(opt), "overflows"),
              "overflowing shape: %s", descent_errmsg(opt));
        CHECK(descent_tensor_shape(opt, 0, got) == 1 && got[0] == 3, "1-D shape of descent_add_tensor");
        size_t mat[2] = {1, 3};
        int ti = descent_add_tensor_shaped(opt, 0, p, g, 2, mat, DESCENT_F64);
        CHECK(ti == 1 && descent_tensor_shape(opt, ti, got) == 2 && got[0] == 1 && got[1] == 3, "2-D shape kept");
        CHECK(descent_tensor_shape(opt, 7, got) == DESCENT_ERR_INVALID, "shape of a bad tensor");
        descent_destroy(opt);
        opt = make1("Adam", p, g, 3);
        CHECK(descent_set_threads(opt, 0) == DESCENT_ERR_INVALID && contains(descent_errmsg(opt), "0"), "threads 0");
        descent_hparams hp;
        descent_hparams_init(&hp, "SGD", &err);
        CHECK(descent_add_group(opt, &hp) == DESCENT_ERR_INVALID && contains(descent_errmsg(opt), "SGD"),
              "SGD group in Adam: %s", descent_errmsg(opt));
        CHECK(descent_num_groups(opt) == 1 && descent_num_tensors(opt) == 1, "misuse changed the optimizer");
        CHECK(descent_step(NULL) < 0 && descent_reset(NULL) < 0, "NULL handle");
        descent_destroy(NULL);
        CHECK(strcmp(descent_strerror(DESCENT_ERR_CHECKPOINT), "bad checkpoint") == 0, "strerror");
        descent_destroy(opt);
    }
}

/* Spec syntax errors: the message shows the text with a caret under the fault. */
static void test_spec_errors(void)
{
    static const struct {
        const char *spec, *want;
        int col;
    } cases[] = {
        {"Adam(lr=0.1", "'(' has no matching ')'", 4},
        {"Adam(betas=(0.9, 0.99)", "'(' has no matching ')'", 4},
        {"Adam(betas=(0.9, 0.99, eps=1)", "expected ',' or ')'", 26},
        {"SequentialLR(schedulers=[LinearLR(total_iters=5), milestones=[5])", "expected ',' or ']'", 60},
        {"Adam(betas=[0.9, 0.99", "'[' has no matching ']'", 11},
        {"Adam(betas=(0.9, 0.99)))", "unexpected text after the spec", 23},
        {"Adam(lr=0.1) garbage", "unexpected text after the spec", 13},
        {"Adam(lr=1e)", "malformed exponent", 8},
        {"Adam(lr=1e+)", "malformed exponent", 8},
        {"Adam(lr=1x)", "malformed number", 8},
        {"Adam(lr=0x10)", "malformed number", 8},
        {"Adam(lr=0.1 0.2)", "expected ',' or ')'", 12},
        {"Adam(0.1,, 0.2)", "unexpected character", 9},
        {"Adam(lr='abc)", "unterminated string", 8},
        {"Adam(lr=#)", "unexpected character", 8},
        {"Adam(lr=SGD(lr=1))", "lr must be a number, got a call", 8},
        {"Adam(lr=1e999)", "out of range", 8},
        {"Adam(lr=-)", "expected a value", 8},
        {"Adam(betas=(0.9, 0.99]))", "expected ',' or ')'", 21},
    };
    descent_error err;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        descent_optimizer *opt = NULL;
        int rc = descent_create_from_spec(&opt, cases[c].spec, NULL, &err);
        CHECK(rc < 0 && !opt, "%s accepted", cases[c].spec);
        if (rc >= 0) {
            descent_destroy(opt);
            continue;
        }
        CHECK(contains(err.message, cases[c].want), "%s: '%s'", cases[c].spec, err.message);
        CHECK(contains(err.message, cases[c].spec), "%s: text not quoted: '%s'", cases[c].spec, err.message);
        CHECK(caret_column(err.message) == cases[c].col, "%s: caret at %d, want %d:\n%s", cases[c].spec,
              caret_column(err.message), cases[c].col, err.message);
    }
    /* Nesting beyond the parser's depth limit is an error, not a stack overflow. */
    char deep[512] = "Adam(lr=";
    for (int i = 0; i < 100; i++)
        strcat(deep, "(");
    strcat(deep, "1");
    for (int i = 0; i < 100; i++)
        strcat(deep, ")");
    strcat(deep, ")");
    descent_optimizer *opt = NULL;
    CHECK(descent_create_from_spec(&opt, deep, NULL, &err) == DESCENT_ERR_SPEC && contains(err.message, "nesting"),
          "deep nesting: %s", err.message);
    /* Moderate nesting of values is fine (lr=((0.1)) is lr=0.1, as in Python). */
    CHECK(descent_create_from_spec(&opt, "Adam(lr=((0.1)))", NULL, &err) == 0, "parenthesised value: %s",
          err.message);
    descent_destroy(opt);
    opt = NULL;
    CHECK(descent_create_from_spec(&opt, "", NULL, &err) == DESCENT_ERR_SPEC && contains(err.message, "empty"),
          "empty: %s", err.message);
    CHECK(descent_create_from_spec(&opt, "   ", NULL, &err) == DESCENT_ERR_SPEC, "blank");
    CHECK(descent_create_from_spec(&opt, NULL, NULL, &err) < 0, "NULL spec");
    /* A long spec: the caret still lines up with the shown excerpt. */
    char longspec[1024];
    snprintf(longspec, sizeof longspec, "Adam(%*s lr=-0.5)", 300, "");
    CHECK(descent_create_from_spec(&opt, longspec, NULL, &err) == DESCENT_ERR_INVALID, "long spec");
    {
        const char *nl1 = strchr(err.message, '\n'), *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
        int col = caret_column(err.message);
        CHECK(nl2 && col >= 0 && nl1 + 3 + col < nl2 && strncmp(nl1 + 3 + col, "-0.5", 4) == 0,
              "long spec caret misplaced:\n%s", err.message);
    }
}

/* ------------------------------------------------------------------------ */
/* 3. Checkpoints                                                            */

static void test_checkpoint_roundtrip(void)
{
    const int k = 7, m = 9;
    for (int c = 0; c < NCONFIGS; c++) {
        for (int mode = 0; mode < 3; mode++) {
            rig a, b;
            if (rig_make(&a, CONFIGS[c], mode, NULL, NULL) < 0)
                continue;
            rig_make(&b, CONFIGS[c], mode, NULL, NULL);
            rig_run(&a, 0, k);
            descent_set_lr(a.opt, 1, 0.004); /* a schedule moved group 1's lr */
            size_t len;
            unsigned char *ck = snapshot(a.opt, &len);
            CHECK(ck != NULL, "%s: save_mem", CONFIGS[c]);
            rig_copy_params(&b, &a);
            rig_run(&a, k, m);
            int rc = descent_load_mem(b.opt, ck, len);
            CHECK(rc == 0, "%s: load_mem: %s", CONFIGS[c], descent_errmsg(b.opt));
            CHECK(descent_step_count(b.opt) == k, "%s: step count %lld", CONFIGS[c], (long long)descent_step_count(b.opt));
            CHECK(descent_get_lr(b.opt, 1) == 0.004, "%s: group lr not restored", CONFIGS[c]);
            rig_run(&b, k, m);
            CHECK(rig_params_equal(&a, &b), "%s (dtype mode %d): resumed run is not bit-identical", CONFIGS[c], mode);
            /* Saving is deterministic: equal state gives equal bytes. */
            size_t la, lb;
            unsigned char *sa = snapshot(a.opt, &la), *sb = snapshot(b.opt, &lb);
            CHECK(sa && sb && la == lb && memcmp(sa, sb, la) == 0, "%s: checkpoints of equal states differ", CONFIGS[c]);
            /* Buffer too small: an error, *len tells the size. */
            size_t need = 0;
            unsigned char small[8];
            CHECK(descent_save_mem(a.opt, small, sizeof small, &need) == DESCENT_ERR_INVALID && need == la,
                  "%s: small buffer", CONFIGS[c]);
            free(sa);
            free(sb);
            free(ck);
            rig_free(&a);
            rig_free(&b);
        }
    }
}

static void test_checkpoint_files(void)
{
    char dir[] = "/tmp/descent_core_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp failed");
        return;
    }
    char path[256], missing[300];
    snprintf(path, sizeof path, "%s/opt.ckpt", dir);
    snprintf(missing, sizeof missing, "%s/no/such/dir/opt.ckpt", dir);
    for (int c = 0; c < NCONFIGS; c += 3) {
        rig a, b;
        if (rig_make(&a, CONFIGS[c], 2, NULL, NULL) < 0)
            continue;
        rig_make(&b, CONFIGS[c], 2, NULL, NULL);
        rig_run(&a, 0, 5);
        CHECK(descent_save(a.opt, path) == 0, "%s: save: %s", CONFIGS[c], descent_errmsg(a.opt));
        rig_copy_params(&b, &a);
        rig_run(&a, 5, 6);
        CHECK(descent_load(b.opt, path) == 0, "%s: load: %s", CONFIGS[c], descent_errmsg(b.opt));
        rig_run(&b, 5, 6);
        CHECK(rig_params_equal(&a, &b), "%s: file round trip not bit-identical", CONFIGS[c]);
        /* The file holds exactly the save_mem image. */
        size_t flen, mlen;
        descent_save(a.opt, path);
        char *file = t_read_file(path, &flen);
        unsigned char *mem = snapshot(a.opt, &mlen);
        CHECK(file && mem && flen == mlen && memcmp(file, mem, mlen) == 0, "%s: file differs from save_mem", CONFIGS[c]);
        free(file);
        free(mem);
        rig_free(&a);
        rig_free(&b);
    }
    /* I/O errors name the path and change nothing. */
    rig r;
    rig_make(&r, "Adam", 1, NULL, NULL);
    rig_run(&r, 0, 2);
    size_t len;
    unsigned char *before = snapshot(r.opt, &len);
    CHECK(descent_load(r.opt, missing) == DESCENT_ERR_IO && contains(descent_errmsg(r.opt), missing),
          "load missing: %s", descent_errmsg(r.opt));
    CHECK(descent_save(r.opt, missing) == DESCENT_ERR_IO && contains(descent_errmsg(r.opt), "no/such/dir"),
          "save into a missing dir: %s", descent_errmsg(r.opt));
    /* A corrupt file: the message names the file and the fault. */
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(before, 1, len / 2, f);
        fclose(f);
    }
    CHECK(descent_load(r.opt, path) == DESCENT_ERR_CHECKPOINT && contains(descent_errmsg(r.opt), path),
          "load truncated file: %s", descent_errmsg(r.opt));
    CHECK(descent_load(r.opt, dir) == DESCENT_ERR_IO && contains(descent_errmsg(r.opt), dir),
          "loading a directory: %s", descent_errmsg(r.opt));
    CHECK(same_snapshot(r.opt, before, len), "failed file operations changed the optimizer");
    free(before);
    rig_free(&r);
    remove(path);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(access(tmp, F_OK) != 0, "temporary file left behind");
    rmdir(dir);
}

/* Loading something that does not fit: an error with a clear message, and the
 * optimizer bit for bit as before. */
static void expect_mismatch(const char *what, const unsigned char *ck, size_t len, rig *target, const char *want)
{
    size_t blen;
    unsigned char *before = snapshot(target->opt, &blen);
    int rc = descent_load_mem(target->opt, ck, len);
    CHECK(rc == DESCENT_ERR_CHECKPOINT, "%s: rc %d", what, rc);
    CHECK(contains(descent_errmsg(target->opt), want), "%s: message '%s' lacks '%s'", what, descent_errmsg(target->opt),
          want);
    CHECK(same_snapshot(target->opt, before, blen), "%s: optimizer changed by a rejected load", what);
    free(before);
}

static void test_checkpoint_mismatch(void)
{
    rig src;
    rig_make(&src, "Adam(lr=0.01)", 1, NULL, NULL);
    rig_run(&src, 0, 3);
    size_t len;
    unsigned char *ck = snapshot(src.opt, &len);

    rig other;
    rig_make(&other, "AdamW(lr=0.01)", 1, NULL, NULL);
    rig_run(&other, 0, 2);
    expect_mismatch("Adam into AdamW", ck, len, &other, "Adam");
    rig_free(&other);

    rig_make(&other, "SGD(lr=0.01, momentum=0.9)", 1, NULL, NULL);
    expect_mismatch("Adam into SGD", ck, len, &other, "optimizer 'Adam'");
    rig_free(&other);

    /* One group instead of two. */
    {
        double p[7], g[7] = {0};
        for (int i = 0; i < 7; i++)
            p[i] = i;
        rig one;
        memset(&one, 0, sizeof one);
        one.opt = make1("Adam(lr=0.01)", p, g, 7);
        descent_step(one.opt);
        expect_mismatch("two groups into one", ck, len, &one, "groups");
        descent_destroy(one.opt);
    }
    /* Different tensor sizes, dtype, tensor count. */
    {
        size_t sizes[MAXT] = {7, 33, 5, 65};
        rig_make(&other, "Adam(lr=0.01)", 1, sizes, NULL);
        expect_mismatch("tensor sizes", ck, len, &other, "65");
        rig_free(&other);
        rig_make(&other, "Adam(lr=0.01)", 0, NULL, NULL);
        expect_mismatch("dtype f64 into f32", ck, len, &other, "f32");
        rig_free(&other);
        rig_make(&other, "Adam(lr=0.01)", 1, NULL, NULL);
        double extra[2] = {0}, extrag[2] = {0};
        descent_add_tensor(other.opt, 0, extra, extrag, 2, DESCENT_F64);
        expect_mismatch("tensor count", ck, len, &other, "tensors");
        rig_free(&other);
    }
    /* State layout: amsgrad and momentum change the number of buffers. */
    rig_make(&other, "Adam(lr=0.01, amsgrad=True)", 1, NULL, NULL);
    expect_mismatch("Adam into Adam(amsgrad=True)", ck, len, &other, "state");
    {
        size_t l2;
        unsigned char *ams = snapshot(other.opt, &l2);
        expect_mismatch("Adam(amsgrad=True) into Adam", ams, l2, &src, "state");
        free(ams);
    }
    rig_free(&other);
    {
        rig sgd0, sgd9;
        rig_make(&sgd0, "SGD(lr=0.01)", 1, NULL, NULL);
        rig_make(&sgd9, "SGD(lr=0.01, momentum=0.9)", 1, NULL, NULL);
        rig_run(&sgd0, 0, 2);
        rig_run(&sgd9, 0, 2);
        size_t l0, l9;
        unsigned char *c0 = snapshot(sgd0.opt, &l0), *c9 = snapshot(sgd9.opt, &l9);
        expect_mismatch("SGD into SGD(momentum)", c0, l0, &sgd9, "state");
        expect_mismatch("SGD(momentum) into SGD", c9, l9, &sgd0, "state");
        free(c0);
        free(c9);
        rig_free(&sgd0);
        rig_free(&sgd9);
        rig_make(&sgd0, "RMSprop(lr=0.01)", 1, NULL, NULL);
        rig_make(&sgd9, "RMSprop(lr=0.01, centered=True)", 1, NULL, NULL);
        c9 = snapshot(sgd9.opt, &l9);
        expect_mismatch("RMSprop(centered) into RMSprop", c9, l9, &sgd0, "state");
        free(c9);
        rig_free(&sgd0);
        rig_free(&sgd9);
    }
    /* Hyperparameters that need less state than was registered (a permitted
     * descent_set after registration) still save, load and resume. */
    {
        static const struct {
            const char *spec, *name;
        } lower[] = {
            {"SGD(lr=0.05, momentum=0.9)", "momentum"},
            {"RMSprop(lr=0.01, centered=True)", "centered"},
            {"Adam(lr=0.01, amsgrad=True)", "amsgrad"},
        };
        for (size_t c = 0; c < sizeof lower / sizeof lower[0]; c++) {
            rig a, b;
            rig_make(&a, lower[c].spec, 1, NULL, NULL);
            rig_make(&b, lower[c].spec, 1, NULL, NULL);
            rig_run(&a, 0, 3);
            CHECK(descent_set(a.opt, -1, lower[c].name, 0) == 0, "%s: set %s 0: %s", lower[c].spec, lower[c].name,
                  descent_errmsg(a.opt));
            rig_run(&a, 3, 2);
            size_t l;
            unsigned char *c1 = snapshot(a.opt, &l);
            CHECK(descent_load_mem(a.opt, c1, l) == 0, "%s: reloading its own checkpoint: %s", lower[c].spec,
                  descent_errmsg(a.opt));
            rig_copy_params(&b, &a);
            CHECK(descent_load_mem(b.opt, c1, l) == 0, "%s: loading into a fresh registration: %s", lower[c].spec,
                  descent_errmsg(b.opt));
            rig_run(&a, 5, 4);
            rig_run(&b, 5, 4);
            CHECK(rig_params_equal(&a, &b), "%s: resumed run differs after %s=0", lower[c].spec, lower[c].name);
            free(c1);
            rig_free(&a);
            rig_free(&b);
        }
    }
    /* A checkpoint with the same layout but other hyperparameters loads them. */
    rig_make(&other, "Adam(lr=0.5, betas=(0.5, 0.5))", 1, NULL, NULL);
    CHECK(descent_load_mem(other.opt, ck, len) == 0 && descent_get_lr(other.opt, 0) == 0.01,
          "hyperparameters restored from a checkpoint: %s", descent_errmsg(other.opt));
    rig_free(&other);
    CHECK(descent_load_mem(src.opt, NULL, 10) == DESCENT_ERR_INVALID, "NULL buffer");
    free(ck);
    rig_free(&src);
}

static void test_checkpoint_corruption(void)
{
    rig r, fresh;
    rig_make(&r, "RMSprop(lr=0.01, centered=True, momentum=0.5)", 2, NULL, NULL);
    rig_make(&fresh, "RMSprop(lr=0.01, centered=True, momentum=0.5)", 2, NULL, NULL);
    rig_run(&r, 0, 4);
    rig_run(&fresh, 0, 1);
    size_t len, flen;
    unsigned char *ck = snapshot(r.opt, &len);
    unsigned char *before = snapshot(fresh.opt, &flen);
    unsigned char *buf = malloc(len + 16);
    if (!ck || !before || !buf) {
        CHECK(0, "snapshot");
        return;
    }
    CHECK(len > 1000, "checkpoint unexpectedly small: %zu", len);
    CHECK(memcmp(ck, "DESCENT\x1a", 8) == 0, "magic");

    /* Every truncation. */
    int rejected = 0;
    for (size_t l = 0; l < len; l++) {
        memcpy(buf, ck, l);
        rejected += descent_load_mem(fresh.opt, buf, l) == DESCENT_ERR_CHECKPOINT;
    }
    CHECK(rejected == (int)len, "only %d of %zu truncations rejected", rejected, len);
    /* Padding. */
    memcpy(buf, ck, len);
    buf[len] = 0;
    CHECK(descent_load_mem(fresh.opt, buf, len + 1) == DESCENT_ERR_CHECKPOINT, "padded checkpoint accepted");
    CHECK(same_snapshot(fresh.opt, before, flen), "truncated loads changed the optimizer");

    /* Every single bit flipped (CRC-32 detects all of them). */
    rejected = 0;
    int total = 0;
    for (size_t pos = 0; pos < len; pos++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, ck, len);
            buf[pos] ^= (unsigned char)(1u << bit);
            rejected += descent_load_mem(fresh.opt, buf, len) == DESCENT_ERR_CHECKPOINT;
            total++;
        }
    CHECK(rejected == total, "only %d of %d bit flips rejected", rejected, total);
    CHECK(same_snapshot(fresh.opt, before, flen), "corrupt loads changed the optimizer");

    /* Wrong magic, wrong version (named in the message). */
    memcpy(buf, ck, len);
    buf[0] = 'X';
    CHECK(descent_load_mem(fresh.opt, buf, len) == DESCENT_ERR_CHECKPOINT && contains(descent_errmsg(fresh.opt), "magic"),
          "bad magic: %s", descent_errmsg(fresh.opt));
    memcpy(buf, ck, len);
    buf[8] = 2;
    fix_crc(buf, len);
    CHECK(descent_load_mem(fresh.opt, buf, len) == DESCENT_ERR_CHECKPOINT &&
              contains(descent_errmsg(fresh.opt), "version 2"),
          "bad version: %s", descent_errmsg(fresh.opt));

    /* Right checksum, wrong content: an invalid hyperparameter (lr is the
     * first field of group 0: after magic, header, name, group count,
     * initial_lr, field count, name "lr", count). */
    size_t lr_at = 24 + 2 + strlen("RMSprop") + 4 + 8 + 4 + 2 + 2 + 1;
    memcpy(buf, ck, len);
    double neg = -1.0;
    uint64_t u;
    memcpy(&u, &neg, 8);
    for (int i = 0; i < 8; i++)
        buf[lr_at + (size_t)i] = (unsigned char)(u >> (8 * i));
    fix_crc(buf, len);
    CHECK(descent_load_mem(fresh.opt, buf, len) == DESCENT_ERR_CHECKPOINT && contains(descent_errmsg(fresh.opt), "lr"),
          "negative lr in a checkpoint: %s", descent_errmsg(fresh.opt));
    CHECK(same_snapshot(fresh.opt, before, flen), "forged loads changed the optimizer");

    /* Random mutations with the checksum fixed up: never a crash; either a
     * clean load or an error that leaves the optimizer untouched. */
    uint64_t seed = 0x9E3779B97F4A7C15u;
    int loaded = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, ck, len);
        int edits = 1 + it % 4;
        for (int e = 0; e < edits; e++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            size_t pos = 24 + (size_t)(seed >> 33) % (len - 28);
            buf[pos] = (unsigned char)(seed >> 13);
        }
        fix_crc(buf, len);
        int rc = descent_load_mem(fresh.opt, buf, len);
        if (rc == 0) {
            loaded++;
            descent_load_mem(fresh.opt, before, flen); /* back to the reference state */
        } else {
            CHECK(rc == DESCENT_ERR_CHECKPOINT, "mutation %d: rc %d", it, rc);
        }
        if (!same_snapshot(fresh.opt, before, flen)) {
            CHECK(0, "mutation %d changed the optimizer after a rejected load", it);
            break;
        }
    }
    CHECK(loaded > 0, "no mutated checkpoint loaded at all (state bytes should be free to change)");
    /* The untouched optimizer still runs the fresh trajectory. */
    rig_run(&fresh, 1, 3);
    free(buf);
    free(ck);
    free(before);
    rig_free(&r);
    rig_free(&fresh);
}

/* ------------------------------------------------------------------------ */
/* 4. Allocation                                                             */

typedef struct counter {
    long allocs, frees;
    long fail_at; /* the allocation number that fails, -1 for never */
} counter;

static void *count_alloc(void *ctx, size_t size)
{
    counter *c = ctx;
    if (c->fail_at >= 0 && c->allocs == c->fail_at) {
        c->fail_at = -2; /* fail once */
        return NULL;
    }
    c->allocs++;
    return malloc(size);
}

static void count_free(void *ctx, void *ptr)
{
    counter *c = ctx;
    c->frees++;
    free(ptr);
}

static void test_allocation(void)
{
    for (int c = 0; c < NCONFIGS; c++) {
        counter cnt = {0, 0, -1};
        descent_allocator a = {count_alloc, count_free, &cnt};
        rig r;
        if (rig_make(&r, CONFIGS[c], 2, NULL, &a) < 0)
            continue;
        CHECK(cnt.allocs > 0, "%s: the allocator was not used", CONFIGS[c]);
        rig_run(&r, 0, 3);
        long before = cnt.allocs, freed = cnt.frees;
        rig_run(&r, 3, 50);
        descent_set_lr(r.opt, 0, 0.001);
        descent_set(r.opt, 1, "weight_decay", 0.0);
        CHECK(descent_set(r.opt, -1, "lr", 0.002) == 0, "%s: set all lr", CONFIGS[c]);
        descent_set(r.opt, -1, "lr", -1.0); /* rejected: no group changes */
        CHECK(descent_get_lr(r.opt, 0) == 0.002 && descent_get_lr(r.opt, 1) == 0.002, "%s: set all", CONFIGS[c]);
        rig_run(&r, 53, 5);
        size_t len;
        descent_save_mem(r.opt, NULL, 0, &len);
        unsigned char *buf = malloc(len);
        descent_save_mem(r.opt, buf, len, &len);
        descent_load_mem(r.opt, buf, len);
        descent_reset(r.opt);
        rig_run(&r, 0, 5);
        free(buf);
        CHECK(cnt.allocs == before && cnt.frees == freed, "%s: step/set/save/load/reset allocated %ld, freed %ld",
              CONFIGS[c], cnt.allocs - before, cnt.frees - freed);
        rig_free(&r);
        CHECK(cnt.allocs == cnt.frees, "%s: %ld allocations, %ld frees after destroy", CONFIGS[c], cnt.allocs,
              cnt.frees);
    }
    /* With threads too. */
    {
        counter cnt = {0, 0, -1};
        descent_allocator a = {count_alloc, count_free, &cnt};
        size_t sizes[MAXT] = {200000, 3, 70000, 1};
        rig r;
        rig_make(&r, "Adam(lr=0.01, amsgrad=True)", 0, sizes, &a);
        descent_set_threads(r.opt, 2);
        rig_run(&r, 0, 1);
        long before = cnt.allocs;
        rig_run(&r, 1, 3);
        CHECK(cnt.allocs == before, "threaded step allocated %ld", cnt.allocs - before);
        rig_free(&r);
        CHECK(cnt.allocs == cnt.frees, "threaded: %ld allocs, %ld frees", cnt.allocs, cnt.frees);
    }
    /* Every allocation failing in turn: the call reports out of memory, the
     * optimizer stays usable, and nothing leaks. */
    for (long fail = 0; fail < 500; fail++) {
        counter cnt = {0, 0, fail};
        descent_allocator a = {count_alloc, count_free, &cnt};
        descent_optimizer *opt = NULL;
        descent_error err;
        double p[3][50], g[3][50];
        memset(p, 0, sizeof p);
        memset(g, 0, sizeof g);
        int rc = descent_create_from_spec(&opt, "Adam(lr=0.01, amsgrad=True)", &a, &err);
        int failed = rc < 0;
        if (rc < 0)
            CHECK(rc == DESCENT_ERR_NOMEM && !opt, "fail at %ld: create rc %d", fail, rc);
        for (int k = 0; opt && k < 3; k++) {
            int grp = k == 2 ? descent_add_group_spec(opt, "lr=0.1") : descent_add_group(opt, NULL);
            if (grp < 0) {
                failed = 1;
                CHECK(grp == DESCENT_ERR_NOMEM && descent_num_groups(opt) == k, "fail at %ld: group rc %d", fail, grp);
                continue;
            }
            int t = descent_add_tensor(opt, grp, p[k], g[k], 50, DESCENT_F64);
            if (t < 0) {
                failed = 1;
                CHECK(t == DESCENT_ERR_NOMEM, "fail at %ld: tensor rc %d: %s", fail, t, descent_errmsg(opt));
            }
        }
        if (opt) {
            int nt = descent_num_tensors(opt);
            CHECK(descent_step(opt) == 0, "fail at %ld: step after a failure", fail);
            CHECK(descent_state_bytes(opt) == (size_t)nt * 3 * 50 * 8, "fail at %ld: state bytes %zu for %d tensors",
                  fail, descent_state_bytes(opt), nt);
        }
        descent_destroy(opt);
        CHECK(cnt.allocs == cnt.frees, "fail at %ld: %ld allocations, %ld frees", fail, cnt.allocs, cnt.frees);
        if (!failed && cnt.fail_at != -2)
            break; /* every allocation point has been failed once */
    }
}

/* ------------------------------------------------------------------------ */
/* 5. Groups and threads; 6. reset                                           */

static void test_groups_equal_separate(void)
{
    for (int c = 0; c < NCONFIGS; c++) {
        for (int mode = 0; mode < 2; mode++) {
            rig both;
            if (rig_make(&both, CONFIGS[c], mode, NULL, NULL) < 0)
                continue;
            /* Two optimizers, each with one group of the matching hyperparameters. */
            descent_optimizer *sep[2];
            descent_error err;
            for (int k = 0; k < 2; k++) {
                descent_hparams hp;
                descent_get_hparams(both.opt, k, &hp);
                int rc = descent_create(&sep[k], &hp, NULL, &err);
                CHECK(rc == 0, "%s: %s", CONFIGS[c], err.message);
                descent_add_group(sep[k], NULL);
            }
            void *param[MAXT], *grad[MAXT];
            for (int t = 0; t < MAXT; t++) {
                size_t bytes = both.n[t] * t_dsize(both.dtype[t]);
                param[t] = malloc(bytes);
                grad[t] = malloc(bytes);
                memcpy(param[t], both.param[t], bytes);
                descent_add_tensor(sep[both.group[t]], 0, param[t], grad[t], both.n[t], both.dtype[t]);
            }
            double lr0 = descent_get_lr(both.opt, 0), lr1 = descent_get_lr(both.opt, 1);
            CHECK(lr0 != lr1, "%s: the groups should differ", CONFIGS[c]);
            for (int s = 0; s < 12; s++) {
                rig_grads(&both, s);
                for (int t = 0; t < MAXT; t++)
                    memcpy(grad[t], both.grad[t], both.n[t] * t_dsize(both.dtype[t]));
                descent_step(both.opt);
                descent_step(sep[0]);
                descent_step(sep[1]);
            }
            int same = 1;
            for (int t = 0; t < MAXT; t++)
                same &= memcmp(param[t], both.param[t], both.n[t] * t_dsize(both.dtype[t])) == 0;
            CHECK(same, "%s (mode %d): two groups differ from two optimizers", CONFIGS[c], mode);
            for (int t = 0; t < MAXT; t++) {
                free(param[t]);
                free(grad[t]);
            }
            descent_destroy(sep[0]);
            descent_destroy(sep[1]);
            rig_free(&both);
        }
    }
}

static void test_threads(void)
{
    /* Larger than the 65536-element work unit, and not a multiple of it. */
    size_t sizes[MAXT] = {300001, 17, 131072, 70000};
    for (int c = 0; c < NCONFIGS; c++) {
        for (int mode = 0; mode < 2; mode++) {
            rig one, two;
            if (rig_make(&one, CONFIGS[c], mode, sizes, NULL) < 0)
                continue;
            rig_make(&two, CONFIGS[c], mode, sizes, NULL);
            CHECK(descent_set_threads(two.opt, 2) == 0, "set_threads");
            for (int s = 0; s < 3; s++) {
                rig_grads(&one, s);
                for (int t = 0; t < MAXT; t++)
                    memcpy(two.grad[t], one.grad[t], one.n[t] * t_dsize(one.dtype[t]));
                descent_step(one.opt);
                descent_step(two.opt);
            }
            CHECK(rig_params_equal(&one, &two), "%s (mode %d): 2 threads differ from 1", CONFIGS[c], mode);
            size_t l1, l2;
            unsigned char *s1 = snapshot(one.opt, &l1), *s2 = snapshot(two.opt, &l2);
            CHECK(s1 && s2 && l1 == l2 && memcmp(s1, s2, l1) == 0, "%s: state differs between thread counts", CONFIGS[c]);
            free(s1);
            free(s2);
            rig_free(&one);
            rig_free(&two);
        }
    }
}

static void test_reset(void)
{
    for (int c = 0; c < NCONFIGS; c++) {
        rig r, fresh;
        if (rig_make(&r, CONFIGS[c], 2, NULL, NULL) < 0)
            continue;
        rig_make(&fresh, CONFIGS[c], 2, NULL, NULL);
        size_t flen;
        unsigned char *initial = snapshot(fresh.opt, &flen);
        rig_run(&r, 0, 9);
        CHECK(descent_reset(r.opt) == 0, "reset");
        CHECK(descent_step_count(r.opt) == 0, "%s: step count after reset", CONFIGS[c]);
        CHECK(same_snapshot(r.opt, initial, flen), "%s: reset state differs from a fresh optimizer", CONFIGS[c]);
        rig_copy_params(&r, &fresh);
        rig_run(&r, 0, 9);
        rig_run(&fresh, 0, 9);
        CHECK(rig_params_equal(&r, &fresh), "%s: trajectory after reset differs from a fresh one", CONFIGS[c]);
        free(initial);
        rig_free(&r);
        rig_free(&fresh);
    }
}

/* descent_set_tensor_data moves a tensor without touching its state. */
/* struct_size (descent.h): a program compiled against an older, smaller
 * struct gets the library's defaults for the fields it does not know and
 * never has bytes written past its struct; a struct from a newer header, or
 * one filled by hand, is refused with a message. The smallest layout is
 * 0.2.0's, which ends at t0. */
static double sum_bytes(const void *p, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += ((const unsigned char *)p)[i];
    return s;
}

static void test_struct_size(void)
{
    descent_error err;
    const size_t old_size = offsetof(descent_hparams, t0) + sizeof(double);
    /* An "old program" buffer: old_size bytes of struct, then a guard. */
    union {
        descent_hparams hp;
        unsigned char bytes[sizeof(descent_hparams) + 64];
    } buf;
    memset(&buf, 0xAB, sizeof buf);
    CHECK(descent_hparams_init_sized(&buf.hp, old_size, "AdamW", &err) == 0, "init old size: %s", err.message);
    CHECK(buf.hp.struct_size == old_size && buf.hp.lr == 1e-3 && buf.hp.weight_decay == 1e-2, "old-size init");
    CHECK(sum_bytes(buf.bytes + old_size, sizeof buf - old_size) == 0xAB * (double)(sizeof buf - old_size),
          "init wrote past an old program's struct");
    buf.hp.lr = 0.5;
    descent_optimizer *opt = NULL;
    CHECK(descent_create(&opt, &buf.hp, NULL, &err) == 0, "create from an old-size struct: %s", err.message);
    descent_hparams full;
    descent_get_hparams(opt, 0, &full);
    CHECK(descent_add_group(opt, &buf.hp) == 0 && descent_get_hparams(opt, 0, &full) == 0 && full.lr == 0.5 &&
              full.struct_size == sizeof full,
          "old-size struct read: lr %g", full.lr);
    descent_hparams ref;
    descent_hparams_init(&ref, "AdamW", &err);
    ref.lr = 0.5;
    CHECK(memcmp((const char *)&full + old_size, (const char *)&ref + old_size, sizeof full - old_size) == 0,
          "fields after an old struct's end take the defaults");
    memset(&buf, 0xCD, sizeof buf);
    CHECK(descent_get_hparams_sized(opt, 0, &buf.hp, old_size) == 0 && buf.hp.lr == 0.5 &&
              buf.hp.struct_size == old_size &&
              sum_bytes(buf.bytes + old_size, sizeof buf - old_size) == 0xCD * (double)(sizeof buf - old_size),
          "get_hparams into an old struct");
    memset(&buf, 0xEF, sizeof buf);
    CHECK(descent_hparams_parse_sized(&buf.hp, old_size, "SGD(lr=0.25)", &err) == 0 && buf.hp.lr == 0.25 &&
              sum_bytes(buf.bytes + old_size, sizeof buf - old_size) == 0xEF * (double)(sizeof buf - old_size),
          "parse into an old struct: %s", err.message);
    /* Refused: a hand-filled struct, a struct from a newer header. */
    descent_hparams bad = ref;
    bad.struct_size = 0;
    descent_optimizer *o2 = NULL;
    CHECK(descent_create(&o2, &bad, NULL, &err) == DESCENT_ERR_INVALID && !o2 &&
              contains(err.message, "descent_hparams_init"),
          "struct_size 0: %s", err.message);
    bad.struct_size = sizeof bad + 8;
    CHECK(descent_create(&o2, &bad, NULL, &err) == DESCENT_ERR_INVALID && contains(err.message, "newer"),
          "newer struct: %s", err.message);
    CHECK(descent_add_group(opt, &bad) == DESCENT_ERR_INVALID && contains(descent_errmsg(opt), "newer") &&
              descent_num_groups(opt) == 1,
          "newer group struct refused: %s", descent_errmsg(opt));
    CHECK(descent_hparams_init_sized(&bad, 4, "Adam", &err) == DESCENT_ERR_INVALID && contains(err.message, "4"),
          "init into 4 bytes: %s", err.message);
    CHECK(descent_get_hparams_sized(opt, 0, &bad, sizeof bad + 8) == DESCENT_ERR_INVALID, "get into a newer struct");
    descent_destroy(opt);

    /* The same rules for descent_minimize_settings. */
    descent_minimize_settings s;
    descent_minimize_default_settings(&s);
    CHECK(s.struct_size == sizeof s && s.max_iter == 1000, "settings defaults");
    double x[2] = {0, 0};
    s.struct_size = 0;
    CHECK(descent_minimize("SGD(lr=0.1)", NULL, descent_objective_eval, NULL, x, 2, &s, NULL, &err) ==
                  DESCENT_ERR_INVALID &&
              contains(err.message, "descent_minimize_default_settings"),
          "settings struct_size 0: %s", err.message);
    /* ... and descent_train_config. */
    descent_train_config c;
    descent_train_default_config(&c);
    CHECK(c.struct_size == sizeof c && c.batch_size == 32, "train config defaults");
    c.data = "data/digits.csv";
    c.target = "label";
    c.model = "linear";
    c.optimizer = "SGD";
    c.struct_size = sizeof c + 16;
    descent_trainer *tr = NULL;
    CHECK(descent_trainer_create(&tr, &c, &err) == DESCENT_ERR_INVALID && !tr && contains(err.message, "newer"),
          "newer train config: %s", err.message);
}

static void test_tensor_data(void)
{
    double p1[4] = {1, 2, 3, 4}, g1[4] = {0.5, -0.5, 0.25, 1};
    double p2[4] = {1, 2, 3, 4}, g2[4] = {0.5, -0.5, 0.25, 1};
    double q[4], h[4];
    descent_optimizer *a = make1("Adam(lr=0.1)", p1, g1, 4);
    descent_optimizer *b = make1("Adam(lr=0.1)", p2, g2, 4);
    descent_step(a);
    descent_step(b);
    memcpy(q, p2, sizeof q);
    memcpy(h, g2, sizeof h);
    CHECK(descent_set_tensor_data(b, 0, q, h) == 0, "set_tensor_data");
    descent_step(a);
    descent_step(b);
    CHECK(memcmp(p1, q, sizeof q) == 0, "moved tensor gives a different step");
    CHECK(descent_step_count(a) == 2 && descent_num_tensors(a) == 1 && descent_state_bytes(a) == 2 * 4 * 8,
          "counts: %lld %zu", (long long)descent_step_count(a), descent_state_bytes(a));
    descent_destroy(a);
    descent_destroy(b);
}

int main(void)
{
    test_momentum_forms();
    test_eps_root();
    test_closed_forms();
    test_invalid_hparams();
    test_hparam_describe();
    test_spec_errors();
    test_checkpoint_roundtrip();
    test_checkpoint_files();
    test_checkpoint_mismatch();
    test_checkpoint_corruption();
    test_checkpoint_crc();
    test_prefetch();
    test_allocation();
    test_groups_equal_separate();
    test_threads();
    test_reset();
    test_tensor_data();
    test_struct_size();
    return t_done();
}
