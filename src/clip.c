/* Gradient clipping by value and by norm (torch.nn.utils.clip_grad_value_
 * and clip_grad_norm_ semantics), over the tensors registered with an
 * optimizer. The optimizer holds the caller's gradient buffers as const
 * pointers because step() only reads them; clipping is the one place that
 * writes into them, as PyTorch's in-place clipping does, and the header says
 * so. */
#include "internal.h"

#include <float.h>
#include <math.h>

/* bf16 gradients are widened to f32 (exactly) in blocks of this many
 * elements and, when written, rounded back to nearest even. */
#define BF16_BLOCK 256

/* Add |x|^p (p finite) into *acc, or take the max of |x| (p = INFINITY;
 * a NaN sticks). */
void descent_norm_accumulate(double *acc, double x, double p)
{
    double a = fabs(x);
    if (isinf(p)) {
        if ((a > *acc || isnan(a)) && !isnan(*acc))
            *acc = a;
    } else if (p == 2.0) {
        *acc += a * a;
    } else if (p == 1.0) {
        *acc += a;
    } else {
        *acc += pow(a, p);
    }
}

/* The pieces of a tensor's gradient p-norm, accumulated in double. */
static double tensor_norm_sum(const descent_tensor *t, double p)
{
    double acc = 0.0;
    if (t->dtype == DESCENT_F64) {
        const double *g = t->grad;
        for (size_t i = 0; i < t->n; i++)
            descent_norm_accumulate(&acc, g[i], p);
    } else if (t->dtype == DESCENT_F32) {
        const float *g = t->grad;
        for (size_t i = 0; i < t->n; i++)
            descent_norm_accumulate(&acc, g[i], p);
    } else {
        const uint16_t *g = t->grad;
        float buf[BF16_BLOCK];
        for (size_t b = 0; b < t->n; b += BF16_BLOCK) {
            size_t m = t->n - b < BF16_BLOCK ? t->n - b : BF16_BLOCK;
            descent_bf16_widen(buf, g + b, m);
            for (size_t i = 0; i < m; i++)
                descent_norm_accumulate(&acc, buf[i], p);
        }
    }
    return acc;
}

double descent_norm_finish(double acc, double p)
{
    if (isinf(p) || p == 1.0)
        return acc;
    if (p == 2.0)
        return sqrt(acc);
    return pow(acc, 1.0 / p);
}

/* g = g * coef (coef_or_clip > 0), or g = clamp(g, -clip, clip) when clamp
 * is set, in the tensor's precision; bf16 through f32 and back. Returns 1
 * if a written value is not finite (clamping keeps NaN and turns +-inf
 * into +-clip, as torch.clamp does, unless clip itself rounds to infinity
 * in f32 or bf16), which is how clipping by value learns whether the
 * gradients the step will read are finite. */
static int rewrite_grad(descent_tensor *t, double coef_or_clip, int clamp)
{
    int bad = 0;
    if (t->dtype == DESCENT_F64) {
        double *g = (double *)t->grad;
        const double c = coef_or_clip;
        for (size_t i = 0; i < t->n; i++) {
            g[i] = clamp ? (g[i] < -c ? -c : g[i] > c ? c : g[i]) : g[i] * c;
            bad |= !(fabs(g[i]) <= DBL_MAX);
        }
        return bad;
    }
    const float c = (float)coef_or_clip;
    if (t->dtype == DESCENT_F32) {
        float *g = (float *)t->grad;
        for (size_t i = 0; i < t->n; i++) {
            g[i] = clamp ? (g[i] < -c ? -c : g[i] > c ? c : g[i]) : g[i] * c;
            bad |= !(fabsf(g[i]) <= FLT_MAX);
        }
        return bad;
    }
    uint16_t *g = (uint16_t *)t->grad;
    float buf[BF16_BLOCK];
    for (size_t b = 0; b < t->n; b += BF16_BLOCK) {
        size_t m = t->n - b < BF16_BLOCK ? t->n - b : BF16_BLOCK;
        descent_bf16_widen(buf, g + b, m);
        for (size_t i = 0; i < m; i++)
            buf[i] = clamp ? (buf[i] < -c ? -c : buf[i] > c ? c : buf[i]) : buf[i] * c;
        descent_bf16_narrow(g + b, buf, m);
        for (size_t i = 0; i < m; i++)
            bad |= (g[b + i] & 0x7F80u) == 0x7F80u;
    }
    return bad;
}

static int check_norm_args(descent_optimizer *opt, double max_norm, double norm_type)
{
    if (!(max_norm >= 0) || isinf(max_norm))
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "max_norm must be finite and >= 0, got %g", max_norm);
    if (!(norm_type >= 1.0) || (isinf(norm_type) && norm_type < 0))
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "norm_type must be >= 1 or INFINITY, got %g", norm_type);
    return 0;
}

