/* Minimizer kind "LBFGS": limited-memory BFGS (Nocedal 1980; Liu & Nocedal
 * 1989) with the two-loop recursion over the last history_size pairs
 * s_k = x_{k+1} - x_k, y_k = g_{k+1} - g_k, the initial inverse Hessian
 * H0 = (s'y / y'y) I, and a Moré-Thuente strong Wolfe line search (the
 * default, as in liblbfgs) or Armijo backtracking. One iteration is one
 * direction and one line search. liblbfgs's conventions: the first trial
 * step is lr / ||d||_2 on the first iteration (d = -g) and lr afterwards;
 * c1 = 1e-4, c2 = 0.9, xtol = 1e-16, steps in [1e-20, 1e20].
 *
 * A pair with y's <= 0 (possible under backtracking) is not stored. When a
 * search finds no acceptable point, the history is dropped and the
 * iteration retried along -g; if that fails too after earlier progress, f
 * cannot be decreased at this precision: the run stops with
 * DESCENT_STOP_ROUNDING at the best point (from the starting point itself
 * it is an error: the gradient does not describe f).
 *
 * l1 > 0 minimizes f + l1 |x|_1 by OWL-QN (Andrew & Gao 2007; see
 * owlqn_iterate), with its own projected backtracking search. */
#include "args.h"
#include "kinds.h"
#include "line_search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { LS_STRONG_WOLFE = 0, LS_BACKTRACKING = 1 };

typedef struct lbfgs {
    size_t n, m;
    int line_search;
    double lr;
    line_search_params ls;
    double *s, *y;      /* m pairs of n values each, a ring */
    double *rho, *alpha;
    size_t count;       /* pairs stored */
    size_t next;        /* slot the next pair goes to */
    double gamma;       /* s'y / y'y of the newest pair: H0 = gamma I */
    double *d, *xp, *g0;
    int64_t iterations;
    /* OWL-QN */
    double l1;
    bool fresh;         /* the next iteration is the first since restart */
    double fs;          /* smooth f at the iterate */
    double *gs, *pg;    /* smooth gradient and pseudo-gradient at the iterate */
    double last_step;
} lbfgs;

static bool lbfgs_accepts(const char *name) { return descent_name_eq(name, "LBFGS") || descent_name_eq(name, "L-BFGS"); }

static void lbfgs_destroy(void *state)
{
    lbfgs *s = state;
    if (!s)
        return;
    free(s->s);
    free(s->y);
    free(s->rho);
    free(s->alpha);
    free(s->d);
    free(s->xp);
    free(s->g0);
    free(s->gs);
    free(s->pg);
    free(s);
}

