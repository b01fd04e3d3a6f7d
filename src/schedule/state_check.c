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

/* ---- a loaded image's values, each named -------------------------------
 * Before the generic bounds of the driver: every value whose meaning is
 * known is checked under its name, so that a refusal says which field of
 * which schedule is wrong. Rates (PyTorch's group['lr'], 'initial_lr',
 * base_lrs, OneCycleLR's max_lr / min_lr keys) are in [0, 2^53] and, for
 * a group with f32 or bf16 tensors, 0 or within float's magnitudes (the
 * rule at registration, descent_hparams_fit_dtype); momenta are finite and
 * fit the same way; counters are whole numbers in [0, 2^53]. */

typedef enum { F_RATE, F_MOMENTUM, F_COUNTER, F_FINITE, F_METRIC } field_type;

typedef struct field_ctx {
    const descent_optimizer *opt;
    int ng;
    descent_error *err;
} field_ctx;

static int field(const field_ctx *c, const char *owner, const char *name, int g, double v, field_type type)
{
    const char *why = NULL;
    switch (type) {
    case F_RATE:
        why = sched_rate_ok(v) && v <= 9007199254740992.0 ? NULL : "is not a rate in [0, 2^53]";
        break;
    case F_MOMENTUM:
    case F_FINITE:
        why = fabs(v) <= 9007199254740992.0 ? NULL : "is not finite (or beyond 2^53)";
        break;
    case F_COUNTER:
        why = sched_counter_ok(v) ? NULL : "is not a whole number in [0, 2^53]";
        break;
    case F_METRIC:
        why = isnan(v) ? "is NaN" : NULL;
        break;
    }
    descent_dtype dt = g >= 0 ? descent_group_float_dtype(c->opt, g) : DESCENT_F64;
    if (!why && (type == F_RATE || type == F_MOMENTUM) && dt != DESCENT_F64 && !descent_fits_float(v))
        why = dt == DESCENT_BF16 ? "is outside the range of the group's bf16 tensors (magnitudes 1.2e-38 to 3.4e38, or 0)"
                                 : "is outside the range of the group's f32 tensors (magnitudes 1.2e-38 to 3.4e38, or 0)";
    if (!why)
        return 0;
    if (g >= 0)
        return descent_fail(c->err, DESCENT_ERR_CHECKPOINT, "checkpoint's schedule state: %s %s[%d] = %g %s", owner,
                            name, g, v, why);
    return descent_fail(c->err, DESCENT_ERR_CHECKPOINT, "checkpoint's schedule state: %s %s = %g %s", owner, name, v,
                        why);
}

static int lane_fields(const field_ctx *c, const char *owner, const sched_lane *l)
{
    if (!l->lr)
        return 0;
    static const char *const keys[4] = {"max_lr", "min_lr", "max_momentum", "base_momentum"};
    int rc = 0;
    for (int g = 0; g < c->ng && rc == 0; g++) {
        rc = field(c, owner, "lr", g, l->lr[g], F_RATE);
        if (rc == 0)
            rc = field(c, owner, "initial_lr", g, l->initial_lr[g], F_RATE);
        if (rc == 0 && l->momentum)
            rc = field(c, owner, "momentum", g, l->momentum[g], F_MOMENTUM);
        for (int k = 0; k < 4 && rc == 0 && l->onecycle; k++)
            rc = field(c, owner, keys[k], g, l->onecycle[4 * g + k], k < 2 ? F_RATE : F_MOMENTUM);
    }
    return rc;
}

