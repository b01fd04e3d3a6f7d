/* Minimizer kind "HessianFree": truncated Newton (Hessian-free) in the
 * manner of Martens (ICML 2010) and Nocedal & Wright's Newton-CG
 * (algorithm 7.1). Each iteration solves (H + lambda I) p = -g
 * approximately by conjugate gradient, where every product is a finite
 * difference of gradients,
 *     H v ≈ (grad f(x + eps v) - grad f(x)) / eps,
 *     eps = sqrt(DBL_EPSILON) (1 + ||x||) / ||v||,
 * one evaluation per CG iteration, or the caller's exact product
 * (descent_minimizer_set_hessian_vector), which costs no evaluation. CG stops when ||r|| <= eta ||g|| (eta =
 * cg_tol, or by default the forcing term min(0.5, sqrt(||g||))), after
 * cg_max_iter iterations, or at a direction of non-positive curvature
 * (then the last iterate, or -g on the first). The step is accepted by
 * Armijo backtracking from 1 (c1 = 1e-4, halving, at most 30 trials).
 * The damping lambda follows the reduction ratio of the full step
 *     rho = (f(x + p) - f(x)) / (g'p + p'Hp / 2)
 * (Levenberg-Marquardt, Martens' constants): rho < 1/4 -> lambda *= 3/2,
 * rho > 3/4 -> lambda *= 2/3. */
#include "args.h"
#include "kinds.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct hf {
    size_t n, cg_max_iter;
    double cg_tol;      /* 0: the forcing term min(0.5, sqrt(||g||)) */
    double damping0, lambda;
    double *p, *r, *d, *Ad, *xe, *ge, *xp, *g0;
    double last_step;
    int64_t cg_iterations;
    descent_hessian_vector_fn hvp;  /* NULL: finite differences */
    void *hvp_ctx;
} hf;

static bool hf_accepts(const char *name)
{
    return descent_name_eq(name, "HessianFree") || descent_name_eq(name, "hessian_free");
}

static void hf_destroy(void *state)
{
    hf *s = state;
    if (!s)
        return;
    free(s->p);
    free(s->r);
    free(s->d);
    free(s->Ad);
    free(s->xe);
    free(s->ge);
    free(s->xp);
    free(s->g0);
    free(s);
}

static int hf_create(void **state, const spec_doc *doc, const spec_node *call, size_t n, descent_error *err)
{
    static const char *const names[] = {"cg_max_iter", "cg_tol", "damping", NULL};
    const spec_node *a[3];
    size_t cg_max_iter = 2 * n < 250 ? 2 * n : 250;
    double cg_tol = 0, damping = 1e-3;
    int rc = descent_args_bind(doc, call, "HessianFree", names, a, err);
    if (rc == 0 && a[0] && a[0]->kind != SPEC_NONE)
        rc = descent_args_size(doc, a[0], "cg_max_iter", 1, 1000000000, &cg_max_iter, err);
    if (rc == 0 && a[1] && a[1]->kind != SPEC_NONE)
        rc = descent_args_real(doc, a[1], "cg_tol", 0, true, 1, &cg_tol, err);
    if (rc == 0)
        rc = descent_args_real(doc, a[2], "damping", 0, false, INFINITY, &damping, err);
    if (rc < 0)
        return rc;
    hf *s = calloc(1, sizeof *s);
    if (!s)
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    double **bufs[] = {&s->p, &s->r, &s->d, &s->Ad, &s->xe, &s->ge, &s->xp, &s->g0};
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++)
        if (!(*bufs[k] = malloc(n * sizeof(double)))) {
            hf_destroy(s);
            return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory for HessianFree over %zu variables", n);
        }
    s->n = n;
    s->cg_max_iter = cg_max_iter;
    s->cg_tol = cg_tol;
    s->damping0 = s->lambda = damping;
    s->last_step = NAN;
    *state = s;
    return 0;
}

static const char *hf_name(const void *state)
{
    (void)state;
    return "HessianFree";
}

static int hf_restart(void *state, descent_error *err)
{
    (void)err;
    hf *s = state;
    s->lambda = s->damping0;
    s->last_step = NAN;
    s->cg_iterations = 0;
    return 0;
}

static double dot(const double *a, const double *b, size_t n)
{
    double r = 0;
    for (size_t i = 0; i < n; i++)
        r += a[i] * b[i];
    return r;
}

/* out = H v by a forward difference of gradients at x (gradient g). */
static int hess_vec(hf *s, descent_minimizer *m, const double *x, const double *g, const double *v, double *out)
{
    const size_t n = s->n;
    if (s->hvp) {
        if (s->hvp(s->hvp_ctx, x, v, out, n) != 0)
            return descent_minimizer_fail(m, DESCENT_ERR_INVALID, "the Hessian-vector product callback failed");
        for (size_t i = 0; i < n; i++)
            if (!isfinite(out[i]))
                return descent_minimizer_fail(m, DESCENT_ERR_NONFINITE,
                                              "the Hessian-vector product callback returned a non-finite value");
        return 0;
    }
    double vn = sqrt(dot(v, v, n)), xn = sqrt(dot(x, x, n));
    if (vn == 0) {
        memset(out, 0, n * sizeof *out);
        return 0;
    }
    double eps = sqrt(DBL_EPSILON) * (1 + xn) / vn, fe;
    for (size_t i = 0; i < n; i++)
        s->xe[i] = x[i] + eps * v[i];
    int rc = descent_minimizer_eval(m, s->xe, &fe, s->ge);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        out[i] = (s->ge[i] - g[i]) / eps;
    return 0;
}

