/* Everything internal, for files that use all of it: the headers by concern.
 *   common.h     messages, memory, sized structs, norms, checksums
 *   kernels.h    kernel arguments, SIMD dispatch, non-finite test, prefetch
 *   algo.h       the algorithm table and hyperparameter descriptors
 *   spec.h       the spec-string parser
 *   formats.h    byte streams, checkpoint frame, atomic files
 *   core.h       the optimizer's private structure
 *   optimizer.h  the step's modules
 * Not installed. */
#ifndef DESCENT_INTERNAL_H
#define DESCENT_INTERNAL_H

#include "common.h"
#include "kernels.h"
#include "algo.h"
#include "spec.h"
#include "formats.h"
#include "optimizer.h"

#endif
