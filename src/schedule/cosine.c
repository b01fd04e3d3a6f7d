/* Cosine annealing (Loshchilov & Hutter, SGDR, 2017) as torch 1.13 has it:
 * CosineAnnealingLR (recursive) and CosineAnnealingWarmRestarts. */
#include "schedule.h"

/* ---- CosineAnnealingLR(T_max, eta_min=0) -------------------------------------
 * recursive, for t > 0:
 *   if (t - 1 - T) mod 2T == 0:  lr += (base - eta_min)(1 - cos(pi/T)) / 2
 *   else: lr = (1 + cos(pi t/T)) / (1 + cos(pi (t-1)/T)) (lr - eta_min) + eta_min
 * closed: eta_min + (base - eta_min)(1 + cos(pi t/T)) / 2
 * Past T the recursion climbs back up (period 2T), as the closed form does.
 * State: st[0] = last_epoch, st[1 + g] = base_lrs[g]. */
static const sched_arg cosine_args[] = {
    {"T_max", SA_INT, SA_REQUIRED, 0, 1, 0, HP_NO_HI, NULL},
    {"eta_min", SA_REAL, 0, 0, 0, 0, HP_NO_HI, NULL},
    {NULL, SA_REAL, 0, 0, 0, 0, 0, NULL},
};

static size_t cosine_state(const sched_node *n, int ng)
{
    (void)n;
    return 1 + (size_t)ng;
}

static double cosine_closed(const sched_node *n, double base, int64_t t)
{
    double T = n->arg[0], eta = n->arg[1];
    return eta + (base - eta) * (1 + cos(SCHED_PI * (double)t / T)) / 2;
}

static int cosine_init(sched_node *n, sched_ctx *c)
{
    sched_setdefault_initial(&n->lane, c->ng);
    n->st[0] = 0;
    for (int g = 0; g < c->ng; g++)
        n->st[1 + g] = n->lane.initial_lr[g];
    return 0;
}

static int cosine_step(sched_node *n, sched_ctx *c, double metric)
{
    (void)metric;
    int64_t T = (int64_t)n->arg[0];
    double eta = n->arg[1], Td = n->arg[0];
    int64_t t = (int64_t)(n->st[0] += 1);
    for (int g = 0; g < c->ng; g++) {
        double base = n->st[1 + g], lr = n->lane.lr[g];
        if (py_mod(t - 1 - T, 2 * T) == 0)
            lr = lr + (base - eta) * (1 - cos(SCHED_PI / Td)) / 2;
        else
            lr = (1 + cos(SCHED_PI * (double)t / Td)) / (1 + cos(SCHED_PI * (double)(t - 1) / Td)) * (lr - eta) + eta;
        n->lane.lr[g] = lr;
    }
    return 0;
}

/* _initial_step(): t = 0 again, the lr as it is, base_lrs kept. */
static int cosine_restart(sched_node *n, sched_ctx *c)
{
    (void)c;
    n->st[0] = 0;
    return 0;
}

/* torch 2.x outside initial mode: the recursive step at t = 0. */
static int cosine_chain_restart(sched_node *n, sched_ctx *c)
{
    n->st[0] = -1;
    return cosine_step(n, c, NAN);
}

static int cosine_enter(sched_node *n, sched_ctx *c)
{
    n->st[0] = 0;
    for (int g = 0; g < c->ng; g++)
        n->lane.lr[g] = cosine_closed(n, n->st[1 + g], 0);
    return 0;
}

static int cosine_lr_at(const sched_node *n, double base, int64_t t, double *lr, descent_error *err)
{
    (void)err;
    *lr = cosine_closed(n, base, t);
    return 0;
}

const sched_kind sched_kind_cosineannealinglr = {
    "CosineAnnealingLR", cosine_args, 0, 0, cosine_state, NULL, NULL,
    cosine_init, cosine_step, cosine_restart, cosine_enter, cosine_lr_at, NULL, cosine_chain_restart,
    sched_epoch_bases_ok,
};

