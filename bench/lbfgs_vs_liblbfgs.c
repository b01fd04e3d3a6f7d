/* descent's LBFGS against liblbfgs (Naoaki Okazaki's C port, Debian's
 * liblbfgs-dev), with the same settings: m = 6, Moré-Thuente line search
 * (c1 = 1e-4, c2 = 0.9), and liblbfgs's stopping rule
 * ||g||_2 <= eps * max(1, ||x||_2) with eps = 1e-5, applied to descent
 * through the progress callback. Prints iterations, evaluations and the
 * time per iteration of both, side by side, with liblbfgs's return code
 * (0 converged, negative an error such as -1001 LBFGSERR_ROUNDING_ERROR)
 * and descent's stop reason ("cancelled" is the eps test met;
 * "invalid state" is its line search unable to decrease f further).
 *
 *     bench_lbfgs_vs_liblbfgs            n = 2, 100, 1000 and the built-ins
 *     bench_lbfgs_vs_liblbfgs --big      also n = 10^6
 */
#include "descent.h"

#include <lbfgs.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EPSILON 1e-5

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The objective under test: extended Rosenbrock (liblbfgs's sample, n/2
 * independent pairs) or a built-in objective of descent. */
typedef struct problem {
    descent_objective *obj; /* NULL: extended Rosenbrock */
    size_t n;
    long evals;
    const double *last_grad; /* where the driver keeps g (descent side) */
    double l1;               /* OWL-QN: minimize f + l1 |x|_1 */
} problem;

static double ext_rosenbrock(const double *x, double *g, size_t n)
{
    double f = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        double t1 = 1 - x[i], t2 = 10 * (x[i + 1] - x[i] * x[i]);
        if (g) {
            g[i + 1] = 20 * t2;
            g[i] = -2 * (x[i] * g[i + 1] + t1);
        }
        f += t1 * t1 + t2 * t2;
    }
    return f;
}

static double eval(problem *p, const double *x, double *g, size_t n)
{
    p->evals++;
    return p->obj ? descent_objective_eval(p->obj, x, g, n) : ext_rosenbrock(x, g, n);
}

/* ---- liblbfgs ---------------------------------------------------------- */

static lbfgsfloatval_t lib_evaluate(void *inst, const lbfgsfloatval_t *x, lbfgsfloatval_t *g, const int n,
                                    const lbfgsfloatval_t step)
{
    (void)step;
    return eval(inst, x, g, (size_t)n);
}

static int lib_iterations;

static int lib_progress(void *inst, const lbfgsfloatval_t *x, const lbfgsfloatval_t *g, const lbfgsfloatval_t fx,
                        const lbfgsfloatval_t xnorm, const lbfgsfloatval_t gnorm, const lbfgsfloatval_t step, int n,
                        int k, int ls)
{
    (void)inst, (void)x, (void)g, (void)fx, (void)xnorm, (void)gnorm, (void)step, (void)n, (void)ls;
    lib_iterations = k;
    return 0;
}

typedef struct run_result {
    int iterations;
    long evals;
    double f, seconds;
    int status;
} run_result;

static run_result run_liblbfgs(problem *p, const double *x0)
{
    run_result r = {0};
    lbfgsfloatval_t *x = lbfgs_malloc((int)p->n);
    memcpy(x, x0, p->n * sizeof *x);
    lbfgs_parameter_t param;
    lbfgs_parameter_init(&param);
    param.m = 6;
    param.epsilon = EPSILON;
    param.linesearch = LBFGS_LINESEARCH_MORETHUENTE;
    param.max_iterations = 100000;
    if (p->l1 > 0) {
        /* liblbfgs's OWL-QN requires a backtracking search. */
        param.orthantwise_c = p->l1;
        param.linesearch = LBFGS_LINESEARCH_BACKTRACKING;
    }
    lbfgsfloatval_t fx = 0;
    p->evals = 0;
    lib_iterations = 0;
    double t0 = now();
    r.status = lbfgs((int)p->n, x, &fx, lib_evaluate, lib_progress, p, &param);
    r.seconds = now() - t0;
    r.iterations = lib_iterations;
    r.evals = p->evals;
    r.f = fx;
    lbfgs_free(x);
    return r;
}

/* ---- descent ----------------------------------------------------------- */

static double our_objective(void *ctx, const double *x, double *g, size_t n)
{
    problem *p = ctx;
    if (g)
        p->last_grad = g;
    return eval(p, x, g, n);
}

static double norm2(const double *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i] * v[i];
    return sqrt(s);
}

/* liblbfgs's test, on the iterate the driver reports: the last gradient
 * evaluated is the one at the accepted point. */
static int our_progress(void *ctx, const descent_minimize_progress *pr)
{
    problem *p = ctx;
    double xn = norm2(pr->x, pr->n), gn;
    if (p->l1 > 0) {
        /* liblbfgs tests the pseudo-gradient under OWL-QN. */
        double s = 0, c = p->l1;
        for (size_t i = 0; i < pr->n; i++) {
            double g = p->last_grad[i], x = pr->x[i], pg;
            pg = x < 0 ? g - c : x > 0 ? g + c : g + c < 0 ? g + c : g - c > 0 ? g - c : 0;
            s += pg * pg;
        }
        gn = sqrt(s);
    } else {
        gn = norm2(p->last_grad, pr->n);
    }
    return gn <= EPSILON * (xn > 1 ? xn : 1);
}

