/* Schedule-free SGD and AdamW (Defazio et al. 2024, "The Road Less
 * Scheduled"), as optax.contrib.schedule_free_sgd / schedule_free_adamw
 * define them (optax/contrib/_schedule_free.py). Three sequences: z (the
 * base optimizer's iterate), x (the average, where to evaluate) and
 * y = b1 x + (1 - b1) z, where gradients are taken; the registered
 * parameters are y, and descent_eval_params gives x = (y - (1 - b1) z) / b1.
 *
 * Step t = 1, 2, ... (optax's step_count starts at 1; the base optimizer's
 * scale_by_schedule count at 0):
 *   sched(c) = lr                                    (warmup_steps = 0: None)
 *            = (0 - lr) (1 - c / W) + lr  for c < W, else lr   (warmup_constant_schedule, W = warmup_steps)
 *   max_lr = max(max_lr, sched(t));  w = max_lr^weight_lr_power
 *   weight_sum += w;  c_t = w / weight_sum           (0 when 0/0, NaN when w is NaN)
 *   u = g + weight_decay y                           SGD (add_decayed_weights before sgd)
 *   v = (1 - b2) g^2 + b2 v                          AdamW: exp_avg_sq (scale_by_rms,
 *   u = g / (sqrt(v / (1 - b2^t)) + eps) + weight_decay y    bias-corrected, eps outside the root)
 *   z' = z - sched(t - 1) u
 *   x  = (1 - c_t) (y - (1 - b1) z) / b1 + c_t z'
 *   y  = b1 x + (1 - b1) z';  z = z'
 * z starts as a copy of the parameters (taken at the first step). optax has
 * no maximize. The new y is stored directly (optax returns y' - y as the
 * update; adding it back can differ from y' in the last bit). */
#include "../internal.h"

#include <math.h>

#define HP_B1 {"b1", HP_REAL, HP_FIELD(betas), 0, 1, HP_LO_OPEN, NULL, \
    "interpolation (momentum) between the averaged and the current iterate"}
#define HP_WARMUP {"warmup_steps", HP_REAL, HP_FIELD(warmup_steps), 0, 0, HP_NO_HI, NULL, \
    "steps of linear learning-rate warmup"}
#define HP_WEIGHT_LR_POWER {"weight_lr_power", HP_REAL, HP_FIELD(weight_lr_power), 0, 0, HP_NO_HI, NULL, \
    "power of the learning rate in the averaging weights"}

static const hp_desc sf_sgd_hparams[] = {
    HP_LR, HP_WARMUP, HP_B1, HP_WEIGHT_DECAY, HP_WEIGHT_LR_POWER, HP_END,
};

static const hp_desc sf_adamw_hparams[] = {
    HP_LR,
    HP_WARMUP,
    HP_B1,
    {"b2", HP_REAL, HP_FIELD(betas) + sizeof(double), 0, 1, HP_HI_OPEN, NULL,
     "decay rate of the second-moment average"},
    HP_EPS,
    HP_WEIGHT_DECAY,
    HP_WEIGHT_LR_POWER,
    HP_END,
};

static int sf_validate(const descent_hparams *hp, descent_error *err)
{
    if (hp->warmup_steps != floor(hp->warmup_steps))
        return descent_fail(err, DESCENT_ERR_INVALID, "warmup_steps must be a whole number of steps, got %g",
                            hp->warmup_steps);
    return 0;
}

static int sf_adamw_validate(const descent_hparams *hp, descent_error *err)
{
    int rc = sf_validate(hp, err);
    return rc < 0 ? rc : descent_validate_denominator(hp, err);
}

static void sf_sgd_defaults(descent_hparams *hp)
{
    hp->lr = 1.0;
    hp->betas[0] = 0.9;
    hp->weight_lr_power = 2.0;
}

static void sf_adamw_defaults(descent_hparams *hp)
{
    hp->lr = 0.0025;
    hp->betas[0] = 0.9;
    hp->betas[1] = 0.999;
    hp->eps = 1e-8;
    hp->weight_lr_power = 2.0;
}

static int sf_sgd_state_count(const descent_hparams *hp)
{
    (void)hp;
    return 1;
}

static int sf_adamw_state_count(const descent_hparams *hp)
{
    (void)hp;
    return 2;
}

static const char *const sf_state_names[] = {"z", "exp_avg_sq", NULL};

typedef struct sf_coeffs {
    double b1, one_minus_b1, ck, one_minus_ck, neg_lr, weight_decay;
    double beta2, one_minus_beta2, bias_correction2, eps;
    int first;                  /* step 1: z starts as a copy of y */
} sf_coeffs;

