/* LAMB (You et al. 2019, "Large Batch Optimization for Deep Learning:
 * Training BERT in 76 minutes"), as optax.lamb composes it: scale_by_adam,
 * add_decayed_weights, scale_by_trust_ratio, scale_by_learning_rate.
 *
 *   m = (1 - beta1) g + beta1 m                          exp_avg
 *   v = (1 - beta2) g^2 + beta2 v                        exp_avg_sq
 *   u = (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t) + eps_root) + eps)
 *       + weight_decay p                                 decoupled, inside the update
 *   r = ||p|| / ||u||  per tensor; 1 when either norm is 0   (trust ratio)
 *   p = p - lr (r u)
 * The norms are whole-tensor sums of squares in double, in the fixed order
 * of kernels.h (reduction groups, lanes), so every thread count and
 * instruction set gives the same bits: a first pass updates m, v and the
 * two sums, a second recomputes u from the stored m, v and applies it.
 * optax has no maximize. */
#include "../internal.h"

#include <float.h>
#include <math.h>

static const hp_desc lamb_hparams[] = {
    HP_LR, HP_BETAS, HP_EPS, HP_EPS_ROOT, HP_WEIGHT_DECAY, HP_END,
};

static void lamb_defaults(descent_hparams *hp)
{
    hp->lr = 1e-3;
    hp->betas[0] = 0.9;
    hp->betas[1] = 0.999;
    hp->eps = 1e-6;
}

static int lamb_state_count(const descent_hparams *hp)
{
    (void)hp;
    return 2;
}

static const char *const lamb_state_names[] = {"exp_avg", "exp_avg_sq", NULL};

typedef struct lamb_coeffs {
    double beta1, one_minus_beta1, beta2, one_minus_beta2;
    double bias_correction1, bias_correction2, eps, eps_root, weight_decay, neg_lr;
} lamb_coeffs;

static void lamb_prepare(const descent_hparams *hp, descent_tensor_scalars *ts, void *coeffs)
{
    lamb_coeffs *c = coeffs;
    ts->step++;
    double t = (double)ts->step;
    c->beta1 = hp->betas[0];
    c->one_minus_beta1 = 1.0 - hp->betas[0];
    c->beta2 = hp->betas[1];
    c->one_minus_beta2 = 1.0 - hp->betas[1];
    c->bias_correction1 = 1.0 - pow(hp->betas[0], t);
    c->bias_correction2 = 1.0 - pow(hp->betas[1], t);
    c->eps = hp->eps;
    c->eps_root = hp->eps_root;
    c->weight_decay = hp->weight_decay;
    c->neg_lr = -hp->lr;
}

/* The kernels of one range [b, e) of the tensor. */
typedef struct lamb_range {
    const lamb_coeffs *c;
    void *p;
    const void *g;
    void *m, *v;
} lamb_range;

/* The trust ratio ||p|| / ||u|| exceeds the element type's range when ||u||
 * is tiny (a frozen layer: zero gradients for hundreds of steps shrink m
 * geometrically), although r u never exceeds ||p||: |u_i| <= ||u||. Then the
 * step is formed as lr ||p|| (u_i / ||u||) in double, which stays finite.
 *
 * Pass 1 (per reduction group, kernels.h): m, v, and the lanes of the sums
 * of squares of p and u. Pass 2: u again from the stored m, v, and the
 * step. */
/* Pass 1 on element I into lane K (in lamb_pass1_body, over its locals):
 * m, v, and the squares of p and u. */
#define LAMB_PASS1_ELEM(T, SFX, I, K)                                                                 \
    do {                                                                                              \
        T gi = g[I], pi = p[I];                                                                       \
        T mi = omb1 * gi + b1 * m[I];                                                                 \
        T vi = omb2 * (gi * gi) + b2 * v[I];                                                          \
        m[I] = mi;                                                                                    \
        v[I] = vi;                                                                                    \
        T u = lamb_u_##SFX(mi, vi, pi, bc1, bc2, eps_root, eps, wd);                                  \
        ps[K] += (double)pi * (double)pi;                                                             \
        us[K] += (double)u * (double)u;                                                               \
    } while (0)

