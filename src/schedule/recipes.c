/* Named LambdaLR recipes: the schedules Hugging Face transformers builds
 * with torch's LambdaLR (transformers/optimization.py,
 * get_*_schedule_with_warmup, get_inverse_sqrt_schedule, get_wsd_schedule).
 * Each is lr_t = base_lr * lambda(t), base_lr the group's initial_lr, t the
 * scheduler's step count from 0, as LambdaLR computes it; W below is
 * num_warmup_steps, T num_training_steps, and every warmup is
 * lambda(t) = t / max(1, W) for t < W.
 *
 *   ConstantWithWarmup:        1
 *   LinearWithWarmup:          max(0, (T - t) / max(1, T - W))
 *   CosineWithWarmup:          p = (t - W) / max(1, T - W);
 *                              max(0, (1 + cos(pi num_cycles 2 p)) / 2)
 *   CosineWithHardRestartsWithWarmup:  p as above; 0 if p >= 1, else
 *                              max(0, (1 + cos(pi ((num_cycles p) mod 1))) / 2)
 *   PolynomialDecayWithWarmup: t > T: lr_end / base; else
 *                              ((base - lr_end) (1 - (t - W)/(T - W))^power + lr_end) / base
 *   InverseSqrt:               1 / sqrt((t + timescale - W) / timescale),
 *                              timescale = W (10000 when W = 0) if None
 *   WarmupStableDecay:         warmup f(t/W) (linear: x, cosine: (1 - cos(pi x))/2,
 *                              1-sqrt: 1 - sqrt(1 - x)), then 1 for num_stable_steps,
 *                              then over num_decay_steps with p = progress: linear 1 - p,
 *                              cosine (1 + cos(pi num_cycles 2 p))/2, 1-sqrt 1 - sqrt(p);
 *                              warmup and decay rescaled f (1 - min_lr_ratio) + min_lr_ratio,
 *                              floored at 0; min_lr_ratio afterwards.
 * State: st[0] = last_epoch, st[1 + g] = base lr. */
#include "schedule.h"

#include <stdint.h>

static size_t recipe_state(const sched_node *n, int ng)
{
    (void)n;
    return 1 + (size_t)ng;
}

static double warmup_ramp(double t, double W) { return t / (W > 1 ? W : 1); }

/* ---- the lambdas ------------------------------------------------------------ */

static double constant_lambda(const sched_node *n, double base, double t)
{
    (void)base;
    return t < n->arg[0] ? warmup_ramp(t, n->arg[0]) : 1.0;
}

static double linear_lambda(const sched_node *n, double base, double t)
{
    (void)base;
    double W = n->arg[0], T = n->arg[1];
    if (t < W)
        return warmup_ramp(t, W);
    return py_max(0.0, (T - t) / py_max(1.0, T - W));
}

static double cosine_lambda(const sched_node *n, double base, double t)
{
    (void)base;
    double W = n->arg[0], T = n->arg[1];
    if (t < W)
        return warmup_ramp(t, W);
    double progress = (t - W) / py_max(1.0, T - W);
    return py_max(0.0, 0.5 * (1.0 + cos(SCHED_PI * n->arg[2] * 2.0 * progress)));
}

static double hard_restarts_lambda(const sched_node *n, double base, double t)
{
    (void)base;
    double W = n->arg[0], T = n->arg[1];
    if (t < W)
        return warmup_ramp(t, W);
    double progress = (t - W) / py_max(1.0, T - W);
    if (progress >= 1.0)
        return 0.0;
    return py_max(0.0, 0.5 * (1.0 + cos(SCHED_PI * fmod(n->arg[2] * progress, 1.0))));
}

static double polynomial_lambda(const sched_node *n, double base, double t)
{
    double W = n->arg[0], T = n->arg[1], lr_end = n->arg[2], power = n->arg[3];
    if (t < W)
        return warmup_ramp(t, W);
    if (t > T)
        return lr_end / base;
    double pct_remaining = 1 - (t - W) / (T - W);
    return ((base - lr_end) * pow(pct_remaining, power) + lr_end) / base;
}

static double timescale_of(const sched_node *n)
{
    if (!isnan(n->arg[1]))
        return n->arg[1];
    return n->arg[0] != 0 ? n->arg[0] : 10000.0;
}

static double inverse_sqrt_lambda(const sched_node *n, double base, double t)
{
    (void)base;
    double W = n->arg[0], timescale = timescale_of(n);
    if (t < W)
        return warmup_ramp(t, W);
    return 1.0 / sqrt((t + (timescale - W)) / timescale);
}

enum { WSD_WARMUP, WSD_DECAY, WSD_TRAINING, WSD_STABLE, WSD_WARMUP_TYPE, WSD_DECAY_TYPE, WSD_MIN, WSD_CYCLES };
enum { SHAPE_LINEAR, SHAPE_COSINE, SHAPE_SQRT };

