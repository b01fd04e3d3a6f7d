/* Library-internal accessors for the layers above the core (src/models/,
 * src/minimize/, src/mpi/): what they need of an optimizer without its
 * private structure (optimizer.h). Defined in optimizer.c. Not installed. */
#ifndef DESCENT_ACCESS_H
#define DESCENT_ACCESS_H

#include "descent.h"

#include <stddef.h>

/* 1 when the optimizer's evaluation parameters differ from its parameters
 * (schedule-free: descent_eval_params computes x), else 0. */
int descent_has_eval_params(const descent_optimizer *opt);
/* Tensor i's parameter array as registered, and its size in bytes (bf16:
 * 2 per element); NULL and 0 for an i out of range. */
void *descent_tensor_param(const descent_optimizer *opt, int tensor);
size_t descent_tensor_param_bytes(const descent_optimizer *opt, int tensor);
/* Replace group g's hyperparameters by *hp (already validated for this
 * optimizer, with the same state layout) and its initial_lr by hp->lr: a
 * resumed training run whose spec was changed on purpose. */
void descent_group_replace_hparams(descent_optimizer *opt, int group, const descent_hparams *hp);

/* ---- for src/mpi/ (descent_mpi), which reaches the optimizer only here --- */

/* What a registered tensor is: its group, storage type, element count, and
 * the caller's parameter and gradient arrays (the gradient is the caller's,
 * which an all-reduce may overwrite in place). */
typedef struct descent_tensor_view {
    int group;
    descent_dtype dtype;
    size_t n;
    void *param;
    void *grad;
} descent_tensor_view;
/* 0 and *v filled, or DESCENT_ERR_INVALID for a tensor out of range. */
int descent_tensor_view_of(const descent_optimizer *opt, int tensor, descent_tensor_view *v);
/* The optimizer's constructor hyperparameters (PyTorch's `defaults`). */
void descent_default_hparams(const descent_optimizer *opt, descent_hparams *hp);
/* The allocator the optimizer was created with (never NULL). */
const descent_allocator *descent_optimizer_allocator(const descent_optimizer *opt);
/* 1 when the algorithm steps whole tensors (norms, row and column means:
 * LAMB, Adafactor, ...), 0 when its update is element-wise. */
int descent_steps_whole_tensors(const descent_optimizer *opt);
/* 1 when group's hyperparameters (group < 0: the defaults) ask for 8-bit
 * state. */
int descent_group_wants_q8(const descent_optimizer *opt, int group);
/* Copy group g's hyperparameters, initial_lr and counters from src (same
 * algorithm and group count) to dst: a resharded checkpoint's groups. */
void descent_group_copy(descent_optimizer *dst, const descent_optimizer *src, int group);
/* Copy tensor src_tensor's per-tensor scalars (step count, ASGD's eta and
 * mu, NAdam's mu_product, ...) of src to dst_tensor of dst. */
void descent_tensor_copy_scalars(descent_optimizer *dst, int dst_tensor, const descent_optimizer *src,
                                 int src_tensor);
/* Set the optimizer's message (descent_errmsg) and return status. */
int descent_opt_fail(const descent_optimizer *opt, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Write the schedule's section of a checkpoint into buf; returns its size
 * (with buf = NULL or cap too small, only the size). 0: no schedule. */
size_t descent_schedule_save(const descent_optimizer *opt, unsigned char *buf, size_t cap);
/* Check (apply = 0) or load (apply = 1, only after a successful check) a
 * checkpoint's schedule section; it must match the attached schedule. */
int descent_schedule_load(descent_optimizer *opt, const unsigned char *buf, size_t len, int apply,
                          descent_error *err);
/* The attached schedule's canonical spec (every argument), or NULL. */
const char *descent_schedule_spec(const descent_optimizer *opt);

#endif
