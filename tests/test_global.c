/* The methods beyond first order: LBFGS, HessianFree and the population
 * methods (CMAES, DE, PSO, GA).
 *  - each method on the objective matrix, with asserted accuracy and
 *    evaluation counts;
 *  - L-BFGS's counts on extended Rosenbrock under liblbfgs's stopping rule
 *    (liblbfgs 1.10 needs 37 iterations and 45 evaluations at n = 2);
 *  - ask/tell and the minimizer wrapper give identical runs for one seed;
 *  - the same seed reproduces a run bit for bit, another seed differs;
 *  - candidates stay inside the bounds;
 *  - IPOP restarts double the population;
 *  - the Jacobi eigensolver;
 *  - invalid settings and call orders rejected with their message. */
#include "descent.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void descent_jacobi_eigen(double *a, double *v, double *w, size_t n);

/* ---- helpers ----------------------------------------------------------- */

typedef struct counted {
    descent_objective *obj;
    long calls, grad_calls;
    const double *lo, *hi;  /* when set, every point must lie in the box */
    long outside;
    double shift;           /* shifted sphere: sum (x_i - shift)^2 */
} counted;

static double counted_eval(void *ctx, const double *x, double *g, size_t n)
{
    counted *c = ctx;
    c->calls++;
    if (g)
        c->grad_calls++;
    if (c->lo)
        for (size_t i = 0; i < n; i++)
            if (x[i] < c->lo[i] || x[i] > c->hi[i])
                c->outside++;
    if (!c->obj) {
        double f = 0;
        for (size_t i = 0; i < n; i++) {
            f += (x[i] - c->shift) * (x[i] - c->shift);
            if (g)
                g[i] = 2 * (x[i] - c->shift);
        }
        return f;
    }
    return descent_objective_eval(c->obj, x, g, n);
}

/* Minimize a built-in objective from its default start (or x0); returns
 * the stop reason and fills *r. */
static int solve(const char *spec, const char *fn, const double *x0, const descent_minimize_settings *s,
                 descent_minimize_result *r, double *x_out, double *f_min)
{
    descent_error err;
    descent_objective *o;
    if (descent_objective_create(&o, fn, &err) < 0) {
        fprintf(stderr, "%s\n", err.message);
        return -100;
    }
    size_t n = descent_objective_dim(o);
    double x[64];
    if (x0)
        memcpy(x, x0, n * sizeof *x);
    else
        descent_objective_start(o, x);
    counted c = {o, 0, 0, NULL, NULL, 0, 0};
    int rc = descent_minimize(spec, NULL, counted_eval, &c, x, n, s, r, &err);
    if (rc < 0)
        fprintf(stderr, "%s on %s: %s\n", spec, fn, err.message);
    if (x_out)
        memcpy(x_out, x, n * sizeof *x);
    if (f_min)
        descent_objective_minimum(o, f_min, NULL);
    if (c.calls != r->evaluations)
        rc = -200;
    descent_objective_destroy(o);
    return rc;
}

/* ---- LBFGS ------------------------------------------------------------- */

static double ext_rosen(void *ctx, const double *x, double *g, size_t n)
{
    long *calls = ctx;
    ++*calls;
    double f = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        double t1 = 1 - x[i], t2 = 10 * (x[i + 1] - x[i] * x[i]);
        g[i + 1] = 20 * t2;
        g[i] = -2 * (x[i] * g[i + 1] + t1);
        f += t1 * t1 + t2 * t2;
    }
    return f;
}

typedef struct eps_stop {
    const double *g;
    size_t n;
} eps_stop;

static int liblbfgs_rule(void *ctx, const descent_minimize_progress *p)
{
    (void)ctx;
    /* ||g||_2 <= 1e-5 max(1, ||x||_2); the gradient of the iterate is
     * recomputed here from x (extended Rosenbrock). */
    double g[1000], xn = 0, gn = 0;
    long dummy = 0;
    ext_rosen(&dummy, p->x, g, p->n);
    for (size_t i = 0; i < p->n; i++) {
        xn += p->x[i] * p->x[i];
        gn += g[i] * g[i];
    }
    return sqrt(gn) <= 1e-5 * fmax(1, sqrt(xn));
}

static void test_lbfgs_liblbfgs_counts(void)
{
    static const size_t dims[] = {2, 100, 1000};
    static const int max_iter[] = {37, 37, 40}, max_evals[] = {45, 48, 53}; /* liblbfgs 1.10's own counts */
    for (int k = 0; k < 3; k++) {
        size_t n = dims[k];
        double *x = malloc(n * sizeof *x);
        for (size_t i = 0; i < n; i++)
            x[i] = i % 2 == 0 ? -1.2 : 1.0;
        long calls = 0;
        descent_minimize_settings s;
        descent_minimize_default_settings(&s);
        s.gtol = 0;
        s.progress = liblbfgs_rule;
        descent_minimize_result r;
        descent_error err;
        /* liblbfgs's own history size (6; ours defaults to 10). */
        int rc = descent_minimize("LBFGS(history_size=6)", NULL, ext_rosen, &calls, x, n, &s, &r, &err);
        CHECK(rc == DESCENT_STOP_CANCELLED, "n=%zu: rc %d", n, rc);
        CHECK(r.iterations <= max_iter[k] && r.evaluations <= max_evals[k],
              "n=%zu: %lld iterations, %lld evaluations (liblbfgs: %d, %d)", n, (long long)r.iterations,
              (long long)r.evaluations, max_iter[k], max_evals[k]);
        CHECK(r.f < 1e-10 && calls == r.evaluations, "n=%zu: f %g", n, r.f);
        free(x);
    }
}

static void test_lbfgs_matrix(void)
{
    static const struct {
        const char *fn;
        long max_evals[2]; /* strong_wolfe, backtracking */
    } cases[] = {
        {"sphere(dim=10)", {10, 10}},        {"rosenbrock(dim=2)", {60, 60}},
        {"rosenbrock(dim=10)", {120, 150}},  {"quadratic(dim=10, cond=100)", {80, 80}},
        {"booth()", {20, 20}},               {"beale()", {40, 40}},
        {"himmelblau()", {40, 40}},
    };
    const char *specs[2] = {"LBFGS", "LBFGS(history_size=8, line_search_fn='backtracking')"};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int ls = 0; ls < 2; ls++) {
            descent_minimize_settings s;
            descent_minimize_default_settings(&s);
            s.gtol = 1e-7;
            descent_minimize_result r;
            double fmin;
            int rc = solve(specs[ls], cases[k].fn, NULL, &s, &r, NULL, &fmin);
            CHECK(rc == DESCENT_STOP_GTOL, "%s on %s: rc %d", specs[ls], cases[k].fn, rc);
            CHECK(r.f - fmin < 1e-10, "%s on %s: f %g", specs[ls], cases[k].fn, r.f);
            CHECK(r.evaluations <= cases[k].max_evals[ls], "%s on %s: %lld evaluations > %ld", specs[ls],
                  cases[k].fn, (long long)r.evaluations, cases[k].max_evals[ls]);
        }
}

/* OWL-QN on the lasso-like F = 1/2 |x - b|^2 + c |x|_1, whose minimizer is
 * the soft threshold x_i = sign(b_i) max(|b_i| - c, 0), zeros exact. */
static double half_sq(void *ctx, const double *x, double *g, size_t n)
{
    const double *b = ctx;
    double f = 0;
    for (size_t i = 0; i < n; i++) {
        f += 0.5 * (x[i] - b[i]) * (x[i] - b[i]);
        if (g)
            g[i] = x[i] - b[i];
    }
    return f;
}

