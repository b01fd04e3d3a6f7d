/* The schedule module's own definitions: a schedule is a tree of nodes, one
 * per call in the spec ("SequentialLR(schedulers=[LinearLR(...), ...])").
 * Each family file exports constant sched_kind tables; the generic driver
 * (driver.c) parses specs against their argument descriptors, binds the tree
 * to an optimizer, runs it and saves it. Nothing outside this directory
 * knows any particular schedule. */
#ifndef DESCENT_SCHEDULE_H
#define DESCENT_SCHEDULE_H

#include "../internal.h"

#include <math.h>

/* A lane is what PyTorch calls the param_groups a scheduler writes: per
 * group the current lr, the momentum (or beta1) and 'initial_lr'. The root
 * lane mirrors the optimizer's groups; warmups, GradualWarmup and a
 * ChainedScheduler holding a plateau give their children a private lane. */
typedef struct sched_lane {
    double *lr;          /* group['lr'] */
    double *momentum;    /* group['momentum'] / group['betas'][0], NULL if the optimizer has none */
    double *initial_lr;  /* group['initial_lr'] */
    double *initial_set; /* one value: 0 until some constructor did setdefault('initial_lr', lr) */
    double *onecycle;    /* 4 per group: OneCycleLR's group keys max_lr, min_lr, max_momentum,
                          * base_momentum (shared by every OneCycleLR on the lane, as in PyTorch) */
} sched_lane;

/* Argument types of a schedule's constructor. */
typedef enum sched_arg_type {
    SA_REAL,      /* a number */
    SA_INT,       /* an integer */
    SA_BOOL,      /* True / False */
    SA_CHOICE,    /* a quoted string among choices; value = index */
    SA_INTLIST,   /* a list of integers (milestones) */
    SA_REALS,     /* a number, or a list of one number per parameter group */
    SA_SCHED,     /* a nested schedule (or None) */
    SA_SCHEDS     /* a list of nested schedules */
} sched_arg_type;

enum { SA_REQUIRED = 1, SA_NONE_OK = 2 };

typedef struct sched_arg {
    const char *name;
    sched_arg_type type;
    unsigned flags;          /* SA_REQUIRED, SA_NONE_OK */
    double def;              /* default value; NAN means None */
    double lo, hi;           /* range, with hp_desc's HP_LO_OPEN / HP_HI_OPEN / HP_NO_HI */
    unsigned bounds;
    const char *const *choices;
} sched_arg;

struct sched_node;

/* What a kind's hooks see besides the node. */
typedef struct sched_ctx {
    int ng;                       /* parameter groups */
    descent_optimizer *opt;       /* NULL when evaluating a pure function */
    descent_error *err;
    const descent_lr_callback *cb;/* the C callbacks LambdaLR / MultiplicativeLR index (lambda.c) */
    int ncb;
} sched_ctx;

/* What the argument checks see (spec text available for pointing). */
typedef struct sched_check {
    const spec_doc *doc;
    const spec_node *call;        /* the schedule's call */
    const spec_node *const *at;   /* per argument: its value's node, or NULL if defaulted */
    descent_optimizer *opt;       /* NULL for descent_schedule_lr_at */
    descent_error *err;
    int ncb;                      /* C callbacks given with the spec (0: a plain spec) */
} sched_check;

/* One schedule: PyTorch's class, as a type table (GSL style). */
typedef struct sched_kind {
    const char *name;             /* PyTorch's class name */
    const sched_arg *args;        /* in positional order, NULL-name terminated */
    int reads_metric;             /* ReduceLROnPlateau */
    int private_lane;             /* the node owns a lane for its children (or itself) */
    /* Doubles of saved state the node needs for ng groups. */
    size_t (*state_size)(const struct sched_node *n, int ng);
    /* Checks across arguments, after each was range-checked; optional. */
    int (*check)(const struct sched_node *n, const sched_check *c);
    /* Point the children at their lanes (default: the node's own lane). */
    void (*bind)(struct sched_node *n);
    /* The constructor: PyTorch's __init__, including its step at t = 0. */
    int (*init)(struct sched_node *n, sched_ctx *c);
    /* One sched.step() (metric for ReduceLROnPlateau). */
    int (*step)(struct sched_node *n, sched_ctx *c, double metric);
    /* SequentialLR's "_initial_step()" of its first child after resetting
     * the lr; NULL: run init again. */
    int (*restart)(struct sched_node *n, sched_ctx *c);
    /* SequentialLR's "step(0)" at the milestone where this child takes
     * over; NULL: reset the lr to initial_lr and run init. */
    int (*enter)(struct sched_node *n, sched_ctx *c);
    /* The lr at step t as a pure function of base_lr, or NULL. */
    int (*lr_at)(const struct sched_node *n, double base_lr, int64_t t, double *lr, descent_error *err);
    /* Set when the kind acts inside ChainedScheduler as a multiplicative
     * factor on the other members (ReduceLROnPlateau): the factor for group
     * g. Such a member keeps its own lr on its private lane. */
    double (*chain_factor)(const struct sched_node *n, int g);
    /* SequentialLR's _initial_step() of a ChainedScheduler reaches its
     * members as a plain step() from last_epoch -1 to 0, outside torch 2.x's
     * "initial mode": kinds whose t = 0 lr depends on that mode
     * (ExponentialLR, PolynomialLR, CosineAnnealingLR) set this; NULL:
     * restart. */
    int (*chain_restart)(struct sched_node *n, sched_ctx *c);
    /* 1 if the node's state (st[]) is one the kind can produce: counters
     * whole and in [0, 2^53], base values finite. Loading a checkpoint
     * refuses an image any node rejects. NULL: nothing to check beyond
     * the lanes (sched_state_check). */
    int (*state_ok)(const struct sched_node *n, int ng);
} sched_kind;

