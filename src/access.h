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

#endif