static void test_owlqn(void)
{
    double b[6] = {3, -0.5, 0.2, -2, 0.7, 0.9}, x[6] = {0.1, 0.1, 0.1, 0.1, 0.1, 0.1};
    const double want[6] = {2, 0, 0, -1, 0, 0};
    descent_minimize_settings s;
    descent_minimize_default_settings(&s);
    s.gtol = 1e-10;
    descent_minimize_result r;
    descent_error err;
    int rc = descent_minimize("LBFGS(l1=1)", NULL, half_sq, b, x, 6, &s, &r, &err);
    CHECK(rc == DESCENT_STOP_GTOL, "rc %d: %s", rc, rc < 0 ? err.message : "");
    for (int i = 0; i < 6; i++)
        CHECK(want[i] == 0 ? x[i] == 0 : fabs(x[i] - want[i]) < 1e-9, "x[%d] = %.17g, want %g", i, x[i], want[i]);
    /* f = 1/2 |x - b|^2 + |x|_1 at the soft threshold. */
    double F = 0;
    for (int i = 0; i < 6; i++)
        F += 0.5 * (want[i] - b[i]) * (want[i] - b[i]) + fabs(want[i]);
    CHECK(fabs(r.f - F) < 1e-12 && r.evaluations <= 30, "F %.17g, want %.17g; %lld evaluations", r.f, F,
          (long long)r.evaluations);
}

/* f = sum (x_i - 0.5)^2 - log(1 - x_i) is finite only for x_i < 1: the
 * first trial steps of the line search overshoot into NaN territory. */
static double barrier(void *ctx, const double *x, double *g, size_t n)
{
    (void)ctx;
    double f = 0;
    for (size_t i = 0; i < n; i++) {
        f += (x[i] - 0.5) * (x[i] - 0.5) - log(1 - x[i]);
        if (g)
            g[i] = 2 * (x[i] - 0.5) + 1 / (1 - x[i]);
    }
    return f;
}

static void test_lbfgs_nonfinite_trials(void)
{
    /* f' = 0 where 2 (x - 0.5) (1 - x) + 1 = x (3 - 2x) = 0: x = 0. */
    const double xs = 0;
    const char *specs[] = {"LBFGS(lr=100)", "LBFGS(lr=100, line_search_fn='backtracking')"};
    for (int k = 0; k < 2; k++) {
        double x[3] = {-40, -30, -50};
        descent_minimize_settings s;
        descent_minimize_default_settings(&s);
        s.gtol = 1e-7;
        descent_minimize_result r;
        descent_error err;
        int rc = descent_minimize(specs[k], NULL, barrier, NULL, x, 3, &s, &r, &err);
        CHECK(rc == DESCENT_STOP_GTOL && fabs(x[0] - xs) < 1e-7 && fabs(x[2] - xs) < 1e-7, "%s: rc %d (%s), x0 %g",
              specs[k], rc, rc < 0 ? err.message : "", x[0]);
    }
}

/* ---- torch.optim.LBFGS stepped with a closure ---------------------------- */

static double ext_rosen4(void *ctx, const double *x, double *g, size_t n)
{
    (void)ctx;
    double f = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        double t1 = 1 - x[i], t2 = 10 * (x[i + 1] - x[i] * x[i]);
        g[i + 1] = 20 * t2;
        g[i] = -2 * (x[i] * g[i + 1] + t1);
        f += t1 * t1 + t2 * t2;
    }
    return f;
}

/* tests/golden/torch_lbfgs.txt, from gen_torch_lbfgs.py: per step the loss
 * returned, state func_evals and n_iter (exactly), and x. The gradient here
 * is rounded differently from autograd's (about 1e-16 relative), which the
 * trajectories amplify to about 2e-12 after one step and 2e-9 after six; the
 * tolerance is 1e-7. */
static void test_torch_lbfgs(const char *dir)
{
    static const char *const specs[] = {
        "LBFGS()",
        "LBFGS(line_search_fn='strong_wolfe')",
        "LBFGS(lr=0.5, max_iter=5, history_size=3)",
        "LBFGS(max_iter=7, max_eval=9, history_size=2, line_search_fn='strong_wolfe')",
        "LBFGS(lr=0.1, tolerance_change=1e-3)",
    };
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/torch_lbfgs.txt", dir);
    char *text = t_read_file(path, NULL);
    CHECK(text != NULL, "cannot read %s", path);
    if (!text)
        return;
    descent_lbfgs *o = NULL;
    double x[4];
    int current = -1, rows = 0;
    double worst = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        int k, step;
        double loss, xs[4];
        long long evals, iters;
        if (sscanf(line, "%d %d %lf %lld %lld %lf %lf %lf %lf", &k, &step, &loss, &evals, &iters, &xs[0], &xs[1],
                   &xs[2], &xs[3]) != 9)
            continue;
        if (k != current) {
            descent_lbfgs_destroy(o);
            descent_error err;
            CHECK(descent_lbfgs_create(&o, specs[k], 4, &err) == 0, "%s: %s", specs[k], err.message);
            const double x0[4] = {-1.2, 1, -1.2, 1};
            memcpy(x, x0, sizeof x);
            current = k;
        }
        double got;
        CHECK(descent_lbfgs_step(o, ext_rosen4, NULL, x, &got) == 0, "%s step %d", specs[k], step);
        CHECK(descent_lbfgs_func_evals(o) == evals && descent_lbfgs_n_iter(o) == iters,
              "%s step %d: func_evals %lld n_iter %lld, torch %lld %lld", specs[k], step,
              (long long)descent_lbfgs_func_evals(o), (long long)descent_lbfgs_n_iter(o), evals, iters);
        CHECK(t_close(got, loss, 1e-7, 1e-14), "%s step %d: loss %.17g, torch %.17g", specs[k], step, got, loss);
        for (int i = 0; i < 4; i++) {
            CHECK(t_close(x[i], xs[i], 1e-7, 1e-14), "%s step %d: x[%d] %.17g, torch %.17g", specs[k], step, i, x[i],
                  xs[i]);
            worst = fmax(worst, fabs(x[i] - xs[i]) / fmax(fabs(xs[i]), 1e-300));
        }
        rows++;
    }
    descent_lbfgs_destroy(o);
    free(text);
    CHECK(rows == 30, "%d golden rows", rows);
    printf("torch LBFGS goldens: %d steps, largest relative difference in x %.3g\n", rows, worst);
}

/* ---- HessianFree ------------------------------------------------------- */