#define LAMB_KERNELS(T, SFX, SQRT)                                                                    \
    DESCENT_INLINE T lamb_u_##SFX(T mi, T vi, T pi, T bc1, T bc2, T eps_root, T eps, T wd)             \
    {                                                                                                 \
        return (mi / bc1) / (SQRT(vi / bc2 + eps_root) + eps) + wd * pi;                              \
    }                                                                                                 \
    DESCENT_INLINE void lamb_pass1_body_##SFX(const lamb_range *rg, size_t b, size_t e, double *sums) \
    {                                                                                                 \
        const lamb_coeffs *c = rg->c;                                                                 \
        const T *restrict p = rg->p;                                                                  \
        const T *restrict g = rg->g;                                                                  \
        T *restrict m = rg->m;                                                                        \
        T *restrict v = rg->v;                                                                        \
        const T b1 = (T)c->beta1, omb1 = (T)c->one_minus_beta1;                                       \
        const T b2 = (T)c->beta2, omb2 = (T)c->one_minus_beta2;                                       \
        const T bc1 = (T)c->bias_correction1, bc2 = (T)c->bias_correction2;                           \
        const T eps = (T)c->eps, eps_root = (T)c->eps_root, wd = (T)c->weight_decay;                  \
        double ps[DESCENT_RED_LANES] = {0}, us[DESCENT_RED_LANES] = {0};                              \
        size_t i = b;                                                                                 \
        for (; i + DESCENT_RED_LANES <= e; i += DESCENT_RED_LANES)                                    \
            for (int k = 0; k < DESCENT_RED_LANES; k++)                                               \
                LAMB_PASS1_ELEM(T, SFX, i + k, k);                                                    \
        for (int k = 0; i < e; i++, k++)                                                              \
            LAMB_PASS1_ELEM(T, SFX, i, k);                                                            \
        sums[0] = descent_red_lanes(ps);                                                              \
        sums[1] = descent_red_lanes(us);                                                              \
    }                                                                                                 \
    /* ratio > 0: p += neg_lr (ratio u); else p += (T)(neg_lr_p_norm (u / u_norm)). */                \
    DESCENT_INLINE void lamb_pass2_body_##SFX(const lamb_range *rg, size_t b, size_t e, double ratio_d, \
                                              double neg_lr_p_norm, double u_norm)                    \
    {                                                                                                 \
        const lamb_coeffs *c = rg->c;                                                                 \
        T *restrict p = rg->p;                                                                        \
        const T *restrict m = rg->m;                                                                  \
        const T *restrict v = rg->v;                                                                  \
        const T bc1 = (T)c->bias_correction1, bc2 = (T)c->bias_correction2;                           \
        const T eps = (T)c->eps, eps_root = (T)c->eps_root, wd = (T)c->weight_decay;                  \
        const T neg_lr = (T)c->neg_lr, ratio = (T)ratio_d;                                            \
        if (ratio_d > 0) {                                                                            \
            for (size_t i = b; i < e; i++) {                                                          \
                T u = lamb_u_##SFX(m[i], v[i], p[i], bc1, bc2, eps_root, eps, wd);                    \
                p[i] = p[i] + neg_lr * (ratio * u);                                                   \
            }                                                                                         \
        } else {                                                                                      \
            for (size_t i = b; i < e; i++) {                                                          \
                T u = lamb_u_##SFX(m[i], v[i], p[i], bc1, bc2, eps_root, eps, wd);                    \
                p[i] = p[i] + (T)(neg_lr_p_norm * ((double)u / u_norm));                              \
            }                                                                                         \
        }                                                                                             \
    }                                                                                                 \
    DESCENT_DISPATCH_FN(lamb_pass1_##SFX, lamb_pass1_body_##SFX,                                      \
                        (const lamb_range *rg, size_t b, size_t e, double *sums), (rg, b, e, sums))    \
    DESCENT_DISPATCH_FN(lamb_pass2_##SFX, lamb_pass2_body_##SFX,                                      \
                        (const lamb_range *rg, size_t b, size_t e, double r, double s, double un),     \
                        (rg, b, e, r, s, un))

LAMB_KERNELS(float, f32, sqrtf)
LAMB_KERNELS(double, f64, sqrt)

static void lamb_step(const descent_tensor_args *a)
{
    const int f64 = a->dtype == DESCENT_F64;
    const lamb_range rg = {a->coeffs, a->param, a->grad, a->state[0], a->state[1]};
    const size_t n = a->n, gs = descent_red_group_size(n);
    const int ng = descent_red_groups(n), isa = a->isa;
    double sums[DESCENT_RED_GROUPS][2];
    DESCENT_PARALLEL_FOR(k, ng, a->threads)
    {
        size_t b = (size_t)k * gs, e = n - b < gs ? n : b + gs;
        if (f64)
            lamb_pass1_f64(isa, &rg, b, e, sums[k]);
        else
            lamb_pass1_f32(isa, &rg, b, e, sums[k]);
    }
    double p_sq = 0, u_sq = 0;
    for (int k = 0; k < ng; k++) {
        p_sq += sums[k][0];
        u_sq += sums[k][1];
    }
    const lamb_coeffs *c = a->coeffs;
    double p_norm = sqrt(p_sq), u_norm = sqrt(u_sq);
    double ratio = p_norm == 0 || u_norm == 0 ? 1.0 : p_norm / u_norm;
    if (ratio > (f64 ? DBL_MAX : FLT_MAX))
        ratio = 0; /* out of the element type's range: the double form */
    const double neg_lr_p_norm = c->neg_lr * p_norm;
    /* The groups in reverse: the last ones pass 1 touched may still be cached. */
    DESCENT_PARALLEL_FOR(k, ng, a->threads)
    {
        int j = ng - 1 - k;
        size_t b = (size_t)j * gs, e = n - b < gs ? n : b + gs;
        if (f64)
            lamb_pass2_f64(isa, &rg, b, e, ratio, neg_lr_p_norm, u_norm);
        else
            lamb_pass2_f32(isa, &rg, b, e, ratio, neg_lr_p_norm, u_norm);
    }
}

/* Pass 2 reads p, exp_avg and exp_avg_sq again: 40 bytes per f32
 * parameter in all against 28 for one pass. */
static size_t lamb_extra_pass_bytes(int ndim, const size_t *shape, size_t n, size_t elem)
{
    (void)ndim;
    (void)shape;
    return 3 * n * elem;
}

const descent_algo descent_algo_lamb = {
    .validate = descent_validate_denominator,
    .name = "LAMB",
    .alias = "lamb",
    .momentum_name = "betas[0]",
    .defaults = lamb_defaults,
    .hparams = lamb_hparams,
    .state_count = lamb_state_count,
    .state_names = lamb_state_names,
    .state_init = descent_state_zero,
    .coeffs_size = sizeof(lamb_coeffs),
    .prepare = lamb_prepare,
    .tensor_step = lamb_step,
    .extra_pass_bytes = lamb_extra_pass_bytes,
};
