/* Element-wise kernels: their arguments, the SIMD dispatch that compiles each
 * one per instruction set, the in-loop non-finite test, prefetch, and
 * division by a loop constant. An algorithm file includes algo.h, which
 * includes this. Not installed. */
#ifndef DESCENT_KERNELS_H
#define DESCENT_KERNELS_H

#include "common.h"

#include <float.h>
#include <math.h>

#define DESCENT_MAX_STATE 4


/* Everything a kernel call sees for one range [begin, end) of a tensor. */
typedef struct descent_kernel_args {
    const void *coeffs;     /* the algorithm's per-step scalars, from prepare() */
    size_t begin, end;
    void *param;
    const void *grad;
    void *state[DESCENT_MAX_STATE];
    int isa;                /* a descent_isa: the widest instruction set to use */
    /* Where the kernel sets 1 when a gradient value of its range is a NaN
     * or an infinity (DESCENT_NONFINITE_REPORT); NULL: nobody asks, and the
     * copy of the kernel without the test runs (DESCENT_NF_SPLIT). */
    int *nonfinite;
    /* bf16 kernels (kernel_bf16; src/optim/kernel_types.h): param and grad
     * hold bf16 bits; with DESCENT_BF16K_MASTER the update reads and writes
     * the f32 master copy and param receives its rounding; with
     * DESCENT_BF16K_SR the rounding is stochastic, its bits a hash of
     * bf16_key and the element index (src/bf16.c). */
    float *master;
    uint32_t bf16_key;
    int bf16_mode;
} descent_kernel_args;

#define DESCENT_BF16K_MASTER 1
#define DESCENT_BF16K_SR 2

typedef void (*descent_kernel_fn)(const descent_kernel_args *a);

/* ---- SIMD dispatch ------------------------------------------------------
 * Each kernel is compiled three times from one always-inline body: for
 * AVX-512, for AVX2 and for the baseline target, and the kernel the
 * algorithm table names picks one at run time from args->isa. The
 * arithmetic is the same IEEE operations in every version (no FMA:
 * -ffp-contract=off; no reassociation: no -ffast-math), so every path gives
 * the same bits. */
typedef enum descent_isa {
    DESCENT_ISA_PORTABLE = 0,
    DESCENT_ISA_AVX2 = 1,
    DESCENT_ISA_AVX512 = 2
} descent_isa;

/* A flag or-ed into the isa of descent_q8_quantize / descent_q8_dequantize:
 * at DESCENT_ISA_AVX512, the AVX-512F paths even where the CPU has VBMI
 * (tests compare both with the portable path). */
#define DESCENT_Q8_NO_VBMI 0x100
/* Whether descent_q8_quantize / descent_q8_dequantize take the AVX-512 VBMI
 * paths at DESCENT_ISA_AVX512 on this CPU (and build). */
int descent_q8_has_vbmi(void);

/* The widest instruction set this CPU runs (and this build compiled). */
int descent_isa_detect(void);
/* Cap the instruction set an optimizer's kernels use (tests compare paths).
 * Returns the level in effect: min(isa, descent_isa_detect()). */
int descent_set_isa(descent_optimizer *opt, int isa);

#if defined(__GNUC__)
#define DESCENT_INLINE static inline __attribute__((always_inline))
#else
#define DESCENT_INLINE static inline
#endif

/* ---- Non-finite test inside a kernel's loop ------------------------------
 * x is non-finite iff its exponent bits are all ones, i.e. iff its
 * magnitude bits (bits & ~sign) are >= those of infinity. A kernel keeps the
 * running maximum of the magnitude bits of every gradient value it reads:
 * two integer vector operations per vector, on ports the floating-point
 * work leaves idle, and no memory access beyond the kernel's own read of g. */
