/* Figures for docs/global.md: the population methods over 15 seeds, driven
 * through the ask/tell API (evaluations = candidates told), and
 * HessianFree / LBFGS on 5-D Rosenbrock from scipy's Newton-CG example.
 *
 *     bench_global            all tables
 *     bench_global cmaes      one of: cmaes, ipop, sphere, rastrigin, newton
 */
#include "descent.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEEDS 15
#define N 10

static double sphere(const double *x, size_t n)
{
    double f = 0;
    for (size_t i = 0; i < n; i++)
        f += x[i] * x[i];
    return f;
}

static double rosenbrock(const double *x, size_t n)
{
    double f = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        double a = x[i + 1] - x[i] * x[i], b = 1 - x[i];
        f += 100 * a * a + b * b;
    }
    return f;
}

static double rastrigin(const double *x, size_t n)
{
    double f = 10.0 * (double)n;
    for (size_t i = 0; i < n; i++)
        f += x[i] * x[i] - 10 * cos(2 * 3.14159265358979323846 * x[i]);
    return f;
}

typedef double (*fn_t)(const double *, size_t);

/* One run: ask/tell until best <= target or evals >= budget. Returns the
 * evaluations used (or -1 when the budget ran out), *best the best f. */
static long run(const char *spec, fn_t fn, const double *x0, double lo, double hi, double target, long budget,
                double *best)
{
    descent_population *p;
    descent_error err;
    if (descent_population_create(&p, spec, N, &err) < 0) {
        fprintf(stderr, "%s\n", err.message);
        exit(1);
    }
    if (x0)
        descent_population_set_x0(p, x0);
    if (lo < hi) {
        double l[N], h[N];
        for (int i = 0; i < N; i++)
            l[i] = lo, h[i] = hi;
        descent_population_set_bounds(p, l, h);
    }
    double *cand = NULL, *f = NULL;
    size_t cap = 0;
    long evals = -1;
    while (descent_population_evaluations(p) < budget) {
        size_t l;
        descent_population_ask(p, NULL, &l);
        if (l > cap) {
            cap = l;
            cand = realloc(cand, cap * N * sizeof *cand);
            f = realloc(f, cap * sizeof *f);
        }
        descent_population_ask(p, cand, &l);
        for (size_t k = 0; k < l; k++)
            f[k] = fn(cand + k * N, N);
        descent_population_tell(p, f);
        if (descent_population_best(p, NULL) <= target) {
            evals = (long)descent_population_evaluations(p);
            break;
        }
    }
    *best = descent_population_best(p, NULL);
    free(cand);
    free(f);
    descent_population_destroy(p);
    return evals;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* 15 seeds of method(seed=s, extra): successes, median evaluations of the
 * successful runs, median best f. */
static void row(const char *method, const char *extra, const char *fname, fn_t fn, const double *x0, double lo,
                double hi, double target, long budget)
{
    long ev[SEEDS];
    double best[SEEDS];
    int ok = 0;
    char spec[256];
    for (int s = 0; s < SEEDS; s++) {
        snprintf(spec, sizeof spec, "%s(seed=%d%s%s)", method, s, extra[0] ? ", " : "", extra);
        long e = run(spec, fn, x0, lo, hi, target, budget, &best[s]);
        if (e >= 0)
            ev[ok++] = e;
    }
    qsort(ev, (size_t)ok, sizeof ev[0], cmp_long);
    qsort(best, SEEDS, sizeof best[0], cmp_double);
    snprintf(spec, sizeof spec, "%s(%s)", method, extra);
    char med[32] = "-";
    if (ok)
        snprintf(med, sizeof med, "%ld", ok % 2 ? ev[ok / 2] : (ev[ok / 2 - 1] + ev[ok / 2]) / 2);
    printf("| %-44s | %-10s | %5.0e | %7ld | %2d/%d | %9s | %9.3g |\n", spec, fname, target, budget, ok, SEEDS, med,
           best[SEEDS / 2]);
    fflush(stdout);
}

static void header(const char *title)
{
    printf("\n%s\n\n", title);
    printf("| %-44s | %-10s | %5s | %7s | %5s | %9s | %9s |\n", "spec (seeds 0-14)", "objective", "target", "budget",
           "hits", "med evals", "med f");
    printf("|----------------------------------------------|------------|-------|---------|-------|-----------|"
           "-----------|\n");
}

static double fd_objective(void *ctx, const double *x, double *g, size_t n)
{
    return descent_objective_eval(ctx, x, g, n);
}

static int rosen_hvp(void *ctx, const double *x, const double *v, double *hv, size_t n)
{
    ++*(long *)ctx;
    for (size_t i = 0; i < n; i++) {
        double hii = (i + 1 < n ? 1200 * x[i] * x[i] - 400 * x[i + 1] + 2 : 0) + (i > 0 ? 200 : 0);
        hv[i] = hii * v[i];
        if (i + 1 < n)
            hv[i] += -400 * x[i] * v[i + 1];
        if (i > 0)
            hv[i] += -400 * x[i - 1] * v[i - 1];
    }
    return 0;
}

static void newton(void)
{
    printf("\n5-D Rosenbrock from (1.3, 0.7, 0.8, 1.9, 1.2), the driver's default gtol = 1e-8 (max |g_i|)\n\n");
    printf("| %-40s | %5s | %5s | %9s |\n", "spec", "iter", "evals", "f");
    printf("|------------------------------------------|-------|-------|-----------|\n");
    const char *specs[] = {"HessianFree", "HessianFree(cg_tol=1e-3)", "HessianFree(damping=1)", "LBFGS",
                           "LBFGS(line_search_fn='backtracking')"};
    descent_error err;
    descent_objective *o;
    descent_objective_create(&o, "rosenbrock(dim=5)", &err);
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        double x[5] = {1.3, 0.7, 0.8, 1.9, 1.2};
        descent_minimize_settings s;
        descent_minimize_default_settings(&s);
        descent_minimize_result r;
        descent_minimize(specs[k], NULL, fd_objective, o, x, 5, &s, &r, &err);
        printf("| %-40s | %5lld | %5lld | %9.3g |\n", specs[k], (long long)r.iterations, (long long)r.evaluations, r.f);
    }
    /* The exact product instead of differences of gradients. */
    descent_minimizer *m;
    descent_minimizer_create(&m, "HessianFree", 5, &err);
    long products = 0;
    descent_minimizer_set_hessian_vector(m, rosen_hvp, &products);
    double x[5] = {1.3, 0.7, 0.8, 1.9, 1.2};
    descent_minimize_result r;
    descent_minimizer_run(m, fd_objective, o, x, NULL, &r);
    char label[64];
    snprintf(label, sizeof label, "HessianFree, exact H v (%ld products)", products);
    printf("| %-40s | %5lld | %5lld | %9.3g |\n", label, (long long)r.iterations, (long long)r.evaluations, r.f);
    descent_minimizer_destroy(m);
    descent_objective_destroy(o);
}

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : "";
    double half[N], zero[N];
    for (int i = 0; i < N; i++)
        half[i] = 0.5, zero[i] = 0;
    if (!*only || !strcmp(only, "cmaes")) {
        header("CMA-ES, 10-D, x0 = 0.5 (1, ..., 1), sigma0 = 0.3, target f < 1e-8");
        row("CMAES", "sigma0=0.3", "sphere", sphere, half, 0, 0, 1e-8, 100000);
        row("CMAES", "sigma0=0.3", "rosenbrock", rosenbrock, half, 0, 0, 1e-8, 100000);
    }
    if (!*only || !strcmp(only, "ipop")) {
        header("CMA-ES with IPOP restarts, 10-D Rastrigin in [-5.12, 5.12]^10, x0 = 0, sigma0 = 2");
        row("CMAES", "sigma0=2", "rastrigin", rastrigin, zero, -5.12, 5.12, 1e-6, 200000);
        row("CMAES", "sigma0=2, restarts=9", "rastrigin", rastrigin, zero, -5.12, 5.12, 1e-6, 200000);
    }
    if (!*only || !strcmp(only, "sphere")) {
        header("DE, PSO, GA: 10-D sphere in [-5.12, 5.12]^10, target f < 1e-6");
        row("DE", "", "sphere", sphere, NULL, -5.12, 5.12, 1e-6, 200000);
        row("DE", "strategy='best1bin'", "sphere", sphere, NULL, -5.12, 5.12, 1e-6, 200000);
        row("DE", "popsize=30, F=0.5", "sphere", sphere, NULL, -5.12, 5.12, 1e-6, 200000);
        row("PSO", "", "sphere", sphere, NULL, -5.12, 5.12, 1e-6, 200000);
        row("PSO", "constriction=True", "sphere", sphere, NULL, -5.12, 5.12, 1e-6, 200000);
        row("GA", "", "sphere", sphere, NULL, -5.12, 5.12, 1e-6, 200000);
    }
    if (!*only || !strcmp(only, "rastrigin")) {
        header("DE, PSO, GA: 10-D Rastrigin in [-5.12, 5.12]^10, success = f < 1e-6");
        row("DE", "", "rastrigin", rastrigin, NULL, -5.12, 5.12, 1e-6, 200000);
        row("DE", "CR=0.1, F=0.5", "rastrigin", rastrigin, NULL, -5.12, 5.12, 1e-6, 200000);
        row("DE", "strategy='best1bin'", "rastrigin", rastrigin, NULL, -5.12, 5.12, 1e-6, 200000);
        row("PSO", "", "rastrigin", rastrigin, NULL, -5.12, 5.12, 1e-6, 200000);
        row("GA", "", "rastrigin", rastrigin, NULL, -5.12, 5.12, 1e-6, 200000);
    }
    if (!*only || !strcmp(only, "newton"))
        newton();
    return 0;
}
