/* The loops of the passes around the step (passes.c), read twice by
 * passes.c through optim/kernel_types.h: T is float or double and
 * KERNEL_FN(x) names x's copy for that type (x_f32, x_f64). Each loop body
 * is compiled per instruction set by DESCENT_DISPATCH; the order of the sums
 * is stated at the top of passes.c.
 *
 * Arguments in the kernels' block: grad the input (n = end elements from
 * it; begin is 0), param the output, coeffs the constant(s), state[0] the
 * 32 double lanes or the int report, state[1] the running maximum of
 * magnitude bits. */
#define NF_T DESCENT_PASTE(descent_nf, SFX)
#define NF_BITS DESCENT_PASTE(descent_nf_bits, SFX)
#define NF_INF DESCENT_PASTE(DESCENT_NF_INF, SFX)

/* The lanes of sum x^2 (absolute = 0) or sum |x| (absolute = 1), x = g in double:
 * element i into lane i mod 32. */
DESCENT_INLINE void KERNEL_FN(sum_body)(const descent_kernel_args *a, const int absolute)
{
    const T *g = (const T *)a->grad;
    size_t n = a->end, i = 0;
    double *acc = (double *)a->state[0], l[LANES];
    for (int j = 0; j < LANES; j++)
        l[j] = acc[j];
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            double x = (double)g[i + j];
            l[j] += absolute ? fabs(x) : x * x;
        }
    for (int j = 0; i < n; i++, j++) {
        double x = (double)g[i];
        l[j] += absolute ? fabs(x) : x * x;
    }
    for (int j = 0; j < LANES; j++)
        acc[j] = l[j];
}

DESCENT_INLINE void KERNEL_FN(sumsq_body)(const descent_kernel_args *a) { KERNEL_FN(sum_body)(a, 0); }
DESCENT_INLINE void KERNEL_FN(sumabs_body)(const descent_kernel_args *a) { KERNEL_FN(sum_body)(a, 1); }

/* The largest magnitude bits of g into *state[1]. */
DESCENT_INLINE void KERNEL_FN(maxbits_body)(const descent_kernel_args *a)
{
    const T *g = (const T *)a->grad;
    uint64_t *out = (uint64_t *)a->state[1];
    NF_T m = (NF_T)*out;
    for (size_t i = 0; i < a->end; i++) {
        NF_T x = NF_BITS(g[i]);
        m = x > m ? x : m;
    }
    *out = m;
}

/* out = g c (clamp = 0), or clamp(g, -c, c) (clamp = 1; comparisons false
 * for NaN: kept); *state[0] = 1 if a value written is not finite. */
DESCENT_INLINE void KERNEL_FN(rewrite_body)(const descent_kernel_args *a, const int clamp)
{
    const T *g = (const T *)a->grad;
    T *out = (T *)a->param;
    const T c = *(const T *)a->coeffs;
    NF_T m = 0;
    for (size_t i = 0; i < a->end; i++) {
        T x = g[i];
        T y = clamp ? (x < -c ? -c : x > c ? c : x) : x * c;
        out[i] = y;
        NF_T u = NF_BITS(y);
        m = u > m ? u : m;
    }
    *(int *)a->state[0] = m >= NF_INF;
}

DESCENT_INLINE void KERNEL_FN(scale_body)(const descent_kernel_args *a) { KERNEL_FN(rewrite_body)(a, 0); }
DESCENT_INLINE void KERNEL_FN(clamp_body)(const descent_kernel_args *a) { KERNEL_FN(rewrite_body)(a, 1); }

/* y = g c stored to out (param) when store is 1, its square added to the
 * lanes as sum_body adds it, and the magnitude-bits maximum of y for the
 * verdict (*state[1] |= 1 if a y is not finite): the unscale, the verdict
 * and the 2-norm in one loop. */
DESCENT_INLINE void KERNEL_FN(scale_sumsq_loop)(const descent_kernel_args *a, const int store)
{
    const T *g = (const T *)a->grad;
    T *out = (T *)a->param;
    const T c = *(const T *)a->coeffs;
    size_t n = a->end, i = 0;
    double *acc = (double *)a->state[0], l[LANES];
    NF_T m = 0;
    for (int j = 0; j < LANES; j++)
        l[j] = acc[j];
    for (; i + LANES <= n; i += LANES)
        for (int j = 0; j < LANES; j++) {
            T y = g[i + j] * c;
            if (store)
                out[i + j] = y;
            NF_T u = NF_BITS(y);
            m = u > m ? u : m;
            double x = (double)y;
            l[j] += x * x;
        }
    for (int j = 0; i < n; i++, j++) {
        T y = g[i] * c;
        if (store)
            out[i] = y;
        NF_T u = NF_BITS(y);
        m = u > m ? u : m;
        double x = (double)y;
        l[j] += x * x;
    }
    for (int j = 0; j < LANES; j++)
        acc[j] = l[j];
    *(int *)a->state[1] |= m >= NF_INF;
}

