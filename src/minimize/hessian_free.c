/* Minimizer kind "HessianFree": truncated Newton (Hessian-free) in the
 * manner of Martens (ICML 2010) and Nocedal & Wright's Newton-CG
 * (algorithm 7.1). Each iteration solves (H + lambda I) p = -g
 * approximately by conjugate gradient, where every product is a finite
 * difference of gradients,
 *     H v ≈ (grad f(x + eps v) - grad f(x)) / eps,
 *     eps = sqrt(DBL_EPSILON) (1 + ||x o v|| / ||v||) / ||v||
 * (x o v the elementwise product: the size of x along v, so a badly scaled
 * x is perturbed relative to the coordinates v moves),
 * one evaluation per CG iteration, or the caller's exact product
 * (descent_minimizer_set_hessian_vector), which costs no evaluation.
 *
 * CG stops when ||r|| <= eta ||g|| (eta = cg_tol, or by default the
 * Eisenstat-Walker forcing term, choice 2 of Eisenstat & Walker, SIAM J.
 * Sci. Comput. 17(1), 1996:
 *     eta_k = min(1/2, 0.9 (||g_k|| / ||g_{k-1}||)^2), eta_0 = 1/2,
 * safeguarded by eta_k >= 0.9 eta_{k-1}^2 when that exceeds 0.1; a ratio
 * of norms, so the test does not depend on the scale of f) and, with the
 * default cg_tol, the quadratic model
 *     phi_i = g'p_i + p_i'(H + lambda I)p_i / 2 = (g'p_i - p_i'r_i) / 2
 * has stopped falling: Martens' relative-progress test (ICML 2010, sec.
 * 4.4) phi_i < 0 and (phi_i - phi_{i-k}) / phi_i < k 5e-4, window
 * k = max(2, i / 10) (Martens: max(10, i / 10)). The residual test alone
 * is met after one iteration when one stiff direction dominates g (Meyer's
 * function, cond(H) ~ 1e14: ||g|| alternates between 1e7 and 1e2, each
 * iteration fixes only the stiff or only the soft directions, and the run
 * ends at the rounding limit at f = 224, f* = 87.9); the model test keeps
 * CG going while it still lowers the model. CG also stops after
 * cg_max_iter iterations, or at a direction of non-positive curvature
 * (then the last iterate, or -g on the first).
 *
 * The step is accepted by backtracking from 1 (halving while x still moves)
 * under strict decrease f(x + t p) < f(x) and the Armijo condition
 * f(x + t p) <= f(x) + 1e-4 t g'p. A trial where f or the gradient is not
 * finite counts as too long a step. When no step along p is accepted, the
 * search is repeated along -g from the length of p; when that fails too,
 * the run stops with DESCENT_STOP_ROUNDING (after progress; from the
 * starting point it is an error).
 *
 * Damping (Levenberg-Marquardt, Martens' constants) follows the reduction
 * ratio of the full step
 *     rho = (f(x + p) - f(x)) / (g'p + p'Hp / 2):
 * rho < 1/4 -> lambda = max(3/2 lambda, 1e-4 kappa_p), rho > 3/4 ->
 * lambda *= 2/3 (and 0 once below 1e-12 kappa), where kappa_p = |p'Hp| / p'p
 * is the curvature along the step and kappa = |g'Hg| / g'g that along -g
 * (the stiffest directions dominate it), so lambda is relative to the scale
 * of H; lambda never exceeds 1e8 kappa (or 1e300). A predicted decrease
 * below 100 DBL_EPSILON |f| counts as rho = 1 (it is rounding noise). The
 * default damping=None starts at lambda = 0; a number starts there. */
#include "args.h"
#include "kinds.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct hf {
    size_t n, cg_max_iter;
    double cg_tol;      /* 0: the Eisenstat-Walker forcing term */
    double damping0, lambda;
    double eta_prev, gnorm_prev;  /* forcing term and ||g|| of the last iteration (NAN: none) */
    int64_t iterations; /* accepted steps since the start */
    double *p, *r, *d, *Ad, *xe, *ge, *xp, *g0;
    double *phi;        /* the model's value at the last nphi CG iterates (a ring) */
    size_t nphi;
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
    free(s->phi);
    free(s);
}

