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
 * the handles stay opaque and calls keep their signatures; status codes, enum
 * values and the names and arguments of spec strings keep their meaning;
 * the structs you pass in grow only at their end and carry their size
 * (struct_size), and the structs the library fills for you
 * (descent_minimize_result, descent_epoch_result, descent_table,
 * descent_error) keep their layout. The shared library's soname is
 * libdescent.so.MAJOR. docs/getting-started.md states the promise in full.
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
/* "MAJOR.MINOR.PATCH" from the three numbers above, the one place the
 * version is written (CMakeLists.txt reads them too). */
#define DESCENT_VERSION_STR1_(x) #x
#define DESCENT_VERSION_STR_(x) DESCENT_VERSION_STR1_(x)
#define DESCENT_VERSION_STRING                                                             \
    DESCENT_VERSION_STR_(DESCENT_VERSION_MAJOR) "." DESCENT_VERSION_STR_(DESCENT_VERSION_MINOR) "." \
        DESCENT_VERSION_STR_(DESCENT_VERSION_PATCH)

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

/* Element types of parameters and gradients. DESCENT_BF16 arrays hold
 * bfloat16 values (the upper 16 bits of an IEEE binary32, as uint16_t);
 * their optimizer state is f32 and the update is computed in f32 (see
 * descent_set_bf16_options). Optimizer state is f64 for f64 tensors, f32
 * otherwise. */
typedef enum descent_dtype {
    DESCENT_F32 = 0,
    DESCENT_F64 = 1,
    DESCENT_BF16 = 2
} descent_dtype;

/* Bytes of one element of dtype: 4 (DESCENT_F32), 8 (DESCENT_F64), 2
 * (DESCENT_BF16); 0 for any other value. */
size_t descent_dtype_size(descent_dtype dtype);

/* ------------------------------------------------------------------------ */
/* Hyperparameters                                                           */

/* Three textbook forms of momentum, plus PyTorch's (SGD). */
typedef enum descent_momentum_form {
    DESCENT_MOMENTUM_TORCH = 0,      /* b = g on the first step, then b = mu b + (1-dampening) g; p -= lr b */
    DESCENT_MOMENTUM_EWMA = 1,       /* v = mu v + (1-mu) g from v = 0;  p -= lr v */
    DESCENT_MOMENTUM_ACCUMULATE = 2, /* v = mu v + g from v = 0;         p -= lr v */
    DESCENT_MOMENTUM_DIRECT = 3      /* v = mu v + lr g from v = 0;      p -= v   */
} descent_momentum_form;

/* Structs you pass in (descent_hparams, descent_minimize_settings,
 * descent_train_config) begin with struct_size, the size of the struct your
 * program was compiled with. Their init/default calls are macros that pass
 * sizeof and set it; fields a later version appends are then left at their
 * defaults when an older program calls a newer library, and a struct from a
 * newer header than the library is refused with a message, never overrun.
 * A struct_size of 0 (a struct filled by hand) is refused. */

/* The hyperparameters of one parameter group. Every optimizer reads the
 * fields it knows and requires the others to keep their defaults; the spec
 * syntax and descent_set() use the field names. Obtain a struct holding an
 * optimizer's defaults from descent_hparams_init(), then change fields. */
typedef struct descent_hparams {
    size_t struct_size;     /* set by descent_hparams_init/_parse (sizeof) */
    const char *optimizer;  /* canonical name ("Adam", "SGD", ...), set by init */
    double lr;
    double momentum;        /* SGD, RMSprop */
    double dampening;       /* SGD */
    double weight_decay;    /* L2 added to the gradient; decoupled for AdamW, Lion, AdaBelief */
    double betas[2];        /* Adam family */
    double eps;             /* added outside the square root (PyTorch) */
    double eps_root;        /* added inside the square root (optax; Tieleman & Hinton's RMSprop) */
    double alpha;           /* RMSprop smoothing constant; ASGD's power for eta */
    double rho;             /* Adadelta */
    double lr_decay;        /* Adagrad */
    double initial_accumulator_value; /* Adagrad; Yogi (both moments start there) */
    double momentum_decay;  /* NAdam */
    int nesterov;           /* SGD */
    int maximize;
    int amsgrad;            /* Adam, AdamW */
    int centered;           /* RMSprop */
    int momentum_form;      /* SGD: a descent_momentum_form */
    double etas[2];         /* Rprop: (etaminus, etaplus) step-size factors */
    double step_sizes[2];   /* Rprop: (minimal, maximal) step size */
    double lambd;           /* ASGD decay term */
    double t0;              /* ASGD: step at which averaging starts */
    /* FTRL (Keras tf.keras.optimizers.Ftrl); initial_accumulator_value above */
    double learning_rate_power;
    double l1_regularization_strength;
    double l2_regularization_strength;
    double l2_shrinkage_regularization_strength;
    double beta;
    /* Adafactor (torch.optim.Adafactor): eps = (eps1, eps2), eps1 NaN for
     * None (the dtype's machine epsilon); beta2_decay; d, the clipping threshold */
    double eps_pair[2];
    double beta2_decay;
    double d;
    /* ScheduleFreeSGD / ScheduleFreeAdamW (optax.contrib); b1, b2 are betas */
    double warmup_steps;    /* 0: optax's None, no warmup */
    double weight_lr_power;
    /* AdaBelief (adabelief-pytorch 0.2) */
    int rectify;
    int degenerated_to_sgd;
    int state_bits;         /* Adam family: 32 (state at the tensor's precision) or 8 (block-quantized) */
    /* torch 2.x: NAdam, RAdam, Adam; p *= 1 - lr weight_decay instead of adding weight_decay p to g */
    int decoupled_weight_decay;
    /* NAdam: 1 reproduces torch 1.13's mu_product_next = P_t mu_t mu_{t+1};
     * 0 (default) is Dozat's and torch 2.x's P_t mu_{t+1} */
    int legacy_mu_product;
} descent_hparams;

/* Fill *hp with the defaults of the named optimizer (a PyTorch name such as
 * "AdamW", or its lowercase alias "adamw"). */
int descent_hparams_init_sized(descent_hparams *hp, size_t struct_size, const char *optimizer, descent_error *err);
#define descent_hparams_init(hp, optimizer, err) descent_hparams_init_sized((hp), sizeof *(hp), (optimizer), (err))

/* Parse a spec string such as "Adam(lr=1e-3, betas=(0.9, 0.99))" into *hp,
 * validating every value. */
int descent_hparams_parse_sized(descent_hparams *hp, size_t struct_size, const char *spec, descent_error *err);
#define descent_hparams_parse(hp, spec, err) descent_hparams_parse_sized((hp), sizeof *(hp), (spec), (err))

/* Number of optimizers known, and the canonical name of the i-th. */
int descent_optimizer_count(void);
const char *descent_optimizer_name(int i);

/* ---- Describing an optimizer's hyperparameters (pipeline) -------------- */

typedef enum descent_hparam_type {
    DESCENT_HPARAM_REAL = 0,   /* a number */
    DESCENT_HPARAM_PAIR = 1,   /* a tuple of two numbers, e.g. betas */
    DESCENT_HPARAM_BOOL = 2,   /* True / False (0 / 1) */
    DESCENT_HPARAM_CHOICE = 3, /* one of the strings in choices; its value is the index */
    DESCENT_HPARAM_INT = 4     /* an integer */
} descent_hparam_type;

/* One argument an optimizer's spec accepts, as descent_hparam_describe
 * fills it. The value x (each item of a pair) must satisfy
 * lo <= x (lo < x when lo_open) and x <= hi (x < hi when hi_open; hi is
 * INFINITY when there is no upper bound); an INT with ends_only must be lo
 * or hi. A pair item with none_ok may be None (read as NaN). Strings are
 * the library's, valid for its lifetime. */
typedef struct descent_hparam_info {
    const char *name;                /* the keyword, e.g. "lr" */
    int type;                        /* a descent_hparam_type */
    double default_value[2];         /* the optimizer's default ([1]: second item of a pair) */
    double lo, hi;
    int lo_open, hi_open, ends_only, none_ok;
    const char *const *choices;      /* CHOICE: NULL-terminated names; else NULL */
    const char *meaning;             /* one line: what the argument does */
} descent_hparam_info;

/* Number of arguments of the named optimizer (a name or alias as in specs),
 * or DESCENT_ERR_INVALID when no optimizer has that name. */
