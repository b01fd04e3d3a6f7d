/* The yogi kernel, read by yogi.c through kernel_types.h once per element
 * type: T is float or double, KERNEL_FN(x) names x's copy for that type
 * (x_f32, x_f64, x_bf16), SQRT, FABS, POW are T's math functions, and p
 * and g are read and p written through LD_P, LD_G and ST_P. The update it
 * computes, and its source, are stated at the top of yogi.c. */
DESCENT_INLINE void KERNEL_FN(yogi_body)(const descent_kernel_args *args)
{
    const yogi_coeffs *c = args->coeffs;
    KERNEL_PG(args);
    T *restrict m = args->state[0];
    T *restrict v = args->state[1];
    const T sign = (T)c->sign, b1 = (T)c->beta1, omb1 = (T)c->one_minus_beta1;
    const T omb2 = (T)c->one_minus_beta2, eps = (T)c->eps, neg_lr = (T)c->neg_lr;
    const T bc1 = (T)c->bias_correction1, bc2 = (T)c->bias_correction2;
    const size_t end = args->end;
    DESCENT_NF_DECL(SFX, args);
    for (size_t i = args->begin; i < end; i++) {
        DESCENT_NF_TEST(SFX, LD_G(i));
        T d = sign * LD_G(i);
        T mi = m[i] * b1 + omb1 * d;
        T d2 = d * d;
        T diff = v[i] - d2;
        T s = (T)(diff > 0) - (T)(diff < 0); /* sign(diff), 0 for 0 and NaN */
        T vi = v[i] - omb2 * s * d2;
        m[i] = mi;
        v[i] = vi;
        T update = (mi / bc1) / (SQRT(vi / bc2) + eps);
        ST_P(i, LD_P(i) + neg_lr * update);
    }
    DESCENT_NF_END(SFX, args);
}

DESCENT_DISPATCH(KERNEL_FN(yogi_kernel), KERNEL_FN(yogi_body))
