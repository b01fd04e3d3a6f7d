/* The Adafactor kernels, read twice by adafactor.c through kernel_types.h:
 * T is float or double, KERNEL_FN(x) names x's copy for that type (x_f32,
 * x_f64), and SQRT is the type's square root. The update, the passes and
 * the order of the sums are stated in adafactor.c. */

/* lerp(a, b, w) as torch.lerp computes it: a + w (b - a) for |w| < 0.5,
 * else b - (b - a) (1 - w). */
DESCENT_INLINE T KERNEL_FN(lerp)(T a, T b, T w)
{
    return w < (T)0.5 && w > (T)-0.5 ? a + w * (b - a) : b - (b - a) * ((T)1 - w);
}

DESCENT_INLINE void KERNEL_FN(sq_lanes)(const T *restrict x, size_t len, double *restrict lane)
{
    size_t j = 0;
    for (; j + DESCENT_RED_LANES <= len; j += DESCENT_RED_LANES)
        for (int k = 0; k < DESCENT_RED_LANES; k++)
            lane[k] += (double)x[j + k] * (double)x[j + k];
    for (int k = 0; j < len; j++, k++)
        lane[k] += (double)x[j] * (double)x[j];
}

/* 1-D, pass 1: the lanes of p^2, variance = lerp(variance, G^2, w), the lanes of U^2. */
DESCENT_INLINE void KERNEL_FN(af_flat1_body)(const af_job *jb, size_t b, size_t e, double *sums)
{
    const T *restrict p = jb->p;
    const T *restrict g = jb->g;
    T *restrict var = jb->row;
    const T sign = (T)jb->c->sign, w = (T)jb->c->w, eps1_sq = (T)(jb->eps1 * jb->eps1);
#define DESCENT_PASS1_ELEM "adafactor_flat1_elem.h"
#include "pass1_lanes.h"
}

/* 1-D, pass 2: p = p (1 - lr wd) + neg_step U. */
DESCENT_INLINE void KERNEL_FN(af_flat2_body)(const af_job *jb, size_t b, size_t e, double neg_step)
{
    T *restrict p = jb->p;
    const T *restrict g = jb->g;
    const T *restrict var = jb->row;
    const T sign = (T)jb->c->sign, eps1_sq = (T)(jb->eps1 * jb->eps1);
    const T decay = (T)jb->c->lr_decay, ns = (T)neg_step;
    const int decays = jb->c->decay;
    for (size_t i = b; i < e; i++) {
        T vi = var[i] < eps1_sq ? eps1_sq : var[i];
        T u = ((T)1 / SQRT(vi)) * (sign * g[i]);
        T pi = decays ? p[i] * decay : p[i];
        p[i] = pi + ns * u;
    }
}

/* Factored, rows [q0, q1): the lanes of p^2 and row_var = lerp(row_var, mean_c G^2, w). */
DESCENT_INLINE void KERNEL_FN(af_rows_body)(const af_job *jb, size_t q0, size_t q1, double *sums)
{
    const T *p = jb->p;
    const T *g = jb->g;
    T *row = jb->row;
    const size_t C = jb->C;
    const T w = (T)jb->c->w;
    double ps[DESCENT_RED_LANES] = {0};
    for (size_t q = q0; q < q1; q++) {
        double gs[DESCENT_RED_LANES] = {0};
        KERNEL_FN(sq_lanes)(p + q * C, C, ps);
        KERNEL_FN(sq_lanes)(g + q * C, C, gs); /* (sign g)^2 = g^2 */
        row[q] = KERNEL_FN(lerp)(row[q], (T)(descent_red_lanes(gs) / (double)C), w);
    }
    sums[0] = descent_red_lanes(ps);
}

/* Factored, columns [c0, c1) of matrix bi: col_var = lerp(col_var, mean_r G^2, w), */
/* each column's sum in row order. */
DESCENT_INLINE void KERNEL_FN(af_cols_body)(const af_job *jb, size_t bi, size_t c0, size_t c1)
{
    const size_t R = jb->R, C = jb->C;
    const T *g = (const T *)jb->g + bi * R * C;
    T *col = (T *)jb->col + bi * C;
    const T w = (T)jb->c->w;
    double s[AF_COL_BLOCK];
    const size_t len = c1 - c0;
    for (size_t j = 0; j < len; j++)
        s[j] = 0;
    for (size_t r = 0; r < R; r++) {
        const T *gr = g + r * C + c0;
        for (size_t j = 0; j < len; j++)
            s[j] += (double)gr[j] * (double)gr[j];
    }
    for (size_t j = 0; j < len; j++)
        col[c0 + j] = KERNEL_FN(lerp)(col[c0 + j], (T)(s[j] / (double)R), w);
}

