/* The rmsprop kernel, read by rmsprop.c through kernel_types.h once per element
 * type: T is float or double, KERNEL_FN(x) names x's copy for that type
 * (x_f32, x_f64, x_bf16), SQRT, FABS, POW are T's math functions, and p
 * and g are read and p written through LD_P, LD_G and ST_P. The update it
 * computes, and its source, are stated at the top of rmsprop.c. */
DESCENT_INLINE void KERNEL_FN(rmsprop_loop)(const descent_kernel_args *args,
    const int decay, const int centered, const int use_momentum)
{
    const rmsprop_coeffs *c = args->coeffs;
    KERNEL_PG(args);
    T *restrict sq = args->state[0];
    T *restrict buf = args->state[1];
    T *restrict ga = args->state[2];
    const T sign = (T)c->sign, wd = (T)c->weight_decay, alpha = (T)c->alpha;
    const T oma = (T)c->one_minus_alpha, eps = (T)c->eps, epsr = (T)c->eps_root;
    const T mom = (T)c->momentum, nlr = (T)c->neg_lr;
    const size_t begin = args->begin, end = args->end;
    DESCENT_NF_DECL(SFX, args);
    for (size_t i = begin; i < end; i++) {
        DESCENT_NF_TEST(SFX, LD_G(i));
        T d = sign * LD_G(i);
        if (decay)
            d = d + wd * LD_P(i);
        T v = sq[i] * alpha + oma * d * d;
        sq[i] = v;
        if (centered) {
            T a = ga[i] * alpha + oma * d;
            ga[i] = a;
            /* v >= a^2 in exact arithmetic (Jensen); rounding can put
             * it below, and sqrt of that is NaN. NaN v stays NaN. */
            v = v + (T)(-1) * a * a;
            v = v < 0 ? (T)0 : v;
        }
        T denom = SQRT(v + epsr) + eps;
        if (use_momentum) {
            T b = buf[i] * mom + d / denom;
            buf[i] = b;
            ST_P(i, LD_P(i) + nlr * b);
        } else {
            ST_P(i, LD_P(i) + nlr * d / denom);
        }
    }
    DESCENT_NF_END(SFX, args);
}

DESCENT_INLINE void KERNEL_FN(rmsprop_body)(const descent_kernel_args *args)
{
    const rmsprop_coeffs *c = args->coeffs;
    if (c->weight_decay != 0) {
        if (c->centered) {
            if (c->use_momentum) {
                KERNEL_FN(rmsprop_loop)(args, 1, 1, 1);
            } else {
                KERNEL_FN(rmsprop_loop)(args, 1, 1, 0);
            }
        } else {
            if (c->use_momentum) {
                KERNEL_FN(rmsprop_loop)(args, 1, 0, 1);
            } else {
                KERNEL_FN(rmsprop_loop)(args, 1, 0, 0);
            }
        }
    } else {
        if (c->centered) {
            if (c->use_momentum) {
                KERNEL_FN(rmsprop_loop)(args, 0, 1, 1);
            } else {
                KERNEL_FN(rmsprop_loop)(args, 0, 1, 0);
            }
        } else {
            if (c->use_momentum) {
                KERNEL_FN(rmsprop_loop)(args, 0, 0, 1);
            } else {
                KERNEL_FN(rmsprop_loop)(args, 0, 0, 0);
            }
        }
    }
}

DESCENT_DISPATCH(KERNEL_FN(rmsprop_kernel), KERNEL_FN(rmsprop_body))
