/* The radam kernel, read by radam.c through kernel_types.h once per element
 * type: T is float or double, KERNEL_FN(x) names x's copy for that type
 * (x_f32, x_f64, x_bf16), SQRT, FABS, POW are T's math functions, and p
 * and g are read and p written through LD_P, LD_G and ST_P. The update it
 * computes, and its source, are stated at the top of radam.c. */
DESCENT_INLINE void KERNEL_FN(radam_loop)(const descent_kernel_args *args,
    const int decay, const int decoupled, const int rectify)
{
    const radam_coeffs *c = args->coeffs;
    KERNEL_PG(args);
    T *restrict m = args->state[0];
    T *restrict v = args->state[1];
    const T sign = (T)c->sign, wd = (T)c->weight_decay, decay_factor = (T)c->decay_factor;
    const T b1 = (T)c->beta1, omb1 = (T)c->one_minus_beta1;
    const T b2 = (T)c->beta2, omb2 = (T)c->one_minus_beta2;
    const T bc1 = (T)c->bias_correction1, lr = (T)c->lr, eps = (T)c->eps;
    const T epsr = (T)c->eps_root_scaled, bc2s = (T)c->bias_correction2_sqrt;
    const T rect = (T)c->rect;
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
        T step = mi / bc1 * lr;
        if (rectify) {
            T adaptive_lr = (T)1 / (SQRT(vi + epsr) + eps) * bc2s;
            step = step * adaptive_lr * rect;
        }
        ST_P(i, (decoupled ? LD_P(i) * decay_factor : LD_P(i)) - step);
    }
    DESCENT_NF_END(SFX, args);
}

DESCENT_INLINE void KERNEL_FN(radam_body)(const descent_kernel_args *args)
{
    const radam_coeffs *c = args->coeffs;
    const int decoupled = c->decay_factor != 1;
    if (c->weight_decay != 0) {
        if (c->rectify)
            KERNEL_FN(radam_loop)(args, 1, 0, 1);
        else
            KERNEL_FN(radam_loop)(args, 1, 0, 0);
    } else if (decoupled) {
        if (c->rectify)
            KERNEL_FN(radam_loop)(args, 0, 1, 1);
        else
            KERNEL_FN(radam_loop)(args, 0, 1, 0);
    } else {
        if (c->rectify)
            KERNEL_FN(radam_loop)(args, 0, 0, 1);
        else
            KERNEL_FN(radam_loop)(args, 0, 0, 0);
    }
}

DESCENT_DISPATCH(KERNEL_FN(radam_kernel), KERNEL_FN(radam_body))
