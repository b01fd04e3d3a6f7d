/* FTRL-Proximal (McMahan et al. 2013, "Ad Click Prediction: a View from the
 * Trenches", Algorithm 1), with the arguments and the update of Keras's
 * tf.keras.optimizers.Ftrl (keras/src/optimizers/ftrl.py, update_step):
 *
 *   k = -learning_rate_power                         (0.5: AdaGrad-style rates)
 *   l2' = l2_regularization_strength + beta / (2 lr)
 *   g~ = g + 2 l2_shrinkage_regularization_strength p   (shrinkage-type L2)
 *   n' = n + g^2                                      accumulator (uses g, not g~)
 *   z = z + g~ - (n'^k - n^k) / lr * p                linear
 *   q = n'^k / lr + 2 l2'                             quadratic
 *   p = (clip(z, -l1, l1) - z) / q                    closed-form proximal step
 *   n = n'
 * The accumulator starts at initial_accumulator_value, linear at 0. Keras has
 * no maximize; lr must be > 0 (the update divides by it). */
#include "../internal.h"

#include <math.h>

static const hp_desc ftrl_hparams[] = {
    {"lr", HP_REAL, HP_FIELD(lr), 0, 0, HP_LO_OPEN | HP_NO_HI, NULL, "learning rate (step size)"},
    {"learning_rate_power", HP_REAL, HP_FIELD(learning_rate_power), -HUGE_VAL, 0, 0, NULL,
     "power of the learning-rate decrease (-0.5: 1/sqrt)"},
    {"initial_accumulator_value", HP_REAL, HP_FIELD(initial_accumulator_value), 0, 0, HP_NO_HI, NULL,
     "starting value of the squared-gradient accumulator"},
    {"l1_regularization_strength", HP_REAL, HP_FIELD(l1_regularization_strength), 0, 0, HP_NO_HI, NULL,
     "L1 regularization strength"},
    {"l2_regularization_strength", HP_REAL, HP_FIELD(l2_regularization_strength), 0, 0, HP_NO_HI, NULL,
     "L2 regularization strength"},
    {"l2_shrinkage_regularization_strength", HP_REAL, HP_FIELD(l2_shrinkage_regularization_strength), 0, 0,
     HP_NO_HI, NULL, "L2 shrinkage regularization strength (on the gradient)"},
    {"beta", HP_REAL, HP_FIELD(beta), 0, 0, HP_NO_HI, NULL,
     "added to the square root of the accumulator in the denominator"},
    HP_END,
};

/* q = n^k / lr + 2 l2' is 0 on a zero gradient when the accumulator starts
 * at 0 and nothing else is positive: p = 0/0 (Keras accepts it). */
static int ftrl_validate(const descent_hparams *hp, descent_error *err)
{
    if (hp->initial_accumulator_value == 0 && hp->learning_rate_power != 0 && hp->beta == 0 &&
        hp->l2_regularization_strength == 0)
        return descent_fail(err, DESCENT_ERR_INVALID,
                            "initial_accumulator_value = 0 with beta = 0 and l2_regularization_strength = 0 "
                            "divides 0 by 0 wherever a gradient element is 0 (the update would be NaN); make one "
                            "of them > 0");
    return 0;
}

static void ftrl_defaults(descent_hparams *hp)
{
    hp->lr = 1e-3;
    hp->learning_rate_power = -0.5;
    hp->initial_accumulator_value = 0.1;
}

static int ftrl_state_count(const descent_hparams *hp)
{
    (void)hp;
    return 2;
}

static const char *const ftrl_state_names[] = {"accumulator", "linear", NULL};

static double ftrl_state_init(const descent_hparams *hp, int i)
{
    return i == 0 ? hp->initial_accumulator_value : 0.0;
}

typedef struct ftrl_coeffs {
    double lr, power, two_shrinkage, two_l2, l1;
} ftrl_coeffs;

static void ftrl_prepare(const descent_hparams *hp, descent_tensor_scalars *ts, void *coeffs)
{
    ftrl_coeffs *c = coeffs;
    ts->step++;
    c->lr = hp->lr;
    c->power = -hp->learning_rate_power;
    c->two_shrinkage = 2.0 * hp->l2_shrinkage_regularization_strength;
    c->two_l2 = 2.0 * (hp->l2_regularization_strength + hp->beta / (2.0 * hp->lr));
    c->l1 = hp->l1_regularization_strength;
}

/* With the default learning_rate_power = -0.5 the powers are square roots:
 * that loop uses SQRT (correctly rounded, where pow may be off by an ulp, and
 * vectorizable); any other power calls POW. */
#define DESCENT_KERNEL_FILE "ftrl_kernel.h"
#define DESCENT_KERNEL_BF16
#include "kernel_types.h"

const descent_algo descent_algo_ftrl = {
    .validate = ftrl_validate,
    .name = "FTRL",
    .alias = "ftrl",
    .momentum_name = NULL,
    .defaults = ftrl_defaults,
    .hparams = ftrl_hparams,
    .state_count = ftrl_state_count,
    .state_names = ftrl_state_names,
    .state_init = ftrl_state_init,
    .coeffs_size = sizeof(ftrl_coeffs),
    .prepare = ftrl_prepare,
    .kernel_f32 = ftrl_kernel_f32,
    .kernel_f64 = ftrl_kernel_f64, .kernel_bf16 = ftrl_kernel_bf16,
};
