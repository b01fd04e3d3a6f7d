/* The LAMB kernels, read twice by lamb.c through kernel_types.h: T is float
 * or double, KERNEL_FN(x) names x's copy for that type (x_f32, x_f64), and
 * SQRT is the type's square root. The update, the two passes and the order
 * of the sums are stated in lamb.c. */

/* u = (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t) + eps_root) + eps) + wd p */
DESCENT_INLINE T KERNEL_FN(lamb_u)(T mi, T vi, T pi, T bc1, T bc2, T eps_root, T eps, T wd)
{
    return (mi / bc1) / (SQRT(vi / bc2 + eps_root) + eps) + wd * pi;
}

/* Pass 1 over [b, e), one reduction group: m, v, and the sums of squares of
 * p and u (sums[0], sums[1]) over DESCENT_RED_LANES lanes. */
DESCENT_INLINE void KERNEL_FN(lamb_pass1_body)(const lamb_range *rg, size_t b, size_t e, double *sums)
{
    const lamb_coeffs *c = rg->c;
    const T *restrict p = rg->p;
    const T *restrict g = rg->g;
    T *restrict m = rg->m;
    T *restrict v = rg->v;
    const T b1 = (T)c->beta1, omb1 = (T)c->one_minus_beta1;
    const T b2 = (T)c->beta2, omb2 = (T)c->one_minus_beta2;
    const T bc1 = (T)c->bias_correction1, bc2 = (T)c->bias_correction2;
    const T eps = (T)c->eps, eps_root = (T)c->eps_root, wd = (T)c->weight_decay;
#define DESCENT_PASS1_ELEM "lamb_pass1_elem.h"
#include "pass1_lanes.h"
}

/* Pass 2 over [b, e): u again from the stored m and v, then the step:
 * ratio > 0: p += neg_lr (ratio u); else p += (T)(neg_lr_p_norm (u / u_norm)). */
DESCENT_INLINE void KERNEL_FN(lamb_pass2_body)(const lamb_range *rg, size_t b, size_t e, double ratio_d,
                                               double neg_lr_p_norm, double u_norm)
{
    const lamb_coeffs *c = rg->c;
    T *restrict p = rg->p;
    const T *restrict m = rg->m;
    const T *restrict v = rg->v;
    const T bc1 = (T)c->bias_correction1, bc2 = (T)c->bias_correction2;
    const T eps = (T)c->eps, eps_root = (T)c->eps_root, wd = (T)c->weight_decay;
    const T neg_lr = (T)c->neg_lr, ratio = (T)ratio_d;
    if (ratio_d > 0) {
        for (size_t i = b; i < e; i++) {
            T u = KERNEL_FN(lamb_u)(m[i], v[i], p[i], bc1, bc2, eps_root, eps, wd);
            p[i] = p[i] + neg_lr * (ratio * u);
        }
    } else {
        for (size_t i = b; i < e; i++) {
            T u = KERNEL_FN(lamb_u)(m[i], v[i], p[i], bc1, bc2, eps_root, eps, wd);
            p[i] = p[i] + (T)(neg_lr_p_norm * ((double)u / u_norm));
        }
    }
}

DESCENT_DISPATCH_FN(KERNEL_FN(lamb_pass1), KERNEL_FN(lamb_pass1_body),
                    (const lamb_range *rg, size_t b, size_t e, double *sums), (rg, b, e, sums))
DESCENT_DISPATCH_FN(KERNEL_FN(lamb_pass2), KERNEL_FN(lamb_pass2_body),
                    (const lamb_range *rg, size_t b, size_t e, double r, double s, double un), (rg, b, e, r, s, un))
