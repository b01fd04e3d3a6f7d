/* descent_step: the step pipeline. A step is six stages, in this order:
 *
 *   1. gate           the non-finite check that must come before any write
 *                     (policies SKIP and ERROR; nonfinite.c)
 *   2. gradient       where the update reads its gradient: the caller's, or
 *                     the mean of the accumulated micro-batches (utils.c)
 *   3. coefficients   the algorithm's per-step scalars, once per tensor
 *                     (descent_algo.prepare)
 *   4. update         the kernels over chunks, each chunk run by its tensor's
 *                     storage adapter (storage.c, bf16.c, q8state.c), or the
 *                     algorithm's whole-tensor step
 *   5. verdict        under policy REPORT, the first non-finite gradient the
 *                     update read (nonfinite.c)
 *   6. after the step clear the accumulated sum, Lookahead's sync, the EMA
 *                     (utils.c)
 *
 * Stages 1 and 2 may end the step early (skipped, refused, or only
 * accumulated); the step still leaves through its one return. Nothing here
 * knows an update rule or a storage format. */
#include "internal.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Under the default prefetch setting, a step prefetches only when the bytes
 * it moves (parameters, gradients and state) reach this: below it they come
 * from the caches, where the extra calls and prefetch instructions only cost
 * (AdamW on 32768 parameters, in L2: 1.73 G params/s without prefetch,
 * 1.22 with; `descent bench --n 32768 --prefetch off|default`). On the
 * machine of docs/performance.md the gain starts between 28 and 56 MB. */
#define PF_MIN_STEP_BYTES ((size_t)32 << 20)

/* Below this many elements in all, a step runs on the calling thread: waking
 * a team costs more than the work it would share. */
#define PARALLEL_MIN_ELEMS ((size_t)1 << 17)

/* Stage 3. prepare() is a function of the group's hyperparameters and the
 * tensor's scalars alone, so a tensor whose group and scalars equal its
 * predecessor's before the step (the common case: tensors step together)
 * shares the predecessor's results instead of recomputing its powers.
 * Returns the elements of all tensors; *step_bytes: the bytes the update
 * moves (parameters, gradients and state). */
static size_t prepare_coefficients(descent_optimizer *opt, size_t *step_bytes)
{
    size_t total = 0, bytes = 0;
    const descent_tensor *prev = NULL;
    descent_tensor_scalars prev_before;
    memset(&prev_before, 0, sizeof prev_before);
    for (int i = 0; i < opt->ntensors; i++) {
        descent_tensor *t = &opt->tensors[i];
        total += t->n;
        bytes += t->n * (t->dtype == DESCENT_F64 ? 8u : 4u) * (size_t)(2 + t->nstate);
        if (prev && t->group == prev->group && t->no_decay == prev->no_decay && t->scalars.step == prev_before.step &&
            memcmp(&t->scalars, &prev_before, sizeof prev_before) == 0) {
            t->scalars = prev->scalars;
            t->coeffs = prev->coeffs; /* shared, not copied: read-only in the kernels */
            continue;
        }
        prev_before = t->scalars;
        t->coeffs = t->coeffs_buf;
        descent_hparams masked;
        opt->algo->prepare(descent_utils_hparams(opt, t, &masked), &t->scalars, t->coeffs);
        prev = t;
    }
    *step_bytes = bytes;
    return total;
}

/* Run chunk c through its tensor's storage adapter; under policy REPORT
 * (check set) its kernel also tests the gradient, unless an earlier chunk
 * already failed. Returns the first failing chunk seen so far. */
static int run_chunk_checked(const descent_optimizer *opt, int c, int check, int first_bad)
{
    int bad = 0;
    const descent_chunk *ch = &opt->chunks[c];
    opt->tensors[ch->tensor].storage->run(opt, ch, check && c < first_bad ? &bad : NULL);
    return bad ? c : first_bad;
}

/* Stage 4, element-wise algorithms: every chunk, threaded over chunks.
 * Returns the first chunk whose gradient the kernels found non-finite
 * (nchunks: none, or not asked). */
static int update_chunks(const descent_optimizer *opt, size_t total, int check)
{
    int nchunks = opt->nchunks, first_bad = nchunks;
#ifdef _OPENMP
    if (opt->threads > 1 && nchunks > 1 && total >= PARALLEL_MIN_ELEMS) {
        int threads = opt->threads < nchunks ? opt->threads : nchunks;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(min : first_bad)
        for (int c = 0; c < nchunks; c++)
            first_bad = run_chunk_checked(opt, c, check, first_bad);
        return first_bad;
    }
#else
    (void)total;
#endif
    for (int c = 0; c < nchunks; c++)
        first_bad = run_chunk_checked(opt, c, check, first_bad);
    return first_bad;
}

/* Stage 4, whole-tensor algorithms (LAMB, Adafactor): their kernels do not
 * test the gradient, so under REPORT the chunks are tested after the step,
 * before stage 6 clears an accumulated sum. */
static int update_tensors(const descent_optimizer *opt, int check)
{
    int nchunks = opt->nchunks, first_bad = nchunks;
    descent_run_tensor_steps(opt);
    for (int c = 0; check && c < nchunks && first_bad == nchunks; c++)
        if (descent_chunk_nonfinite(opt, c))
            first_bad = c;
    return first_bad;
}

int descent_step(descent_optimizer *opt)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    int check; /* policy REPORT without a clipping call's verdict: test in the update */
    int rc = descent_nonfinite_before_step(opt, &check);   /* 1. gate */
    if (rc == 0)
        rc = descent_utils_before_step(opt);               /* 2. gradient */
    if (rc == 0) {
        size_t step_bytes, total = prepare_coefficients(opt, &step_bytes); /* 3. coefficients */
        opt->prefetch_step = opt->prefetch > 0 || (opt->prefetch == 0 && step_bytes >= PF_MIN_STEP_BYTES);
        int first_bad = opt->algo->tensor_step ? update_tensors(opt, check)       /* 4. update */
                                               : update_chunks(opt, total, check);
        rc = descent_nonfinite_after_step(opt, first_bad);  /* 5. verdict */
        descent_utils_after_step(opt);                      /* 6. after the step */
    }
    return rc;
}
