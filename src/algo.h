/* The algorithm table (descent_algo): what an optimizer file under src/optim/
 * defines, with its hyperparameter descriptors and per-tensor scalars. Not installed. */
#ifndef DESCENT_ALGO_H
#define DESCENT_ALGO_H

#include "kernels.h"

#include <stddef.h>

/* ---- hyperparameter descriptors ---------------------------------------- */

typedef enum hp_type { HP_REAL, HP_PAIR, HP_BOOL, HP_CHOICE, HP_INT } hp_type;

/* Bounds: lo <= x (or lo < x with HP_LO_OPEN), x <= hi (or < with HP_HI_OPEN). */
enum { HP_LO_OPEN = 1, HP_HI_OPEN = 2, HP_NO_HI = 4 };
/* HP_PAIR whose items may be None (stored as NaN): Adafactor's eps[0]. */
enum { HP_NONE_OK = 8 };
/* HP_INT only: the value must be lo or hi, nothing between (state_bits). */
enum { HP_ENDS_ONLY = 16 };
/* Keyword-only (after torch's '*'): never filled by a positional argument. */
enum { HP_KW_ONLY = 32 };

typedef struct hp_desc {
    const char *name;
    hp_type type;
    size_t offset;            /* into descent_hparams */
    double lo, hi;
    unsigned bounds;
    const char *const *choices; /* HP_CHOICE: NULL-terminated names, value = index */
    const char *doc;          /* one line: what the argument does (descent_hparam_describe) */
} hp_desc;

#define HP_FIELD(f) offsetof(descent_hparams, f)

/* ---- per-tensor state the generic code keeps for every algorithm -------- */

typedef struct descent_tensor_scalars {
    int64_t step;           /* PyTorch's state['step'], incremented before use */
    double mu_product;      /* NAdam's running product of mu_t */
    union {
        double eta;         /* ASGD's state['eta'], the step size of the next step */
        double max_lr;      /* schedule-free: optax's max_lr, the largest lr so far */
    };
    union {
        double mu;          /* ASGD's state['mu'], the averaging weight of the next step */
        double weight_sum;  /* schedule-free: optax's weight_sum, sum of max_lr^weight_lr_power */
    };
} descent_tensor_scalars;

/* A per-tensor scalar an algorithm keeps beyond `step`: its PyTorch (or
 * optax) name in state[p] and where it lives in descent_tensor_scalars.
 * The algorithm's table lists them (`scalars`); descent_state_get_scalar /
 * set_scalar and the error naming what a tensor has read that list. The
 * checkpoint keeps the three slots (mu_product, eta|max_lr, mu|weight_sum)
 * in a fixed order, as every earlier version wrote them
 * (descent_scalar_slots below). */
typedef struct descent_scalar_desc {
    const char *name;
    size_t offset; /* offsetof(descent_tensor_scalars, the double field) */
    double lo, hi; /* the values it can take: finite, in [lo, hi] */
} descent_scalar_desc;
#define DESCENT_SCALAR(name, field, lo, hi) {name, offsetof(descent_tensor_scalars, field), lo, hi}

/* The double slots of descent_tensor_scalars in the order checkpoints store
 * them after `step`: mu_product, eta|max_lr, mu|weight_sum (state_access.c).
 * The checkpoint writer and reader and descent_scalars_check go through
 * this one table. */
#define DESCENT_SCALAR_SLOTS 3
extern const size_t descent_scalar_slots[DESCENT_SCALAR_SLOTS];
static inline double descent_scalar_slot(const descent_tensor_scalars *ts, int k)
{
    double v;
    memcpy(&v, (const unsigned char *)ts + descent_scalar_slots[k], sizeof v);
    return v;
}
static inline void descent_scalar_slot_set(descent_tensor_scalars *ts, int k, double v)
{
    memcpy((unsigned char *)ts + descent_scalar_slots[k], &v, sizeof v);
}


/* One algorithm family member: what GSL calls a type table. The generic code
 * allocates state_count(hp) buffers of n elements and coeffs_size bytes per
 * tensor, calls prepare() once per tensor per step (outside the element
 * loop), then the kernel over ranges of the tensor. */
struct descent_tensor_args;

