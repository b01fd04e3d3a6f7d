/*
 * descent.h — gradient-descent optimizers and learning-rate schedules in C11.
 *
 * The whole public API is in this file. Names, arguments and defaults follow
 * PyTorch's torch.optim and torch.optim.lr_scheduler (torch 1.13 semantics of
 * the single-tensor path), so a PyTorch user can write the same spec string:
 *
 *     descent_optimizer *opt;
 *     descent_error err;
 *     if (descent_create_from_spec(&opt, "AdamW(lr=3e-4, betas=(0.9, 0.95))",
 *                                  NULL, &err) < 0)
 *         fprintf(stderr, "%s\n", err.message);
 *     int g = descent_add_group(opt, NULL);
 *     descent_add_tensor(opt, g, weights, grads, n, DESCENT_F32);
 *     for (...) { compute grads; descent_step(opt); }
 *     descent_destroy(opt);
 *
 * Conventions
 *  - Every call that can fail returns an int status: negative is an error
 *    (a descent_status), zero or positive is success. The message that names
 *    the bad value is in descent_errmsg(opt) or, for constructors, in the
 *    descent_error the caller passes.
 *  - The library never prints, aborts or exits, and keeps no global mutable
 *    state. Distinct handles may be used from distinct threads.
 *  - Memory for optimizer state is allocated when a tensor is registered,
 *    never inside descent_step().
 *
 * Stability: everything declared here is the 0.x API. Within a major version
 * the handles stay opaque and calls keep their signatures; descent_hparams
 * only grows at its end.
 */
#ifndef DESCENT_H
#define DESCENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DESCENT_VERSION_MAJOR 0
#define DESCENT_VERSION_MINOR 1
#define DESCENT_VERSION_PATCH 0
#define DESCENT_VERSION_STRING "0.1.0"

/* The library's version string, "MAJOR.MINOR.PATCH". */
const char *descent_version(void);

/* ------------------------------------------------------------------------ */
/* Status codes                                                              */

typedef enum descent_status {
    DESCENT_OK = 0,
    DESCENT_ERR_INVALID = -1,    /* an argument or hyperparameter out of range */
    DESCENT_ERR_SPEC = -2,       /* a malformed or unknown spec string */
    DESCENT_ERR_NOMEM = -3,      /* the allocator returned NULL */
    DESCENT_ERR_STATE = -4,      /* the call is not valid for this handle now */
    DESCENT_ERR_CHECKPOINT = -5, /* a malformed, corrupt or mismatched checkpoint */
    DESCENT_ERR_IO = -6,         /* a file could not be read or written */
    DESCENT_ERR_NONFINITE = -7   /* a non-finite gradient under the "error" policy */
} descent_status;

/* A short constant description of a status code. */
const char *descent_strerror(int status);

/* Filled by constructors, which have no handle to keep a message in. */
typedef struct descent_error {
    int status;
    char message[512];
} descent_error;

/* ------------------------------------------------------------------------ */
/* Memory                                                                    */

/* A caller-supplied allocator. alloc(ctx, size) returns memory or NULL;
 * free(ctx, ptr) releases it (ptr is never NULL). The library aligns its
 * buffers itself; the allocator need not. Pass NULL for malloc/free. */
typedef struct descent_allocator {
    void *(*alloc)(void *ctx, size_t size);
    void (*free)(void *ctx, void *ptr);
    void *ctx;
} descent_allocator;

typedef enum descent_dtype {
    DESCENT_F32 = 0,
    DESCENT_F64 = 1
} descent_dtype;

/* ------------------------------------------------------------------------ */
/* Hyperparameters                                                           */

/* The three forms of momentum written in the seed, plus PyTorch's (SGD). */
typedef enum descent_momentum_form {
    DESCENT_MOMENTUM_TORCH = 0,      /* b = g on the first step, then b = mu b + (1-dampening) g; p -= lr b */
    DESCENT_MOMENTUM_EWMA = 1,       /* v = mu v + (1-mu) g from v = 0;  p -= lr v */
    DESCENT_MOMENTUM_ACCUMULATE = 2, /* v = mu v + g from v = 0;         p -= lr v */
    DESCENT_MOMENTUM_DIRECT = 3      /* v = mu v + lr g from v = 0;      p -= v   */
} descent_momentum_form;