typedef uint32_t descent_nf_f32;
typedef uint64_t descent_nf_f64;
typedef uint16_t descent_nf_bf16; /* bf16 values are held as their bits */
#define DESCENT_NF_INF_f32 UINT32_C(0x7F800000)
#define DESCENT_NF_INF_f64 UINT64_C(0x7FF0000000000000)
#define DESCENT_NF_INF_bf16 0x7F80u
DESCENT_INLINE descent_nf_f32 descent_nf_bits_f32(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u & UINT32_C(0x7FFFFFFF);
}
DESCENT_INLINE descent_nf_f64 descent_nf_bits_f64(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u & UINT64_C(0x7FFFFFFFFFFFFFFF);
}
DESCENT_INLINE descent_nf_bf16 descent_nf_bits_bf16(uint16_t x) { return (uint16_t)(x & 0x7FFFu); }
/* Each kernel copy is compiled twice from its body: with the test, for a
 * call that asks (args->nonfinite set, DESCENT_NONFINITE_REPORT), and
 * without it for every other call. The body sees a local copy of the
 * arguments whose nonfinite field the branch has decided, so nf_on_ below
 * is a constant in each copy and the compiler drops the test from the
 * second one entirely: PROPAGATE, SKIP and ERROR run the loop as if the
 * test did not exist, and `descent bench --nonfinite report` measures what
 * it costs. */
#define DESCENT_NF_SPLIT(BODY, args) DESCENT_NF_SPLIT_CALL(BODY(&nf_a_), args)
#define DESCENT_NF_SPLIT_FMA(BODY, args, has_fma) DESCENT_NF_SPLIT_CALL(BODY(&nf_a_, has_fma), args)
#define DESCENT_NF_SPLIT_CALL(CALL, args)                          \
    do {                                                           \
        descent_kernel_args nf_a_ = *(args);                       \
        if (nf_a_.nonfinite) {                                     \
            DESCENT_KERNEL_VARIANTS(CALL, nf_a_);                  \
        } else {                                                   \
            nf_a_.nonfinite = NULL;                                \
            DESCENT_KERNEL_VARIANTS(CALL, nf_a_);                  \
        }                                                          \
    } while (0)
/* Further copies of each body with other fields of the local arguments
 * made constants the same way: none for f32 and f64; for the bf16 kernels,
 * one per bf16_mode (kernel_types.h redefines this around them). */
#define DESCENT_KERNEL_VARIANTS(CALL, a) CALL
/* SFX is f32, f64 or bf16, or a macro naming one (src/optim/kernel_types.h):
 * each macro passes it on once so that it is expanded before the paste. */
#define DESCENT_NF_DECL(SFX, args) DESCENT_NF_DECL_(SFX, args)
#define DESCENT_NF_TEST(SFX, x) DESCENT_NF_TEST_(SFX, x)
#define DESCENT_NF_END(SFX, args) DESCENT_NF_END_(SFX, args)
#define DESCENT_NF_DECL_(SFX, args)                                \
    const int nf_on_ = (args)->nonfinite != NULL;                  \
    descent_nf_##SFX nf_max_ = 0
#define DESCENT_NF_TEST_(SFX, x)                                   \
    do {                                                           \
        if (nf_on_) {                                              \
            descent_nf_##SFX nf_u_ = descent_nf_bits_##SFX(x);     \
            nf_max_ = nf_u_ > nf_max_ ? nf_u_ : nf_max_;           \
        }                                                          \
    } while (0)