static int lbfgs_create(void **state, const spec_doc *doc, const spec_node *call, size_t n, descent_error *err)
{
    static const char *const names[] = {"history_size", "line_search_fn", "lr",  "max_linesearch",
                                        "c1",           "c2",             "l1", NULL};
    static const char *const searches[] = {"strong_wolfe", "backtracking", NULL};
    const spec_node *a[7];
    size_t m = 10, max_ls = 20;
    double lr = 1, c1 = 1e-4, c2 = 0.9, l1 = 0;
    int search = LS_STRONG_WOLFE;
    int rc = descent_args_bind(doc, call, "LBFGS", names, a, err);
    if (rc == 0)
        rc = descent_args_size(doc, a[0], "history_size", 1, 100000, &m, err);
    if (rc == 0 && a[1] && a[1]->kind != SPEC_NONE)
        rc = descent_args_choice(doc, a[1], "line_search_fn", searches, &search, err);
    if (rc == 0)
        rc = descent_args_real(doc, a[2], "lr", 0, true, INFINITY, &lr, err);
    if (rc == 0)
        rc = descent_args_size(doc, a[3], "max_linesearch", 1, 1000000, &max_ls, err);
    if (rc == 0)
        rc = descent_args_real(doc, a[4], "c1", 0, true, 0.5, &c1, err);
    if (rc == 0)
        rc = descent_args_real(doc, a[5], "c2", 0, true, 1, &c2, err);
    if (rc == 0 && c1 >= 0.5)
        rc = descent_spec_fail(doc, a[4], err, DESCENT_ERR_INVALID, "c1 must be in (0, 0.5), got %g", c1);
    if (rc == 0 && (c2 <= c1 || c2 >= 1))
        rc = descent_spec_fail(doc, a[5] ? a[5] : a[4], err, DESCENT_ERR_INVALID,
                               "c2 must be in (c1, 1) = (%g, 1), got %g", c1, c2);
    if (rc == 0)
        rc = descent_args_real(doc, a[6], "l1", 0, false, INFINITY, &l1, err);
    if (rc == 0 && l1 > 0 && a[1] && a[1]->kind == SPEC_STR && search == LS_STRONG_WOLFE)
        rc = descent_spec_fail(doc, a[1], err, DESCENT_ERR_INVALID,
                               "l1 > 0 (OWL-QN) uses its own projected backtracking: leave line_search_fn None or "
                               "'backtracking'");
    if (rc < 0)
        return rc;
    if (m > SIZE_MAX / sizeof(double) / 2 / n)
        return descent_fail(err, DESCENT_ERR_INVALID, "history_size %zu times n = %zu is too large", m, n);
    lbfgs *s = calloc(1, sizeof *s);
    if (s) {
        s->s = malloc(m * n * sizeof *s->s);
        s->y = malloc(m * n * sizeof *s->y);
        s->rho = calloc(m, sizeof *s->rho);
        s->alpha = calloc(m, sizeof *s->alpha);
        s->d = malloc(n * sizeof *s->d);
        s->xp = malloc(n * sizeof *s->xp);
        s->g0 = malloc(n * sizeof *s->g0);
        if (l1 > 0) {
            s->gs = malloc(n * sizeof *s->gs);
            s->pg = malloc(n * sizeof *s->pg);
        }
    }
    if (!s || !s->s || !s->y || !s->rho || !s->alpha || !s->d || !s->xp || !s->g0 ||
        (l1 > 0 && (!s->gs || !s->pg))) {
        lbfgs_destroy(s);
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory for LBFGS(history_size=%zu) over %zu variables", m,
                            n);
    }
    s->n = n;
    s->m = m;
    s->line_search = search;
    s->lr = lr;
    s->ls = (line_search_params){c1, c2, 1e-16, 1e-20, 1e20, max_ls};
    s->last_step = NAN;
    s->l1 = l1;
    s->fresh = true;
    *state = s;
    return 0;
}

static const char *lbfgs_name(const void *state)
{
    (void)state;
    return "LBFGS";
}

static int lbfgs_restart(void *state, descent_error *err)
{
    (void)err;
    lbfgs *s = state;
    s->count = s->next = 0;
    s->iterations = 0;
    s->last_step = NAN;
    s->fresh = true;
    return 0;
}

/* d = -H g by the two-loop recursion (Nocedal & Wright, algorithm 7.4).
 * Each loop fuses the update of q with the dot product the next pair
 * needs, so it reads memory m + 1 times instead of 2m. */
static void two_loop(lbfgs *s, const double *g)
{
    const size_t n = s->n, m = s->m, k = s->count;
    double *q = s->d;
    if (k == 0) {
        for (size_t i = 0; i < n; i++)
            q[i] = -g[i];
        return;
    }
    /* Newest pair first: slot (next - 1), going back. */
    size_t j = (s->next + m - 1) % m;
    double sq = 0;
    const double *sj = s->s + j * n;
    for (size_t i = 0; i < n; i++) {
        q[i] = -g[i];
        sq += sj[i] * q[i];
    }
    for (size_t t = 0; t < k; t++) {
        double a = s->rho[j] * sq;
        s->alpha[j] = a;
        const double *yj = s->y + j * n;
        size_t jn = (j + m - 1) % m;
        if (t + 1 < k) {
            const double *sn = s->s + jn * n;
            sq = 0;
            for (size_t i = 0; i < n; i++) {
                q[i] -= a * yj[i];
                sq += sn[i] * q[i];
            }
        } else {
            for (size_t i = 0; i < n; i++)
                q[i] -= a * yj[i];
        }
        j = jn;
    }
    /* H0 = gamma I with gamma = s'y / y'y of the newest pair; then the
     * oldest pair first. */
    const double gamma = s->gamma;
    j = (s->next + m - k) % m;
    const double *yo = s->y + j * n;
    double yq = 0;
    for (size_t i = 0; i < n; i++) {
        q[i] *= gamma;
        yq += yo[i] * q[i];
    }
    for (size_t t = 0; t < k; t++) {
        double c = s->alpha[j] - s->rho[j] * yq;
        const double *sj2 = s->s + j * n;
        size_t jn = (j + 1) % m;
        if (t + 1 < k) {
            const double *yn2 = s->y + jn * n;
            yq = 0;
            for (size_t i = 0; i < n; i++) {
                q[i] += c * sj2[i];
                yq += yn2[i] * q[i];
            }
        } else {
            for (size_t i = 0; i < n; i++)
                q[i] += c * sj2[i];
        }
        j = jn;
    }
}

