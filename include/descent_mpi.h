/*
 * descent_mpi.h — data-parallel training and sharded optimizer state over MPI.
 *
 * An optional part of descent, built as the library `descent_mpi` when CMake
 * finds an MPI implementation (Debian: libopenmpi-dev, openmpi-bin). Link
 * with descent_mpi and descent; include this header after or instead of
 * descent.h. docs/distributed.md explains the design, the communication
 * volume and how to run on a cluster.
 *
 * Two ways to train one model on R ranks, each rank computing the gradient
 * of its own part of every mini-batch:
 *
 *  1. Replicated state (plain data parallelism, what PyTorch's DDP does):
 *     every rank holds a full descent_optimizer; after the backward pass
 *
 *         descent_mpi_allreduce_grads(opt, MPI_COMM_WORLD);
 *         descent_step(opt);
 *
 *     averages the gradients and every rank takes the same step.
 *
 *  2. Sharded state (ZeRO stage 1/2, Rajbhandari et al. 2020): every rank
 *     registers the full parameters and gradients, but owns only 1/R of the
 *     optimizer state:
 *
 *         descent_mpi_sharded *s;
 *         descent_mpi_sharded_create(&s, "AdamW(lr=3e-4)", MPI_COMM_WORLD, NULL, &err);
 *         int g = descent_mpi_sharded_add_group(s, NULL);
 *         descent_mpi_sharded_add_tensor(s, g, w, dw, n, DESCENT_F32);
 *         ...                                  more tensors, same on every rank
 *         descent_mpi_sharded_commit(s);       allocates this rank's shard
 *         for (...) { compute dw; descent_mpi_sharded_step(s); }
 *         descent_mpi_sharded_destroy(s);
 *
 *     A step reduce-scatters the gradients (each rank receives the sum over
 *     ranks of its shard, divided by R), updates its shard of the
 *     parameters with the optimizer, and all-gathers the parameters so that
 *     every rank again holds all of them. The communication volume equals
 *     one all-reduce; state memory per rank is 1/R of the replicated figure.
 *
 * Conventions are descent.h's: negative descent_status on error, a message
 * naming the bad value, no printing, no aborting. Calls marked "collective"
 * must be made by every rank of the communicator, in the same order, with
 * the same arguments where the text says so; their status is agreed among
 * the ranks (every rank returns an error if any rank failed).
 *
 * Limits: a tensor used with the sharded API, and every per-rank piece of
 * it, must have at most INT_MAX elements (MPI-3 counts are int).
 */
#ifndef DESCENT_MPI_H
#define DESCENT_MPI_H

#include <mpi.h>

#include "descent.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Replicated state: gradient averaging                                      */

/* Collective. Replace the gradient of every tensor registered in opt by its
 * mean over the ranks of comm: MPI_Allreduce (MPI_SUM, in place) then
 * division by R, as DDP does. Every rank must have registered the same
 * tensors (count, sizes, dtypes, in the same order).
 *
 * The optimizer keeps each gradient as a const pointer to the caller's
 * buffer; this call writes the mean INTO THOSE CALLER BUFFERS. A buffer
 * registered for two tensors is averaged twice — register distinct ones.
 *
 * Every rank then steps on identical gradients. The parameters stay
 * identical on all ranks as long as MPI returns the same sum to every rank,
 * which Open MPI and MPICH do for their built-in reductions (the MPI
 * standard only advises it); the sharded API does not depend on it.
 * f32 and f64 tensors only (DESCENT_ERR_INVALID otherwise). */
int descent_mpi_allreduce_grads(descent_optimizer *opt, MPI_Comm comm);

/* Collective. The weighted mean: grad := (sum over ranks of weight_r grad_r)
 * / (sum over ranks of weight_r), in place as above. For batches split
 * unevenly: a rank whose gradient is the mean over its b_r rows passes
 * weight = b_r, and every rank ends with the mean over all rows. A rank
 * with no rows passes 0 and must have a finite gradient (zero). The weights
 * must be finite, >= 0 and not all zero. f32 and f64 tensors only. */
int descent_mpi_allreduce_grads_weighted(descent_optimizer *opt, MPI_Comm comm, double weight);

/* ------------------------------------------------------------------------ */
/* Sharded state                                                             */

typedef struct descent_mpi_sharded descent_mpi_sharded;

/* Collective. Create a sharded optimizer over comm (duplicated internally,
 * so its messages never mix with the caller's). spec names an optimizer of
 * this library and its default hyperparameters, as descent_create_from_spec.
 *
 * Only optimizers are accepted: their update is elementwise (each element's
 * new value and state depend on that element alone, given per-step scalars),
 * so a rank can update any contiguous range of the parameters by itself.
 * Minimizer methods (descent_minimizer specs such as "NAG(...)", L-BFGS,
 * population methods) keep state that couples all variables and are refused
 * with DESCENT_ERR_INVALID and a message saying so. */
int descent_mpi_sharded_create(descent_mpi_sharded **out, const char *spec, MPI_Comm comm,
                               const descent_allocator *alloc, descent_error *err);

/* Release everything, including the duplicated communicator. Collective
 * (MPI_Comm_free). NULL is ignored. */
void descent_mpi_sharded_destroy(descent_mpi_sharded *s);

/* The message of the last failed call on this handle ("" if none). */
const char *descent_mpi_sharded_errmsg(const descent_mpi_sharded *s);

/* Add a parameter group (NULL: the defaults of the spec), as
 * descent_add_group; the same on every rank. Returns the group index. */
int descent_mpi_sharded_add_group(descent_mpi_sharded *s, const descent_hparams *hp);