/* The hyperparameters of one parameter group. Every optimizer reads the
 * fields it knows and requires the others to keep their defaults; the spec
 * syntax and descent_set() use the field names. Obtain a struct holding an
 * optimizer's defaults from descent_hparams_init(), then change fields. */
typedef struct descent_hparams {
    const char *optimizer;  /* canonical name ("Adam", "SGD", ...), set by init */
    double lr;
    double momentum;        /* SGD, RMSprop */
    double dampening;       /* SGD */
    double weight_decay;    /* L2 added to the gradient; decoupled for AdamW */
    double betas[2];        /* Adam family */
    double eps;             /* added outside the square root (PyTorch) */
    double eps_root;        /* added inside the square root (optax; the seed's formulas) */
    double alpha;           /* RMSprop smoothing constant */
    double rho;             /* Adadelta */
    double lr_decay;        /* Adagrad */
    double initial_accumulator_value; /* Adagrad */
    double momentum_decay;  /* NAdam */
    int nesterov;           /* SGD */
    int maximize;
    int amsgrad;            /* Adam, AdamW */
    int centered;           /* RMSprop */
    int momentum_form;      /* SGD: a descent_momentum_form */
} descent_hparams;

/* Fill *hp with the defaults of the named optimizer (a PyTorch name such as
 * "AdamW", or its lowercase alias "adamw"). */
int descent_hparams_init(descent_hparams *hp, const char *optimizer, descent_error *err);

/* Parse a spec string such as "Adam(lr=1e-3, betas=(0.9, 0.99))" into *hp,
 * validating every value. */
int descent_hparams_parse(descent_hparams *hp, const char *spec, descent_error *err);

/* Number of optimizers known, and the canonical name of the i-th. */
int descent_optimizer_count(void);
const char *descent_optimizer_name(int i);

/* ------------------------------------------------------------------------ */
/* Optimizers                                                                */

typedef struct descent_optimizer descent_optimizer;

/* Create an optimizer whose groups default to *hp (validated here). */
int descent_create(descent_optimizer **out, const descent_hparams *hp,
                   const descent_allocator *alloc, descent_error *err);

/* Create an optimizer from a spec string, e.g. "SGD(lr=0.1, momentum=0.9)". */
int descent_create_from_spec(descent_optimizer **out, const char *spec,
                             const descent_allocator *alloc, descent_error *err);

/* Release the optimizer and every buffer it allocated. NULL is ignored. */
void descent_destroy(descent_optimizer *opt);

/* Forget all optimizer state (step counts, moments) as if newly created;
 * groups, tensors and hyperparameters are kept. The attached schedule, if
 * any, restarts too. */
int descent_reset(descent_optimizer *opt);

/* The message of the last failed call on this handle ("" if none). */
const char *descent_errmsg(const descent_optimizer *opt);

/* Canonical name of the optimizer ("AdamW"). */
const char *descent_name(const descent_optimizer *opt);

/* Add a parameter group with its own hyperparameters (NULL: a copy of the
 * optimizer's defaults). Returns the group index (>= 0) or a status. The
 * group's optimizer name must be the optimizer's. */
int descent_add_group(descent_optimizer *opt, const descent_hparams *hp);

/* Add a group given as keyword overrides of the defaults, "lr=0.1, weight_decay=0". */
int descent_add_group_spec(descent_optimizer *opt, const char *overrides);

int descent_num_groups(const descent_optimizer *opt);

/* Register a parameter tensor of n elements in a group. The optimizer keeps
 * the two pointers: step() reads grad[0..n) and updates param[0..n) in place.
 * State for the tensor is allocated here. Returns the tensor index. */
int descent_add_tensor(descent_optimizer *opt, int group, void *param,
                       const void *grad, size_t n, descent_dtype dtype);

/* Change where a registered tensor's parameter and gradient live (same n). */
int descent_set_tensor_data(descent_optimizer *opt, int tensor, void *param, const void *grad);

int descent_num_tensors(const descent_optimizer *opt);

/* One optimizer step over every registered tensor. Allocates nothing. */
int descent_step(descent_optimizer *opt);

/* Number of steps taken (of the first tensor; all tensors step together). */
int64_t descent_step_count(const descent_optimizer *opt);

/* Read or set a hyperparameter of a group by its name: "lr", "momentum",
 * "betas[0]", "betas[1]", "eps", "weight_decay", ... Setting validates the
 * value at once. group = -1 sets every group. Booleans read as 0/1. */
