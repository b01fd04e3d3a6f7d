/* descent minimize: minimize a built-in objective with any method of the
 * minimize driver, optionally writing the trajectory to a CSV trace. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void minimize_usage(FILE *out)
{
    fprintf(out,
            "usage: descent minimize --fn SPEC --opt SPEC [--x0 a,b,...] [--sched SPEC] [--max-iter N]\n"
            "                        [--max-evals N] [--gtol X] [--ftol X] [--xtol X] [--f-target X]\n"
            "                        [--max-time S] [--trace FILE.csv]\n\n"
            "  --fn SPEC        objective: rosenbrock(dim=2), beale(), booth(), himmelblau(), rastrigin(dim=2),\n"
            "                   ackley(dim=2), styblinski_tang(dim=2), sphere(dim=2), quadratic(dim=2, cond=10)\n"
            "  --opt SPEC       method: any optimizer ('Adam(lr=0.01)'), 'NAG(lr=1e-3, momentum=0.9)', or\n"
            "                   another minimizer of docs/global.md ('LBFGS()')\n"
            "  --x0 LIST        starting point, dim comma-separated numbers (default: the objective's\n"
            "                   standard start, e.g. (-1.2, 1, -1.2, ...) for rosenbrock)\n"
            "  --sched SPEC     learning-rate schedule, stepped once per iteration\n"
            "  --max-iter N     iteration limit (default 1000; 0: none)\n"
            "  --max-evals N    evaluation limit (default none)\n"
            "  --gtol X         stop when max |grad f| <= X (default 1e-8)\n"
            "  --ftol X         stop when |f_k - f_k-1| <= X |f_k| (default off)\n"
            "  --xtol X         stop when every |x_k - x_k-1| <= X |x_k| (default off)\n"
            "  --f-target X     stop when f <= X (default off)\n"
            "  --max-time S     wall-time limit in seconds (default none)\n"
            "  --trace FILE     CSV: iter,f,grad_norm,lr,x0,x1,... for the start (iter 0) and every iteration\n\n"
            "The last line of output is the summary: f, grad_norm, iterations, evaluations, stop reason.\n"
            "Exit status 0 when a criterion or budget stopped the run, 1 on a failure, 2 on bad input.\n");
}

typedef struct trace_ctx {
    FILE *f;
} trace_ctx;

static int trace_row(void *ctx, const descent_minimize_progress *p)
{
    trace_ctx *t = ctx;
    fprintf(t->f, "%lld,%.17g,%.17g,", (long long)p->iteration, p->f, p->grad_norm);
    if (isnan(p->lr))
        fputs("", t->f);
    else
        fprintf(t->f, "%.17g", p->lr);
    for (size_t i = 0; i < p->n; i++)
        fprintf(t->f, ",%.17g", p->x[i]);
    fputc('\n', t->f);
    return 0;
}

static int minimize_run(int argc, char **argv)
{
    const char *cmd = "minimize", *fn_spec = NULL, *opt_spec = NULL, *sched = NULL, *x0 = NULL, *trace = NULL;
    descent_minimize_settings s;
    descent_minimize_default_settings(&s);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (strcmp(a, "--fn") == 0)
            dst = &fn_spec;
        else if (strcmp(a, "--opt") == 0)
            dst = &opt_spec;
        else if (strcmp(a, "--sched") == 0)
            dst = &sched;
        else if (strcmp(a, "--x0") == 0)
            dst = &x0;
        else if (strcmp(a, "--trace") == 0)
            dst = &trace;
        if (dst) {
            if (!(*dst = cli_flag_value(cmd, argc, argv, &i)))
                return CLI_USAGE;
            continue;
        }
        const char *v;
        long l;
        double d;
        if (strcmp(a, "--max-iter") == 0 || strcmp(a, "--max-evals") == 0) {
            if (!(v = cli_flag_value(cmd, argc, argv, &i)) || cli_parse_long(cmd, a, v, 0, &l))
                return CLI_USAGE;
            *(a[6] == 'i' ? &s.max_iter : &s.max_evals) = l;
        } else if (strcmp(a, "--gtol") == 0 || strcmp(a, "--ftol") == 0 || strcmp(a, "--xtol") == 0 ||
                   strcmp(a, "--max-time") == 0) {
            if (!(v = cli_flag_value(cmd, argc, argv, &i)) || cli_parse_double(cmd, a, v, &d))
                return CLI_USAGE;
            if (d < 0)
                return cli_usage_error(cmd, "%s must be >= 0, got %s", a, v);
            *(a[2] == 'g' ? &s.gtol : a[2] == 'f' ? &s.ftol_rel : a[2] == 'x' ? &s.xtol_rel : &s.max_seconds) = d;
        } else if (strcmp(a, "--f-target") == 0) {
            if (!(v = cli_flag_value(cmd, argc, argv, &i)) || cli_parse_double(cmd, a, v, &s.f_target))
                return CLI_USAGE;
        } else {
            return cli_usage_error(cmd, "unknown option '%s' (see descent minimize --help)", a);
        }
    }
    if (!fn_spec || !opt_spec)
        return cli_usage_error(cmd, "--fn and --opt are required (see descent minimize --help)");

    descent_error err;
    descent_objective *obj = NULL;
    if (descent_objective_create(&obj, fn_spec, &err) < 0)
        return cli_usage_error(cmd, "--fn: %s", err.message);
    size_t n = descent_objective_dim(obj);
    double *x = malloc(n * sizeof *x);
    if (!x) {
        descent_objective_destroy(obj);
        fprintf(stderr, "descent minimize: out of memory\n");
        return CLI_FAIL;
    }
    int rc = CLI_OK;
    descent_minimizer *m = NULL;
    if (x0)
        rc = cli_parse_x0(cmd, x0, x, n);
    else
        descent_objective_start(obj, x);
    if (rc == CLI_OK && descent_minimizer_create(&m, opt_spec, n, &err) < 0)
        rc = cli_usage_error(cmd, "--opt: %s", err.message);
    if (rc == CLI_OK && sched && descent_minimizer_set_schedule(m, sched) < 0)
        rc = cli_usage_error(cmd, "--sched: %s", descent_minimizer_errmsg(m));
    trace_ctx tc = {NULL};
    if (rc == CLI_OK && trace) {
        tc.f = fopen(trace, "w");
        if (!tc.f)
            rc = cli_usage_error(cmd, "--trace: cannot write '%s'", trace);
        else {
            fputs("iter,f,grad_norm,lr", tc.f);
            for (size_t i = 0; i < n; i++)
                fprintf(tc.f, ",x%zu", i);
            fputc('\n', tc.f);
            s.progress = trace_row;
            s.progress_ctx = &tc;
        }
    }
    if (rc == CLI_OK) {
        printf("minimize %s with %s from", descent_objective_name(obj), opt_spec);
        for (size_t i = 0; i < n && i < 8; i++)
            printf("%s%.17g", i ? ", " : " (", x[i]);
        printf("%s)\n", n > 8 ? ", ..." : "");
        descent_minimize_result r;
        int st = descent_minimizer_run(m, descent_objective_eval, obj, x, &s, &r);
        if (st < 0) {
            fprintf(stderr, "descent minimize: %s\n", descent_minimizer_errmsg(m));
            rc = CLI_FAIL;
        }
        double fmin;
        descent_objective_minimum(obj, &fmin, NULL);
        printf("x =");
        for (size_t i = 0; i < n && i < 8; i++)
            printf("%s%.17g", i ? ", " : " (", x[i]);
        printf("%s)   known minimum f = %.17g\n", n > 8 ? ", ..." : "", fmin);
        printf("f=%.17g grad_norm=%.6g iterations=%lld evaluations=%lld stop=%s\n", r.f, r.grad_norm,
               (long long)r.iterations, (long long)r.evaluations, descent_stop_name(r.reason));
    }
    if (tc.f && fclose(tc.f) != 0 && rc == CLI_OK) {
        fprintf(stderr, "descent minimize: error writing %s\n", trace);
        rc = CLI_FAIL;
    }
    descent_minimizer_destroy(m);
    descent_objective_destroy(obj);
    free(x);
    return rc;
}

const cli_command cli_minimize = {"minimize", "minimize a built-in objective with any optimizer or minimizer",
                                  minimize_run, minimize_usage};
