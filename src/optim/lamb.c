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
#define DESCENT_KERNEL_FILE "lamb_kernel.h"
#include "kernel_types.h"

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
