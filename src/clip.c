/* Gradient clipping by value and by norm (torch.nn.utils.clip_grad_value_
 * and clip_grad_norm_ semantics), over the tensors registered with an
 * optimizer. The optimizer holds the caller's gradient buffers as const
 * pointers because step() only reads them; clipping is the one place that
 * writes into them, as PyTorch's in-place clipping does, and the header says
 * so. */
#include "passes.h"

#include <float.h>
#include <math.h>

/* bf16 gradients are widened to f32 (exactly) in blocks of this many
 * elements and, when written, rounded back to nearest even. */
#define BF16_BLOCK 256

/* Sub-blocks a chunk is worked in: a write and the norm of what it wrote
 * meet in L1 (4096 f32 = 16 KiB), so the fused unscale + norm reads and
 * writes each gradient once. A multiple of DESCENT_NORM_LANES, as the lanes need. */
#define SUB_BLOCK 4096

/* One pass over the gradients, chunk by chunk (passes.h): write g * c or
 * clamp(g, -c, c) in place, or g * c into scratch (the gradient left as it
 * is), and/or sum the p-norm of the values written (or read). */
enum { WRITE_NONE, WRITE_SCALE, WRITE_CLAMP, WRITE_SCRATCH };
typedef struct grad_pass {
    int write, norm;
    double c, p;
    int step_grad; /* read the gradient the step reads (utils.c accumulation) */
    int mean_k;    /* > 0: read (sum + g) / mean_k, the mean that the call
                    * completing an accumulation cycle is about to form
                    * (accumulate.c), from blocks made here; nothing written */
    /* the fold, in chunk order */
    int tensor;    /* whose sum is running; -1: none yet */
    double sum, total;
    double last_norm; /* the norm of the last tensor ended (0: none) */
    const descent_optimizer *opt;
} grad_pass;

static void grad_pass_init(grad_pass *ps, int write, double c, int norm, double p)
{
    memset(ps, 0, sizeof *ps);
    ps->write = write;
    ps->c = c;
    ps->norm = norm;
    ps->p = p;
    ps->tensor = -1;
}

/* Write (as ps says) and sum one range of an f32 array. */
static int f32_range(int isa, const grad_pass *ps, descent_norm_lanes *l, float *g, size_t m)
{
    float scratch[SUB_BLOCK];
    int bad = 0;
    const float *x = g;
    if (ps->norm && ps->p == 2.0 && (ps->write == WRITE_SCALE || ps->write == WRITE_SCRATCH))
        return descent_scale_sumsq_range_f32(isa, l, ps->write == WRITE_SCALE ? g : NULL, g, m, (float)ps->c);
    if (ps->write == WRITE_SCRATCH) {
        bad = descent_scale_range_f32(isa, scratch, g, m, (float)ps->c, 0);
        x = scratch;
    } else if (ps->write) {
        bad = descent_scale_range_f32(isa, g, g, m, (float)ps->c, ps->write == WRITE_CLAMP);
    }
    if (ps->norm)
        descent_norm_range_f32(isa, l, x, m, ps->p);
    return bad;
}

/* The same for an f64 array. */
static int f64_range(int isa, const grad_pass *ps, descent_norm_lanes *l, double *g, size_t m)
{
    if (ps->norm && ps->p == 2.0 && (ps->write == WRITE_SCALE || ps->write == WRITE_SCRATCH))
        return descent_scale_sumsq_range_f64(isa, l, ps->write == WRITE_SCALE ? g : NULL, g, m, ps->c);
    int bad = 0;
    if (ps->write == WRITE_SCRATCH) {
        double scratch[SUB_BLOCK];
        bad = descent_scale_range_f64(isa, scratch, g, m, ps->c, 0);
        if (ps->norm)
            descent_norm_range_f64(isa, l, scratch, m, ps->p);
        return bad;
    }
    if (ps->write)
        bad = descent_scale_range_f64(isa, g, g, m, ps->c, ps->write == WRITE_CLAMP);
    if (ps->norm)
        descent_norm_range_f64(isa, l, g, m, ps->p);
    return bad;
}

/* ps->mean_k: each block of the mean formed here first, then read as a
 * gradient (a WRITE_SCRATCH pass scales the block in place: the same
 * values, and the sum and g are left as they are). */
