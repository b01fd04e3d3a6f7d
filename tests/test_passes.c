/* The passes around the step (docs/performance.md, "The training step as a
 * pipeline"): the gradient norm has the same bits for any thread count and
 * instruction set and stays within a few ulps of a long-double reference;
 * the fused calls and the fused step give the bits of the unfused
 * sequence. */
#include "descent.h"
#include "passes.h" /* descent_set_isa, descent_norm_range_f32 */
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NT 4
static const size_t sizes[NT] = {3 * 65536 + 123, 1000, 70001, 131072 + 5}; /* the last one f64 */

typedef struct set {
    float *p32[NT - 1], *g32[NT - 1];
    double *p64, *g64;
} set;

static uint64_t rng = 0x9E3779B97F4A7C15u;
static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* Gradients over many binades (2^-20 .. 2^4), both signs. */
static double gval(void) { return (urand() < 0.5 ? -1 : 1) * ldexp(0.5 + 0.5 * urand(), (int)(urand() * 24) - 20); }

static void set_alloc(set *s)
{
    for (int k = 0; k < NT - 1; k++) {
        s->p32[k] = calloc(sizes[k], sizeof(float));
        s->g32[k] = calloc(sizes[k], sizeof(float));
    }
    s->p64 = calloc(sizes[NT - 1], sizeof(double));
    s->g64 = calloc(sizes[NT - 1], sizeof(double));
}

static void set_free(set *s)
{
    for (int k = 0; k < NT - 1; k++) {
        free(s->p32[k]);
        free(s->g32[k]);
    }
    free(s->p64);
    free(s->g64);
}

static void set_copy(set *dst, const set *src)
{
    for (int k = 0; k < NT - 1; k++) {
        memcpy(dst->p32[k], src->p32[k], sizes[k] * sizeof(float));
        memcpy(dst->g32[k], src->g32[k], sizes[k] * sizeof(float));
    }
    memcpy(dst->p64, src->p64, sizes[NT - 1] * sizeof(double));
    memcpy(dst->g64, src->g64, sizes[NT - 1] * sizeof(double));
}

static int set_same(const set *a, const set *b)
{
    int same = 1;
    for (int k = 0; k < NT - 1; k++)
        same &= memcmp(a->p32[k], b->p32[k], sizes[k] * sizeof(float)) == 0 &&
                memcmp(a->g32[k], b->g32[k], sizes[k] * sizeof(float)) == 0;
    return same && memcmp(a->p64, b->p64, sizes[NT - 1] * sizeof(double)) == 0 &&
           memcmp(a->g64, b->g64, sizes[NT - 1] * sizeof(double)) == 0;
}

static void set_fill(set *s)
{
    for (int k = 0; k < NT - 1; k++)
        for (size_t i = 0; i < sizes[k]; i++) {
            s->g32[k][i] = (float)gval();
            s->p32[k][i] = (float)(0.1 * gval());
        }
    for (size_t i = 0; i < sizes[NT - 1]; i++) {
        s->g64[i] = gval();
        s->p64[i] = 0.1 * gval();
    }
}

static descent_optimizer *make(const char *spec, set *s, int threads)
{
    descent_error err;
    descent_optimizer *opt = NULL;
    CHECK(descent_create_from_spec(&opt, spec, NULL, &err) == 0, "%s", err.message);
    if (!opt)
        return NULL;
    int g = descent_add_group(opt, NULL);
    for (int k = 0; k < NT - 1; k++)
        CHECK(descent_add_tensor(opt, g, s->p32[k], s->g32[k], sizes[k], DESCENT_F32) == k, "%s", descent_errmsg(opt));
    CHECK(descent_add_tensor(opt, g, s->p64, s->g64, sizes[NT - 1], DESCENT_F64) == NT - 1, "%s",
          descent_errmsg(opt));
    CHECK(descent_set_threads(opt, threads) == 0, "%s", descent_errmsg(opt));
    return opt;
}

/* PyTorch's total norm (the p-norm of the per-tensor p-norms) in long
 * double with Kahan summation. */
