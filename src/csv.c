/* Numeric CSV reading with errors that name file, line and column. */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct growbuf {
    double *v;
    size_t n, cap;
} growbuf;

static int push(growbuf *b, double x)
{
    if (b->n == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 256;
        double *nv = realloc(b->v, ncap * sizeof *nv);
        if (!nv)
            return -1;
        b->v = nv;
        b->cap = ncap;
    }
    b->v[b->n++] = x;
    return 0;
}

void descent_table_free(descent_table *t)
{
    if (!t)
        return;
    if (t->names)
        for (size_t j = 0; j < t->cols; j++)
            free(t->names[j]);
    free(t->names);
    free(t->values);
    memset(t, 0, sizeof *t);
}

static char *trim(char *s, char **end)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        e--;
    *e = '\0';
    if (end)
        *end = e;
    return s;
}

/* Parse one field as a number; accepts what strtod does except hex. */
static int parse_field(const char *f, double *out)
{
    if (!*f)
        return -1;
    if (strchr(f, 'x') || strchr(f, 'X'))
        return -1;
    char *end;
    errno = 0;
    double v = strtod(f, &end);
    if (end == f || *end != '\0')
        return -1;
    if (errno == ERANGE && isinf(v))
        return -1;
    *out = v;
    return 0;
}

int descent_table_read_csv(descent_table *t, const char *path, int header, descent_error *err)
{
    return descent_table_read_csv_words(t, path, header, NULL, NULL, NULL, err);
}

int descent_table_read_csv_words(descent_table *t, const char *path, int header, const char *words_column,
                                 int (*word)(void *ctx, const char *text, double *value), void *ctx,
                                 descent_error *err)
{
    memset(t, 0, sizeof *t);
    FILE *f = descent_fopen(path, "rb");
    if (!f)
        return descent_fail(err, DESCENT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    growbuf vals = {0};
    size_t cap = 1 << 12, lineno = 0, cols = 0, rows = 0;
    char *line = malloc(cap);
    int rc = 0;
    if (!line) {
        fclose(f);
        return descent_fail(err, DESCENT_ERR_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        /* Read a whole line of any length. */
        size_t len = 0;
        int c = 0;
        while ((c = fgetc(f)) != EOF && c != '\n') {
            if (len + 2 > cap) {
                char *nl = realloc(line, cap * 2);
                if (!nl) {
                    rc = descent_fail(err, DESCENT_ERR_NOMEM, "%s: out of memory", path);
                    goto done;
                }
                line = nl;
                cap *= 2;
            }
            if (c == '\0') {
                rc = descent_fail(err, DESCENT_ERR_INVALID, "%s:%zu: NUL byte in CSV", path, lineno + 1);
                goto done;
            }
            line[len++] = (char)c;
        }
        if (c == EOF && len == 0)
            break;
        line[len] = '\0';
        lineno++;
        /* A UTF-8 byte-order mark (spreadsheets write one) is not part of
         * the first field. */
        char *start = line;
        if (lineno == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
            start += 3;
        char *content = trim(start, NULL);
        if (!*content)
            continue; /* blank lines are skipped */
        size_t field = 0;
        size_t col_start = (size_t)(content - line) + 1;
        char *p = content;
        if (header && t->names == NULL && rows == 0 && cols == 0) {
            /* Header: names separated by commas. */
            size_t n = 1;
            for (char *q = p; *q; q++)
                n += *q == ',';
            t->names = calloc(n, sizeof *t->names);
            if (!t->names) {
                rc = descent_fail(err, DESCENT_ERR_NOMEM, "%s: out of memory", path);
                goto done;
            }
            cols = n;
            t->cols = n;
            for (size_t j = 0; j < n; j++) {
                char *comma = strchr(p, ',');
                if (comma)
                    *comma = '\0';
                char *name = trim(p, NULL);
                size_t nl = strlen(name);
                if (nl >= 2 && (name[0] == '"' || name[0] == '\'') && name[nl - 1] == name[0]) {
                    name[nl - 1] = '\0';
                    name++;
                }
                t->names[j] = malloc(strlen(name) + 1);
                if (!t->names[j]) {
                    rc = descent_fail(err, DESCENT_ERR_NOMEM, "%s: out of memory", path);
                    goto done;
                }
                strcpy(t->names[j], name);
                if (!*name) {
                    rc = descent_fail(err, DESCENT_ERR_INVALID, "%s:%zu: column %zu has an empty name", path, lineno,
                                      j + 1);
                    goto done;
                }
                p = comma ? comma + 1 : p + strlen(p);
                /* A repeated name would make one column stand for another
                 * (a copy of the target read as a feature). */
                for (size_t k = 0; k < j; k++)
                    if (strcmp(t->names[k], t->names[j]) == 0) {
                        rc = descent_fail(err, DESCENT_ERR_INVALID, "%s:%zu: columns %zu and %zu are both named '%s'",
                                          path, lineno, k + 1, j + 1, t->names[j]);
                        goto done;
                    }
            }
            continue;
        }
        for (;;) {
            char *comma = strchr(p, ',');
            if (comma)
                *comma = '\0';
            size_t col = col_start + (size_t)(p - content);
            char *fv = trim(p, NULL);
            double v;
            if (!*fv) {
                rc = descent_fail(err, DESCENT_ERR_INVALID, "%s:%zu:%zu: missing value in field %zu", path, lineno, col,
                                  field + 1);
                goto done;
            }
            int is_word = word && t->names && field < t->cols && strcmp(t->names[field], words_column) == 0;
            if (parse_field(fv, &v) < 0 && !(is_word && word(ctx, fv, &v) == 0)) {
                rc = descent_fail(err, DESCENT_ERR_INVALID, "%s:%zu:%zu: not a number: '%.40s'", path, lineno, col, fv);
                goto done;
            }
            if (push(&vals, v) < 0) {
                rc = descent_fail(err, DESCENT_ERR_NOMEM, "%s: out of memory", path);
                goto done;
            }
            field++;
            if (!comma)
                break;
            p = comma + 1;
        }
        if (cols == 0)
            cols = field;
        else if (field != cols) {
            rc = descent_fail(err, DESCENT_ERR_INVALID, "%s:%zu:%zu: ragged row: %zu fields, expected %zu", path, lineno,
                              col_start + len, field, cols);
            goto done;
        }
        rows++;
        if (c == EOF)
            break;
    }
    if (ferror(f))
        rc = descent_fail(err, DESCENT_ERR_IO, "%s: read error", path);
done:
    fclose(f);
    free(line);
    if (rc < 0) {
        free(vals.v);
        descent_table_free(t);
        return rc;
    }
    t->rows = rows;
    t->cols = cols;
    t->values = vals.v;
    return 0;
}
