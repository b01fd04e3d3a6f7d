/* The chainable decays of torch.optim.lr_scheduler (torch 1.13): StepLR,
 * MultiStepLR, ExponentialLR, PolynomialLR, LinearLR, ConstantLR.
 *
 * Each is recursive in PyTorch: step t multiplies the group's current lr by
 * a factor (get_lr), so other schedules acting on the same lr compose with
 * it. The closed form (_get_closed_form_lr) is used for SequentialLR's
 * step(0) and for descent_schedule_lr_at; it can differ from the recursion
 * in the last bits.
 *
 * State: st[0] = last_epoch, st[1 + g] = base_lrs[g] (initial_lr when
 * constructed). */
#include "schedule.h"

static size_t decay_state(const sched_node *n, int ng)
{
    (void)n;
    return 1 + (size_t)ng;
}

/* One kind = its recursive factor on lr at epoch ep and its closed form. */
#define DECAY_KIND(sym, NAME, ARGS, CHECK, APPLY, CLOSED) DECAY_KIND_CHAIN(sym, NAME, ARGS, CHECK, APPLY, CLOSED, NULL)

/* CHAIN_RESTART: the kind's chain_restart (schedule.h), or NULL. */
#define DECAY_KIND_CHAIN(sym, NAME, ARGS, CHECK, APPLY, CLOSED, CHAIN_RESTART)                                            \
    static int sym##_init(sched_node *n, sched_ctx *c)                                              \
    {                                                                                               \
        sched_setdefault_initial(&n->lane, c->ng);                                                  \
        n->st[0] = 0;                                                                               \
        for (int g = 0; g < c->ng; g++) {                                                           \
            n->st[1 + g] = n->lane.initial_lr[g];                                                   \
            n->lane.lr[g] = APPLY(n, n->lane.lr[g], 0);                                             \
        }                                                                                           \
        return 0;                                                                                   \
    }                                                                                               \
    static int sym##_step(sched_node *n, sched_ctx *c, double metric)                              \
    {                                                                                               \
        (void)metric;                                                                               \
        n->st[0] += 1;                                                                              \
        for (int g = 0; g < c->ng; g++)                                                             \
            n->lane.lr[g] = APPLY(n, n->lane.lr[g], (int64_t)n->st[0]);                             \
        return 0;                                                                                   \
    }                                                                                               \
    static int sym##_restart(sched_node *n, sched_ctx *c)                                           \
    {                                                                                               \
        n->st[0] = 0;                                                                               \
        for (int g = 0; g < c->ng; g++)                                                             \
            n->lane.lr[g] = APPLY(n, n->lane.lr[g], 0);                                             \
        return 0;                                                                                   \
    }                                                                                               \
    static int sym##_enter(sched_node *n, sched_ctx *c)                                             \
    {                                                                                               \
        n->st[0] = 0;                                                                               \
        for (int g = 0; g < c->ng; g++)                                                             \
            n->lane.lr[g] = CLOSED(n, n->st[1 + g], 0);                                             \
        return 0;                                                                                   \
    }                                                                                               \
    static int sym##_lr_at(const sched_node *n, double base, int64_t t, double *lr, descent_error *err) \
    {                                                                                               \
        (void)err;                                                                                  \
        *lr = CLOSED(n, base, t);                                                                   \
        return 0;                                                                                   \
    }                                                                                               \
    const sched_kind sym = {NAME,       ARGS,      0,           0,         decay_state, CHECK, NULL, \
                            sym##_init, sym##_step, sym##_restart, sym##_enter, sym##_lr_at, NULL, \
                            CHAIN_RESTART, sched_epoch_bases_ok}

/* ---- StepLR(step_size, gamma=0.1) ------------------------------------------
 * recursive: lr *= gamma when t > 0 and t % step_size == 0
 * closed:    base * gamma^(t // step_size) */
static const sched_arg step_args[] = {
    {"step_size", SA_INT, SA_REQUIRED, 0, 1, 0, HP_NO_HI, NULL},
    {"gamma", SA_REAL, 0, 0.1, 0, 0, HP_NO_HI, NULL},
    {NULL, SA_REAL, 0, 0, 0, 0, 0, NULL},
};

static double step_apply(const sched_node *n, double lr, int64_t t)
{
    int64_t size = (int64_t)n->arg[0];
    if (t == 0 || t % size != 0)
        return lr;
    return lr * n->arg[1];
}

static double step_closed(const sched_node *n, double base, int64_t t)
{
    return base * pow(n->arg[1], (double)(t / (int64_t)n->arg[0]));
}

DECAY_KIND(sched_kind_steplr, "StepLR", step_args, NULL, step_apply, step_closed);

/* ---- MultiStepLR(milestones, gamma=0.1) -------------------------------------
 * recursive: lr *= gamma^k at t, k = how many times t is listed (a Counter)
 * closed:    base * gamma^(number of milestones <= t) */
static const sched_arg multistep_args[] = {
    {"milestones", SA_INTLIST, SA_REQUIRED, 0, 0, 0, HP_NO_HI, NULL},
    {"gamma", SA_REAL, 0, 0.1, 0, 0, HP_NO_HI, NULL},
    {NULL, SA_REAL, 0, 0, 0, 0, 0, NULL},
};

static double multistep_apply(const sched_node *n, double lr, int64_t t)
{
    int count = 0;
    for (int k = 0; k < n->list_len[0]; k++)
        count += (int64_t)n->list[0][k] == t;
    return count ? lr * pow(n->arg[1], (double)count) : lr;
}

static double multistep_closed(const sched_node *n, double base, int64_t t)
{
    int count = 0;
    for (int k = 0; k < n->list_len[0]; k++)
        count += (int64_t)n->list[0][k] <= t;
    return base * pow(n->arg[1], (double)count);
}

