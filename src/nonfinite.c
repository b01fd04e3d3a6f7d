/* Non-finite gradient detection for the SKIP, ERROR and REPORT policies.
 *
 * A value is non-finite iff its exponent bits are all ones (IEEE 754
 * binary32/64 and bf16 alike). Each range is tested over four interleaved
 * quarters: branch-free, so the compiler vectorizes it, and four read
 * streams instead of one, which one core reads from memory about a fifth
 * faster (11 -> 13-14 GB/s on the machine of docs/performance.md). The
 * test is compiled for AVX-512, AVX2 and the baseline through
 * DESCENT_DISPATCH like the kernels.
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
 *  - REPORT steps as PROPAGATE does, and the kernels test the gradient
 *    values in their own loops (DESCENT_NF_TEST, internal.h); whole-tensor
 *    steps (LAMB, Adafactor) are tested here after the step, chunk by
 *    chunk. The step then returns DESCENT_STEP_NONFINITE naming the first
 *    non-finite value, which locate() finds in the failing chunk. */
#include "internal.h"

#include <string.h>

/* One range [begin, end) of a gradient: *(int *)args->state[0] |= 1 if any
 * value is non-finite (the kernel-argument block carries the result so
 * DESCENT_DISPATCH can be reused). The test is the kernels' own
 * (descent_nf_bits_*, internal.h): a running maximum of magnitude bits. */
#define NONFINITE_BODY(NAME, T, SFX)                                                          \
    DESCENT_INLINE void NAME(const descent_kernel_args *a)                                    \
    {                                                                                         \
        const T *g = (const T *)a->grad + a->begin;                                           \
        size_t n = a->end - a->begin, q = n / 4;                                              \
        const T *g0 = g, *g1 = g + q, *g2 = g + 2 * q, *g3 = g + 3 * q;                       \
        descent_nf_##SFX m0 = 0, m1 = 0, m2 = 0, m3 = 0;                                      \
        for (size_t i = 0; i < q; i++) {                                                      \
            descent_nf_##SFX x0 = descent_nf_bits_##SFX(g0[i]), x1 = descent_nf_bits_##SFX(g1[i]); \
            descent_nf_##SFX x2 = descent_nf_bits_##SFX(g2[i]), x3 = descent_nf_bits_##SFX(g3[i]); \
            m0 = x0 > m0 ? x0 : m0;                                                           \
            m1 = x1 > m1 ? x1 : m1;                                                           \
            m2 = x2 > m2 ? x2 : m2;                                                           \
            m3 = x3 > m3 ? x3 : m3;                                                           \
        }                                                                                     \
        for (size_t i = 4 * q; i < n; i++) {                                                  \
            descent_nf_##SFX x = descent_nf_bits_##SFX(g[i]);                                 \
            m0 = x > m0 ? x : m0;                                                             \
        }                                                                                     \
        const descent_nf_##SFX inf = DESCENT_NF_INF_##SFX;                                    \
        *(int *)a->state[0] |= m0 >= inf || m1 >= inf || m2 >= inf || m3 >= inf;              \
    }

NONFINITE_BODY(nonfinite_f32_body, float, f32)
NONFINITE_BODY(nonfinite_f64_body, double, f64)
NONFINITE_BODY(nonfinite_bf16_body, uint16_t, bf16)
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
    a.grad = step_grad ? descent_step_grad(t) : t->grad;
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
