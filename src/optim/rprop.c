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

#define RPROP_KERNEL(T, SFX)                                                                  \
    DESCENT_INLINE void rprop_body_##SFX(const descent_kernel_args *args)                           \
    {                                                                                         \
        const rprop_coeffs *c = args->coeffs;                                                 \
        T *restrict p = args->param;                                                          \
        const T *restrict g = args->grad;                                                     \
        T *restrict prev = args->state[0];                                                    \
        T *restrict step_size = args->state[1];                                               \
        const T sign = (T)c->sign, etaminus = (T)c->etaminus, etaplus = (T)c->etaplus;        \
        const T lo = (T)c->step_size_min, hi = (T)c->step_size_max;                           \
        const T initial = (T)c->initial_step_size;                                            \
        const int first = c->first;                                                           \
        const size_t end = args->end;                                                         \
        DESCENT_NF_DECL(SFX, args);                                                           \
        for (size_t i = args->begin; i < end; i++) {                                          \
            DESCENT_NF_TEST(SFX, g[i]);                                                       \
            T d = sign * g[i];                                                                \
            T prod = d * prev[i];                                                             \
            T s = step_size[i];                                                               \
            s = first ? initial : s;                                                          \
            /* Selects rather than branches, so the loop vectorizes. */                     \
            T up = s * etaplus, down = s * etaminus;                                          \
            s = prod > 0 ? up : s;                                                            \
            s = prod < 0 ? down : s;                                                          \
            d = prod < 0 ? (T)0 : d;                                                          \
            s = s < lo ? lo : s;                                                              \
            s = s > hi ? hi : s;                                                              \
            step_size[i] = s;                                                                 \
            T pi = p[i], minus = pi - s, plus = pi + s;                                       \
            pi = d > 0 ? minus : pi;                                                          \
            p[i] = d < 0 ? plus : pi;                                                         \
            prev[i] = d;                                                                      \
        }                                                                                     \
        DESCENT_NF_END(SFX, args);                                                            \
    }                                                                                         \
    DESCENT_DISPATCH(rprop_kernel_##SFX, rprop_body_##SFX)

RPROP_KERNEL(float, f32)
RPROP_KERNEL(double, f64)

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
    .kernel_f64 = rprop_kernel_f64,
};
