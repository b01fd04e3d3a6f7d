/* The modules around the step (their structures are in core.h): the
 * storage adapters' shared pieces, non-finite checks, training utilities,
 * schedule hooks, bf16, the arena, 8-bit state. Only the core files
 * directly under src/ and src/schedule/ include it; src/models/ and
 * src/mpi/ use public or library-internal accessors instead. Not
 * installed. */
#ifndef DESCENT_OPTIMIZER_H
#define DESCENT_OPTIMIZER_H

#include "algo.h"
#include "formats.h"
#include "spec.h"
#include "access.h"

#include "core.h"

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