/* The fields of a node's own state (st[]), by kind. */
static int state_fields(const field_ctx *c, const sched_node *n)
{
    const char *kind = n->kind->name;
    int rc = 0, ng = c->ng;
    if (n->nst == 0)
        return 0;
    if (n->kind->state_ok == sched_epoch_bases_ok || strcmp(kind, "GradualWarmup") == 0) {
        rc = field(c, kind, "last_epoch", -1, n->st[0], F_COUNTER);
        for (int g = 0; g < ng && rc == 0; g++)
            rc = field(c, kind, "base_lrs", g, n->st[1 + g], F_RATE);
    } else if (strcmp(kind, "CosineAnnealingWarmRestarts") == 0) {
        rc = field(c, kind, "last_epoch", -1, n->st[0], F_COUNTER);
        if (rc == 0)
            rc = field(c, kind, "T_i", -1, n->st[1], F_COUNTER);
        if (rc == 0)
            rc = field(c, kind, "T_cur", -1, n->st[2], F_COUNTER);
        for (int g = 0; g < ng && rc == 0; g++)
            rc = field(c, kind, "base_lrs", g, n->st[3 + g], F_RATE);
    } else if (strcmp(kind, "CyclicLR") == 0) {
        rc = field(c, kind, "last_epoch", -1, n->st[0], F_COUNTER);
        for (int g = 0; g < ng && rc == 0; g++)
            rc = field(c, kind, "base_lrs", g, n->st[1 + g], F_RATE);
        for (int g = 0; g < ng && rc == 0; g++)
            rc = field(c, kind, "base_momentums", g, n->st[1 + ng + g], F_MOMENTUM);
    } else if (strcmp(kind, "ReduceLROnPlateau") == 0) {
        rc = field(c, kind, "best", -1, n->st[0], F_METRIC);
        if (rc == 0)
            rc = field(c, kind, "num_bad_epochs", -1, n->st[1], F_COUNTER);
        if (rc == 0)
            rc = field(c, kind, "cooldown_counter", -1, n->st[2], F_COUNTER);
        if (rc == 0)
            rc = field(c, kind, "last_epoch", -1, n->st[3], F_COUNTER);
        for (int g = 0; g < ng && rc == 0; g++)
            rc = field(c, kind, "starting lr", g, n->st[4 + g], F_RATE);
    } else if (strstr(kind, "Warmup")) { /* LinearWarmup, ExponentialWarmup and the untuned ones */
        rc = field(c, kind, "step", -1, n->st[0], F_COUNTER);
        for (int g = 0; g < ng && rc == 0; g++)
            rc = field(c, kind, "warmup_period", g, n->st[1 + g], F_FINITE);
    } else { /* OneCycleLR, SequentialLR and kinds with a counter first */
        rc = field(c, kind, "last_epoch", -1, n->st[0], F_COUNTER);
        for (size_t i = 1; i < n->nst && rc == 0; i++) {
            char name[48];
            snprintf(name, sizeof name, "state value %zu", i);
            rc = field(c, kind, name, -1, n->st[i], F_FINITE);
        }
    }
    return rc;
}

static int node_fields(const field_ctx *c, const sched_node *n)
{
    int rc = state_fields(c, n);
    if (rc == 0 && n->kind->private_lane) {
        char owner[96];
        snprintf(owner, sizeof owner, "%s's private lane", n->kind->name);
        rc = lane_fields(c, owner, &n->priv);
    }
    for (int i = 0; i < n->nchild && rc == 0; i++)
        rc = node_fields(c, n->child[i]);
    return rc;
}

int sched_saved_fields(const sched_node *root, int ng, const unsigned char *attach, const descent_optimizer *opt,
                       descent_error *err)
{
    field_ctx c = {opt, ng, err};
    descent_reader r = {attach, 8 * 3 * (size_t)ng, 0, 0};
    int rc = 0;
    for (int g = 0; g < ng && rc == 0; g++) {
        double lr = descent_get_f64(&r), mom = descent_get_f64(&r), initial = descent_get_f64(&r);
        rc = field(&c, "the optimizer's", "lr at attach", g, lr, F_RATE);
        if (rc == 0)
            rc = field(&c, "the optimizer's", "momentum at attach", g, mom, F_MOMENTUM);
        if (rc == 0)
            rc = field(&c, "the optimizer's", "initial_lr at attach", g, initial, F_RATE);
    }
    if (rc == 0)
        rc = lane_fields(&c, "the optimizer's", &root->lane);
    return rc == 0 ? node_fields(&c, root) : rc;
}
