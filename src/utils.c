/* Training utilities that ride on the optimizer (issue #7): gradient
 * accumulation, weight-decay masks, parameter averages (EMA and SWA) and
 * Lookahead. Every per-tensor buffer they need is an "auxiliary buffer" of
 * the tensor (descent_tensor.aux[kind]): n elements of the tensor's state
 * type (f64 for f64 tensors, f32 otherwise), allocated when the feature is
 * enabled or the tensor registered (never in step), written to and read
 * from checkpoints, re-seeded by descent_reset and freed with the tensor.
 * docs/utilities.md gives the formulas and their PyTorch counterparts. */
#include "passes.h"

#include <math.h>
#include <string.h>

static const char *const aux_names[DESCENT_AUX_COUNT] = {"grad_accum", "ema", "swa", "slow_weights"};

static size_t aux_size(const descent_tensor *t) { return t->dtype == DESCENT_F64 ? sizeof(double) : sizeof(float); }

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
static void aux_seed(descent_tensor *t, int kind)
{
    if (!t->aux[kind])
        return;
    if (kind == DESCENT_AUX_ACCUM)
        memset(t->aux[kind], 0, t->n * aux_size(t));
    else if (t->n)
        memcpy(t->aux[kind], t->param, t->n * aux_size(t));
}

void descent_utils_init_tensor(const descent_optimizer *opt, descent_tensor *t)
{
    (void)opt;
    for (int k = 0; k < DESCENT_AUX_COUNT; k++)
        aux_seed(t, k);
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
        if (aux_wanted(opt, k) && !(t->aux[k] = descent_mem_alloc(&opt->mem, (t->n ? t->n : 1) * aux_size(t))))
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
                bytes += opt->tensors[i].n * aux_size(&opt->tensors[i]);
    return bytes;
}

/* Allocate and seed (on) or free (off) aux buffer `kind` of every
 * registered tensor, all or nothing; the caller then records the setting. */
static int aux_switch(descent_optimizer *opt, int kind, int on, const char *what)
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
        t->aux[kind] = descent_mem_alloc(&opt->mem, (t->n ? t->n : 1) * aux_size(t));
        if (!t->aux[kind]) {
            for (int j = 0; j < i; j++) {
                descent_mem_free(&opt->mem, opt->tensors[j].aux[kind]);
                opt->tensors[j].aux[kind] = NULL;
            }
            return descent_opt_fail(opt, DESCENT_ERR_NOMEM, "%s: out of memory for tensor %d (%zu elements)", what, i,
                                    t->n);
        }
        aux_seed(t, kind);
    }
    return 0;
}

/* ---- gradient accumulation ---------------------------------------------- */

int descent_set_accumulation(descent_optimizer *opt, int k)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (k < 1 || k > 1000000)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "accumulation steps must be in [1, 1000000], got %d", k);
    if (opt->utils.accum_count != 0)
        return descent_opt_fail(opt, DESCENT_ERR_STATE,
                                "cannot change accumulation in the middle of a cycle (%lld of %d micro-batches added)",
                                (long long)opt->utils.accum_count, opt->utils.accumulate);
    if (k > 1 && opt->utils.step_clip)
        return descent_opt_fail(opt, DESCENT_ERR_STATE,
                                "gradient accumulation cannot be turned on while descent_set_step_clip is on");
    int rc = aux_switch(opt, DESCENT_AUX_ACCUM, k > 1, "gradient accumulation");
    if (rc < 0)
        return rc;
    opt->utils.accumulate = k > 1 ? k : 0;
    return 0;
}

int descent_get_accumulation(const descent_optimizer *opt, int *pending)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (pending)
        *pending = (int)opt->utils.accum_count;
    return opt->utils.accumulate > 1 ? opt->utils.accumulate : 1;
}

/* sum += g for every tensor; on the k-th call sum = (sum + g) / k, the mean
 * the kernels then read in place of g. */
int descent_utils_before_step(descent_optimizer *opt)
{
    descent_utils *u = &opt->utils;
    if (u->accumulate <= 1)
        return 0;
    int last = u->accum_count + 1 == u->accumulate;
    for (int i = 0; i < opt->ntensors; i++) {
        descent_tensor *t = &opt->tensors[i];
        if (t->dtype == DESCENT_F64) {
            double *s = t->aux[DESCENT_AUX_ACCUM];
            const double *g = t->grad, k = (double)u->accumulate;
            for (size_t j = 0; j < t->n; j++)
                s[j] = last ? (s[j] + g[j]) / k : s[j] + g[j];
        } else {
            float *s = t->aux[DESCENT_AUX_ACCUM];
            const float *g = t->grad, k = (float)u->accumulate;
            for (size_t j = 0; j < t->n; j++)
                s[j] = last ? (s[j] + g[j]) / k : s[j] + g[j];
        }
    }
    if (!last) {
        u->accum_count++;
        return DESCENT_STEP_ACCUMULATED;
    }
    return 0;
}

