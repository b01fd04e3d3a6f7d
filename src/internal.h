/* Internal definitions shared by the library's files. Not installed. */
#ifndef DESCENT_INTERNAL_H
#define DESCENT_INTERNAL_H

#include "descent.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define DESCENT_ALIGN 64
#define DESCENT_MAX_STATE 4
/* Kinds of auxiliary per-tensor buffers (src/utils.c). */
enum { DESCENT_AUX_ACCUM, DESCENT_AUX_EMA, DESCENT_AUX_SWA, DESCENT_AUX_SLOW, DESCENT_AUX_COUNT };

/* ---- messages ---------------------------------------------------------- */

int descent_fail(descent_error *err, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void descent_vformat(char *buf, size_t cap, const char *fmt, va_list ap);

/* ---- memory ------------------------------------------------------------ */

typedef struct descent_mem {
    descent_allocator a; /* never has NULL members */
} descent_mem;

void descent_mem_init(descent_mem *m, const descent_allocator *a);
void *descent_mem_alloc(const descent_mem *m, size_t size);           /* 64-byte aligned, zeroed */
void descent_mem_free(const descent_mem *m, void *ptr);

/* ---- hyperparameter descriptors ---------------------------------------- */

typedef enum hp_type { HP_REAL, HP_PAIR, HP_BOOL, HP_CHOICE, HP_INT } hp_type;

/* Bounds: lo <= x (or lo < x with HP_LO_OPEN), x <= hi (or < with HP_HI_OPEN). */
enum { HP_LO_OPEN = 1, HP_HI_OPEN = 2, HP_NO_HI = 4 };
/* HP_PAIR whose items may be None (stored as NaN): Adafactor's eps[0]. */
enum { HP_NONE_OK = 8 };
/* HP_INT only: the value must be lo or hi, nothing between (state_bits). */
enum { HP_ENDS_ONLY = 16 };

typedef struct hp_desc {
    const char *name;
    hp_type type;
    size_t offset;            /* into descent_hparams */
    double lo, hi;
    unsigned bounds;
    const char *const *choices; /* HP_CHOICE: NULL-terminated names, value = index */
} hp_desc;

#define HP_FIELD(f) offsetof(descent_hparams, f)

/* ---- per-tensor state the generic code keeps for every algorithm -------- */

typedef struct descent_tensor_scalars {
    int64_t step;           /* PyTorch's state['step'], incremented before use */
    double mu_product;      /* NAdam's running product of mu_t */
    union {
        double eta;         /* ASGD's state['eta'], the step size of the next step */
        double max_lr;      /* schedule-free: optax's max_lr, the largest lr so far */
    };
    union {
        double mu;          /* ASGD's state['mu'], the averaging weight of the next step */
        double weight_sum;  /* schedule-free: optax's weight_sum, sum of max_lr^weight_lr_power */
    };
} descent_tensor_scalars;

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
} descent_kernel_args;

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
            CALL;                                                  \
        } else {                                                   \
            nf_a_.nonfinite = NULL;                                \
            CALL;                                                  \
        }                                                          \
    } while (0)
#define DESCENT_NF_DECL(SFX, args)                                 \
    const int nf_on_ = (args)->nonfinite != NULL;                  \
    descent_nf_##SFX nf_max_ = 0
#define DESCENT_NF_TEST(SFX, x)                                    \
    do {                                                           \
        if (nf_on_) {                                              \
            descent_nf_##SFX nf_u_ = descent_nf_bits_##SFX(x);     \
            nf_max_ = nf_u_ > nf_max_ ? nf_u_ : nf_max_;           \
        }                                                          \
    } while (0)
