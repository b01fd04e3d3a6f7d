/* Compiles an element-wise kernel for each storage type. An optimizer file
 * writes its kernel once, in plain C over the type T, in its own header
 * (src/optim/NAME_kernel.h), and includes this file with that header's name:
 *
 *     #define DESCENT_KERNEL_FILE "sgd_kernel.h"
 *     #include "kernel_types.h"
 *
 * which reads the kernel header three times: with T = float, names ending in
 * _f32 (KERNEL_FN(sgd_body) is sgd_body_f32) and the float math functions,
 * with T = double, _f64 and the double ones, and for bf16 parameters
 * (below). TYPE_FN(x) names x's copy for the arithmetic type T (x_f32 or
 * x_f64). The kernel's lines are real lines of its header, so a debugger
 * steps through them one by one (the macro bodies they replace were one
 * line each). Not installed. */
#ifndef DESCENT_KERNEL_FILE
#error "define DESCENT_KERNEL_FILE before including kernel_types.h"
#endif

#include "../bf16_kernel.h"

#define DESCENT_PASTE_(a, b) a##_##b
#define DESCENT_PASTE(a, b) DESCENT_PASTE_(a, b)
#define KERNEL_FN(base) DESCENT_PASTE(base, KSFX)
#define TYPE_FN(base) DESCENT_PASTE(base, SFX)

/* The kernel reads the parameter and the gradient and writes the parameter
 * only through these: KERNEL_PG(args) declares the arrays, LD_P(i) and
 * LD_G(i) read element i as T, ST_P(i, x) stores x. For f32 and f64 they
 * are the arrays themselves. */
#define KERNEL_PG(args)                                                      \
    T *restrict p = (args)->param;                                           \
    const T *restrict g = (args)->grad
#define LD_P(i) p[i]
#define LD_G(i) g[i]
#define ST_P(i, x) (p[i] = (x))

#define T float
#define SFX f32
#define KSFX f32
#define SQRT sqrtf
#define FABS fabsf
#define POW powf
#include DESCENT_KERNEL_FILE
#undef T
#undef SFX
#undef KSFX
#undef SQRT
#undef FABS
#undef POW

#define T double
#define SFX f64
#define KSFX f64
#define SQRT sqrt
#define FABS fabs
#define POW pow
#include DESCENT_KERNEL_FILE
#undef T
#undef SFX
#undef KSFX
#undef SQRT
#undef FABS
#undef POW

#undef KERNEL_PG
#undef LD_P
#undef LD_G
#undef ST_P

/* The bf16 copy (names ending in _bf16): the f32 arithmetic of the _f32
 * copy on bf16 parameters and gradients, widened as they are loaded and
 * the parameter narrowed as it is stored, in registers (src/bf16_kernel.h
 * states the conversions). The mode (master copy, stochastic rounding) is a
 * constant in each of the four copies of the body. An optimizer whose
 * kernel header reads and writes p and g only through the macros above
 * defines DESCENT_KERNEL_BF16 before including this file; the others run
 * on bf16 tensors through f32 scratch blocks (src/bf16.c). */
#ifdef DESCENT_KERNEL_BF16
#define KERNEL_PG(args)                                                      \
    uint16_t *restrict p = (args)->param;                                    \
    const uint16_t *restrict g = (args)->grad;                               \
    float *restrict pm_ = (args)->master;                                    \
    const int bf16_mode_ = (args)->bf16_mode;                                \
    const uint32_t bf16_key_ = (args)->bf16_key
#define LD_P(i) ((bf16_mode_ & DESCENT_BF16K_MASTER) ? pm_[i] : descent_bf16_load(p[i]))
#define LD_G(i) descent_bf16_load(g[i])
#define ST_P(i, x) descent_bf16_store(p, pm_, i, x, bf16_mode_, bf16_key_)
#undef DESCENT_KERNEL_VARIANTS
#define DESCENT_KERNEL_VARIANTS(CALL, a) DESCENT_BF16_VARIANTS(CALL, a)
#if DESCENT_HAVE_DISPATCH
#undef DESCENT_TARGET_AVX512
#define DESCENT_TARGET_AVX512 DESCENT_TARGET_AVX512BW
#endif

#define T float
#define SFX f32
#define KSFX bf16
#define SQRT sqrtf
#define FABS fabsf
#define POW powf
#include DESCENT_KERNEL_FILE
#undef T
#undef SFX
#undef KSFX
#undef SQRT
#undef FABS
#undef POW

#undef DESCENT_KERNEL_VARIANTS
#define DESCENT_KERNEL_VARIANTS(CALL, a) CALL
#if DESCENT_HAVE_DISPATCH
#undef DESCENT_TARGET_AVX512
#define DESCENT_TARGET_AVX512 DESCENT_TARGET_AVX512F
#endif
#undef KERNEL_PG
#undef LD_P
#undef LD_G
#undef ST_P
#endif

#undef DESCENT_KERNEL_BF16
#undef KERNEL_FN
#undef TYPE_FN
#undef DESCENT_PASTE
#undef DESCENT_PASTE_
#undef DESCENT_KERNEL_FILE
