/* The non-finite-gradient policies: PROPAGATE is PyTorch's behaviour; SKIP
 * leaves parameters, state and step count untouched and reports the step;
 * ERROR does the same with DESCENT_ERR_NONFINITE and names the tensor;
 * REPORT takes the step exactly as PROPAGATE and names the first
 * non-finite value. The reference for every policy on finite gradients,
 * and for REPORT always, is the unchecked PROPAGATE step, bit for bit.
 * Then the verdict a clipping call leaves for the next step: used once,
 * dropped by descent_grads_changed, descent_set_tensor_data and
 * descent_add_tensor, never set by a non-finite norm. */
#include "descent.h"
#include "internal.h" /* descent_algos, descent_set_isa */
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NMAX 70000 /* two 65536-element chunks per tensor */
#define NT 3        /* tensors: f32, f64, bf16 */

static size_t n = NMAX;

/* One set of parameter and gradient buffers: A for the policy under test,
 * B for the PROPAGATE twin. */
typedef struct bufs {
    float p0[NMAX], g0[NMAX];
    double p1[NMAX], g1[NMAX];
    uint16_t p2[NMAX], g2[NMAX];
} bufs;

static bufs A, B;

/* The f32 and f64 tensors' starting values, shared by both sets of buffers. */
static void fill_f32_f64(float *p0, float *g0, double *p1, double *g1, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        p0[i] = (float)(i % 13) * 0.1f;
        g0[i] = (float)((int)(i % 7) - 3) * 0.01f;
        p1[i] = (double)(i % 11) * 0.1;
        g1[i] = ((int)(i % 5) - 2) * 0.01;
    }
}

static void fill(bufs *b)
{
    fill_f32_f64(b->p0, b->g0, b->p1, b->g1, n);
    for (size_t i = 0; i < n; i++) {
        b->p2[i] = (uint16_t)(0x3F80 + i % 64); /* about 1.0 .. 1.5 */
        b->g2[i] = (uint16_t)((i % 2 ? 0x3C23 : 0xBC23) + i % 16); /* about +-0.01 */
    }
}

/* An optimizer from spec with one empty group, or NULL (a failed check). */
static descent_optimizer *create(const char *spec)
{
    descent_optimizer *opt;
    descent_error err;
    if (descent_create_from_spec(&opt, spec, NULL, &err) < 0) {
        CHECK(0, "%s: %s", spec, err.message);
        return NULL;
    }
    descent_add_group(opt, NULL);
    return opt;
}

static descent_optimizer *make(const char *spec, bufs *b, int threads, int policy)
{
    descent_optimizer *opt = create(spec);
    if (!opt)
        return NULL;
    int g = 0;
    descent_add_tensor(opt, g, b->p0, b->g0, n, DESCENT_F32);
    descent_add_tensor(opt, g, b->p1, b->g1, n, DESCENT_F64);
    descent_add_tensor(opt, g, b->p2, b->g2, n, DESCENT_BF16);
    descent_set_threads(opt, threads);
    CHECK(descent_set_nonfinite_policy(opt, policy) == 0, "%s", descent_errmsg(opt));
    return opt;
}

/* Put a non-finite value (0: NaN, 1: +inf, 2: -inf) at element i of tensor t. */
static void inject(bufs *b, int t, size_t i, int kind)
{
    static const uint16_t bf16[] = {0x7FC0, 0x7F80, 0xFF80};
    double v = kind == 0 ? NAN : kind == 1 ? INFINITY : -INFINITY;
    if (t == 0)
        b->g0[i] = (float)v;
    else if (t == 1)
        b->g1[i] = v;
    else
        b->g2[i] = bf16[kind];
}

static unsigned char img_a[16 << 20], img_b[16 << 20];

static size_t image(descent_optimizer *opt, unsigned char *buf)
{
    size_t len = 0;
    CHECK(descent_save_mem(opt, buf, sizeof img_a, &len) == 0, "save: %s", descent_errmsg(opt));
    return len;
}

/* Parameters and the whole checkpoint image (state, step counts) of A's
 * optimizer equal B's, bit for bit. */