DECAY_KIND(sched_kind_multisteplr, "MultiStepLR", multistep_args, NULL, multistep_apply, multistep_closed);

/* ---- ExponentialLR(gamma) ---------------------------------------------------
 * recursive: lr *= gamma for t > 0;  closed: base * gamma^t */
static const sched_arg exponential_args[] = {
    {"gamma", SA_REAL, SA_REQUIRED, 0, 0, 0, HP_NO_HI, NULL},
    {NULL, SA_REAL, 0, 0, 0, 0, 0, NULL},
};

static double exponential_apply(const sched_node *n, double lr, int64_t t) { return t == 0 ? lr : lr * n->arg[0]; }

static double exponential_closed(const sched_node *n, double base, int64_t t) { return base * pow(n->arg[0], (double)t); }

/* torch 2.x: outside initial mode the step at t = 0 multiplies by gamma too. */
static int exponential_chain_restart(sched_node *n, sched_ctx *c)
{
    n->st[0] = 0;
    for (int g = 0; g < c->ng; g++)
        n->lane.lr[g] *= n->arg[0];
    return 0;
}

DECAY_KIND_CHAIN(sched_kind_exponentiallr, "ExponentialLR", exponential_args, NULL, exponential_apply,
                 exponential_closed, exponential_chain_restart);

/* ---- PolynomialLR(total_iters=5, power=1.0) --------------------------------
 * recursive: for 0 < t <= T, lr *= ((1 - t/T) / (1 - (t-1)/T))^power
 * closed:    base * (1 - min(T, t)/T)^power */
static const sched_arg polynomial_args[] = {
    {"total_iters", SA_INT, 0, 5, 1, 0, HP_NO_HI, NULL},
    {"power", SA_REAL, 0, 1.0, 0, 0, HP_NO_HI, NULL},
    {NULL, SA_REAL, 0, 0, 0, 0, 0, NULL},
};

static double polynomial_apply(const sched_node *n, double lr, int64_t t)
{
    double T = n->arg[0];
    if (t == 0 || (double)t > T)
        return lr;
    double decay = pow((1.0 - (double)t / T) / (1.0 - (double)(t - 1) / T), n->arg[1]);
    return lr * decay;
}

static double polynomial_closed(const sched_node *n, double base, int64_t t)
{
    double T = n->arg[0];
    return base * pow(1.0 - py_min(T, (double)t) / T, n->arg[1]);
}

/* torch 2.x: outside initial mode the step at t = 0 applies the recursive
 * factor ((1 - 0/T) / (1 + 1/T))^power. */
static int polynomial_chain_restart(sched_node *n, sched_ctx *c)
{
    double T = n->arg[0];
    n->st[0] = 0;
    for (int g = 0; g < c->ng; g++)
        n->lane.lr[g] *= pow(1.0 / (1.0 + 1.0 / T), n->arg[1]);
    return 0;
}

DECAY_KIND_CHAIN(sched_kind_polynomiallr, "PolynomialLR", polynomial_args, NULL, polynomial_apply, polynomial_closed,
                 polynomial_chain_restart);

/* ---- LinearLR(start_factor=1/3, end_factor=1.0, total_iters=5) -------------
 * recursive: t = 0: lr *= s;  0 < t <= T: lr *= 1 + (e - s) / (T s + (t - 1)(e - s))
 * closed:    base * (s + (e - s) min(T, t) / T) */
static const sched_arg linear_args[] = {
    {"start_factor", SA_REAL, 0, 1.0 / 3, 0, 1, HP_LO_OPEN, NULL},
    {"end_factor", SA_REAL, 0, 1.0, 0, 1, 0, NULL},
    {"total_iters", SA_INT, 0, 5, 1, 0, HP_NO_HI, NULL},
    {NULL, SA_REAL, 0, 0, 0, 0, 0, NULL},
};

static double linear_apply(const sched_node *n, double lr, int64_t t)
{
    double s = n->arg[0], e = n->arg[1], T = n->arg[2];
    if (t == 0)
        return lr * s;
    if ((double)t > T)
        return lr;
    return lr * (1.0 + (e - s) / (T * s + (double)(t - 1) * (e - s)));
}

static double linear_closed(const sched_node *n, double base, int64_t t)
{
    double s = n->arg[0], e = n->arg[1], T = n->arg[2];
    return base * (s + (e - s) * py_min(T, (double)t) / T);
}

DECAY_KIND(sched_kind_linearlr, "LinearLR", linear_args, NULL, linear_apply, linear_closed);

/* ---- ConstantLR(factor=1/3, total_iters=5) ----------------------------------
 * recursive: t = 0: lr *= factor;  t = T: lr *= 1/factor
 * closed:    base * (factor + (t >= T)(1 - factor)) */
static const sched_arg constant_args[] = {
    {"factor", SA_REAL, 0, 1.0 / 3, 0, 1, HP_LO_OPEN, NULL},
    {"total_iters", SA_INT, 0, 5, 0, 0, HP_NO_HI, NULL},
    {NULL, SA_REAL, 0, 0, 0, 0, 0, NULL},
};

static double constant_apply(const sched_node *n, double lr, int64_t t)
{
    if (t == 0)
        return lr * n->arg[0];
    if ((double)t != n->arg[1])
        return lr;
    return lr * (1.0 / n->arg[0]);
}

static double constant_closed(const sched_node *n, double base, int64_t t)
{
    double f = n->arg[0];
    return base * (f + ((double)t >= n->arg[1] ? 1.0 : 0.0) * (1 - f));
}

DECAY_KIND(sched_kind_constantlr, "ConstantLR", constant_args, NULL, constant_apply, constant_closed);