static int hf_create(void **state, const spec_doc *doc, const spec_node *call, size_t n, descent_error *err)
{
    static const char *const names[] = {"cg_max_iter", "cg_tol", "damping", NULL};
    const spec_node *a[3];
    size_t cg_max_iter = 2 * n < 250 ? 2 * n : 250;
    double cg_tol = 0, damping = 0;
    int rc = descent_args_bind(doc, call, "HessianFree", names, a, err);
    if (rc == 0 && a[0] && a[0]->kind != SPEC_NONE)
        rc = descent_args_size(doc, a[0], "cg_max_iter", 1, 1000000000, &cg_max_iter, err);
    if (rc == 0 && a[1] && a[1]->kind != SPEC_NONE)
        rc = descent_args_real(doc, a[1], "cg_tol", 0, true, 1, &cg_tol, err);
    if (rc == 0 && a[2] && a[2]->kind != SPEC_NONE)
        rc = descent_args_real(doc, a[2], "damping", 0, false, INFINITY, &damping, err);
    if (rc < 0)
        return rc;
    hf *s = calloc(1, sizeof *s);
    if (!s)
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    double **bufs[] = {&s->p, &s->r, &s->d, &s->Ad, &s->xe, &s->ge, &s->xp, &s->g0, &s->phi};
    /* Martens' window reaches back i / 10 iterations: a ring of
     * cg_max_iter / 10 + 3 values (at most 4096) covers it. */
    s->nphi = cg_max_iter / 10 + 3 < 4096 ? cg_max_iter / 10 + 3 : 4096;
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++)
        if (!(*bufs[k] = malloc((bufs[k] == &s->phi ? s->nphi : n) * sizeof(double)))) {
            hf_destroy(s);
            return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory for HessianFree over %zu variables", n);
        }
    s->n = n;
    s->cg_max_iter = cg_max_iter;
    s->cg_tol = cg_tol;
    s->damping0 = s->lambda = damping;
    s->last_step = NAN;
    s->eta_prev = s->gnorm_prev = NAN;
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
    s->iterations = 0;
    s->eta_prev = s->gnorm_prev = NAN;
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
    double vn = sqrt(dot(v, v, n)), xv = 0;
    if (vn == 0) {
        memset(out, 0, n * sizeof *out);
        return 0;
    }
    /* ||x o v|| scaled by its largest term, so it cannot overflow. */
    double big = 0;
    for (size_t i = 0; i < n; i++)
        big = fmax(big, fabs(x[i] * v[i]));
    for (size_t i = 0; big > 0 && i < n; i++)
        xv += (x[i] * v[i] / big) * (x[i] * v[i] / big);
    /* The step moves each x_i by about sqrt(eps)(1 + |x_i|) where v_i
     * dominates: ||x o v|| / ||v|| is the size of x along v. */
    double eps = sqrt(DBL_EPSILON) * (1 + big * sqrt(xv) / vn) / vn, fe;
    for (size_t i = 0; i < n; i++)
        s->xe[i] = x[i] + eps * v[i];
    int rc = descent_minimizer_eval(m, s->xe, &fe, s->ge);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        out[i] = (s->ge[i] - g[i]) / eps;
    return 0;
}

/* The Eisenstat-Walker forcing term (choice 2, gamma = 0.9, alpha = 2). */
static double forcing_term(hf *s, double gnorm)
{
    if (s->cg_tol > 0)
        return s->cg_tol;
    double eta = 0.5;
    if (isfinite(s->gnorm_prev) && s->gnorm_prev > 0) {
        double ratio = gnorm / s->gnorm_prev;
        eta = 0.9 * ratio * ratio;
        double safe = 0.9 * s->eta_prev * s->eta_prev;
        if (safe > 0.1 && eta < safe)
            eta = safe;
        if (!(eta <= 0.5))
            eta = 0.5;
    }
    s->eta_prev = eta;
    s->gnorm_prev = gnorm;
    return eta;
}

/* Martens' test on the CG iterate i (true when cg_tol is set: then the
 * residual test alone decides). */
static bool model_stalled(hf *s, const double *g, size_t i)
{
    if (s->cg_tol > 0)
        return true;
    const double phi = 0.5 * (dot(g, s->p, s->n) - dot(s->p, s->r, s->n));
    s->phi[i % s->nphi] = phi;
    size_t k = i / 10 > 2 ? i / 10 : 2;
    if (k >= s->nphi)
        k = s->nphi - 1;
    return i >= k && phi < 0 && (phi - s->phi[(i - k) % s->nphi]) / phi < (double)k * 5e-4;
}