static int mean_chunk(const descent_optimizer *opt, const grad_pass *ps, const descent_chunk *ch,
                      descent_norm_lanes *l)
{
    const descent_tensor *t = &opt->tensors[ch->tensor];
    grad_pass on_block = *ps;
    if (on_block.write == WRITE_SCRATCH)
        on_block.write = WRITE_SCALE;
    union {
        double f64[SUB_BLOCK];
        float f32[SUB_BLOCK];
    } block;
    int bad = 0, f64 = t->dtype == DESCENT_F64;
    for (size_t b = ch->begin; b < ch->end; b += SUB_BLOCK) {
        size_t m = ch->end - b < SUB_BLOCK ? ch->end - b : SUB_BLOCK;
        descent_accum_range(t, ps->mean_k, 1, b, m, f64 ? (void *)block.f64 : (void *)block.f32);
        bad |= f64 ? f64_range(opt->isa, &on_block, l, block.f64, m) : f32_range(opt->isa, &on_block, l, block.f32, m);
    }
    return bad;
}

static int grad_chunk(const descent_optimizer *opt, int c, void *ctx, double *partial)
{
    grad_pass *ps = ctx;
    const descent_chunk *ch = &opt->chunks[c];
    const descent_tensor *t = &opt->tensors[ch->tensor];
    void *grad = (void *)(ps->step_grad ? descent_step_grad(t) : t->grad); /* written: see the top */
    descent_norm_lanes l;
    descent_norm_lanes_init(&l);
    int bad = ps->mean_k ? mean_chunk(opt, ps, ch, &l) : 0; /* f32 and f64 only: accumulation refuses bf16 */
    for (size_t b = ch->begin; b < ch->end && !ps->mean_k; b += SUB_BLOCK) {
        size_t m = ch->end - b < SUB_BLOCK ? ch->end - b : SUB_BLOCK;
        if (t->dtype == DESCENT_F64) {
            bad |= f64_range(opt->isa, ps, &l, (double *)grad + b, m);
        } else if (t->dtype == DESCENT_F32) {
            bad |= f32_range(opt->isa, ps, &l, (float *)grad + b, m);
        } else {
            /* bf16 through f32 and back (rounded to nearest even); the norm
             * is of the values as stored, as a later pass would read them. */
            uint16_t *g = (uint16_t *)grad + b;
            float buf[BF16_BLOCK];
            for (size_t k = 0; k < m; k += BF16_BLOCK) {
                size_t mk = m - k < BF16_BLOCK ? m - k : BF16_BLOCK;
                descent_bf16_widen(buf, g + k, mk);
                if (ps->write == WRITE_SCALE || ps->write == WRITE_CLAMP) {
                    descent_scale_range_f32(opt->isa, buf, buf, mk, (float)ps->c, ps->write == WRITE_CLAMP);
                    descent_bf16_narrow(g + k, buf, mk);
                    for (size_t i = 0; i < mk; i++)
                        bad |= (g[k + i] & 0x7F80u) == 0x7F80u;
                    if (ps->norm)
                        descent_bf16_widen(buf, g + k, mk);
                } else if (ps->write == WRITE_SCRATCH) {
                    /* the values a write would store: rounded to bf16 */
                    uint16_t stored[BF16_BLOCK];
                    descent_scale_range_f32(opt->isa, buf, buf, mk, (float)ps->c, 0);
                    descent_bf16_narrow(stored, buf, mk);
                    for (size_t i = 0; i < mk; i++)
                        bad |= (stored[i] & 0x7F80u) == 0x7F80u;
                    descent_bf16_widen(buf, stored, mk);
                }
                if (ps->norm)
                    descent_norm_range_f32(opt->isa, &l, buf, mk, ps->p);
            }
        }
    }
    *partial = ps->norm ? descent_norm_lanes_sum(&l, ps->p, t->dtype == DESCENT_F64) : 0.0;
    return bad;
}

/* The fold: chunk sums into their tensor's sum in chunk order (a maximum
 * for p = infinity, a NaN kept); at each tensor's end its norm into the
 * total as PyTorch does (the norm of the vector of per-tensor norms). */
static void end_tensor(grad_pass *ps)
{
    if (ps->tensor < 0)
        return;
    double norm = descent_norm_finish(ps->sum, ps->p);
    ps->last_norm = norm;
    descent_norm_accumulate(&ps->total, norm, ps->p);
}

static void fold_norm(void *ctx, int c, double partial)
{
    grad_pass *ps = ctx;
    int tensor = ps->opt->chunks[c].tensor;
    if (tensor != ps->tensor) {
        end_tensor(ps);
        ps->tensor = tensor;
        ps->sum = 0.0;
    }
    if (isinf(ps->p))
        descent_norm_accumulate(&ps->sum, partial, ps->p);
    else
        ps->sum += partial;
}

/* Chunks [first, last) through ps; returns 1 if a written value is not
 * finite. With ps->norm, ps->total is the norm's sum over the tensors met
 * (finish it with descent_norm_finish). */
