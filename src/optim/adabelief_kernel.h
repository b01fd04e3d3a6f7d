/* The adabelief kernel, read by adabelief.c through kernel_types.h once per element
 * type: T is float or double, KERNEL_FN(x) names x's copy for that type
 * (x_f32, x_f64, x_bf16), SQRT, FABS, POW are T's math functions, and p
 * and g are read and p written through LD_P, LD_G and ST_P. The update it
 * computes, and its source, are stated at the top of adabelief.c. */
DESCENT_INLINE void KERNEL_FN(adabelief_loop)(const descent_kernel_args *args, const int mode,
                                         const int has_fma)
{
    const adabelief_coeffs *c = args->coeffs;
    KERNEL_PG(args);
    T *restrict m = args->state[0];
    T *restrict s = args->state[1];
    const T sign = (T)c->sign, decay = (T)c->decay;
    const T b1 = (T)c->beta1, omb1 = (T)c->one_minus_beta1;
    const T b2 = (T)c->beta2, omb2 = (T)c->one_minus_beta2;
    const T eps = (T)c->eps, bc2s = (T)c->bias_correction2_sqrt, rbc2s = c->TYPE_FN(inv_bc2s);
    const T nss = (T)c->neg_step_size;
    const size_t end = args->end;
    DESCENT_NF_DECL(SFX, args);
    for (size_t i = args->begin; i < end; i++) {
        DESCENT_NF_TEST(SFX, LD_G(i));
        T d = sign * LD_G(i);
        T pi = LD_P(i) * decay;
        T mi = m[i] * b1 + omb1 * d;
        T r = d - mi;
        T si = s[i] * b2 + omb2 * r * r;
        si = si + eps;
        m[i] = mi;
        s[i] = si;
        /* si >= 0, so sqrt(si) is 0 or >= 2^-75: descent_div_const is exact */
        if (mode == PLAIN)
            ST_P(i, pi + nss * (mi / (TYPE_FN(descent_div_const)(SQRT(si), bc2s, rbc2s, has_fma) + eps)));
        else if (mode == RECTIFIED)
            ST_P(i, pi + nss * (mi / (SQRT(si) + eps)));
        else if (mode == RECTIFIED_SGD)
            ST_P(i, pi + nss * mi);
        else
            ST_P(i, pi);
    }
    DESCENT_NF_END(SFX, args);
}

DESCENT_INLINE void KERNEL_FN(adabelief_body)(const descent_kernel_args *args, const int has_fma)
{
    const int mode = ((const adabelief_coeffs *)args->coeffs)->mode;
    if (mode == PLAIN)
        KERNEL_FN(adabelief_loop)(args, PLAIN, has_fma);
    else if (mode == RECTIFIED)
        KERNEL_FN(adabelief_loop)(args, RECTIFIED, has_fma);
    else if (mode == RECTIFIED_SGD)
        KERNEL_FN(adabelief_loop)(args, RECTIFIED_SGD, has_fma);
    else
        KERNEL_FN(adabelief_loop)(args, RECTIFIED_NONE, has_fma);
}

DESCENT_DISPATCH_FMA(KERNEL_FN(adabelief_kernel), KERNEL_FN(adabelief_body))
