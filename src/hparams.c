/* Hyperparameters: defaults, bounds checks and the mapping from spec strings
 * onto descent_hparams, driven by each algorithm's descriptor table. */
#include "internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

int descent_optimizer_count(void) { return descent_algo_count; }

const char *descent_optimizer_name(int i)
{
    return i >= 0 && i < descent_algo_count ? descent_algos[i]->name : NULL;
}

int descent_hparam_count(const char *optimizer)
{
    const descent_algo *algo = descent_find_algo(optimizer);
    if (!algo)
        return DESCENT_ERR_INVALID;
    int n = 0;
    while (algo->hparams[n].name)
        n++;
    return n;
}

int descent_hparam_describe(const char *optimizer, int i, descent_hparam_info *out)
{
    const descent_algo *algo = descent_find_algo(optimizer);
    if (!algo || !out || i < 0 || i >= descent_hparam_count(optimizer))
        return DESCENT_ERR_INVALID;
    const hp_desc *d = &algo->hparams[i];
    descent_hparams defaults;
    memset(&defaults, 0, sizeof defaults);
    algo->defaults(&defaults);
    memset(out, 0, sizeof *out);
    out->name = d->name;
    out->type = (int)d->type; /* hp_type and descent_hparam_type number alike */
    out->default_value[0] = descent_hp_read(&defaults, d, 0);
    out->default_value[1] = d->type == HP_PAIR ? descent_hp_read(&defaults, d, 1) : 0;
    out->lo = d->lo;
    out->hi = (d->bounds & HP_NO_HI) ? INFINITY : d->hi;
    out->lo_open = (d->bounds & HP_LO_OPEN) != 0;
    out->hi_open = (d->bounds & HP_HI_OPEN) != 0;
    out->ends_only = (d->bounds & HP_ENDS_ONLY) != 0;
    out->none_ok = (d->bounds & HP_NONE_OK) != 0;
    out->choices = d->choices;
    out->meaning = d->doc;
    if (d->type == HP_BOOL || d->type == HP_CHOICE) {
        out->lo = 0;
        out->hi = 1;
    }
    if (d->type == HP_CHOICE) {
        int n = 0;
        while (d->choices[n])
            n++;
        out->hi = n - 1;
    }
    return 0;
}

const descent_algo *descent_find_algo(const char *name)
{
    if (!name)
        return NULL;
    for (int i = 0; i < descent_algo_count; i++)
        if (descent_name_eq(name, descent_algos[i]->name) ||
            (descent_algos[i]->alias && descent_name_eq(name, descent_algos[i]->alias)))
            return descent_algos[i];
    return NULL;
}

/* "betas[1]" -> descriptor betas, index 1; "lr" -> lr, index 0. */
const hp_desc *descent_hp_find(const descent_algo *algo, const char *name, int *index)
{
    char base[64];
    int idx = 0;
    const char *br = strchr(name, '[');
    size_t n = br ? (size_t)(br - name) : strlen(name);
    if (n >= sizeof base)
        return NULL;
    memcpy(base, name, n);
    base[n] = '\0';
    if (br) {
        if ((br[1] != '0' && br[1] != '1') || br[2] != ']' || br[3] != '\0')
            return NULL;
        idx = br[1] - '0';
    }
    for (const hp_desc *d = algo->hparams; d->name; d++) {
        if (strcmp(d->name, base) == 0) {
            if (br && d->type != HP_PAIR)
                return NULL;
            if (index)
                *index = idx;
            return d;
        }
    }
    return NULL;
}

double descent_hp_read(const descent_hparams *hp, const hp_desc *d, int index)
{
    const char *base = (const char *)hp + d->offset;
    if (d->type == HP_BOOL || d->type == HP_CHOICE || d->type == HP_INT) {
        int v;
        memcpy(&v, base, sizeof v);
        return v;
    }
    double v;
    memcpy(&v, base + (size_t)index * sizeof(double), sizeof v);
    return v;
}

void descent_hp_write(descent_hparams *hp, const hp_desc *d, int index, double v)
{
    char *base = (char *)hp + d->offset;
    if (d->type == HP_BOOL || d->type == HP_CHOICE || d->type == HP_INT) {
        int iv = (int)v;
        memcpy(base, &iv, sizeof iv);
    } else {
        memcpy(base + (size_t)index * sizeof(double), &v, sizeof v);
    }
}

