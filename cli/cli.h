/* The descent command: one file per subcommand, each a thin layer over the
 * public API. */
#ifndef DESCENT_CLI_H
#define DESCENT_CLI_H

#include "descent.h"

#include <stdio.h>

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
    void (*usage)(FILE *out);
} cli_command;

/* Exit statuses: 0 success, 1 runtime failure, 2 bad usage or input. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Print "descent NAME: message" to stderr and return CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The value after a flag, or NULL with an error printed. */
const char *cli_flag_value(const char *cmd, int argc, char **argv, int *i);

/* Parse a positive/non-negative integer or a real, with an error printed. */
int cli_parse_long(const char *cmd, const char *flag, const char *text, long min, long *out);
int cli_parse_double(const char *cmd, const char *flag, const char *text, double *out);

/* Parse --x0 text "a,b,c" into exactly n finite doubles, with an error printed. */
int cli_parse_x0(const char *cmd, const char *text, double *x, size_t n);

/* Print a value with enough digits to round-trip its dtype. */
void cli_print_value(FILE *out, double v, descent_dtype dtype);
/* Every optimizer's signature with its defaults (descent_hparam_describe). */
void cli_print_optimizers(FILE *out);

extern const cli_command cli_replay;
extern const cli_command cli_schedule;
extern const cli_command cli_bench;
extern const cli_command cli_minimize;
extern const cli_command cli_train;
extern const cli_command cli_plot_paths;
extern const cli_command cli_compare;

#endif
