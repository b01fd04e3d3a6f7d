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

void cli_print_value(FILE *out, double v, descent_dtype dtype)
{
    fprintf(out, dtype == DESCENT_F64 ? "%.17g" : "%.9g", v);
}

static void usage(FILE *out)
{
    fprintf(out, "descent %s — gradient-descent optimizers and schedules\n\n", descent_version());
    fprintf(out, "usage: descent COMMAND [options]   (descent COMMAND --help for its options)\n\ncommands:\n");
    for (int i = 0; i < ncommands; i++)
        fprintf(out, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
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
