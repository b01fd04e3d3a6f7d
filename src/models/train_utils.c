/* The training utilities as `descent train` and descent_trainer use them
 * (docs/utilities.md): checks of the configuration, setting them up on the
 * trainer's optimizer, and gradient clipping before each step. */
#include "models.h"

#include <math.h>

int descent_train_check_utilities(const descent_train_config *c, descent_error *err)
{
    if (c->accumulate < 0 || c->accumulate > 1000000)
        return descent_fail(err, DESCENT_ERR_INVALID, "accumulate must be in [0, 1000000], got %d", c->accumulate);
    if (c->no_decay_1d != 0 && c->no_decay_1d != 1)
        return descent_fail(err, DESCENT_ERR_INVALID, "no_decay_1d must be 0 or 1, got %d", c->no_decay_1d);
    if (!(c->clip_norm >= 0 && isfinite(c->clip_norm)))
        return descent_fail(err, DESCENT_ERR_INVALID, "clip_norm must be finite and >= 0 (0: off), got %g",
                            c->clip_norm);
    if (!(c->clip_value >= 0 && isfinite(c->clip_value)))
        return descent_fail(err, DESCENT_ERR_INVALID, "clip_value must be finite and >= 0 (0: off), got %g",
                            c->clip_value);
    if (!(c->ema_decay >= 0 && c->ema_decay < 1))
        return descent_fail(err, DESCENT_ERR_INVALID, "ema_decay must be in [0, 1) (0: off), got %g", c->ema_decay);
    if (c->swa_start < 0)
        return descent_fail(err, DESCENT_ERR_INVALID, "swa_start must be >= 0 (0: off), got %d", c->swa_start);
    if (c->swa_start > 0 && c->ema_decay > 0)
        return descent_fail(err, DESCENT_ERR_INVALID,
                            "choose one average for validation: ema_decay or swa_start, not both");
    return 0;
}

int descent_train_apply_utilities(const descent_train_config *c, descent_optimizer *opt)
{
    int rc = 0;
    if (c->accumulate > 1)
        rc = descent_set_accumulation(opt, c->accumulate);
    if (rc == 0 && c->no_decay_1d)
        rc = descent_set_no_decay_1d(opt, 1);
    if (rc == 0 && c->ema_decay > 0)
        rc = descent_set_ema(opt, c->ema_decay);
    if (rc == 0 && c->swa_start > 0)
        rc = descent_set_swa(opt, 1);
    return rc;
}
