/* ReduceLROnPlateau(mode='min', factor=0.1, patience=10, threshold=1e-4,
 * threshold_mode='rel', cooldown=0, min_lr=0, eps=1e-8), torch 1.13:
 *
 *   better(a) = a < best (1 - threshold)  (min, rel)   a < best - threshold (min, abs)
 *               a > best (1 + threshold)  (max, rel)   a > best + threshold (max, abs)
 *   best starts at +inf (min) / -inf (max). Each step with metric a:
 *     better(a) ? (best = a, bad = 0) : bad += 1
 *     in cooldown: cooldown -= 1, bad = 0
 *     bad > patience: new = max(lr factor, min_lr), taken only if lr - new > eps;
 *                     cooldown = cooldown_arg, bad = 0
 * The metric passed after step t changes the lr from step t + 1; NaN is
 * never better.
 *
 * Composition (PyTorch rejects all of these; descent defines them):
 *  - as a warmup's schedule or GradualWarmup's `after`: exactly the above,
 *    on the warmup's private lr, which the warmup then multiplies;
 *  - in SequentialLR: when its segment starts the lr is reset to the base
 *    lr and the plateau state starts afresh; it then reduces that lr;
 *  - in ChainedScheduler: it keeps its own lr, starting from the chain's lr
 *    when it is constructed, reduced as above (min_lr bounds it), and the
 *    chain's lr is what the other members give times (its lr / its start).
 * State: st[0] best, st[1] num_bad_epochs, st[2] cooldown_counter,
 *        st[3] last_epoch, st[4 + g] the start lr (ChainedScheduler). */
#include "schedule.h"

enum { PL_MODE, PL_FACTOR, PL_PATIENCE, PL_THRESHOLD, PL_THRESHOLD_MODE, PL_COOLDOWN, PL_MIN_LR, PL_EPS };
static const char *const plateau_modes[] = {"min", "max", NULL};
static const char *const threshold_modes[] = {"rel", "abs", NULL};

static const sched_arg plateau_args[] = {
    {"mode", SA_CHOICE, 0, 0, 0, 0, 0, plateau_modes},
    {"factor", SA_REAL, 0, 0.1, 0, 1, HP_HI_OPEN, NULL},
    {"patience", SA_INT, 0, 10, 0, 0, HP_NO_HI, NULL},
    {"threshold", SA_REAL, 0, 1e-4, 0, 0, HP_NO_HI, NULL},
    {"threshold_mode", SA_CHOICE, 0, 0, 0, 0, 0, threshold_modes},
    {"cooldown", SA_INT, 0, 0, 0, 0, HP_NO_HI, NULL},
    {"min_lr", SA_REALS, 0, 0, 0, 0, HP_NO_HI, NULL},
    {"eps", SA_REAL, 0, 1e-8, 0, 0, HP_NO_HI, NULL},
    {NULL, SA_REAL, 0, 0, 0, 0, 0, NULL},
};

static size_t plateau_state(const sched_node *n, int ng)
{
    (void)n;
    return 4 + (size_t)ng;
}

static sched_lane *target(sched_node *n) { return n->factor_mode ? &n->priv : &n->lane; }

static int plateau_init(sched_node *n, sched_ctx *c)
{
    n->st[0] = n->arg[PL_MODE] == 0 ? INFINITY : -INFINITY;
    n->st[1] = 0;
    n->st[2] = 0;
    n->st[3] = 0;
    if (n->factor_mode) {
        sched_lane_copy(&n->priv, &n->lane, c->ng);
        for (int g = 0; g < c->ng; g++)
            n->st[4 + g] = n->lane.lr[g];
    }
    return 0;
}

static int is_better(const sched_node *n, double a, double best)
{
    double th = n->arg[PL_THRESHOLD];
    int rel = n->arg[PL_THRESHOLD_MODE] == 0;
    if (n->arg[PL_MODE] == 0)
        return rel ? a < best * (1. - th) : a < best - th;
    return rel ? a > best * (th + 1.) : a > best + th;
}

static int plateau_step(sched_node *n, sched_ctx *c, double metric)
{
    n->st[3] += 1;
    if (is_better(n, metric, n->st[0])) {
        n->st[0] = metric;
        n->st[1] = 0;
    } else {
        n->st[1] += 1;
    }
    if (n->st[2] > 0) {
        n->st[2] -= 1;
        n->st[1] = 0;
    }
    if (n->st[1] > n->arg[PL_PATIENCE]) {
        sched_lane *l = target(n);
        for (int g = 0; g < c->ng; g++) {
            double old_lr = l->lr[g];
            double new_lr = py_max(old_lr * n->arg[PL_FACTOR], sched_group_val(n, PL_MIN_LR, g));
            if (old_lr - new_lr > n->arg[PL_EPS])
                l->lr[g] = new_lr;
        }
        n->st[2] = n->arg[PL_COOLDOWN];
        n->st[1] = 0;
    }
    return 0;
}

/* Inside ChainedScheduler: its lr over the lr it started from. */
static double plateau_chain_factor(const sched_node *n, int g)
{
    double start = n->st[4 + g];
    return start != 0 ? n->priv.lr[g] / start : 1.0;
}

const sched_kind sched_kind_reducelronplateau = {
    "ReduceLROnPlateau", plateau_args, 1, 1, plateau_state, NULL, NULL,
    plateau_init, plateau_step, NULL, NULL, NULL, plateau_chain_factor, NULL, NULL,
};
