/* The adadelta kernel, read by adadelta.c through kernel_types.h once per element
 * type: T is float or double, KERNEL_FN(x) names x's copy for that type
 * (x_f32, x_f64, x_bf16), SQRT, FABS, POW are T's math functions, and p
 * and g are read and p written through LD_P, LD_G and ST_P. The update it
 * computes, and its source, are stated at the top of adadelta.c. */
DESCENT_INLINE void KERNEL_FN(adadelta_loop)(const descent_kernel_args *args,
    const int decay)
{
    const adadelta_coeffs *c = args->coeffs;
    KERNEL_PG(args);
    T *restrict sq = args->state[0];
    T *restrict acc = args->state[1];
    const T sign = (T)c->sign, wd = (T)c->weight_decay, rho = (T)c->rho;
    const T omr = (T)c->one_minus_rho, eps = (T)c->eps, nlr = (T)c->neg_lr;
    const size_t begin = args->begin, end = args->end;
    DESCENT_NF_DECL(SFX, args);
    for (size_t i = begin; i < end; i++) {
        DESCENT_NF_TEST(SFX, LD_G(i));
        T d = sign * LD_G(i);
        if (decay)
            d = d + wd * LD_P(i);
        T v = sq[i] * rho + omr * d * d;
        sq[i] = v;
        T delta = SQRT(acc[i] + eps) / SQRT(v + eps) * d;
        acc[i] = acc[i] * rho + omr * delta * delta;
        ST_P(i, LD_P(i) + nlr * delta);
    }
    DESCENT_NF_END(SFX, args);
}

DESCENT_INLINE void KERNEL_FN(adadelta_body)(const descent_kernel_args *args)
{
    const adadelta_coeffs *c = args->coeffs;
    if (c->weight_decay != 0) {
        KERNEL_FN(adadelta_loop)(args, 1);
    } else {
        KERNEL_FN(adadelta_loop)(args, 0);
    }
}

DESCENT_DISPATCH(KERNEL_FN(adadelta_kernel), KERNEL_FN(adadelta_body))