static int same(descent_optimizer *a, descent_optimizer *b)
{
    size_t la = image(a, img_a), lb = image(b, img_b);
    return la == lb && memcmp(img_a, img_b, la) == 0 && memcmp(A.p0, B.p0, n * sizeof *A.p0) == 0 &&
           memcmp(A.p1, B.p1, n * sizeof *A.p1) == 0 && memcmp(A.p2, B.p2, n * sizeof *A.p2) == 0;
}

static const char *const policy_names[] = {"propagate", "skip", "error", "report"};

static int named(descent_optimizer *opt, int tensor, size_t index)
{
    char want[96];
    snprintf(want, sizeof want, "tensor %d (group 0) at element %zu;", tensor, index);
    return strstr(descent_errmsg(opt), want) != NULL;
}

/* Every policy x dtype (tensor) x value x position x thread count. */
static void faults(int threads)
{
    size_t where[3] = {0, n / 2 + 3, n - 1};
    for (int t = 0; t < NT; t++)
        for (int kind = 0; kind < 3; kind++)
            for (int w = 0; w < 3; w++)
                for (int policy = DESCENT_NONFINITE_SKIP; policy <= DESCENT_NONFINITE_REPORT; policy++) {
                    fill(&A);
                    fill(&B);
                    descent_optimizer *a = make("Adam(lr=0.01)", &A, threads, policy);
                    descent_optimizer *b = make("Adam(lr=0.01)", &B, threads, DESCENT_NONFINITE_PROPAGATE);
                    CHECK(descent_step(a) == 0 && descent_step(b) == 0, "clean step under %s failed: %s",
                          policy_names[policy], descent_errmsg(a));
                    inject(&A, t, where[w], kind);
                    inject(&B, t, where[w], kind);
                    int rc = descent_step(a);
                    const char *what = policy_names[policy];
                    if (policy == DESCENT_NONFINITE_REPORT) {
                        CHECK(rc == DESCENT_STEP_NONFINITE, "%s t%d kind %d at %zu, %d threads: rc %d", what, t,
                              kind, where[w], threads, rc);
                        CHECK(descent_step(b) == 0, "propagate refused a step");
                        CHECK(same(a, b), "%s t%d kind %d at %zu: not the PROPAGATE step", what, t, kind, where[w]);
                        CHECK(descent_step_count(a) == 2, "%s: step count %lld", what,
                              (long long)descent_step_count(a));
                    } else {
                        /* b did not step again: a must still equal it. */
                        int want = policy == DESCENT_NONFINITE_SKIP ? DESCENT_STEP_SKIPPED : DESCENT_ERR_NONFINITE;
                        CHECK(rc == want, "%s t%d kind %d at %zu, %d threads: rc %d, expected %d", what, t, kind,
                              where[w], threads, rc, want);
                        CHECK(same(a, b), "%s t%d kind %d at %zu: a refused step changed something", what, t, kind,
                              where[w]);
                        CHECK(descent_step_count(a) == 1, "%s: step count %lld", what,
                              (long long)descent_step_count(a));
                        CHECK(descent_skipped_steps(a) == (policy == DESCENT_NONFINITE_SKIP), "%s: skipped %lld",
                              what, (long long)descent_skipped_steps(a));
                    }
                    CHECK(named(a, t, where[w]), "%s: message does not name tensor %d element %zu: %s", what, t,
                          where[w], descent_errmsg(a));
                    descent_destroy(a);
                    descent_destroy(b);
                }
}

/* Every optimizer with element-wise kernels, and the compile-time variants
 * of their loops (weight decay, momentum, centered, rectified, ...). Each
 * runs on one f32 and one f64 tensor of NE elements: 2 * NE is above the
 * size below which a step stays on one thread, so 2 threads split the
 * chunks. NE = 65536 + 4465: the second chunk's length is odd, so its last
 * element falls in the scalar tail after any vector loop. */