#define DESCENT_NF_END_(SFX, args)                                 \
    do {                                                           \
        if (nf_on_ && nf_max_ >= DESCENT_NF_INF_##SFX)             \
            *(args)->nonfinite = 1;                                \
    } while (0)
#if defined(__GNUC__) && defined(__x86_64__) && !defined(DESCENT_NO_DISPATCH)
#define DESCENT_HAVE_DISPATCH 1
#if defined(__clang__)
/* clang has no prefer-vector-width target option (it would drop the whole
 * attribute); it uses 512-bit vectors for avx512f code by default. */
#define DESCENT_TARGET_AVX512F __attribute__((target("avx512f")))
#define DESCENT_TARGET_AVX512BW __attribute__((target("avx512f,avx512bw")))
#else
#define DESCENT_TARGET_AVX512F __attribute__((target("avx512f,prefer-vector-width=512")))
#define DESCENT_TARGET_AVX512BW __attribute__((target("avx512f,avx512bw,prefer-vector-width=512")))
#endif
/* AVX512F; the bf16 kernels' copy (16-bit lanes) also needs AVX512BW
 * (kernel_types.h; bf16.c caps the level on CPUs without it). */
#define DESCENT_TARGET_AVX512 DESCENT_TARGET_AVX512F
#define DESCENT_TARGET_AVX2 __attribute__((target("avx2,fma")))
/* Define `static void NAME(const descent_kernel_args *)` running
 * BODY(args), itself an always-inline function, on the widest allowed ISA. */
#define DESCENT_DISPATCH(NAME, BODY) \
    DESCENT_DISPATCH_CALLS(NAME, DESCENT_NF_SPLIT(BODY, args), DESCENT_NF_SPLIT(BODY, args))
/* The same for a BODY(args, has_fma) that uses fused multiply-adds where
 * they are instructions (AVX2 with FMA, AVX-512) and plain IEEE operations
 * on the baseline, where fma() would be a slow library call: BODY must
 * give the same bits either way (see descent_div_const). */
#define DESCENT_DISPATCH_FMA(NAME, BODY) \
    DESCENT_DISPATCH_CALLS(NAME, DESCENT_NF_SPLIT_FMA(BODY, args, 0), DESCENT_NF_SPLIT_FMA(BODY, args, 1))
/* The three copies and the run-time choice: PORTABLE and WIDE are
 * statements over the parameter `args`. */
#define DESCENT_DISPATCH_CALLS(NAME, PORTABLE, WIDE)                                  \
    static void NAME##_portable(const descent_kernel_args *args) { PORTABLE; }        \
    DESCENT_TARGET_AVX2 static void NAME##_avx2(const descent_kernel_args *args)      \
    {                                                                                 \
        WIDE;                                                                         \
    }                                                                                 \
    DESCENT_TARGET_AVX512 static void NAME##_avx512(const descent_kernel_args *args)  \
    {                                                                                 \
        WIDE;                                                                         \
    }                                                                                 \
    static void NAME(const descent_kernel_args *args)                                 \
    {                                                                                 \
        if (args->isa >= DESCENT_ISA_AVX512)                                          \
            NAME##_avx512(args);                                                      \
        else if (args->isa == DESCENT_ISA_AVX2)                                       \
            NAME##_avx2(args);                                                        \
        else                                                                          \
            NAME##_portable(args);                                                    \
    }
#else
#define DESCENT_HAVE_DISPATCH 0
#define DESCENT_DISPATCH(NAME, BODY) \
    static void NAME(const descent_kernel_args *args) { DESCENT_NF_SPLIT(BODY, args); }
#if defined(FP_FAST_FMAF) && defined(FP_FAST_FMA)
#define DESCENT_DISPATCH_FMA(NAME, BODY) \
    static void NAME(const descent_kernel_args *args) { DESCENT_NF_SPLIT_FMA(BODY, args, 1); }
#else
#define DESCENT_DISPATCH_FMA(NAME, BODY) \
    static void NAME(const descent_kernel_args *args) { DESCENT_NF_SPLIT_FMA(BODY, args, 0); }
#endif
#endif

/* ---- Software prefetch for the streaming kernels ------------------------
 * One core streaming four or five arrays keeps too few cache misses in
 * flight when its loop body is long (a sqrt, divisions): on one thread
 * Adam, NAdam, RMSprop and Adagrad ran at 0.83-0.88 of a plain kernel moving
 * the same arrays. The driver (optimizer.c run_chunk) therefore runs a long
 * chunk in blocks of DESCENT_PF_BLOCK bytes of each stream and, before each
 * block's kernel call, asks for the lines two blocks (2 KiB) ahead in
 * every stream, one prefetch per 64-byte line (0.91-0.95 then; a 4 KiB
 * block, a burst the core cannot hold, was worse than none). Prefetches
 * never fault, so lines past a tensor's end cost a wasted request, nothing
 * more; the address is formed as an integer, not as an out-of-bounds
 * pointer. */
#define DESCENT_PF_BLOCK 1024
/* Ask for the block_bytes of lines that start ahead_bytes past element
 * index of base (elements of elem_size bytes). */
#define DESCENT_PREFETCH_BLOCK(base, index, elem_size, block_bytes, ahead_bytes)                  \
    do {                                                                                          \
        if (base) {                                                                               \
            uintptr_t pf_a_ = (uintptr_t)(base) + (index) * (elem_size) + (ahead_bytes);          \
            for (size_t pf_l_ = 0; pf_l_ < (block_bytes); pf_l_ += 64)                            \
                __builtin_prefetch((const void *)(pf_a_ + pf_l_), 0, 3);                          \
        }                                                                                         \
    } while (0)

/* ---- Division by a loop constant ----------------------------------------
 * q = RN(a / c) for a divisor c fixed over a whole loop, given rc = RN(1/c)
 * (one true division per step, outside the loop):
 *     q0 = RN(a rc)             within one ulp of a/c
 *     e  = RN(a - q0 c) exact   the residual, by one FMA
 *     q  = RN(q0 + e rc)        the correctly rounded a/c
 * (Markstein's theorem: Markstein, "IA-64 and Elementary Functions", 2000,
 * ch. 8; Muller et al., "Handbook of Floating-Point Arithmetic", 2nd ed.,
 * sec. 4.7). One multiply and two FMAs instead of a division, which on x86
 * shares one divider with the square root: the bits of a / c for c in
 * (0, 1] and every a with |a| >= 2^-100 in binary32 (2^-960 in binary64),
 * a = +-0, +-inf or NaN. Below that the residual can underflow and the
 * result can differ (tests/test_div_const.c checks the bound and reports
 * the largest failing a it finds, about 2^-103 .. 2^-110). Where q0 is zero
 * (the last FMA would turn -0 into +0), infinite (e would be NaN) or NaN,
 * q0 itself is the quotient and is kept. has_fma = 0 (no FMA instruction)
 * divides. The has_fma = 1 form must only be inlined into code compiled
 * for FMA (DESCENT_DISPATCH_FMA). */
#define DESCENT_DIV_CONST_FN(T, SFX, FMA, U, MAGNITUDE, FINITE_MAX)                 \
    DESCENT_INLINE T descent_div_const_##SFX(T a, T c, T rc, const int has_fma)         \
    {                                                                                   \
        if (!has_fma)                                                                   \
            return a / c;                                                               \
        T q0 = a * rc;                                                                  \
        T e = FMA(-q0, c, a);                                                           \
        T q = FMA(e, rc, q0);                                                           \
        U mag;                                                                          \
        memcpy(&mag, &q0, sizeof mag);                                                  \
        mag &= MAGNITUDE;                                                               \
        return mag - 1u < FINITE_MAX ? q : q0; /* q0 zero, infinite or NaN: q0 */       \
    }
DESCENT_DIV_CONST_FN(float, f32, fmaf, uint32_t, UINT32_C(0x7FFFFFFF), UINT32_C(0x7F7FFFFF))
DESCENT_DIV_CONST_FN(double, f64, fma, uint64_t, UINT64_C(0x7FFFFFFFFFFFFFFF), UINT64_C(0x7FEFFFFFFFFFFFFF))


/* ---- Whole-tensor reductions in a fixed order ---------------------------
 * LAMB's and Adafactor's norms are sums of squares over a whole tensor. To
 * thread and vectorize them and still get the same bits for every thread
 * count and instruction set, the summation order depends on the tensor's
 * size alone:
 *   - the tensor is cut into groups of descent_red_group_size(n) elements
 *     (at most DESCENT_RED_GROUPS of them, a multiple of 1024 elements);
 *     threads take whole groups;
 *   - within a group, element i (counted from the group's start) adds its
 *     term into lane i mod DESCENT_RED_LANES, in double, in element order;
 *     a vector unit holds lanes side by side, the portable build an array;
 *   - the lanes are added by the fixed pairwise tree of descent_red_lanes,
 *     the groups in ascending order.
 * Every step is an IEEE double addition in an order fixed by n, so the
 * compiler (no -ffast-math, no reassociation) gives one result on every
 * path. */
#define DESCENT_RED_LANES 16
#define DESCENT_RED_GROUPS 64
#define DESCENT_RED_MIN_GROUP ((size_t)8192)

DESCENT_INLINE size_t descent_red_group_size(size_t n)
{
    size_t gs = (n + DESCENT_RED_GROUPS - 1) / DESCENT_RED_GROUPS;
    gs = (gs + 1023) / 1024 * 1024;
    return gs < DESCENT_RED_MIN_GROUP ? DESCENT_RED_MIN_GROUP : gs;
}

DESCENT_INLINE int descent_red_groups(size_t n)
{
    size_t gs = descent_red_group_size(n);
    return (int)((n + gs - 1) / gs);
}

/* The lanes' sum: l[k] + l[k + 8], then + 4, + 2, + 1 (pairwise, halving). */
DESCENT_INLINE double descent_red_lanes(const double *lane)
{
    double h[DESCENT_RED_LANES];
    for (int k = 0; k < DESCENT_RED_LANES; k++)
        h[k] = lane[k];
    for (int w = DESCENT_RED_LANES / 2; w > 0; w /= 2)
        for (int k = 0; k < w; k++)
            h[k] = h[k] + h[k + w];
    return h[0];
}

/* Define `static void NAME(int isa, PARAMS...)` that runs the always-inline
 * `BODY ARGS` compiled for AVX-512, AVX2 or the baseline, as isa allows
 * (PARAMS and ARGS parenthesized: (const T *x, size_t n) and (x, n)). The
 * same IEEE operations in every copy (see DESCENT_DISPATCH). NAME and BODY
 * may be macros naming a function (KERNEL_FN(x) in a kernel header,
 * src/optim/kernel_types.h): DESCENT_DISPATCH_FN passes them on once, so
 * that they are expanded before DESCENT_DISPATCH_FN_ pastes _portable,
 * _avx2 and _avx512 to NAME. */
#define DESCENT_UNPAREN(...) __VA_ARGS__
#define DESCENT_DISPATCH_FN(NAME, BODY, PARAMS, ARGS) DESCENT_DISPATCH_FN_(NAME, BODY, PARAMS, ARGS)
#if DESCENT_HAVE_DISPATCH
#define DESCENT_DISPATCH_FN_(NAME, BODY, PARAMS, ARGS)                             \
    static void NAME##_portable PARAMS { BODY ARGS; }                              \
    DESCENT_TARGET_AVX2 static void NAME##_avx2 PARAMS { BODY ARGS; }              \
    DESCENT_TARGET_AVX512 static void NAME##_avx512 PARAMS { BODY ARGS; }          \
    static void NAME(int isa, DESCENT_UNPAREN PARAMS)                              \
    {                                                                              \
        if (isa >= DESCENT_ISA_AVX512)                                             \
            NAME##_avx512 ARGS;                                                    \
        else if (isa == DESCENT_ISA_AVX2)                                          \
            NAME##_avx2 ARGS;                                                      \
        else                                                                       \
            NAME##_portable ARGS;                                                  \
    }
#else
#define DESCENT_DISPATCH_FN_(NAME, BODY, PARAMS, ARGS)                             \
    static void NAME(int isa, DESCENT_UNPAREN PARAMS)                              \
    {                                                                              \
        (void)isa;                                                                 \
        BODY ARGS;                                                                 \
    }
#endif

/* `for (int VAR = 0; VAR < COUNT; VAR++)` shared among THREADS OpenMP threads
 * in contiguous static blocks (one thread without OpenMP or for THREADS <= 1). */
#define DESCENT_PRAGMA(x) _Pragma(#x)
#ifdef _OPENMP
#define DESCENT_PARALLEL_FOR(VAR, COUNT, THREADS)                                  \
    DESCENT_PRAGMA(omp parallel for num_threads(THREADS) schedule(static) if ((THREADS) > 1)) \
    for (int VAR = 0; VAR < (COUNT); VAR++)
#else
#define DESCENT_PARALLEL_FOR(VAR, COUNT, THREADS) for (int VAR = ((void)(THREADS), 0); VAR < (COUNT); VAR++)
#endif

#endif
