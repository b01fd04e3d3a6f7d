/* What the training utilities that ride on the optimizer share: gradient
 * accumulation (accumulate.c), weight-decay masks (decay_mask.c), parameter
 * averages, EMA and SWA (averages.c), and Lookahead (lookahead.c). Every
 * per-tensor buffer they need is an "auxiliary buffer" of
 * the tensor (descent_tensor.aux[kind]): n elements of the tensor's state
 * type (f64 for f64 tensors, f32 otherwise), allocated when the feature is
 * enabled or the tensor registered (never in step), written to and read
 * from checkpoints, re-seeded by descent_reset and freed with the tensor.
 * This file holds those buffers, the after-step hook and the utilities'
 * checkpoint section. docs/utilities.md gives the formulas and their
 * PyTorch counterparts. */
#include "passes.h"

#include <math.h>
#include <string.h>

static const char *const aux_names[DESCENT_AUX_COUNT] = {"grad_accum", "ema", "swa", "slow_weights"};

size_t descent_aux_size(const descent_tensor *t) { return t->dtype == DESCENT_F64 ? sizeof(double) : sizeof(float); }

/* Does the optimizer's configuration call for aux buffer `kind`? */
static int aux_wanted(const descent_optimizer *opt, int kind)
{
    const descent_utils *u = &opt->utils;
    switch (kind) {
    case DESCENT_AUX_ACCUM:
        return u->accumulate > 1;
    case DESCENT_AUX_EMA:
        return u->ema_decay > 0;
    case DESCENT_AUX_SWA:
        return u->swa;
    default:
        return u->lookahead_k > 0;
    }
}

/* The buffer's value when (re)started: zero for the gradient sum, the
 * current parameters for the averages (torch's AveragedModel deep-copies
 * the model) and the slow weights (phi_0 = theta_0, Zhang et al. 2019). */
void descent_aux_seed(descent_tensor *t, int kind)
{
    if (!t->aux[kind])
        return;
    if (kind == DESCENT_AUX_ACCUM)
        memset(t->aux[kind], 0, t->n * descent_aux_size(t));
    else if (t->n)
        memcpy(t->aux[kind], t->param, t->n * descent_aux_size(t));
}

void descent_utils_init_tensor(const descent_optimizer *opt, descent_tensor *t)
{
    (void)opt;
    for (int k = 0; k < DESCENT_AUX_COUNT; k++)
        descent_aux_seed(t, k);
}

void descent_utils_free_tensor(descent_optimizer *opt, descent_tensor *t)
{
    for (int k = 0; k < DESCENT_AUX_COUNT; k++) {
        descent_mem_free(&opt->mem, t->aux[k]);
        t->aux[k] = NULL;
    }
}

int descent_utils_register(descent_optimizer *opt, descent_tensor *t)
{
    t->no_decay = opt->utils.no_decay_1d && t->ndim == 1; /* bf16 with utilities: refused (storage.c) */
    for (int k = 0; k < DESCENT_AUX_COUNT; k++)
        if (aux_wanted(opt, k) && !(t->aux[k] = descent_mem_alloc(&opt->mem, (t->n ? t->n : 1) * descent_aux_size(t))))
            return descent_opt_fail(opt, DESCENT_ERR_NOMEM, "out of memory allocating %s for %zu elements",
                                    aux_names[k], t->n);
    return 0;
}

void descent_utils_reset(descent_optimizer *opt)
{
    opt->utils.accum_count = 0;
    opt->utils.ema_count = 0;
    opt->utils.swa_count = 0;
    opt->utils.lookahead_count = 0;
}

size_t descent_utils_bytes(const descent_optimizer *opt)
{
    size_t bytes = 0;
    for (int i = 0; i < opt->ntensors; i++)
        for (int k = 0; k < DESCENT_AUX_COUNT; k++)
            if (opt->tensors[i].aux[k])
                bytes += opt->tensors[i].n * descent_aux_size(&opt->tensors[i]);
    return bytes;
}

/* Allocate and seed (on) or free (off) aux buffer `kind` of every
 * registered tensor, all or nothing; the caller then records the setting. */
int descent_aux_switch(descent_optimizer *opt, int kind, int on, const char *what)
{
    if (!on) {
        for (int i = 0; i < opt->ntensors; i++) {
            descent_mem_free(&opt->mem, opt->tensors[i].aux[kind]);
            opt->tensors[i].aux[kind] = NULL;
        }
        return 0;
    }
    int rc = descent_rules_utils_on(opt, what);
    if (rc < 0)
        return rc;
    for (int i = 0; i < opt->ntensors; i++) {
        descent_tensor *t = &opt->tensors[i];
        if (t->aux[kind])
            continue;
        t->aux[kind] = descent_mem_alloc(&opt->mem, (t->n ? t->n : 1) * descent_aux_size(t));
        if (!t->aux[kind]) {
            for (int j = 0; j < i; j++) {
                descent_mem_free(&opt->mem, opt->tensors[j].aux[kind]);
                opt->tensors[j].aux[kind] = NULL;
            }
            return descent_opt_fail(opt, DESCENT_ERR_NOMEM, "%s: out of memory for tensor %d (%zu elements)", what, i,
                                    t->n);
        }
        descent_aux_seed(t, kind);
    }
    return 0;
}


