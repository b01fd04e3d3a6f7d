/* Internal pieces of the models module: the random generator and the
 * matrix product. */
#ifndef DESCENT_MODELS_H
#define DESCENT_MODELS_H

#include "../access.h"
#include "../common.h"
#include "../formats.h"
#include "../kernels.h"
#include "../rng.h"
#include "../spec.h"



/* C = op(A) op(B) + beta C, row-major; op(A) is M x K, op(B) is K x N.
 * ta: A is stored K x M; tb: B is stored N x K. use_blas selects CBLAS
 * (ignored when the build has none). */
void descent_gemm_f64(bool use_blas, bool ta, bool tb, size_t M, size_t N, size_t K, const double *A, size_t lda,
                      const double *B, size_t ldb, double beta, double *C, size_t ldc);
void descent_gemm_f32(bool use_blas, bool ta, bool tb, size_t M, size_t N, size_t K, const float *A, size_t lda,
                      const float *B, size_t ldb, float beta, float *C, size_t ldc);

/* Training utilities for the trainer (train_utils.c): validate the
 * config's fields, set them on the optimizer. */
int descent_train_check_utilities(const descent_train_config *c, descent_error *err);
int descent_train_apply_utilities(const descent_train_config *c, descent_optimizer *opt);

/* The schedule spec with the length arguments the user omitted fitted to
 * the run (fit_schedule.c): *out is malloc'd. */
int descent_train_fit_schedule(const char *spec, int64_t epochs, int64_t updates_per_epoch, int64_t updates,
                               char **out, descent_error *err);

#endif
