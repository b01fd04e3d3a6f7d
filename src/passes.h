/* Passes over every gradient or parameter outside the update kernels
 * (clipping, unscaling, EMA/SWA, Lookahead): threaded over the optimizer's
 * chunks as the step is, each chunk's loop vectorized and compiled per
 * instruction set (DESCENT_DISPATCH), and with results that do not depend
 * on the thread count or the instruction set. Not installed. */
#ifndef DESCENT_PASSES_H
#define DESCENT_PASSES_H

#include "internal.h"

/* Work on chunk c; *partial receives the chunk's contribution to a
 * reduction (or is left alone). Returns nonzero to report (OR-reduced). */
typedef int (*descent_chunk_fn)(const descent_optimizer *opt, int c, void *ctx, double *partial);
/* Called for chunks first..last-1 in index order, whatever the threads. */
typedef void (*descent_fold_fn)(void *ctx, int c, double partial);

/* Run fn on chunks [first, last), threaded when the work is large enough,
 * then fold (if not NULL) every chunk's partial in chunk order. Returns
 * the OR of fn's results. */
int descent_for_chunks(const descent_optimizer *opt, int first, int last, descent_chunk_fn fn, void *ctx,
                       descent_fold_fn fold);

/* Gradient passes (clip.c) over one range of an f32/f64 array.
 * x = g * c written to out (which may be g), or with clamp set,
 * x = clamp(g, -c, c) (NaN kept); returns 1 if a written x is not finite. */
int descent_scale_range_f32(int isa, float *out, const float *g, size_t n, float c, int clamp);
int descent_scale_range_f64(int isa, double *out, const double *g, size_t n, double c, int clamp);

/* The running p-norm sum of one chunk (passes.c states the order): 32
 * double lanes, or for p = infinity the largest magnitude bits. Ranges
 * summed into one set of lanes are multiples of 32 elements but the last. */
#define DESCENT_NORM_LANES 32
typedef struct descent_norm_lanes {
    double sum[DESCENT_NORM_LANES];
    uint64_t maxbits;
} descent_norm_lanes;
void descent_norm_lanes_init(descent_norm_lanes *l);
void descent_norm_range_f32(int isa, descent_norm_lanes *l, const float *g, size_t n, double p);
void descent_norm_range_f64(int isa, descent_norm_lanes *l, const double *g, size_t n, double p);
/* The chunk's sum of |x|^p (p finite) or its largest |x| (a NaN: NaN). */
double descent_norm_lanes_sum(const descent_norm_lanes *l, double p, int f64);

/* y = g c (stored to out unless out is NULL; out may be g), y^2 added to
 * the lanes as descent_norm_range_* adds it for p = 2; returns 1 if a y is
 * not finite. One loop for unscale, verdict and 2-norm. */
int descent_scale_sumsq_range_f32(int isa, descent_norm_lanes *l, float *out, const float *g, size_t n, float c);
int descent_scale_sumsq_range_f64(int isa, descent_norm_lanes *l, double *out, const double *g, size_t n, double c);

/* Stage 0 of a step under descent_set_step_clip (clip.c): the verdict and
 * the norm from one read of the gradient the update will read (under
 * accumulation, the mean that the cycle's last call forms; the calls
 * before it return 0 with both factors 1); a step to skip or refuse
 * returns its status, with nothing written. The update then multiplies
 * each gradient by *s1 and the result by *s2 (1: not at all) as it reads
 * it, or, where it cannot, descent_step_clip_write writes both factors
 * into the gradient it reads, after stage 2 has formed it, and sets them
 * to 1. */
int descent_step_clip_begin(descent_optimizer *opt, double *s1, double *s2);
void descent_step_clip_write(descent_optimizer *opt, double *s1, double *s2);

/* avg = d avg + od p (EMA) or avg = avg + (p - avg) / m (SWA, d ignored)
 * over one range, in the array's precision (utils.c). */
void descent_average_range_f32(int isa, float *avg, const float *p, size_t n, float d, float od, float m, int ema);
void descent_average_range_f64(int isa, double *avg, const double *p, size_t n, double d, double od, double m,
                               int ema);

#endif
