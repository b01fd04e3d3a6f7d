/* The loops of the passes around the step (passes.h): threaded over the
 * optimizer's chunks, vectorized, compiled for AVX-512, AVX2 and the
 * baseline through DESCENT_DISPATCH like the kernels.
 *
 * Fixed reduction order. The p-norm of a gradient (p = 1, 2 or any finite
 * p: sum |x|^p in double) is summed over fixed blocks that do not depend on
 * the thread count: the optimizer's chunks (65536 elements of one tensor,
 * optimizer.c). Inside a chunk, element i goes to lane i mod 32 of 32
 * double accumulators (independent chains: the additions' latency hides
 * behind each other, so the loop keeps up with memory), each summed in
 * index order, and the lanes are added pairwise, lane i + h into lane i for
 * h = 16, 8, 4, 2, 1; a tensor's sum is
 * its chunks' sums added in chunk order (descent_for_chunks folds them in
 * index order after the threads are done). Every instruction set computes
 * the same IEEE additions in the same order (no FMA, no reassociation:
 * -ffp-contract=off, no -ffast-math), so the norm has the same bits for any
 * thread count and any instruction set. For p other than 1, 2 and
 * infinity, |x|^p (pow's value; for f32 and p = 3 or 4 from products,
 * pow34_sum below) is added in index order into one accumulator per chunk.
 * The infinity norm is a maximum, exact in any order: the largest
 * magnitude bits (for IEEE 754 values, ordered as the magnitudes; a NaN's
 * bits exceed infinity's, so a NaN wins, as in torch.linalg.vector_norm). */
#include "passes.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Chunks whose partials one batch keeps (on the stack); a batch is one
 * threaded loop, then its partials are folded in order. */
#define FOLD_BATCH 512
/* Below this many elements a pass runs on the calling thread (as the step:
 * step.c PARALLEL_MIN_ELEMS). */
#define PASS_PARALLEL_MIN ((size_t)1 << 17)

int descent_for_chunks(const descent_optimizer *opt, int first, int last, descent_chunk_fn fn, void *ctx,
                       descent_fold_fn fold)
{
    double part[FOLD_BATCH];
    int any = 0;
    size_t elems = 0;
    for (int c = first; c < last; c++)
        elems += opt->chunks[c].end - opt->chunks[c].begin;
    for (int c0 = first; c0 < last; c0 += FOLD_BATCH) {
        int m = last - c0 < FOLD_BATCH ? last - c0 : FOLD_BATCH;
#ifdef _OPENMP
        if (opt->threads > 1 && m > 1 && elems >= PASS_PARALLEL_MIN) {
            int threads = opt->threads < m ? opt->threads : m;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(| : any)
            for (int k = 0; k < m; k++)
                any |= fn(opt, c0 + k, ctx, &part[k]);
        } else
#endif
        {
            for (int k = 0; k < m; k++)
                any |= fn(opt, c0 + k, ctx, &part[k]);
        }
        if (fold)
            for (int k = 0; k < m; k++)
                fold(ctx, c0 + k, part[k]);
    }
    (void)elems;
    return any;
}

#define LANES DESCENT_NORM_LANES

static void args_for(descent_kernel_args *a, int isa, const void *in, void *out, size_t n, const void *coeffs)
{
    memset(a, 0, sizeof *a);
    a->isa = isa;
    a->grad = in;
    a->param = out;
    a->end = n;
    a->coeffs = coeffs;
}


/* ---- the p-norm of a chunk ------------------------------------------------ */

/* Add |x|^p (p finite) into *acc, or take the max of |x| (p = INFINITY;
 * a NaN sticks). */
void descent_norm_accumulate(double *acc, double x, double p)
{
    double a = fabs(x);
    if (isinf(p)) {
        if ((a > *acc || isnan(a)) && !isnan(*acc))
            *acc = a;
    } else if (p == 2.0) {
        *acc += a * a;
    } else if (p == 1.0) {
        *acc += a;
    } else {
        *acc += pow(a, p);
    }
}

double descent_norm_finish(double acc, double p)
{
    if (isinf(p) || p == 1.0)
        return acc;
    if (p == 2.0)
        return sqrt(acc);
    return pow(acc, 1.0 / p);
}