static double dot(const double *a, const double *b, size_t n)
{
    double r = 0;
    for (size_t i = 0; i < n; i++)
        r += a[i] * b[i];
    return r;
}

/* The pair s = x - xp, y = g - g0 into the oldest slot (kept when y's > 0). */
static void store_pair(lbfgs *s, const double *x, const double *g)
{
    const size_t n = s->n;
    double *sn = s->s + s->next * n, *yn = s->y + s->next * n;
    double ys = 0, yy = 0;
    for (size_t i = 0; i < n; i++) {
        double si = x[i] - s->xp[i], yi = g[i] - s->g0[i];
        sn[i] = si;
        yn[i] = yi;
        ys += yi * si;
        yy += yi * yi;
    }
    if (ys > 0) {
        s->rho[s->next] = 1 / ys;
        s->gamma = ys / yy;
        s->next = (s->next + 1) % s->m;
        if (s->count < s->m)
            s->count++;
    }
}

/* OWL-QN's pseudo-gradient of f + l1 |x|_1 (Andrew & Gao 2007, eq. 4):
 * the one-sided derivative that decreases F, or 0 when neither does. */
static void pseudo_gradient(double *pg, const double *x, const double *g, double c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (x[i] < 0)
            pg[i] = g[i] - c;
        else if (x[i] > 0)
            pg[i] = g[i] + c;
        else if (g[i] + c < 0)
            pg[i] = g[i] + c;
        else if (g[i] - c > 0)
            pg[i] = g[i] - c;
        else
            pg[i] = 0;
    }
}

static double l1_norm(const double *x, size_t n)
{
    double r = 0;
    for (size_t i = 0; i < n; i++)
        r += fabs(x[i]);
    return r;
}

/* One OWL-QN iteration (Andrew & Gao, ICML 2007) on F = f + l1 |x|_1: the
 * two-loop direction from the pseudo-gradient, with components that
 * disagree in sign with -pg zeroed; the orthant xi_i = sign(x_i), or
 * sign(-pg_i) where x_i = 0; backtracking over the projected points
 * pi(xp + stp d) (coordinates leaving the orthant set to 0) until
 * F(x) <= F(xp) + c1 pg'(x - xp). Pairs use the smooth gradient. The
 * driver sees F as f and the pseudo-gradient as the gradient, so gtol
 * tests the optimality of F. */