static run_result run_descent(problem *p, const double *x0)
{
    run_result r = {0};
    double *x = malloc(p->n * sizeof *x);
    memcpy(x, x0, p->n * sizeof *x);
    descent_minimize_settings s;
    descent_minimize_default_settings(&s);
    s.max_iter = 100000;
    s.gtol = 0;
    s.progress = our_progress;
    s.progress_ctx = p;
    descent_minimize_result res;
    descent_error err;
    p->evals = 0;
    char spec[128];
    if (p->l1 > 0)
        snprintf(spec, sizeof spec, "LBFGS(history_size=6, l1=%.17g)", p->l1);
    else
        snprintf(spec, sizeof spec, "LBFGS(history_size=6, line_search_fn='strong_wolfe')");
    r.status = descent_minimize(spec, NULL, our_objective, p, x, p->n, &s, &res, &err);
    if (r.status < 0 && r.status != DESCENT_ERR_STATE)
        fprintf(stderr, "descent: %s\n", err.message);
    r.iterations = (int)res.iterations;
    r.evals = (long)res.evaluations;
    r.f = res.f;
    r.seconds = res.seconds;
    free(x);
    return r;
}

/* Time per run: the least of several runs, alternating the two libraries,
 * until each has run for 0.2 s (at least 3 runs, at most 1000), so that a
 * busy machine disturbs both alike. */
static void compare(const char *label, problem *p, const double *x0)
{
    run_result a = run_liblbfgs(p, x0), b = run_descent(p, x0);
    double ta = a.seconds, tb = b.seconds, sum_a = ta, sum_b = tb;
    for (int rep = 1; rep < 1000 && (rep < 3 || sum_a < 0.2 || sum_b < 0.2); rep++) {
        run_result a2 = run_liblbfgs(p, x0), b2 = run_descent(p, x0);
        ta = fmin(ta, a2.seconds);
        tb = fmin(tb, b2.seconds);
        sum_a += a2.seconds;
        sum_b += b2.seconds;
    }
    a.seconds = ta;
    b.seconds = tb;
    printf("| %-34s | %5d | %6ld | %9.3g | %10.3g | %6d | %5d | %6ld | %9.3g | %10.3g | %-9s |\n", label,
           a.iterations, a.evals, a.f, a.iterations ? a.seconds / a.iterations : 0.0, a.status, b.iterations, b.evals,
           b.f, b.iterations ? b.seconds / b.iterations : 0.0, descent_stop_name(b.status));
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int big = argc > 1 && strcmp(argv[1], "--big") == 0;
    printf("L-BFGS, m = 6, More-Thuente (c1 = 1e-4, c2 = 0.9), stop at ||g|| <= 1e-5 max(1, ||x||)\n\n");
    printf("| %-34s | %5s | %6s | %9s | %10s | %6s | %5s | %6s | %9s | %10s | %-9s |\n", "objective",
           "iter", "evals", "f", "s/iter", "return", "iter", "evals", "f", "s/iter", "stop");
    printf("| %-34s | %5s | %6s | %9s | %10s | %6s | %5s | %6s | %9s | %10s | %-9s |\n", "", "lib", "lib",
           "lib", "lib", "lib", "ours", "ours", "ours", "ours", "ours");
    printf("|%.36s|%.7s|%.8s|%.11s|%.12s|%.8s|%.7s|%.8s|%.11s|%.12s|%.11s|\n",
           "------------------------------------", "--------", "--------", "------------", "------------",
           "--------", "--------", "--------", "------------", "------------", "------------");
    const size_t dims[] = {2, 100, 1000, 1000000};
    for (int k = 0; k < (big ? 4 : 3); k++) {
        problem p = {NULL, dims[k], 0, NULL, 0};
        double *x0 = malloc(p.n * sizeof *x0);
        for (size_t i = 0; i < p.n; i++)
            x0[i] = i % 2 == 0 ? -1.2 : 1.0;
        char label[64];
        snprintf(label, sizeof label, "extended rosenbrock n=%zu", p.n);
        compare(label, &p, x0);
        free(x0);
    }
    /* OWL-QN: extended Rosenbrock plus l1 |x|_1. */
    for (int k = 0; k < 2; k++) {
        problem p = {NULL, dims[k + 1], 0, NULL, 1.0};
        double *x0 = malloc(p.n * sizeof *x0);
        for (size_t i = 0; i < p.n; i++)
            x0[i] = i % 2 == 0 ? -1.2 : 1.0;
        char label[64];
        snprintf(label, sizeof label, "ext. rosenbrock n=%zu + 1.0|x|_1", p.n);
        compare(label, &p, x0);
        free(x0);
    }
    const char *builtins[] = {"rosenbrock(dim=2)",    "rosenbrock(dim=100)",       "beale()",
                              "booth()",              "himmelblau()",              "sphere(dim=100)",
                              "quadratic(dim=100, cond=1000)", "styblinski_tang(dim=10)", "ackley(dim=10)",
                              "rastrigin(dim=10)"};
    for (size_t k = 0; k < sizeof builtins / sizeof builtins[0]; k++) {
        descent_error err;
        problem p = {NULL, 0, 0, NULL, 0};
        if (descent_objective_create(&p.obj, builtins[k], &err) < 0) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        p.n = descent_objective_dim(p.obj);
        double *x0 = malloc(p.n * sizeof *x0);
        descent_objective_start(p.obj, x0);
        compare(builtins[k], &p, x0);
        free(x0);
        descent_objective_destroy(p.obj);
    }
    return 0;
}
