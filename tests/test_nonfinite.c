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

static void fill(bufs *b)
{
    for (size_t i = 0; i < n; i++) {
        b->p0[i] = (float)(i % 13) * 0.1f;
        b->g0[i] = (float)((int)(i % 7) - 3) * 0.01f;
        b->p1[i] = (double)(i % 11) * 0.1;
        b->g1[i] = ((int)(i % 5) - 2) * 0.01;
        b->p2[i] = (uint16_t)(0x3F80 + i % 64); /* about 1.0 .. 1.5 */
        b->g2[i] = (uint16_t)((i % 2 ? 0x3C23 : 0xBC23) + i % 16); /* about +-0.01 */
    }
}

static descent_optimizer *make(const char *spec, bufs *b, int threads, int policy)
{
    descent_optimizer *opt;
    descent_error err;
    if (descent_create_from_spec(&opt, spec, NULL, &err) < 0) {
        CHECK(0, "%s: %s", spec, err.message);
        return NULL;
    }
    int g = descent_add_group(opt, NULL);
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
    }
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
    return t_done();
}