/* max(mean_r row_var, eps1) of matrix bi, the sum in row order. */
DESCENT_INLINE T KERNEL_FN(af_row_mean)(const af_job *jb, size_t bi)
{
    const T *row = (const T *)jb->row + bi * jb->R;
    double s = 0;
    for (size_t r = 0; r < jb->R; r++)
        s += (double)row[r];
    T mean = (T)(s / (double)jb->R), eps1 = (T)jb->eps1;
    return mean < eps1 ? eps1 : mean;
}

/* Factored, rows [q0, q1): the lanes of U^2 (pass 1) or the step (pass 2), */
/* U = G / sqrt(max(row col / row_mean, eps1^2)). */
DESCENT_INLINE void KERNEL_FN(af_urows_body)(const af_job *jb, size_t q0, size_t q1, double neg_step,
                                        double *sums)
{
    T *p = jb->p;
    const T *g = jb->g;
    const T *rowv = jb->row, *colv = jb->col;
    const size_t R = jb->R, C = jb->C;
    const T sign = (T)jb->c->sign, eps1_sq = (T)(jb->eps1 * jb->eps1);
    const T decay = (T)jb->c->lr_decay, ns = (T)neg_step;
    const int decays = jb->c->decay, step = sums == NULL;
    double us[DESCENT_RED_LANES] = {0};
    size_t cur = (size_t)-1;
    T row_mean = 1;
    for (size_t q = q0; q < q1; q++) {
        const size_t bi = q / R;
        if (bi != cur) {
            cur = bi;
            row_mean = KERNEL_FN(af_row_mean)(jb, bi);
        }
        const T rq = rowv[q];
        const T *restrict cb = colv + bi * C;
        const T *restrict gq = g + q * C;
        T *restrict pq = p + q * C;
        if (step) {
            for (size_t j = 0; j < C; j++) {
                T v = rq * cb[j] / row_mean;
                v = v < eps1_sq ? eps1_sq : v;
                T u = ((T)1 / SQRT(v)) * (sign * gq[j]);
                T pi = decays ? pq[j] * decay : pq[j];
                pq[j] = pi + ns * u;
            }
            continue;
        }
        size_t j = 0;
        for (; j + DESCENT_RED_LANES <= C; j += DESCENT_RED_LANES)
            for (int k = 0; k < DESCENT_RED_LANES; k++) {
                T v = rq * cb[j + k] / row_mean;
                v = v < eps1_sq ? eps1_sq : v;
                T u = ((T)1 / SQRT(v)) * (sign * gq[j + k]);
                us[k] += (double)u * (double)u;
            }
        for (int k = 0; j < C; j++, k++) {
            T v = rq * cb[j] / row_mean;
            v = v < eps1_sq ? eps1_sq : v;
            T u = ((T)1 / SQRT(v)) * (sign * gq[j]);
            us[k] += (double)u * (double)u;
        }
    }
    if (!step)
        sums[0] = descent_red_lanes(us);
}

DESCENT_DISPATCH_FN(KERNEL_FN(af_flat1), KERNEL_FN(af_flat1_body),
                    (const af_job *jb, size_t b, size_t e, double *sums), (jb, b, e, sums))
DESCENT_DISPATCH_FN(KERNEL_FN(af_flat2), KERNEL_FN(af_flat2_body),
                    (const af_job *jb, size_t b, size_t e, double ns), (jb, b, e, ns))
DESCENT_DISPATCH_FN(KERNEL_FN(af_rows), KERNEL_FN(af_rows_body),
                    (const af_job *jb, size_t q0, size_t q1, double *sums), (jb, q0, q1, sums))
DESCENT_DISPATCH_FN(KERNEL_FN(af_cols), KERNEL_FN(af_cols_body),
                    (const af_job *jb, size_t bi, size_t c0, size_t c1), (jb, bi, c0, c1))
DESCENT_DISPATCH_FN(KERNEL_FN(af_urows), KERNEL_FN(af_urows_body),
                    (const af_job *jb, size_t q0, size_t q1, double ns, double *sums),
                    (jb, q0, q1, ns, sums))
