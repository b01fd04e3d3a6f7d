/* The minimize driver: gradients of the built-in objectives, an optimizer x
 * objective matrix with stated tolerances and budgets, every stop reason,
 * cancellation, the NAG <-> SGD(nesterov=True) mapping, spec errors, and
 * the minimize command. */
#include "descent.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *cli_path;

static const char *const objective_specs[] = {
    "rosenbrock(dim=2)", "rosenbrock(dim=5)",       "beale()",          "booth()",
    "himmelblau()",      "rastrigin(dim=3)",        "ackley(dim=3)",    "styblinski_tang(dim=4)",
    "sphere(dim=3)",     "quadratic(dim=6, cond=1000)",
};
#define NOBJ (sizeof objective_specs / sizeof objective_specs[0])

/* Central differences at a few pseudo-random points in [-2, 2]^n. */
static void test_gradients(void)
{
    uint64_t state = 12345;
    for (size_t k = 0; k < NOBJ; k++) {
        descent_objective *o;
        descent_error err;
        int rc = descent_objective_create(&o, objective_specs[k], &err);
        CHECK(rc == 0, "%s: %s", objective_specs[k], err.message);
        if (rc)
            continue;
        size_t n = descent_objective_dim(o);
        double x[8], g[8], xp[8];
        for (int trial = 0; trial < 5; trial++) {
            for (size_t i = 0; i < n; i++) {
                state = state * 6364136223846793005u + 1442695040888963407u;
                x[i] = 4.0 * (double)(state >> 11) / 9007199254740992.0 - 2.0;
            }
            double f = descent_objective_eval(o, x, g, n);
            CHECK(isfinite(f), "%s: f = %g", objective_specs[k], f);
            CHECK(f == descent_objective_eval(o, x, NULL, n), "%s: f differs without grad", objective_specs[k]);
            for (size_t i = 0; i < n; i++) {
                double h = 1e-6 * (1 + fabs(x[i]));
                memcpy(xp, x, n * sizeof *x);
                xp[i] = x[i] + h;
                double fp = descent_objective_eval(o, xp, NULL, n);
                xp[i] = x[i] - h;
                double fm = descent_objective_eval(o, xp, NULL, n);
                double fd = (fp - fm) / (2 * h);
                CHECK(t_close(g[i], fd, 1e-6, 1e-6 * (1 + fabs(f))), "%s: d/dx%zu analytic %.12g, central %.12g",
                      objective_specs[k], i, g[i], fd);
            }
        }
        /* The known minimum: f there is f_min, the gradient vanishes. */
        double fmin, xmin[8];
        descent_objective_minimum(o, &fmin, xmin);
        double fx = descent_objective_eval(o, xmin, g, n);
        CHECK(t_close(fx, fmin, 1e-12, 1e-12), "%s: f(x_min) = %.17g, f_min = %.17g", objective_specs[k], fx, fmin);
        for (size_t i = 0; i < n; i++)
            CHECK(fabs(g[i]) < 1e-9, "%s: grad[%zu] = %g at the minimum", objective_specs[k], i, g[i]);
        CHECK(descent_objective_eval(o, xmin, g, n + 1) != descent_objective_eval(o, xmin, g, n + 1),
              "%s: wrong n gives NAN", objective_specs[k]);
        descent_objective_destroy(o);
    }
    descent_objective *o;
    descent_error err;
    CHECK(descent_objective_create(&o, "styblinski_tang(dim=2)", &err) == 0, "%s", err.message);
    double fmin;
    descent_objective_minimum(o, &fmin, NULL);
    CHECK(t_close(fmin, -39.16616570377142 * 2, 1e-12, 0), "styblinski_tang f_min = %.17g", fmin);
    descent_objective_destroy(o);
}

/* Each method reaches f - f_min <= tol within the iteration budget, on the
 * 2-D Rosenbrock from (-1.2, 1) and on a 10-D quadratic with cond = 100
 * from (1, ..., 1). The budgets are about twice what each run needs. */
typedef struct matrix_case {
    const char *fn, *opt;
    double tol;
    int64_t budget;
} matrix_case;