int descent_hparam_count(const char *optimizer);
/* The i-th argument (0 <= i < descent_hparam_count) in the order of the
 * optimizer's signature; DESCENT_ERR_INVALID for an unknown name, an i out
 * of range or a NULL out. */
int descent_hparam_describe(const char *optimizer, int i, descent_hparam_info *out);

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
 * State for the tensor is allocated here. Returns the tensor index.
 * dtype is DESCENT_F32, DESCENT_F64 or DESCENT_BF16. */
int descent_add_tensor(descent_optimizer *opt, int group, void *param,
                       const void *grad, size_t n, descent_dtype dtype);

/* The same, for a tensor with a shape: ndim in [1, DESCENT_MAX_DIMS] sizes,
 * row-major, n = their product (0-D scalars: ndim 1, shape {1}).
 * descent_add_tensor(..., n, ...) is the 1-D case {n}. Optimizers that look
 * at the shape (Adafactor factors the second moment of a tensor with two or
 * more dimensions over its last two) and weight-decay rules ("no decay on
 * 1-D tensors") read it. */
#define DESCENT_MAX_DIMS 8
int descent_add_tensor_shaped(descent_optimizer *opt, int group, void *param, const void *grad,
                              int ndim, const size_t *shape, descent_dtype dtype);

/* The shape a tensor was registered with: returns ndim and copies up to
 * DESCENT_MAX_DIMS sizes into shape (may be NULL); a status if tensor is
 * out of range. */
int descent_tensor_shape(const descent_optimizer *opt, int tensor, size_t *shape);

/* Change where a registered tensor's parameter and gradient live (same n). */
int descent_set_tensor_data(descent_optimizer *opt, int tensor, void *param, const void *grad);

int descent_num_tensors(const descent_optimizer *opt);

/* One optimizer step over every registered tensor. Allocates nothing. */
int descent_step(descent_optimizer *opt);

/* Number of steps taken (of the first tensor; all tensors step together). */
int64_t descent_step_count(const descent_optimizer *opt);

/* What descent_step does with a NaN or infinite gradient value:
 *  - DESCENT_NONFINITE_PROPAGATE (default, PyTorch's behaviour): nothing
 *    special; the value flows into the state and the parameters.
 *  - DESCENT_NONFINITE_SKIP: the whole step is skipped (no parameter, state
 *    or step count changes) and descent_step returns DESCENT_STEP_SKIPPED,
 *    as PyTorch's GradScaler skips optimizer.step(); the message names the
 *    first offending tensor and element.
 *  - DESCENT_NONFINITE_ERROR: the same, but descent_step returns
 *    DESCENT_ERR_NONFINITE.
 *  - DESCENT_NONFINITE_REPORT: the step is taken as under PROPAGATE (the
 *    same bits), and descent_step returns DESCENT_STEP_NONFINITE, naming
 *    the first offending tensor and element, if any value was non-finite.
 *    Every element-wise kernel tests the gradient values in its own loop,
 *    so REPORT reads nothing twice; LAMB and Adafactor, whose steps are
 *    whole-tensor passes, test after the step, tensor by tensor.
 * SKIP and ERROR read every gradient once before updating anything (the
 * check must precede the first update) — unless a clipping call
 * (descent_clip_grad_norm, _per_tensor, _value) or descent_unscale_grads
 * since the last step found every gradient finite: that verdict is used by the next descent_step,
 * which then reads no gradient twice. The verdict is dropped by every
 * descent_step, descent_set_tensor_data, descent_add_tensor* and
 * descent_grads_changed. `descent bench --nonfinite` measures the cost
 * (docs/performance.md). */
typedef enum descent_nonfinite_policy {
    DESCENT_NONFINITE_PROPAGATE = 0,
    DESCENT_NONFINITE_SKIP = 1,
    DESCENT_NONFINITE_ERROR = 2,
    DESCENT_NONFINITE_REPORT = 3
} descent_nonfinite_policy;

/* descent_step's positive status when a step was skipped. */
#define DESCENT_STEP_SKIPPED 1
/* descent_step's positive status under DESCENT_NONFINITE_REPORT when the
 * step was taken with a non-finite gradient value. */
#define DESCENT_STEP_NONFINITE 3

int descent_set_nonfinite_policy(descent_optimizer *opt, int policy);

/* Steps skipped under DESCENT_NONFINITE_SKIP since creation or reset. */
int64_t descent_skipped_steps(const descent_optimizer *opt);

/* Tell the optimizer that gradients were written after a clipping call
 * (e.g. scaled, or filled by another backward pass): the next step under
 * SKIP, ERROR or REPORT then checks them itself instead of trusting the
 * clipping call's verdict. Gradients written between clipping and the step
 * without this call are not checked again. */
int descent_grads_changed(descent_optimizer *opt);

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

/* The parameters to evaluate a model at, into out (n elements of the
 * tensor's dtype, f32 or f64): for ScheduleFreeSGD / ScheduleFreeAdamW the
 * averaged sequence x = (y - (1 - b1) z) / b1 of optax's
 * schedule_free_eval_params (the registered parameters are y, where
 * gradients are taken); for every other optimizer, and before the first
 * step, a copy of the parameters. bf16 tensors: out holds bf16. out may be
 * the tensor's own parameter array (x then replaces y: save y first). */
int descent_eval_params(const descent_optimizer *opt, int tensor, void *out);

/* Copy a group's hyperparameters out. */
int descent_get_hparams_sized(const descent_optimizer *opt, int group, descent_hparams *hp, size_t struct_size);
#define descent_get_hparams(opt, group, hp) descent_get_hparams_sized((opt), (group), (hp), sizeof *(hp))

/* Threads used by step() (default 1). Results are bit-identical for any count. */
int descent_set_threads(descent_optimizer *opt, int threads);

/* Software prefetch in the step (docs/performance.md): a long tensor runs
 * in blocks of block_bytes per array, and before each block the lines two
 * blocks ahead are requested. 0 (the default) takes the algorithm's block
 * (1 KiB; 2 KiB for SGD with momentum, measured on one machine) for steps
 * that move at least 32 MiB, and none for smaller ones, whose data the
 * caches hold; -1 turns prefetching off; anything else must be a multiple
 * of 64 in [64, 65536] and applies to every step.
 * A tuning knob for other CPUs: results are bit-identical for any value. */
int descent_set_prefetch(descent_optimizer *opt, int block_bytes);

/* Bytes of optimizer state allocated for registered tensors (with the f32
 * master copies of bf16 parameters). fp32 Adam: 8 bytes per parameter. */
size_t descent_state_bytes(const descent_optimizer *opt);

/* Bytes one descent_step must read and write at least, over every
 * registered tensor: each parameter read and written (a bf16 tensor with
 * DESCENT_BF16_MASTER: the f32 master read and written, p written), each
 * gradient read, each state buffer read and written in its storage (8-bit
 * state: its codes and block scales), plus the further reads of steps made
 * in several passes (LAMB: p and both moments again; Adafactor: p and g,
 * and the variance or g twice more). Clipping, averages and Lookahead are
 * not counted. fp32 AdamW: 28 bytes per parameter; LAMB 40. Divided by a
 * step's time it is the bandwidth the step reached (descent bench). */
size_t descent_step_bytes(const descent_optimizer *opt);

/* How a step writes DESCENT_BF16 parameters. The update is computed in f32
 * exactly as for an f32 tensor, then rounded to bf16:
 *  - by default to nearest, ties to even;
 *  - with DESCENT_BF16_STOCHASTIC, up with probability equal to the
 *    fraction rounded away (unbiased), drawing bits from a hash of seed, the
 *    tensor index, the step and the element index, so results do not depend
 *    on the thread count;
 *  - with DESCENT_BF16_MASTER, the optimizer keeps an f32 master copy of each
 *    bf16 parameter (4 bytes per parameter, seeded from the parameter at
 *    registration), updates it, and writes its rounding to the parameter, so
 *    updates smaller than a bf16 step are not lost. The master copy is not
 *    part of checkpoints: descent_set_tensor_data() and descent_reset()
 *    re-seed it from the bf16 parameters.
 * Flags are a bitwise or; MASTER must be chosen before bf16 tensors are
 * registered (DESCENT_ERR_STATE otherwise). Non-finite values stay
 * non-finite (NaN stays NaN). DESCENT_BF16_SCRATCH changes no result: the
 * step widens blocks of p and g into f32 scratch, runs the f32 kernel on
 * them and rounds back, the path of an optimizer without a bf16 kernel,
 * instead of the bf16 kernel that converts in registers (the same bits,
 * slower: for measuring one against the other, descent bench
 * --bf16-scratch). */
