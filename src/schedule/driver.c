/* The generic schedule driver: spec parsing against each kind's argument
 * table, binding a schedule tree to an optimizer's groups, stepping it,
 * checkpoint hooks and the pure lr_at. Nothing here knows a particular
 * schedule; the kinds live in one file per family.
 *
 * All mutable schedule state is one block of doubles (the root lane, then
 * each node's state and private lane in pre-order), so saving, loading and
 * rolling back a failed step are plain copies. */
#include "schedule.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct descent_schedule descent_schedule;

struct descent_schedule {
    descent_mem mem;
    sched_node *root;
    char *canon;          /* canonical spec: every argument, defaults filled in */
    int ng;
    const char *mom_name; /* "momentum", "betas[0]" or NULL */
    double *block;        /* all state */
    size_t nblock;
    double *scratch;      /* a copy of block, to undo a failed step */
    double *attach;       /* per group lr, momentum, initial_lr when attached */
    sched_lane root_lane;
    int reads_metric;
    descent_lr_callback *cb; /* the callbacks LambdaLR / MultiplicativeLR nodes index */
    int ncb;
};

#define SCHED_MAGIC 0x44484353u /* "SCHD" */
#define SCHED_FORMAT 1u

/* ---- generic hooks with defaults --------------------------------------- */

int sched_init(sched_node *n, sched_ctx *c) { return n->kind->init(n, c); }

int sched_step(sched_node *n, sched_ctx *c, double metric) { return n->kind->step(n, c, metric); }

int sched_restart(sched_node *n, sched_ctx *c)
{
    return n->kind->restart ? n->kind->restart(n, c) : n->kind->init(n, c);
}

int sched_enter(sched_node *n, sched_ctx *c)
{
    if (n->kind->enter)
        return n->kind->enter(n, c);
    if (*n->lane.initial_set != 0)
        for (int g = 0; g < c->ng; g++)
            n->lane.lr[g] = n->lane.initial_lr[g];
    return n->kind->init(n, c);
}

int sched_lr_at(const sched_node *n, double base_lr, int64_t t, double *lr, descent_error *err)
{
    if (!n->kind->lr_at)
        return descent_fail(err, DESCENT_ERR_INVALID,
                            "%s has no closed form: its lr depends on %s; attach it with descent_set_schedule", n->kind->name,
                            n->kind->reads_metric ? "the metrics it is fed" : "the steps before");
    if (t < 0)
        return descent_fail(err, DESCENT_ERR_INVALID, "step must be >= 0, got %lld", (long long)t);
    return n->kind->lr_at(n, base_lr, t, lr, err);
}

/* ---- parsing ------------------------------------------------------------ */

static int takes_callbacks(const sched_kind *kind)
{
    for (int i = 0; i < sched_callback_kind_count; i++)
        if (kind == sched_callback_kinds[i])
            return 1;
    return 0;
}

static const sched_kind *find_kind(const char *name)
{
    for (int i = 0; i < sched_kind_count; i++)
        if (descent_name_eq(name, sched_kinds[i]->name))
            return sched_kinds[i];
    for (int i = 0; i < sched_callback_kind_count; i++)
        if (descent_name_eq(name, sched_callback_kinds[i]->name))
            return sched_callback_kinds[i];
    return NULL;
}

static void free_node(const descent_mem *m, sched_node *n)
{
    if (!n)
        return;
    for (int i = 0; i < n->nchild; i++)
        free_node(m, n->child[i]);
    for (int i = 0; i < n->nargs; i++)
        if (n->list)
            descent_mem_free(m, n->list[i]);
    descent_mem_free(m, n->child);
    descent_mem_free(m, n->list);
    descent_mem_free(m, n->list_len);
    descent_mem_free(m, n->arg);
    descent_mem_free(m, n);
}

/* A node whose text is the keyword of an argument (just before its value). */
static spec_node keyword_at(const spec_doc *doc, const spec_node *v, const char *key)
{
    spec_node at = *v;
    size_t klen = strlen(key), p = v->pos;
    while (p > 0 && doc->text[p - 1] != '=')
        p--;
    at.pos = p > klen ? p - 1 - klen : 0;
    while (at.pos < p && doc->text[at.pos] != key[0])
        at.pos++;
    at.end = at.pos + klen;
    return at;
}

/* The name of a call, for pointing at it. */
static spec_node name_at(const spec_node *call)
{
    spec_node at = *call;
    at.end = at.pos + (call->str ? strlen(call->str) : 1);
    return at;
}

static int range_ok(const sched_arg *a, double v)
{
    if (isnan(v) || isinf(v))
        return 0;
    if ((a->bounds & HP_LO_OPEN) ? !(v > a->lo) : !(v >= a->lo))
        return 0;
    if (!(a->bounds & HP_NO_HI) && ((a->bounds & HP_HI_OPEN) ? !(v < a->hi) : !(v <= a->hi)))
        return 0;
    return 1;
}

