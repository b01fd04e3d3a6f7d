/* Storage adapters: how a tensor's parameters and optimizer state are held,
 * chosen once when the tensor is registered (descent_storage_for), and the
 * rules for which features combine with which format.
 *
 *   f32, f64   plain arrays; the kernel runs on them in place, in prefetch
 *              blocks when the step streams from memory (run_plain)
 *   bf16       bf16 parameters and gradients, f32 state (bf16.c)
 *   q8         f32 parameters, 8-bit block-quantized state (q8state.c)
 *   whole      f32/f64 tensors of algorithms with a whole-tensor step
 *              (LAMB, Adafactor): the step runs per tensor, not per chunk
 *
 * A new format is one file defining a descent_storage and one line in
 * storage_for (optimizer.c). */
#include "internal.h"

#include <string.h>

/* A chunk shorter than this many prefetch blocks runs as one kernel call:
 * a tensor that small costs more in calls than its prefetches save, and
 * its arrays are likely in cache (the 1000 x 1024 per-tensor benchmark). */
#define PF_MIN_BLOCKS 8

/* ---- f32 and f64 ---------------------------------------------------------- */

/* Run the kernel over chunk c; long chunks block by block, each block's
 * streams prefetched two blocks ahead first (internal.h). nonfinite: where
 * the kernel reports a non-finite gradient value (NULL: not asked). */
static void run_plain(const descent_optimizer *opt, const descent_chunk *c, int *nonfinite)
{
    const descent_tensor *t = &opt->tensors[c->tensor];
    descent_kernel_args a;
    descent_kernel_args_init(&a, opt, t, nonfinite);
    a.begin = c->begin;
    a.end = c->end;
    descent_kernel_fn kernel = t->dtype == DESCENT_F64 ? opt->algo->kernel_f64 : opt->algo->kernel_f32;
    size_t elem = t->dtype == DESCENT_F64 ? sizeof(double) : sizeof(float);
    size_t block_bytes = opt->prefetch > 0           ? (size_t)opt->prefetch
                         : opt->algo->prefetch_block ? opt->algo->prefetch_block(&opt->groups[t->group].hp)
                                                     : 0;
    if (!block_bytes)
        block_bytes = DESCENT_PF_BLOCK;
    size_t block = block_bytes / elem, ahead = 2 * block_bytes;
    if (!opt->prefetch_step || c->end - c->begin < PF_MIN_BLOCKS * block) {
        kernel(&a);
        return;
    }
    for (size_t b = c->begin; b < c->end; b += block) {
        a.begin = b;
        a.end = c->end - b < block ? c->end : b + block;
        DESCENT_PREFETCH_BLOCK(a.param, b, elem, block_bytes, ahead);
        DESCENT_PREFETCH_BLOCK(a.grad, b, elem, block_bytes, ahead);
        for (int k = 0; k < t->nstate; k++)
            DESCENT_PREFETCH_BLOCK(a.state[k], b, elem, block_bytes, ahead);
        kernel(&a);
    }
}

/* Every state buffer at the algorithm's initial value, in the state's
 * precision (f64 for f64 tensors, f32 otherwise). */
void descent_storage_init_values(const descent_optimizer *opt, descent_tensor *t)
{
    const descent_hparams *hp = &opt->groups[t->group].hp;
    for (int k = 0; k < t->nstate; k++) {
        double v = opt->algo->state_init(hp, k);
        if (t->dtype == DESCENT_F64) {
            double *s = t->state[k];
            for (size_t i = 0; i < t->state_n[k]; i++)
                s[i] = v;
        } else {
            float *s = t->state[k];
            for (size_t i = 0; i < t->state_n[k]; i++)
                s[i] = (float)v;
        }
    }
}

static size_t f32_buffer_bytes(size_t n) { return n * sizeof(float); }
static size_t f64_buffer_bytes(size_t n) { return n * sizeof(double); }

