/* Yogi (Zaheer et al. 2018, "Adaptive Methods for Nonconvex Optimization";
 * optax.yogi / scale_by_yogi semantics).
 *
 *   d = g (negated when maximize)
 *   m = beta1 m + (1 - beta1) d                          exp_avg
 *   v = v - (1 - beta2) sign(v - d^2) d^2                exp_avg_sq (additive)
 *   p -= lr (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
 * Both moments start at initial_accumulator_value (optax), not at zero; eps
 * is outside the square root, as in optax. */
#include "../internal.h"

#include <math.h>

static const hp_desc yogi_hparams[] = {
    HP_LR,
    HP_BETAS,
    HP_EPS,
    {"initial_accumulator_value", HP_REAL, HP_FIELD(initial_accumulator_value), 0, 0, HP_NO_HI, NULL,
     "starting value of the squared-gradient accumulator"},
    HP_MAXIMIZE,
    HP_END,
};

static void yogi_defaults(descent_hparams *hp)
{
    hp->lr = 1e-2;
    hp->betas[0] = 0.9;
    hp->betas[1] = 0.999;
    hp->eps = 1e-3;
    hp->initial_accumulator_value = 1e-6;
}

static int yogi_state_count(const descent_hparams *hp)
{
    (void)hp;
    return 2;
}

static const char *const yogi_state_names[] = {"exp_avg", "exp_avg_sq", NULL};

static double yogi_state_init(const descent_hparams *hp, int i)
{
    (void)i;
    return hp->initial_accumulator_value;
}

typedef struct yogi_coeffs {
    double sign, beta1, one_minus_beta1, one_minus_beta2;
    double bias_correction1, bias_correction2, eps, neg_lr;
} yogi_coeffs;

static void yogi_prepare(const descent_hparams *hp, descent_tensor_scalars *ts, void *coeffs)
{
    yogi_coeffs *c = coeffs;
    ts->step++;
    double t = (double)ts->step;
    c->sign = hp->maximize ? -1.0 : 1.0;
    c->beta1 = hp->betas[0];
    c->one_minus_beta1 = 1.0 - hp->betas[0];
    c->one_minus_beta2 = 1.0 - hp->betas[1];
    c->bias_correction1 = 1.0 - pow(hp->betas[0], t);
    c->bias_correction2 = 1.0 - pow(hp->betas[1], t);
    c->eps = hp->eps;
    c->neg_lr = -hp->lr;
}

#define DESCENT_KERNEL_FILE "yogi_kernel.h"
#define DESCENT_KERNEL_BF16
#include "kernel_types.h"

const descent_algo descent_algo_yogi = {
    .validate = descent_validate_denominator_or_accumulator,
    .name = "Yogi",
    .alias = "yogi",
    .momentum_name = "betas[0]",
    .defaults = yogi_defaults,
    .hparams = yogi_hparams,
    .state_count = yogi_state_count,
    .state_names = yogi_state_names,
    .state_init = yogi_state_init,
    .coeffs_size = sizeof(yogi_coeffs),
    .prepare = yogi_prepare,
    .kernel_f32 = yogi_kernel_f32,
    .kernel_f64 = yogi_kernel_f64, .kernel_bf16 = yogi_kernel_bf16,
};