static void describe_range(const hp_desc *d, char *buf, size_t cap)
{
    if (d->bounds & HP_NO_HI)
        snprintf(buf, cap, "%s %g", (d->bounds & HP_LO_OPEN) ? ">" : ">=", d->lo);
    else
        snprintf(buf, cap, "in %c%g, %g%c", (d->bounds & HP_LO_OPEN) ? '(' : '[', d->lo, d->hi,
                 (d->bounds & HP_HI_OPEN) ? ')' : ']');
}

int descent_hp_check(const hp_desc *d, int index, double v, descent_error *err)
{
    char name[80];
    if (d->type == HP_PAIR)
        snprintf(name, sizeof name, "%s[%d]", d->name, index);
    else
        snprintf(name, sizeof name, "%s", d->name);
    if (d->type == HP_BOOL) {
        if (v != 0 && v != 1)
            return descent_fail(err, DESCENT_ERR_INVALID, "%s must be True or False, got %g", name, v);
        return 0;
    }
    if (d->type == HP_CHOICE) {
        int n = 0;
        while (d->choices[n])
            n++;
        if (!(v >= 0 && v < n && v == floor(v)))
            return descent_fail(err, DESCENT_ERR_INVALID, "%s: no choice numbered %g", name, v);
        return 0;
    }
    if (isnan(v) && (d->bounds & HP_NONE_OK))
        return 0; /* None */
    if (d->type == HP_INT && (d->bounds & HP_ENDS_ONLY)) {
        if (v != d->lo && v != d->hi)
            return descent_fail(err, DESCENT_ERR_INVALID, "%s must be %g or %g, got %.17g", name, d->lo, d->hi, v);
        return 0;
    }
    if (d->type == HP_INT && v != floor(v))
        return descent_fail(err, DESCENT_ERR_INVALID, "%s must be an integer, got %.17g", name, v);
    bool ok = !isnan(v) && ((d->bounds & HP_LO_OPEN) ? v > d->lo : v >= d->lo);
    if (ok && !(d->bounds & HP_NO_HI))
        ok = (d->bounds & HP_HI_OPEN) ? v < d->hi : v <= d->hi;
    if (ok && isinf(v))
        ok = false;
    if (!ok) {
        char range[64];
        describe_range(d, range, sizeof range);
        return descent_fail(err, DESCENT_ERR_INVALID, "%s must be %s, got %.17g", name, range, v);
    }
    return 0;
}

int descent_hparams_validate(const descent_algo *algo, const descent_hparams *hp, descent_error *err)
{
    for (const hp_desc *d = algo->hparams; d->name; d++) {
        int n = d->type == HP_PAIR ? 2 : 1;
        for (int k = 0; k < n; k++) {
            int rc = descent_hp_check(d, k, descent_hp_read(hp, d, k), err);
            if (rc < 0)
                return rc;
        }
    }
    return algo->validate ? algo->validate(hp, err) : 0;
}

/* f32 and bf16 share float's exponent range: a value outside it becomes inf
 * or 0 (or a subnormal that has lost its precision) in the element loop,
 * and a zero gradient then gives NaN. NaN stands for None here. */
int descent_fits_float(double v)
{
    double a = fabs(v);
    return isnan(v) || v == 0 || (a >= FLT_MIN && a <= FLT_MAX);
}

static int unfit(descent_error *err, const char *prefix, const char *name, double v, descent_dtype dtype)
{
    return descent_fail(err, DESCENT_ERR_INVALID,
                        "%s%s = %g is outside the range of a %s tensor (magnitudes %g to %g, or 0); "
                        "use a DESCENT_F64 tensor or a value in range",
                        prefix, name, v, dtype == DESCENT_BF16 ? "bf16" : "f32", (double)FLT_MIN, (double)FLT_MAX);
}

int descent_hparams_fit_dtype(const descent_algo *algo, const descent_hparams *hp, descent_dtype dtype,
                              descent_error *err)
{
    if (dtype == DESCENT_F64)
        return 0;
    for (const hp_desc *d = algo->hparams; d->name; d++) {
        if (d->type != HP_REAL && d->type != HP_PAIR)
            continue;
        for (int k = 0; k < (d->type == HP_PAIR ? 2 : 1); k++) {
            double v = descent_hp_read(hp, d, k);
            if (descent_fits_float(v))
                continue;
            char name[80];
            if (d->type == HP_PAIR)
                snprintf(name, sizeof name, "%s[%d]", d->name, k);
            else
                snprintf(name, sizeof name, "%s", d->name);
            return unfit(err, "", name, v, dtype);
        }
    }
    return 0;
}

