/* descent_step: the step pipeline. A step is six stages, in this order,
 * after stage 0 under descent_set_step_clip (clip.c: one read of the
 * gradients for the verdict and the norm of the unscaled values):
 *
 *   1. gate           the non-finite check that must come before any write
 *                     (policies SKIP and ERROR; nonfinite.c)
 *   2. gradient       where the update reads its gradient: the caller's, or
 *                     the mean of the accumulated micro-batches (utils.c)
 *   3. coefficients   the algorithm's per-step scalars, once per tensor
 *                     (descent_algo.prepare)
 *   4. update         the kernels over chunks, each chunk run by its tensor's
 *                     storage adapter (storage.c, bf16.c, q8state.c), or by
 *                     run_fused below when the step's unscale and clipping
 *                     or the EMA ride in the update, or the algorithm's
 *                     whole-tensor step
 *   5. verdict        under policy REPORT, the first non-finite gradient the
 *                     update read (nonfinite.c)
 *   6. after the step clear the accumulated sum, Lookahead's sync, the EMA
 *                     (utils.c)
 *
 * Stages 1 and 2 may end the step early (skipped, refused, or only
 * accumulated); the step still leaves through its one return. Nothing here
 * knows an update rule or a storage format. */
#include "passes.h"

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

/* ---- the fused update ----------------------------------------------------
 * Two passes around the update can ride in its loop when the tensors are
 * plain f32/f64 arrays (storage.c run_plain's formats) of an element-wise
 * algorithm:
 *  - the step's own unscale and clipping (descent_set_step_clip): the
 *    gradient of each block of DESCENT_PF_BLOCK bytes is multiplied by s1
 *    and the result by s2 into a block in L1, which the kernel reads in
 *    place of g. These are the two multiplications, rounded in the same
 *    precision in the same order, that descent_unscale_grads and the
 *    clipping write into g when called before the step, and the kernel
 *    reads each element once either way: the same bits, without the write
 *    pass over g.
 *  - the EMA of the parameters (descent_set_ema): right after the kernel
 *    has written a block of p, avg = decay avg + (1 - decay) p over it, the
 *    operations of the separate pass (utils.c) on the same values; p is
 *    read from L1 instead of memory. Not on the first update (which copies
 *    p), nor on a step where Lookahead's sync rewrites p after the update.
 * Everything else (prefetch included) is run_plain's. */
typedef struct fused_cfg {
    double s1, s2; /* gradient factors; 1: none */
    int ema;       /* fold the EMA in */
} fused_cfg;

static int fused_possible(const descent_optimizer *opt)
{
    if (opt->algo->tensor_step)
        return 0;
    for (int i = 0; i < opt->ntensors; i++) {
        const descent_tensor *t = &opt->tensors[i];
        if (t->storage != &descent_storage_f32 && t->storage != &descent_storage_f64)
            return 0;
        for (int k = 0; k < t->nstate; k++)
            if (t->state_n[k] != t->n)
                return 0;
    }
    return 1;
}

/* Groups of FUSED_GROUP prefetch blocks are scaled in one call each (fewer
 * calls), the kernel still runs block by block after each block's
 * prefetch, as run_plain runs it. The EMA runs after every FUSED_EMA_BYTES
 * of parameters, which it reads back from L2, and its buffer is left to
 * the hardware prefetcher: one long sequential run per 128 KB flows better
 * than short runs after every group with software prefetches among the
 * kernel's streams, as the parent of the commit that made it so (5d29f59)
 * did. AdamW, 16M parameters, 2 threads, pipeline_ratio, medians of 5
 * runs alternating the builds: `descent bench --unscale 1 --clip-norm 1e30
 * --ema 0.999 --in-step` 1.64x the step alone with 5d29f59, 1.46x with
 * this; `--ema 0.999` 1.42x with FUSED_EMA_BYTES at 32 KB, 1.30x at 128
 * KB, 1.33x at 512 KB (the bytes allow 1.29x). */
#define FUSED_GROUP 4
#define FUSED_EMA_BYTES ((size_t)128 << 10)