static void describe_range(const sched_arg *a, char *buf, size_t cap)
{
    if (a->bounds & HP_NO_HI)
        snprintf(buf, cap, "%s %g", (a->bounds & HP_LO_OPEN) ? ">" : ">=", a->lo);
    else
        snprintf(buf, cap, "in %c%g, %g%c", (a->bounds & HP_LO_OPEN) ? '(' : '[', a->lo, a->hi,
                 (a->bounds & HP_HI_OPEN) ? ')' : ']');
}

static int check_number(const sched_node *n, const sched_arg *a, const spec_doc *doc, const spec_node *v, int integer,
                        descent_error *err)
{
    if (v->kind != SPEC_NUM)
        return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC, "%s: %s must be %s, got %s", n->kind->name, a->name,
                                 integer ? "an integer" : "a number", descent_spec_kind_name(v->kind));
    /* An integer may be written 10 or 10.0 (Python accepts both for most). */
    if (integer && (v->num != floor(v->num) || fabs(v->num) > 9007199254740992.0))
        return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC, "%s: %s must be an integer, got %.17g", n->kind->name,
                                 a->name, v->num);
    if (!range_ok(a, v->num)) {
        char range[64];
        describe_range(a, range, sizeof range);
        return descent_spec_fail(doc, v, err, DESCENT_ERR_INVALID, "%s: %s must be %s, got %.17g", n->kind->name,
                                 a->name, range, v->num);
    }
    return 0;
}

static int parse_node(sched_node **out, const spec_doc *doc, const spec_node *call, descent_optimizer *opt,
                      int ncb, const descent_mem *m, descent_error *err);

/* Convert one argument value; children are appended to n->child. */
static int parse_arg(sched_node *n, int i, const spec_doc *doc, const spec_node *v, descent_optimizer *opt, int ncb,
                     const descent_mem *m, descent_error *err)
{
    const sched_arg *a = &n->kind->args[i];
    if (v->kind == SPEC_NONE) {
        if (!(a->flags & SA_NONE_OK))
            return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC, "%s: %s must not be None", n->kind->name, a->name);
        n->arg[i] = NAN;
        return 0;
    }
    switch (a->type) {
    case SA_REAL:
    case SA_INT: {
        int rc = check_number(n, a, doc, v, a->type == SA_INT, err);
        if (rc < 0)
            return rc;
        n->arg[i] = v->num;
        return 0;
    }
    case SA_BOOL:
        if (v->kind != SPEC_BOOL)
            return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC, "%s: %s must be True or False, got %s",
                                     n->kind->name, a->name, descent_spec_kind_name(v->kind));
        n->arg[i] = v->num;
        return 0;
    case SA_CHOICE: {
        char list[200] = "";
        for (int k = 0; a->choices[k]; k++) {
            size_t used = strlen(list);
            snprintf(list + used, sizeof list - used, "%s'%s'", k ? ", " : "", a->choices[k]);
        }
        if (v->kind != SPEC_STR)
            return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC, "%s: %s must be one of %s (quoted), got %s",
                                     n->kind->name, a->name, list, descent_spec_kind_name(v->kind));
        for (int k = 0; a->choices[k]; k++)
            if (strcmp(a->choices[k], v->str) == 0) {
                n->arg[i] = k;
                return 0;
            }
        return descent_spec_fail(doc, v, err, DESCENT_ERR_INVALID, "%s: %s must be one of %s, got '%s'", n->kind->name,
                                 a->name, list, v->str);
    }
    case SA_INTLIST:
    case SA_REALS: {
        if (a->type == SA_REALS && v->kind == SPEC_NUM) {
            int rc = check_number(n, a, doc, v, 0, err);
            if (rc < 0)
                return rc;
            n->arg[i] = v->num;
            n->list_len[i] = -1;
            return 0;
        }
        if (v->kind != SPEC_LIST && v->kind != SPEC_TUPLE)
            return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC, "%s: %s must be %s, got %s", n->kind->name, a->name,
                                     a->type == SA_INTLIST ? "a list of integers" : "a number or a list of numbers",
                                     descent_spec_kind_name(v->kind));
        if (a->type == SA_REALS && v->n == 0)
            return descent_spec_fail(doc, v, err, DESCENT_ERR_INVALID, "%s: %s must not be empty", n->kind->name,
                                     a->name);
        double *vals = descent_mem_alloc(m, sizeof *vals * (size_t)(v->n ? v->n : 1));
        if (!vals)
            return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory parsing a schedule");
        descent_mem_free(m, n->list[i]);
        n->list[i] = vals;
        n->list_len[i] = v->n;
        for (int k = 0; k < v->n; k++) {
            int rc = check_number(n, a, doc, &v->items[k], a->type == SA_INTLIST, err);
            if (rc < 0)
                return rc;
            vals[k] = v->items[k].num;
        }
        n->arg[i] = v->n;
        return 0;
    }
    case SA_SCHED:
    case SA_SCHEDS: {
        int count = a->type == SA_SCHED ? 1 : v->n;
        if (a->type == SA_SCHED && v->kind != SPEC_CALL && v->kind != SPEC_NAME)
            return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC, "%s: %s must be a schedule such as StepLR(step_size=10)%s, got %s",
                                     n->kind->name, a->name, (a->flags & SA_NONE_OK) ? " or None" : "",
                                     descent_spec_kind_name(v->kind));
        if (a->type == SA_SCHEDS) {
            if (v->kind != SPEC_LIST && v->kind != SPEC_TUPLE)
                return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC, "%s: %s must be a list of schedules, got %s",
                                         n->kind->name, a->name, descent_spec_kind_name(v->kind));
            if (v->n == 0)
                return descent_spec_fail(doc, v, err, DESCENT_ERR_INVALID, "%s: %s must not be empty", n->kind->name,
                                         a->name);
        }
        if (n->nchild)
            return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC, "%s: nested schedules given twice", n->kind->name);
        n->child = descent_mem_alloc(m, sizeof *n->child * (size_t)count);
        if (!n->child)
            return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory parsing a schedule");
        for (int k = 0; k < count; k++) {
            const spec_node *c = a->type == SA_SCHED ? v : &v->items[k];
            if (c->kind != SPEC_CALL && c->kind != SPEC_NAME)
                return descent_spec_fail(doc, c, err, DESCENT_ERR_SPEC, "%s: %s must hold schedules such as StepLR(step_size=10), got %s",
                                         n->kind->name, a->name, descent_spec_kind_name(c->kind));
            int rc = parse_node(&n->child[k], doc, c, opt, ncb, m, err);
            if (rc < 0)
                return rc;
            n->nchild++;
        }
        n->arg[i] = 0; /* index of the first child */
        return 0;
    }
    }
    return 0;
}