static const matrix_case cases[] = {
    /* measured: 1940, 1982, 3300, 3300, 4778, 1201 iterations */
    {"rosenbrock(dim=2)", "SGD(lr=1e-3, momentum=0.9)", 1e-8, 4000},
    {"rosenbrock(dim=2)", "NAG(lr=1e-3, momentum=0.9)", 1e-8, 4000},
    {"rosenbrock(dim=2)", "Adam(lr=0.02)", 1e-8, 7000},
    {"rosenbrock(dim=2)", "AdamW(lr=0.02, weight_decay=0)", 1e-8, 7000},
    {"rosenbrock(dim=2)", "Adamax(lr=0.02)", 1e-8, 10000},
    {"rosenbrock(dim=2)", "RMSprop(lr=1e-3, momentum=0.9)", 1e-8, 2500},
    /* measured: 1112, 196, 197, 212, 89, 25, 408 iterations */
    {"quadratic(dim=10, cond=100)", "SGD(lr=0.01)", 1e-10, 2500},
    {"quadratic(dim=10, cond=100)", "SGD(lr=0.01, momentum=0.9, nesterov=True)", 1e-10, 400},
    {"quadratic(dim=10, cond=100)", "NAG(lr=0.01, momentum=0.9)", 1e-10, 400},
    {"quadratic(dim=10, cond=100)", "Adam(lr=0.05)", 1e-10, 500},
    {"quadratic(dim=10, cond=100)", "RMSprop(lr=0.01, momentum=0.5)", 1e-10, 200},
    {"quadratic(dim=10, cond=100)", "Adagrad(lr=0.5)", 1e-10, 60},
    {"quadratic(dim=10, cond=100)", "Adadelta(lr=1)", 1e-10, 900},
};

static void test_matrix(void)
{
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const matrix_case *c = &cases[k];
        descent_objective *o;
        descent_error err;
        if (descent_objective_create(&o, c->fn, &err) < 0) {
            CHECK(0, "%s: %s", c->fn, err.message);
            continue;
        }
        size_t n = descent_objective_dim(o);
        double x[16], fmin;
        descent_objective_start(o, x);
        descent_objective_minimum(o, &fmin, NULL);
        descent_minimize_settings s;
        descent_minimize_default_settings(&s);
        s.gtol = 0;
        s.f_target = fmin + c->tol;
        s.max_iter = c->budget;
        descent_minimize_result r;
        int rc = descent_minimize(c->opt, NULL, descent_objective_eval, o, x, n, &s, &r, &err);
        CHECK(rc == DESCENT_STOP_F_TARGET, "%s on %s: stopped by %s after %lld iterations, f = %.3g (%s)", c->opt,
              c->fn, descent_stop_name(rc), (long long)r.iterations, r.f, rc < 0 ? err.message : "");
        CHECK(r.f - fmin <= c->tol && r.iterations <= c->budget, "%s on %s: f - f_min = %.3g in %lld iterations",
              c->opt, c->fn, r.f - fmin, (long long)r.iterations);
        descent_objective_destroy(o);
    }
}

static double nan_after_3(void *ctx, const double *x, double *g, size_t n)
{
    int *calls = ctx;
    (*calls)++;
    double f = 0;
    for (size_t i = 0; i < n; i++) {
        f += x[i] * x[i];
        if (g)
            g[i] = 2 * x[i];
    }
    return *calls > 3 ? NAN : f;
}

typedef struct cancel_ctx {
    int64_t at;
    int calls;
    int64_t last_iter;
} cancel_ctx;

static int cancel_at(void *ctx, const descent_minimize_progress *p)
{
    cancel_ctx *c = ctx;
    c->calls++;
    c->last_iter = p->iteration;
    return p->iteration >= c->at;
}

static int run_sphere(const char *opt, descent_minimize_settings *s, descent_minimize_result *r, double start)
{
    descent_objective *o;
    descent_error err;
    descent_objective_create(&o, "sphere(dim=3)", &err);
    double x[3] = {start, start, start};
    int rc = descent_minimize(opt, NULL, descent_objective_eval, o, x, 3, s, r, &err);
    descent_objective_destroy(o);
    return rc;
}

