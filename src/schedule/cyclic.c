/* Cyclical policies: CyclicLR (Smith, "Cyclical Learning Rates for Training
 * Neural Networks", 2017) and OneCycleLR (Smith & Topin, "Super-
 * Convergence", 2018), as torch 1.13 computes them. Both set the lr from a
 * formula of the step (not recursively) and cycle the momentum inversely;
 * for the Adam family the momentum is beta1 (torch 1.13's CyclicLR raises
 * there; descent cycles betas[0] as OneCycleLR does). */
#include "schedule.h"

#include <stdio.h>

static int need_momentum(const sched_node *n, const sched_check *c, int arg)
{
    if (n->arg[arg] == 0 || !c->opt || descent_momentum_name(c->opt))
        return 0;
    const spec_node *at = c->at[arg] ? c->at[arg] : c->call;
    return descent_spec_fail(c->doc, at, c->err, DESCENT_ERR_INVALID,
                             "%s: %s has no momentum or beta1 to cycle; pass cycle_momentum=False", n->kind->name,
                             descent_name(c->opt));
}

/* ---- CyclicLR(base_lr, max_lr, step_size_up=2000, step_size_down=None,
 *               mode='triangular', gamma=1.0, cycle_momentum=True,
 *               base_momentum=0.8, max_momentum=0.9) ----------------------
 *   cycle = floor(1 + t/(up+down)),  x = 1 + t/(up+down) - cycle
 *   f = x/r if x <= r else (x-1)/(r-1),  r = up/(up+down)
 *   lr = base_lr + (max_lr - base_lr) f s,  momentum = max_m - (max_m - base_m) f s
 *   s = 1 (triangular), 1/2^(cycle-1) (triangular2), gamma^t (exp_range)
 * The constructor sets lr = base_lr and momentum = base_momentum, then its
 * step at t = 0 computes from initial_lr (PyTorch's base_lrs at that moment,
 * base_lr on a fresh optimizer), which leaves momentum = max_momentum.
 * State: st[0] = last_epoch, st[1 + g] = base lrs, st[1 + ng + g] = base momentums. */
enum { CY_BASE_LR, CY_MAX_LR, CY_UP, CY_DOWN, CY_MODE, CY_GAMMA, CY_CYCLE_M, CY_BASE_M, CY_MAX_M };
static const char *const cyclic_modes[] = {"triangular", "triangular2", "exp_range", NULL};

static const sched_arg cyclic_args[] = {
    {"base_lr", SA_REALS, SA_REQUIRED, 0, 0, 0, HP_NO_HI, NULL},
    {"max_lr", SA_REALS, SA_REQUIRED, 0, 0, 0, HP_NO_HI, NULL},
    {"step_size_up", SA_REAL, 0, 2000, 0, 0, HP_LO_OPEN | HP_NO_HI, NULL},
    {"step_size_down", SA_REAL, SA_NONE_OK, NAN, 0, 0, HP_NO_HI, NULL},
    {"mode", SA_CHOICE, 0, 0, 0, 0, 0, cyclic_modes},
    {"gamma", SA_REAL, 0, 1.0, 0, 0, HP_NO_HI, NULL},
    {"cycle_momentum", SA_BOOL, 0, 1, 0, 1, 0, NULL},
    {"base_momentum", SA_REALS, 0, 0.8, 0, 0, HP_NO_HI, NULL},
    {"max_momentum", SA_REALS, 0, 0.9, 0, 0, HP_NO_HI, NULL},
    {NULL, SA_REAL, 0, 0, 0, 0, 0, NULL},
};

static int cyclic_check(const sched_node *n, const sched_check *c) { return need_momentum(n, c, CY_CYCLE_M); }

static size_t cyclic_state(const sched_node *n, int ng)
{
    (void)n;
    return 1 + 2 * (size_t)ng;
}

/* The scale factor f and amplitude scale s at step t. */
static void cyclic_factors(const sched_node *n, int64_t t, double *f, double *s)
{
    double up = n->arg[CY_UP], down = isnan(n->arg[CY_DOWN]) ? up : n->arg[CY_DOWN];
    double total = up + down, ratio = up / total, ep = (double)t;
    double cycle = floor(1 + ep / total);
    double x = 1. + ep / total - cycle;
    *f = x <= ratio ? x / ratio : (x - 1) / (ratio - 1);
    switch ((int)n->arg[CY_MODE]) {
    case 0: *s = 1.; break;
    case 1: *s = 1 / pow(2., cycle - 1); break;
    default: *s = pow(n->arg[CY_GAMMA], ep); break;
    }
}

