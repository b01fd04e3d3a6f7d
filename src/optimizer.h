/* The optimizer's private structure (struct descent_optimizer, its groups
 * and tensors) and the modules around the step: the pipeline and storage
 * adapters, non-finite checks, training utilities, schedule hooks, bf16,
 * the arena, 8-bit state. Only the core files directly under src/ and
 * src/schedule/ include it; src/models/ and src/mpi/ use public or
 * library-internal accessors instead. Not installed. */
#ifndef DESCENT_OPTIMIZER_H
#define DESCENT_OPTIMIZER_H

#include "algo.h"
#include "formats.h"
#include "spec.h"
#include "access.h"

/* Kinds of auxiliary per-tensor buffers (src/utils.c). */
enum { DESCENT_AUX_ACCUM, DESCENT_AUX_EMA, DESCENT_AUX_SWA, DESCENT_AUX_SLOW, DESCENT_AUX_COUNT };

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
    const struct descent_storage *storage; /* chosen at registration (storage.c) */
} descent_tensor;

/* The gradient the update reads: the mean of the accumulated micro-batches
 * under gradient accumulation (utils.c), else the caller's. */
static inline const void *descent_step_grad(const descent_tensor *t)
{
    return t->aux[DESCENT_AUX_ACCUM] ? t->aux[DESCENT_AUX_ACCUM] : t->grad;
}

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
    /* descent_set_step_clip (clip.c): the step's own unscale and clipping */
    int step_clip;           /* on */
    double step_inv_scale, step_max_norm, step_norm_type;
    double step_grad_norm;   /* the norm the last step computed (NaN: none) */
    int ema_fused;           /* this step's EMA was applied in the update (step.c) */
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
    int bf16_scratch;        /* 1: bf16 tensors take the scratch path even where kernel_bf16 exists (tests) */
    char errmsg[512];
    struct descent_schedule *schedule; /* attached learning-rate schedule or NULL */
    const struct descent_schedule_ops *schedule_ops; /* its hooks, set by the schedule when it attaches */
    int nonfinite_policy;    /* a descent_nonfinite_policy */
    int64_t skipped_steps;
    descent_utils utils;     /* accumulation, masks, EMA/SWA, Lookahead */
    struct descent_arena_slab *arena; /* slabs holding small tensors' state (arena.c) */
    int grads_finite;        /* a clipping call since the last step read every gradient: all finite */
};

/* ---- the step pipeline (step.c) and storage adapters (storage.c) -------- */

/* The kernel arguments for the whole of tensor t in its own arrays (the
 * step's gradient, every state buffer); the one place they are built. A
 * storage adapter then narrows [begin, end) or points the arrays at its
 * scratch blocks. */
static inline void descent_kernel_args_init(descent_kernel_args *a, const descent_optimizer *opt,
                                            const descent_tensor *t, int *nonfinite)
{
    a->coeffs = t->coeffs;
    a->begin = 0;
    a->end = t->n;
    a->param = t->param;
    a->grad = descent_step_grad(t);
    for (int k = 0; k < DESCENT_MAX_STATE; k++)
        a->state[k] = k < t->nstate ? t->state[k] : NULL;
    a->isa = opt->isa;
    a->nonfinite = nonfinite;
    a->master = NULL; /* bf16 kernels: set by bf16.c */
    a->bf16_key = 0;
    a->bf16_mode = 0;
}

struct descent_writer; /* bytes.h */
struct descent_reader;

/* How a tensor's state is held: one table per format, chosen when the
 * tensor is registered. Buffer k of tensor t has t->state_n[k] elements. */
typedef struct descent_storage {
    const char *name;
    /* Bytes of memory for one state buffer of n elements. */
    size_t (*buffer_bytes)(size_t n);
    /* Every state buffer at its initial value (registration, descent_reset). */
    void (*init)(const descent_optimizer *opt, descent_tensor *t);
    /* The update of one chunk: the algorithm's f32/f64 kernel over it, with
     * whatever conversion the format needs around it. nonfinite: as in
     * descent_kernel_args. NULL for whole-tensor steps. */
    void (*run)(const descent_optimizer *opt, const descent_chunk *c, int *nonfinite);
    /* Checkpoint image of state buffer k: its size, writing and reading. */
    size_t (*image_bytes)(const descent_tensor *t, int k);
    void (*save)(struct descent_writer *w, const descent_tensor *t, int k);
    void (*load)(struct descent_reader *r, descent_tensor *t, int k);
} descent_storage;

extern const descent_storage descent_storage_f32, descent_storage_f64; /* storage.c */
extern const descent_storage descent_storage_whole_f32, descent_storage_whole_f64; /* storage.c */
extern const descent_storage descent_storage_bf16; /* bf16.c */
extern const descent_storage descent_storage_q8;   /* q8state.c */
/* Shared pieces of the adapters: the algorithm's initial values in f32 or
 * f64 state, and the values as little-endian f32/f64 in checkpoints. */
void descent_storage_init_values(const descent_optimizer *opt, descent_tensor *t);
void descent_storage_save_values(struct descent_writer *w, const descent_tensor *t, int k);
void descent_storage_load_values(struct descent_reader *r, descent_tensor *t, int k);

/* Which features combine (all in storage.c); each returns 0 or fails with
 * the optimizer's message set. A tensor of dtype in group, with the
 * training utilities on (utils_active) or not; turning a training utility
 * named what on; bf16 flags. */