/* The exact Hessian-vector product of chained Rosenbrock. */
static int rosen_hvp(void *ctx, const double *x, const double *v, double *hv, size_t n)
{
    int *calls = ctx;
    ++*calls;
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

static int failing_hvp(void *ctx, const double *x, const double *v, double *hv, size_t n)
{
    (void)ctx, (void)x, (void)v, (void)hv, (void)n;
    return 1;
}

static void test_hessian_free_exact_product(void)
{
    descent_error err;
    descent_objective *o;
    descent_objective_create(&o, "rosenbrock(dim=5)", &err);
    descent_minimizer *m;
    CHECK(descent_minimizer_create(&m, "HessianFree", 5, &err) == 0, "%s", err.message);
    int calls = 0;
    CHECK(descent_minimizer_set_hessian_vector(m, rosen_hvp, &calls) == 0, "%s", descent_minimizer_errmsg(m));
    double x[5] = {1.3, 0.7, 0.8, 1.9, 1.2};
    descent_minimize_result r;
    int rc = descent_minimizer_run(m, descent_objective_eval, o, x, NULL, &r);
    CHECK(rc == DESCENT_STOP_GTOL && r.iterations <= 20 && r.evaluations <= 30 && r.f < 1e-12 && calls > 0,
          "exact product: rc %d, %lld iterations, %lld evaluations, %d products, f %g", rc, (long long)r.iterations,
          (long long)r.evaluations, calls, r.f);
    CHECK(descent_minimizer_set_hessian_vector(m, failing_hvp, NULL) == 0, "set");
    double y[5] = {1.3, 0.7, 0.8, 1.9, 1.2};
    rc = descent_minimizer_run(m, descent_objective_eval, o, y, NULL, &r);
    CHECK(rc == DESCENT_ERR_INVALID && strstr(descent_minimizer_errmsg(m), "Hessian-vector product callback failed"),
          "rc %d: %s", rc, descent_minimizer_errmsg(m));
    descent_minimizer_destroy(m);
    CHECK(descent_minimizer_create(&m, "LBFGS", 5, &err) == 0, "%s", err.message);
    CHECK(descent_minimizer_set_hessian_vector(m, rosen_hvp, &calls) == DESCENT_ERR_INVALID &&
              strstr(descent_minimizer_errmsg(m), "only HessianFree"),
          "%s", descent_minimizer_errmsg(m));
    descent_minimizer_destroy(m);
    descent_objective_destroy(o);
}

static void test_hessian_free(void)
{
    /* scipy's Newton-CG example: 19 iterations with the exact Hessian. */
    const double x0[5] = {1.3, 0.7, 0.8, 1.9, 1.2};
    descent_minimize_settings s;
    descent_minimize_default_settings(&s);
    descent_minimize_result r;
    double x[5];
    int rc = solve("HessianFree", "rosenbrock(dim=5)", x0, &s, &r, x, NULL);
    CHECK(rc == DESCENT_STOP_GTOL && r.iterations <= 20 && r.evaluations <= 120 && r.f < 1e-12,
          "rosenbrock(dim=5): rc %d, %lld iterations, %lld evaluations, f %g", rc, (long long)r.iterations,
          (long long)r.evaluations, r.f);
    for (int i = 0; i < 5; i++)
        CHECK(fabs(x[i] - 1) < 1e-6, "x[%d] = %g", i, x[i]);
    static const struct {
        const char *fn;
        long max_evals;
    } cases[] = {{"sphere(dim=10)", 30},       {"quadratic(dim=10, cond=100)", 60}, {"booth()", 20},
                 {"beale()", 120},             {"himmelblau()", 80},               {"rosenbrock(dim=2)", 150}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        s.gtol = 1e-7;
        double fmin;
        rc = solve("HessianFree(cg_tol=1e-4)", cases[k].fn, NULL, &s, &r, NULL, &fmin);
        CHECK(rc == DESCENT_STOP_GTOL && r.f - fmin < 1e-10 && r.evaluations <= cases[k].max_evals,
              "HessianFree on %s: rc %d, f %g, %lld evaluations", cases[k].fn, rc, r.f, (long long)r.evaluations);
    }
}

/* ---- population methods through the driver ----------------------------- */

static void test_population_matrix(void)
{
    static const struct {
        const char *spec, *fn;
        double start;       /* every x0_i, or NAN for the objective's start */
        double target;
        long budget;
    } cases[] = {
        {"CMAES(sigma0=0.3)", "sphere(dim=10)", 0.5, 1e-8, 2000},
        {"CMAES(sigma0=0.3, seed=3)", "rosenbrock(dim=6)", 0.5, 1e-8, 6000},
        {"CMAES(sigma0=0.5)", "quadratic(dim=10, cond=1000)", 1, 1e-8, 4000},
        {"CMAES(sigma0=1)", "booth()", NAN, 1e-10, 600},
        {"CMAES(sigma0=0.5)", "beale()", NAN, 1e-10, 1500},
        {"CMAES(sigma0=1)", "himmelblau()", NAN, 1e-10, 600},
        {"DE(lower=-5, upper=5)", "sphere(dim=5)", NAN, 1e-6, 20000},
        {"DE(strategy='best1bin', lower=-5, upper=5)", "booth()", NAN, 1e-8, 3000},
        {"DE(lower=-5, upper=5)", "himmelblau()", NAN, 1e-8, 3000},
        {"PSO(lower=-5, upper=5)", "sphere(dim=5)", NAN, 1e-6, 6000},
        {"PSO(constriction=True, lower=-5, upper=5)", "booth()", NAN, 1e-8, 4000},
        {"PSO(lower=-4.5, upper=4.5)", "beale()", NAN, 1e-8, 6000},
        {"GA(lower=-5, upper=5)", "sphere(dim=5)", NAN, 1e-6, 40000},
        {"GA(lower=-5, upper=5)", "booth()", NAN, 1e-6, 10000},
        {"GA(lower=-5, upper=5)", "himmelblau()", NAN, 1e-5, 20000},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        descent_minimize_settings s;
        descent_minimize_default_settings(&s);
        s.max_iter = 0;
        s.max_evals = cases[k].budget;
        s.f_target = cases[k].target;
        descent_minimize_result r;
        double x0[64];
        for (int i = 0; i < 64; i++)
            x0[i] = cases[k].start;
        double fmin;
        int rc = solve(cases[k].spec, cases[k].fn, isnan(cases[k].start) ? NULL : x0, &s, &r, NULL, &fmin);
        CHECK(rc == DESCENT_STOP_F_TARGET && r.f <= cases[k].target,
              "%s on %s: rc %d (%s), f %g after %lld evaluations", cases[k].spec, cases[k].fn, rc,
              descent_stop_name(rc), r.f, (long long)r.evaluations);
        CHECK(isinf(r.grad_norm), "%s: grad_norm %g", cases[k].spec, r.grad_norm);
    }
}

/* ---- ask/tell against the wrapper; reproducibility; bounds -------------- */

#define NV 4

static double rosen4(const double *x)
{
    double f = 0;
    for (int i = 0; i + 1 < NV; i++)
        f += 100 * (x[i + 1] - x[i] * x[i]) * (x[i + 1] - x[i] * x[i]) + (1 - x[i]) * (1 - x[i]);
    return f;
}

static double rosen4_fn(void *ctx, const double *x, double *g, size_t n)
{
    (void)ctx, (void)n;
    if (g) /* population methods never ask for a gradient */
        abort();
    return rosen4(x);
}

/* G generations by ask/tell; the best f and x, the evaluations. */
static int ask_tell_run(const char *spec, const double *x0, int generations, double *best_x, double *best_f,
                        int64_t *evals)
{
    descent_population *p;
    descent_error err;
    int rc = descent_population_create(&p, spec, NV, &err);
    if (rc < 0) {
        fprintf(stderr, "%s\n", err.message);
        return rc;
    }
    descent_population_set_x0(p, x0);
    double cand[400 * NV], f[400];
    for (int g = 0; g < generations; g++) {
        size_t l;
        if (descent_population_ask(p, cand, &l) < 0 || l > 400)
            return -1;
        for (size_t k = 0; k < l; k++)
            f[k] = rosen4(cand + k * NV);
        if (descent_population_tell(p, f) < 0)
            return -1;
    }
    *best_f = descent_population_best(p, best_x);
    *evals = descent_population_evaluations(p);
    descent_population_destroy(p);
    return 0;
}

static void test_ask_tell_equals_wrapper(void)
{
    static const struct {
        const char *method, *args;
    } cases[] = {
        {"CMAES", "sigma0=0.5"},
        {"CMAES", "sigma0=0.2, popsize=12, restarts=2"},
        {"DE", ""},
        {"DE", "strategy='best1bin', lower=-3, upper=3"},
        {"PSO", ""},
        {"PSO", "constriction=True, init_range=2"},
        {"GA", ""},
        {"GA", "elitism=3, popsize=31, lower=-2, upper=3"},
    };
    const double x0[NV] = {-2.5, 2.5, -2.5, 2.5};
    const int G = 25;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char spec[200], other[200];
        snprintf(spec, sizeof spec, "%s(seed=7%s%s)", cases[k].method, *cases[k].args ? ", " : "", cases[k].args);
        snprintf(other, sizeof other, "%s(seed=99%s%s)", cases[k].method, *cases[k].args ? ", " : "",
                 cases[k].args);
        double xa[NV], fa;
        int64_t ea;
        CHECK(ask_tell_run(spec, x0, G, xa, &fa, &ea) == 0, "%s", spec);
        double xw[NV];
        memcpy(xw, x0, sizeof xw);
        descent_minimize_settings s;
        descent_minimize_default_settings(&s);
        s.max_iter = G;
        descent_minimize_result r;
        descent_error err;
        int rc = descent_minimize(spec, NULL, rosen4_fn, NULL, xw, NV, &s, &r, &err);
        CHECK(rc == DESCENT_STOP_MAX_ITER, "%s: rc %d", spec, rc);
        CHECK(r.f == fa && memcmp(xw, xa, sizeof xa) == 0, "%s: wrapper f %.17g, ask/tell f %.17g", spec, r.f, fa);
        CHECK(r.evaluations == ea + 1, "%s: wrapper %lld evaluations, ask/tell %lld (+1 for x0)", spec,
              (long long)r.evaluations, (long long)ea);
        /* The same seed again: bit for bit; another seed: a different run. */
        double xb[NV], fb;
        int64_t eb;
        ask_tell_run(spec, x0, G, xb, &fb, &eb);
        CHECK(fb == fa && memcmp(xb, xa, sizeof xa) == 0 && eb == ea, "%s: not reproducible", spec);
        double xc[NV], fc;
        int64_t ec;
        CHECK(ask_tell_run(other, x0, G, xc, &fc, &ec) == 0, "%s", other);
        CHECK(fc != fa, "%s and %s gave the same f %g", spec, other, fc);
    }
}

