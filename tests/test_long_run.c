/* Long runs: step counters are 64-bit, and 10^7 steps of every optimizer
 * and schedule stay finite and correct (bias corrections, warmups, cosine
 * restarts). Checked against closed forms where the long-run limit is known. */
#include "descent.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STEPS 10000000L

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    long steps = getenv("DESCENT_LONG_STEPS") ? atol(getenv("DESCENT_LONG_STEPS")) : STEPS;
    /* Every optimizer, one element, a constant gradient of 1e-6 in f64: the
     * parameter must move by a finite, bounded amount and the step count
     * must be exact. */
    for (int i = 0; i < descent_optimizer_count(); i++) {
        const char *name = descent_optimizer_name(i);
        char spec[128];
        snprintf(spec, sizeof spec, "%s(lr=1e-9)", name);
        descent_optimizer *opt;
        descent_error err;
        if (descent_create_from_spec(&opt, spec, NULL, &err) < 0) {
            CHECK(0, "%s: %s", spec, err.message);
            continue;
        }
        double p = 1.0, g = 1e-6;
        int grp = descent_add_group(opt, NULL);
        descent_add_tensor(opt, grp, &p, &g, 1, DESCENT_F64);
        int rc = 0;
        for (long s = 0; s < steps && rc == 0; s++)
            rc = descent_step(opt);
        CHECK(rc == 0, "%s: step failed: %s", name, descent_errmsg(opt));
        CHECK(descent_step_count(opt) == (int64_t)steps, "%s: step count %lld, expected %ld", name,
              (long long)descent_step_count(opt), steps);
        CHECK(isfinite(p), "%s: parameter not finite after %ld steps: %g", name, steps, p);
        /* Each step moves p by at most lr times a bounded factor (sign-based
         * and normalized methods move by about lr, gradient methods by lr g;
         * Rprop's step size is capped at step_sizes[1] = 50 times lr... but
         * starts from lr and stays within [1e-6, 50]). */
        CHECK(fabs(p - 1.0) <= 60.0 * steps, "%s: parameter moved by %g", name, fabs(p - 1.0));
        /* The counter survives a checkpoint round trip as 64 bits. */
        size_t len;
        descent_save_mem(opt, NULL, 0, &len);
        void *buf = malloc(len);
        descent_save_mem(opt, buf, len, &len);
        descent_optimizer *again;
        descent_create_from_spec(&again, spec, NULL, &err);
        double p2 = p;
        descent_add_tensor(again, descent_add_group(again, NULL), &p2, &g, 1, DESCENT_F64);
        CHECK(descent_load_mem(again, buf, len) == 0, "%s: %s", name, descent_errmsg(again));
        CHECK(descent_step_count(again) == (int64_t)steps, "%s: loaded step count %lld", name,
              (long long)descent_step_count(again));
        descent_step(opt);
        descent_step(again);
        CHECK(memcmp(&p, &p2, sizeof p) == 0, "%s: resumed step differs after %ld steps", name, steps);
        free(buf);
        descent_destroy(again);
        descent_destroy(opt);
    }

    /* Adam at t = 10^7: both bias corrections are 1 to the last bit, so a
     * step is exactly PyTorch's uncorrected update; check it by hand. */
    {
        descent_optimizer *opt;
        descent_error err;
        descent_create_from_spec(&opt, "Adam(lr=0.1, betas=(0.9, 0.999), eps=1e-8)", NULL, &err);
        double p = 0.0, g = 0.5;
        descent_add_tensor(opt, descent_add_group(opt, NULL), &p, &g, 1, DESCENT_F64);
        for (long s = 0; s < steps; s++) {
            p = 0.0;
            descent_step(opt);
        }
        /* m = v = their fixed points g and g^2 (to rounding): p = -lr g/(|g|+eps). */
        double want = -0.1 * 0.5 / (0.5 + 1e-8);
        CHECK(t_close(p, want, 1e-12, 0), "Adam at t=%ld: %.17g, expected %.17g", steps, p, want);
        descent_destroy(opt);
    }

    /* Schedules at t = 10^7: finite, and periodic/limit values exactly known. */
    struct {
        const char *spec;
        double want; /* NAN: only finiteness is checked */
    } scheds[] = {
        {"LinearWarmup(warmup_period=100)", 0.1},
        {"ExponentialWarmup(warmup_period=100)", 0.1},
        {"CosineAnnealingWarmRestarts(T_0=10, eta_min=0.0)", 0.1},     /* t = 10^7 is a restart */
        {"CosineAnnealingLR(T_max=1000, eta_min=0.01)", 0.1},          /* closed form: period 2000 */
        {"StepLR(step_size=1000000, gamma=0.5)", 0.1 * pow(0.5, 10)},
        {"ExponentialLR(gamma=0.9999999)", 0.1 * pow(0.9999999, 1e7)},
        {"PolynomialLR(total_iters=100, power=2.0)", 0.0},
        {"LinearWarmup(warmup_period=100, schedule=CosineAnnealingWarmRestarts(T_0=1000, T_mult=2))", NAN},
    };
    for (size_t k = 0; k < sizeof scheds / sizeof scheds[0]; k++) {
        double lr;
        descent_error err;
        int rc = descent_schedule_lr_at(scheds[k].spec, 0.1, (int64_t)steps, &lr, &err);
        CHECK(rc == 0, "%s: %s", scheds[k].spec, err.message);
        CHECK(isfinite(lr) && lr >= 0, "%s at t=%ld: lr %g", scheds[k].spec, steps, lr);
        if (!isnan(scheds[k].want) && steps == STEPS)
            CHECK(t_close(lr, scheds[k].want, 1e-9, 1e-15), "%s at t=%ld: lr %.17g, expected %.17g", scheds[k].spec,
                  steps, lr, scheds[k].want);
    }
    /* The stepped (recursive) form over 10^6 steps stays finite too. */
    {
        descent_optimizer *opt;
        descent_error err;
        descent_create_from_spec(&opt, "SGD(lr=0.1, momentum=0.9)", NULL, &err);
        descent_add_group(opt, NULL);
        CHECK(descent_set_schedule(opt, "LinearWarmup(warmup_period=1000, schedule=CosineAnnealingLR(T_max=777))") == 0,
              "%s", descent_errmsg(opt));
        int ok = 1;
        for (long s = 0; s < steps / 10 && ok; s++) {
            descent_schedule_step(opt, NAN);
            double lr = descent_get_lr(opt, 0);
            ok = isfinite(lr) && lr >= 0 && lr <= 0.1 * (1 + 1e-9);
        }
        CHECK(ok, "recursive cosine under warmup left [0, base] within %ld steps", steps / 10);
        descent_destroy(opt);
    }
    return t_done();
}