int descent_get(const descent_optimizer *opt, int group, const char *name, double *value);
int descent_set(descent_optimizer *opt, int group, const char *name, double value);

/* The learning rate of a group, and a setter (schedules use these). */
double descent_get_lr(const descent_optimizer *opt, int group);
int descent_set_lr(descent_optimizer *opt, int group, double lr);

/* The momentum-like hyperparameter that cyclical schedules drive: "momentum"
 * for SGD and RMSprop, "betas[0]" for the Adam family, NULL if none. */
const char *descent_momentum_name(const descent_optimizer *opt);

/* Copy a group's hyperparameters out. */
int descent_get_hparams(const descent_optimizer *opt, int group, descent_hparams *hp);

/* Threads used by step() (default 1). Results are bit-identical for any count. */
int descent_set_threads(descent_optimizer *opt, int threads);

/* Bytes of optimizer state allocated for registered tensors. */
size_t descent_state_bytes(const descent_optimizer *opt);

/* ------------------------------------------------------------------------ */
/* Checkpoints                                                               */

/* A versioned, self-describing binary image of an optimizer: kind,
 * hyperparameters of every group, step counts, every state buffer and the
 * attached schedule's state, with a checksum. Loading requires an optimizer of
 * the same kind with the same groups and tensor shapes; on any error the
 * optimizer is left untouched. Parameters themselves are not included. */

/* Write the image into buf (capacity cap). *len receives the size needed;
 * with buf = NULL only the size is computed. */
int descent_save_mem(const descent_optimizer *opt, void *buf, size_t cap, size_t *len);
int descent_load_mem(descent_optimizer *opt, const void *buf, size_t len);

/* The same to a file, written to a temporary name, flushed and renamed, so a
 * crash leaves the old file or the new one. */
int descent_save(const descent_optimizer *opt, const char *path);
int descent_load(descent_optimizer *opt, const char *path);

/* ------------------------------------------------------------------------ */
/* Learning-rate schedules                                                   */

/* Attach a schedule to the optimizer, given as a spec string with
 * torch.optim.lr_scheduler's names and arguments (the optimizer argument is
 * implied): "CosineAnnealingLR(T_max=100)", "SequentialLR(schedulers=[
 * LinearLR(start_factor=0.1, total_iters=5), ExponentialLR(gamma=0.9)],
 * milestones=[5])", "LinearWarmup(warmup_period=100, schedule=...)".
 * Attaching performs what PyTorch's constructor does (step t = 0), so the
 * groups' lr (and momentum / beta1) are those of the first optimizer step.
 * Replaces a schedule already attached. The schedule's state is part of the
 * optimizer's checkpoint. */
int descent_set_schedule(descent_optimizer *opt, const char *spec);

/* Advance the schedule one step; call after each descent_step(), as a
 * PyTorch loop calls sched.step() after opt.step(). metric is the value
 * ReduceLROnPlateau watches (pass NAN when no plateau schedule is attached). */
int descent_schedule_step(descent_optimizer *opt, double metric);

/* 1 when the attached schedule reads a metric (ReduceLROnPlateau anywhere
 * inside it), 0 otherwise. */
int descent_schedule_needs_metric(const descent_optimizer *opt);

/* The learning rate a schedule gives at step t from base_lr, as a pure
 * function, for schedules that have a closed form (an error otherwise). */
int descent_schedule_lr_at(const char *spec, double base_lr, int64_t t, double *lr, descent_error *err);

/* ------------------------------------------------------------------------ */
/* Minimizing an objective                                                   */

/* (declared by the minimize module) */

/* ------------------------------------------------------------------------ */
/* Models and training                                                       */

/* (declared by the models module) */

/* ------------------------------------------------------------------------ */
/* Numeric CSV tables                                                        */

/* A table of numbers read from CSV: rows x cols values, row-major, and the
 * column names when the file has a header row. */
typedef struct descent_table {
    size_t rows, cols;
    double *values;
    char **names;     /* cols names, or NULL without a header */
} descent_table;

/* Read a CSV file of numbers (comma-separated, optional header row). A
 * missing field, a non-number or a row of a different length is an error
 * whose message names the file, line and column. nan and inf are numbers. */
int descent_table_read_csv(descent_table *t, const char *path, int header, descent_error *err);
void descent_table_free(descent_table *t);

#ifdef __cplusplus
}
#endif
#endif /* DESCENT_H */