static void test_bounds(void)
{
    /* The minimum of sum (x_i - 2)^2 lies outside [-1, 0.5]^n: the best
     * point sits on the upper face and nothing is ever evaluated outside. */
    const char *specs[] = {"CMAES(sigma0=1, lower=-1, upper=0.5)", "CMAES(sigma0=0.3, restarts=3, lower=-1, upper=0.5)",
                           "DE(lower=-1, upper=0.5)", "DE(strategy='best1bin', lower=-1, upper=0.5)",
                           "PSO(lower=-1, upper=0.5)", "GA(lower=-1, upper=0.5)",
                           "GA(lower=[-1, -1, -1], upper=[0.5, 0.5, 0.5], mutation_prob=0.9)"};
    const double lo[3] = {-1, -1, -1}, hi[3] = {0.5, 0.5, 0.5};
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        counted c = {NULL, 0, 0, lo, hi, 0, 2};
        double x[3] = {0, 0, 0};
        descent_minimize_settings s;
        descent_minimize_default_settings(&s);
        s.max_iter = 0;
        s.max_evals = 4000;
        descent_minimize_result r;
        descent_error err;
        int rc = descent_minimize(specs[k], NULL, counted_eval, &c, x, 3, &s, &r, &err);
        /* CMA-ES may end earlier by its own termination criteria. */
        CHECK(rc == DESCENT_STOP_MAX_EVALS || (strncmp(specs[k], "CMAES", 5) == 0 && rc >= DESCENT_STOP_TOLFUN &&
                                               rc <= DESCENT_STOP_TOLUPSIGMA),
              "%s: rc %d", specs[k], rc);
        CHECK(c.outside == 0, "%s: %ld coordinates outside the bounds", specs[k], c.outside);
        CHECK(fabs(r.f - 3 * 1.5 * 1.5) < 1e-3, "%s: f %g, want %g", specs[k], r.f, 3 * 1.5 * 1.5);
        CHECK(c.grad_calls == 0, "%s: %ld evaluations asked for a gradient", specs[k], c.grad_calls);
    }
    /* Through the API: set_bounds. */
    descent_population *p;
    descent_error err;
    CHECK(descent_population_create(&p, "PSO(seed=4)", 3, &err) == 0, "%s", err.message);
    CHECK(descent_population_set_bounds(p, lo, hi) == 0, "%s", descent_population_errmsg(p));
    double cand[40 * 3], f[40];
    long outside = 0;
    for (int g = 0; g < 30; g++) {
        size_t l;
        descent_population_ask(p, cand, &l);
        for (size_t k = 0; k < l; k++) {
            f[k] = 0;
            for (int i = 0; i < 3; i++) {
                double v = cand[k * 3 + i];
                outside += v < lo[i] || v > hi[i];
                f[k] += (v - 2) * (v - 2);
            }
        }
        descent_population_tell(p, f);
    }
    CHECK(outside == 0, "set_bounds: %ld coordinates outside", outside);
    descent_population_destroy(p);
}

static double flat(void) { return 1.0; }

static void test_ipop_restarts(void)
{
    /* A flat function stagnates at once: each restart doubles lambda. */
    descent_population *p;
    descent_error err;
    CHECK(descent_population_create(&p, "CMAES(restarts=2)", 5, &err) == 0, "%s", err.message);
    size_t l0 = descent_population_size(p), l;
    CHECK(l0 == 4 + (size_t)floor(3 * log(5.0)), "lambda %zu", l0);
    double cand[64 * 5], f[64];
    size_t max_l = 0;
    for (int g = 0; g < 200; g++) {
        descent_population_ask(p, cand, &l);
        for (size_t k = 0; k < l; k++)
            f[k] = flat();
        descent_population_tell(p, f);
        if (l > max_l)
            max_l = l;
    }
    CHECK(max_l == 4 * l0 && descent_population_size(p) == 4 * l0, "lambda grew to %zu (want %zu after 2 restarts)",
          max_l, 4 * l0);
    descent_population_destroy(p);
}

/* ---- checkpoints of populations ---------------------------------------- */

/* FNV-1a over the bytes of every candidate asked, so two runs compare
 * generation by generation, bit for bit. */
static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        h = (h ^ ((const unsigned char *)p)[i]) * 1099511628211ULL;
    return h;
}

static double pop_value(const double *x, int flat_fn) { return flat_fn ? 1.0 : rosen4(x); }

/* Generations [from, to) of p, hashing the candidates into *h. With
 * tell_pending, first tell the values of an outstanding ask. */
static int pop_generations(descent_population *p, int from, int to, uint64_t *h, int flat_fn, int stop_after_ask)
{
    static double cand[2000 * NV], f[2000];
    size_t l;
    descent_population_pending(p, cand, &l);
    if (l) {
        for (size_t k = 0; k < l; k++)
            f[k] = pop_value(cand + k * NV, flat_fn);
        if (descent_population_tell(p, f) < 0)
            return -1;
        from++;
    }
    for (int g = from; g < to; g++) {
        if (descent_population_ask(p, cand, &l) < 0 || l > 2000)
            return -1;
        *h = fnv(*h, cand, l * NV * sizeof *cand);
        if (stop_after_ask && g == to - 1)
            return 0;
        for (size_t k = 0; k < l; k++)
            f[k] = pop_value(cand + k * NV, flat_fn);
        if (descent_population_tell(p, f) < 0)
            return -1;
    }
    return 0;
}

