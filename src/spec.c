/* The spec-string parser: the Python call syntax a PyTorch user already
 * writes, "AdamW(lr=3e-4, betas=(0.9, 0.95))", including nested calls,
 * tuples, lists, quoted strings, True/False/None. Errors quote the text and
 * point at the offending part. */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPEC_MAX_DEPTH 32
#define SPEC_MAX_LEN 65536

typedef struct parser {
    spec_doc *doc;
    const char *s;
    size_t i, len;
    int depth;
    descent_error *err;
} parser;

const char *descent_spec_kind_name(spec_kind k)
{
    switch (k) {
    case SPEC_NUM: return "a number";
    case SPEC_BOOL: return "a boolean";
    case SPEC_STR: return "a string";
    case SPEC_NONE: return "None";
    case SPEC_TUPLE: return "a tuple";
    case SPEC_LIST: return "a list";
    case SPEC_CALL: return "a call";
    case SPEC_NAME: return "a name";
    }
    return "a value";
}

static int point_at(const char *text, size_t pos, size_t end, descent_error *err, int status,
                    const char *msg)
{
    /* Show at most 200 characters of text around pos. */
    size_t len = strlen(text);
    size_t from = pos > 100 ? pos - 100 : 0;
    size_t to = len - from > 200 ? from + 200 : len;
    if (end <= pos)
        end = pos + 1;
    if (end > to + 1)
        end = to + 1;
    /* An excerpt says so: "..." where text is left out (and the marks
     * move past the leading one). */
    const char *lead = from > 0 ? "..." : "", *tail = to < len ? "..." : "";
    char marks[256];
    size_t k = 0;
    for (; lead[k]; k++)
        marks[k] = ' ';
    for (size_t i = from; i < pos && k < 210; i++)
        marks[k++] = text[i] == '\t' ? '\t' : ' ';
    for (size_t i = pos; i < end && k < 250; i++)
        marks[k++] = '^';
    marks[k] = '\0';
    char shown[256];
    size_t m = 0;
    for (size_t i = from; i < to && m < 250; i++)
        shown[m++] = (text[i] == '\n' || text[i] == '\r') ? ' ' : text[i];
    shown[m] = '\0';
    return descent_fail(err, status, "%s\n  %s%s%s\n  %s", msg, lead, shown, tail, marks);
}