static long double reference_norm(const set *s, double p)
{
    long double total = 0, tc = 0;
    for (int k = 0; k < NT; k++) {
        long double sum = 0, c = 0;
        for (size_t i = 0; i < sizes[k]; i++) {
            long double a = fabsl(k < NT - 1 ? (long double)s->g32[k][i] : (long double)s->g64[i]);
            if (isinf(p)) {
                sum = a > sum ? a : sum;
                continue;
            }
            long double y = (p == 2 ? a * a : p == 1 ? a : powl(a, p)) - c, t = sum + y;
            c = (t - sum) - y;
            sum = t;
        }
        long double norm = isinf(p) ? sum : p == 1 ? sum : powl(sum, 1.0L / p);
        if (isinf(p)) {
            total = norm > total ? norm : total;
            continue;
        }
        long double y = powl(norm, p) - tc, t = total + y;
        tc = (t - total) - y;
        total = t;
    }
    return isinf(p) ? total : powl(total, 1.0L / p);
}

/* The norm with 1, 2 and 3 threads and every instruction set: the same
 * bits, near the reference; clipping writes the same bits. */
static void norm_fixed_order(void)
{
    set s, w, first;
    set_alloc(&s);
    set_alloc(&w);
    set_alloc(&first);
    set_fill(&s);
    const double ps[] = {1.0, 2.0, 3.0, INFINITY};
    int best = 0;
    for (int pi = 0; pi < 4; pi++) {
        double p = ps[pi], norm0 = NAN;
        long double ref = reference_norm(&s, p);
        int same = 1, runs = 0;
        for (int threads = 1; threads <= 3; threads++)
            for (int isa = 0; isa <= 2; isa++) {
                set_copy(&w, &s);
                descent_optimizer *opt = make("SGD(lr=0.1)", &w, threads);
                if (!opt)
                    continue;
                int got = descent_set_isa(opt, isa);
                best = got > best ? got : best;
                if (got != isa) {
                    descent_destroy(opt);
                    continue;
                }
                double norm = NAN;
                /* max_norm a third of the norm: every gradient is rewritten. */
                CHECK(descent_clip_grad_norm(opt, (double)ref / 3, p, &norm) == 0, "%s", descent_errmsg(opt));
                if (runs++ == 0) {
                    norm0 = norm;
                    set_copy(&first, &w);
                } else {
                    same &= memcmp(&norm, &norm0, sizeof norm) == 0 && set_same(&w, &first);
                }
                descent_destroy(opt);
            }
        CHECK(runs >= 3, "p=%g: only %d runs", p, runs);
        CHECK(same, "p=%g: the norm or the clipped gradients differ between thread counts or instruction sets", p);
        double rel = fabs((double)(((long double)norm0 - ref) / ref));
        CHECK(rel < 1e-13, "p=%g: norm %.17g, long-double reference %.17Lg (relative error %.2g)", p, norm0, ref, rel);
    }
    t_isa_covered(best);
    set_free(&s);
    set_free(&w);
    set_free(&first);
}

/* |x|^3 and |x|^4 of floats from products (passes.c, pow34_sum) have pow's
 * bits: on random floats of every binade, on edge values, and on floats
 * whose power pow does not round correctly (a tie and values within 0.04
 * ulp of a midpoint, where the correctly rounded product differs from
 * glibc's pow). The sum of a range keeps its order: one accumulator, index
 * order, as with pow. */
static int pow_term_same(float x, double p, int isa)
{
    descent_norm_lanes l;
    descent_norm_lanes_init(&l);
    descent_norm_range_f32(isa, &l, &x, 1, p);
    double want = pow(fabs((double)x), p);
    return memcmp(&l.sum[0], &want, sizeof want) == 0 || (isnan(l.sum[0]) && isnan(want));
}

