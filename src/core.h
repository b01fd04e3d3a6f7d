/* The optimizer's private structure: struct descent_optimizer, its groups,
 * tensors and chunks, the kernel arguments built from them, and the table
 * of a storage adapter. The files that create and configure an optimizer
 * (optimizer.c), step it (step.c, the adapters) and read it (clip.c,
 * passes.c, ...) all depend on these definitions and on nothing of each
 * other's here. Not installed. */
#ifndef DESCENT_CORE_H
#define DESCENT_CORE_H

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

/* Elements per quantization block: one absmax scale each. Divides the
 * step's chunk size, so blocks never straddle threads. */
#define DESCENT_Q8_BLOCK 2048

#endif
