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
    if (k > 1 && opt->utils.step_clip)
        return descent_opt_fail(opt, DESCENT_ERR_STATE,
                                "gradient accumulation cannot be turned on while descent_set_step_clip is on");
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