static void cyclic_write(sched_node *n, int ng)
{
    double f, s;
    cyclic_factors(n, (int64_t)n->st[0], &f, &s);
    for (int g = 0; g < ng; g++) {
        double base = n->st[1 + g], max = sched_group_val(n, CY_MAX_LR, g);
        n->lane.lr[g] = base + (max - base) * f * s;
        if (n->arg[CY_CYCLE_M] != 0 && n->lane.momentum) {
            double bm = n->st[1 + ng + g], mm = sched_group_val(n, CY_MAX_M, g);
            n->lane.momentum[g] = mm - (mm - bm) * f * s;
        }
    }
}

static int cyclic_init(sched_node *n, sched_ctx *c)
{
    for (int g = 0; g < c->ng; g++) {
        n->lane.lr[g] = sched_group_val(n, CY_BASE_LR, g);
        if (n->arg[CY_CYCLE_M] != 0 && n->lane.momentum)
            n->lane.momentum[g] = sched_group_val(n, CY_BASE_M, g);
        n->st[1 + c->ng + g] = sched_group_val(n, CY_BASE_M, g);
    }
    sched_setdefault_initial(&n->lane, c->ng);
    for (int g = 0; g < c->ng; g++)
        n->st[1 + g] = n->lane.initial_lr[g];
    n->st[0] = 0;
    cyclic_write(n, c->ng);
    for (int g = 0; g < c->ng; g++)
        n->st[1 + g] = sched_group_val(n, CY_BASE_LR, g);
    return 0;
}

static int cyclic_step(sched_node *n, sched_ctx *c, double metric)
{
    (void)metric;
    n->st[0] += 1;
    cyclic_write(n, c->ng);
    return 0;
}

/* _initial_step() and step(0): t = 0 from base_lr. */
static int cyclic_restart(sched_node *n, sched_ctx *c)
{
    n->st[0] = 0;
    cyclic_write(n, c->ng);
    return 0;
}

static int cyclic_lr_at(const sched_node *n, double base_lr, int64_t t, double *lr, descent_error *err)
{
    (void)base_lr;
    (void)err;
    double f, s, base = sched_group_val(n, CY_BASE_LR, 0), max = sched_group_val(n, CY_MAX_LR, 0);
    cyclic_factors(n, t, &f, &s);
    *lr = base + (max - base) * f * s;
    return 0;
}

/* last_epoch a counter; the base lrs and momentums are the constructor's
 * (base_lr, base_momentum), which nothing changes afterwards, or 0 in a
 * member not constructed yet (GradualWarmup's after, a later segment). */
static int cyclic_state_ok(const sched_node *n, int ng)
{
    if (!sched_counter_ok(n->st[0]))
        return 0;
    for (int g = 0; g < ng; g++) {
        double b = n->st[1 + g], m = n->st[1 + ng + g];
        if ((b != 0 && b != sched_group_val(n, CY_BASE_LR, g)) || (m != 0 && m != sched_group_val(n, CY_BASE_M, g)))
            return 0;
    }
    return 1;
}

const sched_kind sched_kind_cycliclr = {
    "CyclicLR", cyclic_args, 0, 0, cyclic_state, cyclic_check, NULL,
    cyclic_init, cyclic_step, cyclic_restart, cyclic_restart, cyclic_lr_at, NULL, NULL, cyclic_state_ok,
};

/* ---- OneCycleLR(max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
 *                 pct_start=0.3, anneal_strategy='cos', cycle_momentum=True,
 *                 base_momentum=0.85, max_momentum=0.95, div_factor=25.0,
 *                 final_div_factor=1e4, three_phase=False) -----------------
 * initial = max_lr/div_factor, min = initial/final_div_factor. Phases end at
 * the float steps pct T - 1 and T - 1 (three_phase: pct T - 1, 2 pct T - 2,
 * T - 1); within a phase from a to b the value is anneal(start, end,
 * (t - a)/(b - a)) with
 *   cos:    end + (start - end)/2 (1 + cos(pi p)),   linear: (end - start) p + start
 * lr: initial -> max -> min (three_phase: initial -> max -> initial -> min);
 * momentum: max_m -> base_m -> max_m (three_phase: ... -> max_m).
 * Stepping past t = total_steps is an error, as in PyTorch.
 * State: st[0] = last_epoch; the per-group values are PyTorch group keys,
 * kept on the lane (initial_lr, onecycle[]). */
enum { OC_MAX_LR, OC_TOTAL, OC_EPOCHS, OC_SPE, OC_PCT, OC_ANNEAL, OC_CYCLE_M, OC_BASE_M, OC_MAX_M, OC_DIV, OC_FINAL_DIV,
       OC_THREE };
static const char *const anneal_strategies[] = {"cos", "linear", NULL};

