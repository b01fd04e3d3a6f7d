/* The sgd kernel, read by sgd.c through kernel_types.h once per element
 * type: T is float or double, KERNEL_FN(x) names x's copy for that type
 * (x_f32, x_f64, x_bf16), SQRT, FABS, POW are T's math functions, and p
 * and g are read and p written through LD_P, LD_G and ST_P. The update it
 * computes, and its source, are stated at the top of sgd.c. */
DESCENT_INLINE void KERNEL_FN(sgd_plain)(const descent_kernel_args *args, const int decay)
{
    const sgd_coeffs *c = args->coeffs;
    KERNEL_PG(args);
    const T sign = (T)c->sign, wd = (T)c->weight_decay, cc = (T)c->c;
    const size_t begin = args->begin, end = args->end;
    DESCENT_NF_DECL(SFX, args);
    for (size_t i = begin; i < end; i++) {
        DESCENT_NF_TEST(SFX, LD_G(i));
        T d = sign * LD_G(i);
        if (decay)
            d = d + wd * LD_P(i);
        ST_P(i, LD_P(i) + cc * d);
    }
    DESCENT_NF_END(SFX, args);
}

DESCENT_INLINE void KERNEL_FN(sgd_momentum)(const descent_kernel_args *args, const int decay,
                                       const int nesterov)
{
    const sgd_coeffs *c = args->coeffs;
    KERNEL_PG(args);
    T *restrict v = args->state[0];
    const T sign = (T)c->sign, wd = (T)c->weight_decay, mom = (T)c->momentum;
    const T a = (T)c->a, b = (T)c->b, cc = (T)c->c;
    const size_t begin = args->begin, end = args->end;
    DESCENT_NF_DECL(SFX, args);
    for (size_t i = begin; i < end; i++) {
        T gi = LD_G(i);
        DESCENT_NF_TEST(SFX, gi);
        T d = sign * gi;
        if (decay)
            d = d + wd * LD_P(i);
        T vi = v[i] * a + b * d;
        v[i] = vi;
        T u = nesterov ? d + mom * vi : vi;
        ST_P(i, LD_P(i) + cc * u);
    }
    DESCENT_NF_END(SFX, args);
}

DESCENT_INLINE void KERNEL_FN(sgd_body)(const descent_kernel_args *args)
{
    const sgd_coeffs *c = args->coeffs;
    int decay = c->weight_decay != 0;
    if (!c->use_momentum) {
        if (decay)
            KERNEL_FN(sgd_plain)(args, 1);
        else
            KERNEL_FN(sgd_plain)(args, 0);
    } else if (c->nesterov) {
        if (decay)
            KERNEL_FN(sgd_momentum)(args, 1, 1);
        else
            KERNEL_FN(sgd_momentum)(args, 0, 1);
    } else {
        if (decay)
            KERNEL_FN(sgd_momentum)(args, 1, 0);
        else
            KERNEL_FN(sgd_momentum)(args, 0, 0);
    }
}

DESCENT_DISPATCH(KERNEL_FN(sgd_kernel), KERNEL_FN(sgd_body))
