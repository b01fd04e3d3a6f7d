/* Rprop, resilient backpropagation (Riedmiller & Braun 1993;
 * torch.optim.Rprop, single-tensor path of torch 1.13).
 *
 *   d = g (negated when maximize)
 *   f = etaplus if d prev > 0, etaminus if d prev < 0, 1 otherwise
 *   step_size = clamp(step_size f, step_sizes[0], step_sizes[1])
 *   d = 0 where f = etaminus          (a sign change: skip this element once)
 *   p -= sign(d) step_size
 *   prev = d
 * step_size starts at the group's lr of the first step (PyTorch creates the
 * state lazily then), prev at 0. The product d prev is formed in the
 * tensor's precision, as PyTorch does, so its underflow decides alike. */
#include "../internal.h"

static const hp_desc rprop_hparams[] = {
    HP_LR,
    {"etas", HP_PAIR, HP_FIELD(etas), 0, 0, HP_LO_OPEN | HP_NO_HI, NULL,
     "multiplicative decrease and increase factors (etaminus, etaplus)"},
    {"step_sizes", HP_PAIR, HP_FIELD(step_sizes), 0, 0, HP_NO_HI, NULL, "minimal and maximal allowed step sizes"},
    HP_MAXIMIZE,
    HP_END,
};

static void rprop_defaults(descent_hparams *hp)
{
    hp->lr = 1e-2;
    hp->etas[0] = 0.5;
    hp->etas[1] = 1.2;
    hp->step_sizes[0] = 1e-6;
    hp->step_sizes[1] = 50;
}

static int rprop_validate(const descent_hparams *hp, descent_error *err)
{
    if (!(0.0 < hp->etas[0] && hp->etas[0] < 1.0 && 1.0 < hp->etas[1]))
        return descent_fail(err, DESCENT_ERR_INVALID, "etas must satisfy 0 < etas[0] < 1 < etas[1], got (%g, %g)",
                            hp->etas[0], hp->etas[1]);
    if (!(hp->step_sizes[0] <= hp->step_sizes[1]))
        return descent_fail(err, DESCENT_ERR_INVALID,
                            "step_sizes must satisfy step_sizes[0] <= step_sizes[1], got (%g, %g)", hp->step_sizes[0],
                            hp->step_sizes[1]);
    return 0;
}

static int rprop_state_count(const descent_hparams *hp)
{
    (void)hp;
    return 2;
}

static const char *const rprop_state_names[] = {"prev", "step_size", NULL};

static double rprop_state_init(const descent_hparams *hp, int i) { return i == 1 ? hp->lr : 0.0; }

typedef struct rprop_coeffs {
    double sign, etaminus, etaplus, step_size_min, step_size_max, initial_step_size;
    int first;
} rprop_coeffs;

static void rprop_prepare(const descent_hparams *hp, descent_tensor_scalars *ts, void *coeffs)
{
    rprop_coeffs *c = coeffs;
    ts->step++;
    c->sign = hp->maximize ? -1.0 : 1.0;
    c->etaminus = hp->etas[0];
    c->etaplus = hp->etas[1];
    c->step_size_min = hp->step_sizes[0];
    c->step_size_max = hp->step_sizes[1];
    c->initial_step_size = hp->lr;
    c->first = ts->step == 1;
}

#define DESCENT_KERNEL_FILE "rprop_kernel.h"
#define DESCENT_KERNEL_BF16
#include "kernel_types.h"

const descent_algo descent_algo_rprop = {
    .name = "Rprop",
    .alias = "rprop",
    .momentum_name = NULL,
    .defaults = rprop_defaults,
    .hparams = rprop_hparams,
    .validate = rprop_validate,
    .state_count = rprop_state_count,
    .state_names = rprop_state_names,
    .state_init = rprop_state_init,
    .coeffs_size = sizeof(rprop_coeffs),
    .prepare = rprop_prepare,
    .kernel_f32 = rprop_kernel_f32,
    .kernel_f64 = rprop_kernel_f64, .kernel_bf16 = rprop_kernel_bf16,
};