static const sched_arg onecycle_args[] = {
    {"max_lr", SA_REALS, SA_REQUIRED, 0, 0, 0, HP_NO_HI, NULL},
    {"total_steps", SA_INT, SA_NONE_OK, NAN, 1, 0, HP_NO_HI, NULL},
    {"epochs", SA_INT, SA_NONE_OK, NAN, 1, 0, HP_NO_HI, NULL},
    {"steps_per_epoch", SA_INT, SA_NONE_OK, NAN, 1, 0, HP_NO_HI, NULL},
    {"pct_start", SA_REAL, 0, 0.3, 0, 1, 0, NULL},
    {"anneal_strategy", SA_CHOICE, 0, 0, 0, 0, 0, anneal_strategies},
    {"cycle_momentum", SA_BOOL, 0, 1, 0, 1, 0, NULL},
    {"base_momentum", SA_REALS, 0, 0.85, 0, 0, HP_NO_HI, NULL},
    {"max_momentum", SA_REALS, 0, 0.95, 0, 0, HP_NO_HI, NULL},
    {"div_factor", SA_REAL, 0, 25., 0, 0, HP_LO_OPEN | HP_NO_HI, NULL},
    {"final_div_factor", SA_REAL, 0, 1e4, 0, 0, HP_LO_OPEN | HP_NO_HI, NULL},
    {"three_phase", SA_BOOL, 0, 0, 0, 1, 0, NULL},
    {NULL, SA_REAL, 0, 0, 0, 0, 0, NULL},
};

static double onecycle_total(const sched_node *n)
{
    if (!isnan(n->arg[OC_TOTAL]))
        return n->arg[OC_TOTAL];
    return n->arg[OC_EPOCHS] * n->arg[OC_SPE];
}

static int onecycle_check(const sched_node *n, const sched_check *c)
{
    if (isnan(n->arg[OC_TOTAL]) && (isnan(n->arg[OC_EPOCHS]) || isnan(n->arg[OC_SPE])))
        return descent_spec_fail(c->doc, c->call, c->err, DESCENT_ERR_SPEC,
                                 "OneCycleLR: give total_steps, or epochs and steps_per_epoch");
    if (onecycle_total(n) > 1e15)
        return descent_spec_fail(c->doc, c->call, c->err, DESCENT_ERR_INVALID, "OneCycleLR: total_steps too large");
    return need_momentum(n, c, OC_CYCLE_M);
}

static size_t onecycle_state(const sched_node *n, int ng)
{
    (void)n;
    (void)ng;
    return 1;
}

static double anneal(const sched_node *n, double start, double end, double pct)
{
    if (n->arg[OC_ANNEAL] == 0) {
        double cos_out = cos(SCHED_PI * pct) + 1;
        return end + (start - end) / 2.0 * cos_out;
    }
    return (end - start) * pct + start;
}

/* v = {initial, max, min, max_m, base_m}: lr and momentum at step t. */
static int onecycle_value(const sched_node *n, const double *v, int64_t t, double *lr, double *mom, descent_error *err)
{
    double T = onecycle_total(n), pct = n->arg[OC_PCT];
    if ((double)t > T)
        return descent_fail(err, DESCENT_ERR_INVALID,
                            "OneCycleLR: tried to step %lld times; the specified number of total steps is %.0f",
                            (long long)t + 1, T);
    enum { INI, MAX, MIN, MAX_M, BASE_M };
    double ends[3];
    int lr_from[3], lr_to[3], m_from[3], m_to[3], phases;
    if (n->arg[OC_THREE] != 0) {
        phases = 3;
        ends[0] = pct * T - 1;
        ends[1] = 2 * pct * T - 2;
        ends[2] = T - 1;
        lr_from[0] = INI, lr_to[0] = MAX, m_from[0] = MAX_M, m_to[0] = BASE_M;
        lr_from[1] = MAX, lr_to[1] = INI, m_from[1] = BASE_M, m_to[1] = MAX_M;
        lr_from[2] = INI, lr_to[2] = MIN, m_from[2] = MAX_M, m_to[2] = MAX_M;
    } else {
        phases = 2;
        ends[0] = pct * T - 1;
        ends[1] = T - 1;
        lr_from[0] = INI, lr_to[0] = MAX, m_from[0] = MAX_M, m_to[0] = BASE_M;
        lr_from[1] = MAX, lr_to[1] = MIN, m_from[1] = BASE_M, m_to[1] = MAX_M;
    }
    double start = 0, step = (double)t;
    for (int i = 0; i < phases; i++) {
        if (step <= ends[i] || i == phases - 1) {
            if (ends[i] == start)
                return descent_fail(err, DESCENT_ERR_INVALID,
                                    "OneCycleLR: phase %d has zero length (pct_start=%g, total_steps=%.0f)", i + 1, pct, T);
            double p = (step - start) / (ends[i] - start);
            *lr = anneal(n, v[lr_from[i]], v[lr_to[i]], p);
            *mom = anneal(n, v[m_from[i]], v[m_to[i]], p);
            return 0;
        }
        start = ends[i];
    }
    return 0;
}