static int parse_node(sched_node **out, const spec_doc *doc, const spec_node *call, descent_optimizer *opt,
                      int ncb, const descent_mem *m, descent_error *err)
{
    *out = NULL;
    if (call->kind != SPEC_CALL && call->kind != SPEC_NAME)
        return descent_spec_fail(doc, call, err, DESCENT_ERR_SPEC,
                                 "expected a schedule such as CosineAnnealingLR(T_max=100), got %s",
                                 descent_spec_kind_name(call->kind));
    const sched_kind *kind = find_kind(call->str);
    if (!kind) {
        char names[800] = "(known: ";
        for (int i = 0; i < sched_kind_count; i++) {
            size_t used = strlen(names);
            snprintf(names + used, sizeof names - used, "%s%s", i ? "," : "", sched_kinds[i]->name);
        }
        strncat(names, ")", sizeof names - strlen(names) - 1);
        spec_node at = name_at(call);
        const char *list[64];
        int nl = 0;
        for (int i = 0; i < sched_kind_count && nl < 64; i++)
            list[nl++] = sched_kinds[i]->name;
        const char *hint = descent_closest_name(call->str, list, nl);
        if (hint)
            return descent_spec_fail_list(doc, &at, err, DESCENT_ERR_SPEC, names,
                                          "unknown schedule '%s'; did you mean '%s'?", call->str, hint);
        return descent_spec_fail_list(doc, &at, err, DESCENT_ERR_SPEC, names, "unknown schedule '%s'", call->str);
    }
    if (ncb == 0 && takes_callbacks(kind)) {
        spec_node at = name_at(call);
        return descent_spec_fail(doc, &at, err, DESCENT_ERR_SPEC, "%s", sched_callback_help(kind->name));
    }
    int nargs = 0;
    while (kind->args[nargs].name)
        nargs++;
    sched_node *n = descent_mem_alloc(m, sizeof *n);
    if (!n)
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory parsing a schedule");
    n->kind = kind;
    n->nargs = nargs;
    size_t na = (size_t)(nargs ? nargs : 1);
    n->arg = descent_mem_alloc(m, sizeof *n->arg * na);
    n->list = descent_mem_alloc(m, sizeof *n->list * na);
    n->list_len = descent_mem_alloc(m, sizeof *n->list_len * na);
    const spec_node **at = descent_mem_alloc(m, sizeof *at * na);
    if (!n->arg || !n->list || !n->list_len || !at) {
        descent_mem_free(m, at);
        free_node(m, n);
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory parsing a schedule");
    }
    for (int i = 0; i < nargs; i++) {
        n->arg[i] = kind->args[i].def;
        n->list_len[i] = -1;
    }
    int rc = 0;
    for (int k = 0; rc == 0 && call->kind == SPEC_CALL && k < call->n; k++) {
        const spec_node *v = &call->items[k];
        const char *key = call->keys ? call->keys[k] : NULL;
        int i = -1;
        if (!key) {
            if (k >= nargs) {
                rc = descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC, "%s takes at most %d positional arguments",
                                       kind->name, nargs);
                break;
            }
            i = k;
        } else {
            for (int j = 0; j < nargs; j++)
                if (strcmp(kind->args[j].name, key) == 0)
                    i = j;
            if (i < 0) {
                char names[400] = "";
                for (int j = 0; j < nargs; j++) {
                    size_t used = strlen(names);
                    snprintf(names + used, sizeof names - used, "%s%s", j ? ", " : "", kind->args[j].name);
                }
                spec_node kat = keyword_at(doc, v, key);
                const char *list[32];
                int nl = 0;
                for (int j = 0; j < nargs && nl < 32; j++)
                    list[nl++] = kind->args[j].name;
                const char *hint = descent_closest_name(key, list, nl);
                if (hint)
                    rc = descent_spec_fail(doc, &kat, err, DESCENT_ERR_SPEC,
                                           "%s has no argument '%s'; did you mean '%s'? (it takes %s)", kind->name, key,
                                           hint, names);
                else
                    rc = descent_spec_fail(doc, &kat, err, DESCENT_ERR_SPEC, "%s has no argument '%s' (it takes %s)",
                                           kind->name, key, nargs ? names : "none");
                break;
            }
        }
        if (at[i]) {
            spec_node kat = key ? keyword_at(doc, v, key) : *v;
            rc = descent_spec_fail(doc, &kat, err, DESCENT_ERR_SPEC, "%s: argument '%s' given twice", kind->name,
                                   kind->args[i].name);
            break;
        }
        at[i] = v;
        rc = parse_arg(n, i, doc, v, opt, ncb, m, err);
    }
    for (int i = 0; rc == 0 && i < nargs; i++)
        if ((kind->args[i].flags & SA_REQUIRED) && !at[i]) {
            spec_node nat = name_at(call);
            rc = descent_spec_fail(doc, &nat, err, DESCENT_ERR_SPEC, "%s: missing required argument '%s'", kind->name,
                                   kind->args[i].name);
        }
    if (rc == 0 && kind->check) {
        sched_check c = {doc, call, at, opt, err, ncb};
        rc = kind->check(n, &c);
    }
    descent_mem_free(m, at);
    if (rc < 0) {
        free_node(m, n);
        return rc;
    }
    *out = n;
    return 0;
}