#define NE 70001
static const char *const algo_specs[] = {
    "SGD(lr=0.1)",
    "SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)",
    "Adagrad(lr=0.1, weight_decay=0.01)",
    "RMSprop(lr=0.01)",
    "RMSprop(lr=0.01, momentum=0.9)",
    "RMSprop(lr=0.01, centered=True)",
    "RMSprop(lr=0.01, centered=True, momentum=0.9, weight_decay=0.01)",
    "Adadelta(lr=1, weight_decay=0.01)",
    "Adam(lr=0.01, weight_decay=0.01)",
    "AdamW(lr=0.01)",
    "AMSGrad(lr=0.01)",
    "NAdam(lr=0.01, weight_decay=0.01)",
    "RAdam(lr=0.01)",
    "Adamax(lr=0.01, weight_decay=0.01)",
    "ASGD(lr=0.01, lambd=0.01, alpha=0.5, weight_decay=0.01)",
    "Rprop(lr=0.01)",
    "Lion(lr=0.001, weight_decay=0.1)",
    "Yogi(lr=0.01)",
    "AdaBelief(lr=0.01, weight_decay=0.01)",
    "AdaBelief(lr=0.01, rectify=True)",
    "FTRL(lr=0.1, l1_regularization_strength=0.01, l2_regularization_strength=0.01, beta=0.1)",
    "FTRL(lr=0.1, learning_rate_power=-0.3, l2_shrinkage_regularization_strength=0.05)",
    "ScheduleFreeSGD(lr=0.1)",
    "ScheduleFreeAdamW(lr=0.01, weight_decay=0.01)",
};
#define NSPECS (sizeof algo_specs / sizeof algo_specs[0])

typedef struct ebufs {
    float p0[NE], g0[NE];
    double p1[NE], g1[NE];
} ebufs;

static ebufs EA, EB;

static void efill(ebufs *b) { fill_f32_f64(b->p0, b->g0, b->p1, b->g1, NE); }

/* isa caps the kernels' instruction set (DESCENT_ISA_AVX512: the widest the
 * machine has). */
static descent_optimizer *emake(const char *spec, ebufs *b, int threads, int policy, int isa)
{
    descent_optimizer *opt = create(spec);
    if (!opt)
        return NULL;
    int g = 0;
    descent_add_tensor(opt, g, b->p0, b->g0, NE, DESCENT_F32);
    descent_add_tensor(opt, g, b->p1, b->g1, NE, DESCENT_F64);
    descent_set_threads(opt, threads);
    descent_set_isa(opt, isa);
    CHECK(descent_set_nonfinite_policy(opt, policy) == 0, "%s", descent_errmsg(opt));
    return opt;
}

/* A non-finite value (kind as in inject) at element i of tensor t (0: f32,
 * 1: f64). */
static void einject(ebufs *b, int t, size_t i, int kind)
{
    double v = kind == 0 ? NAN : kind == 1 ? INFINITY : -INFINITY;
    if (t == 0)
        b->g0[i] = (float)v;
    else
        b->g1[i] = v;
}

/* The PROPAGATE reference after its clean step (what a refused step leaves)
 * and after the step with the non-finite value (what REPORT leaves). */
static unsigned char img_before[sizeof img_a], img_after[sizeof img_a];
static size_t len_before, len_after;
static float before_p0[NE];
static double before_p1[NE];

/* A's parameters and checkpoint image equal the reference's (after: 0, the
 * state before the second step; 1, after it), bit for bit: memcmp, so a
 * NaN equals itself. */
static int esame(descent_optimizer *a, int after)
{
    size_t la = image(a, img_a);
    if (!after)
        return la == len_before && memcmp(img_a, img_before, la) == 0 &&
               memcmp(EA.p0, before_p0, sizeof EA.p0) == 0 && memcmp(EA.p1, before_p1, sizeof EA.p1) == 0;
    return la == len_after && memcmp(img_a, img_after, la) == 0 && memcmp(EA.p0, EB.p0, sizeof EA.p0) == 0 &&
           memcmp(EA.p1, EB.p1, sizeof EA.p1) == 0;
}

/* An optimizer over b after one clean step, set to run on threads threads.
 * The clean step runs on one thread: its bits do not depend on the thread
 * count, and when another process holds the other core, each parallel step
 * waits for the team to be scheduled. */
static descent_optimizer *stepped(const char *spec, ebufs *b, int policy, int threads, int isa)
{
    descent_optimizer *opt = emake(spec, b, 1, policy, isa);
    if (!opt)
        return NULL;
    CHECK(descent_step(opt) == 0, "%s: clean step under %s failed: %s", spec, policy_names[policy],
          descent_errmsg(opt));
    descent_set_threads(opt, threads);
    return opt;
}

