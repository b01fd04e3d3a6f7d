/* Every option the parsers accept is documented: each name appears somewhere
 * in docs/ (every .md) or README.md.
 *
 * The names come from the parsers themselves, not from a list kept here:
 *  - optimizers: descent_optimizer_count()/descent_optimizer_name(), and each
 *    one's arguments and their string values from descent_hparam_describe;
 *  - schedules: the schedule table (schedule/schedule.h; the "known:" list of
 *    the unknown-schedule error does not fit in a descent_error), with each
 *    kind's arguments and the string values they accept;
 *  - minimizers, objectives, models and the closure LBFGS: the "(known: ...)"
 *    list of the error for an unknown name, then each one's arguments as for
 *    optimizers;
 *  - the values a string argument accepts, from the "must be one of ..." of
 *    the error for a wrong string;
 *  - the CLI: the commands `descent --help` lists and every --flag of
 *    `descent COMMAND --help`.
 * A word matches on identifier boundaries; a flag must appear as --flag.
 * usage: test_doc_options TESTS_DIR DESCENT_CLI  (DESCENT_TEST_VERBOSE=1 lists the names) */
#include "descent.h"
#include "schedule/schedule.h"
#include "testutil.h"

#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

extern const sched_kind *const sched_kinds[];
extern const int sched_kind_count;

static char *docs;   /* every page, concatenated */
static int checked;

static void append_file(const char *path)
{
    size_t len;
    char *s = t_read_file(path, &len);
    if (!s) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    size_t have = docs ? strlen(docs) : 0;
    docs = realloc(docs, have + len + 2);
    memcpy(docs + have, s, len);
    docs[have + len] = '\n';
    docs[have + len + 1] = 0;
    free(s);
}

static int ident(int c) { return isalnum((unsigned char)c) || c == '_'; }

/* word (an identifier) on identifier boundaries, or a --flag not followed by
 * more of a flag name. */
static int documented(const char *word)
{
    size_t n = strlen(word);
    int flag = word[0] == '-';
    for (const char *p = strstr(docs, word); p; p = strstr(p + 1, word)) {
        int before = p > docs && (flag ? (ident(p[-1]) || p[-1] == '-') : ident(p[-1]));
        int after = flag ? (ident(p[n]) || p[n] == '-') : ident(p[n]);
        if (!before && !after)
            return 1;
    }
    return 0;
}

static void need(const char *what, const char *word)
{
    checked++;
    if (getenv("DESCENT_TEST_VERBOSE"))
        printf("%s %s\n", what, word);
    CHECK(documented(word), "%s '%s' appears nowhere in docs/ or README.md", what, word);
}

/* The comma-separated names after `marker` up to the closing parenthesis, as
 * a list of malloc'd strings; returns the count. */
static int names_after(const char *msg, const char *marker, char names[][64], int max)
{
    const char *p = strstr(msg, marker);
    if (!p)
        return -1;
    p += strlen(marker);
    const char *end = strchr(p, ')');
    if (!end)
        return -1; /* cut short: the caller reports it */
    int k = 0;
    while (p < end && k < max) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t len = 0;
        while (p + len < end && p[len] != ',')
            len++;
        while (len && p[len - 1] == ' ')
            len--;
        if (len && len < 64) {
            memcpy(names[k], p, len);
            names[k++][len] = 0;
        }
        p += len;
    }
    return k;
}

/* Arguments of a spec family: make(spec) fails with the "it takes" message
 * for the unknown argument. */
typedef int (*make_fn)(const char *spec, descent_error *err);

static void check_args(const char *family, const char *name, make_fn make)
{
    char spec[256], names[64][64], what[256];
    descent_error err;
    snprintf(spec, sizeof spec, "%.63s(zz_no_such_argument=1)", name);
    int rc = make(spec, &err);
    CHECK(rc < 0, "%s accepted an unknown argument", spec);
    if (rc >= 0)
        return;
    if (strstr(err.message, "takes no arguments"))
        return;
    int k = names_after(err.message, "(it takes ", names, 64);
    CHECK(k > 0, "%s: no argument list in '%s'", spec, err.message);
    for (int i = 0; i < k; i++) {
        snprintf(what, sizeof what, "%.40s %.63s: argument", family, name);
        need(what, names[i]);
        /* A string argument's error for a wrong value lists the values. */
        snprintf(spec, sizeof spec, "%.63s(%.63s='zz_no_such_value')", name, names[i]);
        if (make(spec, &err) >= 0)
            continue;
        const char *p = strstr(err.message, "must be one of ");
        const char *end = p ? strstr(p, ", got") : NULL;
        for (p = p ? strchr(p, '\'') : NULL; p && p < end; p = strchr(p + 1, '\'')) {
            const char *close = strchr(p + 1, '\'');
            char value[64];
            if (!close || close > end || close - p - 1 >= (long)sizeof value)
                break;
            memcpy(value, p + 1, (size_t)(close - p - 1));
            value[close - p - 1] = 0;
            snprintf(what, sizeof what, "%.40s %.63s: value of %.63s", family, name, names[i]);
            need(what, value);
            p = close;
        }
    }
}

/* The names of a family from the error for an unknown name, each checked
 * with its arguments. */
static void check_family(const char *family, const char *unknown_spec, make_fn make)
{
    char names[64][64];
    descent_error err;
    CHECK(make(unknown_spec, &err) < 0, "%s: '%s' was accepted", family, unknown_spec);
    int k = names_after(err.message, "(known: ", names, 64);
    CHECK(k > 0, "%s: no complete list of names in '%s'", family, err.message);
    for (int i = 0; i < k; i++) {
        need(family, names[i]);
        check_args(family, names[i], make);
    }
}