descent_dtype descent_group_float_dtype(const descent_optimizer *opt, int group)
{
    for (int i = 0; i < opt->ntensors; i++)
        if (opt->tensors[i].group == group && opt->tensors[i].dtype != DESCENT_F64)
            return opt->tensors[i].dtype;
    return DESCENT_F64;
}

int descent_group_value_fits(const descent_optimizer *opt, int group, const char *name, double v, descent_error *err)
{
    descent_dtype dtype = descent_group_float_dtype(opt, group);
    if (dtype == DESCENT_F64 || descent_fits_float(v))
        return 0;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "group %d: ", group);
    return unfit(err, prefix, name, v, dtype);
}

static int hparams_defaults(descent_hparams *hp, const char *optimizer, descent_error *err)
{
    const descent_algo *algo = descent_find_algo(optimizer);
    if (!algo)
        return descent_fail(err, DESCENT_ERR_INVALID, "unknown optimizer '%s'", optimizer ? optimizer : "(null)");
    memset(hp, 0, sizeof *hp);
    algo->defaults(hp);
    hp->struct_size = sizeof *hp;
    hp->optimizer = algo->name;
    return 0;
}

static int hparams_size_check(const descent_hparams *hp, size_t size, descent_error *err)
{
    if (!hp)
        return descent_fail(err, DESCENT_ERR_INVALID, "descent_hparams pointer is NULL");
    return descent_struct_size_check(size, DESCENT_HPARAMS_MIN_SIZE, sizeof *hp, "descent_hparams",
                                     "descent_hparams_init", err);
}

int descent_hparams_init_sized(descent_hparams *hp, size_t struct_size, const char *optimizer, descent_error *err)
{
    descent_hparams full;
    int rc = hparams_size_check(hp, struct_size, err);
    if (rc == 0 && (rc = hparams_defaults(&full, optimizer, err)) == 0)
        descent_struct_out(hp, struct_size, &full);
    return rc;
}

int descent_hparams_import(descent_hparams *full, const descent_hparams *user, descent_error *err)
{
    int rc = hparams_size_check(user, user ? user->struct_size : 0, err);
    if (rc < 0)
        return rc;
    if (!user->optimizer)
        return descent_fail(err, DESCENT_ERR_INVALID,
                            "descent_hparams.optimizer is NULL; fill the struct with descent_hparams_init()");
    if ((rc = hparams_defaults(full, user->optimizer, err)) < 0)
        return rc;
    descent_struct_in(full, sizeof *full, user);
    full->optimizer = descent_find_algo(user->optimizer)->name;
    return 0;
}

/* Convert one argument value to the descriptor's type and check its range,
 * pointing at the value's text on error. */
static int apply_one(descent_hparams *hp, const hp_desc *d, const spec_doc *doc, const spec_node *v,
                     descent_error *err)
{
    if (d->type == HP_PAIR) {
        if ((v->kind != SPEC_TUPLE && v->kind != SPEC_LIST) || v->n != 2)
            return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC, "%s must be a pair (a, b), got %s",
                                     d->name, descent_spec_kind_name(v->kind));
        for (int k = 0; k < 2; k++) {
            const spec_node *x = &v->items[k];
            if (x->kind == SPEC_NONE && (d->bounds & HP_NONE_OK)) {
                descent_hp_write(hp, d, k, NAN); /* None */
                continue;
            }
            if (x->kind != SPEC_NUM)
                return descent_spec_fail(doc, x, err, DESCENT_ERR_SPEC, "%s[%d] must be a number, got %s",
                                         d->name, k, descent_spec_kind_name(x->kind));
            descent_error e;
            if (descent_hp_check(d, k, x->num, &e) < 0)
                return descent_spec_fail(doc, x, err, DESCENT_ERR_INVALID, "%s", e.message);
            descent_hp_write(hp, d, k, x->num);
        }
        return 0;
    }
    double value;
    if (d->type == HP_BOOL) {
        if (v->kind != SPEC_BOOL)
            return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC, "%s must be True or False, got %s",
                                     d->name, descent_spec_kind_name(v->kind));
        value = v->num;
    } else if (d->type == HP_CHOICE) {
        if (v->kind != SPEC_STR)
            return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC, "%s must be a quoted string, got %s",
                                     d->name, descent_spec_kind_name(v->kind));
        int k = 0;
        while (d->choices[k] && strcmp(d->choices[k], v->str) != 0)
            k++;
        if (!d->choices[k]) {
            char list[256] = "";
            for (int j = 0; d->choices[j]; j++) {
                size_t used = strlen(list);
                snprintf(list + used, sizeof list - used, "%s'%s'", j ? ", " : "", d->choices[j]);
            }
            return descent_spec_fail(doc, v, err, DESCENT_ERR_INVALID, "%s must be one of %s, got '%s'",
                                     d->name, list, v->str);
        }
        value = k;
    } else {
        if (v->kind != SPEC_NUM)
            return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC, "%s must be a number, got %s", d->name,
                                     descent_spec_kind_name(v->kind));
        value = v->num;
    }
    descent_error e;
    if (descent_hp_check(d, 0, value, &e) < 0)
        return descent_spec_fail(doc, v, err, DESCENT_ERR_INVALID, "%s", e.message);
    descent_hp_write(hp, d, 0, value);
    return 0;
}