static void test_population_checkpoint(void)
{
    static const struct {
        const char *spec;
        int flat;
    } cases[] = {
        {"CMAES(sigma0=0.5, seed=3)", 0},
        {"CMAES(sigma0=0.3, restarts=3, seed=1)", 1}, /* flat: restarts double lambda */
        {"DE(seed=2)", 0},
        {"DE(strategy='best1bin', lower=-3, upper=3, seed=4)", 0},
        {"PSO(seed=5)", 0},
        {"PSO(constriction=True, lower=-2, upper=2)", 0},
        {"GA(seed=7)", 0},
        {"GA(popsize=11, elitism=2, seed=8)", 0},
    };
    const char *path = "test_global_pop.ckpt";
    const double x0[NV] = {-1.2, 1, -0.5, 0.3};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int mid_ask = 0; mid_ask <= 1; mid_ask++) {
            const char *spec = cases[c].spec;
            descent_error err;
            descent_population *a, *b, *fresh;
            CHECK(descent_population_create(&a, spec, NV, &err) == 0, "%s: %s", spec, err.message);
            CHECK(descent_population_create(&b, spec, NV, &err) == 0, "%s: %s", spec, err.message);
            descent_population_set_x0(a, x0);
            descent_population_set_x0(b, x0);
            uint64_t ha = 14695981039346656037ULL, hb = ha;
            /* a: 60 generations straight. b: 25 (the 25th only asked when
             * mid_ask), saved, loaded into a new population, 35 more. */
            pop_generations(a, 0, 60, &ha, cases[c].flat, 0);
            pop_generations(b, 0, 25, &hb, cases[c].flat, mid_ask);
            CHECK(descent_population_save(b, path) == 0, "%s: save: %s", spec, descent_population_errmsg(b));
            descent_population_destroy(b);
            CHECK(descent_population_create(&fresh, spec, NV, &err) == 0, "%s", err.message);
            CHECK(descent_population_load(fresh, path) == 0, "%s: load: %s", spec, descent_population_errmsg(fresh));
            pop_generations(fresh, mid_ask ? 24 : 25, 60, &hb, cases[c].flat, 0);
            double xa[NV], xb[NV];
            double fa = descent_population_best(a, xa), fb = descent_population_best(fresh, xb);
            CHECK(ha == hb && fa == fb && memcmp(xa, xb, sizeof xa) == 0 &&
                      descent_population_evaluations(a) == descent_population_evaluations(fresh) &&
                      descent_population_generation(a) == descent_population_generation(fresh) &&
                      descent_population_size(a) == descent_population_size(fresh),
                  "%s (saved %s): resumed run differs (f %.17g vs %.17g)", spec, mid_ask ? "after ask" : "after tell",
                  fa, fb);
            descent_population_destroy(a);
            descent_population_destroy(fresh);
        }

    /* Refused files leave the population as it was: it continues exactly
     * like an untouched twin. */
    descent_error err;
    descent_population *p = NULL, *twin = NULL, *other;
    CHECK(descent_population_create(&p, "CMAES(seed=9)", NV, &err) == 0 &&
              descent_population_create(&twin, "CMAES(seed=9)", NV, &err) == 0,
          "%s", err.message);
    uint64_t hp = 1, ht = 1;
    pop_generations(p, 0, 10, &hp, 0, 0);
    pop_generations(twin, 0, 10, &ht, 0, 0);
    size_t len;
    CHECK(descent_population_save_mem(p, NULL, 0, &len) == 0 && len > 28, "save size");
    unsigned char *img = malloc(len), *bad = malloc(len);
    descent_population_save_mem(p, img, len, &len);
    pop_generations(p, 10, 12, &hp, 0, 0); /* move on, so a good load would show */
    pop_generations(twin, 10, 12, &ht, 0, 0);
    for (size_t cut = 0; cut < len; cut += 1 + cut / 3)
        CHECK(descent_population_load_mem(p, img, cut) == DESCENT_ERR_CHECKPOINT, "truncated at %zu accepted", cut);
    for (size_t bit = 0; bit < len * 8; bit += 37) {
        memcpy(bad, img, len);
        bad[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        CHECK(descent_population_load_mem(p, bad, len) < 0, "bit %zu flipped accepted", bit);
    }
    CHECK(descent_population_create(&other, "DE(seed=9)", NV, &err) == 0, "%s", err.message);
    CHECK(descent_population_load_mem(other, img, len) == DESCENT_ERR_CHECKPOINT &&
              strstr(descent_population_errmsg(other), "CMAES") != NULL,
          "CMAES checkpoint into DE: %s", descent_population_errmsg(other));
    descent_population_destroy(other);
    CHECK(descent_population_create(&other, "CMAES(seed=9)", NV + 1, &err) == 0, "%s", err.message);
    CHECK(descent_population_load_mem(other, img, len) == DESCENT_ERR_CHECKPOINT &&
              strstr(descent_population_errmsg(other), "n = 4") != NULL,
          "n mismatch: %s", descent_population_errmsg(other));
    descent_population_destroy(other);
    CHECK(descent_population_load(p, "no/such/file.ckpt") == DESCENT_ERR_IO &&
              strstr(descent_population_errmsg(p), "no/such/file.ckpt") != NULL,
          "missing file: %s", descent_population_errmsg(p));
    pop_generations(p, 12, 30, &hp, 0, 0);
    pop_generations(twin, 12, 30, &ht, 0, 0);
    CHECK(hp == ht, "a refused load changed the population");
    /* DE with another popsize: refused after the header, state restored. */
    descent_population *de1 = NULL, *de2 = NULL;
    CHECK(descent_population_create(&de1, "DE(popsize=10, seed=1)", NV, &err) == 0 &&
              descent_population_create(&de2, "DE(popsize=12, seed=1)", NV, &err) == 0,
          "%s", err.message);
    uint64_t h1 = 1, h2 = 1, h3 = 1;
    pop_generations(de1, 0, 3, &h1, 0, 0);
    pop_generations(de2, 0, 3, &h2, 0, 0);
    descent_population_save_mem(de1, NULL, 0, &len);
    unsigned char *img2 = malloc(len);
    descent_population_save_mem(de1, img2, len, &len);
    CHECK(descent_population_load_mem(de2, img2, len) == DESCENT_ERR_CHECKPOINT &&
              strstr(descent_population_errmsg(de2), "popsize") != NULL,
          "popsize mismatch: %s", descent_population_errmsg(de2));
    descent_population *de3;
    CHECK(descent_population_create(&de3, "DE(popsize=12, seed=1)", NV, &err) == 0, "%s", err.message);
    pop_generations(de3, 0, 3, &h3, 0, 0);
    pop_generations(de2, 3, 9, &h2, 0, 0);
    pop_generations(de3, 3, 9, &h3, 0, 0);
    CHECK(h2 == h3, "a refused DE load changed the population");
    free(img2);
    descent_population_destroy(de1);
    descent_population_destroy(de2);
    descent_population_destroy(de3);
    free(img);
    free(bad);
    descent_population_destroy(p);
    descent_population_destroy(twin);
    remove(path);
}

