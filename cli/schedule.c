/* descent schedule: print the learning rate (and momentum) a schedule gives
 * at every optimizer step, as CSV, optionally plotted to SVG. */
#include "cli.h"
#include "svg.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void schedule_usage(FILE *out)
{
    fprintf(out,
            "usage: descent schedule --opt SPEC --sched SPEC --steps N [--metrics FILE] [--plot FILE.svg]\n\n"
            "  --opt SPEC      optimizer, e.g. 'SGD(lr=0.1, momentum=0.9)'\n"
            "  --sched SPEC    schedule, e.g. 'OneCycleLR(max_lr=0.1, total_steps=100)'\n"
            "  --steps N       rows to print (steps 0 .. N-1)\n"
            "  --metrics FILE  one number per line: the metric after step t (ReduceLROnPlateau)\n"
            "  --plot FILE     also draw lr (and momentum) against step as SVG\n\n"
            "Prints 'step,lr' (plus ',momentum' when the optimizer has momentum or betas):\n"
            "row t is what the optimizer uses for its step t; the schedule is stepped after\n"
            "each optimizer step, as a PyTorch loop 'opt.step(); sched.step()' does.\n");
}

static int schedule_run(int argc, char **argv)
{
    const char *cmd = "schedule", *opt_spec = NULL, *sched_spec = NULL, *steps_text = NULL, *metrics_path = NULL,
               *plot_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], **dst = NULL;
        if (strcmp(a, "--opt") == 0)
            dst = &opt_spec;
        else if (strcmp(a, "--sched") == 0)
            dst = &sched_spec;
        else if (strcmp(a, "--steps") == 0)
            dst = &steps_text;
        else if (strcmp(a, "--metrics") == 0)
            dst = &metrics_path;
        else if (strcmp(a, "--plot") == 0)
            dst = &plot_path;
        else
            return cli_usage_error(cmd, "unknown option '%s' (see descent schedule --help)", a);
        if (!(*dst = cli_flag_value(cmd, argc, argv, &i)))
            return CLI_USAGE;
    }
    if (!opt_spec || !sched_spec || !steps_text)
        return cli_usage_error(cmd, "--opt, --sched and --steps are required (see descent schedule --help)");
    long steps;
    if (cli_parse_long(cmd, "--steps", steps_text, 1, &steps) != 0)
        return CLI_USAGE;
    if (steps > 10000000L)
        return cli_usage_error(cmd, "--steps must be at most 10000000, got %ld", steps);

    descent_error err;
    descent_optimizer *opt = NULL;
    if (descent_create_from_spec(&opt, opt_spec, NULL, &err) < 0)
        return cli_usage_error(cmd, "--opt: %s", err.message);
    /* One group and no tensors: stepping only the schedule is the same as
     * stepping the optimizer too, for the values printed. */
    if (descent_add_group(opt, NULL) < 0 || descent_set_schedule(opt, sched_spec) < 0) {
        int rc = cli_usage_error(cmd, "--sched: %s", descent_errmsg(opt));
        descent_destroy(opt);
        return rc;
    }
    const char *mom_name = descent_momentum_name(opt);
    descent_table metrics = {0, 0, NULL, NULL};
    int needs = descent_schedule_needs_metric(opt), rc = CLI_OK;
    if (needs && !metrics_path)
        rc = cli_usage_error(cmd, "the schedule reads a metric (ReduceLROnPlateau): give --metrics FILE");
    else if (metrics_path && descent_table_read_csv(&metrics, metrics_path, 0, &err) < 0)
        rc = cli_usage_error(cmd, "--metrics: %s", err.message);
    else if (metrics_path && metrics.cols != 1 && metrics.rows > 0)
        rc = cli_usage_error(cmd, "--metrics: %s: expected one number per line, got %zu per line", metrics_path,
                             metrics.cols);
    else if (needs && metrics.rows < (size_t)steps)
        rc = cli_usage_error(cmd, "--metrics: %s has %zu values, --steps needs %ld (one per step)", metrics_path,
                             metrics.rows, steps);
    double *x = NULL, *lr = NULL, *mom = NULL;
    if (rc == CLI_OK) {
        x = malloc(sizeof *x * (size_t)steps);
        lr = malloc(sizeof *lr * (size_t)steps);
        mom = malloc(sizeof *mom * (size_t)steps);
        if (!x || !lr || !mom) {
            fprintf(stderr, "descent schedule: out of memory\n");
            rc = CLI_FAIL;
        }
    }
    /* Collect every row first: on an error nothing is printed. */
    for (long t = 0; rc == CLI_OK && t < steps; t++) {
        x[t] = (double)t;
        lr[t] = descent_get_lr(opt, 0);
        mom[t] = NAN;
        if (mom_name)
            descent_get(opt, 0, mom_name, &mom[t]);
        if (t + 1 < steps) {
            double m = needs ? metrics.values[t] : NAN;
            if (descent_schedule_step(opt, m) < 0)
                rc = cli_usage_error(cmd, "step %ld: %s", t + 1, descent_errmsg(opt));
        }
    }
    if (rc == CLI_OK && plot_path) {
        svg_chart *c = svg_chart_begin(sched_spec, "step", "learning rate", 0);
        int ok = c && svg_chart_add_series(c, "lr", (size_t)steps, x, lr, 0) == 0;
        if (ok && mom_name) {
            svg_chart_set_y2(c, mom_name, 0);
            ok = svg_chart_add_series_y2(c, mom_name, (size_t)steps, x, mom, 1) == 0;
        }
        if (!ok) {
            svg_chart_free(c);
            fprintf(stderr, "descent schedule: out of memory\n");
            rc = CLI_FAIL;
        } else if (svg_chart_end(c, plot_path) < 0) {
            fprintf(stderr, "descent schedule: cannot write %s: %s\n", plot_path, strerror(errno));
            rc = CLI_FAIL;
        }
    }
    if (rc == CLI_OK) {
        printf(mom_name ? "step,lr,momentum\n" : "step,lr\n");
        for (long t = 0; t < steps; t++) {
            printf("%ld,%.17g", t, lr[t]);
            if (mom_name)
                printf(",%.17g", mom[t]);
            putchar('\n');
        }
    }
    free(x);
    free(lr);
    free(mom);
    descent_table_free(&metrics);
    descent_destroy(opt);
    return rc;
}

const cli_command cli_schedule = {"schedule", "print the lr (and momentum) a schedule gives at each step",
                                  schedule_run, schedule_usage};