void descent_norm_lanes_init(descent_norm_lanes *l) { memset(l, 0, sizeof *l); }

#define POW_BLOCK 256

/* |x|^3 or |x|^4 of a float x, in double, with the bits of
 * pow(|x|, 3 or 4) at a fraction of its cost. a = |x| has 24 significant
 * bits, so a^2 is exact (48 bits) and r = a^2 a or a^2 a^2 is rounded
 * once, to nearest: the correctly rounded power. pow is not correctly
 * rounded: glibc's (and musl's; both from Arm's optimized-routines) states
 * a worst-case error of 0.54 ulp, and returns the other neighbour for
 * about 0.3% of floats, where the exact power lies within 0.04 ulp of the
 * midpoint between two doubles or on it. So r is used only where the
 * exact power is within 0.45 ulp of r, the other neighbour then more than
 * 0.55 ulp away, and pow, within 0.54 ulp, must return r too; the rest
 * (about a tenth) go to pow. The exact error e = a^2 a - r or a^2 a^2 - r
 * comes from Dekker's product (T. J. Dekker, "A floating-point technique
 * for extending the available precision", Numer. Math. 18, 1971), with
 * a^2 split by masking into 26 + 22 significant bits so that every partial
 * product is exact. No underflow or overflow: 2^-596 <= r <= 2^512 for
 * every nonzero finite float. Zero, infinity and NaN go to pow.
 *
 * pow34_sum adds |x|^3 (four = 0) or |x|^4 (four = 1) to sum over a range
 * in index order, in blocks of POW_BLOCK: the products, and the flags of
 * the elements pow must give, in one loop (vectorized per instruction set:
 * the same IEEE operations, so the same bits), then pow for the flagged,
 * then the sum (a loop of additions alone, which their latency bounds).
 * tests/test_passes.c compares the terms with pow; all 2^32 floats were
 * compared once, with glibc 2.36. */
/* One block's products t and flags use_pow (1: pow must give the term). */
DESCENT_INLINE void pow34_terms(const float *restrict g, size_t m, const int four, double *restrict t,
                                uint64_t *restrict use_pow)
{
    for (size_t i = 0; i < m; i++) {
        double a = fabs((double)g[i]), a2 = a * a, r = four ? a2 * a2 : a2 * a;
        uint64_t u;
        memcpy(&u, &a2, sizeof u);
        u &= ~(uint64_t)0x7FFFFFF;
        double h;
        memcpy(&h, &u, sizeof h);
        double lo = a2 - h;
        double e = four ? (((h * h - r) + h * lo) + lo * h) + lo * lo : (h * a - r) + lo * a;
        /* the spacing of doubles next to r on e's side: |r - its neighbour
         * there| (r > 0 and normal; zero, infinity and NaN fail the test
         * below and go to pow) */
        memcpy(&u, &r, sizeof u);
        u = e < 0 ? u - 1 : u + 1;
        double beside;
        memcpy(&beside, &u, sizeof beside);
        t[i] = r;
        use_pow[i] = fabs(e) < 0.45 * fabs(r - beside) ? 0 : 1;
    }
}
DESCENT_INLINE void pow3_terms_body(const float *g, size_t m, double *t, uint64_t *use_pow)
{
    pow34_terms(g, m, 0, t, use_pow);
}
DESCENT_INLINE void pow4_terms_body(const float *g, size_t m, double *t, uint64_t *use_pow)
{
    pow34_terms(g, m, 1, t, use_pow);
}
DESCENT_DISPATCH_FN(pow3_terms, pow3_terms_body, (const float *g, size_t m, double *t, uint64_t *use_pow),
                    (g, m, t, use_pow))
DESCENT_DISPATCH_FN(pow4_terms, pow4_terms_body, (const float *g, size_t m, double *t, uint64_t *use_pow),
                    (g, m, t, use_pow))

static double pow34_sum(int isa, double sum, const float *g, size_t n, int four)
{
    double t[POW_BLOCK];
    uint64_t use_pow[POW_BLOCK];
    for (size_t b = 0; b < n; b += POW_BLOCK) {
        const size_t m = n - b < POW_BLOCK ? n - b : POW_BLOCK;
        if (four)
            pow4_terms(isa, g + b, m, t, use_pow);
        else
            pow3_terms(isa, g + b, m, t, use_pow);
        for (size_t i = 0; i < m; i++)
            if (use_pow[i])
                t[i] = pow(fabs((double)g[b + i]), four ? 4.0 : 3.0);
        for (size_t i = 0; i < m; i++)
            sum += t[i];
    }
    return sum;
}

