/* RAdam (Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and
 * Beyond"; torch.optim.RAdam, single-tensor path, where 1.13 and 2.x agree).
 *
 *   d = g (negated when maximize)
 *   d += weight_decay p                  (L2, decoupled_weight_decay=False)
 *   p *= 1 - lr weight_decay             (decoupled_weight_decay=True, torch 2.x)
 *   m = beta1 m + (1 - beta1) d;  v = beta2 v + (1 - beta2) d^2
 *   rho_inf = 2 / (1 - beta2) - 1;  rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
 *   m_hat = m / (1 - beta1^t)
 *   rho_t > 5:  r = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t))
 *               p -= m_hat lr * (1 / (sqrt(v + eps_root (1-beta2^t)) + eps)) sqrt(1-beta2^t) * r
 *   otherwise:  p -= m_hat lr
 * eps is added to the uncorrected sqrt(v), as the single-tensor path of
 * torch 1.13 and 2.x does. */
#include "../internal.h"

#include <math.h>

static const hp_desc radam_hparams[] = {
    HP_LR,
    HP_BETAS,
    HP_EPS,
    HP_WEIGHT_DECAY,
    HP_DECOUPLED_WEIGHT_DECAY,
    HP_MAXIMIZE,
    HP_EPS_ROOT,
    HP_STATE_BITS,
    HP_END,
};

static void radam_defaults(descent_hparams *hp)
{
    hp->lr = 1e-3;
    hp->betas[0] = 0.9;
    hp->betas[1] = 0.999;
    hp->eps = 1e-8;
    hp->state_bits = 32;
}

static int radam_state_count(const descent_hparams *hp)
{
    (void)hp;
    return 2;
}

static const char *const radam_state_names[] = {"exp_avg", "exp_avg_sq", NULL};

typedef struct radam_coeffs {
    double sign, weight_decay, decay_factor, beta1, one_minus_beta1, beta2, one_minus_beta2;
    double bias_correction1, lr, eps, eps_root_scaled, bias_correction2_sqrt, rect;
    int rectify;
} radam_coeffs;

static void radam_prepare(const descent_hparams *hp, descent_tensor_scalars *ts, void *coeffs)
{
    radam_coeffs *c = coeffs;
    ts->step++;
    double t = (double)ts->step;
    double beta1 = hp->betas[0], beta2 = hp->betas[1];
    double bias_correction2 = 1.0 - pow(beta2, t);
    double rho_inf = 2.0 / (1.0 - beta2) - 1.0;
    double rho_t = rho_inf - 2.0 * t * pow(beta2, t) / bias_correction2;
    c->sign = hp->maximize ? -1.0 : 1.0;
    c->weight_decay = hp->decoupled_weight_decay ? 0.0 : hp->weight_decay;
    c->decay_factor = hp->decoupled_weight_decay ? 1.0 - hp->lr * hp->weight_decay : 1.0;
    c->beta1 = beta1;
    c->one_minus_beta1 = 1.0 - beta1;
    c->beta2 = beta2;
    c->one_minus_beta2 = 1.0 - beta2;
    c->bias_correction1 = 1.0 - pow(beta1, t);
    c->lr = hp->lr;
    c->eps = hp->eps;
    c->eps_root_scaled = hp->eps_root * bias_correction2;
    c->bias_correction2_sqrt = sqrt(bias_correction2);
    c->rectify = rho_t > 5.0;
    c->rect = c->rectify ? sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) : 0;
}

/* The element loop, instantiated for each setting of its flags as
 * compile-time constants, so every variant is branch-free and vectorizes. */
#define DESCENT_KERNEL_FILE "radam_kernel.h"
#define DESCENT_KERNEL_BF16
#include "kernel_types.h"

const descent_algo descent_algo_radam = {
    .validate = descent_validate_denominator,
    .name = "RAdam", .alias = "radam", .momentum_name = "betas[0]",
    .defaults = radam_defaults, .hparams = radam_hparams,
    .state_count = radam_state_count, .state_names = radam_state_names,
    .state_init = descent_state_zero,
    .coeffs_size = sizeof(radam_coeffs), .prepare = radam_prepare,
    .kernel_f32 = radam_kernel_f32, .kernel_f64 = radam_kernel_f64, .kernel_bf16 = radam_kernel_bf16,
    .state_q8 = "su",
};