/* ---- checkpoints ---------------------------------------------------------
 * The utilities section (header flag DESCENT_CKPT_FLAG_UTILS), after the
 * schedule section:
 *   u32 accumulate, i64 accum_count, f64 ema_decay, i64 ema_count,
 *   u8 swa, i64 swa_count, u32 lookahead_k, f64 lookahead_alpha,
 *   i64 lookahead_count,
 *   per tensor and per aux kind in use: the buffer's raw values. */

int descent_utils_active(const descent_optimizer *opt)
{
    for (int k = 0; k < DESCENT_AUX_COUNT; k++)
        if (aux_wanted(opt, k))
            return 1;
    return 0;
}

void descent_utils_save(const descent_optimizer *opt, descent_writer *w)
{
    const descent_utils *u = &opt->utils;
    descent_put_u(w, (uint64_t)u->accumulate, 4);
    descent_put_u(w, (uint64_t)u->accum_count, 8);
    descent_put_f64(w, u->ema_decay);
    descent_put_u(w, (uint64_t)u->ema_count, 8);
    descent_put_u(w, (uint64_t)u->swa, 1);
    descent_put_u(w, (uint64_t)u->swa_count, 8);
    descent_put_u(w, (uint64_t)u->lookahead_k, 4);
    descent_put_f64(w, u->lookahead_alpha);
    descent_put_u(w, (uint64_t)u->lookahead_count, 8);
    for (int i = 0; i < opt->ntensors; i++)
        for (int k = 0; k < DESCENT_AUX_COUNT; k++)
            if (opt->tensors[i].aux[k])
                descent_put_array(w, opt->tensors[i].aux[k], opt->tensors[i].n, opt->tensors[i].dtype);
}

int descent_utils_load(descent_optimizer *opt, descent_reader *r, int present, int apply, descent_error *err)
{
    descent_utils *u = &opt->utils;
    if (!present) {
        if (descent_utils_active(opt))
            return descent_fail(err, DESCENT_ERR_CHECKPOINT,
                                "checkpoint has no accumulation/EMA/SWA/Lookahead state; the optimizer uses them");
        return 0;
    }
    descent_utils s;
    memset(&s, 0, sizeof s);
    s.accumulate = (int)descent_get_u(r, 4);
    s.accum_count = (int64_t)descent_get_u(r, 8);
    s.ema_decay = descent_get_f64(r);
    s.ema_count = (int64_t)descent_get_u(r, 8);
    s.swa = (int)descent_get_u(r, 1);
    s.swa_count = (int64_t)descent_get_u(r, 8);
    s.lookahead_k = (int)descent_get_u(r, 4);
    s.lookahead_alpha = descent_get_f64(r);
    s.lookahead_count = (int64_t)descent_get_u(r, 8);
    if (r->bad)
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint is truncated (in the utilities section)");
    if (s.accumulate != u->accumulate || memcmp(&s.ema_decay, &u->ema_decay, sizeof s.ema_decay) != 0 ||
        s.swa != u->swa || s.lookahead_k != u->lookahead_k ||
        memcmp(&s.lookahead_alpha, &u->lookahead_alpha, sizeof s.lookahead_alpha) != 0)
        return descent_fail(err, DESCENT_ERR_CHECKPOINT,
                            "checkpoint utilities differ: accumulation %d, EMA decay %g, SWA %d, Lookahead k=%d "
                            "alpha=%g; the optimizer has %d, %g, %d, k=%d alpha=%g",
                            s.accumulate, s.ema_decay, s.swa, s.lookahead_k, s.lookahead_alpha, u->accumulate,
                            u->ema_decay, u->swa, u->lookahead_k, u->lookahead_alpha);
    if (!descent_utils_active(opt))
        return descent_fail(err, DESCENT_ERR_CHECKPOINT,
                            "checkpoint has a utilities section, but the optimizer uses no accumulation, EMA, SWA or "
                            "Lookahead");
    /* Counters are non-negative, below k for the sum, and 0 for a feature
     * that is off (what saving writes). */
    if (s.accum_count < 0 || (s.accumulate > 1 ? s.accum_count >= s.accumulate : s.accum_count != 0) ||
        s.ema_count < 0 || s.swa_count < 0 || s.lookahead_count < 0 || (!(s.ema_decay > 0) && s.ema_count != 0) ||
        (!s.swa && s.swa_count != 0) || (s.lookahead_k == 0 && s.lookahead_count != 0))
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint utilities have an impossible counter");
    for (int i = 0; i < opt->ntensors; i++)
        for (int k = 0; k < DESCENT_AUX_COUNT; k++) {
            descent_tensor *t = &opt->tensors[i];
            if (!t->aux[k])
                continue;
            size_t bytes = t->n * descent_aux_size(t);
            if (descent_reader_left(r) < bytes)
                return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint is truncated (in tensor %d's %s)", i,
                                    aux_names[k]);
            if (apply)
                descent_get_array(r, t->aux[k], t->n, t->dtype);
            else
                descent_reader_skip(r, bytes);
        }
    if (apply) {
        u->accum_count = s.accum_count;
        u->ema_count = s.ema_count;
        u->swa_count = s.swa_count;
        u->lookahead_count = s.lookahead_count;
    }
    return 0;
}
