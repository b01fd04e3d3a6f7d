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
 * elements) and an empty col_var. Norms and means are sums in double in an
 * order fixed by the shape (kernels.h: reduction groups and lanes; each
 * column's and each matrix's row_var sum in row order), so every thread
 * count and instruction set gives the same bits: a first pass updates the
 * statistics and sums p^2 and U^2, a second applies the step. */
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

/* One tensor's arrays and the step's scalars, as the kernels see them. */
typedef struct af_job {
    const adafactor_coeffs *c;
    void *p;
    const void *g;
    void *row, *col;
    size_t R, C; /* factored: rows and columns of each matrix; 1-D: 1 and n */
    double eps1;
} af_job;

/* Kernels over a range of the tensor, per element type: the 1-D passes over
 * element ranges [b, e), the factored ones over whole rows [q0, q1) (row q
 * of matrix q / R, its elements q C .. q C + C - 1) or, for the column
 * statistics, a block of columns of one matrix. A sum of squares adds
 * element j of a row (or of a 1-D range) into lane j mod DESCENT_RED_LANES
 * (kernels.h); a group's lanes go on over its rows, then add up. */
/* Columns per task of the column statistics (their sums in double on the stack). */
#define AF_COL_BLOCK 256

#define DESCENT_KERNEL_FILE "adafactor_kernel.h"
#include "kernel_types.h"

/* Rows per reduction group of the factored kernels: the rows cut into at
 * most DESCENT_RED_GROUPS groups of at least DESCENT_RED_MIN_GROUP elements,
 * a function of the shape alone. */
static size_t rows_per_group(size_t rows, size_t C)
{
    size_t per = (rows + DESCENT_RED_GROUPS - 1) / DESCENT_RED_GROUPS;
    size_t min_rows = (DESCENT_RED_MIN_GROUP + C - 1) / C;
    return per < min_rows ? min_rows : per;
}

static void adafactor_step(const descent_tensor_args *a)
{
    const adafactor_coeffs *c = a->coeffs;
    const size_t n = a->n;
    if (n == 0)
        return;
    const int f64 = a->dtype == DESCENT_F64, isa = a->isa, th = a->threads;
    const int factored = a->ndim >= 2;
    af_job jb = {c, a->param, a->grad, a->state[0], a->state[1], 1, n, 0};
    jb.eps1 = !c->eps1_none ? c->eps1 : f64 ? DBL_EPSILON : (double)FLT_EPSILON;
    if (factored) {
        jb.R = a->shape[a->ndim - 2];
        jb.C = a->shape[a->ndim - 1];
    }
    double sums[DESCENT_RED_GROUPS][2];
    double p_sq = 0, u_sq = 0;
    int ng;
    size_t gs; /* elements (1-D) or rows (factored) per group */
    if (!factored) {
        gs = descent_red_group_size(n);
        ng = descent_red_groups(n);
        DESCENT_PARALLEL_FOR(k, ng, th)
        {
            size_t b = (size_t)k * gs, e = n - b < gs ? n : b + gs;
            if (f64)
                af_flat1_f64(isa, &jb, b, e, sums[k]);
            else
                af_flat1_f32(isa, &jb, b, e, sums[k]);
        }
    } else {
        const size_t rows = n / jb.C, B = rows / jb.R, C = jb.C;
        gs = rows_per_group(rows, C);
        ng = (int)((rows + gs - 1) / gs);
        DESCENT_PARALLEL_FOR(k, ng, th)
        {
            size_t q0 = (size_t)k * gs, q1 = rows - q0 < gs ? rows : q0 + gs;
            if (f64)
                af_rows_f64(isa, &jb, q0, q1, sums[k]);
            else
                af_rows_f32(isa, &jb, q0, q1, sums[k]);
        }
        const size_t cb = (C + AF_COL_BLOCK - 1) / AF_COL_BLOCK;
        const long tasks = (long)(B * cb);
        DESCENT_PARALLEL_FOR(t, (int)tasks, th)
        {
            size_t bi = (size_t)t / cb, c0 = (size_t)t % cb * AF_COL_BLOCK;
            size_t c1 = C - c0 < AF_COL_BLOCK ? C : c0 + AF_COL_BLOCK;
            if (f64)
                af_cols_f64(isa, &jb, bi, c0, c1);
            else
                af_cols_f32(isa, &jb, bi, c0, c1);
        }
        DESCENT_PARALLEL_FOR(k, ng, th)
        {
            size_t q0 = (size_t)k * gs, q1 = rows - q0 < gs ? rows : q0 + gs;
            if (f64)
                af_urows_f64(isa, &jb, q0, q1, 0, &sums[k][1]);
            else
                af_urows_f32(isa, &jb, q0, q1, 0, &sums[k][1]);
        }
    }
    for (int k = 0; k < ng; k++) {
        p_sq += sums[k][0];
        u_sq += sums[k][1];
    }
    double rms_p = sqrt(p_sq) / sqrt((double)n);
    double alpha = (c->eps2 > rms_p ? c->eps2 : rms_p) * c->rho;
    double ratio = sqrt(u_sq) / (sqrt((double)n) * c->d);
    double neg_step = -alpha / (ratio > 1.0 ? ratio : 1.0);
    /* The step, the groups in reverse: the last ones pass 1 touched may still be cached. */
    if (!factored) {
        DESCENT_PARALLEL_FOR(k, ng, th)
        {
            size_t b = (size_t)(ng - 1 - k) * gs, e = n - b < gs ? n : b + gs;
            if (f64)
                af_flat2_f64(isa, &jb, b, e, neg_step);
            else
                af_flat2_f32(isa, &jb, b, e, neg_step);
        }
    } else {
        const size_t rows = n / jb.C;
        DESCENT_PARALLEL_FOR(k, ng, th)
        {
            size_t q0 = (size_t)(ng - 1 - k) * gs, q1 = rows - q0 < gs ? rows : q0 + gs;
            if (f64)
                af_urows_f64(isa, &jb, q0, q1, neg_step, NULL);
            else
                af_urows_f32(isa, &jb, q0, q1, neg_step, NULL);
        }
    }
}

/* The later passes' reads. 1-D: the step reads p, g and the variance
 * again (32 bytes per f32 parameter in all). Factored: the column sums, the
 * sum of U^2 and the step each read g again and the step reads p again (28
 * bytes; the row and column factors are a vanishing share). */
static size_t adafactor_extra_pass_bytes(int ndim, const size_t *shape, size_t n, size_t elem)
{
    (void)shape;
    return (ndim >= 2 ? 4 : 3) * n * elem;
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
    .extra_pass_bytes = adafactor_extra_pass_bytes,
};