/* A steps the non-finite value at element at of tensor t under each policy
 * from first_policy to REPORT in turn: SKIP and ERROR refuse it, so A must
 * still hold the reference's state before its second step; REPORT then
 * takes the step the reference took. */
static void policies(const char *spec, int t, size_t at, int kind, int threads, int isa, int first_policy)
{
    efill(&EA);
    descent_optimizer *a = stepped(spec, &EA, first_policy, threads, isa);
    if (!a)
        return;
    einject(&EA, t, at, kind);
    for (int policy = first_policy; policy <= DESCENT_NONFINITE_REPORT; policy++) {
        const char *what = policy_names[policy];
        CHECK(descent_set_nonfinite_policy(a, policy) == 0, "%s", descent_errmsg(a));
        int rc = descent_step(a);
        if (policy == DESCENT_NONFINITE_REPORT) {
            CHECK(rc == DESCENT_STEP_NONFINITE, "%s %s t%d kind %d at %zu, %d threads, isa %d: rc %d", spec, what,
                  t, kind, at, threads, isa, rc);
            CHECK(esame(a, 1), "%s %s t%d kind %d at %zu, %d threads, isa %d: not the PROPAGATE step", spec, what,
                  t, kind, at, threads, isa);
            CHECK(descent_step_count(a) == 2, "%s %s: step count %lld", spec, what,
                  (long long)descent_step_count(a));
        } else {
            int want = policy == DESCENT_NONFINITE_SKIP ? DESCENT_STEP_SKIPPED : DESCENT_ERR_NONFINITE;
            CHECK(rc == want, "%s %s t%d kind %d at %zu, %d threads: rc %d, expected %d", spec, what, t, kind, at,
                  threads, rc, want);
            CHECK(descent_step_count(a) == 1, "%s %s: step count %lld", spec, what,
                  (long long)descent_step_count(a));
            CHECK(descent_skipped_steps(a) == (first_policy == DESCENT_NONFINITE_SKIP), "%s %s: skipped %lld",
                  spec, what, (long long)descent_skipped_steps(a));
            if (policy == DESCENT_NONFINITE_ERROR)
                CHECK(esame(a, 0), "%s t%d kind %d at %zu, %d threads: a refused step (skip, error) changed something",
                      spec, t, kind, at, threads);
        }
        CHECK(named(a, t, at), "%s %s: message does not name tensor %d element %zu: %s", spec, what, t, at,
              descent_errmsg(a));
    }
    descent_destroy(a);
}

/* Positions: the first element; inside the second chunk's vector loop; the
 * last element, in its scalar tail. */
static const size_t algo_where[3] = {0, 65536 + 1003, NE - 1};

/* Every spec x dtype x position; the value cycles through NaN, +inf, -inf.
 * One PROPAGATE reference, on one thread at the widest instruction set,
 * serves every run of the case: a step's bits depend on neither the thread
 * count nor the instruction set, and the checkpoint images are nearly all
 * of this test's time. Each case runs SKIP, ERROR and REPORT on 1 and 2
 * threads, and REPORT on the narrower kernel builds (AVX2, baseline), whose
 * loops have other widths and other tails; SKIP and ERROR refuse the step
 * before any kernel runs. */
static void every_algo(int narrow_isa)
{
    for (size_t s = 0; s < NSPECS; s++)
        for (int t = 0; t < 2; t++)
            for (int w = 0; w < 3; w++) {
                const char *spec = algo_specs[s];
                size_t at = algo_where[w];
                int kind = (int)(s + (size_t)t + (size_t)w) % 3;
                efill(&EB);
                descent_optimizer *b = stepped(spec, &EB, DESCENT_NONFINITE_PROPAGATE, 1, DESCENT_ISA_AVX512);
                if (!b)
                    continue;
                len_before = image(b, img_before);
                memcpy(before_p0, EB.p0, sizeof before_p0);
                memcpy(before_p1, EB.p1, sizeof before_p1);
                einject(&EB, t, at, kind);
                CHECK(descent_step(b) == 0, "%s: propagate refused a step", spec);
                len_after = image(b, img_after);
                descent_destroy(b);
                for (int threads = 1; threads <= 2; threads++)
                    policies(spec, t, at, kind, threads, DESCENT_ISA_AVX512, DESCENT_NONFINITE_SKIP);
                for (int isa = DESCENT_ISA_PORTABLE; narrow_isa && isa < DESCENT_ISA_AVX512; isa++)
                    policies(spec, t, at, kind, 1, isa, DESCENT_NONFINITE_REPORT);
            }
}