enum { DESCENT_BF16_STOCHASTIC = 1, DESCENT_BF16_MASTER = 2, DESCENT_BF16_SCRATCH = 4 };
int descent_set_bf16_options(descent_optimizer *opt, unsigned flags, uint64_t seed);

/* ------------------------------------------------------------------------ */
/* Optimizer state (the C counterpart of PyTorch's opt.state[p])             */

/* A registered tensor's state buffers are named as PyTorch names them in
 * opt.state[p]: "exp_avg", "exp_avg_sq", "max_exp_avg_sq" (Adam family with
 * amsgrad), "momentum_buffer" (SGD, RMSprop), "square_avg", "grad_avg"
 * (RMSprop), "square_avg", "acc_delta" (Adadelta), "sum" (Adagrad),
 * "exp_inf" (Adamax), "ax" (ASGD), "prev", "step_size" (Rprop), and for
 * descent's other optimizers the names their docs give ("exp_avg_var",
 * "row_var", "col_var", "accumulator", "linear", "z"). A buffer exists only
 * when the group's hyperparameters need it (SGD without momentum has none).
 * Buffers are allocated at registration, so before the first step they hold
 * their initial values (PyTorch creates them at the first step).
 *
 * Values are in the state's storage type: f64 for f64 tensors, f32 for f32
 * and bf16 tensors. With state_bits=8 the buffers are block-quantized:
 * descent_state_buffer refuses them (DESCENT_ERR_STATE), descent_state_read
 * copies out the dequantized f32 values (what the next step will see) and
 * descent_state_write quantizes f32 values in (absmax per block of 2048, as
 * a step stores them), so a write then read returns the nearest codes, not
 * the bits written. */

/* Number of state buffers of a tensor, and the name of the i-th (NULL when
 * out of range). */
int descent_state_count(const descent_optimizer *opt, int tensor);
const char *descent_state_name(const descent_optimizer *opt, int tensor, int i);

/* Elements of the buffer (n; Adafactor's factors are smaller than the
 * tensor), its storage type (DESCENT_F32 or DESCENT_F64, as values are
 * read and written) and its bits per value (64, 32 or 8). Any output may
 * be NULL. An unknown name is DESCENT_ERR_INVALID with a message listing
 * the tensor's buffers. */
int descent_state_info(const descent_optimizer *opt, int tensor, const char *name, size_t *n, descent_dtype *dtype,
                       int *bits);

/* The live buffer itself: *data points at *n values of the storage type,
 * read by the next step, writable in place (valid until the tensor's state
 * is reallocated: descent_destroy or descent_load of another layout).
 * DESCENT_ERR_STATE for 8-bit state. */
int descent_state_buffer(descent_optimizer *opt, int tensor, const char *name, void **data, size_t *n);

/* Copy the buffer out into out, or in from in: n must be the buffer's
 * element count, values of the storage type (f32 for 8-bit state). An
 * empty buffer (n = 0: Adafactor's column factor of a vector) copies
 * nothing, and out/in may then be NULL. */
int descent_state_read(const descent_optimizer *opt, int tensor, const char *name, void *out, size_t n);
int descent_state_write(descent_optimizer *opt, int tensor, const char *name, const void *in, size_t n);

/* The tensor's scalars: "step" (PyTorch's state['step'], the steps taken;
 * a whole number >= 0), NAdam's "mu_product", ASGD's "eta" and "mu",
 * ScheduleFreeSGD/AdamW's "max_lr" and "weight_sum" (optax's names).
 * Values set are used by the next step, except that a tensor at step 0
 * starts its scalars as PyTorch does (mu_product = 1; eta = lr, mu = 1),
 * so set them together with a step > 0, as PyTorch's state_dict holds them.
 * Tensors step together: descent_step_count reads tensor 0's step. */
int descent_state_get_scalar(const descent_optimizer *opt, int tensor, const char *name, double *value);
int descent_state_set_scalar(descent_optimizer *opt, int tensor, const char *name, double value);

/* ------------------------------------------------------------------------ */
/* Gradient clipping                                                         */

/* Clip the gradients of every registered tensor before descent_step(), as
 * torch.nn.utils.clip_grad_value_ / clip_grad_norm_ do. These calls WRITE
 * INTO THE CALLER'S GRADIENT BUFFERS (the grad pointers given to
 * descent_add_tensor / descent_set_tensor_data), which must therefore be
 * writable memory even though the optimizer otherwise only reads them.
 * Having read every gradient, each call records whether all are finite
 * (a finite norm; for clipping by value, every value written finite):
 * the next descent_step under the SKIP, ERROR or REPORT non-finite policy
 * uses that verdict instead of reading the gradients again (see
 * descent_set_nonfinite_policy and descent_grads_changed).
 *
 * norm_type is p >= 1 for the p-norm (2.0 is the usual choice) or INFINITY
 * for the largest |g|. Norms are accumulated in double for every dtype;
 * bf16 gradients are scaled or clamped in f32 and rounded back to nearest
 * even. */

/* g = clamp(g, -clip_value, clip_value) elementwise (clip_value >= 0;
 * NaN stays NaN). */
int descent_clip_grad_value(descent_optimizer *opt, double clip_value);

/* The global norm of all gradients together, as if concatenated into one
 * vector; when clip_coef = max_norm / (total_norm + 1e-6) is below 1, every
 * gradient is multiplied by clip_coef (PyTorch's clip_grad_norm_, with its
 * 1e-6). *total_norm_out (may be NULL) receives the norm before clipping.
 * A non-finite total norm leaves the gradients untouched and returns
 * DESCENT_ERR_NONFINITE (PyTorch would scale them all to NaN). */
int descent_clip_grad_norm(descent_optimizer *opt, double max_norm, double norm_type, double *total_norm_out);

/* The same rule applied to each tensor on its own norm. norms_out (may be
 * NULL) receives descent_num_tensors(opt) norms before clipping. A tensor
 * whose norm is not finite is left untouched and the call returns
 * DESCENT_ERR_NONFINITE after processing the others. */
int descent_clip_grad_norm_per_tensor(descent_optimizer *opt, double max_norm, double norm_type, double *norms_out);

/* Loss scaling's unscale, as torch.cuda.amp.GradScaler.unscale_ does it:
 * every gradient g = g * inv_scale in the tensor's precision (inv_scale
 * rounded to f32 for f32 and bf16 gradients, as PyTorch holds it in an f32
 * tensor), written into the caller's gradient buffers like the clipping
 * calls. *found_inf (may be NULL) is set to 1 if any value after unscaling
 * is NaN or infinite, else 0: PyTorch's found_inf, with which a scaler
 * decides to skip the step and lower the scale. Like clipping, the call
 * records its verdict, so a following descent_step under SKIP, ERROR or
 * REPORT reads no gradient twice: with mixed-precision loss scaling, the
 * non-finite check costs nothing beyond the unscale pass that is needed
 * anyway. inv_scale must be finite and > 0. */
int descent_unscale_grads(descent_optimizer *opt, double inv_scale, int *found_inf);

/* descent_unscale_grads then descent_clip_grad_norm in one pass over the
 * gradients: g = g * inv_scale written, the verdict and the norm of the
 * values written read from the same pass; then, if every value is finite,
 * the clipping (a second pass only when clip_coef < 1). The same bits as
 * the two calls in turn. *total_norm_out (may be NULL): the norm after
 * unscaling, before clipping; *found_inf (may be NULL): as
 * descent_unscale_grads (1: nothing clipped, the step should be skipped;
 * the call returns 0). A finite-valued but non-finite norm returns
 * DESCENT_ERR_NONFINITE as descent_clip_grad_norm does. */
int descent_unscale_clip_grad_norm(descent_optimizer *opt, double inv_scale, double max_norm, double norm_type,
                                   double *total_norm_out, int *found_inf);

