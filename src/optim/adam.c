/* Adam, AdamW and AMSGrad (torch.optim.Adam / AdamW, single-tensor path).
 *
 *   d = g (negated when maximize);  d += weight_decay p   (Adam, L2)
 *   p *= 1 - lr weight_decay                              (AdamW, decoupled)
 *   m = beta1 m + (1 - beta1) d                 exp_avg
 *   v = beta2 v + (1 - beta2) d^2               exp_avg_sq
 *   vmax = max(vmax, v) and v := vmax           amsgrad (max of the raw v)
 *   denom = sqrt(v + eps_root (1 - beta2^t)) / sqrt(1 - beta2^t) + eps
 *   p -= lr / (1 - beta1^t) * m / denom
 * With eps_root = 0 this is PyTorch's expression term for term; with eps = 0
 * and eps_root = e it is  p -= lr / sqrt(v_hat + e) * m_hat, with e inside the
 * square root as optax's eps_root
 * (Kingma & Ba 2015; Loshchilov & Hutter 2019; Reddi et al. 2018).
 * Adam(decoupled_weight_decay=True) is AdamW, as in torch 2.x. */
#include "../internal.h"

#include <math.h>

#define ADAM_COMMON_HPARAMS                                                                       \
    HP_LR, HP_BETAS, HP_EPS, HP_WEIGHT_DECAY, {"amsgrad", HP_BOOL, HP_FIELD(amsgrad), 0, 1, 0, NULL,            \
     "use the maximum of past second moments (AMSGrad)"},                                          \
        HP_MAXIMIZE, HP_EPS_ROOT, HP_STATE_BITS

/* torch 2.x: Adam(decoupled_weight_decay=True) is AdamW; keyword-only there. */
static const hp_desc adam_hparams[] = {
    ADAM_COMMON_HPARAMS,
    {"decoupled_weight_decay", HP_BOOL, HP_FIELD(decoupled_weight_decay), 0, 1, HP_KW_ONLY, NULL,
     "decay the parameter before the update, as AdamW does (torch 2.x)"},
    HP_END,
};

static const hp_desc adamw_hparams[] = {
    ADAM_COMMON_HPARAMS,
    HP_END,
};

static void adam_defaults(descent_hparams *hp)
{
    hp->lr = 1e-3;
    hp->betas[0] = 0.9;
    hp->betas[1] = 0.999;
    hp->eps = 1e-8;
    hp->state_bits = 32;
}

static void adamw_defaults(descent_hparams *hp)
{
    adam_defaults(hp);
    hp->weight_decay = 1e-2;
}

static void amsgrad_defaults(descent_hparams *hp)
{
    adam_defaults(hp);
    hp->amsgrad = 1;
}

static int adam_state_count(const descent_hparams *hp) { return hp->amsgrad ? 3 : 2; }

static const char *const adam_state_names[] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq", NULL};

typedef struct adam_coeffs {
    double sign, weight_decay, decay_factor; /* decay_factor = 1 - lr wd (AdamW) */
    double beta1, one_minus_beta1, beta2, one_minus_beta2;
    double neg_step_size, bias_correction2_sqrt, eps, eps_root_scaled;
    /* 1 / bias_correction2_sqrt rounded to the element type, for
     * descent_div_const: one division per step instead of one per element */
    float inv_bc2s_f32;
    double inv_bc2s_f64;
    int decoupled, amsgrad;
} adam_coeffs;

static void prepare(const descent_hparams *hp, descent_tensor_scalars *ts, adam_coeffs *c, int decoupled)
{
    ts->step++;
    double t = (double)ts->step;
    double bias_correction1 = 1.0 - pow(hp->betas[0], t);
    double bias_correction2 = 1.0 - pow(hp->betas[1], t);
    c->sign = hp->maximize ? -1.0 : 1.0;
    c->decoupled = decoupled;
    c->weight_decay = decoupled ? 0.0 : hp->weight_decay;
    c->decay_factor = 1.0 - hp->lr * hp->weight_decay;
    c->beta1 = hp->betas[0];
    c->one_minus_beta1 = 1.0 - hp->betas[0];
    c->beta2 = hp->betas[1];
    c->one_minus_beta2 = 1.0 - hp->betas[1];
    c->neg_step_size = -(hp->lr / bias_correction1);
    c->bias_correction2_sqrt = sqrt(bias_correction2);
    c->inv_bc2s_f32 = 1.0f / (float)c->bias_correction2_sqrt;
    c->inv_bc2s_f64 = 1.0 / c->bias_correction2_sqrt;
    c->eps = hp->eps;
    c->eps_root_scaled = hp->eps_root * bias_correction2;
    c->amsgrad = hp->amsgrad;
}

static void adam_prepare(const descent_hparams *hp, descent_tensor_scalars *ts, void *coeffs)
{
    prepare(hp, ts, coeffs, hp->decoupled_weight_decay);
}

static void adamw_prepare(const descent_hparams *hp, descent_tensor_scalars *ts, void *coeffs)
{
    prepare(hp, ts, coeffs, 1);
}

/* How weight decay enters: not at all, as L2 in the gradient (Adam), or
 * decoupled on the parameter (AdamW; p * 1 with weight_decay = 0 is exact). */
enum { WD_NONE, WD_L2, WD_DECOUPLED };

/* The element loop, instantiated for each (weight decay, amsgrad) pair as
 * compile-time constants, so every variant is a branch-free loop the
 * compiler vectorizes. */
#define DESCENT_KERNEL_FILE "adam_kernel.h"
#define DESCENT_KERNEL_BF16
#include "kernel_types.h"

const descent_algo descent_algo_adam = {
    .validate = descent_validate_denominator,
    .name = "Adam", .alias = "adam", .momentum_name = "betas[0]",
    .defaults = adam_defaults, .hparams = adam_hparams,
    .state_count = adam_state_count, .state_names = adam_state_names, .state_init = descent_state_zero,
    .coeffs_size = sizeof(adam_coeffs), .prepare = adam_prepare,
    .kernel_f32 = adam_kernel_f32, .kernel_f64 = adam_kernel_f64, .kernel_bf16 = adam_kernel_bf16,
    .state_q8 = "suu",
};

const descent_algo descent_algo_adamw = {
    .validate = descent_validate_denominator,
    .name = "AdamW", .alias = "adamw", .momentum_name = "betas[0]",
    .defaults = adamw_defaults, .hparams = adamw_hparams,
    .state_count = adam_state_count, .state_names = adam_state_names, .state_init = descent_state_zero,
    .coeffs_size = sizeof(adam_coeffs), .prepare = adamw_prepare,
    .kernel_f32 = adam_kernel_f32, .kernel_f64 = adam_kernel_f64, .kernel_bf16 = adam_kernel_bf16,
    .state_q8 = "suu",
};

/* Adam with amsgrad=True under the name of its paper (Reddi et al. 2018). */
const descent_algo descent_algo_amsgrad = {
    .validate = descent_validate_denominator,
    .name = "AMSGrad", .alias = "amsgrad", .momentum_name = "betas[0]",
    .defaults = amsgrad_defaults, .hparams = adam_hparams,
    .state_count = adam_state_count, .state_names = adam_state_names, .state_init = descent_state_zero,
    .coeffs_size = sizeof(adam_coeffs), .prepare = adam_prepare,
    .kernel_f32 = adam_kernel_f32, .kernel_f64 = adam_kernel_f64, .kernel_bf16 = adam_kernel_bf16,
    .state_q8 = "suu",
};
