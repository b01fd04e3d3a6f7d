/* Gradient accumulation, one of the training utilities (utils.c): the
 * update runs on the mean of k micro-batches, summed in an auxiliary buffer.
 * docs/utilities.md gives the formula and its PyTorch counterpart. */
#include "internal.h"

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
    int rc = descent_aux_switch(opt, DESCENT_AUX_ACCUM, k > 1, "gradient accumulation");
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

/* Elements [begin, begin + n) of tensor t's micro-batch: sum + g, or on
 * the cycle's last (last set) the mean (sum + g) / k, in the tensor's
 * precision, into out (the sum itself, or a block the step's clipping
 * reads before the sum is touched: clip.c). */
void descent_accum_range(const descent_tensor *t, int k, int last, size_t begin, size_t n, void *out)
{
    if (t->dtype == DESCENT_F64) {
        const double *s = (const double *)t->aux[DESCENT_AUX_ACCUM] + begin, *g = (const double *)t->grad + begin;
        double *o = out, kd = (double)k;
        for (size_t j = 0; j < n; j++)
            o[j] = last ? (s[j] + g[j]) / kd : s[j] + g[j];
    } else {
        const float *s = (const float *)t->aux[DESCENT_AUX_ACCUM] + begin, *g = (const float *)t->grad + begin;
        float *o = out, kf = (float)k;
        for (size_t j = 0; j < n; j++)
            o[j] = last ? (s[j] + g[j]) / kf : s[j] + g[j];
    }
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
        descent_accum_range(t, u->accumulate, last, 0, t->n, t->aux[DESCENT_AUX_ACCUM]);
    }
    if (!last) {
        u->accum_count++;
        return DESCENT_STEP_ACCUMULATED;
    }
    return 0;
}