int descent_spec_fail(const spec_doc *doc, const spec_node *node, descent_error *err, int status,
                      const char *fmt, ...)
{
    char msg[400]; /* room for a "(known: ...)" list of every schedule */
    va_list ap;
    va_start(ap, fmt);
    descent_vformat(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return point_at(doc->text, node ? node->pos : 0, node ? node->end : 0, err, status, msg);
}

static int perr(parser *p, size_t pos, size_t end, const char *msg)
{
    return point_at(p->s, pos, end, p->err, DESCENT_ERR_SPEC, msg);
}

static void skip_ws(parser *p)
{
    while (p->i < p->len && isspace((unsigned char)p->s[p->i]))
        p->i++;
}

static char *dup_range(parser *p, size_t a, size_t b)
{
    char *s = descent_mem_alloc(&p->doc->mem, b - a + 1);
    if (s)
        memcpy(s, p->s + a, b - a);
    return s;
}

static int parse_value(parser *p, spec_node *out);

/* Parse "item, item, ..." up to the closing bracket; for calls, items may be
 * "key=value". Grows arrays by doubling within the document's allocator. */
static int parse_items(parser *p, spec_node *node, char close, bool keyed)
{
    int cap = 0;
    bool seen_keyword = false;
    size_t open = p->i; /* the opening bracket, where an unclosed error points */
    char unclosed[48];
    snprintf(unclosed, sizeof unclosed, "unclosed bracket: '%c' has no matching '%c'", p->s[open], close);
    p->i++;
    for (;;) {
        skip_ws(p);
        if (p->i >= p->len)
            return perr(p, open, p->len, unclosed);
        if (p->s[p->i] == close) {
            p->i++;
            node->end = p->i;
            return 0;
        }
        if (node->n == cap) {
            int ncap = cap ? cap * 2 : 4;
            spec_node *items = descent_mem_alloc(&p->doc->mem, sizeof *items * (size_t)ncap);
            char **keys = keyed ? descent_mem_alloc(&p->doc->mem, sizeof *keys * (size_t)ncap) : NULL;
            if (!items || (keyed && !keys)) {
                descent_mem_free(&p->doc->mem, items);
                descent_mem_free(&p->doc->mem, keys);
                return descent_fail(p->err, DESCENT_ERR_NOMEM, "out of memory parsing spec");
            }
            if (node->n) {
                memcpy(items, node->items, sizeof *items * (size_t)node->n);
                if (keyed)
                    memcpy(keys, node->keys, sizeof *keys * (size_t)node->n);
            }
            descent_mem_free(&p->doc->mem, node->items);
            descent_mem_free(&p->doc->mem, node->keys);
            node->items = items;
            node->keys = keys;
            cap = ncap;
        }
        spec_node *item = &node->items[node->n];
        memset(item, 0, sizeof *item);
        if (keyed)
            node->keys[node->n] = NULL;
        /* A keyword argument: identifier followed by '=' (not '=='). */
        if (keyed && (isalpha((unsigned char)p->s[p->i]) || p->s[p->i] == '_')) {
            size_t a = p->i, b = a;
            while (b < p->len && (isalnum((unsigned char)p->s[b]) || p->s[b] == '_'))
                b++;
            size_t c = b;
            while (c < p->len && isspace((unsigned char)p->s[c]))
                c++;
            if (c < p->len && p->s[c] == '=' && (c + 1 >= p->len || p->s[c + 1] != '=')) {
                char *key = dup_range(p, a, b);
                if (!key)
                    return descent_fail(p->err, DESCENT_ERR_NOMEM, "out of memory parsing spec");
                node->keys[node->n] = key;
                p->i = c + 1;
                skip_ws(p);
                seen_keyword = true;
            } else if (seen_keyword) {
                return perr(p, a, b, "positional argument follows keyword argument");
            }
        } else if (keyed && seen_keyword) {
            return perr(p, p->i, p->i + 1, "positional argument follows keyword argument");
        }
        node->n++;
        int rc = parse_value(p, item);
        if (rc < 0)
            return rc;
        skip_ws(p);
        if (p->i < p->len && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->len && p->s[p->i] == close)
            continue;
        if (p->i >= p->len)
            return perr(p, open, p->len, unclosed);
        char msg[64];
        snprintf(msg, sizeof msg, "expected ',' or '%c'", close);
        return perr(p, p->i, p->i + 1, msg);
    }
}

static int parse_number(parser *p, spec_node *out)
{
    size_t a = p->i;
    const char *s = p->s;
    size_t i = a;
    if (i < p->len && (s[i] == '+' || s[i] == '-'))
        i++;
    bool is_int = true, digits = false;
    while (i < p->len && isdigit((unsigned char)s[i])) {
        i++;
        digits = true;
    }
    if (i < p->len && s[i] == '.') {
        is_int = false;
        i++;
        while (i < p->len && isdigit((unsigned char)s[i])) {
            i++;
            digits = true;
        }
    }
    if (!digits) {
        /* inf / nan are accepted only so that range checks reject them with
         * a precise message. */
        size_t b = i;
        while (b < p->len && isalpha((unsigned char)s[b]))
            b++;
        if (b - i == 3 && (strncmp(s + i, "inf", 3) == 0 || strncmp(s + i, "nan", 3) == 0)) {
            out->kind = SPEC_NUM;
            out->num = s[i] == 'i' ? (s[a] == '-' ? -INFINITY : INFINITY) : NAN;
            out->is_int = false;
            out->pos = a;
            out->end = p->i = b;
            return 0;
        }
        return perr(p, a, i > a ? i : a + 1, "expected a value");
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        is_int = false;
        i++;
        if (i < p->len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t e = i;
        while (i < p->len && isdigit((unsigned char)s[i]))
            i++;
        if (i == e)
            return perr(p, a, i, "malformed exponent in number");
    }
    if (i < p->len && (isalpha((unsigned char)s[i]) || s[i] == '_'))
        return perr(p, a, i + 1, "malformed number");
    char buf[128];
    if (i - a >= sizeof buf)
        return perr(p, a, i, "number too long");
    memcpy(buf, s + a, i - a);
    buf[i - a] = '\0';
    errno = 0;
    double v = strtod(buf, NULL);
    if (errno == ERANGE && isinf(v))
        return perr(p, a, i, "number out of range");
    out->kind = SPEC_NUM;
    out->num = v;
    out->is_int = is_int;
    out->pos = a;
    out->end = p->i = i;
    return 0;
}

static int parse_value(parser *p, spec_node *out)
{
    if (++p->depth > SPEC_MAX_DEPTH)
        return perr(p, p->i, p->i + 1, "nesting too deep");
    skip_ws(p);
    int rc = 0;
    memset(out, 0, sizeof *out);
    out->pos = p->i;
    if (p->i >= p->len) {
        rc = perr(p, p->len, p->len + 1, "unexpected end of spec");
    } else {
        char c = p->s[p->i];
        if (c == '(' || c == '[') {
            out->kind = c == '(' ? SPEC_TUPLE : SPEC_LIST;
            rc = parse_items(p, out, c == '(' ? ')' : ']', false);
            /* "(x)" without a comma is a parenthesised value, as in Python. */
            if (rc == 0 && out->kind == SPEC_TUPLE && out->n == 1) {
                size_t k = out->end - 2;
                while (k > out->pos && isspace((unsigned char)p->s[k]))
                    k--;
                if (p->s[k] != ',') {
                    spec_node inner = out->items[0];
                    descent_mem_free(&p->doc->mem, out->items);
                    *out = inner;
                }
            }
        } else if (c == '\'' || c == '"') {
            size_t a = ++p->i;
            while (p->i < p->len && p->s[p->i] != c)
                p->i++;
            if (p->i >= p->len)
                rc = perr(p, a - 1, p->len, "unterminated string");
            else {
                out->kind = SPEC_STR;
                out->str = dup_range(p, a, p->i);
                if (!out->str)
                    rc = descent_fail(p->err, DESCENT_ERR_NOMEM, "out of memory parsing spec");
                p->i++;
                out->end = p->i;
            }
        } else if (isalpha((unsigned char)c) || c == '_') {
            size_t a = p->i;
            while (p->i < p->len && (isalnum((unsigned char)p->s[p->i]) || p->s[p->i] == '_' || p->s[p->i] == '.'))
                p->i++;
            size_t b = p->i;
            out->end = b;
            if (b - a == 4 && strncmp(p->s + a, "True", 4) == 0) {
                out->kind = SPEC_BOOL;
                out->num = 1;
            } else if (b - a == 5 && strncmp(p->s + a, "False", 5) == 0) {
                out->kind = SPEC_BOOL;
                out->num = 0;
            } else if (b - a == 4 && strncmp(p->s + a, "None", 4) == 0) {
                out->kind = SPEC_NONE;
            } else if ((b - a == 3 && (strncmp(p->s + a, "inf", 3) == 0 || strncmp(p->s + a, "nan", 3) == 0))) {
                p->i = a;
                rc = parse_number(p, out);
            } else {
                out->str = dup_range(p, a, b);
                if (!out->str) {
                    rc = descent_fail(p->err, DESCENT_ERR_NOMEM, "out of memory parsing spec");
                } else {
                    skip_ws(p);
                    if (p->i < p->len && p->s[p->i] == '(') {
                        out->kind = SPEC_CALL;
                        rc = parse_items(p, out, ')', true);
                    } else {
                        out->kind = SPEC_NAME;
                        p->i = b;
                    }
                }
            }
        } else if (isdigit((unsigned char)c) || c == '.' || c == '-' || c == '+') {
            rc = parse_number(p, out);
        } else {
            rc = perr(p, p->i, p->i + 1, "unexpected character");
        }
    }
    p->depth--;
    return rc;
}

static void free_node(const descent_mem *m, spec_node *n)
{
    for (int i = 0; i < n->n; i++) {
        free_node(m, &n->items[i]);
        if (n->keys)
            descent_mem_free(m, n->keys[i]);
    }
    descent_mem_free(m, n->items);
    descent_mem_free(m, n->keys);
    descent_mem_free(m, n->str);
}

void descent_spec_free(spec_doc *doc)
{
    if (doc->root) {
        free_node(&doc->mem, doc->root);
        descent_mem_free(&doc->mem, doc->root);
    }
    doc->root = NULL;
}

int descent_spec_parse(spec_doc *doc, const char *text, const descent_allocator *alloc,
                       descent_error *err)
{
    memset(doc, 0, sizeof *doc);
    descent_mem_init(&doc->mem, alloc);
    doc->text = text ? text : "";
    if (!text)
        return descent_fail(err, DESCENT_ERR_SPEC, "empty spec");
    size_t len = strlen(text);
    if (len > SPEC_MAX_LEN)
        return descent_fail(err, DESCENT_ERR_SPEC, "spec longer than %d characters", SPEC_MAX_LEN);
    parser p = {doc, text, 0, len, 0, err};
    doc->root = descent_mem_alloc(&doc->mem, sizeof *doc->root);
    if (!doc->root)
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory parsing spec");
    skip_ws(&p);
    if (p.i >= len) {
        descent_spec_free(doc);
        return descent_fail(err, DESCENT_ERR_SPEC, "empty spec");
    }
    int rc = parse_value(&p, doc->root);
    if (rc == 0) {
        skip_ws(&p);
        if (p.i < len)
            rc = perr(&p, p.i, len, "unexpected text after the spec");
    }
    if (rc < 0)
        descent_spec_free(doc);
    return rc;
}