#define DESCENT_NF_END(SFX, args)                                  \
    do {                                                           \
        if (nf_on_ && nf_max_ >= DESCENT_NF_INF_##SFX)             \
            *(args)->nonfinite = 1;                                \
    } while (0)
#if defined(__GNUC__) && defined(__x86_64__) && !defined(DESCENT_NO_DISPATCH)
#define DESCENT_HAVE_DISPATCH 1
#if defined(__clang__)
/* clang has no prefer-vector-width target option (it would drop the whole
 * attribute); it uses 512-bit vectors for avx512f code by default. */
#define DESCENT_TARGET_AVX512 __attribute__((target("avx512f")))
#else
#define DESCENT_TARGET_AVX512 __attribute__((target("avx512f,prefer-vector-width=512")))
#endif
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

/* One algorithm family member: what GSL calls a type table. The generic code
 * allocates state_count(hp) buffers of n elements and coeffs_size bytes per
 * tensor, calls prepare() once per tensor per step (outside the element
 * loop), then the kernel over ranges of the tensor. */
struct descent_tensor_args;

typedef struct descent_algo {
    const char *name;                  /* PyTorch's name: "AdamW" */
    const char *alias;                 /* lowercase alias: "adamw" */
    const char *momentum_name;         /* what cyclical schedules drive, or NULL */
    void (*defaults)(descent_hparams *hp);
    const hp_desc *hparams;            /* accepted arguments, NULL-name terminated */
    /* Cross-field checks (beyond each field's bounds); message into err. */
    int (*validate)(const descent_hparams *hp, descent_error *err);
    int (*state_count)(const descent_hparams *hp);
    const char *const *state_names;    /* names of the state buffers, for checkpoints */
    /* Initial value of state buffer i (most are 0). */
    double (*state_init)(const descent_hparams *hp, int i);
    size_t coeffs_size;
    /* Advance the tensor's step count and compute the per-step scalars. */
    void (*prepare)(const descent_hparams *hp, descent_tensor_scalars *ts, void *coeffs);
    descent_kernel_fn kernel_f32;
    descent_kernel_fn kernel_f64;
    /* Bytes per stream of the driver's prefetch blocks for a group with
     * these hyperparameters (NULL or 0: DESCENT_PF_BLOCK); the lines two
     * blocks ahead are requested before each block's kernel call. */
    size_t (*prefetch_block)(const descent_hparams *hp);
    /* Optional hooks; NULL for the element-wise optimizers. */
    /* Elements of state buffer k for a tensor of this shape (Adafactor's
     * row and column factors); NULL: n for every buffer. */
    size_t (*state_size)(int ndim, const size_t *shape, int k);
    /* A whole-tensor step used instead of the kernel over chunks, for
     * updates with reductions over the tensor (LAMB's norms, Adafactor's
     * row and column means). Its order of operations must be fixed: the
     * driver runs each tensor on one thread, so results do not depend on
     * the thread count. Such optimizers take f32 and f64 tensors only. */
    void (*tensor_step)(const struct descent_tensor_args *a);
    /* The evaluation parameters (schedule-free's x) into out, which has the
     * tensor's dtype; NULL: a copy of the parameters. */
    void (*eval_params)(const descent_hparams *hp, const descent_tensor_scalars *ts,
                        const struct descent_tensor_args *a, void *out);
    /* state_bits=8 support: one letter per state buffer, 's' for the signed
     * 8-bit map, 'u' for the unsigned one (src/q8state.c); NULL: none. */
    const char *state_q8;
} descent_algo;

/* A whole tensor, as tensor_step and eval_params see it. */
typedef struct descent_tensor_args {
    const void *coeffs;     /* from prepare() */
    descent_dtype dtype;
    size_t n;
    int ndim;
    const size_t *shape;
    void *param;
    const void *grad;
    void *state[DESCENT_MAX_STATE];
    size_t state_n[DESCENT_MAX_STATE];
    int isa;
} descent_tensor_args;

const descent_algo *descent_find_algo(const char *name);
extern const descent_algo *const descent_algos[];
extern const int descent_algo_count;

/* Bounds/type check of one value against a descriptor (used by set and parse). */
int descent_hp_check(const hp_desc *d, int index, double v, descent_error *err);
const hp_desc *descent_hp_find(const descent_algo *algo, const char *name, int *index);
double descent_hp_read(const descent_hparams *hp, const hp_desc *d, int index);
void descent_hp_write(descent_hparams *hp, const hp_desc *d, int index, double v);
int descent_hparams_validate(const descent_algo *algo, const descent_hparams *hp, descent_error *err);

/* ---- Structs the caller passes in (descent.h: struct_size) --------------
 * The smallest struct_size accepted is the size of each struct when
 * struct_size was introduced (0.2.0): its last field then. */
#define DESCENT_END_OF(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))
#define DESCENT_HPARAMS_MIN_SIZE DESCENT_END_OF(descent_hparams, t0)
#define DESCENT_SETTINGS_MIN_SIZE DESCENT_END_OF(descent_minimize_settings, progress_ctx)
#define DESCENT_TRAIN_CONFIG_MIN_SIZE DESCENT_END_OF(descent_train_config, reduce_ctx)

/* Whether a caller's struct_size is one this library can read or fill;
 * the message names the struct and how to fill it. */
int descent_struct_size_check(size_t size, size_t min_size, size_t full_size, const char *type, const char *init,
                              descent_error *err);
/* Copy the caller's struct (its struct_size bytes, already checked) over
 * *full, which holds the defaults; full->struct_size becomes full_size. */
void descent_struct_in(void *full, size_t full_size, const void *user);
/* Copy the first size bytes of *full out to the caller's struct, whose
 * struct_size becomes size. */
void descent_struct_out(void *user, size_t size, const void *full);
/* A default-filling call (descent_*_default_*): the defaults in *full out
 * to the caller's struct of size bytes; a size beyond full_size is kept as
 * struct_size so that using the struct is refused later with a message. */
void descent_struct_defaults_out(void *user, size_t size, const void *full, size_t full_size);
/* A caller's descent_hparams as a full one: the named optimizer's
 * defaults, overwritten by the caller's fields. */
int descent_hparams_import(descent_hparams *full, const descent_hparams *user, descent_error *err);

/* Initial value 0 for every state buffer (most algorithms). */
double descent_state_zero(const descent_hparams *hp, int i);

/* Descriptors shared by the algorithm tables; the bounds are PyTorch's
 * checks (lr, weight_decay, eps >= 0; betas in [0, 1)). */
#define HP_LR {"lr", HP_REAL, HP_FIELD(lr), 0, 0, HP_NO_HI, NULL}
#define HP_WEIGHT_DECAY {"weight_decay", HP_REAL, HP_FIELD(weight_decay), 0, 0, HP_NO_HI, NULL}
#define HP_MAXIMIZE {"maximize", HP_BOOL, HP_FIELD(maximize), 0, 1, 0, NULL}
#define HP_EPS {"eps", HP_REAL, HP_FIELD(eps), 0, 0, HP_NO_HI, NULL}
#define HP_EPS_ROOT {"eps_root", HP_REAL, HP_FIELD(eps_root), 0, 0, HP_NO_HI, NULL}
#define HP_BETAS {"betas", HP_PAIR, HP_FIELD(betas), 0, 1, HP_HI_OPEN, NULL}
/* 32: state at the tensor's precision; 8: block-quantized (src/q8state.c). */
#define HP_STATE_BITS {"state_bits", HP_INT, HP_FIELD(state_bits), 8, 32, HP_ENDS_ONLY, NULL}
#define HP_END {NULL, HP_REAL, 0, 0, 0, 0, NULL}

/* ---- optimizer --------------------------------------------------------- */

typedef struct descent_group {
    descent_hparams hp;
    double initial_lr;      /* lr when the group was added (PyTorch's initial_lr) */
} descent_group;

typedef struct descent_tensor {
    int group;
    descent_dtype dtype;
    size_t n;
    int ndim;                       /* shape[0..ndim), row-major, product n */
    size_t shape[DESCENT_MAX_DIMS];
    void *param;
    const void *grad;
    int nstate;
    void *state[DESCENT_MAX_STATE];
    descent_tensor_scalars scalars;
    void *coeffs;
    float *master;          /* bf16 tensors with DESCENT_BF16_MASTER: f32 copy of param */
    void *aux[DESCENT_AUX_COUNT]; /* training utilities' buffers (src/utils.c), NULL when unused */
    int no_decay;           /* weight decay masked off for this tensor */
    size_t state_n[DESCENT_MAX_STATE]; /* elements of each state buffer (n unless algo->state_size) */
    int state_bits;         /* 8: every state buffer is block-quantized (q8state.c); else 0 */
    /* The tensor's own coeffs_size bytes. `coeffs` is what the kernels read
     * this step: this buffer, or an earlier tensor's with equal scalars. */
    void *coeffs_buf;
    int arena;              /* 1: state lives in the optimizer's arena (arena.c), not freed alone */
} descent_tensor;

/* Settings and counters of the training utilities (src/utils.c). */
typedef struct descent_utils {
    int accumulate;          /* micro-batches per update; 0 or 1: off */
    int64_t accum_count;     /* micro-batches summed since the last update */
    double ema_decay;        /* 0: off */
    int64_t ema_count;       /* AveragedModel's n_averaged */
    int swa;
    int64_t swa_count;
    int lookahead_k;         /* 0: off */
    double lookahead_alpha;
    int64_t lookahead_count; /* inner steps since Lookahead was set */
    int no_decay_1d;         /* rule: 1-D tensors registered get no weight decay */
} descent_utils;

typedef struct descent_chunk {
    int tensor;
    size_t begin, end;
} descent_chunk;

struct descent_schedule;

struct descent_optimizer {
    descent_mem mem;
    const descent_algo *algo;
    descent_hparams defaults;
    descent_group *groups;
    int ngroups, groups_cap;
    descent_tensor *tensors;
    int ntensors, tensors_cap;
    descent_chunk *chunks;   /* work split for threads, rebuilt on registration */
    int nchunks;
    int threads;
    int prefetch;           /* descent_set_prefetch: 0 default, -1 off, else block bytes */
    int prefetch_step;      /* this step streams from memory: run_chunk prefetches (optimizer.c) */
    int isa;                 /* descent_isa the kernels may use */
    unsigned bf16_flags;     /* DESCENT_BF16_STOCHASTIC | DESCENT_BF16_MASTER */
    uint64_t bf16_seed;
    char errmsg[512];
    struct descent_schedule *schedule; /* attached learning-rate schedule or NULL */
    int nonfinite_policy;    /* a descent_nonfinite_policy */
    int64_t skipped_steps;
    descent_utils utils;     /* accumulation, masks, EMA/SWA, Lookahead */
    struct descent_arena_slab *arena; /* slabs holding small tensors' state (arena.c) */
    int grads_finite;        /* a clipping call since the last step read every gradient: all finite */
};

/* ---- non-finite gradients (nonfinite.c) -------------------------------- */

/* Before a step's first write. Returns 0 to go on, or, under SKIP and
 * ERROR with a non-finite gradient value (and no clipping verdict that all
 * are finite), DESCENT_STEP_SKIPPED or DESCENT_ERR_NONFINITE with the
 * message set. *check_chunks is set when the step must test each chunk
 * (REPORT without a verdict): the kernels in their loops, whole-tensor
 * steps after the step. Consumes the verdict. */
int descent_nonfinite_before_step(descent_optimizer *opt, int *check_chunks);
/* 1 if chunk c's gradient holds a NaN or an infinity. */
int descent_chunk_nonfinite(const descent_optimizer *opt, int chunk);
/* After a REPORT step: 0, or DESCENT_STEP_NONFINITE with the message naming
 * the first non-finite value of first_bad_chunk (>= nchunks: none). */
int descent_nonfinite_after_step(descent_optimizer *opt, int first_bad_chunk);
/* Record that every registered gradient was read and found finite (a
 * clipping call); the next step needs no check of its own. */
void descent_grads_checked(descent_optimizer *opt, int all_finite);

int descent_opt_fail(const descent_optimizer *opt, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ---- training utilities (src/utils.c) ---------------------------------- */

/* Register-time setup of a new tensor (masks, aux buffers); on error the
 * caller frees the tensor. */
int descent_utils_register(descent_optimizer *opt, descent_tensor *t);
/* Seed a tensor's aux buffers (registration, descent_reset). */
void descent_utils_init_tensor(const descent_optimizer *opt, descent_tensor *t);
void descent_utils_free_tensor(descent_optimizer *opt, descent_tensor *t);
/* Zero the counters (descent_reset). */
void descent_utils_reset(descent_optimizer *opt);
size_t descent_utils_bytes(const descent_optimizer *opt);
/* Gradient accumulation: DESCENT_STEP_ACCUMULATED when this call only adds
 * the gradients, 0 when the update is to run on their mean. */
int descent_utils_before_step(descent_optimizer *opt);
/* The gradient the kernels read: the accumulated mean or the caller's. */
const void *descent_utils_grad(const descent_tensor *t);
/* The hyperparameters prepare() sees for a tensor (weight decay masked). */
const descent_hparams *descent_utils_hparams(const descent_optimizer *opt, const descent_tensor *t,
                                             descent_hparams *scratch);
/* After an update: clear the sum, Lookahead sync, EMA update. */
void descent_utils_after_step(descent_optimizer *opt);
/* Checkpoint section, present (header flag DESCENT_CKPT_FLAG_UTILS) when
 * descent_utils_active(). */
#define DESCENT_CKPT_FLAG_UTILS 1u
int descent_utils_active(const descent_optimizer *opt);
/* Whole-tensor hooks (src/tensor_hooks.c): run algo->tensor_step over every
 * tensor, and describe one tensor as descent_tensor_args. */
void descent_run_tensor_steps(const descent_optimizer *opt);
void descent_tensor_args_of(const descent_optimizer *opt, int tensor, descent_tensor_args *a);

/* ---- spec strings ------------------------------------------------------ */

typedef enum spec_kind {
    SPEC_NUM, SPEC_BOOL, SPEC_STR, SPEC_NONE, SPEC_TUPLE, SPEC_LIST, SPEC_CALL, SPEC_NAME
} spec_kind;

typedef struct spec_node {
    spec_kind kind;
    size_t pos, end;         /* byte range in the source text */
    double num;
    bool is_int;             /* SPEC_NUM written without '.', 'e' */
    char *str;               /* SPEC_STR text, SPEC_CALL / SPEC_NAME name */
    int n;                   /* items (tuple, list, call arguments) */
    struct spec_node *items;
    char **keys;             /* SPEC_CALL: keyword of each argument or NULL */
} spec_node;

typedef struct spec_doc {
    const char *text;
    spec_node *root;
    descent_mem mem;
} spec_doc;

/* Parse text into doc->root. On error fills err with a message quoting the
 * text and pointing at the offending part. */
int descent_spec_parse(spec_doc *doc, const char *text, const descent_allocator *alloc,
                       descent_error *err);
void descent_spec_free(spec_doc *doc);
/* Format an error pointing at node's text: "<msg>\n  <text>\n  ^^^". */
int descent_spec_fail(const spec_doc *doc, const spec_node *node, descent_error *err,
                      int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
const char *descent_spec_kind_name(spec_kind k);

/* Fill hp from a parsed call node (name resolved to an algorithm). */
int descent_hparams_from_node(descent_hparams *hp, const spec_doc *doc, const spec_node *call,
                              descent_error *err);
/* Apply keyword arguments of a call (or an overrides list) onto hp. */
int descent_hparams_apply_args(descent_hparams *hp, const descent_algo *algo, const spec_doc *doc,
                               const spec_node *call, descent_error *err);

/* An optimizer spec that may be "Lookahead(optimizer=SPEC, k=, alpha=)"
 * (src/lookahead.c): the inner optimizer's hyperparameters into hp, and k, alpha
 * (k = 0 without Lookahead). */
int descent_optimizer_spec_parse(const char *spec, const descent_allocator *alloc, descent_hparams *hp,
                                 int *lookahead_k, double *lookahead_alpha, descent_error *err);

/* descent_hparams_parse with the caller's allocator. */
int descent_hparams_parse_with(descent_hparams *hp, const char *spec, const descent_allocator *alloc,
                               descent_error *err);

/* The entry of names[0..n) closest to word by edit distance, or NULL when
 * none is close: for "did you mean" hints in error messages. */
const char *descent_closest_name(const char *word, const char *const *names, int n);

/* Case-insensitive, '_'-insensitive name match ("adamw" == "AdamW"). */
bool descent_name_eq(const char *a, const char *b);

/* ---- schedule hooks (src/schedule/driver.c) ------------------------------ */

/* Release the attached schedule (descent_destroy). */
void descent_schedule_free(descent_optimizer *opt);
/* Restart the schedule as if newly attached (descent_reset). */
void descent_schedule_restart(descent_optimizer *opt);
/* Write the schedule's section of a checkpoint into buf; returns its size
 * (with buf = NULL or cap too small, only the size). 0: no schedule. */
size_t descent_schedule_save(const descent_optimizer *opt, unsigned char *buf, size_t cap);
/* Check (apply = 0) or load (apply = 1, only after a successful check) a
 * checkpoint's schedule section; it must match the attached schedule. */
int descent_schedule_load(descent_optimizer *opt, const unsigned char *buf, size_t len, int apply,
                          descent_error *err);

/* ---- binary formats ----------------------------------------------------- */

/* Little-endian byte streams for checkpoints. A writer with buf == NULL
 * only counts bytes (and never writes past cap); a reader sets bad, and
 * returns 0, on any read past its end. */
typedef struct descent_writer {
    unsigned char *buf;
    size_t cap, pos;
} descent_writer;

typedef struct descent_reader {
    const unsigned char *buf;
    size_t len, pos;
    int bad;
} descent_reader;

void descent_put_u(descent_writer *w, uint64_t v, int bytes);
uint64_t descent_get_u(descent_reader *r, int bytes);
/* n values of a state buffer (f64, or f32 for other dtypes), raw LE bits. */
void descent_put_array(descent_writer *w, const void *data, size_t n, descent_dtype dtype);
void descent_get_array(descent_reader *r, void *out, size_t n, descent_dtype dtype);
void descent_utils_save(const descent_optimizer *opt, descent_writer *w);
int descent_utils_load(descent_optimizer *opt, descent_reader *r, int present, int apply, descent_error *err);

/* descent_table_read_csv, except that a field of the column named
 * words_column that is not a number goes to word(), which gives its value
 * (0) or refuses it (-1: the usual error). */
int descent_table_read_csv_words(descent_table *t, const char *path, int header, const char *words_column,
                                 int (*word)(void *ctx, const char *text, double *value), void *ctx,
                                 descent_error *err);

/* ---- checkpoint files (fileio.c) ---------------------------------------- */

/* Write buf to path.tmp, fsync, rename over path. */
int descent_file_write_atomic(const descent_mem *mem, const char *path, const void *buf, size_t len,
                              descent_error *err);
/* Read a regular file whole into *out (from mem; the caller frees it). */
int descent_file_read(const descent_mem *mem, const char *path, void **out, size_t *len, descent_error *err);
/* The frame of a checkpoint file: magic[8], u32 version, u32 flags = 0,
 * u64 payload length, payload, u32 CRC-32 of the rest. begin returns where
 * the payload starts; end patches the length and appends the CRC (a
 * counting writer only counts). open checks all of it and gives a reader
 * over the payload; what names the kind of file in messages. */
size_t descent_frame_begin(descent_writer *w, const char magic[8], uint32_t version);
void descent_frame_end(descent_writer *w, size_t payload_start);
int descent_frame_open(descent_reader *payload, const void *buf, size_t len, const char magic[8], uint32_t version,
                       const char *what, descent_error *err);

/* ---- norms (clip.c) ------------------------------------------------------ */

/* Add |x|^p (p finite) into *acc, or take the max of |x| (p = INFINITY; a
 * NaN sticks): the accumulation of descent_clip_grad_norm, shared with the
 * sharded MPI norm. */
void descent_norm_accumulate(double *acc, double x, double p);
/* The p-norm from its accumulation: acc^(1/p) (acc itself for p = 1, inf). */
double descent_norm_finish(double acc, double p);

/* ---- checksums --------------------------------------------------------- */
uint32_t descent_crc32(uint32_t crc, const void *data, size_t len);

/* ---- bf16 storage (bf16.c) --------------------------------------------- */

/* bf16 <-> f32: widening is exact; narrowing rounds to nearest even, or
 * stochastically with bits from a hash of key and the element's index
 * (first + i). NaN stays NaN. */
void descent_bf16_widen(float *dst, const uint16_t *src, size_t n);
void descent_bf16_narrow(uint16_t *dst, const float *src, size_t n);
void descent_bf16_narrow_stochastic(uint16_t *dst, const float *src, size_t n, uint64_t key, uint64_t first);
/* One chunk of a bf16 tensor: widen p and g block by block, run the f32
 * kernel against the f32 state, narrow p back. */
void descent_run_chunk_bf16(const descent_optimizer *opt, const descent_chunk *c, int *nonfinite);

/* ---- the state arena (arena.c) ------------------------------------------- */

/* A tensor whose state needs at most this many bytes in all gets it from
 * the arena; larger tensors get one allocation per buffer. */
#define DESCENT_ARENA_MAX ((size_t)64 << 10)

typedef struct descent_arena_slab descent_arena_slab;
/* bytes (<= DESCENT_ARENA_MAX, rounded up to DESCENT_ALIGN) of arena
 * memory, DESCENT_ALIGN aligned, contents unspecified; NULL when out of
 * memory. */
void *descent_arena_take(descent_optimizer *opt, size_t bytes);
/* Undo the takes since mark = descent_arena_mark(opt) with head = opt->arena. */
size_t descent_arena_mark(const descent_optimizer *opt);
void descent_arena_rollback(descent_optimizer *opt, size_t mark, const descent_arena_slab *head);
void descent_arena_free(descent_optimizer *opt);

/* ---- 8-bit block-quantized state (q8state.c) ----------------------------- */

/* Elements per quantization block: one absmax scale each. Divides the
 * step's chunk size, so blocks never straddle threads. */
#define DESCENT_Q8_BLOCK 2048

/* 1 when tensors of a group with these hyperparameters get 8-bit state. */
int descent_q8_wanted(const descent_algo *algo, const descent_hparams *hp);
/* Bytes of one quantized state buffer of n elements: the codes, padded to
 * DESCENT_ALIGN, then one f32 absmax per block. */
size_t descent_q8_bytes(size_t n);
/* Set every quantized state buffer of t to 0. */
void descent_q8_init(const descent_optimizer *opt, descent_tensor *t);
/* One chunk of a tensor with 8-bit state: per block, dequantize the state,
 * run the f32 kernel, quantize it back. */
void descent_run_chunk_q8(const descent_optimizer *opt, const descent_chunk *c, int *nonfinite);
/* Checkpoint image of one quantized buffer: n code bytes, then the block
 * absmax values as little-endian f32 (descent_q8_image_bytes(n) bytes).
 * descent_q8_get reads it back. */
void descent_q8_put(descent_writer *w, const void *buf, size_t n);
void descent_q8_get(descent_reader *r, void *buf, size_t n);
size_t descent_q8_image_bytes(size_t n);
/* The 256 codes of the signed ('s') or unsigned ('u') map, ascending. */
const float *descent_q8_map(char kind);
/* One block (len <= DESCENT_Q8_BLOCK) of x to codes and *absmax, and back;
 * isa caps the instruction set, as for kernels. */
void descent_q8_quantize(char kind, const float *x, size_t len, unsigned char *codes, float *absmax, int isa);
void descent_q8_dequantize(char kind, float *x, size_t len, const unsigned char *codes, const float *absmax,
                           int isa);

#endif
