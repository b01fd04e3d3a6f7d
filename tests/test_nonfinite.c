/* The non-finite-gradient policies: PROPAGATE is PyTorch's behaviour; SKIP
 * leaves parameters, state and step count untouched and reports the step;
 * ERROR does the same with DESCENT_ERR_NONFINITE and names the tensor. */
#include "descent.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define N 200000 /* several chunks, so the threaded scan is exercised */

static float p1[N], g1[N];
static double p2[N], g2[N];
static uint16_t p3[64], g3[64];

static descent_optimizer *make(const char *spec, int threads)
{
    descent_optimizer *opt;
    descent_error err;
    if (descent_create_from_spec(&opt, spec, NULL, &err) < 0)
        return NULL;
    int g = descent_add_group(opt, NULL);
    descent_add_tensor(opt, g, p1, g1, N, DESCENT_F32);
    descent_add_tensor(opt, g, p2, g2, N, DESCENT_F64);
    descent_add_tensor(opt, g, p3, g3, 64, DESCENT_BF16);
    descent_set_threads(opt, threads);
    return opt;
}

static void fill(void)
{
    for (int i = 0; i < N; i++) {
        p1[i] = (float)(i % 13) * 0.1f;
        g1[i] = (float)((i % 7) - 3) * 0.01f;
        p2[i] = (i % 11) * 0.1;
        g2[i] = ((i % 5) - 2) * 0.01;
    }
    for (int i = 0; i < 64; i++) {
        p3[i] = 0x3F80; /* 1.0 */
        g3[i] = 0x3C23; /* about 0.01 */
    }
}

static size_t image(descent_optimizer *opt, unsigned char *buf, size_t cap)
{
    size_t len;
    descent_save_mem(opt, buf, cap, &len);
    return len;
}

static unsigned char before[8 << 20], after[8 << 20];

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    struct {
        int tensor;
        size_t index;
        const char *what;
    } faults[] = {{0, 0, "f32 nan at 0"}, {0, N - 1, "f32 inf at end"}, {1, 123456, "f64 -inf"},
                  {1, 70000, "f64 nan"},  {2, 17, "bf16 inf"},          {2, 63, "bf16 nan"}};
    for (int threads = 1; threads <= 2; threads++) {
        for (size_t f = 0; f < sizeof faults / sizeof faults[0]; f++) {
            for (int policy = DESCENT_NONFINITE_SKIP; policy <= DESCENT_NONFINITE_ERROR; policy++) {
                fill();
                descent_optimizer *opt = make("Adam(lr=0.01)", threads);
                CHECK(descent_set_nonfinite_policy(opt, policy) == 0, "%s", descent_errmsg(opt));
                CHECK(descent_step(opt) == 0, "a clean step under policy %d failed", policy);
                switch (faults[f].tensor) {
                case 0: g1[faults[f].index] = f % 2 ? INFINITY : NAN; break;
                case 1: g2[faults[f].index] = f % 2 ? NAN : -INFINITY; break;
                default: g3[faults[f].index] = f % 2 ? 0x7FC0 : 0x7F80; break;
                }
                float p1c[8];
                memcpy(p1c, p1, sizeof p1c);
                double p2last = p2[N - 1];
                uint16_t p3c = p3[17];
                size_t len = image(opt, before, sizeof before);
                int rc = descent_step(opt);
                int want = policy == DESCENT_NONFINITE_SKIP ? DESCENT_STEP_SKIPPED : DESCENT_ERR_NONFINITE;
                CHECK(rc == want, "%s, policy %d, %d threads: step returned %d, expected %d", faults[f].what, policy,
                      threads, rc, want);
                char tensor_name[32], index_name[48];
                snprintf(tensor_name, sizeof tensor_name, "tensor %d", faults[f].tensor);
                snprintf(index_name, sizeof index_name, "element %zu", faults[f].index);
                CHECK(strstr(descent_errmsg(opt), tensor_name) && strstr(descent_errmsg(opt), index_name),
                      "%s: message does not name %s, %s: %s", faults[f].what, tensor_name, index_name,
                      descent_errmsg(opt));
                size_t len2 = image(opt, after, sizeof after);
                CHECK(len == len2 && memcmp(before, after, len) == 0, "%s: state changed by a refused step",
                      faults[f].what);
                CHECK(memcmp(p1c, p1, sizeof p1c) == 0 && p2[N - 1] == p2last && p3[17] == p3c,
                      "%s: parameters changed by a refused step", faults[f].what);
                CHECK(descent_step_count(opt) == 1, "%s: step count %lld", faults[f].what,
                      (long long)descent_step_count(opt));
                CHECK(descent_skipped_steps(opt) == (policy == DESCENT_NONFINITE_SKIP),
                      "%s: skipped count %lld", faults[f].what, (long long)descent_skipped_steps(opt));
                descent_destroy(opt);
            }
        }
    }
    /* PROPAGATE (the default) lets the value through, as PyTorch does; SKIP
     * on clean gradients is exactly PROPAGATE. */
    fill();
    descent_optimizer *a = make("AdamW(lr=0.01)", 1);
    g1[5] = NAN;
    CHECK(descent_step(a) == 0, "propagate refused a step");
    CHECK(isnan(p1[5]) && !isnan(p1[4]), "propagate: nan did not reach exactly its parameter");
    descent_destroy(a);
    fill();
    a = make("AdamW(lr=0.01)", 2);
    for (int s = 0; s < 3; s++)
        descent_step(a);
    float ref1[N];
    memcpy(ref1, p1, sizeof ref1);
    fill();
    descent_optimizer *b = make("AdamW(lr=0.01)", 2);
    descent_set_nonfinite_policy(b, DESCENT_NONFINITE_SKIP);
    for (int s = 0; s < 3; s++)
        CHECK(descent_step(b) == 0, "skip refused a clean step");
    CHECK(memcmp(ref1, p1, sizeof ref1) == 0, "skip on clean gradients differs from propagate");
    CHECK(descent_set_nonfinite_policy(b, 7) == DESCENT_ERR_INVALID && strstr(descent_errmsg(b), "got 7"),
          "bad policy accepted: %s", descent_errmsg(b));
    descent_destroy(a);
    descent_destroy(b);
    return t_done();
}