/* Unscale and clip inside every descent_step (like Keras's global_clipnorm
 * or optax.clip_by_global_norm chained before the update): each step reads
 * the gradients once for the verdict and the norm of g * inv_scale, then
 * updates with g * inv_scale * clip_coef (clip_coef = max_norm /
 * (norm + 1e-6) when below 1), the bits that descent_unscale_clip_grad_norm
 * then descent_step give, but without writing the caller's gradient
 * buffers: the update applies both factors as it reads g (docs/
 * performance.md), except with bf16 tensors, 8-bit state, LAMB and
 * Adafactor, where the step writes the unscaled, clipped values into the
 * gradient buffers first, as the two calls would. With gradient
 * accumulation the step unscales and clips the mean the update reads: the
 * call that completes a cycle reads the sum and g for the norm of
 * (sum + g) / k before forming it, the calls before it only add (and
 * descent_step_grad_norm is NaN after them); where the step writes, it
 * writes that mean, not the caller's buffers. With inv_scale != 1, a NaN
 * or infinite value after unscaling skips the step (DESCENT_STEP_SKIPPED,
 * counted by descent_skipped_steps, as GradScaler.step skips it), or
 * refuses it with DESCENT_ERR_NONFINITE under policy ERROR. A norm that is
 * not finite otherwise (inv_scale = 1 and a NaN or infinite value, or
 * finite f64 values whose squares overflow) refuses the step with
 * DESCENT_ERR_NONFINITE naming the norm, as descent_clip_grad_norm refuses
 * to clip it, whatever the policy, and counts nothing. Nothing is written
 * when a step is skipped or refused, and under accumulation the cycle
 * keeps its k - 1 micro-batches. inv_scale = 1 and max_norm = INFINITY
 * turn it off; max_norm = INFINITY alone unscales only. */
int descent_set_step_clip(descent_optimizer *opt, double inv_scale, double max_norm, double norm_type);
/* The norm (after unscaling, before clipping) the last step computed under
 * descent_set_step_clip; NaN when none. */
double descent_step_grad_norm(const descent_optimizer *opt);

/* ------------------------------------------------------------------------ */
/* Training utilities (docs/utilities.md)                                    */

/* Every buffer these need is allocated when the feature is turned on or a
 * tensor registered (never in descent_step), saved in checkpoints, re-seeded
 * by descent_reset and freed by descent_destroy. Accumulation, EMA, SWA and
 * Lookahead work on f32 and f64 tensors (bf16: DESCENT_ERR_INVALID). */

/* Gradient accumulation over k micro-batches (k = 1: off, the default).
 * Each descent_step call adds the current gradients into a sum; the first
 * k - 1 calls of a cycle change nothing else and return
 * DESCENT_STEP_ACCUMULATED; the k-th runs the update on the mean
 * (sum + g) / k, clears the sum and returns 0. Step counts, EMA and
 * Lookahead advance on updates only; step a schedule only when
 * descent_step returned 0. k can change only between cycles
 * (DESCENT_ERR_STATE otherwise). */
#define DESCENT_STEP_ACCUMULATED 2
int descent_set_accumulation(descent_optimizer *opt, int k);
/* k (1 when off); *pending (may be NULL): micro-batches summed so far. */
int descent_get_accumulation(const descent_optimizer *opt, int *pending);

/* Weight-decay masks. A tensor whose decay is disabled steps as if its
 * group's weight_decay were 0 (the same for L2 and decoupled decay), which is
 * what PyTorch's two-group idiom (biases and norms at weight_decay=0) does.
 * descent_set_no_decay_1d(opt, 1) is the rule "no decay on 1-D tensors"
 * (biases, norm scales): it applies to the 1-D tensors registered so far and
 * to those registered later; (opt, 0) turns decay back on for every 1-D
 * tensor. Per-tensor calls made afterwards override the rule. Masks are
 * configuration, not state: checkpoints do not hold them. */
int descent_set_tensor_weight_decay(descent_optimizer *opt, int tensor, int enabled);
/* 1 if the tensor is decayed, 0 if masked, or a negative status. */
int descent_tensor_weight_decay(const descent_optimizer *opt, int tensor);
int descent_set_no_decay_1d(descent_optimizer *opt, int enabled);

/* Averages of the parameters, as torch.optim.swa_utils.AveragedModel keeps
 * them: the average starts as a copy of the parameters, its first update
 * copies them again, and each later update applies
 *   EMA: avg = decay avg + (1 - decay) p   after every update step, when
 *        decay is in (0, 1) (0 turns EMA off; no bias correction, as torch);
 *   SWA: avg = avg + (p - avg) / (n + 1)   at each descent_swa_update call,
 *        n being the updates so far (the equal average of the snapshots). */
enum { DESCENT_AVERAGE_EMA = 0, DESCENT_AVERAGE_SWA = 1 };
int descent_set_ema(descent_optimizer *opt, double decay);
int descent_set_swa(descent_optimizer *opt, int enabled);
int descent_swa_update(descent_optimizer *opt);
/* Updates applied to an average (AveragedModel.n_averaged). */
int64_t descent_averaged_count(const descent_optimizer *opt, int which);
/* Copy tensor's average into out (n elements of the tensor's dtype). */
int descent_copy_averaged(const descent_optimizer *opt, int which, int tensor, void *out);
/* Exchange every parameter with its average in place, e.g. to evaluate with
 * the average; a second call swaps back. Do not step in between. */
int descent_swap_averaged(descent_optimizer *opt, int which);

/* Lookahead (Zhang et al. 2019) around this optimizer: slow weights phi,
 * seeded with the parameters, and after every k-th update
 *   phi = phi + alpha (theta - phi);  theta = phi.
 * The inner optimizer's state is kept. k = 0 turns it off; alpha in [0, 1].
 * The spec "Lookahead(optimizer=AdamW(lr=1e-3), k=5, alpha=0.5)" given to
 * descent_create_from_spec creates the inner optimizer and calls this. */
int descent_set_lookahead(descent_optimizer *opt, int k, double alpha);

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

/* The same to a file: written to a new file of a unique name in path's
 * directory, fsynced, renamed over path, and the directory fsynced, so a
 * crash or a concurrent save leaves the old file or a new one, never a torn
 * one. A path that is a symbolic link is written through to the file it
 * names (the link stays). Loading reads and checks the header before
 * allocating, and refuses anything but a regular file; every value is
 * checked before use (step counts at most 2^53, finite per-tensor scalars
 * and schedule state). */
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

/* ---- Callback schedules: LambdaLR and MultiplicativeLR ----------------------
 * torch.optim.lr_scheduler's LambdaLR and MultiplicativeLR take a Python
 * function lr_lambda(epoch); here it is a C function with user data:
 *
 *     LambdaLR:          lr_t = initial_lr * lambda(t)          (t = 0, 1, ...)
 *     MultiplicativeLR:  lr_0 = lr,  lr_t = lr_{t-1} * lambda(t)  for t > 0
 *
 * t counts descent_schedule_step() calls (torch's last_epoch); attaching is
 * the constructor's step to t = 0 (LambdaLR calls lambda(0) there,
 * MultiplicativeLR leaves the lr as it is). The callback returns the factor;
 * it must be finite and >= 0: NaN, an infinity or a negative value makes the
 * attach or step call fail with DESCENT_ERR_INVALID and a message naming the
 * group, the step and the value, and the lr stays what it was. The callback
 * must not call back into the same optimizer.
 *
 * Checkpoints (descent_save, descent_save_mem) keep the step count, the
 * base lrs and each group's current lr, never the function: before loading
 * one, attach the same schedule with the same call (the load fails with a
 * message naming what to attach otherwise), then the load restores the step. */
typedef double (*descent_lr_lambda)(int64_t step, void *user_data);

/* One callback and its user data (one per parameter group, or a table that
 * a spec indexes, see descent_set_schedule_callbacks). */
typedef struct descent_lr_callback {
    descent_lr_lambda fn;
    void *user_data;
} descent_lr_callback;

/* LambdaLR / MultiplicativeLR with the same function for every group. */
int descent_set_lambda_lr(descent_optimizer *opt, descent_lr_lambda fn, void *user_data);
int descent_set_multiplicative_lr(descent_optimizer *opt, descent_lr_lambda fn, void *user_data);

/* The same with one callback per parameter group: per_group[g] for group g
 * (as torch's lr_lambda=[f0, f1, ...]); per_group has descent_num_groups()
 * entries. Attaching with the "same for all" call above is the same
 * schedule as this call given that callback for every group (a checkpoint
 * saved under one loads under the other). */
int descent_set_lambda_lr_groups(descent_optimizer *opt, const descent_lr_callback *per_group);
int descent_set_multiplicative_lr_groups(descent_optimizer *opt, const descent_lr_callback *per_group);

