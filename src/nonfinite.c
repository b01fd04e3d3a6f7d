/* Non-finite gradient detection for the SKIP, ERROR and REPORT policies.
 *
 * A value x is finite iff |x| <= MAX (the comparison is false for NaN);
 * bf16 values are non-finite iff their exponent bits are all ones. Each
 * chunk is tested as an OR of comparison results over four interleaved
 * quarters of the chunk: branch-free, so the compiler vectorizes it (a
 * floating-point sum it may not reorder would not), and four read streams
 * instead of one, which one core reads about a fifth faster (11 -> 13-14
 * GB/s on the machine of docs/performance.md). The test is compiled for
 * AVX-512, AVX2 and the baseline through DESCENT_DISPATCH like the kernels.
 *
 * Where the verdict comes from (docs/reliability.md):
 *  - SKIP and ERROR must change nothing when any value is non-finite, so
 *    the verdict has to be known before the first write: a pass over every
 *    gradient before the step (first_nonfinite_chunk), unless
 *  - a clipping call (src/clip.c) that read every gradient since the last
 *    step found them all finite and recorded it (opt->grads_finite, as
 *    torch.cuda.amp.GradScaler.unscale_ records found_inf for step()); the
 *    record is cleared by every step, by descent_set_tensor_data,
 *    descent_add_tensor* and descent_grads_changed.
 *  - REPORT steps as PROPAGATE does and tests each chunk's gradients right
 *    after its kernel ran, while they are still in cache; the step then
 *    returns DESCENT_STEP_NONFINITE naming the first non-finite value. */
#include "internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* One range [begin, end) of a gradient: *(int *)args->state[0] |= 1 if any
 * value is non-finite (the kernel-argument block carries the result so
 * DESCENT_DISPATCH can be reused). */
#define NONFINITE_BODY(NAME, T, NOT_FINITE)                                                   \
    DESCENT_INLINE void NAME(const descent_kernel_args *a)                                    \
    {                                                                                         \
        const T *g = (const T *)a->grad + a->begin;                                           \
        size_t n = a->end - a->begin, q = n / 4;                                              \
        const T *g0 = g, *g1 = g + q, *g2 = g + 2 * q, *g3 = g + 3 * q;                       \
        int b0 = 0, b1 = 0, b2 = 0, b3 = 0;                                                   \
        for (size_t i = 0; i < q; i++) {                                                      \
            b0 |= NOT_FINITE(g0[i]);                                                          \
            b1 |= NOT_FINITE(g1[i]);                                                          \
            b2 |= NOT_FINITE(g2[i]);                                                          \
            b3 |= NOT_FINITE(g3[i]);                                                          \
        }                                                                                     \
        for (size_t i = 4 * q; i < n; i++)                                                    \
            b0 |= NOT_FINITE(g[i]);                                                           \
        *(int *)a->state[0] |= b0 | b1 | b2 | b3;                                             \
    }

#define F32_NOT_FINITE(x) (!(fabsf(x) <= FLT_MAX))
#define F64_NOT_FINITE(x) (!(fabs(x) <= DBL_MAX))
#define BF16_NOT_FINITE(x) (((x) & 0x7F80u) == 0x7F80u)

NONFINITE_BODY(nonfinite_f32_body, float, F32_NOT_FINITE)
NONFINITE_BODY(nonfinite_f64_body, double, F64_NOT_FINITE)
NONFINITE_BODY(nonfinite_bf16_body, uint16_t, BF16_NOT_FINITE)
DESCENT_DISPATCH(nonfinite_f32, nonfinite_f32_body)
DESCENT_DISPATCH(nonfinite_f64, nonfinite_f64_body)
DESCENT_DISPATCH(nonfinite_bf16, nonfinite_bf16_body)

/* step_grad: the gradient the step's kernels read (under gradient
 * accumulation, the mean of the micro-batches: utils.c); otherwise the
 * caller's gradient as registered, which the check before a step reads. */
static int range_nonfinite(const descent_optimizer *opt, const descent_tensor *t, size_t begin, size_t end,
                           int step_grad)
{
    int bad = 0;
    descent_kernel_args a;
    memset(&a, 0, sizeof a);
    a.begin = begin;
    a.end = end;
    a.grad = step_grad ? descent_utils_grad(t) : t->grad;
    a.state[0] = &bad;
    a.isa = opt->isa;
    if (t->dtype == DESCENT_F64)
        nonfinite_f64(&a);
    else if (t->dtype == DESCENT_BF16)
        nonfinite_bf16(&a);
    else
        nonfinite_f32(&a);
    return bad;
}