/* ---- CosineAnnealingWarmRestarts(T_0, T_mult=1, eta_min=0) ------------------
 *   lr = eta_min + (base - eta_min)(1 + cos(pi T_cur / T_i)) / 2
 * T_cur counts steps since the last restart; when it reaches T_i it drops
 * by T_i and T_i grows by T_mult. Integer bookkeeping, so the closed form
 * (computed the same way) equals the recursion exactly.
 * State: st[0] = last_epoch, st[1] = T_i, st[2] = T_cur, st[3 + g] = base. */
static const sched_arg restarts_args[] = {
    {"T_0", SA_INT, SA_REQUIRED, 0, 1, 0, HP_NO_HI, NULL},
    {"T_mult", SA_INT, 0, 1, 1, 0, HP_NO_HI, NULL},
    {"eta_min", SA_REAL, 0, 0, 0, 0, HP_NO_HI, NULL},
    {NULL, SA_REAL, 0, 0, 0, 0, 0, NULL},
};

static size_t restarts_state(const sched_node *n, int ng)
{
    (void)n;
    return 3 + (size_t)ng;
}

static double restarts_value(const sched_node *n, double base, double T_cur, double T_i)
{
    double eta = n->arg[2];
    return eta + (base - eta) * (1 + cos(SCHED_PI * T_cur / T_i)) / 2;
}

static void restarts_write(sched_node *n, int ng)
{
    for (int g = 0; g < ng; g++)
        n->lane.lr[g] = restarts_value(n, n->st[3 + g], n->st[2], n->st[1]);
}

/* step(epoch=0): the start of the first cycle. */
static int restarts_enter(sched_node *n, sched_ctx *c)
{
    n->st[0] = 0;
    n->st[1] = n->arg[0];
    n->st[2] = 0;
    restarts_write(n, c->ng);
    return 0;
}

static int restarts_init(sched_node *n, sched_ctx *c)
{
    sched_setdefault_initial(&n->lane, c->ng);
    for (int g = 0; g < c->ng; g++)
        n->st[3 + g] = n->lane.initial_lr[g];
    return restarts_enter(n, c);
}

static int restarts_step(sched_node *n, sched_ctx *c, double metric)
{
    (void)metric;
    n->st[0] += 1;
    n->st[2] += 1;
    if (n->st[2] >= n->st[1]) {
        n->st[2] -= n->st[1];
        n->st[1] *= n->arg[1];
    }
    restarts_write(n, c->ng);
    return 0;
}

/* T_i whole in [1, 2^53], T_cur whole in [0, T_i), last_epoch a counter. */
static int restarts_state_ok(const sched_node *n, int ng)
{
    if (!sched_counter_ok(n->st[0]) || !sched_counter_ok(n->st[1]) || n->st[1] < 1 || !sched_counter_ok(n->st[2]) ||
        n->st[2] >= n->st[1])
        return 0;
    for (int g = 0; g < ng; g++)
        if (!sched_rate_ok(n->st[3 + g]))
            return 0;
    return 1;
}

static int restarts_lr_at(const sched_node *n, double base, int64_t t, double *lr, descent_error *err)
{
    (void)err;
    int64_t T_i = (int64_t)n->arg[0], T_mult = (int64_t)n->arg[1], T_cur = t;
    double T_i_d = (double)T_i;
    if (T_mult == 1) {
        T_cur = t % T_i;
    } else {
        while (T_cur >= T_i) {
            T_cur -= T_i;
            if (T_i > INT64_MAX / T_mult) {
                /* The next cycle is longer than any int64 step: t is in it. */
                T_i_d = (double)T_i * (double)T_mult;
                break;
            }
            T_i *= T_mult;
            T_i_d = (double)T_i;
        }
    }
    *lr = restarts_value(n, base, (double)T_cur, T_i_d);
    return 0;
}

const sched_kind sched_kind_cosineannealingwarmrestarts = {
    "CosineAnnealingWarmRestarts", restarts_args, 0, 0, restarts_state, NULL, NULL,
    restarts_init, restarts_step, restarts_enter, restarts_enter, restarts_lr_at, NULL, NULL,
    restarts_state_ok,
};
