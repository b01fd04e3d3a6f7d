/* Compositions: SequentialLR and ChainedScheduler, nested as torch 2.x
 * nests them (1.13 could not put a ChainedScheduler inside SequentialLR).
 * Their members act on the same lr (the lane of the composition), exactly
 * as PyTorch's schedulers built on one optimizer do. */
#include "schedule.h"

#include <string.h>

/* ---- SequentialLR(schedulers, milestones) -----------------------------------
 * Construction: every member's constructor runs in order (each applies its
 * t = 0 effect to the lr), then the lr is reset to initial_lr and only the
 * first member's initial step runs again. Step t: the member i with
 * milestones[i-1] <= t < milestones[i] steps; at t = milestones[i-1] exactly
 * it takes over with step(0), its closed form at epoch 0 from its base lr.
 * State: st[0] = last_epoch. */
static const sched_arg sequential_args[] = {
    {"schedulers", SA_SCHEDS, SA_REQUIRED, 0, 0, 0, HP_NO_HI, NULL},
    {"milestones", SA_INTLIST, SA_REQUIRED, 0, 1, 0, HP_NO_HI, NULL},
    {NULL, SA_REAL, 0, 0, 0, 0, 0, NULL},
};

static int sequential_check(const sched_node *n, const sched_check *c)
{
    const spec_node *at = c->at[1] ? c->at[1] : c->call;
    if (n->list_len[1] != n->nchild - 1)
        return descent_spec_fail(c->doc, at, c->err, DESCENT_ERR_INVALID,
                                 "SequentialLR: expects one milestone fewer than schedulers, got %d schedulers and %d "
                                 "milestones",
                                 n->nchild, n->list_len[1]);
    for (int k = 1; k < n->list_len[1]; k++)
        if (n->list[1][k] < n->list[1][k - 1])
            return descent_spec_fail(c->doc, &c->at[1]->items[k], c->err, DESCENT_ERR_INVALID,
                                     "SequentialLR: milestones must not decrease");
    return 0;
}

static size_t sequential_state(const sched_node *n, int ng)
{
    (void)n;
    (void)ng;
    return 1;
}

static int sequential_init(sched_node *n, sched_ctx *c)
{
    for (int i = 0; i < n->nchild; i++) {
        int rc = sched_init(n->child[i], c);
        if (rc < 0)
            return rc;
    }
    sched_setdefault_initial(&n->lane, c->ng);
    for (int g = 0; g < c->ng; g++)
        n->lane.lr[g] = n->lane.initial_lr[g];
    n->st[0] = 0;
    return sched_restart(n->child[0], c);
}

/* bisect_right(milestones, t) */
static int segment(const sched_node *n, int64_t t)
{
    int idx = 0;
    while (idx < n->list_len[1] && (int64_t)n->list[1][idx] <= t)
        idx++;
    return idx;
}

static int sequential_step(sched_node *n, sched_ctx *c, double metric)
{
    int64_t t = (int64_t)(n->st[0] += 1);
    int idx = segment(n, t);
    if (idx > 0 && (int64_t)n->list[1][idx - 1] == t)
        return sched_enter(n->child[idx], c);
    return sched_step(n->child[idx], c, metric);
}

/* Closed form: the member of segment t at t - (start of its segment). */
static int sequential_lr_at(const sched_node *n, double base, int64_t t, double *lr, descent_error *err)
{
    int idx = segment(n, t);
    int64_t from = idx ? (int64_t)n->list[1][idx - 1] : 0;
    return sched_lr_at(n->child[idx], base, t - from, lr, err);
}

static int sequential_state_ok(const sched_node *n, int ng)
{
    (void)ng;
    return sched_counter_ok(n->st[0]);
}

const sched_kind sched_kind_sequentiallr = {
    "SequentialLR", sequential_args, 0, 0, sequential_state, sequential_check, NULL,
    sequential_init, sequential_step, NULL, NULL, sequential_lr_at, NULL, NULL,
    sequential_state_ok,
};

/* ---- ChainedScheduler(schedulers) --------------------------------------------
 * Construction runs every member's constructor in order; each step steps
 * every member in order, all on the same lr. Members that act as factors
 * (ReduceLROnPlateau) make the chain run the others on a private lane and
 * set lr = (their lr) x (product of the factors). No closed form. */
static const sched_arg chained_args[] = {
    {"schedulers", SA_SCHEDS, SA_REQUIRED, 0, 0, 0, HP_NO_HI, NULL},
    {NULL, SA_REAL, 0, 0, 0, 0, 0, NULL},
};

static int has_factors(const sched_node *n)
{
    for (int i = 0; i < n->nchild; i++)
        if (n->child[i]->kind->chain_factor)
            return 1;
    return 0;
}

static void chained_bind(sched_node *n)
{
    if (!has_factors(n))
        return;
    for (int i = 0; i < n->nchild; i++) {
        n->child[i]->lane = n->priv;
        n->child[i]->factor_mode = n->child[i]->kind->chain_factor != NULL;
    }
}

static void chained_output(sched_node *n, int ng)
{
    if (!has_factors(n))
        return;
    sched_lane_copy(&n->lane, &n->priv, ng);
    for (int i = 0; i < n->nchild; i++)
        if (n->child[i]->kind->chain_factor)
            for (int g = 0; g < ng; g++)
                n->lane.lr[g] *= n->child[i]->kind->chain_factor(n->child[i], g);
}

static int chained_init(sched_node *n, sched_ctx *c)
{
    if (has_factors(n))
        sched_lane_copy(&n->priv, &n->lane, c->ng);
    for (int i = 0; i < n->nchild; i++) {
        int rc = sched_init(n->child[i], c);
        if (rc < 0)
            return rc;
    }
    chained_output(n, c->ng);
    return 0;
}

static int chained_step(sched_node *n, sched_ctx *c, double metric)
{
    for (int i = 0; i < n->nchild; i++) {
        int rc = sched_step(n->child[i], c, metric);
        if (rc < 0)
            return rc;
    }
    chained_output(n, c->ng);
    return 0;
}

/* SequentialLR's _initial_step() of a chain (torch 2.x): the chain's
 * step(), each member going from last_epoch -1 to 0 outside initial mode. */
static int chained_restart(sched_node *n, sched_ctx *c)
{
    if (has_factors(n))
        sched_lane_copy(&n->priv, &n->lane, c->ng);
    for (int i = 0; i < n->nchild; i++) {
        sched_node *m = n->child[i];
        int rc = m->kind->chain_restart ? m->kind->chain_restart(m, c) : sched_restart(m, c);
        if (rc < 0)
            return rc;
    }
    chained_output(n, c->ng);
    return 0;
}

const sched_kind sched_kind_chainedscheduler = {
    "ChainedScheduler", chained_args, 0, 1, NULL, NULL, chained_bind,
    chained_init, chained_step, chained_restart, NULL, NULL, NULL, NULL, NULL,
};