/* A schedule spec whose LambdaLR / MultiplicativeLR members take their
 * functions from callbacks[0 .. ncallbacks-1]: lr_lambda=k uses callbacks[k]
 * for every group, lr_lambda=[k0, k1, ...] callbacks[k_g] for group g. So
 * callback schedules compose like the others:
 *
 *     descent_lr_callback cb[2] = {{warmup, NULL}, {decay, &cfg}};
 *     descent_set_schedule_callbacks(opt, "SequentialLR(schedulers=["
 *         "LambdaLR(lr_lambda=0), MultiplicativeLR(lr_lambda=1)], milestones=[100])", cb, 2);
 *
 * A MultiplicativeLR that SequentialLR enters at a milestone multiplies the
 * lr by lambda(0) there, as torch 2.x computes it (torch 1.13 does not).
 *
 * descent_set_schedule (and the CLI) refuses LambdaLR and MultiplicativeLR:
 * a spec string cannot carry a C function. descent_set_lambda_lr(opt, f, u)
 * attaches "LambdaLR(lr_lambda=[0, 1, ..., G-1])" for G groups, every
 * callback {f, u}; the _groups calls the same with their table. */
int descent_set_schedule_callbacks(descent_optimizer *opt, const char *spec, const descent_lr_callback *callbacks,
                                   int ncallbacks);

/* ------------------------------------------------------------------------ */
/* Minimizing an objective                                                   */

/* Minimize f(x) over x in R^n with any first-order optimizer of this library
 * (and, through the same table of "minimizer" kinds, other methods):
 *
 *     double f(void *ctx, const double *x, double *grad, size_t n);
 *
 *     descent_minimize_settings s;
 *     descent_minimize_default_settings(&s);
 *     s.gtol = 1e-8;
 *     descent_minimize_result r;
 *     int rc = descent_minimize("Adam(lr=0.01)", NULL, f, ctx, x, n, &s, &r, &err);
 *     if (rc < 0) ... error; else r.reason says why it stopped.
 *
 * The objective returns f(x) and, when grad is not NULL, writes the gradient
 * into grad[0..n) in the same call (the shape NLopt and liblbfgs use). It
 * may return NAN or an infinity; the run then stops with
 * DESCENT_ERR_NONFINITE. */
typedef double (*descent_objective_fn)(void *ctx, const double *x, double *grad, size_t n);

/* Why a run stopped. A reached criterion or an exhausted budget is a result,
 * returned as a positive status; errors are negative descent_status codes. */
typedef enum descent_stop {
    DESCENT_STOP_GTOL = 1,      /* ||grad f||_inf <= gtol */
    DESCENT_STOP_FTOL = 2,      /* |f_k - f_{k-1}| <= ftol_rel * |f_k| */
    DESCENT_STOP_XTOL = 3,      /* |x_k,i - x_{k-1},i| <= xtol_rel * |x_k,i| for every i */
    DESCENT_STOP_F_TARGET = 4,  /* f <= f_target */
    DESCENT_STOP_MAX_ITER = 5,  /* max_iter iterations done */
    DESCENT_STOP_MAX_EVALS = 6, /* max_evals evaluations done */
    DESCENT_STOP_MAX_TIME = 7,  /* max_seconds of wall time used */
    DESCENT_STOP_CANCELLED = 8, /* the progress callback returned non-zero */
    /* The method itself stops: no step decreases f at this precision after
     * progress was made (LBFGS, HessianFree; x is the best point). */
    DESCENT_STOP_ROUNDING = 9,
    /* CMA-ES termination criteria (Hansen, "The CMA Evolution Strategy: A
     * Tutorial", appendix B.3; pycma's names). With IPOP restarts left they
     * restart the run instead; the last run stops with its criterion. */
    DESCENT_STOP_TOLFUN = 10,          /* best values of the recent generations and the last generation span < 1e-12 */
    DESCENT_STOP_TOLX = 11,            /* sigma sqrt(C_ii) and sigma |p_c,i| < 1e-12 sigma0 for all i */
    DESCENT_STOP_TOLSTAGNATION = 12,   /* the medians of the best and the median values stopped improving */
    DESCENT_STOP_TOLCONDITIONCOV = 13, /* cond(C) > 1e14 (once f has stopped falling) */
    DESCENT_STOP_NOEFFECTAXIS = 14,    /* adding 0.1 sigma along a principal axis leaves the mean unchanged */
    DESCENT_STOP_NOEFFECTCOORD = 15,   /* adding 0.2 sigma sqrt(C_ii) leaves some m_i unchanged */
    DESCENT_STOP_TOLUPSIGMA = 16,      /* sigma / sigma0 > 1e20 sqrt(max eigenvalue of C) */
    /* BOBYQA's own stops (Powell, DAMTP 2009/NA06): */
    DESCENT_STOP_RHOEND = 17,         /* the trust-region radius rho reached rhoend */
    DESCENT_STOP_MODEL_ROUNDING = 18  /* rounding errors leave no usable model step: a cancelled
                                         denominator of the H update, or a step that fails to
                                         reduce the model */
} descent_stop;

/* "gtol", "ftol", "xtol", "f_target", "max_iter", "max_evals", "max_time",
 * "cancelled", "rounding_limit", "tolfun", "tolx", "tolstagnation",
 * "tolconditioncov", "noeffectaxis", "noeffectcoord", "tolupsigma", "rhoend",
 * "model_rounding"; for a negative status, its descent_strerror(). */
const char *descent_stop_name(int reason);

/* What the progress callback sees after each iteration (and once at the
 * start, with iteration 0). x points at the current iterate. */
typedef struct descent_minimize_progress {
    int64_t iteration;
    int64_t evaluations;
    double f;
    double grad_norm;   /* ||grad f(x)||_inf */
    double lr;          /* learning rate of the step that produced x (NAN if none) */
    double seconds;     /* wall time since the run started */
    const double *x;
    size_t n;
} descent_minimize_progress;

/* Stopping criteria and the progress callback. A criterion set to 0 (or to
 * -INFINITY for f_target) is off. Obtain the defaults from
 * descent_minimize_default_settings(): max_iter = 1000, gtol = 1e-8, the rest
 * off. Criteria are checked after every iteration in the order of
 * descent_stop; gtol and f_target also at the starting point. A method that
 * evaluates f more than once per iteration (NAG: twice) may pass max_evals
 * by the evaluations of its last iteration. */
typedef struct descent_minimize_settings {
    size_t struct_size;     /* set by descent_minimize_default_settings (sizeof) */
    int64_t max_iter;
    int64_t max_evals;
    double gtol;
    double ftol_rel;
    double xtol_rel;
    double f_target;
    double max_seconds;
    /* Called at the starting point (iteration 0) and after each iteration;
     * a non-zero return cancels the run. */
    int (*progress)(void *ctx, const descent_minimize_progress *p);
    void *progress_ctx;
} descent_minimize_settings;

void descent_minimize_default_settings_sized(descent_minimize_settings *s, size_t struct_size);
#define descent_minimize_default_settings(s) descent_minimize_default_settings_sized((s), sizeof *(s))

/* The outcome of a run. x itself is updated in place. */
typedef struct descent_minimize_result {
    double f;           /* f at the final x */
    double grad_norm;   /* ||grad f||_inf at the final x */
    int64_t iterations;
    int64_t evaluations;
    int reason;         /* a descent_stop, or a negative status on error */
    double seconds;
} descent_minimize_result;

/* A minimizer over n variables, step by step. The spec names the method:
 *  - any optimizer of this library: "Adam(lr=0.01)", "SGD(lr=1e-3, momentum=0.9)"
 *    (one f64 tensor over x; one gradient evaluation per iteration);
 *  - "NAG(lr=1e-3, momentum=0.9)": Sutskever's look-ahead Nesterov,
 *    v = momentum v + lr grad f(x - momentum v), x -= v (two evaluations
 *    per iteration: the look-ahead gradient, then f and grad at the new x);
 *  - "LBFGS(history_size=10, line_search_fn='strong_wolfe', lr=1,
 *    max_linesearch=20, c1=1e-4, c2=0.9, l1=0)": limited-memory BFGS with
 *    a More-Thuente strong Wolfe line search (or 'backtracking', Armijo); one
 *    iteration is one line search. line_search_fn=None means 'strong_wolfe'.
 *    l1 > 0 minimizes f + l1 |x|_1 by OWL-QN (f and the gradient the driver
 *    reports after iteration 0 are those of the sum: its pseudo-gradient).
 *    When no step decreases f any more (rounding), the run stops with
 *    DESCENT_STOP_ROUNDING and x at the best point;
 *  - "HessianFree(cg_max_iter=..., cg_tol=..., damping=...)": truncated
 *    Newton, conjugate gradient on finite-difference Hessian-vector products
 *    with Levenberg-Marquardt damping;
 *  - the population methods "CMAES(...)", "DE(...)", "PSO(...)", "GA(...)"
 *    (see "Population methods"): an iteration is one generation, each
 *    candidate one evaluation with grad = NULL; the iterate is the best point
 *    seen and the reported gradient norm is infinite (there is none), so
 *    gtol never stops them: use f_target, max_evals or max_iter.
 *    "BOBYQA(...)" runs the same way with one point per iteration and ends
 *    the run with its own stop reason (DESCENT_STOP_RHOEND) when done.
 * docs/global.md gives the algorithms, arguments and measured figures
 * (BOBYQA: docs/minimize.md). */
