/* The adam kernel, read by adam.c through kernel_types.h once per element
 * type: T is float or double, KERNEL_FN(x) names x's copy for that type
 * (x_f32, x_f64, x_bf16), SQRT, FABS, POW are T's math functions, and p
 * and g are read and p written through LD_P, LD_G and ST_P. The update it
 * computes, and its source, are stated at the top of adam.c. */
DESCENT_INLINE void KERNEL_FN(adam_loop)(const descent_kernel_args *args, const int wd_mode,
                                    const int amsgrad, const int has_fma)
{
    const adam_coeffs *c = args->coeffs;
    KERNEL_PG(args);
    T *restrict m = args->state[0];
    T *restrict v = args->state[1];
    T *restrict vmax = args->state[2];
    const T sign = (T)c->sign, wd = (T)c->weight_decay, decay = (T)c->decay_factor;
    const T b1 = (T)c->beta1, omb1 = (T)c->one_minus_beta1;
    const T b2 = (T)c->beta2, omb2 = (T)c->one_minus_beta2;
    const T nss = (T)c->neg_step_size, bc2s = (T)c->bias_correction2_sqrt;
    const T eps = (T)c->eps, epsr = (T)c->eps_root_scaled, inv_bc2s = c->TYPE_FN(inv_bc2s);
    const size_t begin = args->begin, end = args->end;
    DESCENT_NF_DECL(SFX, args);
    for (size_t i = begin; i < end; i++) {
        DESCENT_NF_TEST(SFX, LD_G(i));
        T pi = LD_P(i);
        T d = sign * LD_G(i);
        if (wd_mode == WD_DECOUPLED)
            pi = pi * decay;
        else if (wd_mode == WD_L2)
            d = d + wd * pi;
        T mi = m[i] * b1 + omb1 * d;
        T vi = v[i] * b2 + omb2 * d * d;
        m[i] = mi;
        v[i] = vi;
        if (amsgrad) {
            T mx = vmax[i] > vi ? vmax[i] : vi;
            vmax[i] = mx;
            vi = mx;
        }
        /* sqrt(v) is 0 or >= 2^-75 (2^-538 in f64): descent_div_const gives the bits of /. */
        T denom = TYPE_FN(descent_div_const)(SQRT(vi + epsr), bc2s, inv_bc2s, has_fma) + eps;
        ST_P(i, pi + nss * mi / denom);
    }
    DESCENT_NF_END(SFX, args);
}

DESCENT_INLINE void KERNEL_FN(adam_body)(const descent_kernel_args *args, const int has_fma)
{
    const adam_coeffs *c = args->coeffs;
    int mode = c->decoupled ? WD_DECOUPLED : c->weight_decay != 0 ? WD_L2 : WD_NONE;
    if (c->amsgrad) {
        if (mode == WD_DECOUPLED)
            KERNEL_FN(adam_loop)(args, WD_DECOUPLED, 1, has_fma);
        else if (mode == WD_L2)
            KERNEL_FN(adam_loop)(args, WD_L2, 1, has_fma);
        else
            KERNEL_FN(adam_loop)(args, WD_NONE, 1, has_fma);
    } else {
        if (mode == WD_DECOUPLED)
            KERNEL_FN(adam_loop)(args, WD_DECOUPLED, 0, has_fma);
        else if (mode == WD_L2)
            KERNEL_FN(adam_loop)(args, WD_L2, 0, has_fma);
        else
            KERNEL_FN(adam_loop)(args, WD_NONE, 0, has_fma);
    }
}

DESCENT_DISPATCH_FMA(KERNEL_FN(adam_kernel), KERNEL_FN(adam_body))