static void pow_terms(void)
{
    static const float edges[] = {0.0f, -0.0f, 1.0f, -1.0f, 0x1p-149f, 0x1p-126f, 0x1.fffffep127f, -0x1.fffffep127f,
                                  INFINITY, -INFINITY, NAN, 0x1.fffffep-1f, 0x1.000002p0f, 3.0f, 0x1p100f,
                                  0x1.971a8p-132f, 0x1.32e8p-136f, 0x1.456fdp-129f, 0x1.3ac9a4p-127f,
                                  0x1.05b984p-127f, 0x1.8caa02p-126f};
    const double ps[] = {3.0, 4.0, 2.5, 7.0};
    const int isas = descent_isa_detect() + 1;
    int bad = 0, checked = 0;
    for (int k = 0; k < 4; k++) {
        for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
            for (int isa = 0; isa < isas; isa++, checked++)
                if (!pow_term_same(edges[i], ps[k], isa) && bad++ < 5)
                    fprintf(stderr, "p=%g isa %d: |%a|^p differs from pow\n", ps[k], isa, (double)edges[i]);
        for (int i = 0; i < (k < 2 ? 400000 : 20000); i++, checked++) {
            uint32_t u = (uint32_t)(urand() * 4294967296.0);
            float x;
            memcpy(&x, &u, sizeof x);
            if (!pow_term_same(x, ps[k], i % isas) && bad++ < 5)
                fprintf(stderr, "p=%g isa %d: |%a|^p differs from pow\n", ps[k], i % isas, (double)x);
        }
    }
    CHECK(bad == 0 && checked > 800000, "%d of %d powers differ from pow", bad, checked);
    /* a range: the terms added in index order into lane 0 */
    enum { N = 100003 };
    float *g = malloc(N * sizeof *g);
    for (int k = 0; g && k < 2; k++) {
        double want = 0;
        for (size_t i = 0; i < N; i++) {
            g[i] = (float)gval();
            want += pow(fabs((double)g[i]), ps[k]);
        }
        for (int isa = 0; isa <= descent_isa_detect(); isa++) {
            descent_norm_lanes l;
            descent_norm_lanes_init(&l);
            descent_norm_range_f32(isa, &l, g, N, ps[k]);
            CHECK(descent_norm_lanes_sum(&l, ps[k], 0) == want, "p=%g isa %d: range sum %.17g, pow's %.17g", ps[k],
                  isa, descent_norm_lanes_sum(&l, ps[k], 0), want);
        }
    }
    free(g);
}

/* descent_unscale_clip_grad_norm == descent_unscale_grads then
 * descent_clip_grad_norm, bit for bit, threaded or not. */
static void fused_unscale_clip(void)
{
    set s, a, b;
    set_alloc(&s);
    set_alloc(&a);
    set_alloc(&b);
    set_fill(&s);
    const double inv = 1.0 / 1024.0 * 3.0; /* not a power of two: unscaling rounds */
    for (int threads = 1; threads <= 2; threads++) {
        set_copy(&a, &s);
        set_copy(&b, &s);
        descent_optimizer *oa = make("SGD(lr=0.1)", &a, threads), *ob = make("SGD(lr=0.1)", &b, threads);
        double na = NAN, nb = NAN;
        int fa = -1, fb = -1;
        if (oa && ob) {
            CHECK(descent_unscale_clip_grad_norm(oa, inv, 1.0, 2.0, &na, &fa) == 0, "%s", descent_errmsg(oa));
            CHECK(descent_unscale_grads(ob, inv, &fb) == 0 && descent_clip_grad_norm(ob, 1.0, 2.0, &nb) == 0, "%s",
                  descent_errmsg(ob));
            CHECK(fa == 0 && fb == 0, "found_inf %d / %d", fa, fb);
            CHECK(memcmp(&na, &nb, sizeof na) == 0 && na > 1.0, "norms %.17g / %.17g", na, nb);
            CHECK(set_same(&a, &b), "threads %d: fused unscale + clip wrote other bits", threads);
            /* A NaN: found, nothing clipped, the norm NaN. */
            a.g32[1][7] = NAN;
            memcpy(b.g32[0], a.g32[0], sizes[0] * sizeof(float));
            CHECK(descent_unscale_clip_grad_norm(oa, 1.0, 1e-3, 2.0, &na, &fa) == 0 && fa == 1 && isnan(na),
                  "a NaN: found_inf %d, norm %g", fa, na);
            CHECK(memcmp(a.g32[0], b.g32[0], sizes[0] * sizeof(float)) == 0, "a NaN: gradients were clipped");
        }
        descent_destroy(oa);
        descent_destroy(ob);
    }
    set_free(&s);
    set_free(&a);
    set_free(&b);
}

