/* Warmups (Ma & Yarats 2019; Goyal et al. 2017).
 *
 * LinearWarmup, ExponentialWarmup and the untuned variants follow the
 * pytorch_warmup package (Ma & Yarats, "On the adequacy of untuned warmup
 * for adaptive optimization", 2019): the lr used at optimizer step t
 * (t from 0) is the wrapped schedule's lr times
 *   linear:       w_t = min(1, (t + 1) / period)
 *   exponential:  w_t = 1 - exp(-(t + 1) / period)
 * with untuned periods int(2 / (1 - beta2)) and int(1 / (1 - beta2)) from
 * each group's betas[1]. The wrapped schedule runs undamped on a private
 * lane starting at the group's lr; without one it is that constant lr.
 *
 * GradualWarmup follows Goyal et al. ("Accurate, Large Minibatch SGD",
 * 2017): for t < total_epoch
 *   multiplier = 1:  lr_t = base t / total_epoch
 *   multiplier > 1:  lr_t = base ((multiplier - 1) t / total_epoch + 1)
 * and from t = total_epoch the `after` schedule runs as if constructed then
 * on an optimizer whose lr is base x multiplier: its constructor is its
 * step 0 at t = total_epoch, its step k at t = total_epoch + k. Without
 * `after` the lr stays at base x multiplier. */
#include "schedule.h"

static void child_on_private_lane(sched_node *n)
{
    for (int i = 0; i < n->nchild; i++)
        n->child[i]->lane = n->priv;
}

/* A fresh private lane holding lr (momentum from the node's lane). */
static void private_start(sched_node *n, int ng, const double *lr, double scale)
{
    for (int g = 0; g < ng; g++) {
        n->priv.lr[g] = lr[g] * scale;
        n->priv.initial_lr[g] = n->priv.lr[g];
        if (n->priv.momentum && n->lane.momentum)
            n->priv.momentum[g] = n->lane.momentum[g];
    }
    *n->priv.initial_set = 0;
}

/* ---- LinearWarmup / ExponentialWarmup / Untuned* ------------------------------
 * State: st[0] = t, st[1 + g] = period of group g. */
enum { WARM_LINEAR = 0, WARM_EXPONENTIAL = 1 };

static const sched_arg warmup_args[] = {
    {"warmup_period", SA_REAL, SA_REQUIRED, 0, 0, 0, HP_LO_OPEN | HP_NO_HI, NULL},
    {"schedule", SA_SCHED, SA_NONE_OK, NAN, 0, 0, 0, NULL},
    {NULL, SA_REAL, 0, 0, 0, 0, 0, NULL},
};

static const sched_arg untuned_args[] = {
    {"schedule", SA_SCHED, SA_NONE_OK, NAN, 0, 0, 0, NULL},
    {NULL, SA_REAL, 0, 0, 0, 0, 0, NULL},
};

static size_t warmup_state(const sched_node *n, int ng)
{
    (void)n;
    return 1 + (size_t)ng;
}

extern const sched_kind sched_kind_linearwarmup, sched_kind_untunedlinearwarmup;

static int warmup_shape(const sched_node *n)
{
    return n->kind == &sched_kind_linearwarmup || n->kind == &sched_kind_untunedlinearwarmup ? WARM_LINEAR
                                                                                            : WARM_EXPONENTIAL;
}

static int is_untuned(const sched_node *n) { return n->kind->args == untuned_args; }

static double omega(int shape, double period, int64_t t)
{
    if (shape == WARM_LINEAR)
        return py_min(1.0, (double)(t + 1) / period);
    return 1.0 - exp(-(double)(t + 1) / period);
}

static int untuned_check(const sched_node *n, const sched_check *c)
{
    if (!c->opt)
        return 0;
    double b2;
    if (descent_get(c->opt, 0, "betas[1]", &b2) < 0 && descent_num_groups(c->opt) > 0)
        return descent_spec_fail(c->doc, c->call, c->err, DESCENT_ERR_INVALID,
                                 "%s takes its period from beta2, and %s has no betas", n->kind->name,
                                 descent_name(c->opt));
    return 0;
}

static void warmup_output(sched_node *n, int ng)
{
    int shape = warmup_shape(n);
    int64_t t = (int64_t)n->st[0];
    for (int g = 0; g < ng; g++) {
        n->lane.lr[g] = n->priv.lr[g] * omega(shape, n->st[1 + g], t);
        if (n->lane.momentum && n->priv.momentum)
            n->lane.momentum[g] = n->priv.momentum[g];
    }
}

static int warmup_init(sched_node *n, sched_ctx *c)
{
    for (int g = 0; g < c->ng; g++) {
        if (!is_untuned(n)) {
            n->st[1 + g] = n->arg[0];
            continue;
        }
        double b2;
        if (!c->opt || descent_get(c->opt, g, "betas[1]", &b2) < 0)
            return descent_fail(c->err, DESCENT_ERR_INVALID, "%s takes its period from the optimizer's beta2",
                                n->kind->name);
        /* pytorch_warmup: int(2.0 / (1.0 - beta2)), truncated (0.999 gives 1999). */
        double period = warmup_shape(n) == WARM_LINEAR ? 2.0 / (1.0 - b2) : 1.0 / (1.0 - b2);
        n->st[1 + g] = floor(period);
    }
    private_start(n, c->ng, n->lane.lr, 1.0);
    n->st[0] = 0;
    if (n->nchild) {
        int rc = sched_init(n->child[0], c);
        if (rc < 0)
            return rc;
    }
    warmup_output(n, c->ng);
    return 0;
}

