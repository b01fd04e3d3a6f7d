/* Validation of a loaded schedule state: a checkpoint whose checksum was
 * repaired may still hold NaN, +-1e300 or a counter near 2^63 in any slot.
 * Each kind says what its own state may be (state_ok); the lanes are
 * checked here. */
#include "schedule.h"

#include <stdio.h>
#include <string.h>

static int lane_ok(const sched_lane *l, int ng)
{
    if (!l->lr)
        return 1;
    for (int g = 0; g < ng; g++) {
        if (!sched_rate_ok(l->lr[g]) || !sched_rate_ok(l->initial_lr[g]))
            return 0;
        if (l->momentum && !isfinite(l->momentum[g]))
            return 0;
        if (l->onecycle)
            for (int k = 0; k < 4; k++)
                if (!isfinite(l->onecycle[4 * g + k]))
                    return 0;
    }
    return 1;
}

static int node_check(const sched_node *root, const sched_node *n, int ng, descent_error *err)
{
    if (!lane_ok(&n->lane, ng) || (n->kind->private_lane && !lane_ok(&n->priv, ng)) ||
        (n->kind->state_ok && !n->kind->state_ok(n, ng)) ||
        (n->kind == &sched_kind_onecyclelr && !sched_onecycle_state_ok(root, n, ng)))
        return descent_fail(err, DESCENT_ERR_CHECKPOINT,
                            "checkpoint's schedule state for %s is out of range (a non-finite value, a negative "
                            "rate or a step count that is not a whole number in [0, 2^53])",
                            n->kind->name);
    for (int i = 0; i < n->nchild; i++) {
        int rc = node_check(root, n->child[i], ng, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int sched_epoch_bases_ok(const sched_node *n, int ng)
{
    if (!sched_counter_ok(n->st[0]))
        return 0;
    for (int g = 0; g < ng; g++)
        if (!sched_rate_ok(n->st[1 + g]))
            return 0;
    return 1;
}

int sched_state_check(const sched_node *root, int ng, descent_error *err) { return node_check(root, root, ng, err); }

/* Arguments that are rates or momenta themselves, not factors of one. */
static int is_rate_arg(const char *name)
{
    static const char *const rates[] = {"base_lr", "max_lr", "eta_min", "min_lr", "lr_end", "base_momentum",
                                        "max_momentum", NULL};
    for (int i = 0; rates[i]; i++)
        if (strcmp(name, rates[i]) == 0)
            return 1;
    return 0;
}

int sched_rates_fit(const sched_node *n, const descent_optimizer *opt, int ng, descent_error *err)
{
    for (int i = 0; i < n->nargs && n->kind->args[i].name; i++) {
        const sched_arg *a = &n->kind->args[i];
        if ((a->type != SA_REAL && a->type != SA_REALS) || !is_rate_arg(a->name))
            continue;
        for (int g = 0; g < ng; g++) {
            char what[96];
            snprintf(what, sizeof what, "%s's %s", n->kind->name, a->name);
            double v = a->type == SA_REALS ? sched_group_val(n, i, g) : sched_arg_val(n, i);
            int rc = descent_group_value_fits(opt, g, what, v, err);
            if (rc < 0)
                return rc;
        }
    }
    for (int i = 0; i < n->nchild; i++) {
        int rc = sched_rates_fit(n->child[i], opt, ng, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}
