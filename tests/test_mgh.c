/* The Moré-Garbow-Hillstrom problems of bench/mgh: every analytic Jacobian
 * against central differences of its residuals, at the standard starting
 * point and at a shifted point; f at the known minimizers the paper gives
 * in closed form; the paper's f* values reached from nearby points; and
 * problems of the comparison (docs/global.md) that descent's minimizers at
 * their default settings must solve within its budgets. */
#include "../bench/mgh/mgh.h"
#include "descent.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void check_jacobian(const mgh_problem *p, const double *x0, const char *where)
{
    const size_t n = p->n, m = p->m;
    double *x = malloc(n * sizeof *x), *J = malloc(m * n * sizeof *J), *r = malloc(m * sizeof *r);
    double *rp = malloc(m * sizeof *rp), *rm = malloc(m * sizeof *rm);
    memcpy(x, x0, n * sizeof *x);
    p->residual(x, n, m, r, J);
    int bad = 0;
    double worst = 0;
    for (size_t j = 0; j < n && !bad; j++) {
        double h = 1e-6 * fmax(1, fabs(x[j])), keep = x[j];
        x[j] = keep + h;
        p->residual(x, n, m, rp, NULL);
        x[j] = keep - h;
        p->residual(x, n, m, rm, NULL);
        x[j] = keep;
        for (size_t i = 0; i < m; i++) {
            double fd = (rp[i] - rm[i]) / (2 * h), an = J[i * n + j];
            /* Central differences err by O(h^2 f''') + O(eps |r| / h). */
            double tol = 1e-5 * fmax(1, fabs(an)) + 1e-9 * fabs(r[i]) / h;
            double e = fabs(fd - an) / tol;
            if (e > worst)
                worst = e;
            if (!(e <= 1)) {
                CHECK(0, "%d %s at %s: dr_%zu/dx_%zu = %.10g, differences %.10g", p->id, p->name, where, i + 1, j + 1,
                      an, fd);
                bad = 1;
                break;
            }
        }
    }
    CHECK(!bad && isfinite(worst), "%d %s at %s", p->id, p->name, where);
    free(x);
    free(J);
    free(r);
    free(rp);
    free(rm);
}