typedef struct descent_minimizer descent_minimizer;

int descent_minimizer_create(descent_minimizer **out, const char *spec, size_t n, descent_error *err);
void descent_minimizer_destroy(descent_minimizer *m);

/* The method's name ("Adam", "NAG") and the last error message on this handle. */
const char *descent_minimizer_name(const descent_minimizer *m);
const char *descent_minimizer_errmsg(const descent_minimizer *m);

/* Attach a learning-rate schedule (see descent_set_schedule); stepped once
 * per iteration with f as the metric. An error for methods without an lr. */
int descent_minimizer_set_schedule(descent_minimizer *m, const char *spec);

/* The underlying optimizer of a first-order minimizer (NULL for others), to
 * set threads, groups' hyperparameters or save its state. */
descent_optimizer *descent_minimizer_optimizer(descent_minimizer *m);

/* A Hessian-vector product for HessianFree: write H(x) v into hv (n
 * values); return 0, or non-zero to stop the run with an error. */
typedef int (*descent_hessian_vector_fn)(void *ctx, const double *x, const double *v, double *hv, size_t n);

/* Give a HessianFree minimizer the exact product instead of forward
 * differences of gradients (fn = NULL: back to differences). Products are
 * not counted as evaluations. DESCENT_ERR_INVALID for other methods. */
int descent_minimizer_set_hessian_vector(descent_minimizer *m, descent_hessian_vector_fn fn, void *ctx);

/* Evaluate f and its gradient at x and make x the current iterate (the
 * method's state, such as momentum, restarts). Fills *f and grad (n values)
 * when not NULL. Counts one evaluation. */
int descent_minimizer_start(descent_minimizer *m, descent_objective_fn fn, void *ctx, double *x,
                            double *f, double *grad);

/* One iteration from the current iterate: x is updated in place, *f and
 * grad (when not NULL) receive f and its gradient at the new x. Returns 0,
 * a positive descent_stop when the method itself has stopped (such as
 * DESCENT_STOP_ROUNDING or a CMA-ES criterion; x, *f and grad are then the
 * best point), or a negative status (DESCENT_ERR_NONFINITE when f is not
 * finite). */
int descent_minimizer_iterate(descent_minimizer *m, double *x, double *f, double *grad);

/* Evaluations used since descent_minimizer_start(), and the learning rate
 * of the last step (NAN if the method has none). */
int64_t descent_minimizer_evaluations(const descent_minimizer *m);
double descent_minimizer_lr(const descent_minimizer *m);

/* Run from x until a stopping criterion of s (NULL: the defaults) holds.
 * Returns the stop reason (> 0) or a negative status; *r is filled either
 * way when not NULL. */
int descent_minimizer_run(descent_minimizer *m, descent_objective_fn fn, void *ctx, double *x,
                          const descent_minimize_settings *s, descent_minimize_result *r);

/* The whole thing in one call: create a minimizer from spec, attach
 * schedule_spec (NULL: none), run, destroy. */
int descent_minimize(const char *spec, const char *schedule_spec, descent_objective_fn fn, void *ctx,
                     double *x, size_t n, const descent_minimize_settings *s, descent_minimize_result *r,
                     descent_error *err);

/* Built-in test objectives with analytic gradients and known minima, from
 * spec strings: "rosenbrock(dim=2)", "beale()", "booth()", "himmelblau()",
 * "rastrigin(dim=2)", "ackley(dim=2)", "styblinski_tang(dim=2)",
 * "sphere(dim=2)", "quadratic(dim=2, cond=10)". docs/minimize.md gives each
 * formula, minimum and default starting point. */
typedef struct descent_objective descent_objective;

int descent_objective_create(descent_objective **out, const char *spec, descent_error *err);
void descent_objective_destroy(descent_objective *o);

/* The objective function itself: pass it with the handle as ctx,
 *     descent_minimize(spec, NULL, descent_objective_eval, obj, x, n, ...).
 * n must equal descent_objective_dim() (NAN otherwise). */
double descent_objective_eval(void *objective, const double *x, double *grad, size_t n);

const char *descent_objective_name(const descent_objective *o);
size_t descent_objective_dim(const descent_objective *o);

/* The known global minimum: *f_min, and one minimizer into x_min (dim
 * values) when x_min is not NULL. */
void descent_objective_minimum(const descent_objective *o, double *f_min, double *x_min);

/* The default starting point (dim values). */
void descent_objective_start(const descent_objective *o, double *x0);

/* ------------------------------------------------------------------------ */
/* L-BFGS stepped with a closure (torch.optim.LBFGS)                         */

/* PyTorch's LBFGS for a training loop: each descent_lbfgs_step() is one
 * `optimizer.step(closure)` of torch 1.13 over one f64 vector x, with its
 * arguments and defaults:
 *   "LBFGS(lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
 *          tolerance_change=1e-9, history_size=100, line_search_fn=None)"
 * max_eval None is max_iter * 5 / 4; line_search_fn None or 'strong_wolfe'
 * (PyTorch's own search). closure(ctx, x, grad, n) returns the loss and
 * writes the gradient (grad is never NULL). For minimizing a fixed function
 * to a tolerance, the minimizer "LBFGS" (liblbfgs-like defaults, More-Thuente
 * search) is the better tool. */
typedef struct descent_lbfgs descent_lbfgs;

int descent_lbfgs_create(descent_lbfgs **out, const char *spec, size_t n, descent_error *err);
void descent_lbfgs_destroy(descent_lbfgs *o);
const char *descent_lbfgs_errmsg(const descent_lbfgs *o);

/* One step: up to max_iter iterations from x (updated in place). *loss
 * receives the loss at the start of the step, as PyTorch returns it. */
int descent_lbfgs_step(descent_lbfgs *o, descent_objective_fn closure, void *ctx, double *x, double *loss);

/* PyTorch's state['func_evals'] and state['n_iter'] (over all steps). */
int64_t descent_lbfgs_func_evals(const descent_lbfgs *o);
int64_t descent_lbfgs_n_iter(const descent_lbfgs *o);

/* ------------------------------------------------------------------------ */
/* Population methods                                                        */