static void test_stop_reasons(void)
{
    descent_minimize_settings s;
    descent_minimize_result r;

    descent_minimize_default_settings(&s);
    CHECK(s.max_iter == 1000 && s.gtol == 1e-8 && s.ftol_rel == 0 && s.xtol_rel == 0 && isinf(s.f_target) &&
              s.max_evals == 0 && s.max_seconds == 0 && !s.progress,
          "defaults");

    s.max_iter = 7;
    s.gtol = 0;
    CHECK(run_sphere("SGD(lr=0.01)", &s, &r, 1) == DESCENT_STOP_MAX_ITER && r.iterations == 7 && r.evaluations == 8,
          "max_iter: %d iterations %lld evals %lld", r.reason, (long long)r.iterations, (long long)r.evaluations);
    CHECK(r.reason == DESCENT_STOP_MAX_ITER && t_close(r.f, 3 * pow(0.98, 14), 1e-12, 0) &&
              t_close(r.grad_norm, 2 * pow(0.98, 7), 1e-12, 0),
          "sphere after 7 SGD steps: f = %.17g, |g| = %.17g", r.f, r.grad_norm);

    descent_minimize_default_settings(&s);
    s.max_evals = 8; /* NAG: 1 at the start, 1 in the first iteration, then 2 per iteration */
    s.gtol = 0;
    CHECK(run_sphere("NAG(lr=0.01)", &s, &r, 1) == DESCENT_STOP_MAX_EVALS && r.evaluations == 8 && r.iterations == 4,
          "max_evals with NAG: iterations %lld evals %lld", (long long)r.iterations, (long long)r.evaluations);

    descent_minimize_default_settings(&s);
    CHECK(run_sphere("Adam", &s, &r, 0) == DESCENT_STOP_GTOL && r.iterations == 0 && r.evaluations == 1,
          "gtol at the start point");
    s.gtol = 1e-3;
    CHECK(run_sphere("SGD(lr=0.1)", &s, &r, 1) == DESCENT_STOP_GTOL && r.grad_norm <= 1e-3, "gtol: |g| = %g",
          r.grad_norm);

    descent_minimize_default_settings(&s);
    s.gtol = 0;
    s.ftol_rel = 1e-3;
    CHECK(run_sphere("SGD(lr=1e-5)", &s, &r, 1) == DESCENT_STOP_FTOL && r.iterations == 1, "ftol: %s after %lld",
          descent_stop_name(r.reason), (long long)r.iterations);

    descent_minimize_default_settings(&s);
    s.gtol = 0;
    s.xtol_rel = 1e-3;
    CHECK(run_sphere("SGD(lr=1e-5)", &s, &r, 1) == DESCENT_STOP_XTOL && r.iterations == 1, "xtol: %s",
          descent_stop_name(r.reason));

    descent_minimize_default_settings(&s);
    s.f_target = 0.5;
    CHECK(run_sphere("SGD(lr=0.1)", &s, &r, 1) == DESCENT_STOP_F_TARGET && r.f <= 0.5, "f_target: f = %g", r.f);

    descent_minimize_default_settings(&s);
    s.gtol = 0;
    s.max_iter = 0;
    s.max_seconds = 1e-9;
    CHECK(run_sphere("SGD(lr=1e-3)", &s, &r, 1) == DESCENT_STOP_MAX_TIME && r.iterations == 1, "max_time: %s",
          descent_stop_name(r.reason));

    descent_minimize_default_settings(&s);
    cancel_ctx cc = {5, 0, -1};
    s.gtol = 0;
    s.progress = cancel_at;
    s.progress_ctx = &cc;
    CHECK(run_sphere("Adam(lr=0.01)", &s, &r, 1) == DESCENT_STOP_CANCELLED && r.iterations == 5 && cc.calls == 6 &&
              cc.last_iter == 5,
          "cancel: %s after %lld iterations, %d calls", descent_stop_name(r.reason), (long long)r.iterations, cc.calls);
    cc.at = 0;
    cc.calls = 0;
    CHECK(run_sphere("Adam(lr=0.01)", &s, &r, 1) == DESCENT_STOP_CANCELLED && r.iterations == 0 && cc.calls == 1,
          "cancel at the start point");

    /* A non-finite objective is an error, with a message. */
    int calls = 0;
    double x[2] = {1, 1};
    descent_error err;
    int rc = descent_minimize("SGD(lr=0.1)", NULL, nan_after_3, &calls, x, 2, NULL, &r, &err);
    CHECK(rc == DESCENT_ERR_NONFINITE && r.reason == DESCENT_ERR_NONFINITE && strstr(err.message, "evaluation 4"),
          "non-finite: %d %s", rc, err.message);

    /* Invalid settings. */
    descent_minimize_default_settings(&s);
    s.gtol = -1;
    CHECK(run_sphere("SGD(lr=0.1)", &s, &r, 1) == DESCENT_ERR_INVALID, "negative gtol");
    CHECK(strcmp(descent_stop_name(DESCENT_STOP_XTOL), "xtol") == 0 &&
              strcmp(descent_stop_name(DESCENT_STOP_CANCELLED), "cancelled") == 0,
          "stop names");
}

/* NAG (Sutskever) in w and SGD(nesterov=True) (PyTorch) in p = w - mu v
 * follow the same path: p_t = (1 + mu) w_t - mu w_{t-1}. */