DESCENT_INLINE void KERNEL_FN(scale_sumsq_body)(const descent_kernel_args *a) { KERNEL_FN(scale_sumsq_loop)(a, 1); }
DESCENT_INLINE void KERNEL_FN(scaled_sumsq_body)(const descent_kernel_args *a) { KERNEL_FN(scale_sumsq_loop)(a, 0); }

/* EMA (ema = 1): avg = d avg + od p; SWA (ema = 0): avg = avg + (p - avg) / m
 * (torch.optim.swa_utils.AveragedModel's update, in the array's type). */
DESCENT_INLINE void KERNEL_FN(average_body)(const descent_kernel_args *a, const int ema)
{
    const T *p = (const T *)a->grad;
    T *avg = (T *)a->param;
    const T *k = (const T *)a->coeffs;
    const T d = k[0], od = k[1], m = k[2];
    (void)d, (void)od, (void)m;
    for (size_t i = 0; i < a->end; i++)
        avg[i] = ema ? d * avg[i] + od * p[i] : avg[i] + (p[i] - avg[i]) / m;
}

DESCENT_INLINE void KERNEL_FN(ema_body)(const descent_kernel_args *a) { KERNEL_FN(average_body)(a, 1); }
DESCENT_INLINE void KERNEL_FN(swa_body)(const descent_kernel_args *a) { KERNEL_FN(average_body)(a, 0); }

DESCENT_DISPATCH(KERNEL_FN(sumsq), KERNEL_FN(sumsq_body))
DESCENT_DISPATCH(KERNEL_FN(sumabs), KERNEL_FN(sumabs_body))
DESCENT_DISPATCH(KERNEL_FN(maxbits), KERNEL_FN(maxbits_body))
DESCENT_DISPATCH(KERNEL_FN(scale), KERNEL_FN(scale_body))
DESCENT_DISPATCH(KERNEL_FN(clamp), KERNEL_FN(clamp_body))
DESCENT_DISPATCH(KERNEL_FN(scale_sumsq), KERNEL_FN(scale_sumsq_body))
DESCENT_DISPATCH(KERNEL_FN(scaled_sumsq), KERNEL_FN(scaled_sumsq_body))
DESCENT_DISPATCH(KERNEL_FN(ema), KERNEL_FN(ema_body))
DESCENT_DISPATCH(KERNEL_FN(swa), KERNEL_FN(swa_body))

/* ---- the range entry points (passes.h) ------------------------------------ */

int KERNEL_FN(descent_scale_range)(int isa, T *out, const T *g, size_t n, T c, int clamp)
{
    descent_kernel_args a;
    int bad = 0;
    args_for(&a, isa, g, out, n, &c);
    a.state[0] = &bad;
    if (clamp)
        KERNEL_FN(clamp)(&a);
    else
        KERNEL_FN(scale)(&a);
    return bad;
}

int KERNEL_FN(descent_scale_sumsq_range)(int isa, descent_norm_lanes *l, T *out, const T *g, size_t n, T c)
{
    descent_kernel_args a;
    int bad = 0;
    args_for(&a, isa, g, out, n, &c);
    a.state[0] = l->sum;
    a.state[1] = &bad;
    if (out)
        KERNEL_FN(scale_sumsq)(&a);
    else
        KERNEL_FN(scaled_sumsq)(&a);
    return bad;
}

void KERNEL_FN(descent_average_range)(int isa, T *avg, const T *p, size_t n, T d, T od, T m, int ema)
{
    descent_kernel_args a;
    const T k[3] = {d, od, m};
    args_for(&a, isa, p, avg, n, k);
    if (ema)
        KERNEL_FN(ema)(&a);
    else
        KERNEL_FN(swa)(&a);
}

/* Add the range's |x|^p into the lanes (ranges of one chunk, in order; every
 * range but a chunk's last a multiple of 32 elements long). */
void KERNEL_FN(descent_norm_range)(int isa, descent_norm_lanes *l, const T *g, size_t n, double p)
{
    if (isinf(p)) {
        descent_kernel_args a;
        args_for(&a, isa, g, NULL, n, NULL);
        a.state[1] = &l->maxbits;
        KERNEL_FN(maxbits)(&a);
    } else if (p == 2.0 || p == 1.0) {
        descent_kernel_args a;
        args_for(&a, isa, g, NULL, n, NULL);
        a.state[0] = l->sum;
        if (p == 2.0)
            KERNEL_FN(sumsq)(&a);
        else
            KERNEL_FN(sumabs)(&a);
    } else {
        l->sum[0] = KERNEL_FN(pow_sum)(isa, l->sum[0], g, n, p);
    }
}

#undef NF_T
#undef NF_BITS
#undef NF_INF
