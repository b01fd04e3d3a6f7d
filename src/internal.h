/* Internal definitions shared by the library's files. Not installed. */
#ifndef DESCENT_INTERNAL_H
#define DESCENT_INTERNAL_H

#include "descent.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DESCENT_ALIGN 64
#define DESCENT_MAX_STATE 4

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

typedef enum hp_type { HP_REAL, HP_PAIR, HP_BOOL, HP_CHOICE } hp_type;

/* Bounds: lo <= x (or lo < x with HP_LO_OPEN), x <= hi (or < with HP_HI_OPEN). */
enum { HP_LO_OPEN = 1, HP_HI_OPEN = 2, HP_NO_HI = 4 };

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
    double eta;             /* ASGD's state['eta'], the step size of the next step */
    double mu;              /* ASGD's state['mu'], the averaging weight of the next step */
} descent_tensor_scalars;

/* Everything a kernel call sees for one range [begin, end) of a tensor. */
typedef struct descent_kernel_args {
    const void *coeffs;     /* the algorithm's per-step scalars, from prepare() */
    size_t begin, end;
    void *param;
    const void *grad;
    void *state[DESCENT_MAX_STATE];
    int isa;                /* a descent_isa: the widest instruction set to use */
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

#if defined(__GNUC__) && defined(__x86_64__) && !defined(DESCENT_NO_DISPATCH)
#define DESCENT_HAVE_DISPATCH 1
#if defined(__clang__)
/* clang has no prefer-vector-width target option (it would drop the whole
 * attribute); it uses 512-bit vectors for avx512f code by default. */
#define DESCENT_TARGET_AVX512 __attribute__((target("avx512f")))
#else
#define DESCENT_TARGET_AVX512 __attribute__((target("avx512f,prefer-vector-width=512")))
#endif
#define DESCENT_TARGET_AVX2 __attribute__((target("avx2")))
/* Define `static void NAME(const descent_kernel_args *)` running
 * BODY(args), itself an always-inline function, on the widest allowed ISA. */
#define DESCENT_DISPATCH(NAME, BODY)                                                  \
    static void NAME##_portable(const descent_kernel_args *args) { BODY(args); }      \
    DESCENT_TARGET_AVX2 static void NAME##_avx2(const descent_kernel_args *args)      \
    {                                                                                 \
        BODY(args);                                                                   \
    }                                                                                 \
    DESCENT_TARGET_AVX512 static void NAME##_avx512(const descent_kernel_args *args)  \
    {                                                                                 \
        BODY(args);                                                                   \
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
    static void NAME(const descent_kernel_args *args) { BODY(args); }
#endif

/* One algorithm family member: what GSL calls a type table. The generic code
 * allocates state_count(hp) buffers of n elements and coeffs_size bytes per
 * tensor, calls prepare() once per tensor per step (outside the element
 * loop), then the kernel over ranges of the tensor. */
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
} descent_algo;

const descent_algo *descent_find_algo(const char *name);
extern const descent_algo *const descent_algos[];
extern const int descent_algo_count;

/* Bounds/type check of one value against a descriptor (used by set and parse). */
int descent_hp_check(const hp_desc *d, int index, double v, descent_error *err);
const hp_desc *descent_hp_find(const descent_algo *algo, const char *name, int *index);
double descent_hp_read(const descent_hparams *hp, const hp_desc *d, int index);
void descent_hp_write(descent_hparams *hp, const hp_desc *d, int index, double v);
int descent_hparams_validate(const descent_algo *algo, const descent_hparams *hp, descent_error *err);

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
} descent_tensor;

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
    int isa;                 /* descent_isa the kernels may use */
    unsigned bf16_flags;     /* DESCENT_BF16_STOCHASTIC | DESCENT_BF16_MASTER */
    uint64_t bf16_seed;
    char errmsg[512];
    struct descent_schedule *schedule; /* attached learning-rate schedule or NULL */
    int nonfinite_policy;    /* a descent_nonfinite_policy */
    int64_t skipped_steps;
    int grads_finite;        /* a clipping call since the last step read every gradient: all finite */
};

/* ---- non-finite gradients (nonfinite.c) -------------------------------- */

/* Before a step's first write. Returns 0 to go on, or, under SKIP and
 * ERROR with a non-finite gradient value (and no clipping verdict that all
 * are finite), DESCENT_STEP_SKIPPED or DESCENT_ERR_NONFINITE with the
 * message set. *check_chunks is set when the step must test each chunk
 * after its kernel (REPORT without a verdict). Consumes the verdict. */
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
void descent_run_chunk_bf16(const descent_optimizer *opt, const descent_chunk *c);

#endif