/* ---- weight-decay masks ------------------------------------------------- */

const descent_hparams *descent_utils_hparams(const descent_optimizer *opt, const descent_tensor *t,
                                             descent_hparams *scratch)
{
    const descent_hparams *hp = &opt->groups[t->group].hp;
    if (!t->no_decay)
        return hp;
    *scratch = *hp;
    scratch->weight_decay = 0;
    return scratch;
}

static int check_tensor(const descent_optimizer *opt, int tensor)
{
    if (tensor < 0 || tensor >= opt->ntensors)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "tensor must be in [0, %d), got %d", opt->ntensors, tensor);
    return 0;
}

int descent_set_tensor_weight_decay(descent_optimizer *opt, int tensor, int enabled)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    int rc = check_tensor(opt, tensor);
    if (rc < 0)
        return rc;
    if (enabled != 0 && enabled != 1)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "enabled must be 0 or 1, got %d", enabled);
    opt->tensors[tensor].no_decay = !enabled;
    return 0;
}

int descent_tensor_weight_decay(const descent_optimizer *opt, int tensor)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    int rc = check_tensor(opt, tensor);
    return rc < 0 ? rc : !opt->tensors[tensor].no_decay;
}

int descent_set_no_decay_1d(descent_optimizer *opt, int enabled)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (enabled != 0 && enabled != 1)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "enabled must be 0 or 1, got %d", enabled);
    opt->utils.no_decay_1d = enabled;
    for (int i = 0; i < opt->ntensors; i++)
        if (opt->tensors[i].ndim == 1)
            opt->tensors[i].no_decay = enabled;
    return 0;
}

/* ---- parameter averages ------------------------------------------------- */

int descent_set_ema(descent_optimizer *opt, double decay)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (!(decay >= 0 && decay < 1))
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "EMA decay must be in [0, 1) (0 turns EMA off), got %g",
                                decay);
    int rc = aux_switch(opt, DESCENT_AUX_EMA, decay > 0, "EMA");
    if (rc < 0)
        return rc;
    if (!(opt->utils.ema_decay > 0 && decay > 0))
        opt->utils.ema_count = 0;
    opt->utils.ema_decay = decay;
    return 0;
}

int descent_set_swa(descent_optimizer *opt, int enabled)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (enabled != 0 && enabled != 1)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "enabled must be 0 or 1, got %d", enabled);
    int rc = aux_switch(opt, DESCENT_AUX_SWA, enabled, "SWA");
    if (rc < 0)
        return rc;
    if (!(opt->utils.swa && enabled))
        opt->utils.swa_count = 0;
    opt->utils.swa = enabled;
    return 0;
}

/* torch.optim.swa_utils.AveragedModel.update_parameters: the first update
 * copies the parameters; later ones apply avg_fn, in the tensor's precision:
 *   EMA:  avg = decay avg + (1 - decay) p
 *   SWA:  avg = avg + (p - avg) / (n_averaged + 1)      (torch's default)
 * chunk by chunk, threaded as the step (passes.h); element-wise, so the
 * threads change no bit. The step folds the EMA into its update when it can
 * (step.c run_fused), with these operations. */
typedef struct average_job {
    int kind;
    double decay, m;
} average_job;

static int average_chunk(const descent_optimizer *opt, int c, void *ctx, double *partial)
{
    const average_job *j = ctx;
    const descent_chunk *ch = &opt->chunks[c];
    const descent_tensor *t = &opt->tensors[ch->tensor];
    size_t n = ch->end - ch->begin;
    int ema = j->kind == DESCENT_AUX_EMA;
    *partial = 0;
    if (t->dtype == DESCENT_F64)
        descent_average_range_f64(opt->isa, (double *)t->aux[j->kind] + ch->begin,
                                  (const double *)t->param + ch->begin, n, j->decay, 1.0 - j->decay, j->m, ema);
    else
        descent_average_range_f32(opt->isa, (float *)t->aux[j->kind] + ch->begin, (const float *)t->param + ch->begin,
                                  n, (float)j->decay, (float)(1.0 - j->decay), (float)j->m, ema);
    return 0;
}

static void average_update(descent_optimizer *opt, int kind, int64_t count, double decay)
{
    if (count == 0) {
        for (int i = 0; i < opt->ntensors; i++)
            aux_seed(&opt->tensors[i], kind);
        return;
    }
    average_job j = {kind, decay, (double)(count + 1)};
    descent_for_chunks(opt, 0, opt->nchunks, average_chunk, &j, NULL);
}

int descent_swa_update(descent_optimizer *opt)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (!opt->utils.swa)
        return descent_opt_fail(opt, DESCENT_ERR_STATE, "SWA is off: call descent_set_swa(opt, 1) first");
    average_update(opt, DESCENT_AUX_SWA, opt->utils.swa_count, 0);
    opt->utils.swa_count++;
    return 0;
}