/* Derivative-free methods that evolve a population, step by step in
 * ask/tell form (the caller evaluates the candidates, in any way it likes):
 *
 *     descent_population *p;
 *     descent_population_create(&p, "CMAES(sigma0=0.5, seed=1)", n, &err);
 *     descent_population_set_x0(p, x0);
 *     size_t lambda;
 *     descent_population_ask(p, NULL, &lambda);       // how many
 *     double *cand = malloc(lambda * n * sizeof *cand), *f = ...;
 *     for (;;) {
 *         descent_population_ask(p, cand, &lambda);   // lambda rows of n
 *         for (k = 0; k < lambda; k++) f[k] = objective(cand + k * n);
 *         descent_population_tell(p, f);
 *         if (descent_population_best(p, NULL) < 1e-8) break;
 *     }
 *
 * The spec strings (every argument optional; docs/global.md has details):
 *   "CMAES(sigma0=0.3, popsize=None, seed=0, restarts=0, lower=, upper=)"
 *       Hansen's (mu/mu_w, lambda)-CMA-ES; popsize None: 4 + floor(3 ln n);
 *       every run ends on Hansen's termination criteria (DESCENT_STOP_TOLFUN
 *       ... DESCENT_STOP_TOLUPSIGMA); restarts > 0: IPOP restarts on them
 *       with a doubled population from a random point of the initial region.
 *   "DE(F=0.8, CR=0.9, popsize=None, strategy='rand1bin', seed=0, ...)"
 *       differential evolution, 'rand1bin' or 'best1bin'; popsize None: 10 n.
 *   "PSO(popsize=40, inertia=0.7298, c1=1.49618, c2=1.49618,
 *        constriction=False, seed=0, ...)"  global-best particle swarm.
 *   "GA(popsize=100, tournament=2, crossover_eta=15, mutation_eta=20,
 *       crossover_prob=0.9, mutation_prob=None, elitism=1, seed=0, ...)"
 *       real-coded GA with SBX crossover and polynomial mutation;
 *       mutation_prob None: 1/n.
 *   "BOBYQA(rhobeg=None, rhoend=1e-8, npt=None, lower=, upper=, scale=None)"
 *       Powell's model-based trust-region method (DAMTP 2009/NA06): a
 *       quadratic model interpolating npt points (None: 2n + 1; from n + 2
 *       to (n + 1)(n + 2) / 2), radius rho from rhobeg down to rhoend,
 *       on u = x / scale (scale: a number or a list of n). rhobeg and
 *       scale both None: scale_i = |x0_i| (1 where x0_i = 0; at most half
 *       the width of the bounds) and rhobeg = 1, NLopt's default initial
 *       step; else None means rhobeg = 1, scale = 1. rhoend not given:
 *       min(1e-8, rhobeg).
 *       Sequential: each ask returns one point (lambda = 1), each tell
 *       takes its value. Needs n >= 2 and upper - lower >= 2 rhobeg.
 *       When it has finished, ask returns its stop reason (> 0, see
 *       descent_population_stopped) with *lambda = 0; as a minimizer the
 *       run ends with that reason.
 * DE, PSO and GA also take init_range=1 and all four lower=, upper= (a
 * number for every variable or a list of n). The initial population is
 * drawn from the bounds when set, else from x0 +- init_range (CMA-ES: from
 * N(x0, sigma0^2 I)). Candidates always lie inside the bounds.
 *
 * Each instance owns its random generator (xoshiro256** seeded from seed by
 * splitmix64): the same spec, n, x0, bounds and told values give the same
 * candidates on every platform. A non-finite told value ranks last. */
typedef struct descent_population descent_population;

int descent_population_create(descent_population **out, const char *spec, size_t n, descent_error *err);
void descent_population_destroy(descent_population *p);
const char *descent_population_name(const descent_population *p);
const char *descent_population_errmsg(const descent_population *p);

/* The starting point (default: zeros) and box bounds (lo and hi, n finite
 * values each with lo <= hi; NULL, NULL removes them). Both must be set
 * before the first ask or after a restart. */
int descent_population_set_x0(descent_population *p, const double *x0);
int descent_population_set_bounds(descent_population *p, const double *lo, const double *hi);

/* Start over: reseed the generator and forget the population and the best
 * point (x0, bounds and settings are kept). */
int descent_population_restart(descent_population *p);

/* The number of candidates the next ask produces (it may grow at an IPOP
 * restart), 0 on error. */
size_t descent_population_size(descent_population *p);

/* Write the next generation's candidates into candidates (size() rows of n
 * values) and their count into *lambda. With candidates = NULL only *lambda
 * is set. Asking again before telling is DESCENT_ERR_STATE. */
int descent_population_ask(descent_population *p, double *candidates, size_t *lambda);

/* The objective's values of the candidates of the last ask, in order. */
int descent_population_tell(descent_population *p, const double *f_values);

/* The best value told so far (INFINITY before any), and its point into
 * x_best (n values) when not NULL. */
double descent_population_best(const descent_population *p, double *x_best);

/* The method's own stop reason once its run has ended, else 0: CMAES one
 * of DESCENT_STOP_TOLFUN ... DESCENT_STOP_TOLUPSIGMA (after its restarts),
 * BOBYQA DESCENT_STOP_RHOEND or DESCENT_STOP_MODEL_ROUNDING; DE, PSO and
 * GA never stop by themselves. Once it is set, BOBYQA's ask returns it
 * with *lambda = 0 and writes no candidate (restart to run again); asking
 * CMAES again samples the last distribution unchanged, as pycma allows.
 * descent_population_stop is the same call under an earlier name. */
int descent_population_stopped(const descent_population *p);
int descent_population_stop(const descent_population *p);

/* Generations told, and candidates told (evaluations). */
int64_t descent_population_generation(const descent_population *p);
int64_t descent_population_evaluations(const descent_population *p);

/* Checkpoints of a population: everything that carries from one
 * generation to the next (the method's state, the random generator, x0 and
 * bounds, counts, the best point, and the candidates of an ask not yet
 * told), in a CRC-protected file written atomically (as descent_save).
 * Load into a population created from the same spec and n: the run then
 * continues exactly as if it had not stopped. A file for another
 * method, n or population size, or a truncated or corrupt one, is refused
 * with a message and the population is left as it was. The _mem forms
 * work on a buffer (with buf = NULL, save_mem only reports the size). */
int descent_population_save(const descent_population *p, const char *path);
int descent_population_load(descent_population *p, const char *path);
int descent_population_save_mem(const descent_population *p, void *buf, size_t cap, size_t *len);
int descent_population_load_mem(descent_population *p, const void *buf, size_t len);

/* The candidates of the outstanding ask, the one whose values tell() is
 * waiting for (after loading a checkpoint saved between ask and tell, for
 * instance): *lambda rows of n into candidates (may be NULL); *lambda = 0
 * when no ask is outstanding. */
int descent_population_pending(const descent_population *p, double *candidates, size_t *lambda);

/* ------------------------------------------------------------------------ */
/* Models and training                                                       */

/* Models with exact analytic gradients, built from spec strings:
 *   "linear(l2=0)"    one affine output, mean squared error
 *   "logistic(l2=0)"  one affine output, binary cross-entropy on labels 0/1
 *   "softmax(l2=0)"   one affine output per class, multinomial cross-entropy
 *   "mlp(hidden=(64, 32), activation='relu', l2=0, task='auto')"
 *                     hidden layers with 'relu' or 'tanh', then softmax
 *                     cross-entropy for classes or squared error for a
 *                     continuous target; task='classification' or
 *                     'regression' overrides the detection.
 * l2 adds (l2/2) * sum of squared weights (not biases) to the loss.
 * Parameters are one weight tensor (inputs x outputs, row-major) and one bias
 * tensor per layer, in f32 or f64, registered into an optimizer tensor by
 * tensor, so per-tensor (per-group) rules apply. docs/models.md gives the
 * losses and gradients. */
typedef enum descent_task {
    DESCENT_TASK_AUTO = 0,           /* follow the data (mlp) */
    DESCENT_TASK_REGRESSION = 1,
    DESCENT_TASK_CLASSIFICATION = 2
} descent_task;

typedef struct descent_model descent_model;

/* The task a model spec requires: linear -> regression, logistic and
 * softmax -> classification, mlp -> its task argument (auto by default).
 * Validates the spec. */
int descent_model_task(const char *spec, int *task, descent_error *err);

/* Create a model over `inputs` features. classes = 0 for a continuous target,
 * else the number of classes (labels 0 .. classes-1; logistic needs 2).
 * Weights and biases start as PyTorch's nn.Linear does, U(-1/sqrt(fan_in),
 * 1/sqrt(fan_in)), drawn from a generator seeded with seed. */
int descent_model_create(descent_model **out, const char *spec, size_t inputs, size_t classes,
                         descent_dtype dtype, uint64_t seed, descent_error *err);
void descent_model_destroy(descent_model *m);
const char *descent_model_errmsg(const descent_model *m);

/* The parameter tensors: 2 per layer, "layers.K.weight" then "layers.K.bias".
 * param and grad point at n elements of the model's dtype. */
int descent_model_num_tensors(const descent_model *m);
int descent_model_tensor(const descent_model *m, int i, void **param, void **grad, size_t *n, const char **name);
size_t descent_model_num_params(const descent_model *m);
descent_dtype descent_model_dtype(const descent_model *m);
size_t descent_model_classes(const descent_model *m);

/* Register every parameter tensor into group `group` of opt (in order). */
int descent_model_register(descent_model *m, descent_optimizer *opt, int group);

/* Mean loss over a batch (X: rows x inputs row-major, y: rows targets or
 * class labels), plus the L2 penalty, into *loss; the gradients of every
 * tensor are overwritten with its gradient. */
int descent_model_loss_grad(descent_model *m, const double *X, const double *y, size_t rows, double *loss);

