/* Callback schedules: torch.optim.lr_scheduler.LambdaLR and MultiplicativeLR,
 * whose lr_lambda is a C function with user data (descent_lr_callback).
 *
 *   LambdaLR.get_lr:          base_lr * lambda(last_epoch)
 *   MultiplicativeLR.get_lr:  group['lr'] * lambda(last_epoch) outside the
 *                             constructor's initial step, group['lr'] in it
 *
 * (torch/optim/lr_scheduler.py, torch 2.x; base_lr is the group's
 * initial_lr). torch 1.13 multiplies only when last_epoch > 0; the two agree
 * except where SequentialLR hands over to a MultiplicativeLR with step(0),
 * which torch 2.x, followed here, multiplies by lambda(0).
 *
 * The spec argument lr_lambda holds indices into the callback table given
 * with the spec (descent_set_schedule_callbacks): one index for every group,
 * or a list of one per group, as torch's lr_lambda is one function or a list.
 * State: st[0] = last_epoch, st[1 + g] = base lr; the current lr lives in
 * the lane, so a checkpoint keeps MultiplicativeLR's running product. */
#include "schedule.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static const sched_arg lambda_args[] = {
    {"lr_lambda", SA_REALS, SA_REQUIRED, 0, 0, 0, HP_NO_HI, NULL},
    {NULL, SA_REAL, 0, 0, 0, 0, 0, NULL},
};

static const char *const callback_kinds[] = {"LambdaLR", "MultiplicativeLR"};

const char *sched_callback_help(const char *name)
{
    static const char *const help[] = {
        "LambdaLR takes a C function (lr_lambda), which a spec string cannot carry: attach it from C with "
        "descent_set_lambda_lr (or descent_set_schedule_callbacks inside a composed schedule), or use a named "
        "recipe: ConstantWithWarmup, LinearWithWarmup, CosineWithWarmup, CosineWithHardRestartsWithWarmup, "
        "PolynomialDecayWithWarmup, InverseSqrt, WarmupStableDecay",
        "MultiplicativeLR takes a C function (lr_lambda), which a spec string cannot carry: attach it from C with "
        "descent_set_multiplicative_lr (or descent_set_schedule_callbacks inside a composed schedule); a constant "
        "factor is ExponentialLR(gamma=...)",
    };
    return help[descent_name_eq(name, callback_kinds[0]) ? 0 : 1];
}

/* The first callback kind named in text[0 .. len-1] (any case), or NULL. */
const char *sched_callback_named_n(const char *text, size_t len)
{
    const char *best = NULL;
    size_t at = len;
    for (int k = 0; k < 2; k++) {
        size_t n = strlen(callback_kinds[k]);
        for (size_t i = 0; i + n <= len && i < at; i++) {
            size_t j = 0;
            while (j < n && tolower((unsigned char)text[i + j]) == tolower((unsigned char)callback_kinds[k][j]))
                j++;
            if (j == n) {
                best = callback_kinds[k];
                at = i;
                break;
            }
        }
    }
    return best;
}

const char *sched_callback_named(const char *text) { return text ? sched_callback_named_n(text, strlen(text)) : NULL; }

/* Every index a whole number below the number of callbacks given. */
static int lambda_check(const sched_node *n, const sched_check *c)
{
    int count = n->list_len[0] < 0 ? 1 : n->list_len[0];
    for (int k = 0; k < count; k++) {
        double v = n->list_len[0] < 0 ? n->arg[0] : n->list[0][k];
        if (v != floor(v) || !(v < c->ncb)) {
            const spec_node *at = c->at[0] && n->list_len[0] >= 0 ? &c->at[0]->items[k] : c->at[0];
            return descent_spec_fail(c->doc, at ? at : c->call, c->err, DESCENT_ERR_INVALID,
                                     "%s: lr_lambda must index the %d callback%s given (0 to %d), got %.17g",
                                     n->kind->name, c->ncb, c->ncb == 1 ? "" : "s", c->ncb - 1, v);
        }
    }
    return 0;
}

static size_t lambda_state(const sched_node *n, int ng)
{
    (void)n;
    return 1 + (size_t)ng;
}

/* lambda_g(t) from group g's callback: finite and >= 0, or an error naming
 * the group, the step and the value. */
static int factor(const sched_node *n, sched_ctx *c, int g, int64_t t, double *f)
{
    int k = (int)sched_group_val(n, 0, g);
    const descent_lr_callback *cb = &c->cb[k];
    double v = cb->fn(t, cb->user_data);
    if (!isfinite(v) || v < 0)
        return descent_fail(c->err, DESCENT_ERR_INVALID,
                            "%s: lr_lambda (callback %d) of group %d returned %g at step %lld; it must return a finite "
                            "number >= 0 (the lr is left unchanged)",
                            n->kind->name, k, g, v, (long long)t);
    *f = v;
    return 0;
}

extern const sched_kind sched_kind_multiplicativelr;

static int multiplies(const sched_node *n) { return n->kind == &sched_kind_multiplicativelr; }

/* get_lr at last_epoch = t outside initial mode, every group or none:
 * LambdaLR lr = base * lambda(t), MultiplicativeLR lr = lr * lambda(t). */
static int apply_at(sched_node *n, sched_ctx *c, int64_t t)
{
    n->st[0] = (double)t;
    for (int g = 0; g < c->ng; g++) {
        double f = 0;
        int rc = factor(n, c, g, t, &f);
        if (rc < 0)
            return rc;
        n->lane.lr[g] = (multiplies(n) ? n->lane.lr[g] : n->st[1 + g]) * f;
    }
    return 0;
}

/* The step to t = 0 in initial mode (the constructor's, and SequentialLR's
 * _initial_step of its first member): MultiplicativeLR keeps the lr. */
static int callback_restart(sched_node *n, sched_ctx *c)
{
    n->st[0] = 0;
    return multiplies(n) ? 0 : apply_at(n, c, 0);
}

static int callback_init(sched_node *n, sched_ctx *c)
{
    sched_setdefault_initial(&n->lane, c->ng);
    for (int g = 0; g < c->ng; g++)
        n->st[1 + g] = n->lane.initial_lr[g];
    return callback_restart(n, c);
}

static int callback_step(sched_node *n, sched_ctx *c, double metric)
{
    (void)metric;
    return apply_at(n, c, (int64_t)n->st[0] + 1);
}

/* SequentialLR's step(0) at a milestone, and a ChainedScheduler's plain
 * step from last_epoch -1 to 0: outside initial mode, so torch 2.x's
 * MultiplicativeLR multiplies by lambda(0). */
static int callback_enter(sched_node *n, sched_ctx *c) { return apply_at(n, c, 0); }

const sched_kind sched_kind_lambdalr = {
    "LambdaLR",    lambda_args,      0,              0,    lambda_state, lambda_check,   NULL,
    callback_init, callback_step,    callback_restart, callback_enter, NULL, NULL, callback_enter,
    sched_epoch_bases_ok,
};

const sched_kind sched_kind_multiplicativelr = {
    "MultiplicativeLR", lambda_args,      0,                0,    lambda_state, lambda_check,   NULL,
    callback_init,      callback_step,    callback_restart, callback_enter, NULL, NULL, callback_enter,
    sched_epoch_bases_ok,
};