/* algo_specs names every optimizer with element-wise kernels: one added
 * to the registry without a spec here fails. */
static void specs_cover_registry(void)
{
    for (int k = 0; k < descent_algo_count; k++) {
        const descent_algo *al = descent_algos[k];
        if (!al->kernel_f32)
            continue;
        size_t len = strlen(al->name);
        int found = 0;
        for (size_t s = 0; s < NSPECS && !found; s++)
            found = strncmp(algo_specs[s], al->name, len) == 0 && algo_specs[s][len] == '(';
        CHECK(found, "%s has element-wise kernels but no spec in algo_specs", al->name);
    }
}

/* Two faults: the message names the first (lowest tensor, then element),
 * whichever thread finds which. */
static void first_of_two(int threads)
{
    for (int policy = DESCENT_NONFINITE_SKIP; policy <= DESCENT_NONFINITE_REPORT; policy++) {
        fill(&A);
        descent_optimizer *a = make("AdamW(lr=0.01)", &A, threads, policy);
        inject(&A, 2, 5, 0);
        inject(&A, 1, n - 2, 1);
        inject(&A, 1, n - 1, 0);
        descent_step(a);
        CHECK(named(a, 1, n - 2), "%s, %d threads: %s", policy_names[policy], threads, descent_errmsg(a));
        descent_destroy(a);
    }
}

/* On finite gradients every policy is the PROPAGATE step, bit for bit,
 * for several optimizers, with and without a clipping verdict. */
static void finite_identical(int threads)
{
    static const char *const specs[] = {"AdamW(lr=0.01)", "SGD(lr=0.1, momentum=0.9)", "Lion(lr=0.001)"};
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++)
        for (int policy = DESCENT_NONFINITE_SKIP; policy <= DESCENT_NONFINITE_REPORT; policy++)
            for (int clip = 0; clip < 2; clip++) {
                fill(&A);
                fill(&B);
                descent_optimizer *a = make(specs[s], &A, threads, policy);
                descent_optimizer *b = make(specs[s], &B, threads, DESCENT_NONFINITE_PROPAGATE);
                for (int k = 0; k < 3; k++) {
                    if (clip) {
                        CHECK(descent_clip_grad_norm(a, 1e9, 2.0, NULL) == 0, "%s", descent_errmsg(a));
                        CHECK(descent_clip_grad_norm(b, 1e9, 2.0, NULL) == 0, "%s", descent_errmsg(b));
                    }
                    CHECK(descent_step(a) == 0 && descent_step(b) == 0, "%s %s: a finite step was refused: %s",
                          specs[s], policy_names[policy], descent_errmsg(a));
                }
                CHECK(same(a, b), "%s under %s%s differs from propagate", specs[s], policy_names[policy],
                      clip ? " after clipping" : "");
                descent_destroy(a);
                descent_destroy(b);
            }
}

/* The clipping verdict: valid for the one next step, dropped by every call
 * that can change what the gradients are. */
