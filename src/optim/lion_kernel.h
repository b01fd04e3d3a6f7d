/* The lion kernel, read by lion.c through kernel_types.h once per element
 * type: T is float or double, KERNEL_FN(x) names x's copy for that type
 * (x_f32, x_f64, x_bf16), SQRT, FABS, POW are T's math functions, and p
 * and g are read and p written through LD_P, LD_G and ST_P. The update it
 * computes, and its source, are stated at the top of lion.c. */
DESCENT_INLINE void KERNEL_FN(lion_body)(const descent_kernel_args *args)
{
    const lion_coeffs *c = args->coeffs;
    KERNEL_PG(args);
    T *restrict m = args->state[0];
    const T sign = (T)c->sign, decay = (T)c->decay, neg_lr = (T)c->neg_lr;
    const T b1 = (T)c->beta1, omb1 = (T)c->one_minus_beta1;
    const T b2 = (T)c->beta2, omb2 = (T)c->one_minus_beta2;
    const size_t end = args->end;
    DESCENT_NF_DECL(SFX, args);
    for (size_t i = args->begin; i < end; i++) {
        DESCENT_NF_TEST(SFX, LD_G(i));
        T d = sign * LD_G(i);
        T pi = LD_P(i) * decay;
        T ci = m[i] * b1 + omb1 * d;
        T u = (T)(ci > 0) - (T)(ci < 0); /* sign(ci), 0 for 0 and NaN */
        ST_P(i, pi + neg_lr * u);
        m[i] = m[i] * b2 + omb2 * d;
    }
    DESCENT_NF_END(SFX, args);
}

DESCENT_DISPATCH(KERNEL_FN(lion_kernel), KERNEL_FN(lion_body))
