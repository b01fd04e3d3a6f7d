/* descent: the command-line front end. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const cli_command *const commands[] = {
    &cli_replay,
    &cli_schedule,
    &cli_bench,
    &cli_minimize,
    &cli_train,
    &cli_plot_paths,
    &cli_compare,
};
static const int ncommands = (int)(sizeof commands / sizeof commands[0]);

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "descent %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_USAGE;
}

const char *cli_flag_value(const char *cmd, int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        cli_usage_error(cmd, "%s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int cli_parse_long(const char *cmd, const char *flag, const char *text, long min, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end || errno || v < min)
        return cli_usage_error(cmd, "%s must be an integer >= %ld, got '%s'", flag, min, text);
    *out = v;
    return 0;
}

int cli_parse_double(const char *cmd, const char *flag, const char *text, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end || errno || !isfinite(v))
        return cli_usage_error(cmd, "%s must be a finite number, got '%s'", flag, text);
    *out = v;
    return 0;
}

/* Parse "a,b,c" into exactly n doubles. */
int cli_parse_x0(const char *cmd, const char *text, double *x, size_t n)
{
    const char *p = text;
    for (size_t i = 0; i < n; i++) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || !isfinite(v))
            return cli_usage_error(cmd, "--x0: value %zu is not a finite number in '%s'", i + 1, text);
        x[i] = v;
        p = end;
        while (*p == ' ')
            p++;
        if (i + 1 < n) {
            if (*p != ',')
                return cli_usage_error(cmd, "--x0 needs %zu comma-separated values (the objective's dimension), got %zu",
                                       n, i + 1);
            p++;
        }
    }
    if (*p)
        return cli_usage_error(cmd, "--x0 needs %zu values (the objective's dimension), got more: '%s'", n, text);
    return 0;
}

void cli_print_value(FILE *out, double v, descent_dtype dtype)
{
    fprintf(out, dtype == DESCENT_F64 ? "%.17g" : "%.9g", v);
}

/* One spec value as a spec string would write it. */
static int format_value(char *buf, size_t cap, const descent_hparam_info *info, int k)
{
    double v = info->default_value[k];
    if (info->type == DESCENT_HPARAM_BOOL)
        return snprintf(buf, cap, "%s", v != 0 ? "True" : "False");
    if (info->type == DESCENT_HPARAM_CHOICE)
        return snprintf(buf, cap, "'%s'", info->choices[(int)v]);
    if (v != v)
        return snprintf(buf, cap, "None");
    return snprintf(buf, cap, "%g", v);
}

/* Every optimizer with its arguments and their defaults, from the library's
 * registry (descent_hparam_describe), wrapped at 79 columns. */
void cli_print_optimizers(FILE *out)
{
    for (int o = 0; o < descent_optimizer_count(); o++) {
        const char *name = descent_optimizer_name(o);
        int col = fprintf(out, "  %s(", name), indent = col;
        descent_hparam_info info;
        for (int i = 0; descent_hparam_describe(name, i, &info) == 0; i++) {
            char item[160], a[64], b[64];
            format_value(a, sizeof a, &info, 0);
            if (info.type == DESCENT_HPARAM_PAIR) {
                format_value(b, sizeof b, &info, 1);
                snprintf(item, sizeof item, "%s=(%s, %s)", info.name, a, b);
            } else {
                snprintf(item, sizeof item, "%s=%s", info.name, a);
            }
            int len = (int)strlen(item) + 2;
            if (i > 0 && col + len + 1 > 79) { /* + 1: the ',' or ')' after it */
                col = fprintf(out, ",\n%*s", indent, "") - 2;
            } else if (i > 0) {
                col += fprintf(out, ", ");
            }
            col += fprintf(out, "%s", item);
        }
        fprintf(out, ")\n");
    }
}

static void usage(FILE *out)
{
    fprintf(out, "descent %s — gradient-descent optimizers and schedules\n\n", descent_version());
    fprintf(out, "usage: descent COMMAND [options]   (descent COMMAND --help for its options)\n\n");
    fprintf(out, "optimizers (descent replay --help lists their arguments):\n ");
    for (int o = 0, col = 1; o < descent_optimizer_count(); o++) {
        const char *name = descent_optimizer_name(o);
        if (col + (int)strlen(name) + 2 > 79)
            col = fprintf(out, "\n ") - 1;
        col += fprintf(out, " %s%s", name, o + 1 < descent_optimizer_count() ? "," : "\n");
    }
    fprintf(out, "\ncommands:\n");
    for (int i = 0; i < ncommands; i++)
        fprintf(out, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
}

/* Copy text into a roff document: escape backslashes, and keep lines that
 * start with '.' or '\'' from being read as requests. */
static void roff_copy(FILE *in, FILE *out)
{
    int c, bol = 1;
    while ((c = fgetc(in)) != EOF) {
        if (bol && (c == '.' || c == '\''))
            fputs("\\&", out);
        if (c == '\\')
            fputs("\\e", out);
        else
            fputc(c, out);
        bol = c == '\n';
    }
}

/* The man page, made from the same usage texts as --help, so the two
 * cannot disagree: `descent --man > descent.1`. */
static int man_page(FILE *out)
{
    fprintf(out, ".TH DESCENT 1 \"\" \"descent %s\" \"User Commands\"\n", descent_version());
    fprintf(out, ".SH NAME\ndescent \\- gradient-descent optimizers and learning-rate schedules\n");
    fprintf(out, ".SH SYNOPSIS\n.B descent\n.I COMMAND\n[options]\n");
    fprintf(out, ".SH DESCRIPTION\nThe command-line front end of the descent C library. Optimizer and schedule "
                 "specs use PyTorch's names and arguments, e.g. \\(aqAdamW(lr=3e-4, betas=(0.9, 0.95))\\(aq.\n");
    fprintf(out, ".SH COMMANDS\n");
    for (int i = 0; i < ncommands; i++) {
        FILE *tmp = tmpfile();
        if (!tmp)
            return CLI_FAIL;
        commands[i]->usage(tmp);
        rewind(tmp);
        fprintf(out, ".SS %s\n%s.\n.PP\n.nf\n", commands[i]->name, commands[i]->summary);
        roff_copy(tmp, out);
        fprintf(out, ".fi\n");
        fclose(tmp);
    }
    fprintf(out, ".SH EXIT STATUS\n0 on success, 1 on a runtime failure, 2 on bad usage or bad input.\n");
    fprintf(out, ".SH SEE ALSO\nThe header descent.h and the pages under docs/ in the source tree.\n");
    return CLI_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "--man") == 0) {
        /* descent --man [FILE]: the roff page on stdout or into FILE. */
        if (argc < 3)
            return man_page(stdout);
        FILE *f = fopen(argv[2], "w");
        if (!f) {
            fprintf(stderr, "descent: cannot write %s\n", argv[2]);
            return CLI_FAIL;
        }
        int rc = man_page(f);
        return fclose(f) == 0 ? rc : CLI_FAIL;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("descent %s\n", descent_version());
        return CLI_OK;
    }
    for (int i = 0; i < ncommands; i++) {
        if (strcmp(argv[1], commands[i]->name) == 0) {
            for (int k = 2; k < argc; k++)
                if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
                    commands[i]->usage(stdout);
                    return CLI_OK;
                }
            return commands[i]->run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "descent: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CLI_USAGE;
}
