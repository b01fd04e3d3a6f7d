#include "testutil.h"

#include "descent.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <sys/wait.h>
#endif

#ifdef _WIN32
#include <direct.h>
#include <io.h>

char *t_mkdtemp(char *tmpl) { return _mktemp(tmpl) && _mkdir(tmpl) == 0 ? tmpl : NULL; }
#endif

int t_passed, t_failed;

int t_valgrind(void) { return getenv("DESCENT_VALGRIND") != NULL || getenv("DESCENT_EMULATED") != NULL; }

/* A program that made no check tested nothing: that is a failure too (a
 * loop over an empty list, a skipped section, a main that forgot its
 * calls). */
int t_done(void)
{
    printf("%d passed, %d failed\n", t_passed, t_failed);
    if (t_passed + t_failed == 0) {
        fprintf(stderr, "no checks were made: a test that checks nothing fails\n");
        return 1;
    }
    return t_failed ? 1 : 0;
}

int t_skip(const char *why)
{
    printf("skipped: %s\n", why);
    return 77;
}

void t_isa_covered(int best)
{
    static const char *const names[] = {"portable", "AVX2", "AVX-512"};
    printf("instruction sets covered:");
    for (int k = 0; k <= best && k < 3; k++)
        printf(" %s", names[k]);
    if (best < 2)
        printf("; not on this CPU, not covered:");
    for (int k = best + 1; k < 3; k++)
        printf(" %s", names[k]);
    printf("\n");
}

int t_close(double a, double b, double rtol, double atol)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    if (a == b)
        return 1;
    double m = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    return fabs(a - b) <= rtol * m + atol;
}

char *t_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

int t_parse_csv(const char *s, double *out, int max)
{
    int n = 0;
    const char *p = s;
    while (*p && *p != '\n') {
        char *end;
        double v = strtod(p, &end);
        if (end == p || n >= max)
            return -1;
        out[n++] = v;
        p = end;
        if (*p == ',')
            p++;
    }
    return n;
}

int t_run(const char *cmd, char **out)
{
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    size_t cap = 1 << 14, n = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
    }
    if (buf)
        buf[n] = '\0';
    int st = pclose(f);
    if (out)
        *out = buf;
    else
        free(buf);
#ifdef _WIN32
    return st; /* _pclose returns the command's exit code */
#else
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
#endif
}

int t_next_line(char **cursor, char *line, size_t cap)
{
    char *p = *cursor;
    while (*p) {
        char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len >= cap)
            len = cap - 1;
        memcpy(line, p, len);
        line[len] = '\0';
        p = eol ? eol + 1 : p + len;
        if (line[0] != '#' && line[0] != '\0') {
            *cursor = p;
            return 1;
        }
    }
    *cursor = p;
    return 0;
}

int t_next_field(char **cursor, char *line, size_t cap, const char **value)
{
    if (!t_next_line(cursor, line, cap))
        return 0;
    char *space = strchr(line, ' ');
    *value = "";
    if (space) {
        *space = '\0';
        *value = space + 1;
    }
    return 1;
}

descent_optimizer *t_make_opt(const char *spec)
{
    descent_optimizer *opt = NULL;
    descent_error err;
    int rc = descent_create_from_spec(&opt, spec, NULL, &err);
    CHECK(rc == 0, "%s: %s", spec, err.message);
    if (rc == 0)
        CHECK(descent_add_group(opt, NULL) == 0, "%s: add_group", spec);
    return opt;
}

unsigned char *t_checkpoint(const descent_optimizer *opt, size_t *len)
{
    descent_save_mem(opt, NULL, 0, len);
    unsigned char *buf = malloc(*len);
    if (buf)
        descent_save_mem(opt, buf, *len, len);
    return buf;
}

void t_expect_spec_error(const char *spec, const char *needle)
{
    descent_optimizer *opt = NULL;
    descent_error err;
    int rc = descent_create_from_spec(&opt, spec, NULL, &err);
    CHECK(rc < 0 && opt == NULL && strstr(err.message, needle) != NULL, "%s: rc %d, message: %s (wanted '%s')", spec,
          rc, rc < 0 ? err.message : "", needle);
    descent_destroy(opt);
}

size_t t_dsize(int dtype) { return dtype == DESCENT_F64 ? 8 : 4; }

double t_get_elem(const void *a, int dtype, size_t i)
{
    return dtype == DESCENT_F64 ? ((const double *)a)[i] : (double)((const float *)a)[i];
}

void t_set_elem(void *a, int dtype, size_t i, double v)
{
    if (dtype == DESCENT_F64)
        ((double *)a)[i] = v;
    else
        ((float *)a)[i] = (float)v;
}