/* Arguments of torch.optim constructors that only choose among torch's
 * implementations of one formula (for-each over tensors, fused kernels, CUDA
 * graph capture, autograd through the step). Pasted from PyTorch they are
 * accepted and change nothing: descent has one implementation. */
static const char *const implementation_args[] = {"foreach", "fused", "capturable", "differentiable", NULL};

static int implementation_arg(const char *key)
{
    for (int k = 0; implementation_args[k]; k++)
        if (strcmp(key, implementation_args[k]) == 0)
            return 1;
    return 0;
}

/* The descriptor positional argument i fills (torch's order, keyword-only
 * arguments skipped), or NULL past the last; *count gets how many there are. */
static const hp_desc *positional(const descent_algo *algo, int i, int *count)
{
    int k = 0;
    const hp_desc *found = NULL;
    for (const hp_desc *d = algo->hparams; d->name; d++) {
        if (d->bounds & HP_KW_ONLY)
            continue;
        if (k == i)
            found = d;
        k++;
    }
    if (count)
        *count = k;
    return found;
}

/* The keyword of argument i, or the name of the descriptor a positional
 * argument i stands for. */
static const char *arg_name(const descent_algo *algo, const spec_node *call, int i)
{
    if (call->keys && call->keys[i])
        return call->keys[i];
    const hp_desc *d = positional(algo, i, NULL);
    return d ? d->name : NULL;
}

