/* Adagrad (Duchi et al. 2011; torch.optim.Adagrad, single-tensor path).
 *
 *   d = g (negated when maximize) + weight_decay p
 *   clr = lr / (1 + (t - 1) lr_decay)
 *   G = G + d^2                       sum, from initial_accumulator_value
 *   p -= clr d / (sqrt(G + eps_root) + eps)
 * eps inside the root, p -= lr / sqrt(G + eps) d as Keras's Adagrad places
 * it: eps=0, eps_root=e. */
#include "../internal.h"

#include <math.h>

static const hp_desc adagrad_hparams[] = {
    HP_LR,
    {"lr_decay", HP_REAL, HP_FIELD(lr_decay), 0, 0, HP_NO_HI, NULL, "learning-rate decay: lr / (1 + (t - 1) lr_decay)"},
    HP_WEIGHT_DECAY,
    {"initial_accumulator_value", HP_REAL, HP_FIELD(initial_accumulator_value), 0, 0, HP_NO_HI, NULL,
     "starting value of the squared-gradient accumulator"},
    HP_EPS,
    HP_MAXIMIZE,
    HP_EPS_ROOT,
    HP_END,
};

static void adagrad_defaults(descent_hparams *hp)
{
    hp->lr = 1e-2;
    hp->eps = 1e-10;
}

static int adagrad_state_count(const descent_hparams *hp)
{
    (void)hp;
    return 1;
}

static const char *const adagrad_state_names[] = {"sum", NULL};

static double adagrad_state_init(const descent_hparams *hp, int i)
{
    (void)i;
    return hp->initial_accumulator_value;
}

typedef struct adagrad_coeffs {
    double sign, weight_decay, neg_clr, eps, eps_root;
} adagrad_coeffs;

static void adagrad_prepare(const descent_hparams *hp, descent_tensor_scalars *ts, void *coeffs)
{
    adagrad_coeffs *c = coeffs;
    ts->step++;
    c->sign = hp->maximize ? -1.0 : 1.0;
    c->weight_decay = hp->weight_decay;
    c->neg_clr = -(hp->lr / (1.0 + (double)(ts->step - 1) * hp->lr_decay));
    c->eps = hp->eps;
    c->eps_root = hp->eps_root;
}

/* The element loop, instantiated for each setting of its flags as
 * compile-time constants, so every variant is branch-free and vectorizes. */
#define DESCENT_KERNEL_FILE "adagrad_kernel.h"
#define DESCENT_KERNEL_BF16
#include "kernel_types.h"

const descent_algo descent_algo_adagrad = {
    .validate = descent_validate_denominator_or_accumulator,
    .name = "Adagrad", .alias = "adagrad", .momentum_name = NULL,
    .defaults = adagrad_defaults, .hparams = adagrad_hparams,
    .state_count = adagrad_state_count, .state_names = adagrad_state_names,
    .state_init = adagrad_state_init,
    .coeffs_size = sizeof(adagrad_coeffs), .prepare = adagrad_prepare,
    .kernel_f32 = adagrad_kernel_f32, .kernel_f64 = adagrad_kernel_f64, .kernel_bf16 = adagrad_kernel_bf16,
};