static void run_fused(const descent_optimizer *opt, const descent_chunk *c, int *nonfinite, const fused_cfg *f)
{
    const descent_tensor *t = &opt->tensors[c->tensor];
    descent_kernel_args a;
    descent_kernel_args_init(&a, opt, t, nonfinite);
    const int f64 = t->dtype == DESCENT_F64;
    descent_kernel_fn kernel = f64 ? opt->algo->kernel_f64 : opt->algo->kernel_f32;
    const size_t elem = f64 ? sizeof(double) : sizeof(float);
    size_t block_bytes = opt->prefetch > 0           ? (size_t)opt->prefetch
                         : opt->algo->prefetch_block ? opt->algo->prefetch_block(&opt->groups[t->group].hp)
                                                     : 0;
    if (!block_bytes || block_bytes > DESCENT_PF_BLOCK * FUSED_GROUP / 2)
        block_bytes = DESCENT_PF_BLOCK;
    const size_t block = block_bytes / elem, ahead = 2 * block_bytes;
    const size_t group = DESCENT_PF_BLOCK * FUSED_GROUP / elem / block * block;
    double gbuf[DESCENT_PF_BLOCK * FUSED_GROUP / sizeof(double)]; /* the scaled gradient of a group */
    char *p = t->param;
    const char *g = a.grad;
    void *ema = f->ema ? t->aux[DESCENT_AUX_EMA] : NULL;
    const double d = opt->utils.ema_decay;
    const int scale = f->s1 != 1.0 || f->s2 != 1.0;
    const size_t ema_span = FUSED_EMA_BYTES / elem;
    for (size_t eb = c->begin; eb < c->end; eb += ema_span) {
        size_t ee = c->end - eb < ema_span ? c->end : eb + ema_span;
        for (size_t gb = eb; gb < ee; gb += group) {
            size_t gm = ee - gb < group ? ee - gb : group;
            const char *gsrc = g + gb * elem; /* where this group's gradient is read */
            if (scale && f64) {
                descent_scale_range_f64(opt->isa, gbuf, (const double *)gsrc, gm, f->s1, 0);
                if (f->s2 != 1.0)
                    descent_scale_range_f64(opt->isa, gbuf, gbuf, gm, f->s2, 0);
                gsrc = (const char *)gbuf;
            } else if (scale) {
                float *fb = (float *)gbuf;
                descent_scale_range_f32(opt->isa, fb, (const float *)gsrc, gm, (float)f->s1, 0);
                if (f->s2 != 1.0)
                    descent_scale_range_f32(opt->isa, fb, fb, gm, (float)f->s2, 0);
                gsrc = (const char *)gbuf;
            }
            for (size_t b = gb; b < gb + gm; b += block) {
                size_t m = gb + gm - b < block ? gb + gm - b : block;
                if (opt->prefetch_step) {
                    DESCENT_PREFETCH_BLOCK(p, b, elem, block_bytes, ahead);
                    DESCENT_PREFETCH_BLOCK(g, b, elem, block_bytes, ahead);
                    for (int k = 0; k < t->nstate; k++)
                        DESCENT_PREFETCH_BLOCK(t->state[k], b, elem, block_bytes, ahead);
                }
                a.begin = 0;
                a.end = m;
                a.param = p + b * elem;
                for (int k = 0; k < t->nstate; k++)
                    a.state[k] = (char *)t->state[k] + b * elem;
                a.grad = gsrc + (b - gb) * elem;
                kernel(&a);
            }
        }
        if (ema && f64)
            descent_average_range_f64(opt->isa, (double *)ema + eb, (const double *)p + eb, ee - eb, d, 1.0 - d, 0, 1);
        else if (ema)
            descent_average_range_f32(opt->isa, (float *)ema + eb, (const float *)p + eb, ee - eb, (float)d,
                                      (float)(1.0 - d), 0, 1);
    }
}

/* Run chunk c through its tensor's storage adapter; under policy REPORT
 * (check set) its kernel also tests the gradient, unless an earlier chunk
 * already failed. Returns the first failing chunk seen so far. */
static int run_chunk_checked(const descent_optimizer *opt, int c, int check, int first_bad, const fused_cfg *f)
{
    int bad = 0;
    const descent_chunk *ch = &opt->chunks[c];
    if (f)
        run_fused(opt, ch, check && c < first_bad ? &bad : NULL, f);
    else
        opt->tensors[ch->tensor].storage->run(opt, ch, check && c < first_bad ? &bad : NULL);
    return bad ? c : first_bad;
}