static void test_nag_mapping(void)
{
    const double lr = 0.02, mu = 0.9;
    descent_objective *o;
    descent_error err;
    descent_objective_create(&o, "quadratic(dim=4, cond=50)", &err);
    double w[4] = {1, -2, 0.5, 3}, p[4], w_prev[4];
    memcpy(p, w, sizeof w);
    descent_minimizer *nag, *sgd;
    CHECK(descent_minimizer_create(&nag, "NAG(lr=0.02, momentum=0.9)", 4, &err) == 0, "%s", err.message);
    CHECK(descent_minimizer_create(&sgd, "SGD(lr=0.02, momentum=0.9, nesterov=True)", 4, &err) == 0, "%s",
          err.message);
    CHECK(strcmp(descent_minimizer_name(nag), "NAG") == 0 && strcmp(descent_minimizer_name(sgd), "SGD") == 0,
          "names");
    CHECK(descent_minimizer_optimizer(nag) == NULL && descent_minimizer_optimizer(sgd) != NULL, "optimizer()");
    CHECK(descent_minimizer_set_schedule(nag, "StepLR(step_size=1)") < 0, "NAG takes no schedule");
    descent_minimizer_start(nag, descent_objective_eval, o, w, NULL, NULL);
    descent_minimizer_start(sgd, descent_objective_eval, o, p, NULL, NULL);
    double worst = 0;
    for (int t = 1; t <= 60; t++) {
        memcpy(w_prev, w, sizeof w);
        descent_minimizer_iterate(nag, w, NULL, NULL);
        descent_minimizer_iterate(sgd, p, NULL, NULL);
        for (int i = 0; i < 4; i++) {
            double mapped = (1 + mu) * w[i] - mu * w_prev[i];
            double d = fabs(mapped - p[i]) / (1e-3 + fabs(p[i]));
            worst = d > worst ? d : worst;
        }
    }
    CHECK(worst < 1e-12, "NAG mapped onto SGD nesterov: worst relative difference %.3g over 60 steps", worst);
    CHECK(descent_minimizer_lr(nag) == lr && descent_minimizer_lr(sgd) == lr, "lr");
    CHECK(descent_minimizer_evaluations(nag) == 1 + 1 + 2 * 59 && descent_minimizer_evaluations(sgd) == 61,
          "evaluations: NAG %lld, SGD %lld", (long long)descent_minimizer_evaluations(nag),
          (long long)descent_minimizer_evaluations(sgd));
    descent_minimizer_destroy(nag);
    descent_minimizer_destroy(sgd);
    descent_objective_destroy(o);
}

static void expect_spec_error(int rc, const descent_error *err, const char *needle, const char *what)
{
    CHECK(rc < 0 && strstr(err->message, needle), "%s: rc %d, message '%s' lacks '%s'", what, rc, err->message,
          needle);
}

static void test_spec_errors(void)
{
    descent_error err;
    descent_objective *o;
    descent_minimizer *m;
    expect_spec_error(descent_objective_create(&o, "rosenbrok()", &err), &err, "unknown objective 'rosenbrok'",
                      "unknown objective");
    CHECK(o == NULL, "out is NULL on error");
    expect_spec_error(descent_objective_create(&o, "rosenbrock(dim=1)", &err), &err, "dim must be in [2,", "dim 1");
    expect_spec_error(descent_objective_create(&o, "sphere(dim=2.5)", &err), &err, "dim must be an integer",
                      "dim 2.5");
    expect_spec_error(descent_objective_create(&o, "beale(dim=3)", &err), &err, "beale has no argument 'dim'",
                      "beale dim");
    expect_spec_error(descent_objective_create(&o, "quadratic(cond=0.5)", &err), &err, "cond must be in [1,",
                      "cond < 1");
    expect_spec_error(descent_objective_create(&o, "sphere(dim=2", &err), &err, "unclosed bracket", "syntax");
    expect_spec_error(descent_minimizer_create(&m, "Adamm(lr=0.1)", 2, &err), &err, "unknown method 'Adamm'",
                      "unknown method");
    expect_spec_error(descent_minimizer_create(&m, "NAG(lr=-1)", 2, &err), &err, "lr must be > 0", "NAG lr");
    expect_spec_error(descent_minimizer_create(&m, "NAG(momentum=1)", 2, &err), &err, "momentum must be in [0, 1)",
                      "NAG momentum");
    expect_spec_error(descent_minimizer_create(&m, "NAG(0.1, 0.9, 3)", 2, &err), &err, "at most 2 positional",
                      "NAG positional");
    expect_spec_error(descent_minimizer_create(&m, "Adam(lr=0.1)", 0, &err), &err, "n must be at least 1", "n = 0");
    /* The message quotes the spec and points at the bad part. */
    descent_objective_create(&o, "quadratic(dim=3, cond=-2)", &err);
    CHECK(strstr(err.message, "quadratic(dim=3, cond=-2)\n") && strstr(err.message, "^^"), "caret: %s", err.message);
}