static void test_jacobi(void)
{
    enum { n = 7 };
    double a[n * n], a0[n * n], v[n * n], w[n];
    uint64_t state = 12345;
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            double r = (double)(state >> 11) * 0x1.0p-53 - 0.5;
            a[i * n + j] = a[j * n + i] = r + (i == j ? 2 : 0);
        }
    memcpy(a0, a, sizeof a);
    descent_jacobi_eigen(a, v, w, n);
    double worst = 0, orth = 0;
    for (int k = 0; k < n; k++)
        for (int i = 0; i < n; i++) {
            double av = 0;
            for (int j = 0; j < n; j++)
                av += a0[i * n + j] * v[j * n + k];
            worst = fmax(worst, fabs(av - w[k] * v[i * n + k]));
            double vv = 0;
            for (int j = 0; j < n; j++)
                vv += v[j * n + k] * v[j * n + i];
            orth = fmax(orth, fabs(vv - (i == k)));
        }
    CHECK(worst < 1e-12 && orth < 1e-12, "A v - w v = %g, V'V - I = %g", worst, orth);
}

/* ---- errors ------------------------------------------------------------ */

static void expect_error(const char *spec, size_t n, int status, const char *needle)
{
    descent_minimizer *m = NULL;
    descent_error err = {0, ""};
    int rc = descent_minimizer_create(&m, spec, n, &err);
    CHECK(rc == status && strstr(err.message, needle), "%s: rc %d, message \"%s\", want %d and \"%s\"", spec, rc,
          err.message, status, needle);
    descent_minimizer_destroy(m);
}

static void test_errors(void)
{
    expect_error("LBFGS(history_size=0)", 2, DESCENT_ERR_INVALID, "history_size must be in [1, 100000], got 0");
    expect_error("LBFGS(line_search_fn='wolfe')", 2, DESCENT_ERR_INVALID,
                 "line_search_fn must be one of 'strong_wolfe', 'backtracking', got 'wolfe'");
    expect_error("LBFGS(lr=0)", 2, DESCENT_ERR_INVALID, "lr must be > 0");
    expect_error("LBFGS(c1=0.1, c2=0.05)", 2, DESCENT_ERR_INVALID, "c2 must be in (c1, 1)");
    expect_error("LBFGS(l1=-1)", 2, DESCENT_ERR_INVALID, "l1 must be >= 0, got -1");
    expect_error("LBFGS(l1=1, line_search_fn='strong_wolfe')", 2, DESCENT_ERR_INVALID,
                 "l1 > 0 (OWL-QN) uses its own projected backtracking");
    {
        descent_lbfgs *o = NULL;
        descent_error e;
        CHECK(descent_lbfgs_create(&o, "LBFGS(line_search_fn='more_thuente')", 2, &e) == DESCENT_ERR_INVALID &&
                  strstr(e.message, "line_search_fn must be one of 'strong_wolfe'"),
              "%s", e.message);
        CHECK(descent_lbfgs_create(&o, "LBFGS(max_iter=0)", 2, &e) == DESCENT_ERR_INVALID &&
                  strstr(e.message, "max_iter must be in [1,"),
              "%s", e.message);
        CHECK(descent_lbfgs_create(&o, "Adam()", 2, &e) == DESCENT_ERR_SPEC && strstr(e.message, "expected LBFGS"),
              "%s", e.message);
    }
    expect_error("LBFGS(tolerance=1)", 2, DESCENT_ERR_SPEC, "LBFGS has no argument 'tolerance'");
    expect_error("HessianFree(cg_tol=2)", 2, DESCENT_ERR_INVALID, "cg_tol must be in (0, 1], got 2");
    expect_error("HessianFree(damping=-1)", 2, DESCENT_ERR_INVALID, "damping must be >= 0");
    expect_error("HessianFree(cg_max_iter=0)", 2, DESCENT_ERR_INVALID, "cg_max_iter must be in [1,");
    expect_error("CMAES(sigma0=0)", 2, DESCENT_ERR_INVALID, "sigma0 must be > 0");
    expect_error("CMAES(popsize=1)", 2, DESCENT_ERR_INVALID, "popsize must be in [2,");
    expect_error("CMAES(restarts=-1)", 2, DESCENT_ERR_INVALID, "restarts must be in [0, 100]");
    expect_error("CMAES(seed=-1)", 2, DESCENT_ERR_INVALID, "seed must be an integer in [0, 2^53]");
    expect_error("CMAES(seed=1.5)", 2, DESCENT_ERR_INVALID, "seed must be an integer");
    expect_error("CMAES(lower=0)", 2, DESCENT_ERR_INVALID, "give both lower and upper bounds");
    expect_error("CMAES(init_range=1)", 2, DESCENT_ERR_SPEC, "CMAES has no argument 'init_range'");
    expect_error("DE(F=3)", 2, DESCENT_ERR_INVALID, "F must be in (0, 2], got 3");
    expect_error("DE(CR=1.5)", 2, DESCENT_ERR_INVALID, "CR must be in [0, 1], got 1.5");
    expect_error("DE(strategy='rand2bin')", 2, DESCENT_ERR_INVALID,
                 "strategy must be one of 'rand1bin', 'best1bin', got 'rand2bin'");
    expect_error("DE(popsize=3)", 2, DESCENT_ERR_INVALID, "popsize must be in [4,");
    expect_error("DE(lower=[0, 0], upper=[1])", 2, DESCENT_ERR_INVALID, "upper must have 2 values");
    expect_error("DE(lower=[0, 2], upper=[1, 1])", 2, DESCENT_ERR_INVALID, "lower[1] = 2 exceeds upper[1] = 1");
    expect_error("DE(init_range=0)", 2, DESCENT_ERR_INVALID, "init_range must be > 0");
    expect_error("PSO(constriction=True, c1=1, c2=1)", 2, DESCENT_ERR_INVALID, "constriction needs c1 + c2 > 4, got 2");
    expect_error("PSO(constriction=True, inertia=0.5)", 2, DESCENT_ERR_INVALID,
                 "inertia and constriction=True exclude each other");
    expect_error("PSO(inertia=1.5)", 2, DESCENT_ERR_INVALID, "inertia must be in [0, 1], got 1.5");
    expect_error("PSO(constriction=1)", 2, DESCENT_ERR_SPEC, "constriction must be True or False");
    expect_error("GA(elitism=100)", 2, DESCENT_ERR_INVALID, "elitism must be below popsize = 100, got 100");
    expect_error("GA(tournament=0)", 2, DESCENT_ERR_INVALID, "tournament must be in [1, 1000], got 0");
    expect_error("GA(popsize=10, tournament=11)", 2, DESCENT_ERR_INVALID, "tournament must be at most popsize = 10");
    expect_error("GA(mutation_prob=2)", 2, DESCENT_ERR_INVALID, "mutation_prob must be in [0, 1], got 2");
    expect_error("GA(crossover_eta=-1)", 2, DESCENT_ERR_INVALID, "crossover_eta must be in [0, 1000]");

    descent_population *p = NULL;
    descent_error err;
    CHECK(descent_population_create(&p, "Adam(lr=0.1)", 2, &err) == DESCENT_ERR_SPEC &&
              strstr(err.message, "unknown population method 'Adam'"),
          "%s", err.message);
    CHECK(descent_population_create(&p, "GA", 0, &err) == DESCENT_ERR_INVALID, "n = 0 accepted");
    CHECK(descent_population_create(&p, "DE(seed=1)", 2, &err) == 0, "%s", err.message);
    double f[20] = {0}, cand[40];
    size_t l;
    CHECK(descent_population_tell(p, f) == DESCENT_ERR_STATE &&
              strstr(descent_population_errmsg(p), "ask for candidates before telling"),
          "%s", descent_population_errmsg(p));
    double lo[2] = {0, 1}, hi[2] = {1, 0};
    CHECK(descent_population_set_bounds(p, lo, hi) == DESCENT_ERR_INVALID &&
              strstr(descent_population_errmsg(p), "of variable 1"),
          "%s", descent_population_errmsg(p));
    CHECK(descent_population_size(p) == 20, "size %zu", descent_population_size(p));
    const double x0a[2] = {5, 5};
    CHECK(descent_population_set_x0(p, x0a) == 0, "x0 after size(): %s", descent_population_errmsg(p));
    CHECK(descent_population_ask(p, cand, &l) == 0 && l == 20, "ask: %s", descent_population_errmsg(p));
    CHECK(cand[0] >= 4 && cand[0] <= 6 && cand[1] >= 4 && cand[1] <= 6, "x0 ignored: %g %g", cand[0], cand[1]);
    CHECK(descent_population_ask(p, cand, &l) == DESCENT_ERR_STATE, "asked twice");
    const double x0[2] = {1, 1};
    CHECK(descent_population_set_x0(p, x0) == DESCENT_ERR_STATE, "x0 set after ask");
    f[3] = NAN;
    CHECK(descent_population_tell(p, f) == 0, "tell: %s", descent_population_errmsg(p));
    CHECK(descent_population_best(p, NULL) == 0 && descent_population_evaluations(p) == 20 &&
              descent_population_generation(p) == 1,
          "best %g", descent_population_best(p, NULL));
    CHECK(descent_population_restart(p) == 0 && descent_population_set_x0(p, x0) == 0 &&
              descent_population_best(p, NULL) == INFINITY,
          "restart");
    descent_population_destroy(p);
}

