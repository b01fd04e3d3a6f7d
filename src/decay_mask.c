/* Weight-decay masks, one of the training utilities (utils.c): tensors
 * stepped with weight_decay = 0 (PyTorch's no-decay parameter group for
 * biases and norms). docs/utilities.md gives the rules. */
#include "internal.h"

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

int descent_utils_check_tensor(const descent_optimizer *opt, int tensor)
{
    if (tensor < 0 || tensor >= opt->ntensors)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "tensor must be in [0, %d), got %d", opt->ntensors, tensor);
    return 0;
}

int descent_set_tensor_weight_decay(descent_optimizer *opt, int tensor, int enabled)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    int rc = descent_utils_check_tensor(opt, tensor);
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
    int rc = descent_utils_check_tensor(opt, tensor);
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