static int warmup_step(sched_node *n, sched_ctx *c, double metric)
{
    if (n->nchild) {
        int rc = sched_step(n->child[0], c, metric);
        if (rc < 0)
            return rc;
    }
    n->st[0] += 1;
    warmup_output(n, c->ng);
    return 0;
}

static int warmup_lr_at(const sched_node *n, double base, int64_t t, double *lr, descent_error *err)
{
    if (is_untuned(n))
        return descent_fail(err, DESCENT_ERR_INVALID,
                            "%s takes its period from an optimizer's beta2; attach it with descent_set_schedule, or "
                            "use %s with warmup_period",
                            n->kind->name, warmup_shape(n) == WARM_LINEAR ? "LinearWarmup" : "ExponentialWarmup");
    double inner = base;
    if (n->nchild) {
        int rc = sched_lr_at(n->child[0], base, t, &inner, err);
        if (rc < 0)
            return rc;
    }
    *lr = inner * omega(warmup_shape(n), n->arg[0], t);
    return 0;
}

const sched_kind sched_kind_linearwarmup = {
    "LinearWarmup", warmup_args, 0, 1, warmup_state, NULL, child_on_private_lane,
    warmup_init, warmup_step, NULL, NULL, warmup_lr_at, NULL, NULL, NULL,
};

const sched_kind sched_kind_exponentialwarmup = {
    "ExponentialWarmup", warmup_args, 0, 1, warmup_state, NULL, child_on_private_lane,
    warmup_init, warmup_step, NULL, NULL, warmup_lr_at, NULL, NULL, NULL,
};

const sched_kind sched_kind_untunedlinearwarmup = {
    "UntunedLinearWarmup", untuned_args, 0, 1, warmup_state, untuned_check, child_on_private_lane,
    warmup_init, warmup_step, NULL, NULL, warmup_lr_at, NULL, NULL, NULL,
};

const sched_kind sched_kind_untunedexponentialwarmup = {
    "UntunedExponentialWarmup", untuned_args, 0, 1, warmup_state, untuned_check, child_on_private_lane,
    warmup_init, warmup_step, NULL, NULL, warmup_lr_at, NULL, NULL, NULL,
};

/* ---- GradualWarmup(multiplier, total_epoch, after=None) ----------------------
 * State: st[0] = t, st[1 + g] = base lr of group g. */
enum { GW_MULT, GW_TOTAL, GW_AFTER };

static const sched_arg gradual_args[] = {
    {"multiplier", SA_REAL, SA_REQUIRED, 0, 1, 0, HP_NO_HI, NULL},
    {"total_epoch", SA_INT, SA_REQUIRED, 0, 1, 0, HP_NO_HI, NULL},
    {"after", SA_SCHED, SA_NONE_OK, NAN, 0, 0, 0, NULL},
    {NULL, SA_REAL, 0, 0, 0, 0, 0, NULL},
};

static size_t gradual_state(const sched_node *n, int ng)
{
    (void)n;
    return 1 + (size_t)ng;
}

static double ramp(const sched_node *n, double base, int64_t t)
{
    double m = n->arg[GW_MULT], T = n->arg[GW_TOTAL];
    if (m == 1.0)
        return base * ((double)t / T);
    return base * ((m - 1.) * (double)t / T + 1.);
}

static void gradual_output(sched_node *n, int ng)
{
    int64_t t = (int64_t)n->st[0];
    for (int g = 0; g < ng; g++) {
        double base = n->st[1 + g];
        if ((double)t < n->arg[GW_TOTAL]) {
            n->lane.lr[g] = ramp(n, base, t);
        } else if (n->nchild) {
            n->lane.lr[g] = n->priv.lr[g];
            if (n->lane.momentum && n->priv.momentum)
                n->lane.momentum[g] = n->priv.momentum[g];
        } else {
            n->lane.lr[g] = base * n->arg[GW_MULT];
        }
    }
}

static int gradual_init(sched_node *n, sched_ctx *c)
{
    for (int g = 0; g < c->ng; g++)
        n->st[1 + g] = n->lane.lr[g];
    n->st[0] = 0;
    gradual_output(n, c->ng);
    return 0;
}

static int gradual_step(sched_node *n, sched_ctx *c, double metric)
{
    int64_t t = (int64_t)(n->st[0] += 1);
    if (n->nchild && (double)t >= n->arg[GW_TOTAL]) {
        int rc;
        if ((double)t == n->arg[GW_TOTAL]) {
            private_start(n, c->ng, &n->st[1], n->arg[GW_MULT]);
            rc = sched_init(n->child[0], c);
        } else {
            rc = sched_step(n->child[0], c, metric);
        }
        if (rc < 0)
            return rc;
    }
    gradual_output(n, c->ng);
    return 0;
}

static int gradual_lr_at(const sched_node *n, double base, int64_t t, double *lr, descent_error *err)
{
    double T = n->arg[GW_TOTAL];
    if ((double)t < T) {
        *lr = ramp(n, base, t);
        return 0;
    }
    if (n->nchild)
        return sched_lr_at(n->child[0], base * n->arg[GW_MULT], t - (int64_t)T, lr, err);
    *lr = base * n->arg[GW_MULT];
    return 0;
}

const sched_kind sched_kind_gradualwarmup = {
    "GradualWarmup", gradual_args, 0, 1, gradual_state, NULL, child_on_private_lane,
    gradual_init, gradual_step, NULL, NULL, gradual_lr_at, NULL, NULL, NULL,
};
