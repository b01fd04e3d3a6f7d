/* The rprop kernel, read by rprop.c through kernel_types.h once per element
 * type: T is float or double, KERNEL_FN(x) names x's copy for that type
 * (x_f32, x_f64, x_bf16), SQRT, FABS, POW are T's math functions, and p
 * and g are read and p written through LD_P, LD_G and ST_P. The update it
 * computes, and its source, are stated at the top of rprop.c. */
DESCENT_INLINE void KERNEL_FN(rprop_body)(const descent_kernel_args *args)
{
    const rprop_coeffs *c = args->coeffs;
    KERNEL_PG(args);
    T *restrict prev = args->state[0];
    T *restrict step_size = args->state[1];
    const T sign = (T)c->sign, etaminus = (T)c->etaminus, etaplus = (T)c->etaplus;
    const T lo = (T)c->step_size_min, hi = (T)c->step_size_max;
    const T initial = (T)c->initial_step_size;
    const int first = c->first;
    const size_t end = args->end;
    DESCENT_NF_DECL(SFX, args);
    for (size_t i = args->begin; i < end; i++) {
        DESCENT_NF_TEST(SFX, LD_G(i));
        T d = sign * LD_G(i);
        T prod = d * prev[i];
        T s = step_size[i];
        s = first ? initial : s;
        /* Selects rather than branches, so the loop vectorizes. */
        T up = s * etaplus, down = s * etaminus;
        s = prod > 0 ? up : s;
        s = prod < 0 ? down : s;
        d = prod < 0 ? (T)0 : d;
        s = s < lo ? lo : s;
        s = s > hi ? hi : s;
        step_size[i] = s;
        T pi = LD_P(i), minus = pi - s, plus = pi + s;
        pi = d > 0 ? minus : pi;
        ST_P(i, d < 0 ? plus : pi);
        prev[i] = d;
    }
    DESCENT_NF_END(SFX, args);
}

DESCENT_DISPATCH(KERNEL_FN(rprop_kernel), KERNEL_FN(rprop_body))
