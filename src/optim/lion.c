/* Lion, evolved sign momentum (Chen et al. 2023, "Symbolic Discovery of
 * Optimization Algorithms"; as lion-pytorch and optax.lion define it).
 *
 *   d = g (negated when maximize)
 *   p = p (1 - lr weight_decay)                   decoupled weight decay
 *   c = beta1 m + (1 - beta1) d                   the interpolation
 *   p = p - lr sign(c)                            sign(0) = 0
 *   m = beta2 m + (1 - beta2) d                   exp_avg
 * No bias correction and no eps: every element moves by lr or not at all. */
#include "../internal.h"

static const hp_desc lion_hparams[] = {
    HP_LR,
    HP_BETAS,
    HP_WEIGHT_DECAY,
    HP_MAXIMIZE,
    HP_END,
};

static void lion_defaults(descent_hparams *hp)
{
    hp->lr = 1e-4;
    hp->betas[0] = 0.9;
    hp->betas[1] = 0.99;
}

static int lion_state_count(const descent_hparams *hp)
{
    (void)hp;
    return 1;
}

static const char *const lion_state_names[] = {"exp_avg", NULL};

typedef struct lion_coeffs {
    double sign, decay, neg_lr, beta1, one_minus_beta1, beta2, one_minus_beta2;
} lion_coeffs;

static void lion_prepare(const descent_hparams *hp, descent_tensor_scalars *ts, void *coeffs)
{
    lion_coeffs *c = coeffs;
    ts->step++;
    c->sign = hp->maximize ? -1.0 : 1.0;
    c->decay = 1.0 - hp->lr * hp->weight_decay;
    c->neg_lr = -hp->lr;
    c->beta1 = hp->betas[0];
    c->one_minus_beta1 = 1.0 - hp->betas[0];
    c->beta2 = hp->betas[1];
    c->one_minus_beta2 = 1.0 - hp->betas[1];
}

#define DESCENT_KERNEL_FILE "lion_kernel.h"
#define DESCENT_KERNEL_BF16
#include "kernel_types.h"

const descent_algo descent_algo_lion = {
    .name = "Lion",
    .alias = "lion",
    .momentum_name = "betas[0]",
    .defaults = lion_defaults,
    .hparams = lion_hparams,
    .state_count = lion_state_count,
    .state_names = lion_state_names,
    .state_init = descent_state_zero,
    .coeffs_size = sizeof(lion_coeffs),
    .prepare = lion_prepare,
    .kernel_f32 = lion_kernel_f32,
    .kernel_f64 = lion_kernel_f64, .kernel_bf16 = lion_kernel_bf16,
};
