/* AdaBelief (Zhuang et al. 2020, "AdaBelief Optimizer: Adapting Stepsizes by
 * the Belief in Observed Gradients", Algorithm 2).
 *
 *   d = g (negated when maximize)
 *   p = p (1 - lr weight_decay)                       decoupled weight decay
 *   m = beta1 m + (1 - beta1) d                       exp_avg
 *   s = beta2 s + (1 - beta2) (d - m)^2 + eps         exp_avg_var (the new m)
 *   p -= lr / (1 - beta1^t) * m / (sqrt(s) / sqrt(1 - beta2^t) + eps)
 * The state s includes the eps added at every step, exactly as the paper
 * writes it and as adabelief-pytorch (0.2) stores exp_avg_var; this is
 * adabelief_pytorch.AdaBelief(weight_decouple=True, fixed_decay=False,
 * rectify=False, amsgrad=False). optax.adabelief differs only in leaving
 * weight decay to a separate transform and eps_root for the inner eps.
 *
 * rectify=True is the package's RAdam-style rectified update (its default;
 * ours stays False, the update above). With rho_inf = 2 / (1 - beta2) - 1 and
 * rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t):
 *   rho_t >= 5:  r = sqrt((1 - beta2^t) (rho_t - 4) / (rho_inf - 4) (rho_t - 2) / rho_t
 *                          rho_inf / (rho_inf - 2)) / (1 - beta1^t)
 *                p -= lr r m / (sqrt(s) + eps)
 *   otherwise, degenerated_to_sgd=True (default):  p -= lr / (1 - beta1^t) m
 *              degenerated_to_sgd=False:           no parameter change
 * The moments and the decoupled decay are updated as above in every case
 * (s keeps its added eps). */
#include "../internal.h"

#include <math.h>

static const hp_desc adabelief_hparams[] = {
    HP_LR,
    HP_BETAS,
    HP_EPS,
    HP_WEIGHT_DECAY,
    HP_MAXIMIZE,
    {"rectify", HP_BOOL, HP_FIELD(rectify), 0, 1, 0, NULL,
     "rectify the variance of the adaptive learning rate (RAdam style)"},
    {"degenerated_to_sgd", HP_BOOL, HP_FIELD(degenerated_to_sgd), 0, 1, 0, NULL,
     "take SGD-like steps while the variance is not tractable"},
    HP_END,
};

static void adabelief_defaults(descent_hparams *hp)
{
    hp->lr = 1e-3;
    hp->betas[0] = 0.9;
    hp->betas[1] = 0.999;
    hp->eps = 1e-16;
    hp->degenerated_to_sgd = 1;
}

static int adabelief_state_count(const descent_hparams *hp)
{
    (void)hp;
    return 2;
}

static const char *const adabelief_state_names[] = {"exp_avg", "exp_avg_var", NULL};

typedef struct adabelief_coeffs {
    double sign, decay, beta1, one_minus_beta1, beta2, one_minus_beta2;
    double eps, bias_correction2_sqrt, neg_step_size;
    float inv_bc2s_f32; /* 1 / bias_correction2_sqrt rounded, for descent_div_const */
    double inv_bc2s_f64;
    int mode; /* a rectify_mode */
} adabelief_coeffs;

/* rectify=False; rectified with rho_t >= 5; rectified SGD-like; no step. */
enum rectify_mode { PLAIN, RECTIFIED, RECTIFIED_SGD, RECTIFIED_NONE };

static void adabelief_prepare(const descent_hparams *hp, descent_tensor_scalars *ts, void *coeffs)
{
    adabelief_coeffs *c = coeffs;
    ts->step++;
    double t = (double)ts->step;
    c->sign = hp->maximize ? -1.0 : 1.0;
    c->decay = 1.0 - hp->lr * hp->weight_decay;
    c->beta1 = hp->betas[0];
    c->one_minus_beta1 = 1.0 - hp->betas[0];
    c->beta2 = hp->betas[1];
    c->one_minus_beta2 = 1.0 - hp->betas[1];
    c->eps = hp->eps;
    c->bias_correction2_sqrt = sqrt(1.0 - pow(hp->betas[1], t));
    c->inv_bc2s_f32 = 1.0f / (float)c->bias_correction2_sqrt;
    c->inv_bc2s_f64 = 1.0 / c->bias_correction2_sqrt;
    c->neg_step_size = -(hp->lr / (1.0 - pow(hp->betas[0], t)));
    c->mode = PLAIN;
    if (hp->rectify) {
        double beta2_t = pow(hp->betas[1], t);
        double rho_inf = 2.0 / (1.0 - hp->betas[1]) - 1.0;
        double rho_t = rho_inf - 2.0 * t * beta2_t / (1.0 - beta2_t);
        double step_size;
        if (rho_t >= 5) {
            c->mode = RECTIFIED;
            step_size = sqrt((1.0 - beta2_t) * (rho_t - 4.0) / (rho_inf - 4.0) * (rho_t - 2.0) / rho_t * rho_inf /
                             (rho_inf - 2.0)) /
                        (1.0 - pow(hp->betas[0], t));
        } else {
            c->mode = hp->degenerated_to_sgd ? RECTIFIED_SGD : RECTIFIED_NONE;
            step_size = 1.0 / (1.0 - pow(hp->betas[0], t));
        }
        c->neg_step_size = -step_size * hp->lr;
    }
}

#define DESCENT_KERNEL_FILE "adabelief_kernel.h"
#define DESCENT_KERNEL_BF16
#include "kernel_types.h"

const descent_algo descent_algo_adabelief = {
    .validate = descent_validate_denominator,
    .name = "AdaBelief",
    .alias = "adabelief",
    .momentum_name = "betas[0]",
    .defaults = adabelief_defaults,
    .hparams = adabelief_hparams,
    .state_count = adabelief_state_count,
    .state_names = adabelief_state_names,
    .state_init = descent_state_zero,
    .coeffs_size = sizeof(adabelief_coeffs),
    .prepare = adabelief_prepare,
    .kernel_f32 = adabelief_kernel_f32,
    .kernel_f64 = adabelief_kernel_f64, .kernel_bf16 = adabelief_kernel_bf16,
};