/* Add a group given as keyword overrides, "lr=0.1, weight_decay=0". */
int descent_mpi_sharded_add_group_spec(descent_mpi_sharded *s, const char *overrides);

/* Register a FULL parameter tensor and its FULL gradient (n elements each),
 * as descent_add_tensor; every rank registers the same tensors in the same
 * order, before commit. The handle keeps both pointers: a step reads grad
 * (never writes it) and rewrites all of param. Returns the tensor index. */
int descent_mpi_sharded_add_tensor(descent_mpi_sharded *s, int group, void *param, const void *grad, size_t n,
                                   descent_dtype dtype);

/* Collective. Fix the layout and allocate this rank's shard. Within each
 * group, the tensors of one dtype are taken as one flattened vector of N
 * elements in registration order (f32 then f64); rank r owns its elements
 * [floor(r N / R), floor((r+1) N / R)). The library allocates optimizer
 * state for those elements only, a gradient buffer of the same size, and
 * a staging buffer (at most 2^18 elements) through which runs of small
 * tensors are communicated together.
 * Checks that every rank registered the same tensors. After commit no
 * tensor can be added; groups' hyperparameters may still change. */
int descent_mpi_sharded_commit(descent_mpi_sharded *s);

/* Collective. One step: reduce-scatter the gradients into this rank's shard
 * (MPI_Reduce_scatter, MPI_SUM, then division by R), update the shard of
 * the parameters with the optimizer, all-gather the parameters in place
 * (MPI_Allgatherv). Afterwards every rank holds the same parameters.
 *
 * Result: the single-process step on the mean gradient, element for
 * element, when the sum over ranks is the same number in both — exactly so
 * when the partial gradients add without rounding. Otherwise the two differ
 * by the rounding of a differently ordered sum: MPI may add the R
 * contributions in any order (and the order may depend on message size),
 * so the mean can differ by a few units in the last place from a sequential
 * sum, and the step inherits that difference, no more. */
int descent_mpi_sharded_step(descent_mpi_sharded *s);

/* Clip the mean gradient by its norm in every step, after the
 * reduce-scatter and before the update, exactly as descent_clip_grad_norm
 * (torch.nn.utils.clip_grad_norm_) would on the full mean gradient: the
 * p-norm of the per-tensor p-norms, each tensor's |g|^p summed in double
 * over each rank's piece in descent_clip_grad_norm's fixed order (the same
 * bits for any thread count), the R sums gathered (one MPI_Allgather of
 * one double per tensor) and added in rank order on every rank; when
 * max_norm / (norm + 1e-6) < 1 every element is scaled by it. norm_type is
 * p >= 1 or INFINITY; max_norm = INFINITY turns clipping off (the
 * default). The same bits on every rank; with one rank, the bits of
 * descent_clip_grad_norm; with more, a tensor's sum is split at the shard
 * edges, so the norm can differ from descent_clip_grad_norm's in the last
 * bits unless the sums are exact. With clipping on, a step whose norm is
 * not finite changes nothing on any rank (parameters, state, step count)
 * and returns DESCENT_ERR_NONFINITE; the handle stays usable. */
int descent_mpi_sharded_set_clip_grad_norm(descent_mpi_sharded *s, double max_norm, double norm_type);

/* The norm before clipping of the last step's mean gradient (NAN when
 * clipping is off or no step was taken). */
double descent_mpi_sharded_grad_norm(const descent_mpi_sharded *s);

/* Steps taken (restored by load). */
int64_t descent_mpi_sharded_step_count(const descent_mpi_sharded *s);

/* Bytes of optimizer state this rank holds (descent_state_bytes of its
 * shard optimizer): 1/R of the replicated figure when R divides every
 * group's element count per dtype, within one element per buffer otherwise. */
size_t descent_mpi_sharded_state_bytes(const descent_mpi_sharded *s);

/* The shard optimizer, whose tensors are this rank's pieces of the
 * registered tensors. Use it to read or set hyperparameters (descent_set,
 * descent_set_lr), attach a schedule (descent_set_schedule, then
 * descent_schedule_step after each sharded step, with the same metric on
 * every rank) or set threads. Do not register tensors on it or step it. */
descent_optimizer *descent_mpi_sharded_optimizer(descent_mpi_sharded *s);

/* This rank's range [*begin, *end) of the flattened (group, dtype) vector
 * of *total elements (any pointer may be NULL). After commit. */
int descent_mpi_sharded_shard(const descent_mpi_sharded *s, int group, descent_dtype dtype, size_t *begin,
                              size_t *end, size_t *total);

/* Collective. Rank r writes "<prefix>.rank<r>of<R>": a header (rank, R,
 * step count, the registered tensors' groups, dtypes and sizes, this rank's
 * range of every group's vector) and the descent_save_mem image of its
 * shard optimizer (hyperparameters, shard state, schedule), with checksums;
 * each file is written to a temporary name and renamed. Parameters are not
 * included: save them as you would for descent_save. */
int descent_mpi_sharded_save(const descent_mpi_sharded *s, const char *prefix);

/* Collective. Load the files written by descent_mpi_sharded_save into a
 * committed handle with the same tensors and groups (and the same schedule
 * attached). With the same number of ranks each rank reads its own file and
 * training continues exactly. With a different number of ranks R', each
 * rank reads the files of the old ranks whose ranges overlap its new range
 * and takes its elements from them (re-sharding); the result is the same
 * state, distributed differently. Every file is checked (magic, checksums,
 * layout) before the state changes. */
int descent_mpi_sharded_load(descent_mpi_sharded *s, const char *prefix);

#ifdef __cplusplus
}
#endif

#endif
