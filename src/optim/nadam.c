/* NAdam (Dozat 2016, "Incorporating Nesterov Momentum into Adam";
 * torch.optim.NAdam of PyTorch 2.x, single-tensor path).
 *
 *   d = g (negated when maximize)
 *   d += weight_decay p                  (L2, decoupled_weight_decay=False)
 *   p *= 1 - lr weight_decay             (decoupled_weight_decay=True, "NAdamW")
 *   mu_t = beta1 (1 - 0.5 * 0.96^(t psi)),  psi = momentum_decay
 *   P_t = prod_{i<=t} mu_i                          mu_product
 *   m = beta1 m + (1 - beta1) d;  v = beta2 v + (1 - beta2) d^2
 *   denom = sqrt(v / (1 - beta2^t) + eps_root) + eps
 *   p -= lr (1 - mu_t) / (1 - P_t) * d / denom
 *   p -= lr mu_{t+1} / (1 - P_t mu_{t+1}) * m / denom
 * The last denominator is Dozat's prod_{i<=t+1} mu_i, as torch 2.x computes
 * it. torch 1.13 multiplied by mu_t once more (P_t mu_t mu_{t+1});
 * legacy_mu_product=True reproduces that. mu_product is kept in double
 * (torch keeps it in the default dtype). */
#include "../internal.h"

#include <math.h>

static const hp_desc nadam_hparams[] = {
    HP_LR,
    HP_BETAS,
    HP_EPS,
    HP_WEIGHT_DECAY,
    {"momentum_decay", HP_REAL, HP_FIELD(momentum_decay), 0, 0, HP_NO_HI, NULL,
     "momentum decay psi of the mu_t schedule"},
    HP_DECOUPLED_WEIGHT_DECAY,
    HP_MAXIMIZE,
    HP_EPS_ROOT,
    HP_STATE_BITS,
    {"legacy_mu_product", HP_BOOL, HP_FIELD(legacy_mu_product), 0, 1, 0, NULL,
     "torch 1.13's mu_product_next = P_t mu_t mu_{t+1} instead of P_t mu_{t+1}"},
    HP_END,
};

static void nadam_defaults(descent_hparams *hp)
{
    hp->lr = 2e-3;
    hp->betas[0] = 0.9;
    hp->betas[1] = 0.999;
    hp->eps = 1e-8;
    hp->momentum_decay = 4e-3;
    hp->state_bits = 32;
}

static int nadam_state_count(const descent_hparams *hp)
{
    (void)hp;
    return 2;
}

static const char *const nadam_state_names[] = {"exp_avg", "exp_avg_sq", NULL};

typedef struct nadam_coeffs {
    double sign, weight_decay, decay_factor, beta1, one_minus_beta1, beta2, one_minus_beta2;
    double bias_correction2, eps, eps_root, grad_coeff, exp_avg_coeff;
} nadam_coeffs;

static void nadam_prepare(const descent_hparams *hp, descent_tensor_scalars *ts, void *coeffs)
{
    nadam_coeffs *c = coeffs;
    if (ts->step == 0)
        ts->mu_product = 1.0;
    ts->step++;
    double t = (double)ts->step;
    double beta1 = hp->betas[0], beta2 = hp->betas[1];
    double mu = beta1 * (1.0 - 0.5 * pow(0.96, t * hp->momentum_decay));
    double mu_next = beta1 * (1.0 - 0.5 * pow(0.96, (t + 1.0) * hp->momentum_decay));
    ts->mu_product *= mu;
    double mu_product_next = ts->mu_product * mu_next;
    if (hp->legacy_mu_product)
        mu_product_next *= mu;
    c->sign = hp->maximize ? -1.0 : 1.0;
    c->weight_decay = hp->decoupled_weight_decay ? 0.0 : hp->weight_decay;
    c->decay_factor = hp->decoupled_weight_decay ? 1.0 - hp->lr * hp->weight_decay : 1.0;
    c->beta1 = beta1;
    c->one_minus_beta1 = 1.0 - beta1;
    c->beta2 = beta2;
    c->one_minus_beta2 = 1.0 - beta2;
    c->bias_correction2 = 1.0 - pow(beta2, t);
    c->eps = hp->eps;
    c->eps_root = hp->eps_root;
    c->grad_coeff = -hp->lr * (1.0 - mu) / (1.0 - ts->mu_product);
    c->exp_avg_coeff = -hp->lr * mu_next / (1.0 - mu_product_next);
}

/* The element loop, instantiated for each setting of its flags as
 * compile-time constants, so every variant is branch-free and vectorizes. */
#define DESCENT_KERNEL_FILE "nadam_kernel.h"
#define DESCENT_KERNEL_BF16
#include "kernel_types.h"

static const descent_scalar_desc nadam_scalars[] = {DESCENT_SCALAR("mu_product", mu_product, -1, 1), {NULL, 0, 0, 0}};

const descent_algo descent_algo_nadam = {
    .validate = descent_validate_denominator,
    .name = "NAdam", .alias = "nadam", .momentum_name = "betas[0]",
    .defaults = nadam_defaults, .hparams = nadam_hparams,
    .state_count = nadam_state_count, .state_names = nadam_state_names,
    .state_init = descent_state_zero,
    .coeffs_size = sizeof(nadam_coeffs), .prepare = nadam_prepare,
    .kernel_f32 = nadam_kernel_f32, .kernel_f64 = nadam_kernel_f64, .kernel_bf16 = nadam_kernel_bf16,
    .state_q8 = "su",
    .scalars = nadam_scalars,
};
