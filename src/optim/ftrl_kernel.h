/* The ftrl kernel, read by ftrl.c through kernel_types.h once per element
 * type: T is float or double, KERNEL_FN(x) names x's copy for that type
 * (x_f32, x_f64, x_bf16), SQRT, FABS, POW are T's math functions, and p
 * and g are read and p written through LD_P, LD_G and ST_P. The update it
 * computes, and its source, are stated at the top of ftrl.c. */
DESCENT_INLINE void KERNEL_FN(ftrl_loop)(const descent_kernel_args *args, const int half)
{
    const ftrl_coeffs *c = args->coeffs;
    KERNEL_PG(args);
    T *restrict n = args->state[0];
    T *restrict z = args->state[1];
    const T lr = (T)c->lr, k = (T)c->power, two_shrinkage = (T)c->two_shrinkage;
    const T two_l2 = (T)c->two_l2, l1 = (T)c->l1;
    const size_t end = args->end;
    DESCENT_NF_DECL(SFX, args);
    for (size_t i = args->begin; i < end; i++) {
        DESCENT_NF_TEST(SFX, LD_G(i));
        T pi = LD_P(i), gi = LD_G(i);
        T shrunk = gi + two_shrinkage * pi;
        T ni = n[i] + gi * gi;
        T nk = half ? SQRT(ni) : POW(ni, k);
        T ok = half ? SQRT(n[i]) : POW(n[i], k);
        T zi = z[i] + (shrunk - ((nk - ok) / lr) * pi);
        T q = nk / lr + two_l2;
        T clipped = zi < -l1 ? -l1 : zi > l1 ? l1 : zi;
        ST_P(i, (clipped - zi) / q);
        n[i] = ni;
        z[i] = zi;
    }
    DESCENT_NF_END(SFX, args);
}

DESCENT_INLINE void KERNEL_FN(ftrl_body)(const descent_kernel_args *args)
{
    if (((const ftrl_coeffs *)args->coeffs)->power == 0.5)
        KERNEL_FN(ftrl_loop)(args, 1);
    else
        KERNEL_FN(ftrl_loop)(args, 0);
}

DESCENT_DISPATCH(KERNEL_FN(ftrl_kernel), KERNEL_FN(ftrl_body))