static void verdict(int threads)
{
    for (int policy = DESCENT_NONFINITE_SKIP; policy <= DESCENT_NONFINITE_REPORT; policy++) {
        const char *what = policy_names[policy];
        int refused = policy == DESCENT_NONFINITE_SKIP    ? DESCENT_STEP_SKIPPED
                      : policy == DESCENT_NONFINITE_ERROR ? DESCENT_ERR_NONFINITE
                                                          : DESCENT_STEP_NONFINITE;
        fill(&A);
        descent_optimizer *a = make("Adam(lr=0.01)", &A, threads, policy);

        /* A finite norm is a verdict the step trusts: a value written after
         * clipping (against the documented rule) is not seen. This is what
         * shows the step read no gradient of its own. */
        CHECK(descent_clip_grad_norm(a, 1e9, 2.0, NULL) == 0, "%s", descent_errmsg(a));
        inject(&A, 0, 7, 0);
        CHECK(descent_step(a) == 0, "%s: step after a finite clip did not trust the verdict", what);
        /* ... for one step only. */
        CHECK(descent_step(a) == refused, "%s: a consumed verdict was used again", what);
        CHECK(named(a, 0, 7), "%s: %s", what, descent_errmsg(a));

        /* descent_grads_changed drops it. */
        fill(&A);
        CHECK(descent_clip_grad_norm(a, 1e9, 2.0, NULL) == 0, "%s", descent_errmsg(a));
        inject(&A, 2, n - 1, 1);
        CHECK(descent_grads_changed(a) == 0, "grads_changed");
        CHECK(descent_step(a) == refused, "%s: descent_grads_changed did not drop the verdict", what);
        CHECK(named(a, 2, n - 1), "%s: %s", what, descent_errmsg(a));

        /* descent_set_tensor_data drops it, even with the same buffers. */
        fill(&A);
        CHECK(descent_clip_grad_norm_per_tensor(a, 1e9, 1.0, NULL) == 0, "%s", descent_errmsg(a));
        inject(&A, 1, 3, 2);
        CHECK(descent_set_tensor_data(a, 1, A.p1, A.g1) == 0, "%s", descent_errmsg(a));
        CHECK(descent_step(a) == refused, "%s: set_tensor_data did not drop the verdict", what);

        /* A non-finite norm leaves no verdict: the step checks. */
        fill(&A);
        inject(&A, 1, 9, 0);
        CHECK(descent_clip_grad_norm(a, 1.0, 2.0, NULL) == DESCENT_ERR_NONFINITE, "clip of a NaN");
        CHECK(descent_step(a) == refused, "%s: a NaN norm left a verdict", what);
        CHECK(named(a, 1, 9), "%s: %s", what, descent_errmsg(a));
        fill(&A);
        inject(&A, 0, 9, 1);
        CHECK(descent_clip_grad_norm_per_tensor(a, 1.0, 2.0, NULL) == DESCENT_ERR_NONFINITE, "per-tensor clip");
        CHECK(descent_step(a) == refused, "%s: an infinite per-tensor norm left a verdict", what);

        /* Finite f64 values whose norm overflows: no verdict, and the
         * step's own check finds nothing wrong. */
        fill(&A);
        A.g1[0] = 1e200;
        A.g1[1] = -1e200;
        CHECK(descent_clip_grad_norm(a, 1.0, 2.0, NULL) == DESCENT_ERR_NONFINITE, "overflowing norm");
        CHECK(descent_step(a) == 0, "%s: finite gradients with an overflowing norm refused: %s", what,
              descent_errmsg(a));

        /* Clipping by value turns +-inf into +-clip (torch.clamp), so the
         * gradients the step reads are finite; NaN stays NaN. */
        fill(&A);
        inject(&A, 0, 11, 1);
        inject(&A, 1, 12, 2);
        inject(&A, 2, 13, 1);
        CHECK(descent_clip_grad_value(a, 0.5) == 0, "%s", descent_errmsg(a));
        CHECK(A.g0[11] == 0.5f && A.g1[12] == -0.5 && A.g2[13] == 0x3F00, "clamped infinities: %g %g 0x%x",
              (double)A.g0[11], A.g1[12], A.g2[13]);
        CHECK(descent_step(a) == 0, "%s: clamped infinities refused: %s", what, descent_errmsg(a));
        fill(&A);
        inject(&A, 2, 14, 0);
        CHECK(descent_clip_grad_value(a, 0.5) == 0, "%s", descent_errmsg(a));
        CHECK(descent_step(a) == refused, "%s: clip_value let a NaN through as finite", what);
        CHECK(named(a, 2, 14), "%s: %s", what, descent_errmsg(a));
        /* A clip value beyond the f32 range rounds to inf in f32 and bf16:
         * an infinity stays infinite and must not be declared finite. */
        fill(&A);
        inject(&A, 0, 15, 1);
        CHECK(descent_clip_grad_value(a, 1e300) == 0, "%s", descent_errmsg(a));
        CHECK(descent_step(a) == refused, "%s: clip_value(1e300) declared +inf finite", what);
        fill(&A);
        inject(&A, 2, 16, 2);
        CHECK(descent_clip_grad_value(a, 1e300) == 0, "%s", descent_errmsg(a));
        CHECK(descent_step(a) == refused, "%s: clip_value(1e300) declared bf16 -inf finite", what);

        /* descent_add_tensor drops it: the new gradient was not clipped. */
        fill(&A);
        static float p3[100], g3[100];
        CHECK(descent_clip_grad_norm(a, 1e9, 2.0, NULL) == 0, "%s", descent_errmsg(a));
        g3[50] = NAN;
        CHECK(descent_add_tensor(a, 0, p3, g3, 100, DESCENT_F32) == 3, "%s", descent_errmsg(a));
        CHECK(descent_step(a) == refused, "%s: add_tensor did not drop the verdict", what);
        CHECK(named(a, 3, 50), "%s: %s", what, descent_errmsg(a));
        g3[50] = 0;
        descent_destroy(a);
    }
}

