/* Schedules fitted to a training run: a length argument the user omitted
 * and that has no default in torch.optim.lr_scheduler is taken from the
 * run, as torch's OneCycleLR does with epochs= and steps_per_epoch=.
 *   OneCycleLR(max_lr, total_steps=None, epochs=None, steps_per_epoch=None):
 *     neither given: total_steps = the run's updates; epochs alone: the
 *     run's updates per epoch as steps_per_epoch; steps_per_epoch alone:
 *     the run's epochs as epochs;
 *   CosineAnnealingLR(T_max, eta_min=0): T_max = the run's updates.
 * Only the outermost call is fitted: inside SequentialLR or a warmup the
 * length of a part is the user's choice. */
#include "models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Is argument `name` (positional index `index`) given in the call? */
static int has_arg(const spec_node *call, const char *name, int index)
{
    for (int i = 0; i < call->n; i++) {
        const char *key = call->keys ? call->keys[i] : NULL;
        if (key ? strcmp(key, name) == 0 : i == index)
            return 1;
    }
    return 0;
}

int descent_train_fit_schedule(const char *spec, int64_t epochs, int64_t updates_per_epoch, int64_t updates,
                               char **out, descent_error *err)
{
    *out = NULL;
    spec_doc doc;
    int rc = descent_spec_parse(&doc, spec, NULL, err);
    if (rc < 0)
        return rc;
    char add[160] = "";
    const spec_node *call = doc.root;
    if (call && call->kind == SPEC_CALL && epochs > 0 && updates > 0) {
        if (strcmp(call->str, "OneCycleLR") == 0 && !has_arg(call, "total_steps", 1)) {
            int e = has_arg(call, "epochs", 2), s = has_arg(call, "steps_per_epoch", 3);
            if (!e && !s)
                snprintf(add, sizeof add, "total_steps=%lld", (long long)updates);
            else if (e && !s)
                snprintf(add, sizeof add, "steps_per_epoch=%lld", (long long)updates_per_epoch);
            else if (!e && s)
                snprintf(add, sizeof add, "epochs=%lld", (long long)epochs);
        } else if (strcmp(call->str, "CosineAnnealingLR") == 0 && !has_arg(call, "T_max", 0)) {
            snprintf(add, sizeof add, "T_max=%lld", (long long)updates);
        }
    }
    /* The call's closing bracket is the last ')' of its text. */
    size_t close = call && *add ? call->end : 0;
    while (close > 0 && spec[close - 1] != ')')
        close--;
    size_t len = strlen(spec), alen = strlen(add);
    char *s = malloc(len + alen + 3);
    if (!s) {
        descent_spec_free(&doc);
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    }
    if (close == 0) {
        memcpy(s, spec, len + 1);
    } else {
        size_t at = close - 1, sep = call->n > 0 ? 2 : 0;
        memcpy(s, spec, at);
        memcpy(s + at, ", ", sep);
        memcpy(s + at + sep, add, alen);
        memcpy(s + at + sep + alen, spec + at, len - at + 1);
    }
    descent_spec_free(&doc);
    *out = s;
    return 0;
}