/* Element types clipping knows; any other is refused before anything is
 * written (a gradient of another width must never be read as float). */
static int check_dtypes(descent_optimizer *opt)
{
    for (int k = 0; k < opt->ntensors; k++)
        if (opt->tensors[k].dtype != DESCENT_F32 && opt->tensors[k].dtype != DESCENT_F64 &&
            opt->tensors[k].dtype != DESCENT_BF16)
            return descent_opt_fail(opt, DESCENT_ERR_INVALID,
                                    "gradient clipping supports f32, f64 and bf16 tensors; tensor %d has dtype %d", k,
                                    (int)opt->tensors[k].dtype);
    return 0;
}

/* PyTorch: clip_coef = max_norm / (total_norm + 1e-6), applied when < 1. */
static double clip_coef(double max_norm, double norm) { return max_norm / (norm + 1e-6); }

int descent_clip_grad_value(descent_optimizer *opt, double clip_value)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (!(clip_value >= 0) || isinf(clip_value))
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "clip_value must be finite and >= 0, got %g", clip_value);
    int rc = check_dtypes(opt);
    if (rc < 0)
        return rc;
    int bad = 0;
    for (int k = 0; k < opt->ntensors; k++)
        bad |= rewrite_grad(&opt->tensors[k], clip_value, 1);
    descent_grads_checked(opt, !bad);
    return 0;
}

int descent_clip_grad_norm(descent_optimizer *opt, double max_norm, double norm_type, double *total_norm_out)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    int rc = check_norm_args(opt, max_norm, norm_type);
    if (rc == 0)
        rc = check_dtypes(opt);
    if (rc < 0)
        return rc;
    /* As PyTorch: the norm of the vector of per-tensor norms. */
    double acc = 0.0;
    for (int k = 0; k < opt->ntensors; k++) {
        descent_norm_accumulate(&acc, descent_norm_finish(tensor_norm_sum(&opt->tensors[k], norm_type), norm_type), norm_type);
    }
    double total = descent_norm_finish(acc, norm_type);
    if (total_norm_out)
        *total_norm_out = total;
    /* A finite norm proves every gradient finite (a NaN or an infinity
     * makes the norm NaN or infinite), and scaling by clip_coef < 1 keeps
     * them so. A non-finite norm proves nothing (|g|^p of a finite f64 can
     * overflow): the step then checks for itself. */
    descent_grads_checked(opt, isfinite(total));
    if (!isfinite(total))
        return descent_opt_fail(opt, DESCENT_ERR_NONFINITE,
                                "the total gradient norm is %g; gradients left unclipped", total);
    double coef = clip_coef(max_norm, total);
    if (coef < 1.0)
        for (int k = 0; k < opt->ntensors; k++)
            rewrite_grad(&opt->tensors[k], coef, 0);
    return 0;
}

int descent_clip_grad_norm_per_tensor(descent_optimizer *opt, double max_norm, double norm_type, double *norms_out)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    int rc = check_norm_args(opt, max_norm, norm_type);
    if (rc == 0)
        rc = check_dtypes(opt);
    if (rc < 0)
        return rc;
    int bad = -1;
    for (int k = 0; k < opt->ntensors; k++) {
        descent_tensor *t = &opt->tensors[k];
        double norm = descent_norm_finish(tensor_norm_sum(t, norm_type), norm_type);
        if (norms_out)
            norms_out[k] = norm;
        if (!isfinite(norm)) {
            if (bad < 0)
                bad = k;
            continue;
        }
        double coef = clip_coef(max_norm, norm);
        if (coef < 1.0)
            rewrite_grad(t, coef, 0);
    }
    descent_grads_checked(opt, bad < 0); /* as in descent_clip_grad_norm */
    if (bad >= 0)
        return descent_opt_fail(opt, DESCENT_ERR_NONFINITE,
                                "the gradient norm of tensor %d is not finite; that tensor was left unclipped", bad);
    return 0;
}

int descent_unscale_grads(descent_optimizer *opt, double inv_scale, int *found_inf)
{
    if (found_inf)
        *found_inf = 0;
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (!(inv_scale > 0) || isinf(inv_scale))
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "inv_scale must be finite and > 0, got %g", inv_scale);
    int rc = check_dtypes(opt);
    if (rc < 0)
        return rc;
    /* GradScaler tests the values before scaling; testing them after is the
     * same verdict for finite ones unless g * inv_scale overflows, which
     * then also counts as found (the step would read that infinity). */
    int bad = 0;
    for (int k = 0; k < opt->ntensors; k++)
        bad |= rewrite_grad(&opt->tensors[k], inv_scale, 0);
    descent_grads_checked(opt, !bad);
    if (found_inf)
        *found_inf = bad;
    return 0;
}
