/* Schedules fitted to a training run: a length argument the user omitted
 * and that has no default in torch.optim.lr_scheduler is taken from the
 * run, as torch's OneCycleLR does with epochs= and steps_per_epoch=.
 *   OneCycleLR(max_lr, total_steps=None, epochs=None, steps_per_epoch=None):
 *     neither given: total_steps = the run's updates; epochs alone: the
 *     run's updates per epoch as steps_per_epoch; steps_per_epoch alone:
 *     the run's epochs as epochs;
 *   CosineAnnealingLR(T_max, eta_min=0): T_max = the run's updates;
 *   the named LambdaLR recipes of Hugging Face transformers (LinearWithWarmup,
 *     CosineWithWarmup, CosineWithHardRestartsWithWarmup,
 *     PolynomialDecayWithWarmup): num_training_steps = the run's updates;
 *     WarmupStableDecay with neither num_training_steps nor num_stable_steps:
 *     num_training_steps = the run's updates.
 * Fitted are the outermost call, and the schedule a warmup wrapper
 * (LinearWarmup, ExponentialWarmup and their Untuned forms) damps, which
 * runs the whole run beside the warmup; inside SequentialLR or
 * ChainedScheduler the length of a part is the user's choice. */
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

/* The argument `name` (positional index `index`) of the call, or NULL. */
static const spec_node *arg_of(const spec_node *call, const char *name, int index)
{
    for (int i = 0; i < call->n; i++) {
        const char *key = call->keys ? call->keys[i] : NULL;
        if (key ? strcmp(key, name) == 0 : i == index)
            return &call->items[i];
    }
    return NULL;
}

typedef struct insertion {
    size_t at; /* before the call's closing bracket */
    char text[160];
} insertion;

/* The insertion fitting one call, if it needs one; a warmup wrapper's
 * schedule runs beside its warmup for the whole run (the warmup only damps
 * it), so it is fitted in turn. */
static int fit_call(const char *spec, const spec_node *call, int64_t epochs, int64_t upe, int64_t updates,
                    insertion *ins, int max)
{
    if (!call || call->kind != SPEC_CALL || max <= 0)
        return 0;
    char add[128] = "";
    if (strcmp(call->str, "OneCycleLR") == 0 && !has_arg(call, "total_steps", 1)) {
        int e = has_arg(call, "epochs", 2), s = has_arg(call, "steps_per_epoch", 3);
        if (!e && !s)
            snprintf(add, sizeof add, "total_steps=%lld", (long long)updates);
        else if (e && !s)
            snprintf(add, sizeof add, "steps_per_epoch=%lld", (long long)upe);
        else if (!e && s)
            snprintf(add, sizeof add, "epochs=%lld", (long long)epochs);
    } else if (strcmp(call->str, "CosineAnnealingLR") == 0 && !has_arg(call, "T_max", 0)) {
        snprintf(add, sizeof add, "T_max=%lld", (long long)updates);
    } else if ((strcmp(call->str, "LinearWithWarmup") == 0 || strcmp(call->str, "CosineWithWarmup") == 0 ||
                strcmp(call->str, "CosineWithHardRestartsWithWarmup") == 0 ||
                strcmp(call->str, "PolynomialDecayWithWarmup") == 0) &&
               !has_arg(call, "num_training_steps", 1)) {
        snprintf(add, sizeof add, "num_training_steps=%lld", (long long)updates);
    } else if (strcmp(call->str, "WarmupStableDecay") == 0 && !has_arg(call, "num_training_steps", 2) &&
               !has_arg(call, "num_stable_steps", 3)) {
        snprintf(add, sizeof add, "num_training_steps=%lld", (long long)updates);
    } else if (strcmp(call->str, "LinearWarmup") == 0 || strcmp(call->str, "ExponentialWarmup") == 0) {
        return fit_call(spec, arg_of(call, "schedule", 1), epochs, upe, updates, ins, max);
    } else if (strcmp(call->str, "UntunedLinearWarmup") == 0 || strcmp(call->str, "UntunedExponentialWarmup") == 0) {
        return fit_call(spec, arg_of(call, "schedule", 0), epochs, upe, updates, ins, max);
    }
    if (!*add)
        return 0;
    size_t close = call->end;
    while (close > 0 && spec[close - 1] != ')')
        close--;
    if (close == 0)
        return 0;
    ins->at = close - 1;
    snprintf(ins->text, sizeof ins->text, "%s%s", call->n > 0 ? ", " : "", add);
    return 1;
}

int descent_train_fit_schedule(const char *spec, int64_t epochs, int64_t updates_per_epoch, int64_t updates,
                               char **out, descent_error *err)
{
    *out = NULL;
    spec_doc doc;
    int rc = descent_spec_parse(&doc, spec, NULL, err);
    if (rc < 0)
        return rc;
    insertion ins;
    int n = epochs > 0 && updates > 0 ? fit_call(spec, doc.root, epochs, updates_per_epoch, updates, &ins, 1) : 0;
    descent_spec_free(&doc);
    size_t len = strlen(spec), alen = n ? strlen(ins.text) : 0;
    char *s = malloc(len + alen + 1);
    if (!s)
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    size_t at = n ? ins.at : len;
    memcpy(s, spec, at);
    memcpy(s + at, n ? ins.text : "", alen);
    memcpy(s + at + alen, spec + at, len - at + 1);
    *out = s;
    return 0;
}