typedef struct descent_algo {
    const char *name;                  /* PyTorch's name: "AdamW" */
    const char *alias;                 /* lowercase alias: "adamw" */
    const char *momentum_name;         /* what cyclical schedules drive, or NULL */
    void (*defaults)(descent_hparams *hp);
    const hp_desc *hparams;            /* accepted arguments, NULL-name terminated */
    /* Cross-field checks (beyond each field's bounds); message into err. */
    int (*validate)(const descent_hparams *hp, descent_error *err);
    int (*state_count)(const descent_hparams *hp);
    const char *const *state_names;    /* names of the state buffers, for checkpoints */
    /* Initial value of state buffer i (most are 0). */
    double (*state_init)(const descent_hparams *hp, int i);
    size_t coeffs_size;
    /* Advance the tensor's step count and compute the per-step scalars. */
    void (*prepare)(const descent_hparams *hp, descent_tensor_scalars *ts, void *coeffs);
    descent_kernel_fn kernel_f32;
    descent_kernel_fn kernel_f64;
    /* The kernel on bf16 parameters and gradients with f32 state, the
     * conversions in registers (kernel_types.h); NULL: bf16 tensors run
     * kernel_f32 on f32 scratch blocks (bf16.c). */
    descent_kernel_fn kernel_bf16;
    /* Bytes per stream of the driver's prefetch blocks for a group with
     * these hyperparameters (NULL or 0: DESCENT_PF_BLOCK); the lines two
     * blocks ahead are requested before each block's kernel call. */
    size_t (*prefetch_block)(const descent_hparams *hp);
    /* Optional hooks; NULL for the element-wise optimizers. */
    /* Elements of state buffer k for a tensor of this shape (Adafactor's
     * row and column factors); NULL: n for every buffer. */
    size_t (*state_size)(int ndim, const size_t *shape, int k);
    /* A whole-tensor step used instead of the kernel over chunks, for
     * updates with reductions over the tensor (LAMB's norms, Adafactor's
     * row and column means). Its order of operations must be fixed by the
     * tensor alone: the driver gives a large tensor all threads
     * (descent_tensor_args.threads) and results must not depend on how many.
     * Such optimizers take f32 and f64 tensors only. */
    void (*tensor_step)(const struct descent_tensor_args *a);
    /* The evaluation parameters (schedule-free's x) into out, which has the
     * tensor's dtype; NULL: a copy of the parameters. */
    void (*eval_params)(const descent_hparams *hp, const descent_tensor_scalars *ts,
                        const struct descent_tensor_args *a, void *out);
    /* state_bits=8 support: one letter per state buffer, 's' for the signed
     * 8-bit map, 'u' for the unsigned one (src/q8state.c); NULL: none. */
    const char *state_q8;
    /* Per-tensor scalars beyond `step` (NAdam's mu_product, ASGD's eta and
     * mu, ...), terminated by a NULL name; NULL: none. */
    const descent_scalar_desc *scalars;
    /* Bytes a tensor_step moves beyond reading and writing p and each state
     * buffer once and reading g once: the further reads of its later passes
     * (elem: bytes per element of p, g and state). NULL: none, one pass. */
    size_t (*extra_pass_bytes)(int ndim, const size_t *shape, size_t n, size_t elem);
} descent_algo;

/* The values of a tensor's scalars, read from a checkpoint or set by the
 * caller, that the algorithm can hold: each declared scalar finite and in
 * its [lo, hi], the undeclared slots finite. 0, or DESCENT_ERR_INVALID with
 * "name value" of the first that is not in *bad (when bad is not NULL). */
int descent_scalars_check(const descent_algo *algo, const descent_tensor_scalars *ts, const char **bad_name,
                          double *bad_value);

/* A whole tensor, as tensor_step and eval_params see it. */
typedef struct descent_tensor_args {
    const void *coeffs;     /* from prepare() */
    descent_dtype dtype;
    size_t n;
    int ndim;
    const size_t *shape;
    void *param;
    const void *grad;
    void *state[DESCENT_MAX_STATE];
    size_t state_n[DESCENT_MAX_STATE];
    int isa;
    /* Threads the step may share its tensor among (1: the calling thread);
     * the result must not depend on it (kernels.h, fixed-order reductions). */
    int threads;
} descent_tensor_args;

const descent_algo *descent_find_algo(const char *name);
extern const descent_algo *const descent_algos[];
extern const int descent_algo_count;

