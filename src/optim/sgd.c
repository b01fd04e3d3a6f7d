/* SGD with momentum and Nesterov, in PyTorch's form and three textbook
 * momentum forms (the last is Keras's).
 *
 * PyTorch (torch.optim.SGD, single-tensor path):
 *   d = g (+ weight_decay * p);  negated first when maximize
 *   b = d on the first step, then b = momentum * b + (1 - dampening) * d
 *   d = d + momentum * b if nesterov, else d = b
 *   p = p - lr * d
 * The textbook forms, all from v0 = 0:
 *   ewma:       v = beta v + (1 - beta) d;  p = p - lr v
 *   accumulate: v = beta v + d;             p = p - lr v
 *   direct:     v = beta v + lr d;          p = p - v
 * All of them are v = a v + b d; p = p + c u with u = v (or d + momentum v
 * for Nesterov), so one loop serves every form. */
#include "../internal.h"

#include <string.h>

static const char *const momentum_forms[] = {"torch", "ewma", "accumulate", "direct", NULL};

static const hp_desc sgd_hparams[] = {
    HP_LR,
    {"momentum", HP_REAL, HP_FIELD(momentum), 0, 0, HP_NO_HI, NULL, "momentum factor"},
    {"dampening", HP_REAL, HP_FIELD(dampening), 0, 0, HP_NO_HI, NULL,
     "dampening of the gradient added to the momentum buffer"},
    HP_WEIGHT_DECAY,
    {"nesterov", HP_BOOL, HP_FIELD(nesterov), 0, 1, 0, NULL, "use Nesterov momentum"},
    HP_MAXIMIZE,
    {"momentum_form", HP_CHOICE, HP_FIELD(momentum_form), 0, 0, 0, momentum_forms,
     "how momentum and lr combine: torch, ewma, accumulate or direct"},
    HP_END,
};

static void sgd_defaults(descent_hparams *hp)
{
    /* torch 1.13 has no default lr for SGD; 1e-3 is the later releases'. */
    hp->lr = 1e-3;
}

static int sgd_validate(const descent_hparams *hp, descent_error *err)
{
    if (hp->nesterov && (hp->momentum <= 0 || hp->dampening != 0))
        return descent_fail(err, DESCENT_ERR_INVALID,
                            "nesterov=True requires momentum > 0 and dampening = 0, got momentum=%g, dampening=%g",
                            hp->momentum, hp->dampening);
    if (hp->momentum_form != DESCENT_MOMENTUM_TORCH) {
        if (hp->dampening != 0)
            return descent_fail(err, DESCENT_ERR_INVALID,
                                "dampening applies to momentum_form='torch' only, got dampening=%g", hp->dampening);
        if (hp->nesterov)
            return descent_fail(err, DESCENT_ERR_INVALID,
                                "nesterov=True applies to momentum_form='torch' only; Nesterov's look-ahead "
                                "method is NAG in the minimize driver");
    }
    return 0;
}

static int sgd_state_count(const descent_hparams *hp) { return hp->momentum != 0 ? 1 : 0; }

static const char *const sgd_state_names[] = {"momentum_buffer", NULL};

typedef struct sgd_coeffs {
    double sign, weight_decay, momentum;
    double a, b, c; /* v = a v + b d;  p = p + c u */
    int use_momentum, nesterov;
} sgd_coeffs;

static void sgd_prepare(const descent_hparams *hp, descent_tensor_scalars *ts, void *coeffs)
{
    sgd_coeffs *c = coeffs;
    ts->step++;
    c->sign = hp->maximize ? -1.0 : 1.0;
    c->weight_decay = hp->weight_decay;
    c->momentum = hp->momentum;
    c->use_momentum = hp->momentum != 0;
    c->nesterov = hp->nesterov;
    c->a = hp->momentum;
    c->b = 1.0;
    c->c = -hp->lr;
    switch (hp->momentum_form) {
    case DESCENT_MOMENTUM_TORCH:
        if (ts->step == 1)
            c->a = 0.0; /* the buffer starts as a copy of d: 0 * 0 + 1 * d */
        else
            c->b = 1.0 - hp->dampening;
        break;
    case DESCENT_MOMENTUM_EWMA:
        c->b = 1.0 - hp->momentum;
        break;
    case DESCENT_MOMENTUM_ACCUMULATE:
        break;
    case DESCENT_MOMENTUM_DIRECT:
        c->b = hp->lr;
        c->c = -1.0;
        break;
    }
}

/* The driver's prefetch block per stream, chosen with `descent bench
 * --nonfinite report --prefetch B` at 16M fp32 parameters on one thread
 * (docs/performance.md): with momentum, 2 KiB blocks make REPORT's in-loop
 * test cost nothing (1 KiB: about 4%) for a step about 3% slower; plain SGD
 * does best with 1 KiB. */
static size_t sgd_prefetch_block(const descent_hparams *hp) { return hp->momentum != 0 ? 2048 : 1024; }

/* The element loops, instantiated for each (weight decay, nesterov) pair as
 * compile-time constants so every variant is branch-free and vectorizes. */
#define DESCENT_KERNEL_FILE "sgd_kernel.h"
#define DESCENT_KERNEL_BF16
#include "kernel_types.h"

const descent_algo descent_algo_sgd = {
    .name = "SGD",
    .alias = "sgd",
    .momentum_name = "momentum",
    .defaults = sgd_defaults,
    .hparams = sgd_hparams,
    .validate = sgd_validate,
    .state_count = sgd_state_count,
    .state_names = sgd_state_names,
    .state_init = descent_state_zero,
    .coeffs_size = sizeof(sgd_coeffs),
    .prepare = sgd_prepare,
    .kernel_f32 = sgd_kernel_f32,
    .kernel_f64 = sgd_kernel_f64, .kernel_bf16 = sgd_kernel_bf16,
    .prefetch_block = sgd_prefetch_block,
};
