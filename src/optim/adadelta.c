/* Adadelta (Zeiler 2012; torch.optim.Adadelta, single-tensor path).
 *
 *   d = g (negated when maximize) + weight_decay p
 *   v = rho v + (1 - rho) d^2                          square_avg
 *   delta = sqrt(u + eps) / sqrt(v + eps) * d
 *   u = rho u + (1 - rho) delta^2                      acc_delta
 *   p -= lr delta
 * eps already sits inside both roots, as in Zeiler's paper; lr = 1 is the paper. */
#include "../internal.h"

#include <math.h>

static const hp_desc adadelta_hparams[] = {
    HP_LR,
    {"rho", HP_REAL, HP_FIELD(rho), 0, 1, 0, NULL, "decay rate of the squared-gradient and squared-update averages"},
    HP_EPS,
    HP_WEIGHT_DECAY,
    HP_MAXIMIZE,
    HP_END,
};

static void adadelta_defaults(descent_hparams *hp)
{
    hp->lr = 1.0;
    hp->rho = 0.9;
    hp->eps = 1e-6;
}

static int adadelta_state_count(const descent_hparams *hp)
{
    (void)hp;
    return 2;
}

static const char *const adadelta_state_names[] = {"square_avg", "acc_delta", NULL};

typedef struct adadelta_coeffs {
    double sign, weight_decay, rho, one_minus_rho, eps, neg_lr;
} adadelta_coeffs;

static void adadelta_prepare(const descent_hparams *hp, descent_tensor_scalars *ts, void *coeffs)
{
    adadelta_coeffs *c = coeffs;
    ts->step++;
    c->sign = hp->maximize ? -1.0 : 1.0;
    c->weight_decay = hp->weight_decay;
    c->rho = hp->rho;
    c->one_minus_rho = 1.0 - hp->rho;
    c->eps = hp->eps;
    c->neg_lr = -hp->lr;
}

/* The element loop, instantiated for each setting of its flags as
 * compile-time constants, so every variant is branch-free and vectorizes. */
#define DESCENT_KERNEL_FILE "adadelta_kernel.h"
#define DESCENT_KERNEL_BF16
#include "kernel_types.h"

const descent_algo descent_algo_adadelta = {
    .validate = descent_validate_denominator,
    .name = "Adadelta", .alias = "adadelta", .momentum_name = NULL,
    .defaults = adadelta_defaults, .hparams = adadelta_hparams,
    .state_count = adadelta_state_count, .state_names = adadelta_state_names,
    .state_init = descent_state_zero,
    .coeffs_size = sizeof(adadelta_coeffs), .prepare = adadelta_prepare,
    .kernel_f32 = adadelta_kernel_f32, .kernel_f64 = adadelta_kernel_f64, .kernel_bf16 = adadelta_kernel_bf16,
};