static double wsd_stable(const sched_node *n)
{
    if (!isnan(n->arg[WSD_STABLE]))
        return n->arg[WSD_STABLE];
    return n->arg[WSD_TRAINING] - n->arg[WSD_WARMUP] - n->arg[WSD_DECAY];
}

static double wsd_lambda(const sched_node *n, double base, double t)
{
    (void)base;
    double W = n->arg[WSD_WARMUP], S = wsd_stable(n), D = n->arg[WSD_DECAY], mn = n->arg[WSD_MIN], f;
    if (t < W) {
        double progress = t / py_max(1.0, W);
        int type = (int)n->arg[WSD_WARMUP_TYPE];
        f = type == SHAPE_LINEAR   ? progress
            : type == SHAPE_COSINE ? 0.5 * (1.0 - cos(SCHED_PI * progress))
                                   : 1.0 - sqrt(1.0 - progress);
        return py_max(0.0, f * (1.0 - mn) + mn);
    }
    if (t < W + S)
        return 1.0;
    if (t < W + S + D) {
        double progress = (t - W - S) / py_max(1.0, D);
        int type = (int)n->arg[WSD_DECAY_TYPE];
        f = type == SHAPE_LINEAR   ? 1.0 - progress
            : type == SHAPE_COSINE ? 0.5 * (1.0 + cos(SCHED_PI * n->arg[WSD_CYCLES] * 2.0 * progress))
                                   : 1.0 - sqrt(progress);
        return py_max(0.0, f * (1.0 - mn) + mn);
    }
    return mn;
}

/* ---- the generic LambdaLR machinery ------------------------------------------ */

/* A recipe: its lambda and a check needing the group's base lr (or NULL). */
#define RECIPE_KIND(sym, NAME, ARGS, CHECK, LAMBDA, BASE_CHECK)                                        \
    static int sym##_write(sched_node *n, sched_ctx *c)                                                 \
    {                                                                                                   \
        for (int g = 0; g < c->ng; g++) {                                                               \
            int rc = BASE_CHECK(n, n->st[1 + g], c->err);                                               \
            if (rc < 0)                                                                                 \
                return rc;                                                                              \
            n->lane.lr[g] = n->st[1 + g] * LAMBDA(n, n->st[1 + g], n->st[0]);                          \
        }                                                                                               \
        return 0;                                                                                       \
    }                                                                                                   \
    static int sym##_init(sched_node *n, sched_ctx *c)                                                  \
    {                                                                                                   \
        sched_setdefault_initial(&n->lane, c->ng);                                                      \
        n->st[0] = 0;                                                                                   \
        for (int g = 0; g < c->ng; g++)                                                                 \
            n->st[1 + g] = n->lane.initial_lr[g];                                                       \
        return sym##_write(n, c);                                                                       \
    }                                                                                                   \
    static int sym##_step(sched_node *n, sched_ctx *c, double metric)                                  \
    {                                                                                                   \
        (void)metric;                                                                                   \
        n->st[0] += 1;                                                                                  \
        return sym##_write(n, c);                                                                       \
    }                                                                                                   \
    static int sym##_restart(sched_node *n, sched_ctx *c)                                               \
    {                                                                                                   \
        n->st[0] = 0;                                                                                   \
        return sym##_write(n, c);                                                                       \
    }                                                                                                   \
    static int sym##_lr_at(const sched_node *n, double base, int64_t t, double *lr, descent_error *err) \
    {                                                                                                   \
        int rc = BASE_CHECK(n, base, err);                                                              \
        if (rc < 0)                                                                                     \
            return rc;                                                                                  \
        *lr = base * LAMBDA(n, base, (double)t);                                                        \
        return 0;                                                                                       \
    }                                                                                                   \
    const sched_kind sym = {NAME,       ARGS,       0,           0,           recipe_state, CHECK, NULL,  \
                            sym##_init, sym##_step, sym##_restart, sym##_restart, sym##_lr_at, NULL,    \
                            NULL,       sched_epoch_bases_ok}

#define WARMUP_ARG {"num_warmup_steps", SA_INT, SA_REQUIRED, 0, 0, 0, HP_NO_HI, NULL}
#define TRAINING_ARG {"num_training_steps", SA_INT, SA_REQUIRED, 0, 0, 0, HP_NO_HI, NULL}
#define END_ARG {NULL, SA_REAL, 0, 0, 0, 0, 0, NULL}

static const sched_arg constant_args[] = {WARMUP_ARG, END_ARG};
static const sched_arg linear_args[] = {WARMUP_ARG, TRAINING_ARG, END_ARG};
static const sched_arg cosine_args[] = {
    WARMUP_ARG, TRAINING_ARG, {"num_cycles", SA_REAL, 0, 0.5, 0, 0, HP_NO_HI, NULL}, END_ARG};
static const sched_arg hard_restarts_args[] = {
    WARMUP_ARG, TRAINING_ARG, {"num_cycles", SA_INT, 0, 1, 1, 0, HP_NO_HI, NULL}, END_ARG};
