/* Non-finite gradient detection for the SKIP and ERROR policies: x is
 * finite iff -MAX <= x <= MAX (both comparisons are false for NaN); the test
 * is an OR-reduction of comparison results, branch-free, which the compiler
 * vectorizes (a floating-point sum it may not reorder would not). bf16
 * values are non-finite iff their exponent bits are all ones. */
#include "internal.h"

#include <float.h>
#include <string.h>

static int chunk_nonfinite(const descent_tensor *t, size_t begin, size_t end)
{
    int bad = 0;
    if (t->dtype == DESCENT_F64) {
        const double *g = t->grad;
        for (size_t i = begin; i < end; i++)
            bad |= !((g[i] >= -DBL_MAX) & (g[i] <= DBL_MAX));
    } else if (t->dtype == DESCENT_BF16) {
        const uint16_t *g = t->grad;
        for (size_t i = begin; i < end; i++)
            bad |= (g[i] & 0x7F80u) == 0x7F80u;
    } else {
        const float *g = t->grad;
        for (size_t i = begin; i < end; i++)
            bad |= !((g[i] >= -FLT_MAX) & (g[i] <= FLT_MAX));
    }
    return bad;
}

static int element_nonfinite(const descent_tensor *t, size_t i) { return chunk_nonfinite(t, i, i + 1); }

int descent_find_nonfinite(const descent_optimizer *opt, int *tensor, size_t *index)
{
    int nchunks = opt->nchunks, first = -1;
#ifdef _OPENMP
    if (opt->threads > 1 && nchunks > 1) {
        int found = nchunks;
#pragma omp parallel for num_threads(opt->threads) schedule(static) reduction(min : found)
        for (int c = 0; c < nchunks; c++) {
            const descent_chunk *ch = &opt->chunks[c];
            if (c < found && chunk_nonfinite(&opt->tensors[ch->tensor], ch->begin, ch->end))
                found = c;
        }
        first = found < nchunks ? found : -1;
    } else
#endif
    {
        for (int c = 0; c < nchunks && first < 0; c++) {
            const descent_chunk *ch = &opt->chunks[c];
            if (chunk_nonfinite(&opt->tensors[ch->tensor], ch->begin, ch->end))
                first = c;
        }
    }
    if (first < 0)
        return 0;
    const descent_chunk *ch = &opt->chunks[first];
    const descent_tensor *t = &opt->tensors[ch->tensor];
    size_t i = ch->begin;
    while (i < ch->end && !element_nonfinite(t, i))
        i++;
    *tensor = ch->tensor;
    *index = i;
    return 1;
}

int descent_set_nonfinite_policy(descent_optimizer *opt, int policy)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (policy < DESCENT_NONFINITE_PROPAGATE || policy > DESCENT_NONFINITE_ERROR)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID,
                                "nonfinite policy must be PROPAGATE (0), SKIP (1) or ERROR (2), got %d", policy);
    opt->nonfinite_policy = policy;
    return 0;
}

int64_t descent_skipped_steps(const descent_optimizer *opt) { return opt ? opt->skipped_steps : 0; }