static void test_schedule(void)
{
    descent_objective *o;
    descent_error err;
    descent_objective_create(&o, "quadratic(dim=4, cond=10)", &err);
    double x[4];
    descent_objective_start(o, x);
    descent_minimize_settings s;
    descent_minimize_default_settings(&s);
    s.gtol = 0;
    s.max_iter = 10;
    descent_minimize_result r;
    int rc = descent_minimize("SGD(lr=0.1)", "StepLR(step_size=5, gamma=0.5)", descent_objective_eval, o, x, 4, &s,
                              &r, &err);
    if (rc == DESCENT_ERR_STATE && strstr(err.message, "not available")) {
        printf("schedules not linked in this build: schedule test skipped\n");
    } else {
        /* After 5 steps at 0.1 the lr halves: x_i = (1-0.1 l)^5 (1-0.05 l)^5 */
        CHECK(rc == DESCENT_STOP_MAX_ITER, "with a schedule: %s (%s)", descent_stop_name(rc), err.message);
        double l0 = 1, want = pow(1 - 0.1 * l0, 5) * pow(1 - 0.05 * l0, 5);
        CHECK(t_close(x[0], want, 1e-12, 0), "StepLR through minimize: x0 = %.17g, want %.17g", x[0], want);
    }
    descent_objective_destroy(o);
}

static void test_cli(void)
{
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "%s minimize --fn 'rosenbrock()' --opt 'Adam(lr=0.02)' --max-iter 50 --trace tm_trace.csv", cli_path);
    int st = t_run(cmd, &out);
    CHECK(st == 0, "minimize exit %d", st);
    const char *last = out ? strrchr(out, '\n') : NULL;
    while (last && last > out && last[-1] != '\n')
        last--;
    if (out && last && last[0] == '\n')
        last = out;
    CHECK(last && strstr(last, "f=") && strstr(last, "grad_norm=") && strstr(last, "iterations=50") &&
              strstr(last, "evaluations=51") && strstr(last, "stop=max_iter"),
          "summary line: %s", last ? last : "(none)");
    free(out);
    size_t len;
    char *trace = t_read_file("tm_trace.csv", &len);
    CHECK(trace && strncmp(trace, "iter,f,grad_norm,lr,x0,x1\n0,", 28) == 0, "trace header and start row");
    int rows = 0;
    for (size_t i = 0; trace && i < len; i++)
        rows += trace[i] == '\n';
    CHECK(rows == 52, "trace rows: %d (header + start + 50)", rows);
    if (trace) {
        /* The start row is f(-1.2, 1) = 24.2 with no lr. */
        const char *row1 = strchr(trace, '\n') + 1;
        CHECK(strncmp(row1, "0,24.199999999999996,", 21) == 0 || strncmp(row1, "0,24.2,", 7) == 0, "start row %.40s",
              row1);
    }
    free(trace);
    remove("tm_trace.csv");

    const char *bad[] = {
        "minimize --fn 'rosenbrock()'",
        "minimize --fn 'nosuch()' --opt 'Adam'",
        "minimize --fn 'sphere()' --opt 'Adam(lr=-1)'",
        "minimize --fn 'sphere()' --opt 'Adam' --x0 1,2,3",
        "minimize --fn 'sphere()' --opt 'Adam' --x0 1,abc",
        "minimize --fn 'sphere()' --opt 'Adam' --max-iter -3",
        "minimize --fn 'sphere()' --opt 'Adam' --gtol",
        "minimize --fn 'sphere()' --opt 'Adam' --bogus 1",
        "minimize --fn 'sphere()' --opt 'Adam' --trace /nonexistent/dir/t.csv",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(cmd, sizeof cmd, "%s %s 2>/dev/null", cli_path, bad[i]);
        st = t_run(cmd, &out);
        CHECK(st == 2, "'%s' exit %d, want 2", bad[i], st);
        free(out);
    }
}

int main(int argc, char **argv)
{
    cli_path = argc > 2 ? argv[2] : "descent";
    test_gradients();
    test_matrix();
    test_stop_reasons();
    test_nag_mapping();
    test_spec_errors();
    test_schedule();
    test_cli();
    return t_done();
}