static const sched_arg polynomial_args[] = {
    WARMUP_ARG,
    TRAINING_ARG,
    {"lr_end", SA_REAL, 0, 1e-7, 0, 0, HP_NO_HI, NULL},
    {"power", SA_REAL, 0, 1.0, 0, 0, HP_NO_HI, NULL},
    END_ARG,
};
static const sched_arg inverse_sqrt_args[] = {
    WARMUP_ARG, {"timescale", SA_INT, SA_NONE_OK, NAN, 1, 0, HP_NO_HI, NULL}, END_ARG};
static const char *const wsd_shapes[] = {"linear", "cosine", "1-sqrt", NULL};
static const sched_arg wsd_args[] = {
    WARMUP_ARG,
    {"num_decay_steps", SA_INT, SA_REQUIRED, 0, 0, 0, HP_NO_HI, NULL},
    {"num_training_steps", SA_INT, SA_NONE_OK, NAN, 0, 0, HP_NO_HI, NULL},
    {"num_stable_steps", SA_INT, SA_NONE_OK, NAN, 0, 0, HP_NO_HI, NULL},
    {"warmup_type", SA_CHOICE, 0, SHAPE_LINEAR, 0, 0, 0, wsd_shapes},
    {"decay_type", SA_CHOICE, 0, SHAPE_COSINE, 0, 0, 0, wsd_shapes},
    {"min_lr_ratio", SA_REAL, 0, 0, 0, 1, 0, NULL},
    {"num_cycles", SA_REAL, 0, 0.5, 0, 0, HP_NO_HI, NULL},
    END_ARG,
};

/* T > W where the decay divides by T - W (transformers divides by
 * max(1, T - W) except in the polynomial decay, which needs T > W). */
static int polynomial_check(const sched_node *n, const sched_check *c)
{
    if (n->arg[1] <= n->arg[0])
        return descent_spec_fail(c->doc, c->call, c->err, DESCENT_ERR_INVALID,
                                 "PolynomialDecayWithWarmup: num_training_steps (%g) must exceed num_warmup_steps (%g)",
                                 n->arg[1], n->arg[0]);
    return 0;
}

/* transformers: "lr_end must be smaller than initial lr". */
static int polynomial_base_check(const sched_node *n, double base, descent_error *err)
{
    if (!(base > n->arg[2]))
        return descent_fail(err, DESCENT_ERR_INVALID,
                            "PolynomialDecayWithWarmup: lr_end (%g) must be smaller than the initial lr (%g)", n->arg[2],
                            base);
    return 0;
}

static int wsd_check(const sched_node *n, const sched_check *c)
{
    if (isnan(n->arg[WSD_TRAINING]) && isnan(n->arg[WSD_STABLE]))
        return descent_spec_fail(c->doc, c->call, c->err, DESCENT_ERR_INVALID,
                                 "WarmupStableDecay: give num_training_steps or num_stable_steps");
    if (wsd_stable(n) < 0)
        return descent_spec_fail(c->doc, c->call, c->err, DESCENT_ERR_INVALID,
                                 "WarmupStableDecay: num_training_steps (%g) is shorter than num_warmup_steps + "
                                 "num_decay_steps (%g)",
                                 n->arg[WSD_TRAINING], n->arg[WSD_WARMUP] + n->arg[WSD_DECAY]);
    return 0;
}

static int no_base_check(const sched_node *n, double base, descent_error *err)
{
    (void)n;
    (void)base;
    (void)err;
    return 0;
}

#define NO_BASE_CHECK no_base_check

RECIPE_KIND(sched_kind_constantwithwarmup, "ConstantWithWarmup", constant_args, NULL, constant_lambda, NO_BASE_CHECK);
RECIPE_KIND(sched_kind_linearwithwarmup, "LinearWithWarmup", linear_args, NULL, linear_lambda, NO_BASE_CHECK);
RECIPE_KIND(sched_kind_cosinewithwarmup, "CosineWithWarmup", cosine_args, NULL, cosine_lambda, NO_BASE_CHECK);
RECIPE_KIND(sched_kind_cosinewithhardrestartswithwarmup, "CosineWithHardRestartsWithWarmup", hard_restarts_args, NULL,
            hard_restarts_lambda, NO_BASE_CHECK);
RECIPE_KIND(sched_kind_polynomialdecaywithwarmup, "PolynomialDecayWithWarmup", polynomial_args, polynomial_check,
            polynomial_lambda, polynomial_base_check);
RECIPE_KIND(sched_kind_inversesqrt, "InverseSqrt", inverse_sqrt_args, NULL, inverse_sqrt_lambda, NO_BASE_CHECK);
RECIPE_KIND(sched_kind_warmupstabledecay, "WarmupStableDecay", wsd_args, wsd_check, wsd_lambda, NO_BASE_CHECK);