static int make_minimizer(const char *spec, descent_error *err)
{
    descent_minimizer *m;
    int rc = descent_minimizer_create(&m, spec, 2, err);
    if (rc >= 0)
        descent_minimizer_destroy(m);
    return rc;
}

static int make_objective(const char *spec, descent_error *err)
{
    descent_objective *o;
    int rc = descent_objective_create(&o, spec, err);
    if (rc >= 0)
        descent_objective_destroy(o);
    return rc;
}

static int make_model(const char *spec, descent_error *err)
{
    int task;
    return descent_model_task(spec, &task, err);
}

static int make_torch_lbfgs(const char *spec, descent_error *err)
{
    descent_lbfgs *o;
    int rc = descent_lbfgs_create(&o, spec, 2, err);
    if (rc >= 0)
        descent_lbfgs_destroy(o);
    return rc;
}

/* The CLI: commands from `descent --help`, flags from each command's --help. */
static void check_cli(const char *cli)
{
    char cmd[1024], *out;
    snprintf(cmd, sizeof cmd, "'%s' --help", cli);
    CHECK(t_run(cmd, &out) == 0, "%s failed", cmd);
    const char *p = strstr(out, "commands:");
    CHECK(p != NULL, "no commands: in descent --help");
    int commands = 0;
    for (p = p ? strchr(p, '\n') : NULL; p && p[1]; p = strchr(p + 1, '\n')) {
        char name[64];
        if (sscanf(p + 1, " %63[a-z-]", name) != 1)
            continue;
        commands++;
        need("CLI command", name);
        char *help;
        snprintf(cmd, sizeof cmd, "'%s' %s --help", cli, name);
        CHECK(t_run(cmd, &help) == 0, "%s failed", cmd);
        int flags = 0;
        for (const char *q = strstr(help, "--"); q; q = strstr(q + 2, "--")) {
            if (q > help && (ident(q[-1]) || q[-1] == '-'))
                continue;
            char flag[64];
            size_t len = 2;
            while (len < sizeof flag - 1 && (islower((unsigned char)q[len]) || isdigit((unsigned char)q[len]) ||
                                             q[len] == '-'))
                len++;
            if (len == 2 || !islower((unsigned char)q[2]))
                continue;
            memcpy(flag, q, len);
            flag[len] = 0;
            char what[96];
            snprintf(what, sizeof what, "descent %s flag", name);
            need(what, flag);
            flags++;
        }
        CHECK(flags > 0, "descent %s --help lists no flags", name);
        free(help);
    }
    CHECK(commands >= 7, "descent --help lists %d commands", commands);
    free(out);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s TESTS_DIR DESCENT_CLI\n", argv[0]);
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/../README.md", argv[1]);
    append_file(path);
    snprintf(path, sizeof path, "%s/../docs", argv[1]);
    DIR *d = opendir(path);
    CHECK(d != NULL, "cannot open %s", path);
    int pages = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n > 3 && strcmp(e->d_name + n - 3, ".md") == 0) {
            char page[4400];
            snprintf(page, sizeof page, "%s/%s", path, e->d_name);
            append_file(page);
            pages++;
        }
    }
    if (d)
        closedir(d);
    CHECK(pages >= 5, "only %d pages under docs/", pages);

    /* Optimizers: each one's arguments and the strings a choice accepts, as
     * descent_hparam_describe gives them. */
    for (int i = 0; i < descent_optimizer_count(); i++) {
        const char *name = descent_optimizer_name(i);
        need("optimizer", name);
        descent_hparam_info info;
        CHECK(descent_hparam_count(name) > 0, "optimizer %s: no arguments described", name);
        for (int a = 0; descent_hparam_describe(name, a, &info) == 0; a++) {
            char what[160];
            snprintf(what, sizeof what, "optimizer %s: argument", name);
            need(what, info.name);
            for (const char *const *c = info.choices; c && *c; c++) {
                snprintf(what, sizeof what, "optimizer %s: value of %s", name, info.name);
                need(what, *c);
            }
        }
    }
    /* Schedules: names, arguments and the strings an argument accepts. The
     * error for an unknown schedule lists them all. */
    {
        descent_error err;
        char names[64][64];
        double lr;
        CHECK(descent_schedule_lr_at("zz_no_such_schedule()", 0.1, 0, &lr, &err) < 0, "an unknown schedule was accepted");
        int k = names_after(err.message, "(known: ", names, 64);
        CHECK(k == sched_kind_count, "the unknown-schedule error lists %d of %d schedules: %s", k, sched_kind_count,
              err.message);
    }
    for (int i = 0; i < sched_kind_count; i++) {
        const sched_kind *k = sched_kinds[i];
        need("schedule", k->name);
        for (const sched_arg *a = k->args; a && a->name; a++) {
            char what[160];
            snprintf(what, sizeof what, "schedule %s: argument", k->name);
            need(what, a->name);
            for (const char *const *c = a->choices; c && *c; c++) {
                snprintf(what, sizeof what, "schedule %s: value of %s", k->name, a->name);
                need(what, *c);
            }
        }
    }
    check_family("minimizer", "zz_no_such_method()", make_minimizer);
    check_family("objective", "zz_no_such_objective()", make_objective);
    check_family("model", "zz_no_such_model()", make_model);
    check_args("closure optimizer", "LBFGS", make_torch_lbfgs);
    check_cli(argv[2]);

    printf("%d names checked against the docs\n", checked);
    CHECK(checked > 200, "only %d names checked", checked);
    return t_done();
}
