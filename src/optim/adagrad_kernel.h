/* The adagrad kernel, read by adagrad.c through kernel_types.h once per element
 * type: T is float or double, KERNEL_FN(x) names x's copy for that type
 * (x_f32, x_f64, x_bf16), SQRT, FABS, POW are T's math functions, and p
 * and g are read and p written through LD_P, LD_G and ST_P. The update it
 * computes, and its source, are stated at the top of adagrad.c. */
DESCENT_INLINE void KERNEL_FN(adagrad_loop)(const descent_kernel_args *args,
    const int decay)
{
    const adagrad_coeffs *c = args->coeffs;
    KERNEL_PG(args);
    T *restrict sum = args->state[0];
    const T sign = (T)c->sign, wd = (T)c->weight_decay, nclr = (T)c->neg_clr;
    const T eps = (T)c->eps, epsr = (T)c->eps_root;
    const size_t begin = args->begin, end = args->end;
    DESCENT_NF_DECL(SFX, args);
    for (size_t i = begin; i < end; i++) {
        DESCENT_NF_TEST(SFX, LD_G(i));
        T d = sign * LD_G(i);
        if (decay)
            d = d + wd * LD_P(i);
        T s = sum[i] + d * d;
        sum[i] = s;
        ST_P(i, LD_P(i) + nclr * d / (SQRT(s + epsr) + eps));
    }
    DESCENT_NF_END(SFX, args);
}

DESCENT_INLINE void KERNEL_FN(adagrad_body)(const descent_kernel_args *args)
{
    const adagrad_coeffs *c = args->coeffs;
    if (c->weight_decay != 0) {
        KERNEL_FN(adagrad_loop)(args, 1);
    } else {
        KERNEL_FN(adagrad_loop)(args, 0);
    }
}

DESCENT_DISPATCH(KERNEL_FN(adagrad_kernel), KERNEL_FN(adagrad_body))
