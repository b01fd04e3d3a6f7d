/* Parameter averages, one of the training utilities (utils.c): the EMA
 * (Polyak averaging with decay) and SWA (Izmailov et al. 2018, the running
 * mean), in auxiliary buffers, threaded over the step's chunks.
 * docs/utilities.md gives the formulas and their PyTorch counterparts. */
#include "passes.h"

#include <string.h>

/* ---- parameter averages ------------------------------------------------- */

int descent_set_ema(descent_optimizer *opt, double decay)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (!(decay >= 0 && decay < 1))
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "EMA decay must be in [0, 1) (0 turns EMA off), got %g",
                                decay);
    int rc = descent_aux_switch(opt, DESCENT_AUX_EMA, decay > 0, "EMA");
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
    int rc = descent_aux_switch(opt, DESCENT_AUX_SWA, enabled, "SWA");
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

void descent_average_update(descent_optimizer *opt, int kind, int64_t count, double decay)
{
    if (count == 0) {
        for (int i = 0; i < opt->ntensors; i++)
            descent_aux_seed(&opt->tensors[i], kind);
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
    descent_average_update(opt, DESCENT_AUX_SWA, opt->utils.swa_count, 0);
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
    if (rc < 0 || (rc = descent_utils_check_tensor(opt, tensor)) < 0)
        return rc;
    const descent_tensor *t = &opt->tensors[tensor];
    if (!out && t->n)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "out must not be NULL");
    if (t->n)
        memcpy(out, t->aux[which == DESCENT_AVERAGE_EMA ? DESCENT_AUX_EMA : DESCENT_AUX_SWA], t->n * descent_aux_size(t));
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
        swap_bytes(t->param, t->aux[kind], t->n * descent_aux_size(t));
    }
    return 0;
}

