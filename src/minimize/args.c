/* Argument binding for spec strings that have no descent_hparams fields. */
#include "args.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int descent_args_bind(const spec_doc *doc, const spec_node *call, const char *what, const char *const *names,
                      const spec_node **out, descent_error *err)
{
    int count = 0;
    while (names[count])
        count++;
    for (int k = 0; k < count; k++)
        out[k] = NULL;
    if (call->kind != SPEC_CALL)
        return 0; /* a bare name: every argument takes its default */
    for (int i = 0; i < call->n; i++) {
        const spec_node *v = &call->items[i];
        const char *key = call->keys ? call->keys[i] : NULL;
        int k = i;
        if (key) {
            for (k = 0; k < count && strcmp(names[k], key) != 0; k++)
                ;
            if (k == count) {
                char list[300] = "";
                for (int j = 0; j < count; j++) {
                    size_t used = strlen(list);
                    snprintf(list + used, sizeof list - used, "%s%s", j ? ", " : "", names[j]);
                }
                return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC, "%s has no argument '%s' (it takes %s)",
                                         what, key, count ? list : "none");
            }
        } else if (k >= count) {
            return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC, "%s takes at most %d positional argument%s", what,
                                     count, count == 1 ? "" : "s");
        }
        if (out[k])
            return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC, "argument '%s' given twice", names[k]);
        out[k] = v;
    }
    return 0;
}

int descent_args_real(const spec_doc *doc, const spec_node *v, const char *name, double lo, bool lo_open, double hi,
                      double *out, descent_error *err)
{
    if (!v)
        return 0;
    if (v->kind != SPEC_NUM)
        return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC, "%s must be a number, got %s", name,
                                 descent_spec_kind_name(v->kind));
    double x = v->num;
    if (!isfinite(x) || (lo_open ? !(x > lo) : !(x >= lo)) || !(x <= hi)) {
        char range[96];
        if (isinf(hi))
            snprintf(range, sizeof range, "%s %g", lo_open ? ">" : ">=", lo);
        else
            snprintf(range, sizeof range, "in %c%g, %g]", lo_open ? '(' : '[', lo, hi);
        return descent_spec_fail(doc, v, err, DESCENT_ERR_INVALID, "%s must be %s, got %.17g", name, range, x);
    }
    *out = x;
    return 0;
}

int descent_args_size(const spec_doc *doc, const spec_node *v, const char *name, size_t lo, size_t hi, size_t *out,
                      descent_error *err)
{
    if (!v)
        return 0;
    if (v->kind != SPEC_NUM || !v->is_int)
        return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC, "%s must be an integer, got %s", name,
                                 v->kind == SPEC_NUM ? "a real number" : descent_spec_kind_name(v->kind));
    if (!(v->num >= (double)lo && v->num <= (double)hi))
        return descent_spec_fail(doc, v, err, DESCENT_ERR_INVALID, "%s must be in [%zu, %zu], got %.17g", name, lo, hi,
                                 v->num);
    *out = (size_t)v->num;
    return 0;
}

int descent_args_choice(const spec_doc *doc, const spec_node *v, const char *name, const char *const *choices,
                        int *out, descent_error *err)
{
    if (!v)
        return 0;
    char list[200] = "";
    for (int j = 0; choices[j]; j++) {
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s'%s'", j ? ", " : "", choices[j]);
    }
    if (v->kind != SPEC_STR)
        return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC, "%s must be one of %s (quoted), got %s", name, list,
                                 descent_spec_kind_name(v->kind));
    for (int j = 0; choices[j]; j++)
        if (strcmp(choices[j], v->str) == 0) {
            *out = j;
            return 0;
        }
    return descent_spec_fail(doc, v, err, DESCENT_ERR_INVALID, "%s must be one of %s, got '%s'", name, list, v->str);
}
