/* The hyperparameter sweep: random specs within the accepted bounds of every
 * optimizer, f32 and f64, zero / decaying / denormal / spiky gradients, a few
 * hundred steps. Finite gradients must never turn into NaN or inf
 * parameters. Unbounded values are drawn up to magnitudes where a run is
 * meant to stay bounded (an lr of 1e3 with weight decay 1e3 diverges, as
 * the mathematics says, and is not what this sweep looks for); bounded ones
 * include their end points. Deterministic: a fixed generator. */
#include "descent.h"
#include "internal.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define N 16
#define STEPS 300
#define SPECS 60

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;

static double uniform(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static double log_uniform(double lo, double hi) { return exp(log(lo) + uniform() * (log(hi) - log(lo))); }

static const char *algo_name;

/* The largest magnitude drawn for an argument without an upper bound (or
 * without a lower one). Two are drawn narrower than their accepted range,
 * where the mathematics itself overflows:
 *  - LAMB's lr is relative: every step moves p by lr ||p|| along u, so ||p||
 *    grows like (1 + lr)^t while the moments last (hundreds of steps);
 *  - FTRL's learning_rate_power p < -1 raises the accumulator to -p > 1:
 *    squared gradients of 1e4 give 1e8^-p, beyond f32 for p < -4.75. */
static double cap(const char *name)
{
    if (strcmp(name, "lr") == 0)
        return strcmp(algo_name, "LAMB") == 0 ? 0.05 : 1.0;
    if (strcmp(name, "learning_rate_power") == 0)
        return 1.0;
    if (strstr(name, "weight_decay") || strcmp(name, "lambd") == 0 || strstr(name, "regularization"))
        return 0.5;
    if (strcmp(name, "momentum") == 0)
        return 1.0;
    return 10.0;
}

/* A random value of descriptor d, item k, within its accepted bounds. */
static double draw(const hp_desc *d, int k)
{
    (void)k;
    if (d->type == HP_BOOL)
        return uniform() < 0.5;
    if (d->type == HP_CHOICE) {
        int n = 0;
        while (d->choices[n])
            n++;
        return floor(uniform() * n);
    }
    if (d->type == HP_INT && (d->bounds & HP_ENDS_ONLY))
        return uniform() < 0.5 ? d->lo : d->hi;
    double lo = d->lo, hi = (d->bounds & HP_NO_HI) ? (d->lo > 0 ? d->lo : 0) + cap(d->name) : d->hi;
    if (isinf(lo))
        lo = -cap(d->name);
    double r = uniform(), v;
    if (r < 0.15 && !(d->bounds & HP_LO_OPEN))
        v = lo;
    else if (r < 0.3 && !(d->bounds & (HP_HI_OPEN | HP_NO_HI)))
        v = hi;
    else if (r < 0.45 && (d->bounds & HP_HI_OPEN))
        v = hi - (hi - lo) * 1e-6; /* just below an open upper end (betas near 1) */
    else if (lo >= 0 && hi > 0 && uniform() < 0.5)
        v = log_uniform(lo > 0 ? lo : hi * 1e-9, hi);
    else
        v = lo + (hi - lo) * uniform();
    if ((d->bounds & HP_LO_OPEN) && v <= lo)
        v = lo + (hi - lo) * 0.5;
    if (d->type == HP_INT)
        v = floor(v);
    return v;
}

static const char *const grad_kinds[] = {"zero", "decaying", "denormal", "spiky"};

static double gradient(int kind, int step, int j, int f64)
{
    double r = uniform() * 2 - 1;
    switch (kind) {
    case 0:
        return step == 0 ? r : 0.0; /* one real step, then a frozen tensor */
    case 1:
        return r * pow(0.9, step);
    case 2:
        return r * (f64 ? 1e-310 : 1e-40);
    default:
        return (step % 37 == 0 && j % 5 == 0) ? r * 1e4 : r * 1e-3;
    }
}

static void describe(const descent_algo *algo, const descent_hparams *hp, char *buf, size_t cap_)
{
    size_t used = (size_t)snprintf(buf, cap_, "%s(", algo->name);
    for (const hp_desc *d = algo->hparams; d->name && used < cap_; d++) {
        int n = d->type == HP_PAIR ? 2 : 1;
        for (int k = 0; k < n && used < cap_; k++)
            used += (size_t)snprintf(buf + used, cap_ - used, "%s%s%s=%.17g", d == algo->hparams && k == 0 ? "" : ", ",
                                     d->name, n == 2 ? (k ? "[1]" : "[0]") : "", descent_hp_read(hp, d, k));
    }
    if (used < cap_)
        snprintf(buf + used, cap_ - used, ")");
}

/* A value set after registration follows the registration rule: on f32 and
 * bf16 tensors a nonzero magnitude outside [FLT_MIN, FLT_MAX] is refused
 * with a message naming it, and nothing changes; on f64 tensors it is
 * accepted. Through descent_set (one group and all), descent_set_lr,
 * descent_set_schedule (its rates and the lrs it gives) and
 * descent_schedule_step. */
static descent_optimizer *setter_opt(const char *spec, descent_dtype dt, void *p, void *g)
{
    descent_optimizer *opt;
    descent_error err;
    if (descent_create_from_spec(&opt, spec, NULL, &err) < 0)
        return NULL;
    descent_add_group(opt, NULL);
    if (descent_add_tensor(opt, 0, p, g, 4, dt) < 0) {
        descent_destroy(opt);
        return NULL;
    }
    return opt;
}

static void test_setters(void)
{
    static const struct {
        const char *spec, *name;
        double v;
    } cases[] = {
        {"SGD(lr=0.1, momentum=0.9)", "lr", 1e39},         {"SGD(lr=0.1, momentum=0.9)", "lr", 1e-300},
        {"SGD(lr=0.1, momentum=0.9)", "weight_decay", 1e39}, {"AdamW(lr=1e-3)", "weight_decay", 1e-45},
        {"Adam(lr=1e-3)", "eps", 1e-50},                   {"Adam(lr=1e-3)", "betas[1]", 1e-40},
        {"Adadelta()", "eps", 1e39},                       {"RMSprop(lr=0.01)", "lr", -1e39},
    };
    float p32[4] = {1, 2, 3, 4}, g32[4] = {0};
    double p64[4] = {1, 2, 3, 4}, g64[4] = {0};
    uint16_t pb[4] = {0x3f80, 0x4000, 0x4040, 0x4080}, gb[4] = {0};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (int way = 0; way < 3; way++)
            for (int dt = 0; dt < 3; dt++) {
                descent_dtype dtype = dt == 0 ? DESCENT_F32 : dt == 1 ? DESCENT_BF16 : DESCENT_F64;
                descent_optimizer *opt = setter_opt(cases[c].spec, dtype, dt == 0 ? (void *)p32 : dt == 1 ? (void *)pb : (void *)p64,
                                                    dt == 0 ? (void *)g32 : dt == 1 ? (void *)gb : (void *)g64);
                CHECK(opt != NULL, "%s: creating", cases[c].spec);
                if (!opt)
                    continue;
                if (way == 2 && strcmp(cases[c].name, "lr") != 0) {
                    descent_destroy(opt);
                    continue;
                }
                double before, after;
                descent_get(opt, 0, cases[c].name, &before);
                int rc = way == 0 ? descent_set(opt, 0, cases[c].name, cases[c].v)
                         : way == 1 ? descent_set(opt, -1, cases[c].name, cases[c].v)
                                    : descent_set_lr(opt, 0, cases[c].v);
                descent_get(opt, 0, cases[c].name, &after);
                if (cases[c].v < 0) { /* out of its own bounds on every type */
                    CHECK(rc == DESCENT_ERR_INVALID && after == before, "%s: %s = %g accepted", cases[c].spec,
                          cases[c].name, cases[c].v);
                } else if (dtype == DESCENT_F64) {
                    CHECK(rc == 0 && after == cases[c].v, "%s on f64: %s = %g refused: %s", cases[c].spec,
                          cases[c].name, cases[c].v, descent_errmsg(opt));
                } else {
                    CHECK(rc == DESCENT_ERR_INVALID && after == before &&
                              strstr(descent_errmsg(opt), cases[c].name) &&
                              strstr(descent_errmsg(opt), dtype == DESCENT_BF16 ? "bf16" : "f32"),
                          "%s on %s (way %d): %s = %g: rc %d, now %g, message '%s'", cases[c].spec,
                          dtype == DESCENT_BF16 ? "bf16" : "f32", way, cases[c].name, cases[c].v, rc, after,
                          descent_errmsg(opt));
                }
                descent_destroy(opt);
            }
    /* Schedules: rates given to the schedule, and lrs it reaches. */
    static const char *const scheds[] = {"OneCycleLR(max_lr=1e39, total_steps=10)",
                                         "CyclicLR(base_lr=1e-300, max_lr=0.1, step_size_up=2)",
                                         "CosineAnnealingLR(T_max=10, eta_min=1e-320)",
                                         "ReduceLROnPlateau(min_lr=1e-310)"};
    for (size_t k = 0; k < sizeof scheds / sizeof *scheds; k++)
        for (int f64 = 0; f64 <= 1; f64++) {
            descent_optimizer *opt = setter_opt("SGD(lr=0.1, momentum=0.9)", f64 ? DESCENT_F64 : DESCENT_F32,
                                                f64 ? (void *)p64 : (void *)p32, f64 ? (void *)g64 : (void *)g32);
            int rc = descent_set_schedule(opt, scheds[k]);
            if (f64)
                CHECK(rc == 0, "f64: %s refused: %s", scheds[k], descent_errmsg(opt));
            else
                CHECK(rc == DESCENT_ERR_INVALID && strstr(descent_errmsg(opt), "f32") &&
                          descent_get_lr(opt, 0) == 0.1,
                      "f32: %s: rc %d, lr %g, '%s'", scheds[k], rc, descent_get_lr(opt, 0), descent_errmsg(opt));
            descent_destroy(opt);
        }
    for (int f64 = 0; f64 <= 1; f64++) {
        descent_optimizer *opt = setter_opt("SGD(lr=0.1)", f64 ? DESCENT_F64 : DESCENT_F32,
                                            f64 ? (void *)p64 : (void *)p32, f64 ? (void *)g64 : (void *)g32);
        CHECK(descent_set_schedule(opt, "ExponentialLR(gamma=1e10)") == 0, "%s", descent_errmsg(opt));
        int rc = 0, steps = 0;
        while (steps < 4 && (rc = descent_schedule_step(opt, NAN)) == 0)
            steps++;
        if (f64)
            CHECK(steps == 4 && descent_get_lr(opt, 0) > 1e38, "f64: ExponentialLR: %d steps, lr %g: %s", steps,
                  descent_get_lr(opt, 0), descent_errmsg(opt));
        else
            CHECK(steps == 3 && rc == DESCENT_ERR_INVALID && strstr(descent_errmsg(opt), "lr") &&
                      strstr(descent_errmsg(opt), "f32") && fabs(descent_get_lr(opt, 0) / 1e29 - 1) < 1e-9,
                  "f32: ExponentialLR to 1e39: %d steps, rc %d, lr %g, '%s'", steps, rc, descent_get_lr(opt, 0),
                  descent_errmsg(opt));
        descent_destroy(opt);
    }
}

int main(void)
{
    test_setters();
    int runs = 0, refused = 0;
    for (int a = 0; a < descent_optimizer_count(); a++) {
        const descent_algo *algo = descent_find_algo(descent_optimizer_name(a));
        int bad_for_algo = 0;
        algo_name = algo->name;
        for (int s = 0; s < SPECS && bad_for_algo < 3; s++) {
            descent_hparams hp;
            descent_error err;
            descent_hparams_init(&hp, algo->name, &err);
            for (const hp_desc *d = algo->hparams; d->name; d++)
                for (int k = 0; k < (d->type == HP_PAIR ? 2 : 1); k++)
                    if (uniform() < 0.7)
                        descent_hp_write(&hp, d, k, draw(d, k));
            for (int f64 = 0; f64 <= 1; f64++) {
                for (int kind = 0; kind < 4; kind++) {
                    descent_optimizer *opt;
                    if (descent_create(&opt, &hp, NULL, &err) < 0) {
                        refused++; /* a combination a validate() refuses */
                        goto next_spec;
                    }
                    float p32[N], g32[N];
                    double p64[N], g64[N];
                    for (int j = 0; j < N; j++)
                        p32[j] = (float)(p64[j] = uniform() * 2 - 1);
                    int g = descent_add_group(opt, NULL);
                    size_t shape[2] = {4, 4};
                    if (descent_add_tensor_shaped(opt, g, f64 ? (void *)p64 : (void *)p32,
                                                  f64 ? (void *)g64 : (void *)g32, 2, shape,
                                                  f64 ? DESCENT_F64 : DESCENT_F32) < 0) {
                        /* refused at registration: a value the storage type cannot hold */
                        refused++;
                        descent_destroy(opt);
                        continue;
                    }
                    /* FTRL's shrinkage term 2 l2_shrinkage p acts as weight
                     * decay with the step 2 l2_shrinkage / q, q = (beta +
                     * n^k) / lr + 2 l2 (n >= initial_accumulator_value):
                     * above 1 the run diverges, as the update rule does in
                     * exact arithmetic (SGD with lr wd > 2 does the same). */
                    double q0 = (hp.beta + pow(hp.initial_accumulator_value, -hp.learning_rate_power)) / hp.lr +
                                2 * hp.l2_regularization_strength;
                    if (strcmp(algo->name, "FTRL") == 0 && 2 * hp.l2_shrinkage_regularization_strength >= q0) {
                        descent_destroy(opt);
                        continue;
                    }
                    int bad_step = -1;
                    for (int t = 0; t < STEPS && bad_step < 0; t++) {
                        for (int j = 0; j < N; j++)
                            g32[j] = (float)(g64[j] = gradient(kind, t, j, f64));
                        descent_step(opt);
                        for (int j = 0; j < N; j++)
                            if (!isfinite(f64 ? p64[j] : p32[j]))
                                bad_step = t;
                    }
                    runs++;
                    if (bad_step >= 0) {
                        char spec[1200];
                        describe(algo, &hp, spec, sizeof spec);
                        bad_for_algo++;
                        CHECK(0, "%s %s gradients: non-finite parameter at step %d: %s", f64 ? "f64" : "f32",
                              grad_kinds[kind], bad_step + 1, spec);
                    } else {
                        CHECK(1, "finite");
                    }
                    descent_destroy(opt);
                }
            }
        next_spec:;
        }
    }
    printf("%d runs of %d steps, %d specs refused\n", runs, STEPS, refused);
    CHECK(runs > 1000, "only %d runs", runs);
    return t_done();
}