/* ---- canonical text ------------------------------------------------------ */

typedef struct strbuf {
    char *s;
    size_t len, cap;
    const descent_mem *m;
    int bad;
} strbuf;

static void sb_put(strbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void sb_put(strbuf *b, const char *fmt, ...)
{
    if (b->bad)
        return;
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof tmp) {
        b->bad = 1;
        return;
    }
    if (b->len + (size_t)k + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 256;
        while (ncap < b->len + (size_t)k + 1)
            ncap *= 2;
        char *ns = descent_mem_alloc(b->m, ncap);
        if (!ns) {
            b->bad = 1;
            return;
        }
        if (b->s)
            memcpy(ns, b->s, b->len);
        descent_mem_free(b->m, b->s);
        b->s = ns;
        b->cap = ncap;
    }
    memcpy(b->s + b->len, tmp, (size_t)k + 1);
    b->len += (size_t)k;
}

static void canon_node(strbuf *b, const sched_node *n)
{
    sb_put(b, "%s(", n->kind->name);
    for (int i = 0; i < n->nargs; i++) {
        const sched_arg *a = &n->kind->args[i];
        sb_put(b, "%s%s=", i ? ", " : "", a->name);
        if (a->type == SA_SCHEDS) {
            sb_put(b, "[");
            for (int k = 0; k < n->nchild; k++) {
                if (k)
                    sb_put(b, ", ");
                canon_node(b, n->child[k]);
            }
            sb_put(b, "]");
            continue;
        }
        if (isnan(n->arg[i]) && a->type != SA_INTLIST && !(a->type == SA_REALS && n->list_len[i] >= 0)) {
            sb_put(b, "None");
            continue;
        }
        switch (a->type) {
        case SA_REAL: sb_put(b, "%.17g", n->arg[i]); break;
        case SA_INT: sb_put(b, "%.0f", n->arg[i]); break;
        case SA_BOOL: sb_put(b, "%s", n->arg[i] != 0 ? "True" : "False"); break;
        case SA_CHOICE: sb_put(b, "'%s'", a->choices[(int)n->arg[i]]); break;
        case SA_INTLIST:
        case SA_REALS:
            if (n->list_len[i] < 0) {
                sb_put(b, "%.17g", n->arg[i]);
            } else {
                sb_put(b, "[");
                for (int k = 0; k < n->list_len[i]; k++)
                    sb_put(b, a->type == SA_INTLIST ? "%s%.0f" : "%s%.17g", k ? ", " : "", n->list[i][k]);
                sb_put(b, "]");
            }
            break;
        case SA_SCHED: canon_node(b, n->child[0]); break;
        case SA_SCHEDS: break;
        }
    }
    sb_put(b, ")");
}

/* ---- binding ------------------------------------------------------------- */

static size_t lane_size(int ng) { return 7 * (size_t)ng + 1; }

static size_t count_block(sched_node *n, int ng)
{
    n->nst = n->kind->state_size ? n->kind->state_size(n, ng) : 0;
    size_t total = n->nst + (n->kind->private_lane ? lane_size(ng) : 0);
    for (int i = 0; i < n->nchild; i++)
        total += count_block(n->child[i], ng);
    return total;
}

static void carve_lane(sched_lane *l, double **cursor, int ng, int has_mom)
{
    double *p = *cursor;
    l->lr = p;
    l->momentum = has_mom ? p + ng : NULL;
    l->initial_lr = p + 2 * (size_t)ng;
    l->initial_set = p + 3 * (size_t)ng;
    l->onecycle = p + 3 * (size_t)ng + 1;
    *cursor = p + lane_size(ng);
}