/* optax.warmup_constant_schedule(0, lr, W) at count c; W = 0: constant lr. */
static double sf_schedule(const descent_hparams *hp, double c)
{
    double w = hp->warmup_steps;
    if (w <= 0 || c >= w)
        return hp->lr;
    return (0.0 - hp->lr) * (1.0 - c / w) + hp->lr;
}

static void sf_prepare(const descent_hparams *hp, descent_tensor_scalars *ts, void *coeffs)
{
    sf_coeffs *c = coeffs;
    ts->step++;
    double t = (double)ts->step;
    double lr = sf_schedule(hp, t);
    double max_lr = ts->max_lr > lr ? ts->max_lr : lr;
    double weight = pow(max_lr, hp->weight_lr_power);
    double total = ts->weight_sum + weight;
    double ck;
    if (isnan(weight) || isnan(total))
        ck = NAN;
    else {
        ck = weight / total;
        if (isnan(ck))
            ck = 0.0; /* optax: nan_to_num(w / total, nan=0) */
    }
    ts->max_lr = max_lr;
    ts->weight_sum = total;
    c->first = ts->step == 1;
    c->b1 = hp->betas[0];
    c->one_minus_b1 = 1.0 - hp->betas[0];
    c->ck = ck;
    c->one_minus_ck = 1.0 - ck;
    c->neg_lr = -sf_schedule(hp, t - 1.0);
    c->weight_decay = hp->weight_decay;
    c->beta2 = hp->betas[1];
    c->one_minus_beta2 = 1.0 - hp->betas[1];
    c->bias_correction2 = 1.0 - pow(hp->betas[1], t);
    c->eps = hp->eps;
}

/* The element loop; adam selects the AdamW base update (a compile-time
 * constant in each instantiation). */
#define DESCENT_KERNEL_FILE "schedule_free_kernel.h"
#define DESCENT_KERNEL_BF16
#include "kernel_types.h"

/* optax.contrib.schedule_free_eval_params: x = (y - (1 - b1) z) / b1. */
static void sf_eval_params(const descent_hparams *hp, const descent_tensor_scalars *ts,
                           const descent_tensor_args *a, void *out)
{
    (void)ts;
    if (a->dtype == DESCENT_F64) {
        const double *y = a->param, *z = a->state[0];
        double b1 = hp->betas[0], omb1 = 1.0 - hp->betas[0];
        double *x = out;
        for (size_t i = 0; i < a->n; i++)
            x[i] = (y[i] - omb1 * z[i]) / b1;
    } else {
        const float *y = a->param, *z = a->state[0];
        float b1 = (float)hp->betas[0], omb1 = (float)(1.0 - hp->betas[0]);
        float *x = out;
        for (size_t i = 0; i < a->n; i++)
            x[i] = (y[i] - omb1 * z[i]) / b1;
    }
}

/* optax's ScheduleFreeState names (optax/contrib/_schedule_free.py). */
static const descent_scalar_desc sf_scalars[] = {
    DESCENT_SCALAR("max_lr", max_lr, -HUGE_VAL, HUGE_VAL), DESCENT_SCALAR("weight_sum", weight_sum, 0, HUGE_VAL), {NULL, 0, 0, 0}};

const descent_algo descent_algo_schedule_free_sgd = {
    .name = "ScheduleFreeSGD",
    .alias = "schedule_free_sgd",
    .momentum_name = "b1",
    .defaults = sf_sgd_defaults,
    .hparams = sf_sgd_hparams,
    .validate = sf_validate,
    .state_count = sf_sgd_state_count,
    .state_names = sf_state_names,
    .state_init = descent_state_zero,
    .coeffs_size = sizeof(sf_coeffs),
    .prepare = sf_prepare,
    .kernel_f32 = sf_sgd_kernel_f32,
    .kernel_f64 = sf_sgd_kernel_f64, .kernel_bf16 = sf_sgd_kernel_bf16,
    .eval_params = sf_eval_params,
    .scalars = sf_scalars,
};

const descent_algo descent_algo_schedule_free_adamw = {
    .name = "ScheduleFreeAdamW",
    .alias = "schedule_free_adamw",
    .momentum_name = "b1",
    .defaults = sf_adamw_defaults,
    .hparams = sf_adamw_hparams,
    .validate = sf_adamw_validate,
    .state_count = sf_adamw_state_count,
    .state_names = sf_state_names,
    .state_init = descent_state_zero,
    .coeffs_size = sizeof(sf_coeffs),
    .prepare = sf_prepare,
    .kernel_f32 = sf_adamw_kernel_f32,
    .kernel_f64 = sf_adamw_kernel_f64, .kernel_bf16 = sf_adamw_kernel_bf16,
    .eval_params = sf_eval_params,
    .scalars = sf_scalars,
};
