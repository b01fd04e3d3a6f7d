/* Adafactor (Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with
 * Sublinear Memory Cost"), exactly as torch.optim.Adafactor (PyTorch 2.5+,
 * _single_tensor_adafactor) defines it:
 *
 *   G = g (negated when maximize)
 *   w_t = t^beta2_decay                               (1 - beta2_t)
 *   rho_t = min(lr, 1 / sqrt(t))
 *   alpha_t = max(eps2, RMS(p)) rho_t                 RMS of p before the decay
 *   p = p (1 - lr weight_decay)                       (when weight_decay != 0)
 *   tensors with >= 2 dimensions, over the last two (R rows, C columns):
 *     row_var = lerp(row_var, mean_c G^2, w_t)        shape [..., R]
 *     col_var = lerp(col_var, mean_r G^2, w_t)        shape [..., C]
 *     V = row_var col_var^T / max(mean_r row_var, eps1)
 *   1-D tensors:
 *     V = variance = lerp(variance, G^2, w_t)
 *   U = G / sqrt(max(V, eps1^2))                      (torch: rsqrt(clamp(V, eps1^2)) G)
 *   p = p - alpha_t / max(1, RMS(U) / d) U
 * lerp(a, b, w) is torch's: a + w (b - a) when |w| < 0.5, else
 * b - (b - a) (1 - w). eps1 = None (NaN here) is the dtype's machine epsilon
 * (torch.finfo(dtype).eps). The state is "row_var" and "col_var" for factored
 * tensors; a 1-D tensor keeps its full "variance" in the row_var buffer (n
 * elements) and an empty col_var. Norms and means are sums in double in
 * element order on one thread (the whole-tensor hook), so results do not
 * depend on the thread count. */
#include "../internal.h"

#include <float.h>
#include <math.h>

static const hp_desc adafactor_hparams[] = {
    HP_LR,
    {"beta2_decay", HP_REAL, HP_FIELD(beta2_decay), -HUGE_VAL, 0, 0, NULL,
     "exponent of the second-moment decay rate 1 - t^beta2_decay"},
    {"eps", HP_PAIR, HP_FIELD(eps_pair), 0, 0, HP_NO_HI | HP_NONE_OK, NULL,
     "regularization constants: added to the squared gradient, and the floor of the parameter scale"},
    {"d", HP_REAL, HP_FIELD(d), 1, 0, HP_NO_HI, NULL, "clipping threshold of the update's root mean square"},
    HP_WEIGHT_DECAY,
    HP_MAXIMIZE,
    HP_END,
};

static int adafactor_validate(const descent_hparams *hp, descent_error *err)
{
    if (isnan(hp->eps_pair[1]))
        return descent_fail(err, DESCENT_ERR_INVALID, "eps[1] (epsilon2) must be a number >= 0, not None");
    /* The factored second moment of g^2 + eps1: a zero (or underflowing)
     * row of gradients with eps1 = 0 gives a 0/0 in the row-column product. */
    if (hp->eps_pair[0] == 0)
        return descent_fail(err, DESCENT_ERR_INVALID,
                            "eps[0] (epsilon1) = 0 divides 0 by 0 on a zero row of gradients (the update would be "
                            "NaN); give None (the dtype's machine epsilon) or a value > 0");
    return 0;
}

static void adafactor_defaults(descent_hparams *hp)
{
    hp->lr = 1e-2;
    hp->beta2_decay = -0.8;
    hp->eps_pair[0] = NAN; /* None */
    hp->eps_pair[1] = 1e-3;
    hp->d = 1.0;
}

static int adafactor_state_count(const descent_hparams *hp)
{
    (void)hp;
    return 2;
}

static const char *const adafactor_state_names[] = {"row_var", "col_var", NULL};

/* Factored (ndim >= 2): row_var has n / C elements, col_var n / R. */
static size_t adafactor_state_size(int ndim, const size_t *shape, int k)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    if (ndim < 2)
        return k == 0 ? n : 0;
    size_t size = 1; /* the product of every size but the last (k = 0) or the one before (k = 1) */
    for (int i = 0; i < ndim; i++)
        if (i != ndim - 1 - k)
            size *= shape[i];
    return size;
}

typedef struct adafactor_coeffs {
    double sign, w, rho, lr_decay, eps1, eps2, d;
    int decay, eps1_none;
} adafactor_coeffs;

static void adafactor_prepare(const descent_hparams *hp, descent_tensor_scalars *ts, void *coeffs)
{
    adafactor_coeffs *c = coeffs;
    ts->step++;
    double t = (double)ts->step;
    c->sign = hp->maximize ? -1.0 : 1.0;
    c->w = pow(t, hp->beta2_decay);
    double inv_sqrt = 1.0 / pow(t, 0.5);
    c->rho = hp->lr < inv_sqrt ? hp->lr : inv_sqrt;
    c->decay = hp->weight_decay != 0;
    c->lr_decay = 1.0 - hp->lr * hp->weight_decay;
    c->eps1_none = isnan(hp->eps_pair[0]);
    c->eps1 = hp->eps_pair[0];
    c->eps2 = hp->eps_pair[1];
    c->d = hp->d;
}