/* Give every node its state and lanes; the node's own lane is set by the parent. */
static void bind_node(sched_node *n, double **cursor, int ng, int has_mom)
{
    n->st = *cursor;
    *cursor += n->nst;
    if (n->kind->private_lane)
        carve_lane(&n->priv, cursor, ng, has_mom);
    for (int i = 0; i < n->nchild; i++)
        n->child[i]->lane = n->lane;
    if (n->kind->bind)
        n->kind->bind(n);
    for (int i = 0; i < n->nchild; i++)
        bind_node(n->child[i], cursor, ng, has_mom);
}

/* Per-group lists must have one value per group (PyTorch's _format_param). */
static int check_group_lists(const sched_node *n, int ng, descent_error *err)
{
    for (int i = 0; i < n->nargs; i++)
        if (n->kind->args[i].type == SA_REALS && n->list_len[i] >= 0 && n->list_len[i] != ng)
            return descent_fail(err, DESCENT_ERR_INVALID, "%s: expected %d values for %s (one per parameter group), got %d",
                                n->kind->name, ng, n->kind->args[i].name, n->list_len[i]);
    for (int i = 0; i < n->nchild; i++) {
        int rc = check_group_lists(n->child[i], ng, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int tree_reads_metric(const sched_node *n)
{
    if (n->kind->reads_metric)
        return 1;
    for (int i = 0; i < n->nchild; i++)
        if (tree_reads_metric(n->child[i]))
            return 1;
    return 0;
}

static void schedule_free(descent_schedule *s)
{
    if (!s)
        return;
    descent_mem m = s->mem;
    free_node(&m, s->root);
    descent_mem_free(&m, s->canon);
    descent_mem_free(&m, s->block);
    descent_mem_free(&m, s->scratch);
    descent_mem_free(&m, s->attach);
    descent_mem_free(&m, s->cb);
    descent_mem_free(&m, s);
}

/* Parse spec and bind it for ng groups. opt may be NULL (pure functions);
 * cb[0 .. ncb-1] are the callbacks of LambdaLR / MultiplicativeLR nodes. */
static int schedule_build(descent_schedule **out, const char *spec, int ng, descent_optimizer *opt,
                          const descent_lr_callback *cb, int ncb, const descent_mem *mem, descent_error *err)
{
    *out = NULL;
    spec_doc doc;
    int rc = descent_spec_parse(&doc, spec, &mem->a, err);
    if (rc < 0) {
        /* "LambdaLR(lr_lambda=lambda t: ...)" is Python, not a spec: say
         * what to do instead of pointing at the syntax. */
        const char *name = ncb == 0 ? sched_callback_named(spec) : NULL;
        if (name)
            return descent_fail(err, DESCENT_ERR_SPEC, "%s", sched_callback_help(name));
        return rc;
    }
    descent_schedule *s = descent_mem_alloc(mem, sizeof *s);
    if (!s) {
        descent_spec_free(&doc);
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory creating a schedule");
    }
    memset(s, 0, sizeof *s);
    s->mem = *mem;
    s->ng = ng;
    if (ncb > 0) {
        s->cb = descent_mem_alloc(mem, sizeof *s->cb * (size_t)ncb);
        if (!s->cb) {
            descent_spec_free(&doc);
            schedule_free(s);
            return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory creating a schedule");
        }
        memcpy(s->cb, cb, sizeof *s->cb * (size_t)ncb);
        s->ncb = ncb;
    }
    rc = parse_node(&s->root, &doc, doc.root, opt, ncb, mem, err);
    descent_spec_free(&doc);
    if (rc == 0)
        rc = check_group_lists(s->root, ng, err);
    if (rc < 0) {
        schedule_free(s);
        return rc;
    }
    strbuf b = {NULL, 0, 0, mem, 0};
    canon_node(&b, s->root);
    s->canon = b.s;
    s->mom_name = opt ? descent_momentum_name(opt) : NULL;
    s->reads_metric = tree_reads_metric(s->root);
    s->nblock = lane_size(ng) + count_block(s->root, ng);
    s->block = descent_mem_alloc(mem, sizeof(double) * s->nblock);
    s->scratch = descent_mem_alloc(mem, sizeof(double) * s->nblock);
    s->attach = descent_mem_alloc(mem, sizeof(double) * 3 * (size_t)ng);
    if (b.bad || !s->canon || !s->block || !s->scratch || !s->attach) {
        schedule_free(s);
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory creating a schedule");
    }
    double *cursor = s->block;
    carve_lane(&s->root_lane, &cursor, ng, s->mom_name != NULL);
    s->root->lane = s->root_lane;
    bind_node(s->root, &cursor, ng, s->mom_name != NULL);
    *out = s;
    return 0;
}

/* ---- the optimizer side --------------------------------------------------- */

static void lane_from_opt(descent_schedule *s, descent_optimizer *opt)
{
    for (int g = 0; g < s->ng; g++) {
        s->root_lane.lr[g] = descent_get_lr(opt, g);
        if (s->mom_name)
            descent_get(opt, g, s->mom_name, &s->root_lane.momentum[g]);
    }
}

static int lane_to_opt(descent_schedule *s, descent_optimizer *opt, descent_error *err)
{
    for (int g = 0; g < s->ng; g++) {
        double v;
        /* Written directly: like PyTorch's schedulers, a schedule may take
         * the lr below 0 (eta_min above the base lr, chained decays). */
        if (!isfinite(s->root_lane.lr[g]))
            return descent_fail(err, DESCENT_ERR_INVALID, "schedule gave group %d a non-finite lr (%g)", g,
                                s->root_lane.lr[g]);
        if (descent_group_value_fits(opt, g, "the schedule's lr", s->root_lane.lr[g], err) < 0)
            return DESCENT_ERR_INVALID;
        descent_group_set_scheduled_lr(opt, g, s->root_lane.lr[g]);
        if (s->mom_name && descent_get(opt, g, s->mom_name, &v) == 0 && v != s->root_lane.momentum[g] &&
            descent_set(opt, g, s->mom_name, s->root_lane.momentum[g]) < 0)
            return descent_fail(err, DESCENT_ERR_INVALID, "schedule cannot set group %d's %s: %s", g, s->mom_name,
                                descent_errmsg(opt));
        if (*s->root_lane.initial_set != 0)
            descent_group_set_initial_lr(opt, g, s->root_lane.initial_lr[g]);
    }
    return 0;
}

/* The groups' scheduled values, to restore after a failed call. */
typedef struct group_saved {
    descent_group *groups;
    int n;
} group_saved;

static int groups_save(const descent_optimizer *opt, group_saved *gs)
{
    gs->n = opt->ngroups;
    gs->groups = descent_mem_alloc(&opt->mem, sizeof *gs->groups * (size_t)(gs->n ? gs->n : 1));
    if (!gs->groups)
        return DESCENT_ERR_NOMEM;
    memcpy(gs->groups, opt->groups, sizeof *gs->groups * (size_t)gs->n);
    return 0;
}

static void groups_restore(descent_optimizer *opt, group_saved *gs, int apply)
{
    if (apply)
        memcpy(opt->groups, gs->groups, sizeof *gs->groups * (size_t)gs->n);
    descent_mem_free(&opt->mem, gs->groups);
}

/* The constructor on the optimizer as it is now (attach or restart). */
static int schedule_start(descent_schedule *s, descent_optimizer *opt, descent_error *err)
{
    memset(s->block, 0, sizeof(double) * s->nblock);
    lane_from_opt(s, opt);
    for (int g = 0; g < s->ng; g++)
        s->root_lane.initial_lr[g] = s->root_lane.lr[g];
    *s->root_lane.initial_set = 0;
    sched_ctx c = {s->ng, opt, err, s->cb, s->ncb};
    int rc = sched_init(s->root, &c);
    if (rc == 0)
        rc = lane_to_opt(s, opt, err);
    return rc;
}

static void schedule_detach(descent_optimizer *opt)
{
    if (!opt)
        return;
    schedule_free(opt->schedule);
    opt->schedule = NULL;
    opt->schedule_ops = NULL;
}

static void schedule_restart(descent_optimizer *opt);

/* The schedule's hooks in the optimizer (internal.h). */
static const descent_schedule_ops schedule_ops = {schedule_detach, schedule_restart, descent_schedule_save,
                                                  descent_schedule_load};

int descent_set_schedule(descent_optimizer *opt, const char *spec)
{
    return descent_set_schedule_callbacks(opt, spec, NULL, 0);
}

int descent_set_schedule_callbacks(descent_optimizer *opt, const char *spec, const descent_lr_callback *callbacks,
                                   int ncallbacks)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (opt->ngroups == 0)
        return descent_opt_fail(opt, DESCENT_ERR_STATE, "add a parameter group before attaching a schedule");
    if (ncallbacks < 0 || (ncallbacks > 0 && !callbacks))
        return descent_opt_fail(opt, DESCENT_ERR_INVALID,
                                "ncallbacks must be >= 0, with a callbacks table when > 0; got %d and %s", ncallbacks,
                                callbacks ? "a table" : "NULL");
    for (int k = 0; k < ncallbacks; k++)
        if (!callbacks[k].fn)
            return descent_opt_fail(opt, DESCENT_ERR_INVALID, "callbacks[%d].fn is NULL", k);
    descent_error e;
    descent_schedule *s;
    int rc = schedule_build(&s, spec, opt->ngroups, opt, callbacks, ncallbacks, &opt->mem, &e);
    if (rc == 0 && (rc = sched_rates_fit(s->root, opt, s->ng, &e)) < 0)
        schedule_free(s);
    if (rc < 0)
        return descent_opt_fail(opt, rc, "%s", e.message);
    group_saved gs;
    if (groups_save(opt, &gs) < 0) {
        schedule_free(s);
        return descent_opt_fail(opt, DESCENT_ERR_NOMEM, "out of memory attaching a schedule");
    }
    for (int g = 0; g < s->ng; g++) {
        s->attach[3 * g] = descent_get_lr(opt, g);
        s->attach[3 * g + 1] = 0;
        if (s->mom_name)
            descent_get(opt, g, s->mom_name, &s->attach[3 * g + 1]);
        s->attach[3 * g + 2] = descent_group_initial_lr(opt, g);
    }
    rc = schedule_start(s, opt, &e);
    groups_restore(opt, &gs, rc < 0);
    if (rc < 0) {
        schedule_free(s);
        return descent_opt_fail(opt, rc, "%s", e.message);
    }
    schedule_detach(opt);
    opt->schedule = s;
    opt->schedule_ops = &schedule_ops;
    return 0;
}

static void schedule_restart(descent_optimizer *opt)
{
    descent_schedule *s = opt ? opt->schedule : NULL;
    if (!s || s->ng != opt->ngroups)
        return;
    for (int g = 0; g < s->ng; g++) {
        descent_group_set_scheduled_lr(opt, g, s->attach[3 * g]);
        if (s->mom_name)
            descent_set(opt, g, s->mom_name, s->attach[3 * g + 1]);
        descent_group_set_initial_lr(opt, g, s->attach[3 * g + 2]);
    }
    descent_error e;
    schedule_start(s, opt, &e);
}

int descent_schedule_step(descent_optimizer *opt, double metric)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    descent_schedule *s = opt->schedule;
    if (!s)
        return descent_opt_fail(opt, DESCENT_ERR_STATE, "no schedule attached");
    if (s->ng != opt->ngroups)
        return descent_opt_fail(opt, DESCENT_ERR_STATE,
                                "the optimizer has %d parameter groups, the schedule was attached with %d; attach it again",
                                opt->ngroups, s->ng);
    group_saved gs;
    if (groups_save(opt, &gs) < 0)
        return descent_opt_fail(opt, DESCENT_ERR_NOMEM, "out of memory");
    memcpy(s->scratch, s->block, sizeof(double) * s->nblock);
    descent_error e;
    sched_ctx c = {s->ng, opt, &e, s->cb, s->ncb};
    lane_from_opt(s, opt);
    int rc = sched_step(s->root, &c, metric);
    if (rc == 0)
        rc = lane_to_opt(s, opt, &e);
    groups_restore(opt, &gs, rc < 0);
    if (rc < 0) {
        memcpy(s->block, s->scratch, sizeof(double) * s->nblock);
        return descent_opt_fail(opt, rc, "%s", e.message);
    }
    return 0;
}

int descent_schedule_needs_metric(const descent_optimizer *opt)
{
    return opt && opt->schedule ? opt->schedule->reads_metric : 0;
}

int descent_schedule_lr_at(const char *spec, double base_lr, int64_t t, double *lr, descent_error *err)
{
    if (!lr)
        return descent_fail(err, DESCENT_ERR_INVALID, "lr must not be NULL");
    if (!isfinite(base_lr) || base_lr < 0)
        return descent_fail(err, DESCENT_ERR_INVALID, "base_lr must be a finite number >= 0, got %g", base_lr);
    descent_mem mem;
    descent_mem_init(&mem, NULL);
    descent_schedule *s;
    int rc = schedule_build(&s, spec, 1, NULL, NULL, 0, &mem, err);
    if (rc < 0)
        return rc;
    rc = sched_lr_at(s->root, base_lr, t, lr, err);
    schedule_free(s);
    return rc;
}

/* ---- checkpoint hooks ------------------------------------------------------ */

/* Saved values are finite and at most 2^53 in magnitude (lrs, momenta,
 * step counters: a double counts exactly up to there, and a counter cast to
 * an integer cannot overflow); a kind that reads metrics keeps the best
 * metric, which may be any number or +-inf, never NaN. A forged section
 * outside these bounds is refused before it is applied. */
#define SCHED_SAVED_MAX 9007199254740992.0

static int values_ok(const unsigned char *p, size_t count, int metric)
{
    descent_reader r = {p, 8 * count, 0, 0};
    for (size_t i = 0; i < count; i++) {
        double v = descent_get_f64(&r);
        if (metric ? isnan(v) : !(fabs(v) <= SCHED_SAVED_MAX))
            return 0;
    }
    return 1;
}

/* Check the node's state and private lane, then its children's, in the
 * saved block at p (laid out as s->block). */
static int node_ok(const descent_schedule *s, const sched_node *n, const unsigned char *p)
{
    const unsigned char *st = p + 8 * (size_t)(n->st - s->block);
    if (!values_ok(st, n->nst, n->kind->reads_metric))
        return 0;
    if (n->kind->private_lane && !values_ok(st + 8 * n->nst, lane_size(s->ng), 0))
        return 0;
    for (int i = 0; i < n->nchild; i++)
        if (!node_ok(s, n->child[i], p))
            return 0;
    return 1;
}

/* Layout: u32 magic, u32 format, u32 canon_len, canon bytes, u32 groups,
 * u32 block doubles, f64 attach[3 * groups], f64 block[...]. */
static void schedule_write(const descent_schedule *s, descent_writer *w)
{
    size_t clen = strlen(s->canon);
    descent_put_u(w, SCHED_MAGIC, 4);
    descent_put_u(w, SCHED_FORMAT, 4);
    descent_put_u(w, clen, 4);
    descent_put_bytes(w, s->canon, clen);
    descent_put_u(w, (uint64_t)s->ng, 4);
    descent_put_u(w, s->nblock, 4);
    descent_put_f64s(w, s->attach, 3 * (size_t)s->ng);
    descent_put_f64s(w, s->block, s->nblock);
}

size_t descent_schedule_save(const descent_optimizer *opt, unsigned char *buf, size_t cap)
{
    const descent_schedule *s = opt ? opt->schedule : NULL;
    if (!s)
        return 0;
    descent_writer count = {NULL, 0, 0};
    schedule_write(s, &count);
    if (buf && cap >= count.pos) {
        descent_writer w = {buf, cap, 0};
        schedule_write(s, &w);
    }
    return count.pos;
}

const char *descent_schedule_spec(const descent_optimizer *opt)
{
    return opt && opt->schedule ? opt->schedule->canon : NULL;
}

int descent_schedule_load(descent_optimizer *opt, const unsigned char *buf, size_t len, int apply, descent_error *err)
{
    descent_schedule *s = opt->schedule;
    descent_reader r = {buf, len, 0, 0};
    uint32_t magic = (uint32_t)descent_get_u(&r, 4), format = (uint32_t)descent_get_u(&r, 4);
    size_t clen = (size_t)descent_get_u(&r, 4);
    const char *canon = (const char *)descent_get_view(&r, clen);
    if (!s) {
        if (len == 0)
            return 0;
        /* A callback schedule: say which call attaches it (the spec alone cannot). */
        const char *cbname = canon ? sched_callback_named_n(canon, clen) : NULL;
        if (cbname) {
            int bare = clen > strlen(cbname) && memcmp(canon, cbname, strlen(cbname)) == 0;
            return descent_fail(err, DESCENT_ERR_CHECKPOINT,
                                "checkpoint has a schedule with C callbacks (%.*s), the optimizer has none attached; "
                                "attach the same %s with %s%s and the same functions before loading (the load "
                                "restores its step)",
                                (int)(clen > 200 ? 200 : clen), canon, bare ? cbname : "schedule",
                                !bare ? "descent_set_schedule_callbacks"
                                : cbname[0] == 'L' ? "descent_set_lambda_lr"
                                                   : "descent_set_multiplicative_lr",
                                bare ? " (or its _groups form)" : "");
        }
        return descent_fail(err, DESCENT_ERR_CHECKPOINT,
                            "checkpoint has a schedule (%.*s), the optimizer has none attached; attach the same "
                            "schedule before loading",
                            canon ? (int)(clen > 200 ? 200 : clen) : 1, canon ? canon : "?");
    }
    if (len == 0)
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint has no schedule, the optimizer has %s attached",
                            s->canon);
    if (len < 12 || magic != SCHED_MAGIC || format != SCHED_FORMAT)
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint's schedule section is malformed");
    if (!canon)
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint's schedule section is truncated");
    if (clen != strlen(s->canon) || memcmp(canon, s->canon, clen) != 0)
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint's schedule is %.*s, the attached one is %s",
                            (int)(clen > 200 ? 200 : clen), canon, s->canon);
    uint32_t ng = (uint32_t)descent_get_u(&r, 4), nblock = (uint32_t)descent_get_u(&r, 4);
    if (r.bad)
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint's schedule section is truncated");
    if (ng != (uint32_t)s->ng || nblock != s->nblock)
        return descent_fail(err, DESCENT_ERR_CHECKPOINT,
                            "checkpoint's schedule has %u groups and %u state values, the attached one %d and %zu", ng,
                            nblock, s->ng, s->nblock);
    if (descent_reader_left(&r) != 8 * (3 * (size_t)ng + nblock))
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint's schedule section has the wrong size");
    const unsigned char *values = r.buf + r.pos, *block = values + 8 * 3 * (size_t)ng;
    /* Every value in range for its kind (a repaired checksum can carry
     * values that are finite but impossible) before anything is kept: try
     * the image (each value by name, state_check.c; then the bounds of
     * every saved value), then restore. */
    descent_reader peek = r;
    descent_reader_skip(&peek, 8 * 3 * (size_t)ng);
    memcpy(s->scratch, s->block, sizeof(double) * s->nblock);
    descent_get_f64s(&peek, s->block, nblock);
    int bad = sched_saved_fields(s->root, s->ng, values, opt, err);
    if (bad == 0 && (!values_ok(values, 3 * (size_t)ng, 0) || !values_ok(block, lane_size(s->ng), 0) ||
                     !node_ok(s, s->root, block)))
        bad = descent_fail(err, DESCENT_ERR_CHECKPOINT,
                           "checkpoint's schedule state has a NaN, infinite or out-of-range value (beyond 2^53)");
    if (bad == 0)
        bad = sched_state_check(s->root, s->ng, err);
    memcpy(s->block, s->scratch, sizeof(double) * s->nblock);
    if (bad < 0 || !apply)
        return bad;
    descent_get_f64s(&r, s->attach, 3 * (size_t)ng);
    descent_get_f64s(&r, s->block, nblock);
    return 0;
}
