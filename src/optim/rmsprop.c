/* RMSprop (Hinton's lecture 6e; torch.optim.RMSprop, single-tensor path).
 *
 *   d = g (negated when maximize) + weight_decay p
 *   v = alpha v + (1 - alpha) d^2                   square_avg
 *   centered: a = alpha a + (1 - alpha) d;  v~ = v - a^2   (grad_avg)
 *   denom = sqrt(v~ + eps_root) + eps
 *   momentum > 0: b = momentum b + d / denom;  p -= lr b   (momentum_buffer)
 *   otherwise:    p -= lr d / denom
 * eps inside the root, p -= lr / sqrt(G + eps) d as in Tieleman & Hinton's
 * RMSprop: eps=0, eps_root=e. */
#include "../internal.h"

#include <math.h>

static const hp_desc rmsprop_hparams[] = {
    HP_LR,
    /* alpha < 1, unlike torch (which checks alpha >= 0 only): for alpha > 1
     * square_avg = alpha v + (1 - alpha) g^2 turns negative and its square
     * root NaN on finite gradients; at alpha = 1 it stays at its initial 0,
     * so every step is lr g / eps (1e8 lr g at the default eps). */
        {"alpha", HP_REAL, HP_FIELD(alpha), 0, 1, HP_HI_OPEN, NULL, "smoothing constant of the squared-gradient average"},
    HP_EPS,
    HP_WEIGHT_DECAY,
    {"momentum", HP_REAL, HP_FIELD(momentum), 0, 0, HP_NO_HI, NULL, "momentum factor"},
    {"centered", HP_BOOL, HP_FIELD(centered), 0, 1, 0, NULL,
     "normalize by the variance estimate (subtract the squared mean gradient)"},
    HP_MAXIMIZE,
    HP_EPS_ROOT,
    HP_END,
};

static void rmsprop_defaults(descent_hparams *hp)
{
    hp->lr = 1e-2;
    hp->alpha = 0.99;
    hp->eps = 1e-8;
}

/* square_avg always; momentum_buffer when momentum > 0; grad_avg when centered. */
static int rmsprop_state_count(const descent_hparams *hp) { return hp->centered ? 3 : hp->momentum > 0 ? 2 : 1; }

static const char *const rmsprop_state_names[] = {"square_avg", "momentum_buffer", "grad_avg", NULL};

typedef struct rmsprop_coeffs {
    double sign, weight_decay, alpha, one_minus_alpha, eps, eps_root, momentum, neg_lr;
    int centered, use_momentum;
} rmsprop_coeffs;

static void rmsprop_prepare(const descent_hparams *hp, descent_tensor_scalars *ts, void *coeffs)
{
    rmsprop_coeffs *c = coeffs;
    ts->step++;
    c->sign = hp->maximize ? -1.0 : 1.0;
    c->weight_decay = hp->weight_decay;
    c->alpha = hp->alpha;
    c->one_minus_alpha = 1.0 - hp->alpha;
    c->eps = hp->eps;
    c->eps_root = hp->eps_root;
    c->momentum = hp->momentum;
    c->neg_lr = -hp->lr;
    c->centered = hp->centered;
    c->use_momentum = hp->momentum > 0;
}

/* The element loop, instantiated for each setting of its flags as
 * compile-time constants, so every variant is branch-free and vectorizes. */
#define DESCENT_KERNEL_FILE "rmsprop_kernel.h"
#define DESCENT_KERNEL_BF16
#include "kernel_types.h"

const descent_algo descent_algo_rmsprop = {
    .validate = descent_validate_denominator,
    .name = "RMSprop", .alias = "rmsprop", .momentum_name = "momentum",
    .defaults = rmsprop_defaults, .hparams = rmsprop_hparams,
    .state_count = rmsprop_state_count, .state_names = rmsprop_state_names,
    .state_init = descent_state_zero,
    .coeffs_size = sizeof(rmsprop_coeffs), .prepare = rmsprop_prepare,
    .kernel_f32 = rmsprop_kernel_f32, .kernel_f64 = rmsprop_kernel_f64, .kernel_bf16 = rmsprop_kernel_bf16,
};