static int chunk_nonfinite(const descent_optimizer *opt, int chunk, int step_grad)
{
    const descent_chunk *ch = &opt->chunks[chunk];
    return range_nonfinite(opt, &opt->tensors[ch->tensor], ch->begin, ch->end, step_grad);
}

int descent_chunk_nonfinite(const descent_optimizer *opt, int chunk) { return chunk_nonfinite(opt, chunk, 1); }

/* The first non-finite element of a chunk known to hold one. */
static void locate(const descent_optimizer *opt, int chunk, int step_grad, int *tensor, size_t *index)
{
    const descent_chunk *ch = &opt->chunks[chunk];
    const descent_tensor *t = &opt->tensors[ch->tensor];
    size_t i = ch->begin;
    while (i + 1 < ch->end && !range_nonfinite(opt, t, i, i + 1, step_grad))
        i++;
    *tensor = ch->tensor;
    *index = i;
}

/* The first chunk holding a non-finite gradient value, or -1: every chunk
 * is read (threaded as the step is), before anything is written. */
static int first_nonfinite_chunk(const descent_optimizer *opt)
{
    int nchunks = opt->nchunks;
#ifdef _OPENMP
    if (opt->threads > 1 && nchunks > 1) {
        int found = nchunks;
#pragma omp parallel for num_threads(opt->threads) schedule(static) reduction(min : found)
        for (int c = 0; c < nchunks; c++)
            if (c < found && chunk_nonfinite(opt, c, 0))
                found = c;
        return found < nchunks ? found : -1;
    }
#endif
    for (int c = 0; c < nchunks; c++)
        if (chunk_nonfinite(opt, c, 0))
            return c;
    return -1;
}

static int nonfinite_fail(descent_optimizer *opt, int status, int chunk, const char *outcome)
{
    int bad_tensor;
    size_t bad_index;
    /* REPORT looks at the gradient the step used; the others, before it. */
    locate(opt, chunk, status == DESCENT_STEP_NONFINITE, &bad_tensor, &bad_index);
    descent_opt_fail(opt, status, "non-finite gradient in tensor %d (group %d) at element %zu; step %s", bad_tensor,
                     opt->tensors[bad_tensor].group, bad_index, outcome);
    return status;
}

int descent_nonfinite_before_step(descent_optimizer *opt, int *check_chunks)
{
    int known_finite = opt->grads_finite;
    opt->grads_finite = 0; /* a verdict serves one step */
    *check_chunks = opt->nonfinite_policy == DESCENT_NONFINITE_REPORT && !known_finite;
    if ((opt->nonfinite_policy != DESCENT_NONFINITE_SKIP && opt->nonfinite_policy != DESCENT_NONFINITE_ERROR) ||
        known_finite)
        return 0;
    int chunk = first_nonfinite_chunk(opt);
    if (chunk < 0)
        return 0;
    if (opt->nonfinite_policy == DESCENT_NONFINITE_SKIP) {
        opt->skipped_steps++;
        return nonfinite_fail(opt, DESCENT_STEP_SKIPPED, chunk, "skipped");
    }
    return nonfinite_fail(opt, DESCENT_ERR_NONFINITE, chunk, "not taken");
}

int descent_nonfinite_after_step(descent_optimizer *opt, int first_bad_chunk)
{
    if (first_bad_chunk < 0 || first_bad_chunk >= opt->nchunks)
        return 0;
    return nonfinite_fail(opt, DESCENT_STEP_NONFINITE, first_bad_chunk, "taken (policy REPORT)");
}

void descent_grads_checked(descent_optimizer *opt, int all_finite) { opt->grads_finite = all_finite != 0; }

int descent_grads_changed(descent_optimizer *opt)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    opt->grads_finite = 0;
    return 0;
}

int descent_set_nonfinite_policy(descent_optimizer *opt, int policy)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (policy < DESCENT_NONFINITE_PROPAGATE || policy > DESCENT_NONFINITE_REPORT)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID,
                                "nonfinite policy must be PROPAGATE (0), SKIP (1), ERROR (2) or REPORT (3), got %d",
                                policy);
    opt->nonfinite_policy = policy;
    return 0;
}

int64_t descent_skipped_steps(const descent_optimizer *opt) { return opt ? opt->skipped_steps : 0; }