/* sum + |x|^p over a range in index order into one accumulator, for p
 * other than 1, 2 and infinity. */
static double pow_sum_f32(int isa, double sum, const float *g, size_t n, double p)
{
    if (p == 3.0 || p == 4.0)
        return pow34_sum(isa, sum, g, n, p == 4.0);
    for (size_t i = 0; i < n; i++)
        sum += pow(fabs((double)g[i]), p);
    return sum;
}

static double pow_sum_f64(int isa, double sum, const double *g, size_t n, double p)
{
    (void)isa;
    for (size_t i = 0; i < n; i++)
        sum += pow(fabs(g[i]), p);
    return sum;
}

/* The loops, the range entry points and descent_norm_range_* per element
 * type (passes_kernel.h). */
#define DESCENT_KERNEL_FILE "../passes_kernel.h"
#include "optim/kernel_types.h"
#undef LANES

double descent_norm_lanes_sum(const descent_norm_lanes *l, double p, int f64)
{
    if (isinf(p)) {
        if (f64) {
            if (l->maxbits > DESCENT_NF_INF_f64)
                return NAN;
            double x;
            memcpy(&x, &l->maxbits, sizeof x);
            return x;
        }
        if (l->maxbits > DESCENT_NF_INF_f32)
            return NAN;
        uint32_t u = (uint32_t)l->maxbits;
        float x;
        memcpy(&x, &u, sizeof x);
        return x;
    }
    /* pairwise: s[i] + s[i + h] for h = 16, 8, 4, 2, 1 */
    double s[DESCENT_NORM_LANES];
    memcpy(s, l->sum, sizeof s);
    for (int h = DESCENT_NORM_LANES / 2; h >= 1; h /= 2)
        for (int i = 0; i < h; i++)
            s[i] = s[i] + s[i + h];
    return s[0];
}

/* ---- per-tensor norm sums (the sharded optimizer's global norm) ----------- */

typedef struct norm_sums_pass {
    const descent_optimizer *opt;
    double p;
    double *sums; /* one per tensor */
} norm_sums_pass;

static int norm_sum_chunk(const descent_optimizer *opt, int c, void *ctx, double *partial)
{
    const norm_sums_pass *x = ctx;
    const descent_chunk *ch = &opt->chunks[c];
    const descent_tensor *t = &opt->tensors[ch->tensor];
    descent_norm_lanes l;
    descent_norm_lanes_init(&l);
    if (t->dtype == DESCENT_F64)
        descent_norm_range_f64(opt->isa, &l, (const double *)t->grad + ch->begin, ch->end - ch->begin, x->p);
    else
        descent_norm_range_f32(opt->isa, &l, (const float *)t->grad + ch->begin, ch->end - ch->begin, x->p);
    *partial = descent_norm_lanes_sum(&l, x->p, t->dtype == DESCENT_F64);
    return 0;
}

/* Chunk sums into their tensor's sum in chunk order, as clip.c folds them. */
static void norm_sum_fold(void *ctx, int c, double partial)
{
    norm_sums_pass *x = ctx;
    double *sum = &x->sums[x->opt->chunks[c].tensor];
    if (isinf(x->p))
        descent_norm_accumulate(sum, partial, x->p);
    else
        *sum += partial;
}

int descent_grad_norm_sums(const descent_optimizer *opt, double p, double *sums)
{
    for (int k = 0; k < opt->ntensors; k++) {
        sums[k] = 0.0;
        if (opt->tensors[k].dtype != DESCENT_F32 && opt->tensors[k].dtype != DESCENT_F64)
            return descent_opt_fail(opt, DESCENT_ERR_INVALID,
                                    "the gradient norm supports f32 and f64 tensors; tensor %d has dtype %d", k,
                                    (int)opt->tensors[k].dtype);
    }
    norm_sums_pass x = {opt, p, sums};
    descent_for_chunks(opt, 0, opt->nchunks, norm_sum_chunk, &x, norm_sum_fold);
    return 0;
}