/* Minimizers the paper gives exactly: f there must be the stated f*. */
static void check_known_minima(void)
{
    double work[4096];
    struct {
        int id;
        double x[11];
    } known[] = {
        {1, {1, 1}},
        {3, {1.098159329699e-5, 9.106146739868}},
        {4, {1e6, 2e-6}},
        {5, {3, 0.5}},
        {7, {1, 0, 0}},
        {11, {50, 25, 1.5}},
        {12, {1, 10, 1}},
        {13, {0, 0, 0, 0}},
        {14, {1, 1, 1, 1}},
        {18, {1, 10, 1, 5, 4, 3}},
        {21, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
        {25, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
        {27, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
    };
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
        const mgh_problem *p = &mgh_problems[known[k].id - 1];
        double f = mgh_eval(p, known[k].x, NULL, work);
        CHECK(p->id == known[k].id && mgh_solved(p, f), "%d %s: f(x*) = %.17g, f* = %g", p->id, p->name, f, p->fstar);
    }
    /* The linear problems: f* = m - n, m(m-1)/(2(2m+1)), (m^2+3m-6)/(2(2m-3)). */
    const double m = 20;
    CHECK(mgh_problems[31].fstar == m - 10, "32: %g", mgh_problems[31].fstar);
    CHECK(fabs(mgh_problems[32].fstar - m * (m - 1) / (2 * (2 * m + 1))) < 1e-15, "33: %.17g", mgh_problems[32].fstar);
    CHECK(fabs(mgh_problems[33].fstar - (m * m + 3 * m - 6) / (2 * (2 * m - 3))) < 1e-15, "34: %.17g",
          mgh_problems[33].fstar);
}

/* The gradient is 2 J' r: check it against differences of f too. */
static void check_gradient(const mgh_problem *p, const double *x0)
{
    const size_t n = p->n;
    double x[16], g[16], work[4096];
    memcpy(x, x0, n * sizeof *x);
    double f = mgh_eval(p, x, g, work);
    int ok = isfinite(f);
    for (size_t j = 0; j < n && ok; j++) {
        double h = 1e-6 * fmax(1, fabs(x[j])), keep = x[j];
        x[j] = keep + h;
        double fp = mgh_eval(p, x, NULL, work);
        x[j] = keep - h;
        double fm = mgh_eval(p, x, NULL, work);
        x[j] = keep;
        double fd = (fp - fm) / (2 * h);
        ok = fabs(fd - g[j]) <= 1e-5 * fmax(1, fabs(g[j])) + 1e-9 * fabs(f) / h;
        if (!ok)
            fprintf(stderr, "%d %s: g_%zu = %.10g, differences %.10g\n", p->id, p->name, j + 1, g[j], fd);
    }
    CHECK(ok, "%d %s: gradient", p->id, p->name);
}

typedef struct counted {
    const mgh_problem *p;
    double work[4096];
    long evals, hit; /* hit: the evaluation at which f first met the bound */
} counted;

static double counted_f(void *ctx, const double *x, double *g, size_t n)
{
    (void)n;
    counted *c = ctx;
    double f = mgh_eval(c->p, x, g, c->work);
    c->evals++;
    if (!c->hit && mgh_solved(c->p, f))
        c->hit = c->evals;
    return f;
}

/* spec at its defaults on problem id from the standard start, with the
 * comparison's budget: solved (f <= f* + 1e-8 max(1, |f*|)) within it. */
static void check_solves(const char *spec, int id, long budget)
{
    counted *c = calloc(1, sizeof *c);
    c->p = &mgh_problems[id - 1];
    double x[16];
    c->p->start(x, c->p->n);
    descent_minimize_settings st;
    descent_minimize_default_settings(&st);
    st.max_iter = 0;
    st.max_evals = budget;
    descent_minimize_result r;
    descent_error err;
    int rc = descent_minimize(spec, NULL, counted_f, c, x, c->p->n, &st, &r, &err);
    CHECK(rc >= 0 && c->hit > 0 && c->hit <= budget, "%s on %d %s: rc %d (%s), f = %.10g after %ld evaluations",
          spec, id, c->p->name, rc, rc < 0 ? err.message : descent_stop_name(rc), r.f, c->evals);
    free(c);
}

int main(void)
{
    CHECK(MGH_COUNT == 35, "%d problems", MGH_COUNT);
    for (int k = 0; k < MGH_COUNT; k++) {
        const mgh_problem *p = &mgh_problems[k];
        CHECK(p->id == k + 1 && p->n <= 16 && p->m >= p->n && p->m * (p->n + 1) <= 4096, "%d %s: n %zu m %zu",
              p->id, p->name, p->n, p->m);
        double x0[16], x1[16];
        p->start(x0, p->n);
        check_jacobian(p, x0, "x0");
        check_gradient(p, x0);
        /* A second point: every coordinate moved by a few percent (and off
         * zero), so no term vanishes by the starting point's symmetry. */
        for (size_t j = 0; j < p->n; j++)
            x1[j] = x0[j] * (1 + 0.03 * (double)(j % 3 + 1)) + 0.01 * (double)(j + 1) * (j % 2 ? 1 : -1);
        check_jacobian(p, x1, "x1");
        check_gradient(p, x1);
    }
    check_known_minima();
    /* Meyer's variables differ by five orders of magnitude (x0 = (0.02,
     * 4000, 250)): BOBYQA's first steps are relative to x0, as NLopt's
     * default initial step is. Osborne 1 and Watson need rhoend below
     * 1e-6. */
    check_solves("BOBYQA", 10, 100000);
    /* Meyer again, by HessianFree: CG must go on past the Eisenstat-Walker
     * residual test while the quadratic model still falls (Martens' test),
     * or each iteration fixes only the stiff or only the soft directions. */
    check_solves("HessianFree", 10, 10000);
    check_solves("BOBYQA", 17, 100000);
    check_solves("BOBYQA", 20, 100000);
    return t_done();
}
