/* The adamax kernel, read by adamax.c through kernel_types.h once per element
 * type: T is float or double, KERNEL_FN(x) names x's copy for that type
 * (x_f32, x_f64, x_bf16), SQRT, FABS, POW are T's math functions, and p
 * and g are read and p written through LD_P, LD_G and ST_P. The update it
 * computes, and its source, are stated at the top of adamax.c. */
DESCENT_INLINE void KERNEL_FN(adamax_loop)(const descent_kernel_args *args,
    const int decay)
{
    const adamax_coeffs *c = args->coeffs;
    KERNEL_PG(args);
    T *restrict m = args->state[0];
    T *restrict u = args->state[1];
    const T sign = (T)c->sign, wd = (T)c->weight_decay;
    const T b1 = (T)c->beta1, omb1 = (T)c->one_minus_beta1, b2 = (T)c->beta2;
    const T eps = (T)c->eps, nclr = (T)c->neg_clr;
    const size_t begin = args->begin, end = args->end;
    DESCENT_NF_DECL(SFX, args);
    for (size_t i = begin; i < end; i++) {
        DESCENT_NF_TEST(SFX, LD_G(i));
        T d = sign * LD_G(i);
        if (decay)
            d = d + wd * LD_P(i);
        T mi = m[i] * b1 + omb1 * d;
        T decayed = u[i] * b2, fresh = FABS(d) + eps;
        T ui = decayed > fresh ? decayed : fresh;
        m[i] = mi;
        u[i] = ui;
        ST_P(i, LD_P(i) + nclr * mi / ui);
    }
    DESCENT_NF_END(SFX, args);
}

DESCENT_INLINE void KERNEL_FN(adamax_body)(const descent_kernel_args *args)
{
    const adamax_coeffs *c = args->coeffs;
    if (c->weight_decay != 0) {
        KERNEL_FN(adamax_loop)(args, 1);
    } else {
        KERNEL_FN(adamax_loop)(args, 0);
    }
}

DESCENT_DISPATCH(KERNEL_FN(adamax_kernel), KERNEL_FN(adamax_body))