int descent_hparams_apply_args(descent_hparams *hp, const descent_algo *algo, const spec_doc *doc,
                               const spec_node *call, descent_error *err)
{
    for (int i = 0; i < call->n; i++) {
        const spec_node *v = &call->items[i];
        const char *key = call->keys ? call->keys[i] : NULL;
        const hp_desc *d = NULL;
        if (!key && i == 0 && (v->kind == SPEC_NAME || v->kind == SPEC_CALL || v->kind == SPEC_LIST))
            /* torch.optim.SGD(params, lr=0.1): the tensors come through
             * descent_add_tensor, not the spec. */
            return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC,
                                     "%s takes no parameters argument: drop it (write %s(lr=...)); tensors are "
                                     "registered with descent_add_tensor, or come from the command's data",
                                     algo->name, algo->name);
        if (key && implementation_arg(key) && !descent_hp_find(algo, key, NULL)) {
            if (v->kind != SPEC_NONE && v->kind != SPEC_BOOL)
                return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC,
                                         "%s must be None, True or False, got %s (it selects a PyTorch "
                                         "implementation and changes nothing here)",
                                         key, descent_spec_kind_name(v->kind));
            for (int j = 0; j < i; j++)
                if (call->keys[j] && strcmp(call->keys[j], key) == 0)
                    return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC, "argument '%s' given twice", key);
            continue;
        }
        if (!key) {
            /* Positional arguments follow the descriptor order (lr first, as
             * in every torch.optim constructor after params). */
            int k = 0;
            d = positional(algo, i, &k);
            if (!d)
                return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC, "%s takes at most %d positional arguments",
                                         algo->name, k);
        } else {
            d = descent_hp_find(algo, key, NULL);
            if (!d || strchr(key, '[')) {
                /* Point at the keyword itself: it sits just before the value. */
                spec_node at = *v;
                size_t klen = strlen(key);
                size_t p = v->pos;
                while (p > 0 && doc->text[p - 1] != '=')
                    p--;
                at.pos = p > klen ? p - 1 - klen : 0;
                while (at.pos < p && doc->text[at.pos] != key[0])
                    at.pos++;
                at.end = at.pos + klen;
                char names[400] = "";
                for (const hp_desc *q = algo->hparams; q->name; q++) {
                    size_t used = strlen(names);
                    snprintf(names + used, sizeof names - used, "%s%s", q == algo->hparams ? "" : ", ", q->name);
                }
                const char *list[64];
                int nl = 0;
                for (const hp_desc *q = algo->hparams; q->name && nl < 64; q++)
                    list[nl++] = q->name;
                const char *hint = descent_closest_name(key, list, nl);
                if (hint)
                    return descent_spec_fail(doc, &at, err, DESCENT_ERR_SPEC,
                                             "%s has no argument '%s'; did you mean '%s'? (it takes %s)", algo->name,
                                             key, hint, names);
                return descent_spec_fail(doc, &at, err, DESCENT_ERR_SPEC, "%s has no argument '%s' (it takes %s)",
                                         algo->name, key, names);
            }
            /* Given twice, by keyword or once by position and once by
             * keyword (Python's "got multiple values for argument"). */
            for (int j = 0; j < i; j++) {
                const char *other = arg_name(algo, call, j);
                if (other && strcmp(other, d->name) == 0)
                    return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC, "argument '%s' given twice%s", key,
                                             call->keys[j] ? "" : " (by position and by keyword)");
            }
        }
        int rc = apply_one(hp, d, doc, v, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int descent_hparams_from_node(descent_hparams *hp, const spec_doc *doc, const spec_node *call,
                              descent_error *err)
{
    if (call->kind != SPEC_CALL && call->kind != SPEC_NAME)
        return descent_spec_fail(doc, call, err, DESCENT_ERR_SPEC, "expected an optimizer such as Adam(lr=1e-3), got %s",
                                 descent_spec_kind_name(call->kind));
    const descent_algo *algo = descent_find_algo(call->str);
    if (!algo) {
        char names[600] = "";
        for (int i = 0; i < descent_algo_count; i++) {
            size_t used = strlen(names);
            snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", descent_algos[i]->name);
        }
        spec_node at = *call;
        at.end = at.pos + strlen(call->str);
        const char *list[64];
        int nl = 0;
        for (int i = 0; i < descent_algo_count && nl < 64; i++)
            list[nl++] = descent_algos[i]->name;
        const char *hint = descent_closest_name(call->str, list, nl);
        if (hint)
            return descent_spec_fail(doc, &at, err, DESCENT_ERR_SPEC, "unknown optimizer '%s'; did you mean '%s'? (known: %s)",
                                     call->str, hint, names);
        return descent_spec_fail(doc, &at, err, DESCENT_ERR_SPEC, "unknown optimizer '%s' (known: %s)", call->str,
                                 names);
    }
    descent_hparams tmp;
    hparams_defaults(&tmp, algo->name, err);
    if (call->kind == SPEC_CALL) {
        int rc = descent_hparams_apply_args(&tmp, algo, doc, call, err);
        if (rc < 0)
            return rc;
    }
    if (algo->validate) {
        descent_error e;
        if (algo->validate(&tmp, &e) < 0)
            return descent_spec_fail(doc, call, err, DESCENT_ERR_INVALID, "%s", e.message);
    }
    *hp = tmp;
    return 0;
}

int descent_hparams_parse_with(descent_hparams *hp, const char *spec, const descent_allocator *alloc,
                               descent_error *err)
{
    spec_doc doc;
    int rc = descent_spec_parse(&doc, spec, alloc, err);
    if (rc < 0)
        return rc;
    rc = descent_hparams_from_node(hp, &doc, doc.root, err);
    descent_spec_free(&doc);
    return rc;
}

int descent_hparams_parse_sized(descent_hparams *hp, size_t struct_size, const char *spec, descent_error *err)
{
    descent_hparams full;
    int rc = hparams_size_check(hp, struct_size, err);
    if (rc == 0 && (rc = descent_hparams_parse_with(&full, spec, NULL, err)) == 0)
        descent_struct_out(hp, struct_size, &full);
    return rc;
}