static int run_pass(const descent_optimizer *opt, int first, int last, grad_pass *ps)
{
    ps->opt = opt;
    int bad = descent_for_chunks(opt, first, last, grad_chunk, ps, ps->norm ? fold_norm : NULL);
    if (ps->norm)
        end_tensor(ps);
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

static int check_norm_call(descent_optimizer *opt, double max_norm, double norm_type)
{
    int rc = check_norm_args(opt, max_norm, norm_type);
    return rc < 0 ? rc : check_dtypes(opt);
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
    grad_pass ps;
    grad_pass_init(&ps, WRITE_CLAMP, clip_value, 0, 0);
    descent_grads_checked(opt, !run_pass(opt, 0, opt->nchunks, &ps));
    return 0;
}

/* Multiply every gradient by coef (step_grad: the gradient the update
 * reads, the mean under accumulation). */
static void scale_all(descent_optimizer *opt, double coef, int step_grad)
{
    grad_pass ps;
    grad_pass_init(&ps, WRITE_SCALE, coef, 0, 0);
    ps.step_grad = step_grad;
    run_pass(opt, 0, opt->nchunks, &ps);
}

/* A norm that is not finite: nothing clipped, DESCENT_ERR_NONFINITE. */
static int refuse_norm(descent_optimizer *opt, double total)
{
    return descent_opt_fail(opt, DESCENT_ERR_NONFINITE, "the total gradient norm is %g; gradients left unclipped",
                            total);
}

/* The clipping of descent_clip_grad_norm once the norm is known. */
static int clip_to_norm(descent_optimizer *opt, double max_norm, double total)
{
    /* A finite norm proves every gradient finite (a NaN or an infinity
     * makes the norm NaN or infinite), and scaling by clip_coef < 1 keeps
     * them so. A non-finite norm proves nothing (|g|^p of a finite f64 can
     * overflow): the step then checks for itself. */
    descent_grads_checked(opt, isfinite(total));
    if (!isfinite(total))
        return refuse_norm(opt, total);
    double coef = clip_coef(max_norm, total);
    if (coef < 1.0)
        scale_all(opt, coef, 0);
    return 0;
}

int descent_clip_grad_norm(descent_optimizer *opt, double max_norm, double norm_type, double *total_norm_out)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    int rc = check_norm_call(opt, max_norm, norm_type);
    if (rc < 0)
        return rc;
    grad_pass ps;
    grad_pass_init(&ps, WRITE_NONE, 0, 1, norm_type);
    run_pass(opt, 0, opt->nchunks, &ps);
    double total = descent_norm_finish(ps.total, norm_type);
    if (total_norm_out)
        *total_norm_out = total;
    return clip_to_norm(opt, max_norm, total);
}

int descent_unscale_clip_grad_norm(descent_optimizer *opt, double inv_scale, double max_norm, double norm_type,
                                   double *total_norm_out, int *found_inf)
{
    if (found_inf)
        *found_inf = 0;
    if (total_norm_out)
        *total_norm_out = NAN;
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (!(inv_scale > 0) || isinf(inv_scale))
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "inv_scale must be finite and > 0, got %g", inv_scale);
    int rc = check_norm_call(opt, max_norm, norm_type);
    if (rc < 0)
        return rc;
    /* One pass: g = g * inv_scale written, the verdict and the norm of the
     * values written, in the order descent_clip_grad_norm sums them. */
    grad_pass ps;
    grad_pass_init(&ps, WRITE_SCALE, inv_scale, 1, norm_type);
    int bad = run_pass(opt, 0, opt->nchunks, &ps);
    double total = descent_norm_finish(ps.total, norm_type);
    if (total_norm_out)
        *total_norm_out = total;
    if (found_inf)
        *found_inf = bad;
    if (bad) { /* GradScaler skips this step: nothing to clip */
        descent_grads_checked(opt, 0);
        return 0;
    }
    return clip_to_norm(opt, max_norm, total);
}

/* The chunks of tensor k: [*first, *last), from a cursor at or before them
 * (chunks are in tensor order). */
static void tensor_chunks(const descent_optimizer *opt, int k, int *cursor, int *first, int *last)
{
    int c = *cursor;
    while (c < opt->nchunks && opt->chunks[c].tensor < k)
        c++;
    *first = c;
    while (c < opt->nchunks && opt->chunks[c].tensor == k)
        c++;
    *last = *cursor = c;
}