/* Mean data loss (no penalty) and, for classification, the fraction of rows
 * whose arg-max class is the label (NAN for regression). No gradients. */
int descent_model_evaluate(descent_model *m, const double *X, const double *y, size_t rows, double *loss,
                           double *accuracy);

/* Matrix products through CBLAS (1) or the library's own cache-blocked
 * kernel (0). descent_blas_available() says whether this build has CBLAS;
 * a new model uses whichever docs/models.md measured faster. */
int descent_blas_available(void);
int descent_model_set_blas(descent_model *m, int use_blas);
int descent_model_get_blas(const descent_model *m);

/* ---- Training on a CSV data set ---------------------------------------- */

/* Everything a run is made of. Obtain defaults from
 * descent_train_default_config(): batch_size 32, seed 0, val_fraction 0.2,
 * f32, schedule NULL, blas -1 (the faster path). The data file has a header
 * row; `target` names the column to predict, every other column is a
 * feature. Features are standardized with the mean and standard deviation of
 * the training split (a constant column is only centred). The target is a
 * class label when every value is an integer in [0, 255] and the model's
 * task is not regression (classes = max + 1), or when it holds words (the
 * distinct words are the classes, numbered in sorted byte order); otherwise
 * it is continuous. */
typedef struct descent_train_config {
    size_t struct_size;     /* set by descent_train_default_config (sizeof) */
    const char *data;
    const char *target;
    const char *model;
    const char *optimizer;
    const char *schedule;   /* stepped after every optimizer step, or NULL */
    size_t batch_size;      /* 1: SGD, B: mini-batch, 0: the full training split */
    uint64_t seed;          /* split, shuffling and initialization */
    double val_fraction;    /* in [0, 1) */
    descent_dtype dtype;
    int blas;               /* -1 default, 0 own kernel, 1 CBLAS */
    /* Data parallelism (docs/distributed.md). With ranks > 1 this process,
     * rank `rank` of `ranks`, computes the gradient and loss of its share of
     * each batch only: rows [floor(rank B/ranks), floor((rank+1) B/ranks))
     * of the batch's B rows, every rank shuffling alike (same seed). Then
     * reduce(), which must be set, turns this rank's figures (the mean over
     * its `mine` rows; zero gradient and loss when it has none) into the
     * batch's: the mean over all `rows`, on every rank (the descent_mpi
     * train command passes descent_mpi_allreduce_grads_weighted). Defaults:
     * rank 0 of 1, no reduce. */
    int rank, ranks;
    int (*reduce)(void *ctx, descent_optimizer *opt, size_t mine, size_t rows, double *loss);
    void *reduce_ctx;
    /* Training utilities (docs/utilities.md), all off by default (0). */
    int accumulate;         /* > 1: each update averages this many batches of
                             * batch_size rows; the schedule steps per update */
    int no_decay_1d;        /* 1: no weight decay on 1-D tensors (the biases) */
    double clip_norm;       /* > 0: clip the global 2-norm of the gradient each
                             * update reads (the mean under accumulate) to
                             * this, as descent_clip_grad_norm would */
    double clip_value;      /* > 0: clamp every gradient to [-v, v] before each
                             * step (descent_clip_grad_value) */
    double ema_decay;       /* in (0, 1): keep an EMA of the parameters; the
                             * validation figures are the EMA's */
    int swa_start;          /* > 0: an SWA update after every epoch from this
                             * one on; the validation figures are then SWA's */
    /* The run's length and its end (docs/models.md). */
    int epochs;             /* > 0: the epochs the run will have in total; a
                             * schedule's omitted length (OneCycleLR's
                             * total_steps, CosineAnnealingLR's T_max) is then
                             * fitted to it, and a schedule that would end
                             * before it is refused. 0: unknown */
    int patience;           /* > 0: early stopping (Keras EarlyStopping with
                             * restore_best_weights): after this many epochs
                             * without the monitored loss improving by more
                             * than min_delta, descent_trainer_stopped() turns 1
                             * and the best epoch's parameters are restored */
    double min_delta;       /* >= 0 */
    const char *allow_change; /* comma-separated fields a resumed run may change
                             * (data, seed, val, batch-size, opt, clip-norm,
                             * clip-value), or NULL: none */
} descent_train_config;

void descent_train_default_config_sized(descent_train_config *c, size_t struct_size);
#define descent_train_default_config(c) descent_train_default_config_sized((c), sizeof *(c))

/* Seen by the progress callback after every batch. */
typedef struct descent_train_progress {
    int epoch;              /* 1-based, the epoch in progress */
    size_t batch, batches;  /* batches done in this epoch, and per epoch */
    double loss;            /* mean training loss of the epoch so far */
    double lr;              /* learning rate of group 0 after the step */
    double seconds;         /* since the epoch started */
} descent_train_progress;

/* One row of the training log. */
typedef struct descent_epoch_result {
    int epoch;
    double train_loss;      /* mean over the epoch's batches, weighted by rows */
    double val_loss;        /* NAN without a validation split */
    double val_accuracy;    /* NAN for regression or without a validation split */
    double lr;
    double seconds;         /* of this epoch */
} descent_epoch_result;

typedef struct descent_trainer descent_trainer;

/* Read the data, split and standardize it, and create the model and the
 * optimizer (one group over every tensor) and the schedule. */
int descent_trainer_create(descent_trainer **out, const descent_train_config *c, descent_error *err);
void descent_trainer_destroy(descent_trainer *t);
const char *descent_trainer_errmsg(const descent_trainer *t);

/* One pass over the training split in freshly shuffled batches, then the
 * validation split. A non-zero return from progress stops the epoch after
 * the step it reports and the call returns DESCENT_STOP_CANCELLED (the
 * epoch is not counted); the next call, or a trainer loaded from a save
 * made in between, continues that epoch where it stopped. After early
 * stopping (descent_trainer_stopped) it returns DESCENT_ERR_STATE. A
 * schedule that watches a metric steps once per epoch, on the validation
 * loss (the training loss without a validation split). */
int descent_trainer_epoch(descent_trainer *t, int (*progress)(void *ctx, const descent_train_progress *p),
                          void *ctx, descent_epoch_result *r);

/* Epochs completed (including those of a resumed checkpoint). */
int descent_trainer_epochs_done(const descent_trainer *t);

/* Sizes: training rows, validation rows, features, classes (0: regression),
 * batches per epoch. Any pointer may be NULL. */
void descent_trainer_info(const descent_trainer *t, size_t *train_rows, size_t *val_rows, size_t *features,
                          size_t *classes, size_t *batches);

descent_model *descent_trainer_model(descent_trainer *t);
descent_optimizer *descent_trainer_optimizer(descent_trainer *t);

/* Save or restore the run: model parameters, the optimizer image with its
 * schedule (descent_save_mem), the shuffling generator, the epoch count, a
 * part-done epoch, the history, the early-stopping record and what defines
 * the run (data hash, specs, seed, split, batch size, dtype, utilities).
 * Saving writes atomically and fsyncs. Loading refuses a run that differs
 * in any of those (DESCENT_ERR_CHECKPOINT, naming each) unless the config's
 * allow_change names it, a file that is not regular or not as long as its
 * header says, and any field out of range, before changing anything;
 * resuming and training on gives bit for bit what an uninterrupted run
 * gives (docs/models.md). */
int descent_trainer_save(const descent_trainer *t, const char *path);
int descent_trainer_load(descent_trainer *t, const char *path);

/* After a load: a description of the run fields that differ from the
 * checkpoint's and were allowed (allow_change), "" when none. */
const char *descent_trainer_changes(const descent_trainer *t);
/* The epochs done so far, the loaded checkpoint's included: *n rows. */
const descent_epoch_result *descent_trainer_history(const descent_trainer *t, size_t *n);
/* Early stopping: 1 once patience ran out (the best epoch's parameters are
 * then in the model), else 0; *best_epoch (may be NULL) is the epoch with
 * the lowest monitored loss so far (0 before the first). */
int descent_trainer_stopped(const descent_trainer *t, int *best_epoch);
/* The name of class i when the target column holds words (classes numbered
 * in sorted byte order), NULL for numeric labels. */
const char *descent_trainer_class_name(const descent_trainer *t, size_t i);
/* The schedule spec in use: the given one with omitted lengths fitted to
 * the run (config.epochs), or NULL without a schedule. */
const char *descent_trainer_schedule(const descent_trainer *t);

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