/* Checkpoint image of a buffer: its values as little-endian f32 or f64. */
static size_t f32_image_bytes(const descent_tensor *t, int k) { return t->state_n[k] * 4; }
static size_t f64_image_bytes(const descent_tensor *t, int k) { return t->state_n[k] * 8; }

void descent_storage_save_values(descent_writer *w, const descent_tensor *t, int k)
{
    descent_put_array(w, t->state[k], t->state_n[k], t->dtype);
}

void descent_storage_load_values(descent_reader *r, descent_tensor *t, int k)
{
    descent_get_array(r, t->state[k], t->state_n[k], t->dtype);
}

const descent_storage descent_storage_f32 = {"f32",
                                            f32_buffer_bytes,
                                            descent_storage_init_values,
                                            run_plain,
                                            f32_image_bytes,
                                            descent_storage_save_values,
                                            descent_storage_load_values};

const descent_storage descent_storage_f64 = {"f64",
                                            f64_buffer_bytes,
                                            descent_storage_init_values,
                                            run_plain,
                                            f64_image_bytes,
                                            descent_storage_save_values,
                                            descent_storage_load_values};

/* Whole-tensor steps hold their state as the plain formats do; run is
 * never called (the step runs algo->tensor_step per tensor). */
const descent_storage descent_storage_whole_f32 = {"f32 whole-tensor",
                                                  f32_buffer_bytes,
                                                  descent_storage_init_values,
                                                  NULL,
                                                  f32_image_bytes,
                                                  descent_storage_save_values,
                                                  descent_storage_load_values};

const descent_storage descent_storage_whole_f64 = {"f64 whole-tensor",
                                                  f64_buffer_bytes,
                                                  descent_storage_init_values,
                                                  NULL,
                                                  f64_image_bytes,
                                                  descent_storage_save_values,
                                                  descent_storage_load_values};

/* ---- the choice and the rules -------------------------------------------- */

int descent_rules_tensor(const descent_optimizer *opt, int group, descent_dtype dtype, int utils_active)
{
    if (dtype == DESCENT_BF16 && opt->algo->tensor_step)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "%s takes f32 and f64 tensors only, not DESCENT_BF16",
                                opt->algo->name);
    if (descent_q8_wanted(opt->algo, &opt->groups[group].hp) && dtype != DESCENT_F32)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "state_bits=8 needs DESCENT_F32 tensors, got %s",
                                dtype == DESCENT_F64 ? "DESCENT_F64" : "DESCENT_BF16");
    if (dtype == DESCENT_BF16 && utils_active)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID,
                                "bf16 tensors cannot be registered while gradient accumulation, EMA, SWA or "
                                "Lookahead is on (their buffers are f32/f64 only)");
    return 0;
}

int descent_rules_utils_on(const descent_optimizer *opt, const char *what)
{
    for (int i = 0; i < opt->ntensors; i++)
        if (opt->tensors[i].dtype == DESCENT_BF16)
            return descent_opt_fail(opt, DESCENT_ERR_INVALID, "%s: tensor %d is bf16; %s supports f32 and f64 tensors",
                                    what, i, what);
    return 0;
}

int descent_rules_bf16_flags(const descent_optimizer *opt, unsigned flags)
{
    if (flags & ~(unsigned)(DESCENT_BF16_STOCHASTIC | DESCENT_BF16_MASTER | DESCENT_BF16_SCRATCH))
        return descent_opt_fail(opt, DESCENT_ERR_INVALID,
                                "bf16 flags must be a combination of DESCENT_BF16_STOCHASTIC, DESCENT_BF16_MASTER and "
                                "DESCENT_BF16_SCRATCH, got 0x%x", flags);
    if ((flags ^ opt->bf16_flags) & DESCENT_BF16_MASTER)
        for (int i = 0; i < opt->ntensors; i++)
            if (opt->tensors[i].dtype == DESCENT_BF16)
                return descent_opt_fail(opt, DESCENT_ERR_STATE,
                                        "DESCENT_BF16_MASTER must be chosen before bf16 tensors are registered");
    return 0;
}
