/* The nadam kernel, read by nadam.c through kernel_types.h once per element
 * type: T is float or double, KERNEL_FN(x) names x's copy for that type
 * (x_f32, x_f64, x_bf16), SQRT, FABS, POW are T's math functions, and p
 * and g are read and p written through LD_P, LD_G and ST_P. The update it
 * computes, and its source, are stated at the top of nadam.c. */
DESCENT_INLINE void KERNEL_FN(nadam_loop)(const descent_kernel_args *args,
    const int decay, const int decoupled)
{
    const nadam_coeffs *c = args->coeffs;
    KERNEL_PG(args);
    T *restrict m = args->state[0];
    T *restrict v = args->state[1];
    const T sign = (T)c->sign, wd = (T)c->weight_decay, decay_factor = (T)c->decay_factor;
    const T b1 = (T)c->beta1, omb1 = (T)c->one_minus_beta1;
    const T b2 = (T)c->beta2, omb2 = (T)c->one_minus_beta2;
    const T bc2 = (T)c->bias_correction2, eps = (T)c->eps, epsr = (T)c->eps_root;
    const T cg = (T)c->grad_coeff, cm = (T)c->exp_avg_coeff;
    const size_t begin = args->begin, end = args->end;
    DESCENT_NF_DECL(SFX, args);
    for (size_t i = begin; i < end; i++) {
        DESCENT_NF_TEST(SFX, LD_G(i));
        T d = sign * LD_G(i);
        if (decay)
            d = d + wd * LD_P(i);
        T mi = m[i] * b1 + omb1 * d;
        T vi = v[i] * b2 + omb2 * d * d;
        m[i] = mi;
        v[i] = vi;
        T denom = SQRT(vi / bc2 + epsr) + eps;
        T pi = decoupled ? LD_P(i) * decay_factor : LD_P(i);
        pi = pi + cg * d / denom;
        ST_P(i, pi + cm * mi / denom);
    }
    DESCENT_NF_END(SFX, args);
}

DESCENT_INLINE void KERNEL_FN(nadam_body)(const descent_kernel_args *args)
{
    const nadam_coeffs *c = args->coeffs;
    if (c->weight_decay != 0) {
        KERNEL_FN(nadam_loop)(args, 1, 0);
    } else if (c->decay_factor != 1) {
        KERNEL_FN(nadam_loop)(args, 0, 1);
    } else {
        KERNEL_FN(nadam_loop)(args, 0, 0);
    }
}

DESCENT_DISPATCH(KERNEL_FN(nadam_kernel), KERNEL_FN(nadam_body))