/* bf16 of a finite f32 by round-to-nearest-even, for the unscale reference. */
static uint16_t bf16_rne(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

static float bf16_widen(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* descent_unscale_grads: GradScaler.unscale_'s products in each dtype, its
 * found_inf, a verdict the next step trusts, and bad arguments refused
 * with the gradients untouched. */
static void unscale(int threads)
{
    const double inv = 1.0 / 65536.0 * 3.0; /* not a power of two: products round */
    for (int policy = DESCENT_NONFINITE_SKIP; policy <= DESCENT_NONFINITE_REPORT; policy++) {
        const char *what = policy_names[policy];
        fill(&A);
        fill(&B);
        descent_optimizer *a = make("Adam(lr=0.01)", &A, threads, policy);
        int found = -1, same_bits = 1;
        CHECK(descent_unscale_grads(a, inv, &found) == 0 && found == 0, "%s: unscale of finite gradients: found %d",
              what, found);
        for (size_t i = 0; i < n; i++) {
            float f32 = B.g0[i] * (float)inv;
            double f64 = B.g1[i] * inv;
            uint16_t h = bf16_rne(bf16_widen(B.g2[i]) * (float)inv);
            same_bits &= memcmp(&A.g0[i], &f32, sizeof f32) == 0 && memcmp(&A.g1[i], &f64, sizeof f64) == 0 &&
                         A.g2[i] == h;
        }
        CHECK(same_bits, "%s: unscaled gradients are not g * inv_scale in their dtype", what);
        /* The verdict is trusted by the next step: a value written after
         * the unscale (against the rule) is not seen. */
        inject(&A, 0, 21, 0);
        CHECK(descent_step(a) == 0, "%s: the step after a finite unscale did not trust its verdict", what);

        /* A non-finite value: found, and the step checks for itself. */
        fill(&A);
        inject(&A, 2, n - 3, 1);
        found = -1;
        CHECK(descent_unscale_grads(a, inv, &found) == 0 && found == 1, "%s: unscale missed +inf: found %d", what,
              found);
        int refused = policy == DESCENT_NONFINITE_SKIP    ? DESCENT_STEP_SKIPPED
                      : policy == DESCENT_NONFINITE_ERROR ? DESCENT_ERR_NONFINITE
                                                          : DESCENT_STEP_NONFINITE;
        CHECK(descent_step(a) == refused, "%s: step after a non-finite unscale", what);
        CHECK(named(a, 2, n - 3), "%s: %s", what, descent_errmsg(a));

        /* Finite values that overflow when scaled up count as found. */
        fill(&A);
        A.g0[4] = 3e38f;
        found = -1;
        CHECK(descent_unscale_grads(a, 4.0, &found) == 0 && found == 1, "%s: overflow to inf not found", what);

        /* Bad inv_scale: refused, named, nothing written. */
        static const double bad[] = {0.0, -1.0, INFINITY, NAN};
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            fill(&A);
            found = -1;
            CHECK(descent_unscale_grads(a, bad[k], &found) == DESCENT_ERR_INVALID && found == 0 &&
                      strstr(descent_errmsg(a), "inv_scale") != NULL,
                  "%s: inv_scale %g accepted: %s", what, bad[k], descent_errmsg(a));
            CHECK(memcmp(A.g0, B.g0, n * sizeof *A.g0) == 0 && memcmp(A.g1, B.g1, n * sizeof *A.g1) == 0 &&
                      memcmp(A.g2, B.g2, n * sizeof *A.g2) == 0,
                  "%s: a refused unscale wrote gradients", what);
        }
        descent_destroy(a);
    }
    CHECK(descent_unscale_grads(NULL, 1.0, NULL) == DESCENT_ERR_INVALID, "unscale(NULL)");
}

/* 8-bit state (state_bits=8): its kernels run on dequantized blocks of
 * state and test the gradient in their loops like every other path. REPORT
 * leaves what PROPAGATE leaves and names the element, for each fault
 * position, on 1 and 2 threads. */
static void q8_report(void)
{
    size_t where[3] = {0, n / 2 + 3, n - 1};
    for (int threads = 1; threads <= 2; threads++)
        for (int w = 0; w < 3; w++) {
            fill(&A);
            fill(&B);
            descent_optimizer *a = create("AdamW(lr=0.01, state_bits=8)");
            descent_optimizer *b = create("AdamW(lr=0.01, state_bits=8)");
            if (!a || !b)
                return;
            descent_add_tensor(a, 0, A.p0, A.g0, n, DESCENT_F32);
            descent_add_tensor(b, 0, B.p0, B.g0, n, DESCENT_F32);
            descent_set_threads(a, threads);
            descent_set_threads(b, threads);
            CHECK(descent_set_nonfinite_policy(a, DESCENT_NONFINITE_REPORT) == 0, "%s", descent_errmsg(a));
            CHECK(descent_step(a) == 0 && descent_step(b) == 0, "8-bit: a clean step failed: %s", descent_errmsg(a));
            inject(&A, 0, where[w], w);
            inject(&B, 0, where[w], w);
            CHECK(descent_step(a) == DESCENT_STEP_NONFINITE, "8-bit REPORT at %zu, %d threads: not reported",
                  where[w], threads);
            CHECK(descent_step(b) == 0, "8-bit propagate refused a step");
            CHECK(same(a, b), "8-bit REPORT at %zu, %d threads: not the PROPAGATE step", where[w], threads);
            CHECK(named(a, 0, where[w]), "8-bit REPORT: %s", descent_errmsg(a));
            descent_destroy(a);
            descent_destroy(b);
        }
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    int max_threads = 3;
    if (t_valgrind())
        max_threads = 2; /* 3 threads on 2 cores under valgrind: slow, nothing new */
    for (int threads = 1; threads <= max_threads; threads++) {
        faults(threads);
        first_of_two(threads);
        finite_identical(threads);
        verdict(threads);
        unscale(threads);
    }
    specs_cover_registry();
    q8_report();
    every_algo(!t_valgrind()); /* valgrind has no AVX-512: its widest build is already a narrower one */
    /* PROPAGATE (the default) lets the value through, as PyTorch does. */
    fill(&A);
    descent_optimizer *a = make("AdamW(lr=0.01)", &A, 1, DESCENT_NONFINITE_PROPAGATE);
    A.g0[5] = NAN;
    CHECK(descent_step(a) == 0, "propagate refused a step");
    CHECK(isnan(A.p0[5]) && !isnan(A.p0[4]), "propagate: nan did not reach exactly its parameter");
    CHECK(descent_set_nonfinite_policy(a, 4) == DESCENT_ERR_INVALID && strstr(descent_errmsg(a), "got 4"),
          "bad policy accepted: %s", descent_errmsg(a));
    CHECK(descent_set_nonfinite_policy(a, -1) == DESCENT_ERR_INVALID, "policy -1 accepted");
    CHECK(descent_grads_changed(NULL) == DESCENT_ERR_INVALID, "grads_changed(NULL)");
    descent_destroy(a);
    t_isa_covered(descent_isa_detect());
    return t_done();
}