int descent_rules_tensor(const descent_optimizer *opt, int group, descent_dtype dtype, int utils_active);
int descent_rules_utils_on(const descent_optimizer *opt, const char *what);
int descent_rules_bf16_flags(const descent_optimizer *opt, unsigned flags);

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

/* descent_opt_fail: access.h */

/* ---- training utilities (src/utils.c, accumulate.c, decay_mask.c,
 * averages.c, lookahead.c) ------------------------------------------------ */

/* Auxiliary buffers (utils.c): bytes per element of tensor t's buffers;
 * seed buffer kind of t (zeros, or a copy of the parameters); allocate and
 * seed (on) or free (off) buffer kind of every tensor, all or nothing, what
 * naming the feature in an error. */
size_t descent_aux_size(const descent_tensor *t);
void descent_aux_seed(descent_tensor *t, int kind);
int descent_aux_switch(descent_optimizer *opt, int kind, int on, const char *what);
/* DESCENT_ERR_INVALID with a message unless tensor is registered. */
int descent_utils_check_tensor(const descent_optimizer *opt, int tensor);
/* Fold the parameters into average buffer kind (averages.c): EMA with
 * decay, or SWA's running mean over count earlier updates (decay 0); the
 * first update (count 0) copies. */
void descent_average_update(descent_optimizer *opt, int kind, int64_t count, double decay);
/* Lookahead's sync of the slow weights (lookahead.c). */
void descent_lookahead_sync(descent_optimizer *opt);

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
/* Elements [begin, begin + n) of tensor t: sum + g, or with last set the
 * mean (sum + g) / k, into out (accumulate.c). */
void descent_accum_range(const descent_tensor *t, int k, int last, size_t begin, size_t n, void *out);
/* The hyperparameters prepare() sees for a tensor (weight decay masked). */
const descent_hparams *descent_utils_hparams(const descent_optimizer *opt, const descent_tensor *t,
                                             descent_hparams *scratch);
/* Checkpoint section, present (header flag DESCENT_CKPT_FLAG_UTILS) when
 * descent_utils_active(). */
#define DESCENT_CKPT_FLAG_UTILS 1u
int descent_utils_active(const descent_optimizer *opt);
/* Whole-tensor hooks (src/tensor_hooks.c): run algo->tensor_step over every
 * tensor, and describe one tensor as descent_tensor_args. */
void descent_run_tensor_steps(const descent_optimizer *opt);
void descent_tensor_args_of(const descent_optimizer *opt, int tensor, descent_tensor_args *a);

/* ---- schedule hooks (src/schedule/driver.c) ------------------------------
 * The optimizer knows its schedule only through this table, which the
 * schedule stores in opt->schedule_ops when it attaches: the optimizer
 * never calls up into src/schedule/. */
typedef struct descent_schedule_ops {
    /* Release the attached schedule (descent_destroy). */
    void (*free)(descent_optimizer *opt);
    /* Restart the schedule as if newly attached (descent_reset). */
    void (*restart)(descent_optimizer *opt);
    /* The schedule's checkpoint section, as descent_schedule_save/load. */
    size_t (*save)(const descent_optimizer *opt, unsigned char *buf, size_t cap);
    int (*load)(descent_optimizer *opt, const unsigned char *buf, size_t len, int apply, descent_error *err);
} descent_schedule_ops;

/* What a schedule sets (optimizer.c): group g's lr, unchecked (like
 * PyTorch's schedulers, a schedule may take the lr below 0), and its
 * initial_lr (PyTorch's group['initial_lr']). */
void descent_group_set_scheduled_lr(descent_optimizer *opt, int group, double lr);
double descent_group_initial_lr(const descent_optimizer *opt, int group);
void descent_group_set_initial_lr(descent_optimizer *opt, int group, double initial_lr);
/* descent_schedule_save, descent_schedule_load, descent_schedule_spec: access.h */

/* ---- bf16 storage (bf16.c) --------------------------------------------- */

/* bf16 <-> f32: widening is exact; narrowing rounds to nearest even, or
 * stochastically with bits from a hash of key and the element's index
 * (first + i). NaN stays NaN. */
void descent_bf16_widen(float *dst, const uint16_t *src, size_t n);
void descent_bf16_narrow(uint16_t *dst, const float *src, size_t n);
void descent_bf16_narrow_stochastic(uint16_t *dst, const float *src, size_t n, uint64_t key, uint64_t first);
/* 1: run bf16 tensors through kernel_f32 on f32 scratch blocks even where
 * the algorithm has a bf16 kernel (tests compare the two); 0: the default. */
void descent_bf16_force_scratch(descent_optimizer *opt, int on);

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
/* Checkpoint image of one quantized buffer: n code bytes, then the block
 * absmax values as little-endian f32 (descent_q8_image_bytes(n) bytes).
 * descent_q8_get reads it back. */
void descent_q8_put(descent_writer *w, const void *buf, size_t n);
void descent_q8_get(descent_reader *r, void *buf, size_t n);
size_t descent_q8_image_bytes(size_t n);
/* 1 when every block scale of such an image is finite and >= 0. */
int descent_q8_image_ok(const unsigned char *image, size_t n);
/* The 256 codes of the signed ('s') or unsigned ('u') map, ascending. */
const float *descent_q8_map(char kind);
/* One block (len <= DESCENT_Q8_BLOCK) of x to codes and *absmax, and back;
 * isa caps the instruction set, as for kernels. */
void descent_q8_quantize(char kind, const float *x, size_t len, unsigned char *codes, float *absmax, int isa);
void descent_q8_dequantize(char kind, float *x, size_t len, const unsigned char *codes, const float *absmax,
                           int isa);

#endif