/* Bounds/type check of one value against a descriptor (used by set and parse). */
int descent_hp_check(const hp_desc *d, int index, double v, descent_error *err);
const hp_desc *descent_hp_find(const descent_algo *algo, const char *name, int *index);
double descent_hp_read(const descent_hparams *hp, const hp_desc *d, int index);
void descent_hp_write(descent_hparams *hp, const hp_desc *d, int index, double v);
int descent_hparams_validate(const descent_algo *algo, const descent_hparams *hp, descent_error *err);
/* Shared validate() rules: eps and eps_root not both 0 (the update would be
 * 0/0 on a zero gradient); Adagrad and Yogi also accept a positive
 * initial_accumulator_value. */
int descent_validate_denominator(const descent_hparams *hp, descent_error *err);
int descent_validate_denominator_or_accumulator(const descent_hparams *hp, descent_error *err);
/* Every real hyperparameter of hp representable in the tensor type (f32 and
 * bf16: 0 or a magnitude in [FLT_MIN, FLT_MAX]); checked at registration. */
int descent_hparams_fit_dtype(const descent_algo *algo, const descent_hparams *hp, descent_dtype dtype,
                              descent_error *err);
/* 1 if v is NaN (None), 0 or a magnitude in [FLT_MIN, FLT_MAX]. */
int descent_fits_float(double v);
/* DESCENT_F32 or DESCENT_BF16 if a tensor of that type is registered in the
 * group (both have float's range), else DESCENT_F64. */
descent_dtype descent_group_float_dtype(const struct descent_optimizer *opt, int group);
/* A value set after registration (a setter, a schedule, a loaded image)
 * under the rule of descent_hparams_fit_dtype for the group's tensors; the
 * message names the group and the value's name. */
int descent_group_value_fits(const struct descent_optimizer *opt, int group, const char *name, double v,
                             descent_error *err);

/* A caller's descent_hparams as a full one: the named optimizer's
 * defaults, overwritten by the caller's fields. */
int descent_hparams_import(descent_hparams *full, const descent_hparams *user, descent_error *err);

/* Initial value 0 for every state buffer (most algorithms). */
double descent_state_zero(const descent_hparams *hp, int i);

/* Descriptors shared by the algorithm tables; the bounds are PyTorch's
 * checks (lr, weight_decay, eps >= 0; betas in [0, 1)). */
#define HP_LR {"lr", HP_REAL, HP_FIELD(lr), 0, 0, HP_NO_HI, NULL, "learning rate (step size)"}
#define HP_WEIGHT_DECAY \
    {"weight_decay", HP_REAL, HP_FIELD(weight_decay), 0, 0, HP_NO_HI, NULL, "weight decay (L2 penalty) coefficient"}
#define HP_DECOUPLED_WEIGHT_DECAY                                                                 \
    {"decoupled_weight_decay", HP_BOOL, HP_FIELD(decoupled_weight_decay), 0, 1, 0, NULL,          \
     "decay the parameter before the update, as AdamW does (torch 2.x)"}
#define HP_MAXIMIZE \
    {"maximize", HP_BOOL, HP_FIELD(maximize), 0, 1, 0, NULL, "maximize the objective instead of minimizing it"}
#define HP_EPS \
    {"eps", HP_REAL, HP_FIELD(eps), 0, 0, HP_NO_HI, NULL, "term added to the denominator for numerical stability"}
#define HP_EPS_ROOT                                                                \
    {"eps_root", HP_REAL, HP_FIELD(eps_root), 0, 0, HP_NO_HI, NULL,                \
     "term added inside the square root (optax's eps_root)"}
#define HP_BETAS \
    {"betas", HP_PAIR, HP_FIELD(betas), 0, 1, HP_HI_OPEN, NULL, "decay rates of the first and second moment averages"}
/* 32: state at the tensor's precision; 8: block-quantized (src/q8state.c). */
#define HP_STATE_BITS \
    {"state_bits", HP_INT, HP_FIELD(state_bits), 8, 32, HP_ENDS_ONLY, NULL, \
     "32: state at the tensor's precision; 8: block-quantized 8-bit state"}
#define HP_END {NULL, HP_REAL, 0, 0, 0, 0, NULL, NULL}

#endif