int descent_clip_grad_norm_per_tensor(descent_optimizer *opt, double max_norm, double norm_type, double *norms_out)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    int rc = check_norm_call(opt, max_norm, norm_type);
    if (rc < 0)
        return rc;
    int bad = -1, cursor = 0;
    for (int k = 0; k < opt->ntensors; k++) {
        int first, last;
        tensor_chunks(opt, k, &cursor, &first, &last);
        grad_pass ps;
        grad_pass_init(&ps, WRITE_NONE, 0, 1, norm_type);
        run_pass(opt, first, last, &ps);
        double norm = ps.last_norm;
        if (norms_out)
            norms_out[k] = norm;
        if (!isfinite(norm)) {
            if (bad < 0)
                bad = k;
            continue;
        }
        double coef = clip_coef(max_norm, norm);
        if (coef < 1.0) {
            grad_pass_init(&ps, WRITE_SCALE, coef, 0, 0);
            run_pass(opt, first, last, &ps);
        }
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
    grad_pass ps;
    grad_pass_init(&ps, WRITE_SCALE, inv_scale, 0, 0);
    int bad = run_pass(opt, 0, opt->nchunks, &ps);
    descent_grads_checked(opt, !bad);
    if (found_inf)
        *found_inf = bad;
    return 0;
}

/* ---- the step's own unscale and clipping ---------------------------------- */

int descent_set_step_clip(descent_optimizer *opt, double inv_scale, double max_norm, double norm_type)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (!(inv_scale > 0) || isinf(inv_scale))
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "inv_scale must be finite and > 0, got %g", inv_scale);
    if (!(max_norm >= 0))
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "max_norm must be >= 0 (INFINITY: no clipping), got %g",
                                max_norm);
    int rc = isinf(max_norm) ? 0 : check_norm_args(opt, max_norm, norm_type);
    if (rc == 0)
        rc = check_dtypes(opt);
    if (rc < 0)
        return rc;
    int on = inv_scale != 1.0 || !isinf(max_norm);
    descent_utils *u = &opt->utils;
    u->step_clip = on;
    u->step_inv_scale = inv_scale;
    u->step_max_norm = max_norm;
    u->step_norm_type = isinf(max_norm) ? 2.0 : norm_type;
    u->step_grad_norm = NAN;
    return 0;
}

double descent_step_grad_norm(const descent_optimizer *opt)
{
    return opt && opt->utils.step_clip ? opt->utils.step_grad_norm : NAN;
}

int descent_step_clip_begin(descent_optimizer *opt, double *s1, double *s2)
{
    descent_utils *u = &opt->utils;
    int clip = !isinf(u->step_max_norm);
    u->step_grad_norm = NAN;
    *s1 = *s2 = 1.0;
    /* Under gradient accumulation the update reads the mean (sum + g) / k
     * that the call completing a cycle forms (accumulate.c): that call
     * unscales and clips the mean, read before the sum is touched; the
     * calls before it only add. */
    int k = u->accumulate > 1 ? u->accumulate : 0;
    if (k && u->accum_count + 1 < k)
        return 0;
    /* The values g * inv_scale are read (not written) for the verdict and
     * the norm, summed as descent_unscale_clip_grad_norm sums them. */
    grad_pass ps;
    grad_pass_init(&ps, u->step_inv_scale != 1.0 ? WRITE_SCRATCH : WRITE_NONE, u->step_inv_scale, clip,
                   u->step_norm_type);
    ps.step_grad = 1;
    ps.mean_k = k;
    int bad = run_pass(opt, 0, opt->nchunks, &ps);
    if (clip)
        u->step_grad_norm = descent_norm_finish(ps.total, u->step_norm_type);
    if (bad) {
        /* As torch.cuda.amp.GradScaler.step: the step is skipped. */
        if (opt->nonfinite_policy == DESCENT_NONFINITE_ERROR)
            return descent_opt_fail(opt, DESCENT_ERR_NONFINITE,
                                    "a gradient is NaN or infinite after unscaling; step not taken");
        opt->skipped_steps++;
        return descent_opt_fail(opt, DESCENT_STEP_SKIPPED,
                                "a gradient is NaN or infinite after unscaling; step skipped");
    }
    /* Without unscaling (inv_scale = 1) no verdict was read: a NaN or an
     * infinity makes the norm NaN or infinite, refused as
     * descent_clip_grad_norm refuses it; so is the norm of finite values
     * that is not finite (f64 squares past DBL_MAX), as
     * descent_unscale_clip_grad_norm refuses it. Nothing was written. */
    if (clip && !isfinite(u->step_grad_norm))
        return refuse_norm(opt, u->step_grad_norm);
    descent_grads_checked(opt, 1);
    *s1 = u->step_inv_scale;
    if (clip) {
        double coef = clip_coef(u->step_max_norm, u->step_grad_norm);
        if (coef < 1.0)
            *s2 = coef;
    }
    return 0;
}

void descent_step_clip_write(descent_optimizer *opt, double *s1, double *s2)
{
    if (*s1 != 1.0)
        scale_all(opt, *s1, 1);
    if (*s2 != 1.0)
        scale_all(opt, *s2, 1);
    *s1 = *s2 = 1.0;
}