/* ---- stop reasons, CMA-ES termination, crafted checkpoints ------------- */

/* Brown and Dennis (Moré, Garbow & Hillstrom 1981, problem 16): m = 20,
 * f* = 85822.2; its gradient cannot reach 1e-10 in double precision. */
static double brown_dennis(void *ctx, const double *x, double *g, size_t n)
{
    (void)ctx;
    (void)n;
    double f = 0;
    if (g)
        memset(g, 0, 4 * sizeof *g);
    for (int i = 1; i <= 20; i++) {
        double t = i / 5.0, a = x[0] + t * x[1] - exp(t), b = x[2] + x[3] * sin(t) - cos(t), r = a * a + b * b;
        f += r * r;
        if (g) {
            g[0] += 4 * r * a;
            g[1] += 4 * r * a * t;
            g[2] += 4 * r * b;
            g[3] += 4 * r * b * sin(t);
        }
    }
    return f;
}

static int no_nan(void *ctx, const descent_minimize_progress *p)
{
    int *bad = ctx;
    if (!isfinite(p->f))
        (*bad)++;
    for (size_t i = 0; i < p->n; i++)
        if (!isfinite(p->x[i]))
            (*bad)++;
    return 0;
}

/* At gtol 1e-10 both quasi-Newton methods end at the rounding limit: a
 * positive stop reason, f near f*, never an error blaming the objective. */
static void test_rounding_limit(void)
{
    const char *specs[] = {"HessianFree", "LBFGS", "LBFGS(history_size=6)"};
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        double x[4] = {25, 5, -5, -1};
        int bad = 0;
        descent_minimize_settings s;
        descent_minimize_default_settings(&s);
        s.gtol = 1e-10;
        s.max_iter = 0;
        s.max_evals = 20000;
        s.progress = no_nan;
        s.progress_ctx = &bad;
        descent_minimize_result r;
        descent_error err = {0, ""};
        int rc = descent_minimize(specs[k], NULL, brown_dennis, NULL, x, 4, &s, &r, &err);
        CHECK(rc == DESCENT_STOP_ROUNDING && strcmp(descent_stop_name(rc), "rounding_limit") == 0,
              "%s: rc %d (%s) %s", specs[k], rc, descent_stop_name(rc), rc < 0 ? err.message : "");
        CHECK(bad == 0 && fabs(r.f - 85822.2016263563) < 1e-6 * 85822.2, "%s: f %.17g, %d non-finite values", specs[k],
              r.f, bad);
        CHECK(r.evaluations < 2000, "%s: %lld evaluations", specs[k], (long long)r.evaluations);
    }
}

/* 10-D Rastrigin with restarts = 0 stops by a named criterion, every value
 * and candidate finite; asking after the stop still gives finite points. */
static void test_cmaes_termination(void)
{
    descent_objective *o;
    descent_error err;
    CHECK(descent_objective_create(&o, "rastrigin(dim=10)", &err) == 0, "%s", err.message);
    for (int seed = 1; seed <= 3; seed++) {
        char spec[64];
        snprintf(spec, sizeof spec, "CMAES(restarts=0, sigma0=2, seed=%d)", seed);
        double x[10];
        for (int i = 0; i < 10; i++)
            x[i] = 3;
        int bad = 0;
        descent_minimize_settings s;
        descent_minimize_default_settings(&s);
        s.max_iter = 0;
        s.max_evals = 300000;
        s.progress = no_nan;
        s.progress_ctx = &bad;
        descent_minimize_result r;
        int rc = descent_minimize(spec, NULL, descent_objective_eval, o, x, 10, &s, &r, &err);
        CHECK(rc >= DESCENT_STOP_TOLFUN && rc <= DESCENT_STOP_TOLUPSIGMA && bad == 0 && r.evaluations < 100000,
              "%s: rc %d (%s), %lld evaluations, %d non-finite", spec, rc, descent_stop_name(rc),
              (long long)r.evaluations, bad);
    }
    descent_objective_destroy(o);
    /* The ask/tell form: the stop is reported, later candidates are finite. */
    descent_population *p;
    CHECK(descent_population_create(&p, "CMAES(seed=2)", 10, &err) == 0, "%s", err.message);
    static double cand[64 * 10], f[64];
    int gens = 0, nonfinite = 0;
    while (!descent_population_stopped(p) && gens < 20000) {
        size_t l;
        descent_population_ask(p, cand, &l);
        for (size_t k = 0; k < l; k++) {
            double v = 10.0 * 10;
            for (int i = 0; i < 10; i++)
                v += cand[k * 10 + i] * cand[k * 10 + i] - 10 * cos(2 * 3.14159265358979323846 * cand[k * 10 + i]);
            f[k] = v;
        }
        descent_population_tell(p, f);
        gens++;
    }
    int why = descent_population_stopped(p);
    for (int g = 0; g < 50; g++) {
        size_t l;
        descent_population_ask(p, cand, &l);
        for (size_t k = 0; k < l * 10; k++)
            nonfinite += !isfinite(cand[k]);
        for (size_t k = 0; k < l; k++)
            f[k] = 1;
        descent_population_tell(p, f);
    }
    CHECK(why >= DESCENT_STOP_TOLFUN && why <= DESCENT_STOP_TOLUPSIGMA && nonfinite == 0 &&
              descent_population_stopped(p) == why && descent_population_stop(p) == why,
          "stopped %d after %d generations, %d non-finite coordinates", why, gens, nonfinite);
    descent_population_destroy(p);
}

/* Powell badly scaled (MGH 3): the covariance grows ill-conditioned while f
 * still falls; no restart may fire before the target is reached. */
