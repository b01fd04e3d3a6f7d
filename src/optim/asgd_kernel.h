/* The asgd kernel, read by asgd.c through kernel_types.h once per element
 * type: T is float or double, KERNEL_FN(x) names x's copy for that type
 * (x_f32, x_f64, x_bf16), SQRT, FABS, POW are T's math functions, and p
 * and g are read and p written through LD_P, LD_G and ST_P. The update it
 * computes, and its source, are stated at the top of asgd.c. */
DESCENT_INLINE void KERNEL_FN(asgd_body)(const descent_kernel_args *args)
{
    const asgd_coeffs *c = args->coeffs;
    KERNEL_PG(args);
    T *restrict ax = args->state[0];
    const T sign = (T)c->sign, wd = (T)c->weight_decay, decay = (T)c->decay;
    const T neg_eta = (T)c->neg_eta, mu = (T)c->mu;
    const int average = c->mu != 1.0;
    /* Read once: in f64, c->weight_decay could alias p[] for all the
     * compiler knows, so a read inside the loop kept it scalar. */
    const int decay_on = c->weight_decay != 0;
    const size_t end = args->end;
    DESCENT_NF_DECL(SFX, args);
    for (size_t i = args->begin; i < end; i++) {
        DESCENT_NF_TEST(SFX, LD_G(i));
        T d = sign * LD_G(i);
        if (decay_on)
            d = d + wd * LD_P(i);
        T pi = LD_P(i) * decay;
        pi = pi + neg_eta * d;
        ST_P(i, pi);
        ax[i] = average ? ax[i] + (pi - ax[i]) * mu : pi;
    }
    DESCENT_NF_END(SFX, args);
}

DESCENT_DISPATCH(KERNEL_FN(asgd_kernel), KERNEL_FN(asgd_body))
