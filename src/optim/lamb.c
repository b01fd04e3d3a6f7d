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
 * The norms are whole-tensor sums of squares, accumulated in double in
 * element order on one thread (so any thread count gives the same bits):
 * a first pass updates m, v and the two sums, a second recomputes u from
 * the stored m, v and applies it. optax has no maximize. */
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

/* The trust ratio ||p|| / ||u|| exceeds the element type's range when ||u||
 * is tiny (a frozen layer: zero gradients for hundreds of steps shrink m
 * geometrically), although r u never exceeds ||p||: |u_i| <= ||u||. Then the
 * step is formed as lr ||p|| (u_i / ||u||) in double, which stays finite. */
#define LAMB_STEP(T, SFX, SQRT, T_MAX)                                                                \
    static void lamb_step_##SFX(const descent_tensor_args *a)                                  \
    {                                                                                          \
        const lamb_coeffs *c = a->coeffs;                                                      \
        T *restrict p = a->param;                                                              \
        const T *restrict g = a->grad;                                                         \
        T *restrict m = a->state[0];                                                           \
        T *restrict v = a->state[1];                                                           \
        const T b1 = (T)c->beta1, omb1 = (T)c->one_minus_beta1;                                \
        const T b2 = (T)c->beta2, omb2 = (T)c->one_minus_beta2;                                \
        const T bc1 = (T)c->bias_correction1, bc2 = (T)c->bias_correction2;                    \
        const T eps = (T)c->eps, eps_root = (T)c->eps_root, wd = (T)c->weight_decay;           \
        double p_sq = 0, u_sq = 0;                                                             \
        for (size_t i = 0; i < a->n; i++) {                                                    \
            T mi = omb1 * g[i] + b1 * m[i];                                                    \
            T vi = omb2 * (g[i] * g[i]) + b2 * v[i];                                           \
            m[i] = mi;                                                                         \
            v[i] = vi;                                                                         \
            T u = (mi / bc1) / (SQRT(vi / bc2 + eps_root) + eps) + wd * p[i];                  \
            p_sq += (double)p[i] * (double)p[i];                                               \
            u_sq += (double)u * (double)u;                                                     \
        }                                                                                      \
        double p_norm = sqrt(p_sq), u_norm = sqrt(u_sq);                                       \
        double ratio_d = p_norm == 0 || u_norm == 0 ? 1.0 : p_norm / u_norm;                   \
        const int in_range = ratio_d <= T_MAX;                                                 \
        const T ratio = in_range ? (T)ratio_d : 1;                                             \
        const T neg_lr = (T)c->neg_lr;                                                         \
        const double neg_lr_p_norm = c->neg_lr * p_norm;                                       \
        for (size_t i = 0; i < a->n; i++) {                                                    \
            T u = (m[i] / bc1) / (SQRT(v[i] / bc2 + eps_root) + eps) + wd * p[i];              \
            if (in_range)                                                                      \
                p[i] = p[i] + neg_lr * (ratio * u);                                            \
            else                                                                               \
                p[i] = p[i] + (T)(neg_lr_p_norm * ((double)u / u_norm));                       \
        }                                                                                      \
    }

LAMB_STEP(float, f32, sqrtf, FLT_MAX)
LAMB_STEP(double, f64, sqrt, DBL_MAX)

static void lamb_step(const descent_tensor_args *a)
{
    if (a->dtype == DESCENT_F64)
        lamb_step_f64(a);
    else
        lamb_step_f32(a);
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
};