typedef struct sched_node {
    const sched_kind *kind;
    int nargs;
    double *arg;              /* per argument: value (NaN: None); SA_SCHEDS: index of first child */
    double **list;            /* per argument: list values (SA_INTLIST, SA_REALS given as a list) */
    int *list_len;            /* per argument: list length (-1: a scalar was given) */
    struct sched_node **child;/* nested schedules in argument order */
    int nchild;
    double *st;               /* the kind's state (inside the schedule's state block) */
    size_t nst;
    sched_lane lane;          /* the lane this node writes */
    sched_lane priv;          /* its private lane, when kind->private_lane */
    int factor_mode;          /* ReduceLROnPlateau inside ChainedScheduler */
} sched_node;

/* Every kind, from the family files (list in registry.c). */
extern const sched_kind *const sched_kinds[];
extern const int sched_kind_count;
/* LambdaLR and MultiplicativeLR (registry.c): named only with callbacks. */
extern const sched_kind *const sched_callback_kinds[];
extern const int sched_callback_kind_count;

/* Argument access. */
static inline double sched_arg_val(const sched_node *n, int i) { return n->arg[i]; }
static inline int sched_arg_none(const sched_node *n, int i) { return isnan(n->arg[i]); }
/* SA_REALS: the value for group g (a scalar applies to every group). */
static inline double sched_group_val(const sched_node *n, int i, int g)
{
    return n->list_len[i] >= 0 ? n->list[i][g < n->list_len[i] ? g : 0] : n->arg[i];
}

/* Helpers shared by the kinds (driver.c). */
int sched_init(sched_node *n, sched_ctx *c);
int sched_step(sched_node *n, sched_ctx *c, double metric);
int sched_restart(sched_node *n, sched_ctx *c);
int sched_enter(sched_node *n, sched_ctx *c);
int sched_lr_at(const sched_node *n, double base_lr, int64_t t, double *lr, descent_error *err);
/* PyTorch's group.setdefault('initial_lr', group['lr']) on every group. */
void sched_setdefault_initial(sched_lane *l, int ng);
/* A step counter as saved: whole, in [0, 2^53] (so int64 casts are exact). */
static inline int sched_counter_ok(double v) { return v >= 0 && v <= 9007199254740992.0 && v == floor(v); }
/* A learning rate or base value: finite and >= 0. */
static inline int sched_rate_ok(double v) { return isfinite(v) && v >= 0; }
/* Every node of the tree: its lanes' values finite (lr >= 0) and its kind's
 * state_ok; a message naming the schedule kind otherwise. */
int sched_state_check(const sched_node *root, int ng, descent_error *err);
/* The absolute rates a spec gives (base_lr, max_lr, eta_min, min_lr, lr_end,
 * the momentum bounds) under the rule of descent_hparams_fit_dtype for each
 * group's tensors; a message naming the schedule, the argument and the
 * group otherwise. */
int sched_rates_fit(const sched_node *root, const descent_optimizer *opt, int ng, descent_error *err);
/* A loaded image's values (the tree's block holding them; attach: its
 * 3 * ng attach-time values as saved) checked field by field; a message
 * naming the schedule, the field and the group otherwise. */
int sched_saved_fields(const sched_node *root, int ng, const unsigned char *attach, const descent_optimizer *opt,
                       descent_error *err);
/* state_ok of the kinds whose state is st[0] = last_epoch, st[1 + g] =
 * base lrs: a counter and ng rates. */
int sched_epoch_bases_ok(const sched_node *n, int ng);
/* OneCycleLR's state: its counter within total_steps, and the lane's group
 * keys those of a OneCycleLR of the tree (cyclic.c). */
extern const sched_kind sched_kind_onecyclelr;
int sched_onecycle_state_ok(const sched_node *root, const sched_node *n, int ng);
/* The callback kinds (lambda.c): the message telling how to attach kind
 * `name` from C, and the first callback kind a text names (NULL: none). */
const char *sched_callback_help(const char *name);
const char *sched_callback_named(const char *text);
const char *sched_callback_named_n(const char *text, size_t len);
/* Copy every group's values of one lane into another. */
void sched_lane_copy(sched_lane *dst, const sched_lane *src, int ng);
/* Python's max(a, b) and min(a, b): the first argument unless the second
 * is strictly greater / smaller. */
static inline double py_max(double a, double b) { return b > a ? b : a; }
static inline double py_min(double a, double b) { return b < a ? b : a; }
/* Python's a % b for integers (the result has b's sign). */
static inline int64_t py_mod(int64_t a, int64_t b)
{
    int64_t r = a % b;
    return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}

#define SCHED_PI 3.141592653589793 /* Python's math.pi */

#endif