/* The step's own unscale and clipping (descent_set_step_clip) and the EMA
 * folded into the update: the bits of descent_unscale_clip_grad_norm, then
 * descent_step, then the EMA pass, computed here; the caller's gradients
 * are left as they were. */
static void fused_step(const char *spec, int threads)
{
    set s, a, b, g0;
    set_alloc(&s);
    set_alloc(&a);
    set_alloc(&b);
    set_alloc(&g0);
    set_fill(&s);
    set_copy(&a, &s);
    set_copy(&b, &s);
    set_copy(&g0, &s);
    const double inv = 3.0 / 1024, decay = 0.9;
    descent_optimizer *oa = make(spec, &a, threads), *ob = make(spec, &b, threads);
    float *ema32[NT - 1];
    double *ema64 = calloc(sizes[NT - 1], sizeof(double)), *got64 = calloc(sizes[NT - 1], sizeof(double));
    float *got32 = calloc(sizes[0], sizeof(float));
    for (int k = 0; k < NT - 1; k++)
        ema32[k] = calloc(sizes[k], sizeof(float));
    int same = 1, ema_same = 1, norms_same = 1, grads_kept = 1, steps = 0;
    if (oa && ob) {
        CHECK(descent_set_step_clip(oa, inv, 1.0, 2.0) == 0 && descent_set_ema(oa, decay) == 0, "%s",
              descent_errmsg(oa));
        for (int step = 0; step < 4; step++) {
            /* b: the unfused sequence on a fresh copy of the gradients */
            for (int k = 0; k < NT - 1; k++)
                memcpy(b.g32[k], s.g32[k], sizes[k] * sizeof(float));
            memcpy(b.g64, s.g64, sizes[NT - 1] * sizeof(double));
            double nb = NAN;
            int found = -1;
            CHECK(descent_unscale_clip_grad_norm(ob, inv, 1.0, 2.0, &nb, &found) == 0 && found == 0, "%s",
                  descent_errmsg(ob));
            CHECK(descent_step(ob) == 0, "%s", descent_errmsg(ob));
            CHECK(descent_step(oa) == 0, "%s", descent_errmsg(oa));
            steps++;
            double na = descent_step_grad_norm(oa);
            norms_same &= memcmp(&na, &nb, sizeof na) == 0 && na > 1.0;
            for (int k = 0; k < NT - 1; k++) {
                same &= memcmp(a.p32[k], b.p32[k], sizes[k] * sizeof(float)) == 0;
                grads_kept &= memcmp(a.g32[k], g0.g32[k], sizes[k] * sizeof(float)) == 0;
                const float d = (float)decay, od = (float)(1.0 - decay);
                for (size_t i = 0; i < sizes[k]; i++)
                    ema32[k][i] = step == 0 ? b.p32[k][i] : d * ema32[k][i] + od * b.p32[k][i];
                if (k == 0) {
                    descent_copy_averaged(oa, DESCENT_AVERAGE_EMA, 0, got32);
                    ema_same &= memcmp(got32, ema32[0], sizes[0] * sizeof(float)) == 0;
                }
            }
            same &= memcmp(a.p64, b.p64, sizes[NT - 1] * sizeof(double)) == 0;
            for (size_t i = 0; i < sizes[NT - 1]; i++)
                ema64[i] = step == 0 ? b.p64[i] : decay * ema64[i] + (1.0 - decay) * b.p64[i];
            descent_copy_averaged(oa, DESCENT_AVERAGE_EMA, NT - 1, got64);
            ema_same &= memcmp(got64, ema64, sizes[NT - 1] * sizeof(double)) == 0;
        }
        CHECK(steps == 4 && same, "%s, %d threads: the fused step's parameters differ from the unfused sequence",
              spec, threads);
        CHECK(ema_same, "%s, %d threads: the EMA folded into the step differs from the separate pass", spec, threads);
        CHECK(norms_same, "%s, %d threads: the step's norm differs from descent_unscale_clip_grad_norm's", spec,
              threads);
        CHECK(grads_kept, "%s, %d threads: the step wrote into the gradient buffers", spec, threads);
        /* A NaN after unscaling: the step is skipped, nothing written. */
        set_copy(&b, &a);
        a.g32[2][5] = NAN;
        CHECK(descent_step(oa) == DESCENT_STEP_SKIPPED && descent_skipped_steps(oa) == 1, "a NaN: %s",
              descent_errmsg(oa));
        CHECK(memcmp(a.p32[0], b.p32[0], sizes[0] * sizeof(float)) == 0, "a NaN: parameters changed");
        /* Turned off: the step reads the gradients as they are. */
        CHECK(descent_set_step_clip(oa, 1.0, INFINITY, 2.0) == 0 && isnan(descent_step_grad_norm(oa)), "off");
        CHECK(descent_set_accumulation(oa, 2) == 0 && descent_set_accumulation(oa, 1) == 0, "%s", descent_errmsg(oa));
        CHECK(descent_set_step_clip(oa, 0.0, 1.0, 2.0) == DESCENT_ERR_INVALID, "inv_scale 0 accepted");
    }
    descent_destroy(oa);
    descent_destroy(ob);
    for (int k = 0; k < NT - 1; k++)
        free(ema32[k]);
    free(ema64);
    free(got64);
    free(got32);
    set_free(&s);
    set_free(&a);
    set_free(&b);
    set_free(&g0);
}