static void test_cmaes_no_early_restart(void)
{
    for (int seed = 1; seed <= 4; seed++) {
        char spec[64];
        snprintf(spec, sizeof spec, "CMAES(restarts=3, seed=%d)", seed);
        descent_population *p;
        descent_error err;
        CHECK(descent_population_create(&p, spec, 2, &err) == 0, "%s", err.message);
        const double x0[2] = {0, 1};
        descent_population_set_x0(p, x0);
        size_t l0 = descent_population_size(p), l = l0;
        static double cand[512 * 2], f[512];
        int64_t evals = 0;
        double best = INFINITY;
        while (best > 1e-8 && evals < 100000 && l == l0) {
            descent_population_ask(p, cand, &l);
            if (l != l0)
                break;
            for (size_t k = 0; k < l; k++) {
                const double *x = cand + 2 * k;
                double r1 = 1e4 * x[0] * x[1] - 1, r2 = exp(-x[0]) + exp(-x[1]) - 1.0001;
                f[k] = r1 * r1 + r2 * r2;
            }
            descent_population_tell(p, f);
            evals += (int64_t)l;
            best = descent_population_best(p, NULL);
            l = descent_population_size(p);
        }
        CHECK(best <= 1e-8 && l == l0, "%s: restarted (lambda %zu -> %zu) at f %g after %lld evaluations", spec, l0,
              l, best, (long long)evals);
        descent_population_destroy(p);
    }
}

/* Little-endian u64 at b. */
static uint64_t get_u64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

static void put_u64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++, v >>= 8)
        b[i] = (unsigned char)v;
}

static uint32_t crc32_ieee(const unsigned char *p, size_t len)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

/* Patch the frame's payload length and CRC after editing (fileio.c's frame:
 * 8 magic, u32 version, u32 flags, u64 length, payload, u32 CRC). */
static void reframe(unsigned char *buf, size_t len)
{
    put_u64(buf + 16, len - 24 - 4);
    uint32_t crc = crc32_ieee(buf, len - 4);
    for (int i = 0; i < 4; i++)
        buf[len - 4 + i] = (unsigned char)(crc >> (8 * i));
}

/* Offset of the generation counter in an unbounded population checkpoint
 * of n variables (population.c's layout). */
static size_t gen_offset(const unsigned char *buf, size_t n)
{
    size_t name = (size_t)buf[24] | (size_t)buf[25] << 8;
    return 24 + 2 + name + 8 + 8 + 1 + 8 * n + 1 + 32 + 1 + 8;
}

/* A forged GA checkpoint whose outstanding candidates are fewer than the
 * method's generation needs (issue: the next tell read past the buffer),
 * and one whose evaluation count is near INT64_MAX. */
static void test_population_crafted(void)
{
    const size_t n = 3;
    descent_population *p, *q;
    descent_error err;
    CHECK(descent_population_create(&p, "GA(popsize=10, elitism=1, seed=1)", n, &err) == 0, "%s", err.message);
    static double cand[10 * 3], f[10];
    size_t l;
    descent_population_ask(p, cand, &l);
    for (size_t k = 0; k < l; k++)
        f[k] = (double)k;
    descent_population_tell(p, f);
    descent_population_ask(p, cand, &l); /* 9 outstanding */
    CHECK(l == 9, "second generation asks %zu", l);
    size_t len;
    descent_population_save_mem(p, NULL, 0, &len);
    unsigned char *buf = malloc(len), *forged = malloc(len);
    descent_population_save_mem(p, buf, len, &len);
    size_t at = gen_offset(buf, n), asked_at = at + 8 + 8 + 8 + 8 * n;
    CHECK(get_u64(buf + asked_at) == 9 && get_u64(buf + at) == 1, "layout: asked %llu, generation %llu",
          (unsigned long long)get_u64(buf + asked_at), (unsigned long long)get_u64(buf + at));
    /* asked = 1: drop 8 of the 9 candidates. */
    size_t drop = 8 * n * 8, flen = len - drop;
    memcpy(forged, buf, asked_at);
    put_u64(forged + asked_at, 1);
    memcpy(forged + asked_at + 8, buf + asked_at + 8, n * 8);
    memcpy(forged + asked_at + 8 + n * 8, buf + asked_at + 8 + 9 * n * 8, len - (asked_at + 8 + 9 * n * 8));
    reframe(forged, flen);
    CHECK(descent_population_create(&q, "GA(popsize=10, elitism=1, seed=1)", n, &err) == 0, "%s", err.message);
    int rc = descent_population_load_mem(q, forged, flen);
    CHECK(rc == DESCENT_ERR_CHECKPOINT && strstr(descent_population_errmsg(q), "outstanding"),
          "forged asked = 1: rc %d (%s)", rc, descent_population_errmsg(q));
    descent_population_pending(q, cand, &l);
    CHECK(l == 0, "the refused load left %zu outstanding candidates", l);
    /* Evaluations near INT64_MAX: refused (the next tell would overflow). */
    memcpy(forged, buf, len);
    put_u64(forged + at + 8, (uint64_t)INT64_MAX - 3);
    reframe(forged, len);
    rc = descent_population_load_mem(q, forged, len);
    CHECK(rc == DESCENT_ERR_CHECKPOINT && strstr(descent_population_errmsg(q), "evaluations"),
          "forged evaluation count: rc %d (%s)", rc, descent_population_errmsg(q));
    /* The unforged checkpoint loads and continues. */
    CHECK(descent_population_load_mem(q, buf, len) == 0, "%s", descent_population_errmsg(q));
    descent_population_pending(q, cand, &l);
    for (size_t k = 0; k < l; k++)
        f[k] = 1;
    CHECK(l == 9 && descent_population_tell(q, f) == 0 && descent_population_evaluations(q) == 19, "resume");
    descent_population_destroy(p);
    descent_population_destroy(q);
    free(buf);
    free(forged);
}

/* Through the command line: descent minimize --opt SPEC with these methods,
 * --f-target and the summary line. */
static void test_cli(const char *cli)
{
    static const struct {
        const char *args, *want;
    } cases[] = {
        {"--fn 'sphere(dim=4)' --x0 0.5,0.5,0.5,0.5 --opt 'CMAES(seed=1)' --f-target 1e-8 --max-iter 0",
         "stop=f_target"},
        {"--fn 'booth()' --opt 'DE(seed=2, lower=-10, upper=10)' --f-target 1e-6 --max-iter 0", "stop=f_target"},
        {"--fn 'rosenbrock(dim=5)' --x0 1.3,0.7,0.8,1.9,1.2 --opt HessianFree", "iterations=14 evaluations=113 stop=gtol"},
        {"--fn 'rosenbrock()' --opt LBFGS --gtol 1e-8", "stop=gtol"},
        {"--fn 'himmelblau()' --opt 'PSO(seed=3)' --max-iter 5", "iterations=5 evaluations=201 stop=max_iter"},
        {"--fn 'sphere(dim=3)' --opt 'GA(seed=1, popsize=20)' --max-evals 100 --max-iter 0", "iterations=6 evaluations=116 stop=max_evals"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "%s minimize %s 2>&1", cli, cases[k].args);
        char *out = NULL;
        int st = t_run(cmd, &out);
        CHECK(st == 0 && out && strstr(out, cases[k].want), "%s: exit %d, want '%s' in:\n%s", cases[k].args, st,
              cases[k].want, out ? out : "");
        free(out);
    }
}

int main(int argc, char **argv)
{
    if (argc > 2)
        test_cli(argv[2]);
    test_torch_lbfgs(argc > 1 ? argv[1] : "tests");
    test_lbfgs_liblbfgs_counts();
    test_lbfgs_matrix();
    test_owlqn();
    test_lbfgs_nonfinite_trials();
    test_hessian_free();
    test_hessian_free_exact_product();
    test_population_matrix();
    test_ask_tell_equals_wrapper();
    test_bounds();
    test_ipop_restarts();
    test_population_checkpoint();
    test_jacobi();
    test_errors();
    test_rounding_limit();
    test_cmaes_termination();
    test_cmaes_no_early_restart();
    test_population_crafted();
    return t_done();
}
