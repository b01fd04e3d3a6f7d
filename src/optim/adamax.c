/* Adamax (Kingma & Ba 2015, sec. 7; torch.optim.Adamax, single-tensor path).
 *
 *   d = g (negated when maximize) + weight_decay p
 *   m = beta1 m + (1 - beta1) d                  exp_avg
 *   u = max(beta2 u, |d| + eps)                  exp_inf
 *   p -= lr / (1 - beta1^t) * m / u
 * No square root, so there is no eps_root. */
#include "../internal.h"

#include <math.h>

static const hp_desc adamax_hparams[] = {
    HP_LR,
    HP_BETAS,
    HP_EPS,
    HP_WEIGHT_DECAY,
    HP_MAXIMIZE,
    HP_STATE_BITS,
    HP_END,
};

static void adamax_defaults(descent_hparams *hp)
{
    hp->lr = 2e-3;
    hp->betas[0] = 0.9;
    hp->betas[1] = 0.999;
    hp->eps = 1e-8;
    hp->state_bits = 32;
}

static int adamax_state_count(const descent_hparams *hp)
{
    (void)hp;
    return 2;
}

static const char *const adamax_state_names[] = {"exp_avg", "exp_inf", NULL};

typedef struct adamax_coeffs {
    double sign, weight_decay, beta1, one_minus_beta1, beta2, eps, neg_clr;
} adamax_coeffs;

static void adamax_prepare(const descent_hparams *hp, descent_tensor_scalars *ts, void *coeffs)
{
    adamax_coeffs *c = coeffs;
    ts->step++;
    c->sign = hp->maximize ? -1.0 : 1.0;
    c->weight_decay = hp->weight_decay;
    c->beta1 = hp->betas[0];
    c->one_minus_beta1 = 1.0 - hp->betas[0];
    c->beta2 = hp->betas[1];
    c->eps = hp->eps;
    c->neg_clr = -(hp->lr / (1.0 - pow(hp->betas[0], (double)ts->step)));
}

/* The element loop, instantiated for each setting of its flags as
 * compile-time constants, so every variant is branch-free and vectorizes. */
#define ADAMAX_KERNEL(T, SFX, FABS)                                                                \
    DESCENT_INLINE void adamax_loop_##SFX(const descent_kernel_args *args,                         \
        const int decay)                                                                           \
    {                                                                                              \
        const adamax_coeffs *c = args->coeffs;                                                     \
        T *restrict p = args->param;                                                               \
        const T *restrict g = args->grad;                                                          \
        T *restrict m = args->state[0];                                                            \
        T *restrict u = args->state[1];                                                            \
        const T sign = (T)c->sign, wd = (T)c->weight_decay;                                        \
        const T b1 = (T)c->beta1, omb1 = (T)c->one_minus_beta1, b2 = (T)c->beta2;                  \
        const T eps = (T)c->eps, nclr = (T)c->neg_clr;                                             \
        const size_t begin = args->begin, end = args->end;                                         \
        DESCENT_NF_DECL(SFX, args);                                                                \
        for (size_t i = begin; i < end; i++) {                                                     \
            DESCENT_NF_TEST(SFX, g[i]);                                                            \
            T d = sign * g[i];                                                                     \
            if (decay)                                                                             \
                d = d + wd * p[i];                                                                 \
            T mi = m[i] * b1 + omb1 * d;                                                           \
            T decayed = u[i] * b2, fresh = FABS(d) + eps;                                          \
            T ui = decayed > fresh ? decayed : fresh;                                              \
            m[i] = mi;                                                                             \
            u[i] = ui;                                                                             \
            p[i] = p[i] + nclr * mi / ui;                                                          \
        }                                                                                          \
        DESCENT_NF_END(SFX, args);                                                                 \
    }                                                                                              \
    DESCENT_INLINE void adamax_body_##SFX(const descent_kernel_args *args)                         \
    {                                                                                              \
        const adamax_coeffs *c = args->coeffs;                                                     \
        if (c->weight_decay != 0) {                                                                \
            adamax_loop_##SFX(args, 1);                                                            \
        } else {                                                                                   \
            adamax_loop_##SFX(args, 0);                                                            \
        }                                                                                          \
    }                                                                                              \
    DESCENT_DISPATCH(adamax_kernel_##SFX, adamax_body_##SFX)

ADAMAX_KERNEL(float, f32, fabsf)
ADAMAX_KERNEL(double, f64, fabs)

const descent_algo descent_algo_adamax = {
    .validate = descent_validate_denominator,
    .name = "Adamax", .alias = "adamax", .momentum_name = "betas[0]",
    .defaults = adamax_defaults, .hparams = adamax_hparams,
    .state_count = adamax_state_count, .state_names = adamax_state_names,
    .state_init = descent_state_zero,
    .coeffs_size = sizeof(adamax_coeffs), .prepare = adamax_prepare,
    .kernel_f32 = adamax_kernel_f32, .kernel_f64 = adamax_kernel_f64,
    .state_q8 = "su",
};