/* Stage 4, element-wise algorithms: every chunk, threaded over chunks.
 * Returns the first chunk whose gradient the kernels found non-finite
 * (nchunks: none, or not asked). reverse: the chunks from last to first,
 * when a pass has just read every gradient in order (clipping, unscaling,
 * the verdict): the gradients it read last are still in the caches, so the
 * update starts there. Each element's update is independent of the others,
 * so the order changes no result. */
static int update_chunks(const descent_optimizer *opt, size_t total, int check, const fused_cfg *f, int reverse)
{
    int nchunks = opt->nchunks, first_bad = nchunks;
#ifdef _OPENMP
    if (opt->threads > 1 && nchunks > 1 && total >= PARALLEL_MIN_ELEMS) {
        int threads = opt->threads < nchunks ? opt->threads : nchunks;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(min : first_bad)
        for (int k = 0; k < nchunks; k++)
            first_bad = run_chunk_checked(opt, reverse ? nchunks - 1 - k : k, check, first_bad, f);
        return first_bad;
    }
#else
    (void)total;
#endif
    for (int k = 0; k < nchunks; k++)
        first_bad = run_chunk_checked(opt, reverse ? nchunks - 1 - k : k, check, first_bad, f);
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

/* Which passes ride in the update (see run_fused); NULL: none. */
static const fused_cfg *choose_fused(descent_optimizer *opt, int possible, double s1, double s2, fused_cfg *f)
{
    const descent_utils *u = &opt->utils;
    int lookahead_sync = u->lookahead_k > 0 && (u->lookahead_count + 1) % u->lookahead_k == 0;
    f->s1 = s1;
    f->s2 = s2;
    f->ema = possible && u->ema_decay > 0 && u->ema_count > 0 && !lookahead_sync;
    opt->utils.ema_fused = f->ema;
    return f->ema || s1 != 1.0 || s2 != 1.0 ? f : NULL;
}

/* Stage 6's training utilities: clear the accumulation sum, Lookahead's
 * sync every k-th update, the EMA update (unless the step folded it in). */
static void after_step(descent_optimizer *opt)
{
    descent_utils *u = &opt->utils;
    if (u->accumulate > 1) {
        u->accum_count = 0;
        for (int i = 0; i < opt->ntensors; i++)
            descent_aux_seed(&opt->tensors[i], DESCENT_AUX_ACCUM);
    }
    if (u->lookahead_k > 0 && ++u->lookahead_count % u->lookahead_k == 0)
        descent_lookahead_sync(opt);
    if (u->ema_decay > 0) {
        if (!u->ema_fused) /* else applied in the update (run_fused) */
            descent_average_update(opt, DESCENT_AUX_EMA, u->ema_count, u->ema_decay);
        u->ema_count++;
    }
    u->ema_fused = 0;
}

int descent_step(descent_optimizer *opt)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    int check = 0; /* policy REPORT without a clipping call's verdict: test in the update */
    int rc = 0, possible = fused_possible(opt); /* 0 for whole-tensor steps too */
    double s1 = 1.0, s2 = 1.0;
    if (opt->utils.step_clip)                              /* 0. the step's own unscale and clipping */
        rc = descent_step_clip_begin(opt, &s1, &s2);
    int grads_just_read = rc == 0 && opt->grads_finite; /* a pass over every g ended just now */
    if (rc == 0)
        rc = descent_nonfinite_before_step(opt, &check);   /* 1. gate */
    if (rc == 0)
        rc = descent_utils_before_step(opt);               /* 2. gradient */
    if (rc == 0 && !possible)                              /* stage 0's factors where the update cannot apply them */
        descent_step_clip_write(opt, &s1, &s2);
    if (rc == 0) {
        size_t step_bytes, total = prepare_coefficients(opt, &step_bytes); /* 3. coefficients */
        opt->prefetch_step = opt->prefetch > 0 || (opt->prefetch == 0 && step_bytes >= PF_MIN_STEP_BYTES);
        fused_cfg fc;
        const fused_cfg *f = choose_fused(opt, possible, s1, s2, &fc);
        int first_bad = opt->algo->tensor_step ? update_tensors(opt, check)       /* 4. update */
                                               : update_chunks(opt, total, check, f, grads_just_read);
        rc = descent_nonfinite_after_step(opt, first_bad);  /* 5. verdict */
        after_step(opt);                                    /* 6. after the step */
    }
    return rc;
}