static int check_average(const descent_optimizer *opt, int which)
{
    if (which != DESCENT_AVERAGE_EMA && which != DESCENT_AVERAGE_SWA)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID,
                                "which must be DESCENT_AVERAGE_EMA (0) or DESCENT_AVERAGE_SWA (1), got %d", which);
    if (which == DESCENT_AVERAGE_EMA ? !(opt->utils.ema_decay > 0) : !opt->utils.swa)
        return descent_opt_fail(opt, DESCENT_ERR_STATE, "%s is off", which == DESCENT_AVERAGE_EMA ? "EMA" : "SWA");
    return 0;
}

int64_t descent_averaged_count(const descent_optimizer *opt, int which)
{
    if (!opt)
        return 0;
    return which == DESCENT_AVERAGE_EMA ? opt->utils.ema_count : which == DESCENT_AVERAGE_SWA ? opt->utils.swa_count : 0;
}

int descent_copy_averaged(const descent_optimizer *opt, int which, int tensor, void *out)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    int rc = check_average(opt, which);
    if (rc < 0 || (rc = check_tensor(opt, tensor)) < 0)
        return rc;
    const descent_tensor *t = &opt->tensors[tensor];
    if (!out && t->n)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "out must not be NULL");
    if (t->n)
        memcpy(out, t->aux[which == DESCENT_AVERAGE_EMA ? DESCENT_AUX_EMA : DESCENT_AUX_SWA], t->n * aux_size(t));
    return 0;
}

/* Exchange two arrays of bytes in place (no allocation). */
static void swap_bytes(unsigned char *a, unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = a[i];
        a[i] = b[i];
        b[i] = x;
    }
}

int descent_swap_averaged(descent_optimizer *opt, int which)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    int rc = check_average(opt, which);
    if (rc < 0)
        return rc;
    int kind = which == DESCENT_AVERAGE_EMA ? DESCENT_AUX_EMA : DESCENT_AUX_SWA;
    for (int i = 0; i < opt->ntensors; i++) {
        descent_tensor *t = &opt->tensors[i];
        swap_bytes(t->param, t->aux[kind], t->n * aux_size(t));
    }
    return 0;
}

/* ---- Lookahead ---------------------------------------------------------- */

int descent_set_lookahead(descent_optimizer *opt, int k, double alpha)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (k < 0 || k > 1000000)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "Lookahead k must be >= 1 (0 turns it off), got %d", k);
    if (k > 0 && !(alpha >= 0 && alpha <= 1))
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "Lookahead alpha must be in [0, 1], got %g", alpha);
    int rc = aux_switch(opt, DESCENT_AUX_SLOW, k > 0, "Lookahead");
    if (rc < 0)
        return rc;
    opt->utils.lookahead_k = k;
    opt->utils.lookahead_alpha = k > 0 ? alpha : 0;
    opt->utils.lookahead_count = 0;
    return 0;
}

/* Zhang et al. 2019, Algorithm 1: after every k-th inner step
 *   phi = phi + alpha (theta - phi);  theta = phi
 * chunk by chunk, threaded (element-wise: the same bits for any threads). */
static int lookahead_chunk(const descent_optimizer *opt, int c, void *ctx, double *partial)
{
    const double alpha = *(const double *)ctx;
    const descent_chunk *ch = &opt->chunks[c];
    const descent_tensor *t = &opt->tensors[ch->tensor];
    *partial = 0;
    if (t->dtype == DESCENT_F64) {
        double *s = t->aux[DESCENT_AUX_SLOW], *p = t->param;
        for (size_t j = ch->begin; j < ch->end; j++)
            p[j] = s[j] = s[j] + alpha * (p[j] - s[j]);
    } else {
        float *s = t->aux[DESCENT_AUX_SLOW], *p = t->param;
        const float a = (float)alpha;
        for (size_t j = ch->begin; j < ch->end; j++)
            p[j] = s[j] = s[j] + a * (p[j] - s[j]);
    }
    return 0;
}

static void lookahead_sync(descent_optimizer *opt)
{
    double alpha = opt->utils.lookahead_alpha;
    descent_for_chunks(opt, 0, opt->nchunks, lookahead_chunk, &alpha, NULL);
}

void descent_utils_after_step(descent_optimizer *opt)
{
    descent_utils *u = &opt->utils;
    if (u->accumulate > 1) {
        u->accum_count = 0;
        for (int i = 0; i < opt->ntensors; i++)
            aux_seed(&opt->tensors[i], DESCENT_AUX_ACCUM);
    }
    if (u->lookahead_k > 0 && ++u->lookahead_count % u->lookahead_k == 0)
        lookahead_sync(opt);
    if (u->ema_decay > 0) {
        if (!u->ema_fused) /* else applied in the update (step.c) */
            average_update(opt, DESCENT_AUX_EMA, u->ema_count, u->ema_decay);
        u->ema_count++;
    }
    u->ema_fused = 0;
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
            size_t bytes = t->n * aux_size(t);
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