static int hf_iterate(void *state, descent_minimizer *m, double *x, double *f, double *g, descent_error *err)
{
    hf *s = state;
    const size_t n = s->n;
    const double gnorm = sqrt(dot(g, g, n));
    const double eta = forcing_term(s, gnorm);
    /* CG on (H + lambda I) p = -g from p = 0. */
    memset(s->p, 0, n * sizeof *s->p);
    for (size_t i = 0; i < n; i++)
        s->r[i] = s->d[i] = -g[i];
    double rr = dot(s->r, s->r, n), pHp = 0, first_dHd = NAN, kappa = 0;
    int rc;
    for (size_t it = 0; it < s->cg_max_iter; it++) {
        if ((rc = hess_vec(s, m, x, g, s->d, s->Ad)) < 0)
            return descent_fail(err, rc, "%s", descent_minimizer_errmsg(m));
        s->cg_iterations++;
        double dHd = dot(s->d, s->Ad, n), dd = dot(s->d, s->d, n);
        if (it == 0 && dd > 0 && isfinite(dHd))
            kappa = fabs(dHd) / dd;
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
        if (model_stalled(s, g, it) && sqrt(rr_new) <= eta * gnorm)
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
    if (!(gp < 0) || !isfinite(pp)) {
        for (size_t i = 0; i < n; i++)
            s->p[i] = -g[i];
        gp = -gnorm * gnorm;
        pHp = NAN;
    }
    /* Backtracking along p under strict decrease and Armijo; when no step
     * along p is accepted, once more along -g from the length of p. */
    const double f0 = *f;
    memcpy(s->xp, x, n * sizeof *x);
    memcpy(s->g0, g, n * sizeof *g);
    double step = 1, fv = NAN;
    /* Halving until x no longer moves: at most about 2100 halvings span
     * the doubles; the budget of evaluations bounds it in practice. */
    for (int trial = 0, along_g = 0; trial < 4400; trial++, step *= 0.5) {
        if (trial == 2200) {
            if (along_g || isnan(pHp))
                break;
            along_g = 1;
            double pn = sqrt(pp);
            for (size_t i = 0; i < n; i++)
                s->p[i] = -s->g0[i];
            step = isfinite(pn) && pn > 0 && gnorm > 0 ? pn / gnorm : 1;
            gp = -gnorm * gnorm;
        }
        bool moved = false;
        for (size_t i = 0; i < n; i++) {
            x[i] = s->xp[i] + step * s->p[i];
            moved |= x[i] != s->xp[i];
        }
        if (!moved) {
            if (along_g || isnan(pHp))
                break; /* the step is below the precision of x */
            trial = 2199; /* try -g */
            continue;
        }
        rc = descent_minimizer_eval(m, x, &fv, g);
        if (rc < 0 && rc != DESCENT_ERR_NONFINITE) {
            memcpy(x, s->xp, n * sizeof *x);
            memcpy(g, s->g0, n * sizeof *g);
            return descent_fail(err, rc, "%s", descent_minimizer_errmsg(m));
        }
        /* rc == DESCENT_ERR_NONFINITE: the step overflowed f or left its
         * domain, a step too long like any other. */
        if (trial == 0 && !along_g) {
            double predicted = gp + 0.5 * pHp;
            double rho = rc == 0 && predicted < 0 ? (fv - f0) / predicted : -INFINITY;
            /* A predicted decrease below the rounding of f says nothing
             * about the model: damping that large only freezes the steps. */
            if (rc == 0 && predicted < 0 && -predicted < 100 * DBL_EPSILON * fabs(f0))
                rho = 1;
            double lmax = kappa > 0 ? fmin(1e8 * kappa, 1e300) : 1e300;
            double kp = pp > 0 && isfinite(pHp) ? fabs(pHp) / pp : kappa;
            if (rho < 0.25)
                s->lambda = fmin(lmax, fmax(1.5 * s->lambda, 1e-4 * kp));
            else if (rho > 0.75) {
                s->lambda *= 2.0 / 3.0;
                if (s->lambda < 1e-12 * kappa)
                    s->lambda = 0;
            }
        }
        if (rc == 0 && fv < f0 && fv <= f0 + 1e-4 * step * gp) {
            *f = fv;
            s->last_step = step;
            s->iterations++;
            return 0;
        }
    }
    memcpy(x, s->xp, n * sizeof *x);
    memcpy(g, s->g0, n * sizeof *g);
    *f = f0;
    if (s->iterations > 0)
        return DESCENT_STOP_ROUNDING;
    return descent_fail(err, DESCENT_ERR_STATE,
                        "HessianFree: no step from the starting point decreases f below %.17g (is the gradient that "
                        "of f?)",
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