static int owlqn_iterate(lbfgs *s, descent_minimizer *m, double *x, double *f, double *g, descent_error *err)
{
    const size_t n = s->n;
    const double c = s->l1;
    if (s->fresh) {
        memcpy(s->gs, g, n * sizeof *g);
        s->fs = *f;
        s->fresh = false;
    }
    const double F0 = s->fs + c * l1_norm(x, n), fs0 = s->fs;
    pseudo_gradient(s->pg, x, s->gs, c, n);
    memcpy(s->xp, x, n * sizeof *x);
    memcpy(s->g0, s->gs, n * sizeof *g);
    for (int attempt = 0; attempt < 2; attempt++) {
        two_loop(s, s->pg);
        double dg0 = 0;
        for (size_t i = 0; i < n; i++) {
            if (s->d[i] * s->pg[i] >= 0)
                s->d[i] = 0;
            dg0 += s->d[i] * s->pg[i];
        }
        if (!(dg0 < 0)) {
            if (s->count == 0) {
                /* pg = 0: x minimizes F; report it through the gradient. */
                *f = F0;
                memcpy(g, s->pg, n * sizeof *g);
                return 0;
            }
            s->count = s->next = 0;
            continue;
        }
        double stp = s->count == 0 ? s->lr / sqrt(dot(s->d, s->d, n)) : s->lr;
        for (size_t ev = 0; ev < s->ls.max_evals; ev++, stp *= 0.5) {
            double dgtest = 0;
            for (size_t i = 0; i < n; i++) {
                double xi = s->xp[i] + stp * s->d[i];
                double orthant = s->xp[i] != 0 ? s->xp[i] : -s->pg[i];
                if (xi * orthant <= 0)
                    xi = 0;
                x[i] = xi;
                dgtest += s->pg[i] * (xi - s->xp[i]);
            }
            double fv;
            int rc = descent_minimizer_eval(m, x, &fv, s->gs);
            if (rc < 0) {
                memcpy(x, s->xp, n * sizeof *x);
                return descent_fail(err, rc, "%s", descent_minimizer_errmsg(m));
            }
            double Fv = fv + c * l1_norm(x, n);
            if (Fv <= F0 + s->ls.c1 * dgtest) {
                store_pair(s, x, s->gs);
                s->fs = fv;
                *f = Fv;
                pseudo_gradient(g, x, s->gs, c, n);
                s->last_step = stp;
                s->iterations++;
                return 0;
            }
        }
        memcpy(x, s->xp, n * sizeof *x);
        memcpy(s->gs, s->g0, n * sizeof *x);
        s->fs = fs0;
        if (s->count == 0)
            break;
        s->count = s->next = 0;
    }
    if (s->iterations > 0)
        return DESCENT_STOP_ROUNDING;
    return descent_fail(err, DESCENT_ERR_STATE,
                        "LBFGS (OWL-QN): no step from the starting point decreases f + l1 |x|_1 below %.17g (is the "
                        "gradient that of f?)",
                        F0);
}

static int lbfgs_iterate(void *state, descent_minimizer *m, double *x, double *f, double *g, descent_error *err)
{
    lbfgs *s = state;
    if (s->l1 > 0)
        return owlqn_iterate(s, m, x, f, g, err);
    const size_t n = s->n;
    const double f0 = *f;
    memcpy(s->xp, x, n * sizeof *x);
    memcpy(s->g0, g, n * sizeof *g);
    for (int attempt = 0; attempt < 2; attempt++) {
        two_loop(s, g);
        double dg0 = dot(g, s->d, n);
        if (!(dg0 < 0)) {
            /* Not a descent direction (rounding in H): restart from -g. */
            s->count = s->next = 0;
            two_loop(s, g);
            dg0 = dot(g, s->d, n);
            if (!(dg0 < 0))
                return descent_fail(err, DESCENT_ERR_STATE, "LBFGS: the gradient is zero or not finite");
        }
        double stp = s->lr;
        if (s->count == 0)
            stp = s->lr / sqrt(dot(s->d, s->d, n));
        size_t evals;
        line_search_status status;
        int rc = s->line_search == LS_STRONG_WOLFE
                     ? descent_line_search_more_thuente(m, n, s->xp, s->d, x, f, g, dg0, &stp, &s->ls, &evals, &status)
                     : descent_line_search_backtracking(m, n, s->xp, s->d, x, f, g, dg0, &stp, &s->ls, &evals,
                                                        &status);
        if (rc < 0) {
            memcpy(x, s->xp, n * sizeof *x);
            return descent_fail(err, rc, "%s", descent_minimizer_errmsg(m));
        }
        if (status != LS_FAILED) {
            store_pair(s, x, g);
            s->last_step = stp;
            s->iterations++;
            return 0;
        }
        /* Nothing acceptable along d: back to xp, forget the curvature
         * pairs, try steepest descent once. */
        memcpy(x, s->xp, n * sizeof *x);
        memcpy(g, s->g0, n * sizeof *g);
        *f = f0;
        if (s->count == 0)
            break;
        s->count = s->next = 0;
    }
    if (s->iterations > 0)
        return DESCENT_STOP_ROUNDING;
    return descent_fail(err, DESCENT_ERR_STATE,
                        "LBFGS: no step from the starting point decreases f below %.17g (is the gradient that of f?)",
                        f0);
}

static double lbfgs_lr(const void *state) { return ((const lbfgs *)state)->last_step; }

const minimizer_kind descent_minimizer_lbfgs = {
    "LBFGS", lbfgs_accepts, lbfgs_create, lbfgs_destroy, lbfgs_name, NULL, lbfgs_restart, lbfgs_iterate, lbfgs_lr, NULL,
};
