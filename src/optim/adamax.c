/* Adamax (Kingma & Ba 2015, sec. 7; torch.optim.Adamax, single-tensor path).
 *
 *   d = g (negated when maximize) + weight_decay p
 *   m = beta1 m + (1 - beta1) d                  exp_avg
 *   u = max(beta2 u, |d| + eps)                  exp_inf
 *   p -= lr / (1 - beta1^t) * m / u
 * No square root, so there is no eps_root. */
#include "../internal.h"

#include <math.h>

static const hp_desc adamax_hparams[] = {
    HP_LR,
    HP_BETAS,
    HP_EPS,
    HP_WEIGHT_DECAY,
    HP_MAXIMIZE,
    HP_STATE_BITS,
    HP_END,
};

static void adamax_defaults(descent_hparams *hp)
{
    hp->lr = 2e-3;
    hp->betas[0] = 0.9;
    hp->betas[1] = 0.999;
    hp->eps = 1e-8;
    hp->state_bits = 32;
}

static int adamax_state_count(const descent_hparams *hp)
{
    (void)hp;
    return 2;
}

static const char *const adamax_state_names[] = {"exp_avg", "exp_inf", NULL};

typedef struct adamax_coeffs {
    double sign, weight_decay, beta1, one_minus_beta1, beta2, eps, neg_clr;
} adamax_coeffs;

static void adamax_prepare(const descent_hparams *hp, descent_tensor_scalars *ts, void *coeffs)
{
    adamax_coeffs *c = coeffs;
    ts->step++;
    c->sign = hp->maximize ? -1.0 : 1.0;
    c->weight_decay = hp->weight_decay;
    c->beta1 = hp->betas[0];
    c->one_minus_beta1 = 1.0 - hp->betas[0];
    c->beta2 = hp->betas[1];
    c->eps = hp->eps;
    c->neg_clr = -(hp->lr / (1.0 - pow(hp->betas[0], (double)ts->step)));
}

/* The element loop, instantiated for each setting of its flags as
 * compile-time constants, so every variant is branch-free and vectorizes. */
#define DESCENT_KERNEL_FILE "adamax_kernel.h"
#define DESCENT_KERNEL_BF16
#include "kernel_types.h"

const descent_algo descent_algo_adamax = {
    .validate = descent_validate_denominator,
    .name = "Adamax", .alias = "adamax", .momentum_name = "betas[0]",
    .defaults = adamax_defaults, .hparams = adamax_hparams,
    .state_count = adamax_state_count, .state_names = adamax_state_names,
    .state_init = descent_state_zero,
    .coeffs_size = sizeof(adamax_coeffs), .prepare = adamax_prepare,
    .kernel_f32 = adamax_kernel_f32, .kernel_f64 = adamax_kernel_f64, .kernel_bf16 = adamax_kernel_bf16,
    .state_q8 = "su",
};
