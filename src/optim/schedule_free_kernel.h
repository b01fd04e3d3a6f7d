/* The schedule_free kernel, read by schedule_free.c through kernel_types.h
 * once per element type: T is float or double, KERNEL_FN(x) names x's copy
 * for that type (x_f32, x_f64, x_bf16), SQRT, FABS, POW are T's math
 * functions, and p (the parameter y) and g are read and p written through
 * LD_P, LD_G and ST_P. The update it
 * computes, and its source, are stated at the top of schedule_free.c. */
DESCENT_INLINE void KERNEL_FN(sf_loop)(const descent_kernel_args *args, const int adam)
{
    const sf_coeffs *c = args->coeffs;
    KERNEL_PG(args);
    T *restrict z = args->state[0];
    T *restrict v = args->state[1];
    const T b1 = (T)c->b1, omb1 = (T)c->one_minus_b1, ck = (T)c->ck, omck = (T)c->one_minus_ck;
    const T neg_lr = (T)c->neg_lr, wd = (T)c->weight_decay;
    const T b2 = (T)c->beta2, omb2 = (T)c->one_minus_beta2, bc2 = (T)c->bias_correction2;
    const T eps = (T)c->eps;
    const int first = c->first;
    const size_t end = args->end;
    DESCENT_NF_DECL(SFX, args);
    for (size_t i = args->begin; i < end; i++) {
        DESCENT_NF_TEST(SFX, LD_G(i));
        T yi = LD_P(i), gi = LD_G(i);
        T zi = first ? yi : z[i];
        T u;
        if (adam) {
            T vi = omb2 * (gi * gi) + b2 * v[i];
            v[i] = vi;
            u = gi / (SQRT(vi / bc2) + eps) + wd * yi;
        } else {
            u = gi + wd * yi;
        }
        T znew = zi + neg_lr * u;
        T xprev = (yi - omb1 * zi) / b1;
        T x = omck * xprev + ck * znew;
        ST_P(i, b1 * x + omb1 * znew);
        z[i] = znew;
    }
    DESCENT_NF_END(SFX, args);
}

DESCENT_INLINE void KERNEL_FN(sf_sgd_body)(const descent_kernel_args *args) { KERNEL_FN(sf_loop)(args, 0); }
DESCENT_INLINE void KERNEL_FN(sf_adamw_body)(const descent_kernel_args *args) { KERNEL_FN(sf_loop)(args, 1); }
DESCENT_DISPATCH(KERNEL_FN(sf_sgd_kernel), KERNEL_FN(sf_sgd_body))
DESCENT_DISPATCH(KERNEL_FN(sf_adamw_kernel), KERNEL_FN(sf_adamw_body))
