/* ASGD, averaged stochastic gradient descent (Polyak & Juditsky 1992; the
 * schedule of Bottou 2012; torch.optim.ASGD, single-tensor path of torch
 * 1.13).
 *
 *   d = g (negated when maximize) + weight_decay p
 *   p = p (1 - lambd eta)
 *   p = p - eta d
 *   ax = p if mu = 1, else ax + mu (p - ax)                  the average
 *   then, with t the step just taken:
 *   eta = lr / (1 + lambd lr t)^alpha
 *   mu  = 1 / max(1, t - t0)
 * eta and mu are per-tensor scalars that start at lr (the group's lr of the
 * first step) and 1; each step uses the values the previous step left. The
 * average ax is state; the parameters are the iterate, as in PyTorch. */
#include "../internal.h"

#include <math.h>

static const hp_desc asgd_hparams[] = {
    HP_LR,
    {"lambd", HP_REAL, HP_FIELD(lambd), 0, 0, HP_NO_HI, NULL, "decay term of the step size"},
    {"alpha", HP_REAL, HP_FIELD(alpha), 0, 0, HP_NO_HI, NULL,
     "power of the step-size decay eta = lr / (1 + lambd lr t)^alpha"},
    {"t0", HP_REAL, HP_FIELD(t0), 0, 0, HP_NO_HI, NULL, "step at which averaging starts"},
    HP_WEIGHT_DECAY,
    HP_MAXIMIZE,
    HP_END,
};

static void asgd_defaults(descent_hparams *hp)
{
    hp->lr = 1e-2;
    hp->lambd = 1e-4;
    hp->alpha = 0.75;
    hp->t0 = 1e6;
}

static int asgd_state_count(const descent_hparams *hp)
{
    (void)hp;
    return 1;
}

static const char *const asgd_state_names[] = {"ax", NULL};

typedef struct asgd_coeffs {
    double sign, weight_decay, decay, neg_eta, mu;
} asgd_coeffs;

static void asgd_prepare(const descent_hparams *hp, descent_tensor_scalars *ts, void *coeffs)
{
    asgd_coeffs *c = coeffs;
    if (ts->step == 0) {
        ts->eta = hp->lr;
        ts->mu = 1.0;
    }
    ts->step++;
    double t = (double)ts->step;
    c->sign = hp->maximize ? -1.0 : 1.0;
    c->weight_decay = hp->weight_decay;
    c->decay = 1.0 - hp->lambd * ts->eta;
    c->neg_eta = -ts->eta;
    c->mu = ts->mu;
    ts->eta = hp->lr / pow(1.0 + hp->lambd * hp->lr * t, hp->alpha);
    double since = t - hp->t0;
    ts->mu = 1.0 / (since > 1.0 ? since : 1.0);
}

#define DESCENT_KERNEL_FILE "asgd_kernel.h"
#define DESCENT_KERNEL_BF16
#include "kernel_types.h"

static const descent_scalar_desc asgd_scalars[] = {DESCENT_SCALAR("eta", eta, -HUGE_VAL, HUGE_VAL), DESCENT_SCALAR("mu", mu, 0, 1), {NULL, 0, 0, 0}};

const descent_algo descent_algo_asgd = {
    .name = "ASGD",
    .alias = "asgd",
    .momentum_name = NULL,
    .defaults = asgd_defaults,
    .hparams = asgd_hparams,
    .state_count = asgd_state_count,
    .state_names = asgd_state_names,
    .state_init = descent_state_zero,
    .coeffs_size = sizeof(asgd_coeffs),
    .prepare = asgd_prepare,
    .kernel_f32 = asgd_kernel_f32,
    .kernel_f64 = asgd_kernel_f64, .kernel_bf16 = asgd_kernel_bf16,
    .scalars = asgd_scalars,
};