static void onecycle_group_values(const sched_node *n, int g, double *v)
{
    v[0] = sched_group_val(n, OC_MAX_LR, g) / n->arg[OC_DIV];
    v[1] = sched_group_val(n, OC_MAX_LR, g);
    v[2] = v[0] / n->arg[OC_FINAL_DIV];
    v[3] = sched_group_val(n, OC_MAX_M, g);
    v[4] = sched_group_val(n, OC_BASE_M, g);
}

/* A loaded lane's keys are those some OneCycleLR of the tree wrote (its
 * constructor's values); anything else is a forged image. */
static int onecycle_keys_from(const sched_node *oc, const sched_node *n, int ng)
{
    if (oc->kind == &sched_kind_onecyclelr && oc->lane.onecycle == n->lane.onecycle) {
        int all = 1;
        for (int g = 0; g < ng && all; g++) {
            double v[5];
            const double *keys = &n->lane.onecycle[4 * g];
            onecycle_group_values(oc, g, v);
            all = n->lane.initial_lr[g] == v[0] && keys[0] == v[1] && keys[1] == v[2] &&
                  (oc->arg[OC_CYCLE_M] == 0 || (keys[2] == v[3] && keys[3] == v[4]));
        }
        if (all)
            return 1;
    }
    for (int i = 0; i < oc->nchild; i++)
        if (onecycle_keys_from(oc->child[i], n, ng))
            return 1;
    return 0;
}

int sched_onecycle_state_ok(const sched_node *root, const sched_node *n, int ng)
{
    double total = n->arg[OC_TOTAL];
    if (isnan(total))
        total = n->arg[OC_EPOCHS] * n->arg[OC_SPE];
    int unset = 1; /* no OneCycleLR on the lane constructed yet */
    for (int k = 0; k < 4 * ng; k++)
        unset &= n->lane.onecycle[k] == 0;
    return sched_counter_ok(n->st[0]) && n->st[0] <= total && (unset || onecycle_keys_from(root, n, ng));
}

/* PyTorch reads initial_lr, max_lr, min_lr and the momentum bounds from the
 * group at every step, so a later OneCycleLR on the same optimizer changes
 * them for an earlier one too: they live on the lane. */
static int onecycle_write(sched_node *n, sched_ctx *c)
{
    for (int g = 0; g < c->ng; g++) {
        double lr, mom, v[5];
        const double *keys = &n->lane.onecycle[4 * g];
        v[0] = n->lane.initial_lr[g];
        v[1] = keys[0];
        v[2] = keys[1];
        v[3] = keys[2];
        v[4] = keys[3];
        int rc = onecycle_value(n, v, (int64_t)n->st[0], &lr, &mom, c->err);
        if (rc < 0)
            return rc;
        n->lane.lr[g] = lr;
        if (n->arg[OC_CYCLE_M] != 0 && n->lane.momentum)
            n->lane.momentum[g] = mom;
    }
    return 0;
}

static int onecycle_init(sched_node *n, sched_ctx *c)
{
    for (int g = 0; g < c->ng; g++) {
        double v[5], *keys = &n->lane.onecycle[4 * g];
        onecycle_group_values(n, g, v);
        n->lane.initial_lr[g] = v[0];
        keys[0] = v[1];
        keys[1] = v[2];
        if (n->arg[OC_CYCLE_M] != 0) {
            keys[2] = v[3];
            keys[3] = v[4];
            if (n->lane.momentum)
                n->lane.momentum[g] = v[3];
        }
    }
    *n->lane.initial_set = 1;
    n->st[0] = 0;
    return onecycle_write(n, c);
}

static int onecycle_step(sched_node *n, sched_ctx *c, double metric)
{
    (void)metric;
    n->st[0] += 1;
    return onecycle_write(n, c);
}

static int onecycle_restart(sched_node *n, sched_ctx *c)
{
    n->st[0] = 0;
    return onecycle_write(n, c);
}

static int onecycle_lr_at(const sched_node *n, double base_lr, int64_t t, double *lr, descent_error *err)
{
    (void)base_lr;
    double v[5], mom;
    onecycle_group_values(n, 0, v);
    return onecycle_value(n, v, t, lr, &mom, err);
}

const sched_kind sched_kind_onecyclelr = {
    "OneCycleLR", onecycle_args, 0, 0, onecycle_state, onecycle_check, NULL,
    onecycle_init, onecycle_step, onecycle_restart, onecycle_restart, onecycle_lr_at, NULL, NULL, NULL,
};