/* bf16 gradients: the step cannot scale as it reads, so it writes the
 * unscaled, clipped values first; the same bits as the two calls. */
static void step_clip_bf16(void)
{
    enum { N = 70000 };
    static uint16_t pa[N], ga[N], pb[N], gb[N];
    for (int i = 0; i < N; i++) {
        float f = (float)gval();
        uint32_t u;
        memcpy(&u, &f, sizeof u);
        ga[i] = gb[i] = (uint16_t)(u >> 16);
        pa[i] = pb[i] = 0x3F80; /* 1.0 */
    }
    descent_error err;
    descent_optimizer *oa = NULL, *ob = NULL;
    CHECK(descent_create_from_spec(&oa, "SGD(lr=0.1, momentum=0.9)", NULL, &err) == 0 &&
              descent_create_from_spec(&ob, "SGD(lr=0.1, momentum=0.9)", NULL, &err) == 0,
          "%s", err.message);
    if (!oa || !ob)
        return;
    CHECK(descent_add_tensor(oa, descent_add_group(oa, NULL), pa, ga, N, DESCENT_BF16) == 0 &&
              descent_add_tensor(ob, descent_add_group(ob, NULL), pb, gb, N, DESCENT_BF16) == 0,
          "%s", descent_errmsg(oa));
    CHECK(descent_set_step_clip(oa, 3.0 / 1024, 1.0, 2.0) == 0, "%s", descent_errmsg(oa));
    double nb = NAN;
    int found = -1;
    CHECK(descent_unscale_clip_grad_norm(ob, 3.0 / 1024, 1.0, 2.0, &nb, &found) == 0 && found == 0, "%s",
          descent_errmsg(ob));
    CHECK(descent_step(oa) == 0 && descent_step(ob) == 0, "%s %s", descent_errmsg(oa), descent_errmsg(ob));
    double na = descent_step_grad_norm(oa);
    CHECK(memcmp(&na, &nb, sizeof na) == 0 && na > 1.0, "bf16: norms %.17g / %.17g", na, nb);
    CHECK(memcmp(pa, pb, sizeof pa) == 0 && memcmp(ga, gb, sizeof ga) == 0, "bf16: the step clip differs");
    descent_destroy(oa);
    descent_destroy(ob);
}

int main(void)
{
    norm_fixed_order();
    pow_terms();
    fused_unscale_clip();
    fused_step("AdamW(lr=1e-3)", 1);
    fused_step("AdamW(lr=1e-3)", 2);
    fused_step("SGD(lr=0.1, momentum=0.9)", 2);
    /* Lookahead's sync every other step: the EMA of those steps is the
     * separate pass, after the sync. */
    fused_step("Lookahead(optimizer=AdamW(lr=1e-3), k=2, alpha=0.5)", 2);
    step_clip_bf16();
    return t_done();
}