#define ADAFACTOR_STEP(T, SFX, SQRT, MACH_EPS)                                                     \
    DESCENT_INLINE T lerp_##SFX(T a, T b, T w) { return w < (T)0.5 && w > (T)-0.5 ? a + w * (b - a) : b - (b - a) * ((T)1 - w); } \
    /* The variance estimate V of element (b, r, col) or i (1-D). */                               \
    DESCENT_INLINE T estimate_##SFX(const T *row, const T *col, size_t bi, size_t r, size_t ci,     \
                                    size_t R, size_t C, T row_mean)                                \
    {                                                                                              \
        return row[bi * R + r] * col[bi * C + ci] / row_mean;                                      \
    }                                                                                              \
    static void adafactor_step_##SFX(const descent_tensor_args *a)                                 \
    {                                                                                              \
        const adafactor_coeffs *c = a->coeffs;                                                     \
        T *restrict p = a->param;                                                                  \
        const T *restrict g = a->grad;                                                             \
        T *restrict row = a->state[0];                                                             \
        T *restrict col = a->state[1];                                                             \
        const size_t n = a->n;                                                                     \
        if (n == 0)                                                                                \
            return;                                                                                \
        const T sign = (T)c->sign, w = (T)c->w;                                                    \
        const double eps1d = c->eps1_none ? MACH_EPS : c->eps1;                                    \
        const T eps1 = (T)eps1d, eps1_sq = (T)(eps1d * eps1d);                                     \
        double p_sq = 0;                                                                           \
        for (size_t i = 0; i < n; i++)                                                             \
            p_sq += (double)p[i] * (double)p[i];                                                   \
        double rms_p = sqrt(p_sq) / sqrt((double)n);                                               \
        double alpha = (c->eps2 > rms_p ? c->eps2 : rms_p) * c->rho;                               \
        if (c->decay) {                                                                            \
            const T decay = (T)c->lr_decay;                                                        \
            for (size_t i = 0; i < n; i++)                                                         \
                p[i] = p[i] * decay;                                                               \
        }                                                                                          \
        const int factored = a->ndim >= 2;                                                         \
        const size_t R = factored ? a->shape[a->ndim - 2] : 1, C = factored ? a->shape[a->ndim - 1] : n; \
        const size_t B = factored ? n / (R * C) : 1;                                               \
        if (factored) {                                                                            \
            for (size_t bi = 0; bi < B; bi++) {                                                    \
                const T *gb = g + bi * R * C;                                                      \
                for (size_t r = 0; r < R; r++) {                                                   \
                    double s = 0;                                                                  \
                    for (size_t ci = 0; ci < C; ci++) {                                            \
                        double x = (double)(sign * gb[r * C + ci]);                                \
                        s += x * x;                                                                \
                    }                                                                              \
                    row[bi * R + r] = lerp_##SFX(row[bi * R + r], (T)(s / (double)C), w);          \
                }                                                                                  \
                for (size_t ci = 0; ci < C; ci++) {                                                \
                    double s = 0;                                                                  \
                    for (size_t r = 0; r < R; r++) {                                               \
                        double x = (double)(sign * gb[r * C + ci]);                                \
                        s += x * x;                                                                \
                    }                                                                              \
                    col[bi * C + ci] = lerp_##SFX(col[bi * C + ci], (T)(s / (double)R), w);        \
                }                                                                                  \
            }                                                                                      \
        } else {                                                                                   \
            for (size_t i = 0; i < n; i++) {                                                       \
                T gi = sign * g[i];                                                                \
                row[i] = lerp_##SFX(row[i], gi * gi, w);                                           \
            }                                                                                      \
        }                                                                                          \
        /* Two passes over U: its norm, then the step. */                                          \
        double u_sq = 0;                                                                           \
        double scale = 0;                                                                          \
        for (int pass = 0; pass < 2; pass++) {                                                     \
            const T neg_step = (T)scale;                                                           \
            for (size_t bi = 0; bi < B; bi++) {                                                    \
                T row_mean = 0;                                                                    \
                if (factored) {                                                                    \
                    double s = 0;                                                                  \
                    for (size_t r = 0; r < R; r++)                                                 \
                        s += (double)row[bi * R + r];                                              \
                    row_mean = (T)(s / (double)R);                                                 \
                    row_mean = row_mean < eps1 ? eps1 : row_mean;                                  \
                }                                                                                  \
                for (size_t r = 0; r < R; r++)                                                     \
                    for (size_t ci = 0; ci < C; ci++) {                                            \
                        size_t i = (bi * R + r) * C + ci;                                          \
                        T v = factored ? estimate_##SFX(row, col, bi, r, ci, R, C, row_mean) : row[i]; \
                        v = v < eps1_sq ? eps1_sq : v;                                             \
                        T u = ((T)1 / SQRT(v)) * (sign * g[i]);                                    \
                        if (pass == 0)                                                             \
                            u_sq += (double)u * (double)u;                                         \
                        else                                                                       \
                            p[i] = p[i] + neg_step * u;                                            \
                    }                                                                              \
            }                                                                                      \
            if (pass == 0) {                                                                       \
                double ratio = sqrt(u_sq) / (sqrt((double)n) * c->d);                              \
                scale = -alpha / (ratio > 1.0 ? ratio : 1.0);                                      \
            }                                                                                      \
        }                                                                                          \
    }

ADAFACTOR_STEP(float, f32, sqrtf, (double)FLT_EPSILON)
ADAFACTOR_STEP(double, f64, sqrt, DBL_EPSILON)

static void adafactor_step(const descent_tensor_args *a)
{
    if (a->dtype == DESCENT_F64)
        adafactor_step_f64(a);
    else
        adafactor_step_f32(a);
}

const descent_algo descent_algo_adafactor = {
    .name = "Adafactor",
    .alias = "adafactor",
    .momentum_name = NULL,
    .defaults = adafactor_defaults,
    .hparams = adafactor_hparams,
    .validate = adafactor_validate,
    .state_count = adafactor_state_count,
    .state_names = adafactor_state_names,
    .state_init = descent_state_zero,
    .coeffs_size = sizeof(adafactor_coeffs),
    .prepare = adafactor_prepare,
    .state_size = adafactor_state_size,
    .tensor_step = adafactor_step,
};