static int hf_iterate(void *state, descent_minimizer *m, double *x, double *f, double *g, descent_error *err)
{
    hf *s = state;
    const size_t n = s->n;
    const double gnorm = sqrt(dot(g, g, n));
    const double eta = s->cg_tol > 0 ? s->cg_tol : fmin(0.5, sqrt(gnorm));
    /* CG on (H + lambda I) p = -g from p = 0. */
    memset(s->p, 0, n * sizeof *s->p);
    for (size_t i = 0; i < n; i++)
        s->r[i] = s->d[i] = -g[i];
    double rr = dot(s->r, s->r, n), pHp = 0, first_dHd = NAN;
    int rc;
    for (size_t it = 0; it < s->cg_max_iter; it++) {
        if ((rc = hess_vec(s, m, x, g, s->d, s->Ad)) < 0)
            return descent_fail(err, rc, "%s", descent_minimizer_errmsg(m));
        s->cg_iterations++;
        double dHd = dot(s->d, s->Ad, n), dd = dot(s->d, s->d, n);
        double dAd = dHd + s->lambda * dd;
        if (!(dAd > 0)) {
            if (it == 0) {
                /* Negative curvature along -g itself: step along -g, whose
                 * curvature d'Hd is known. */
                for (size_t i = 0; i < n; i++)
                    s->p[i] = -g[i];
                first_dHd = dHd;
            }
            break;
        }
        double alpha = rr / dAd;
        for (size_t i = 0; i < n; i++) {
            s->p[i] += alpha * s->d[i];
            s->r[i] -= alpha * (s->Ad[i] + s->lambda * s->d[i]);
        }
        double rr_new = dot(s->r, s->r, n);
        if (sqrt(rr_new) <= eta * gnorm)
            break;
        double beta = rr_new / rr;
        for (size_t i = 0; i < n; i++)
            s->d[i] = s->r[i] + beta * s->d[i];
        rr = rr_new;
    }
    /* p'(H + lambda I)p = p'(-g - r) for the CG iterate; the undamped
     * model's curvature removes lambda ||p||^2. */
    double gp = dot(g, s->p, n), pp = dot(s->p, s->p, n);
    pHp = isnan(first_dHd) ? -gp - dot(s->p, s->r, n) - s->lambda * pp : first_dHd;
    if (!(gp < 0)) {
        for (size_t i = 0; i < n; i++)
            s->p[i] = -g[i];
        gp = -gnorm * gnorm;
        pHp = NAN;
    }
    /* Armijo backtracking along p. */
    const double f0 = *f;
    memcpy(s->xp, x, n * sizeof *x);
    memcpy(s->g0, g, n * sizeof *g);
    double step = 1, fv = NAN;
    for (int trial = 0; trial < 30; trial++, step *= 0.5) {
        for (size_t i = 0; i < n; i++)
            x[i] = s->xp[i] + step * s->p[i];
        rc = descent_minimizer_eval(m, x, &fv, g);
        if (rc < 0 && rc != DESCENT_ERR_NONFINITE) {
            memcpy(x, s->xp, n * sizeof *x);
            memcpy(g, s->g0, n * sizeof *g);
            return descent_fail(err, rc, "%s", descent_minimizer_errmsg(m));
        }
        if (trial == 0) {
            double predicted = gp + 0.5 * pHp;
            double rho = rc == 0 && predicted < 0 ? (fv - f0) / predicted : -INFINITY;
            if (rho < 0.25)
                s->lambda *= 1.5;
            else if (rho > 0.75)
                s->lambda *= 2.0 / 3.0;
        }
        if (rc == 0 && fv <= f0 + 1e-4 * step * gp) {
            *f = fv;
            s->last_step = step;
            return 0;
        }
    }
    memcpy(x, s->xp, n * sizeof *x);
    memcpy(g, s->g0, n * sizeof *g);
    *f = f0;
    return descent_fail(err, DESCENT_ERR_STATE,
                        "HessianFree: no step along the Newton direction decreases f below %.17g (rounding errors "
                        "prevent progress)",
                        f0);
}

static double hf_lr(const void *state) { return ((const hf *)state)->last_step; }

const minimizer_kind descent_minimizer_hessian_free = {
    "HessianFree", hf_accepts, hf_create, hf_destroy, hf_name, NULL, hf_restart, hf_iterate, hf_lr, NULL,
};

int descent_minimizer_set_hessian_vector(descent_minimizer *m, descent_hessian_vector_fn fn, void *ctx)
{
    if (!m)
        return DESCENT_ERR_INVALID;
    hf *s = descent_minimizer_state_of(m, &descent_minimizer_hessian_free);
    if (!s)
        return descent_minimizer_fail(m, DESCENT_ERR_INVALID, "only HessianFree takes a Hessian-vector product");
    s->hvp = fn;
    s->hvp_ctx = ctx;
    return 0;
}
