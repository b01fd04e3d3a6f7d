/* BOBYQA: Powell's derivative-free minimizer with box bounds, written from
 * M. J. D. Powell, "The BOBYQA algorithm for bound constrained optimization
 * without derivatives", report DAMTP 2009/NA06, University of Cambridge.
 *
 * A quadratic model Q interpolates f at m = npt points y_1..y_m (n + 2 <=
 * m <= (n + 1)(n + 2) / 2, default 2n + 1), relative to a base point x_b:
 *
 *   Q(x_b + x) = c + g'x + x'(HQ + sum_k pq_k y_k y_k') x / 2
 *
 * (HQ explicit, the pq_k the implicit part of the second derivatives).
 * When one point y_t moves, Q changes by the least Frobenius norm change
 * of its Hessian that keeps the other interpolation conditions: with
 * W = [A e Y; e' 0 0; Y' 0 0], A_kj = (y_k'y_j)^2 / 2, the inverse
 * H = W^-1 is kept as Omega = Z Z' (ZMAT, m x (m - n - 1)) and its last n
 * columns BMAT ((m + n) x n), and updated by Powell's formula (4.11) of
 * the NEWUOA paper (DAMTP 2004/NA05):
 *
 *   H+ = H + [alpha (e_t - Hw)(e_t - Hw)' - beta H e_t e_t' H
 *         + tau (H e_t (e_t - Hw)' + (e_t - Hw) e_t' H)] / sigma,
 *   alpha = e_t'He_t, beta = w'Hw-like (section 4 of the report),
 *   tau = e_t'Hw, sigma = alpha beta + tau^2 (the denominator).
 *
 * Each iteration is either a trust-region step (TRSBOX: truncated conjugate
 * gradients on Q inside ||d|| <= delta and the bounds, then searches on the
 * trust-region boundary in the plane of d and the gradient) or, when
 * points are far from the best one, a geometry step (ALTMOV: the point t
 * moves to maximise |l_t| of its Lagrange function, or the denominator
 * sigma, within adelt of the best point). The radius rho falls from rhobeg
 * to rhoend: rho_new = rhoend if rho <= 16 rhoend, sqrt(rho rhoend) if
 * rho <= 250 rhoend, else rho / 10. Near rhoend, the step of the last
 * model, if not tried, is evaluated once more.
 *
 * Differences from the report, by choice:
 *  - RESCUE (section 5) is replaced by a simpler rebuild: when rounding
 *    errors have spoilt the denominators and points were evaluated since
 *    the last build, the initial points are placed again around the best
 *    point, rho apart (rho and delta kept); otherwise the run stops with
 *    DESCENT_STOP_MODEL_ROUNDING, as Powell's code does then.
 *  - f values that are not finite or exceed 1e30 are replaced by 1e30 (the
 *    "moderated extreme barrier" of PRIMA, Zhang), so the model stays
 *    finite; a candidate is never NaN.
 *  - Without bounds the box is (-inf, inf): every bound test is then false.
 *
 * The method is sequential, so it runs in reverse communication behind the
 * ask/tell API of descent_population: each ask returns one point, each
 * tell takes its value, and the whole state (the model, H, the scalars and
 * where the algorithm stands) is saved in checkpoints. */
#include "args.h"
#include "population.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NONE SIZE_MAX
#define FBIG 1e30

/* Where the algorithm stands. The run stops before each evaluation and
 * resumes, when the value arrives, at the step that needs it. */
enum {
    AT_PRELIM,  /* evaluating the initial interpolation points */
    AT_TRUST,   /* a trust-region step (TRSBOX) */
    AT_SHIFT,   /* perhaps move x_b to the best point, then a step */
    AT_ALTMOV,  /* a geometry step */
    AT_DENOM,   /* the denominator of the update for the chosen step */
    AT_FAR,     /* is a point far from the best one? */
    AT_RHO,     /* reduce rho or finish */
    AT_STEP,    /* waiting for f at a step */
    AT_FINAL,   /* waiting for f at the last, short step */
    AT_DONE,
};

typedef struct bq {
    size_t n, npt, nptm, ndim;
    double rhobeg, rhoend;
    size_t npt_arg;     /* 0: 2n + 1 */
    double *scale;      /* n factors given by the spec (all 1 when not given) */
    int auto_scale;     /* neither rhobeg nor scale given: sc from x0 (bq_init) */
    /* One block of doubles: everything below until `end`, saved as a whole. */
    double *mem;
    size_t memlen;
    double *xlo, *xhi;  /* the bounds in x (exact values for points on them) */
    double *sc;         /* the factors in use: BOBYQA works on u = x / sc */
    double *xl, *xu, *xbase, *xpt, *fval, *xopt, *gopt, *hq, *pq, *bmat, *zmat, *sl, *su;
    double *xnew, *xalt, *d, *vlag, *wdot, *xeval;
    double *gnew, *xbdi, *s, *hs, *hred, *glag, *hcol, *wcs, *work;
    /* scalars that carry between evaluations */
    int at, stop, ntrits, itest, rebuilding;
    size_t nf, kopt, knew, nfsav, nresc, nbuild;
    double spacing;     /* of the initial points: rhobeg, or rho at a rebuild */
    double fbeg, rho, delta, ratio, dnorm, dsq, crvmin, diffa, diffb, diffc, xoptsq, alpha, beta, denom, cauchy,
        adelt, distsq;
} bq;

static const char *const bq_names[] = {"rhobeg", "rhoend", "npt", "lower", "upper", "scale", NULL};

/* Packed upper triangle of HQ: element (i, j), i <= j. */
static size_t hq_at(size_t i, size_t j) { return i <= j ? j * (j + 1) / 2 + i : i * (i + 1) / 2 + j; }

static void bq_destroy(void *state)
{
    bq *s = state;
    if (!s)
        return;
    free(s->mem);
    free(s->scale);
    free(s);
}

/* scale: one positive number for every variable, or a list of n. */
static int parse_scale(const spec_doc *doc, const spec_node *v, double *out, size_t n, descent_error *err)
{
    if (!v || v->kind == SPEC_NONE)
        return 0;
    if (v->kind == SPEC_NUM) {
        for (size_t i = 0; i < n; i++)
            out[i] = v->num;
    } else if ((v->kind == SPEC_LIST || v->kind == SPEC_TUPLE) && (size_t)v->n == n) {
        for (size_t i = 0; i < n; i++)
            out[i] = v->items[i].kind == SPEC_NUM ? v->items[i].num : NAN;
    } else
        return descent_spec_fail(doc, v, err, DESCENT_ERR_INVALID,
                                 "scale must be a positive number or a list of %zu positive numbers", n);
    for (size_t i = 0; i < n; i++)
        if (!(out[i] > 0) || !isfinite(out[i]))
            return descent_spec_fail(doc, v, err, DESCENT_ERR_INVALID,
                                     "scale[%zu] = %g must be a positive finite number", i, out[i]);
    return 0;
}

static int bq_create(void **state, const spec_doc *doc, const spec_node *const *a, size_t n, descent_error *err)
{
    double rhobeg = 1, rhoend = 1e-8;
    size_t npt = 0;
    if (n < 2)
        return descent_fail(err, DESCENT_ERR_INVALID, "BOBYQA needs at least 2 variables, got n = %zu", n);
    if (n > 4096)
        return descent_fail(err, DESCENT_ERR_INVALID, "BOBYQA takes at most 4096 variables, got n = %zu", n);
    const size_t npt_max = (n + 1) * (n + 2) / 2;
    int rc = descent_args_real(doc, a[0], "rhobeg", 0, true, INFINITY, &rhobeg, err);
    if (rc == 0 && (!a[1] || a[1]->kind == SPEC_NONE))
        rhoend = fmin(rhoend, rhobeg); /* the default never exceeds a small rhobeg */
    else if (rc == 0)
        rc = descent_args_real(doc, a[1], "rhoend", 0, true, INFINITY, &rhoend, err);
    if (rc == 0 && rhoend > rhobeg)
        rc = descent_spec_fail(doc, a[1] ? a[1] : a[0], err, DESCENT_ERR_INVALID,
                               "rhoend = %g must not exceed rhobeg = %g (rho falls from rhobeg to rhoend)", rhoend,
                               rhobeg);
    if (rc == 0 && a[2] && a[2]->kind != SPEC_NONE) {
        if (a[2]->kind != SPEC_NUM || !a[2]->is_int || a[2]->num < (double)(n + 2) || a[2]->num > (double)npt_max)
            rc = descent_spec_fail(doc, a[2], err, DESCENT_ERR_INVALID,
                                   "npt must be an integer in [n + 2, (n + 1)(n + 2) / 2] = [%zu, %zu] for n = %zu",
                                   n + 2, npt_max, n);
        else
            npt = (size_t)a[2]->num;
    }
    if (rc < 0)
        return rc;
    bq *s = calloc(1, sizeof *s);
    if (!s)
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    s->n = n;
    s->rhobeg = rhobeg;
    s->auto_scale = (!a[0] || a[0]->kind == SPEC_NONE) && (!a[5] || a[5]->kind == SPEC_NONE);
    s->rhoend = rhoend;
    s->npt_arg = npt;
    s->npt = npt ? npt : 2 * n + 1;
    s->nptm = s->npt - n - 1;
    s->ndim = s->npt + n;
    const size_t m = s->npt, nd = s->ndim;
    /* Sizes of the arrays, in the order of the struct. */
    const size_t sizes[] = {n, n, n, n, n, n, m * n, m, n, n, n * (n + 1) / 2, m, nd * n, m * s->nptm, n, n,
                            n, n, n, nd, m, n,
                            n, n, n, n, n, n, m, 2 * n, 3 * nd};
    double **ptrs[] = {&s->xlo, &s->xhi, &s->sc, &s->xl, &s->xu, &s->xbase, &s->xpt, &s->fval, &s->xopt, &s->gopt, &s->hq, &s->pq,
                       &s->bmat, &s->zmat, &s->sl, &s->su, &s->xnew, &s->xalt, &s->d, &s->vlag, &s->wdot,
                       &s->xeval, &s->gnew, &s->xbdi, &s->s, &s->hs, &s->hred, &s->glag, &s->hcol, &s->wcs,
                       &s->work};
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        total += sizes[i];
    s->mem = calloc(total, sizeof(double));
    s->scale = malloc(n * sizeof(double));
    if (!s->mem || !s->scale) {
        free(s->mem);
        free(s->scale);
        free(s);
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory for BOBYQA(npt=%zu) over %zu variables", m, n);
    }
    s->memlen = total;
    for (size_t i = 0; i < n; i++)
        s->scale[i] = 1;
    if ((rc = parse_scale(doc, a[5], s->scale, n, err)) < 0) {
        bq_destroy(s);
        return rc;
    }
    double *p = s->mem;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *ptrs[i] = p;
        p += sizes[i];
    }
    s->at = AT_DONE;
    *state = s;
    return 0;
}

/* out = (HQ + sum_k pq_k y_k y_k') v */
static void hess_mul(const bq *s, const double *v, double *out)
{
    const size_t n = s->n;
    for (size_t i = 0; i < n; i++)
        out[i] = 0;
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i <= j; i++) {
            double h = s->hq[hq_at(i, j)];
            out[i] += h * v[j];
            if (i < j)
                out[j] += h * v[i];
        }
    for (size_t k = 0; k < s->npt; k++) {
        if (s->pq[k] == 0)
            continue;
        const double *y = s->xpt + k * n;
        double t = 0;
        for (size_t j = 0; j < n; j++)
            t += y[j] * v[j];
        t *= s->pq[k];
        for (size_t i = 0; i < n; i++)
            out[i] += t * y[i];
    }
}

static double dot(const double *a, const double *b, size_t n)
{
    double t = 0;
    for (size_t i = 0; i < n; i++)
        t += a[i] * b[i];
    return t;
}

/* x_b + x clipped into the bounds, exactly onto a bound that x is on. */
static void to_variables(const bq *s, const double *x, double *out)
{
    for (size_t i = 0; i < s->n; i++) {
        double u = fmin(fmax(s->xl[i], s->xbase[i] + x[i]), s->xu[i]);
        double v = fmin(fmax(s->xlo[i], s->sc[i] * u), s->xhi[i]);
        if (x[i] == s->sl[i])
            v = s->xlo[i];
        if (x[i] == s->su[i])
            v = s->xhi[i];
        out[i] = v;
    }
}

/* ---- TRSBOX (section 3 of the report) ------------------------------------
 * Approximately minimise Q(x_opt + d) subject to ||d|| <= delta and
 * sl <= x_opt + d <= su: conjugate gradients from d = 0, restarted with a
 * variable fixed whenever a bound stops a line search; once ||d|| = delta,
 * d moves on the boundary, d(theta) = cos(theta) d + sin(theta) s with s
 * the reduced gradient made orthogonal to d, theta chosen on a grid of
 * tan(theta/2) and refined by a parabola. Returns xnew, d, |d|^2 and
 * crvmin (0 if the boundary was reached, -1 if every search was bounded,
 * else the least curvature seen). */
static void trsbox(bq *s, double *dsq_out, double *crvmin_out)
{
    const size_t n = s->n;
    const double *xopt = s->xopt, *sl = s->sl, *su = s->su;
    double *d = s->d, *g = s->gnew, *xbdi = s->xbdi, *sv = s->s, *hs = s->hs, *hred = s->hred;
    size_t nact = 0, iterc = 0, itermax = 0;
    for (size_t i = 0; i < n; i++) {
        xbdi[i] = 0;
        if (xopt[i] <= sl[i] && s->gopt[i] >= 0)
            xbdi[i] = -1;
        else if (xopt[i] >= su[i] && s->gopt[i] <= 0)
            xbdi[i] = 1;
        if (xbdi[i] != 0)
            nact++;
        d[i] = 0;
        g[i] = s->gopt[i];
    }
    double delsq = s->delta * s->delta, qred = 0, crvmin = -1, beta = 0, gredsq = 0, ggsav = 0;
    bool boundary = false;
    /* Conjugate gradients. */
    for (;;) {
        double stepsq = 0;
        for (size_t i = 0; i < n; i++) {
            sv[i] = xbdi[i] != 0 ? 0 : beta == 0 ? -g[i] : beta * sv[i] - g[i];
            stepsq += sv[i] * sv[i];
        }
        if (stepsq == 0)
            goto done;
        if (beta == 0) {
            gredsq = stepsq;
            itermax = iterc + n - nact;
        }
        if (gredsq * delsq <= 1e-4 * qred * qred)
            goto done;
        hess_mul(s, sv, hs);
        double resid = delsq, ds = 0, shs = 0;
        for (size_t i = 0; i < n; i++)
            if (xbdi[i] == 0) {
                resid -= d[i] * d[i];
                ds += sv[i] * d[i];
                shs += sv[i] * hs[i];
            }
        if (resid <= 0) {
            boundary = true;
            break;
        }
        double t = sqrt(stepsq * resid + ds * ds);
        double blen = ds < 0 ? (t - ds) / stepsq : resid / (t + ds);
        double stplen = blen;
        if (shs > 0)
            stplen = fmin(blen, gredsq / shs);
        size_t iact = NONE;
        for (size_t i = 0; i < n; i++)
            if (sv[i] != 0) {
                double xsum = xopt[i] + d[i];
                double lim = sv[i] > 0 ? (su[i] - xsum) / sv[i] : (sl[i] - xsum) / sv[i];
                if (lim < stplen) {
                    stplen = lim;
                    iact = i;
                }
            }
        double sdec = 0;
        if (stplen > 0) {
            iterc++;
            double curv = shs / stepsq;
            if (iact == NONE && curv > 0)
                crvmin = crvmin == -1 ? curv : fmin(crvmin, curv);
            ggsav = gredsq;
            gredsq = 0;
            for (size_t i = 0; i < n; i++) {
                g[i] += stplen * hs[i];
                if (xbdi[i] == 0)
                    gredsq += g[i] * g[i];
                d[i] += stplen * sv[i];
            }
            sdec = fmax(stplen * (ggsav - 0.5 * stplen * shs), 0);
            qred += sdec;
        }
        if (iact != NONE) {
            nact++;
            xbdi[iact] = sv[iact] < 0 ? -1 : 1;
            delsq -= d[iact] * d[iact];
            if (delsq <= 0) {
                boundary = true;
                break;
            }
            beta = 0;
            continue;
        }
        if (stplen < blen) {
            if (iterc == itermax || sdec <= 0.01 * qred)
                goto done;
            beta = gredsq / ggsav;
            continue;
        }
        boundary = true;
        break;
    }
    if (boundary)
        crvmin = 0;
    /* On the boundary: rotate d in the plane of d and the reduced gradient. */
    for (;;) {
        if (nact + 1 >= n)
            goto done;
        double dredsq = 0, dredg = 0;
        gredsq = 0;
        for (size_t i = 0; i < n; i++) {
            if (xbdi[i] == 0) {
                dredsq += d[i] * d[i];
                dredg += d[i] * g[i];
                gredsq += g[i] * g[i];
                sv[i] = d[i];
            } else
                sv[i] = 0;
        }
        hess_mul(s, sv, hred);
        bool refix = false;
        for (;;) {
            iterc++;
            double t = gredsq * dredsq - dredg * dredg;
            if (t <= 1e-4 * qred * qred)
                goto done;
            t = sqrt(t);
            for (size_t i = 0; i < n; i++)
                sv[i] = xbdi[i] == 0 ? (dredg * d[i] - dredsq * g[i]) / t : 0;
            double sredg = -t;
            /* Bound on tan(theta/2) from the free variables' bounds. */
            double angbd = 1, xsav = 0;
            size_t iact = NONE;
            for (size_t i = 0; i < n && !refix; i++) {
                if (xbdi[i] != 0)
                    continue;
                double ta = xopt[i] + d[i] - sl[i], tb = su[i] - xopt[i] - d[i];
                if (ta <= 0 || tb <= 0) {
                    nact++;
                    xbdi[i] = ta <= 0 ? -1 : 1;
                    refix = true;
                    break;
                }
                double ssq = d[i] * d[i] + sv[i] * sv[i];
                double u = ssq - (xopt[i] - sl[i]) * (xopt[i] - sl[i]);
                if (u > 0) {
                    u = sqrt(u) - sv[i];
                    if (angbd * u > ta) {
                        angbd = ta / u;
                        iact = i;
                        xsav = -1;
                    }
                }
                u = ssq - (su[i] - xopt[i]) * (su[i] - xopt[i]);
                if (u > 0) {
                    u = sqrt(u) + sv[i];
                    if (angbd * u > tb) {
                        angbd = tb / u;
                        iact = i;
                        xsav = 1;
                    }
                }
            }
            if (refix)
                break;
            hess_mul(s, sv, hs);
            double shs = 0, dhs = 0, dhd = 0;
            for (size_t i = 0; i < n; i++)
                if (xbdi[i] == 0) {
                    shs += sv[i] * hs[i];
                    dhs += d[i] * hs[i];
                    dhd += d[i] * hred[i];
                }
            /* The reduction of Q at tan(theta/2) = angt on a grid of [0, angbd]. */
            double redmax = 0, redsav = 0, rdprev = 0, rdnext = 0;
            size_t isav = 0, iu = (size_t)(17 * angbd + 3.1);
            for (size_t i = 1; i <= iu; i++) {
                double angt = angbd * (double)i / (double)iu, sth = 2 * angt / (1 + angt * angt);
                double red = sth * (angt * dredg - sredg - 0.5 * sth * (shs + angt * (angt * dhd - 2 * dhs)));
                if (red > redmax) {
                    redmax = red;
                    isav = i;
                    rdprev = redsav;
                } else if (i == isav + 1)
                    rdnext = red;
                redsav = red;
            }
            if (isav == 0)
                goto done;
            double angt = angbd;
            if (isav < iu) {
                double frac = (rdnext - rdprev) / (2 * redmax - rdprev - rdnext);
                angt = angbd * ((double)isav + 0.5 * frac) / (double)iu;
            }
            double cth = (1 - angt * angt) / (1 + angt * angt), sth = 2 * angt / (1 + angt * angt);
            double sdec = sth * (angt * dredg - sredg - 0.5 * sth * (shs + angt * (angt * dhd - 2 * dhs)));
            if (sdec <= 0)
                goto done;
            dredg = 0;
            gredsq = 0;
            for (size_t i = 0; i < n; i++) {
                g[i] += (cth - 1) * hred[i] + sth * hs[i];
                if (xbdi[i] == 0) {
                    d[i] = cth * d[i] + sth * sv[i];
                    dredg += d[i] * g[i];
                    gredsq += g[i] * g[i];
                }
                hred[i] = cth * hred[i] + sth * hs[i];
            }
            qred += sdec;
            if (iact != NONE && isav == iu) {
                nact++;
                xbdi[iact] = xsav;
                break; /* fix it and start again from the new d */
            }
            if (sdec <= 0.01 * qred)
                goto done;
        }
        refix = false;
    }
done:;
    double dsq = 0;
    for (size_t i = 0; i < n; i++) {
        double x = fmax(fmin(xopt[i] + d[i], su[i]), sl[i]);
        if (xbdi[i] == -1)
            x = sl[i];
        if (xbdi[i] == 1)
            x = su[i];
        s->xnew[i] = x;
        d[i] = x - xopt[i];
        dsq += d[i] * d[i];
    }
    *dsq_out = dsq;
    *crvmin_out = crvmin;
}

/* ---- ALTMOV (section 4) ----------------------------------------------------
 * New positions for point knew within adelt of x_opt: xnew on a line
 * through x_opt and another point, maximising the predicted denominator
 * |l|^2 (|l|^2 + alpha/2 (t(1 - t)|y_k - x_opt|^2)^2) of the update; xalt
 * a constrained Cauchy step of +-l_knew (the larger |l_knew|), with
 * cauchy = l_knew(xalt)^2. Sets alpha = Omega_knew,knew. */
static void altmov(bq *s)
{
    const size_t n = s->n, npt = s->npt, knew = s->knew, kopt = s->kopt;
    const double *xopt = s->xopt, *sl = s->sl, *su = s->su, *xpt = s->xpt, adelt = s->adelt;
    double *hcol = s->hcol, *glag = s->glag, *w = s->wcs;
    for (size_t k = 0; k < npt; k++) {
        hcol[k] = 0;
        for (size_t j = 0; j < s->nptm; j++)
            hcol[k] += s->zmat[knew * s->nptm + j] * s->zmat[k * s->nptm + j];
    }
    s->alpha = hcol[knew];
    const double ha = 0.5 * s->alpha;
    /* The gradient of l_knew at x_opt. */
    for (size_t i = 0; i < n; i++)
        glag[i] = s->bmat[knew * n + i];
    for (size_t k = 0; k < npt; k++) {
        double t = hcol[k] * dot(xpt + k * n, xopt, n);
        for (size_t i = 0; i < n; i++)
            glag[i] += t * xpt[k * n + i];
    }
    double presav = 0, stpsav = 0;
    size_t ksav = kopt;
    long ibdsav = 0;
    for (size_t k = 0; k < npt; k++) {
        if (k == kopt)
            continue;
        const double *y = xpt + k * n;
        double dderiv = 0, distsq = 0;
        for (size_t i = 0; i < n; i++) {
            double t = y[i] - xopt[i];
            dderiv += glag[i] * t;
            distsq += t * t;
        }
        double subd = adelt / sqrt(distsq), slbd = -subd;
        long ilbd = 0, iubd = 0;
        const double sumin = fmin(1, subd);
        for (size_t i = 0; i < n; i++) {
            double t = y[i] - xopt[i];
            long id = (long)i + 1;
            if (t > 0) {
                if (slbd * t < sl[i] - xopt[i]) {
                    slbd = (sl[i] - xopt[i]) / t;
                    ilbd = -id;
                }
                if (subd * t > su[i] - xopt[i]) {
                    subd = fmax(sumin, (su[i] - xopt[i]) / t);
                    iubd = id;
                }
            } else if (t < 0) {
                if (slbd * t > su[i] - xopt[i]) {
                    slbd = (su[i] - xopt[i]) / t;
                    ilbd = id;
                }
                if (subd * t < sl[i] - xopt[i]) {
                    subd = fmax(sumin, (sl[i] - xopt[i]) / t);
                    iubd = -id;
                }
            }
        }
        /* l_knew along the line x_opt + t (y_k - x_opt): t (1 - t) dderiv for
         * k != knew, t (dderiv - t (dderiv - 1)) for k = knew. */
        double step, vlag;
        long isbd;
        if (k == knew) {
            double diff = dderiv - 1;
            step = slbd;
            vlag = slbd * (dderiv - slbd * diff);
            isbd = ilbd;
            double t = subd * (dderiv - subd * diff);
            if (fabs(t) > fabs(vlag)) {
                step = subd;
                vlag = t;
                isbd = iubd;
            }
            double td = 0.5 * dderiv, ta = td - diff * slbd, tb = td - diff * subd;
            if (ta * tb < 0) {
                t = td * td / diff;
                if (fabs(t) > fabs(vlag)) {
                    step = td / diff;
                    vlag = t;
                    isbd = 0;
                }
            }
        } else {
            step = slbd;
            vlag = slbd * (1 - slbd);
            isbd = ilbd;
            double t = subd * (1 - subd);
            if (fabs(t) > fabs(vlag)) {
                step = subd;
                vlag = t;
                isbd = iubd;
            }
            if (subd > 0.5 && fabs(vlag) < 0.25) {
                step = 0.5;
                vlag = 0.25;
                isbd = 0;
            }
            vlag *= dderiv;
        }
        double t = step * (1 - step) * distsq;
        double predsq = vlag * vlag * (vlag * vlag + ha * t * t);
        if (predsq > presav) {
            presav = predsq;
            ksav = k;
            stpsav = step;
            ibdsav = isbd;
        }
    }
    for (size_t i = 0; i < n; i++)
        s->xnew[i] = fmax(sl[i], fmin(su[i], xopt[i] + stpsav * (xpt[ksav * n + i] - xopt[i])));
    if (ibdsav < 0)
        s->xnew[-ibdsav - 1] = sl[-ibdsav - 1];
    if (ibdsav > 0)
        s->xnew[ibdsav - 1] = su[ibdsav - 1];
    /* The constrained Cauchy step of l_knew (sign = +1) and of -l_knew. */
    const double bigstp = 2 * adelt, cmax = 1 + sqrt(2.0);
    double csave = 0;
    for (int sign = 0; sign < 2; sign++) {
        double wfixsq = 0, ggfree = 0;
        for (size_t i = 0; i < n; i++) {
            w[i] = 0;
            double ta = fmin(xopt[i] - sl[i], glag[i]), tb = fmax(xopt[i] - su[i], glag[i]);
            if (ta > 0 || tb < 0) {
                w[i] = bigstp;
                ggfree += glag[i] * glag[i];
            }
        }
        if (ggfree == 0) {
            s->cauchy = 0;
            return;
        }
        double step = 0;
        for (;;) {
            double t = adelt * adelt - wfixsq;
            if (t <= 0)
                break;
            double wsqsav = wfixsq;
            step = sqrt(t / ggfree);
            ggfree = 0;
            for (size_t i = 0; i < n; i++) {
                if (w[i] != bigstp)
                    continue;
                double x = xopt[i] - step * glag[i];
                if (x <= sl[i]) {
                    w[i] = sl[i] - xopt[i];
                    wfixsq += w[i] * w[i];
                } else if (x >= su[i]) {
                    w[i] = su[i] - xopt[i];
                    wfixsq += w[i] * w[i];
                } else
                    ggfree += glag[i] * glag[i];
            }
            if (!(wfixsq > wsqsav && ggfree > 0))
                break;
        }
        double gw = 0;
        for (size_t i = 0; i < n; i++) {
            if (w[i] == bigstp) {
                w[i] = -step * glag[i];
                s->xalt[i] = fmax(sl[i], fmin(su[i], xopt[i] + w[i]));
            } else if (w[i] == 0)
                s->xalt[i] = xopt[i];
            else
                s->xalt[i] = glag[i] > 0 ? sl[i] : su[i];
            gw += glag[i] * w[i];
        }
        double curv = 0;
        for (size_t k = 0; k < npt; k++) {
            double t = dot(xpt + k * n, w, n);
            curv += hcol[k] * t * t;
        }
        if (sign == 1)
            curv = -curv;
        if (curv > -gw && curv < -cmax * gw) {
            double scale = -gw / curv;
            for (size_t i = 0; i < n; i++)
                s->xalt[i] = fmax(sl[i], fmin(su[i], xopt[i] + scale * w[i]));
            s->cauchy = (0.5 * gw * scale) * (0.5 * gw * scale);
        } else
            s->cauchy = (gw + 0.5 * curv) * (gw + 0.5 * curv);
        if (sign == 0) {
            for (size_t i = 0; i < n; i++) {
                glag[i] = -glag[i];
                w[n + i] = s->xalt[i];
            }
            csave = s->cauchy;
        }
    }
    if (csave > s->cauchy) {
        for (size_t i = 0; i < n; i++)
            s->xalt[i] = w[n + i];
        s->cauchy = csave;
    }
}

/* ---- UPDATE: H+ for point knew moving to x_opt + d ---------------------
 * Givens rotations first zero row knew of Z except its first column; then
 * the formula above with vlag = H w (+ e_opt) and beta, sigma = denom. */
static void update_h(bq *s)
{
    const size_t n = s->n, npt = s->npt, nptm = s->nptm, knew = s->knew;
    double *z = s->zmat, *b = s->bmat, *vlag = s->vlag, *w = s->work;
    double ztest = 0;
    for (size_t k = 0; k < npt * nptm; k++)
        ztest = fmax(ztest, fabs(z[k]));
    ztest *= 1e-20;
    for (size_t j = 1; j < nptm; j++) {
        double zj = z[knew * nptm + j];
        if (fabs(zj) > ztest) {
            double z0 = z[knew * nptm], t = sqrt(z0 * z0 + zj * zj), ta = z0 / t, tb = zj / t;
            for (size_t i = 0; i < npt; i++) {
                double u = ta * z[i * nptm] + tb * z[i * nptm + j];
                z[i * nptm + j] = ta * z[i * nptm + j] - tb * z[i * nptm];
                z[i * nptm] = u;
            }
        }
        z[knew * nptm + j] = 0;
    }
    for (size_t i = 0; i < npt; i++)
        w[i] = z[knew * nptm] * z[i * nptm];
    const double alpha = w[knew], tau = vlag[knew];
    vlag[knew] -= 1;
    const double sq = sqrt(s->denom), tb0 = z[knew * nptm] / sq, ta0 = tau / sq;
    for (size_t i = 0; i < npt; i++)
        z[i * nptm] = ta0 * z[i * nptm] - tb0 * vlag[i];
    for (size_t j = 0; j < n; j++) {
        const size_t jp = npt + j;
        w[jp] = b[knew * n + j];
        double ta = (alpha * vlag[jp] - tau * w[jp]) / s->denom;
        double tb = (-s->beta * w[jp] - tau * vlag[jp]) / s->denom;
        for (size_t i = 0; i <= jp; i++) {
            b[i * n + j] += ta * vlag[i] + tb * w[i];
            if (i >= npt)
                b[jp * n + (i - npt)] = b[i * n + j];
        }
    }
}

/* ---- moving x_b to x_opt (section 6), keeping H and Q ------------------ */
static void shift_base(bq *s)
{
    const size_t n = s->n, npt = s->npt, nptm = s->nptm;
    double *xpt = s->xpt, *b = s->bmat, *xopt = s->xopt, *w = s->work, *v = s->vlag;
    const double fracsq = 0.25 * s->xoptsq;
    double sumpq = 0;
    for (size_t k = 0; k < npt; k++) {
        sumpq += s->pq[k];
        double sum = -0.5 * s->xoptsq + dot(xpt + k * n, xopt, n);
        w[npt + k] = sum;
        double t = fracsq - 0.5 * sum;
        for (size_t i = 0; i < n; i++) {
            w[i] = b[k * n + i];
            v[i] = sum * xpt[k * n + i] + t * xopt[i];
            for (size_t j = 0; j <= i; j++)
                b[(npt + i) * n + j] += w[i] * v[j] + v[i] * w[j];
        }
    }
    for (size_t jj = 0; jj < nptm; jj++) {
        double sumz = 0, sumw = 0;
        for (size_t k = 0; k < npt; k++) {
            sumz += s->zmat[k * nptm + jj];
            v[k] = w[npt + k] * s->zmat[k * nptm + jj];
            sumw += v[k];
        }
        for (size_t j = 0; j < n; j++) {
            double sum = (fracsq * sumz - 0.5 * sumw) * xopt[j];
            for (size_t k = 0; k < npt; k++)
                sum += v[k] * xpt[k * n + j];
            w[j] = sum;
            for (size_t k = 0; k < npt; k++)
                b[k * n + j] += sum * s->zmat[k * nptm + jj];
        }
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j <= i; j++)
                b[(npt + i) * n + j] += w[i] * w[j];
    }
    for (size_t j = 0; j < n; j++) {
        w[j] = -0.5 * sumpq * xopt[j];
        for (size_t k = 0; k < npt; k++) {
            w[j] += s->pq[k] * xpt[k * n + j];
            xpt[k * n + j] -= xopt[j];
        }
        for (size_t i = 0; i <= j; i++) {
            s->hq[hq_at(i, j)] += w[i] * xopt[j] + xopt[i] * w[j];
            b[(npt + i) * n + j] = b[(npt + j) * n + i];
        }
    }
    for (size_t i = 0; i < n; i++) {
        s->xbase[i] += xopt[i];
        s->xnew[i] -= xopt[i];
        s->sl[i] -= xopt[i];
        s->su[i] -= xopt[i];
        xopt[i] = 0;
    }
    s->xoptsq = 0;
}

/* ---- the initial points (PRELIM, section 2) ----------------------------
 * y_1 = 0, y_{i+1} = +-rhobeg e_i, y_{i+n+1} = -+rhobeg e_i (or 2 rhobeg
 * when a bound is at 0), then y_k = y_{p+1} + y_{q+1} for k > 2n + 1. */
static void prelim_pair(const bq *s, size_t k, size_t *ip, size_t *jp)
{
    const size_t n = s->n;
    size_t itemp = (k - n - 1) / n, jpt = k - itemp * n - n, ipt = jpt + itemp;
    if (ipt > n) {
        itemp = jpt;
        jpt = ipt - n;
        ipt = itemp;
    }
    *ip = ipt; /* 1-based variable indices */
    *jp = jpt;
}

static void prelim_point(bq *s)
{
    const size_t n = s->n, k = s->nf - s->nbuild;
    double *y = s->xpt + k * n;
    if (k >= 1 && k <= n) {
        size_t i = k - 1;
        y[i] = s->su[i] == 0 ? -s->spacing : s->spacing;
    } else if (k > n && k <= 2 * n) {
        size_t i = k - n - 1;
        double stepb = -s->spacing;
        if (s->sl[i] == 0)
            stepb = fmin(2 * s->spacing, s->su[i]);
        if (s->su[i] == 0)
            stepb = fmax(-2 * s->spacing, s->sl[i]);
        y[i] = stepb;
    } else if (k > 2 * n) {
        size_t ip, jp;
        prelim_pair(s, k, &ip, &jp);
        y[ip - 1] = s->xpt[ip * n + ip - 1];
        y[jp - 1] = s->xpt[jp * n + jp - 1];
    }
    to_variables(s, y, s->xeval);
}

static void prelim_told(bq *s, double f)
{
    const size_t n = s->n, npt = s->npt, nptm = s->nptm, k = s->nf - s->nbuild;
    const double rhosq = s->spacing * s->spacing;
    s->fval[k] = f;
    if (k == 0) {
        s->fbeg = f;
        s->kopt = 0;
    } else if (f < s->fval[s->kopt])
        s->kopt = k;
    if (k >= 1 && k <= n) {
        size_t i = k - 1;
        double stepa = s->xpt[k * n + i];
        s->gopt[i] = (f - s->fbeg) / stepa;
        if (npt < k + 1 + n) {
            s->bmat[i] = -1 / stepa;
            s->bmat[k * n + i] = 1 / stepa;
            s->bmat[(npt + i) * n + i] = -0.5 * rhosq;
        }
    } else if (k > n && k <= 2 * n) {
        /* Second differences along e_i; the better of the two points goes
         * first so that it enters the off-diagonal terms. */
        size_t i = k - n - 1;
        double stepa = s->xpt[(k - n) * n + i], stepb = s->xpt[k * n + i];
        double t = (f - s->fbeg) / stepb, diff = stepb - stepa;
        s->hq[hq_at(i, i)] = 2 * (t - s->gopt[i]) / diff;
        s->gopt[i] = (s->gopt[i] * stepb - t * stepa) / diff;
        if (stepa * stepb < 0 && f < s->fval[k - n]) {
            s->fval[k] = s->fval[k - n];
            s->fval[k - n] = f;
            if (s->kopt == k)
                s->kopt = k - n;
            s->xpt[(k - n) * n + i] = stepb;
            s->xpt[k * n + i] = stepa;
        }
        s->bmat[i] = -(stepa + stepb) / (stepa * stepb);
        s->bmat[k * n + i] = -0.5 / s->xpt[(k - n) * n + i];
        s->bmat[(k - n) * n + i] = -s->bmat[i] - s->bmat[k * n + i];
        s->zmat[i] = sqrt(2.0) / (stepa * stepb);
        s->zmat[k * nptm + i] = sqrt(0.5) / rhosq;
        s->zmat[(k - n) * nptm + i] = -s->zmat[i] - s->zmat[k * nptm + i];
    } else if (k > 2 * n) {
        size_t ip, jp, c = k - n - 1;
        prelim_pair(s, k, &ip, &jp);
        s->zmat[c] = 1 / rhosq;
        s->zmat[k * nptm + c] = 1 / rhosq;
        s->zmat[ip * nptm + c] = -1 / rhosq;
        s->zmat[jp * nptm + c] = -1 / rhosq;
        double t = s->xpt[k * n + ip - 1] * s->xpt[k * n + jp - 1];
        s->hq[hq_at(ip - 1, jp - 1)] = (s->fbeg - s->fval[ip] - s->fval[jp] + f) / t;
    }
    s->nf++;
}

/* After the initial points: x_opt, its model gradient and the scalars. */
static void start_iterations(bq *s)
{
    const size_t n = s->n;
    memcpy(s->xopt, s->xpt + s->kopt * n, n * sizeof(double));
    s->xoptsq = dot(s->xopt, s->xopt, n);
    if (!s->rebuilding) {
        s->rho = s->rhobeg;
        s->delta = s->rho;
    }
    s->rebuilding = 0;
    s->nresc = s->nfsav = s->nf;
    s->ntrits = 0;
    s->itest = 0;
    s->diffa = s->diffb = s->diffc = 0;
    s->ratio = 1;
    s->dnorm = 0;
    if (s->kopt != 0) {
        /* PRELIM leaves the gradient at x_b; pq is still zero. */
        double *hx = s->work;
        hess_mul(s, s->xopt, hx);
        for (size_t i = 0; i < n; i++)
            s->gopt[i] += hx[i];
    }
}

/* vlag = H w + e_opt and beta for the step d from x_opt (w's entries
 * (y_k'd)(y_k'd / 2 + y_k'x_opt), then d); wdot keeps y_k'd. */
static void vlag_beta(bq *s)
{
    const size_t n = s->n, npt = s->npt, nptm = s->nptm;
    const double *d = s->d, *xopt = s->xopt;
    double *w = s->work, *vlag = s->vlag;
    for (size_t k = 0; k < npt; k++) {
        const double *y = s->xpt + k * n;
        double suma = dot(y, d, n), sumb = dot(y, xopt, n);
        w[k] = suma * (0.5 * suma + sumb);
        vlag[k] = dot(s->bmat + k * n, d, n);
        s->wdot[k] = suma;
    }
    double beta = 0;
    for (size_t jj = 0; jj < nptm; jj++) {
        double sum = 0;
        for (size_t k = 0; k < npt; k++)
            sum += s->zmat[k * nptm + jj] * w[k];
        beta -= sum * sum;
        for (size_t k = 0; k < npt; k++)
            vlag[k] += sum * s->zmat[k * nptm + jj];
    }
    double dsq = 0, bsum = 0, dx = 0;
    for (size_t j = 0; j < n; j++) {
        dsq += d[j] * d[j];
        double sum = 0;
        for (size_t k = 0; k < npt; k++)
            sum += w[k] * s->bmat[k * n + j];
        bsum += sum * d[j];
        for (size_t i = 0; i < n; i++)
            sum += s->bmat[(npt + j) * n + i] * d[i];
        vlag[npt + j] = sum;
        bsum += sum * d[j];
        dx += d[j] * xopt[j];
    }
    s->beta = dx * dx + dsq * (s->xoptsq + 2 * dx + 0.5 * dsq) + beta - bsum;
    vlag[s->kopt] += 1;
}

/* The point to drop for a new point xnew: the largest denominator
 * beta Omega_kk + vlag_k^2, weighted by max(1, (|y_k - ref|^2 / delta^2)^2)
 * to prefer far points. False when rounding has spoilt every denominator. */
static bool choose_knew(bq *s, const double *ref, bool skip_opt)
{
    const size_t n = s->n, nptm = s->nptm;
    const double delsq = s->delta * s->delta;
    double scaden = 0, biglsq = 0;
    size_t knew = NONE;
    double denom = 0;
    for (size_t k = 0; k < s->npt; k++) {
        if (skip_opt && k == s->kopt)
            continue;
        double hdiag = 0;
        for (size_t jj = 0; jj < nptm; jj++)
            hdiag += s->zmat[k * nptm + jj] * s->zmat[k * nptm + jj];
        double den = s->beta * hdiag + s->vlag[k] * s->vlag[k], distsq = 0;
        for (size_t j = 0; j < n; j++)
            distsq += (s->xpt[k * n + j] - ref[j]) * (s->xpt[k * n + j] - ref[j]);
        double t = fmax(1, (distsq / delsq) * (distsq / delsq));
        if (t * den > scaden) {
            scaden = t * den;
            knew = k;
            denom = den;
        }
        biglsq = fmax(biglsq, t * s->vlag[k] * s->vlag[k]);
    }
    if (knew == NONE || scaden <= 0.5 * biglsq)
        return false;
    s->knew = knew;
    s->denom = denom;
    return true;
}

static void issue(bq *s, int at)
{
    to_variables(s, s->xnew, s->xeval);
    for (size_t i = 0; i < s->n; i++)
        if (!isfinite(s->xeval[i])) {
            s->stop = DESCENT_STOP_MODEL_ROUNDING;
            s->at = AT_DONE;
            return;
        }
    s->at = at;
}

/* The value at a step arrived: update H, the model and x_opt; where next. */
static int step_told(bq *s, double f)
{
    const size_t n = s->n, npt = s->npt, nptm = s->nptm;
    double *d = s->d;
    const double fopt = s->fval[s->kopt];
    double vquad = 0;
    for (size_t j = 0; j < n; j++) {
        vquad += d[j] * s->gopt[j];
        for (size_t i = 0; i <= j; i++)
            vquad += s->hq[hq_at(i, j)] * d[i] * d[j] * (i == j ? 0.5 : 1);
    }
    for (size_t k = 0; k < npt; k++)
        vquad += 0.5 * s->pq[k] * s->wdot[k] * s->wdot[k];
    const double diff = f - fopt - vquad;
    s->diffc = s->diffb;
    s->diffb = s->diffa;
    s->diffa = fabs(diff);
    if (s->dnorm > s->rho)
        s->nfsav = s->nf;
    if (s->ntrits > 0) {
        if (vquad >= 0) {
            s->stop = DESCENT_STOP_MODEL_ROUNDING;
            return AT_DONE;
        }
        s->ratio = (f - fopt) / vquad;
        if (s->ratio <= 0.1)
            s->delta = fmin(0.5 * s->delta, s->dnorm);
        else if (s->ratio <= 0.7)
            s->delta = fmax(0.5 * s->delta, s->dnorm);
        else
            s->delta = fmax(0.5 * s->delta, 2 * s->dnorm);
        if (s->delta <= 1.5 * s->rho)
            s->delta = s->rho;
        if (f < fopt) {
            size_t ksav = s->knew;
            double densav = s->denom;
            if (!choose_knew(s, s->xnew, false)) {
                s->knew = ksav;
                s->denom = densav;
            }
        }
    }
    const size_t knew = s->knew;
    update_h(s);
    /* Q changes by diff times the new Lagrange function of knew: its old
     * implicit term becomes explicit, Omega's column adds to pq. */
    double pqold = s->pq[knew];
    s->pq[knew] = 0;
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i <= j; i++)
            s->hq[hq_at(i, j)] += pqold * s->xpt[knew * n + i] * s->xpt[knew * n + j];
    for (size_t jj = 0; jj < nptm; jj++) {
        double t = diff * s->zmat[knew * nptm + jj];
        for (size_t k = 0; k < npt; k++)
            s->pq[k] += t * s->zmat[k * nptm + jj];
    }
    s->fval[knew] = f;
    memcpy(s->xpt + knew * n, s->xnew, n * sizeof(double));
    double *w = s->work;
    for (size_t i = 0; i < n; i++)
        w[i] = s->bmat[knew * n + i];
    for (size_t k = 0; k < npt; k++) {
        double suma = 0;
        for (size_t jj = 0; jj < nptm; jj++)
            suma += s->zmat[knew * nptm + jj] * s->zmat[k * nptm + jj];
        if (!isfinite(suma)) {
            s->stop = DESCENT_STOP_MODEL_ROUNDING;
            return AT_DONE;
        }
        double t = suma * dot(s->xpt + k * n, s->xopt, n);
        for (size_t i = 0; i < n; i++)
            w[i] += t * s->xpt[k * n + i];
    }
    for (size_t i = 0; i < n; i++)
        s->gopt[i] += diff * w[i];
    if (f < fopt) {
        s->kopt = knew;
        memcpy(s->xopt, s->xnew, n * sizeof(double));
        s->xoptsq = dot(s->xopt, s->xopt, n);
        hess_mul(s, d, w);
        for (size_t i = 0; i < n; i++)
            s->gopt[i] += w[i];
    }
    if (s->ntrits > 0) {
        /* The least Frobenius norm interpolant of f - f_opt (H times the
         * values): if its gradient at x_opt (projected on the bounds) stays
         * much smaller than Q's for three steps, it replaces Q. */
        double *v = s->vlag, *wa = s->work + n;
        for (size_t k = 0; k < npt; k++) {
            v[k] = s->fval[k] - s->fval[s->kopt];
            wa[k] = 0;
        }
        for (size_t j = 0; j < nptm; j++) {
            double sum = 0;
            for (size_t k = 0; k < npt; k++)
                sum += s->zmat[k * nptm + j] * v[k];
            for (size_t k = 0; k < npt; k++)
                wa[k] += sum * s->zmat[k * nptm + j];
        }
        double *wb = wa + npt;
        for (size_t k = 0; k < npt; k++) {
            wb[k] = wa[k];
            wa[k] *= dot(s->xpt + k * n, s->xopt, n);
        }
        double gqsq = 0, gisq = 0;
        for (size_t i = 0; i < n; i++) {
            double sum = 0;
            for (size_t k = 0; k < npt; k++)
                sum += s->bmat[k * n + i] * v[k] + s->xpt[k * n + i] * wa[k];
            if (s->xopt[i] == s->sl[i]) {
                gqsq += fmin(0, s->gopt[i]) * fmin(0, s->gopt[i]);
                gisq += fmin(0, sum) * fmin(0, sum);
            } else if (s->xopt[i] == s->su[i]) {
                gqsq += fmax(0, s->gopt[i]) * fmax(0, s->gopt[i]);
                gisq += fmax(0, sum) * fmax(0, sum);
            } else {
                gqsq += s->gopt[i] * s->gopt[i];
                gisq += sum * sum;
            }
            v[npt + i] = sum;
        }
        s->itest++;
        if (gqsq < 10 * gisq)
            s->itest = 0;
        if (s->itest >= 3) {
            for (size_t i = 0; i < n; i++)
                s->gopt[i] = v[npt + i];
            for (size_t k = 0; k < npt; k++)
                s->pq[k] = wb[k];
            memset(s->hq, 0, n * (n + 1) / 2 * sizeof(double));
            s->itest = 0;
        }
    }
    if (s->ntrits == 0 || f <= fopt + 0.1 * vquad)
        return AT_TRUST;
    s->distsq = fmax(4 * s->delta * s->delta, 100 * s->rho * s->rho);
    return AT_FAR;
}

static bool rebuild(bq *s);

/* Run from `at` until a point must be evaluated or the method stops. */
static void advance(bq *s, int at)
{
    const size_t n = s->n;
    for (;;) {
        switch (at) {
        case AT_TRUST: {
            trsbox(s, &s->dsq, &s->crvmin);
            s->dnorm = fmin(s->delta, sqrt(s->dsq));
            if (s->dnorm >= 0.5 * s->rho) {
                s->ntrits++;
                at = AT_SHIFT;
                break;
            }
            /* A short step: decide between improving the geometry and
             * reducing rho, from the errors of the last three models. */
            s->ntrits = -1;
            s->distsq = 100 * s->rho * s->rho;
            at = AT_FAR;
            if (s->nf <= s->nfsav + 2)
                break;
            double errbig = fmax(fmax(s->diffa, s->diffb), s->diffc), frhosq = 0.125 * s->rho * s->rho;
            if (s->crvmin > 0 && errbig > frhosq * s->crvmin)
                break;
            double bdtol = errbig / s->rho;
            bool far = false;
            for (size_t j = 0; j < n && !far; j++) {
                double bdtest = bdtol;
                if (s->xnew[j] == s->sl[j])
                    bdtest = s->gnew[j];
                if (s->xnew[j] == s->su[j])
                    bdtest = -s->gnew[j];
                if (bdtest < bdtol) {
                    double curv = s->hq[hq_at(j, j)];
                    for (size_t k = 0; k < s->npt; k++)
                        curv += s->pq[k] * s->xpt[k * n + j] * s->xpt[k * n + j];
                    far = bdtest + 0.5 * curv * s->rho < bdtol;
                }
            }
            if (!far)
                at = AT_RHO;
            break;
        }
        case AT_SHIFT:
            if (s->dsq <= 1e-3 * s->xoptsq)
                shift_base(s);
            at = s->ntrits == 0 ? AT_ALTMOV : AT_DENOM;
            break;
        case AT_ALTMOV:
            altmov(s);
            for (size_t i = 0; i < n; i++)
                s->d[i] = s->xnew[i] - s->xopt[i];
            at = AT_DENOM;
            break;
        case AT_DENOM:
            vlag_beta(s);
            if (s->ntrits == 0) {
                double vk = s->vlag[s->knew];
                s->denom = vk * vk + s->alpha * s->beta;
                if (s->denom < s->cauchy && s->cauchy > 0) {
                    memcpy(s->xnew, s->xalt, n * sizeof(double));
                    for (size_t i = 0; i < n; i++)
                        s->d[i] = s->xnew[i] - s->xopt[i];
                    s->cauchy = 0;
                    break;
                }
                if (s->denom <= 0.5 * vk * vk) {
                    if (rebuild(s))
                        return;
                    s->stop = DESCENT_STOP_MODEL_ROUNDING;
                    s->at = AT_DONE;
                    return;
                }
            } else if (!choose_knew(s, s->xopt, true)) {
                if (rebuild(s))
                    return;
                s->stop = DESCENT_STOP_MODEL_ROUNDING;
                s->at = AT_DONE;
                return;
            }
            issue(s, AT_STEP);
            return;
        case AT_FAR: {
            /* The farthest point beyond sqrt(distsq) moves by ALTMOV. */
            size_t knew = NONE;
            double distsq = s->distsq;
            for (size_t k = 0; k < s->npt; k++) {
                double sum = 0;
                for (size_t j = 0; j < n; j++)
                    sum += (s->xpt[k * n + j] - s->xopt[j]) * (s->xpt[k * n + j] - s->xopt[j]);
                if (sum > distsq) {
                    knew = k;
                    distsq = sum;
                }
            }
            if (knew != NONE) {
                double dist = sqrt(distsq);
                s->knew = knew;
                if (s->ntrits == -1) {
                    s->delta = fmin(0.1 * s->delta, 0.5 * dist);
                    if (s->delta <= 1.5 * s->rho)
                        s->delta = s->rho;
                }
                s->ntrits = 0;
                s->adelt = fmax(fmin(0.1 * dist, s->delta), s->rho);
                s->dsq = s->adelt * s->adelt;
                at = AT_SHIFT;
            } else if (s->ntrits == -1)
                at = AT_RHO;
            else if (s->ratio > 0 || fmax(s->delta, s->dnorm) > s->rho)
                at = AT_TRUST;
            else
                at = AT_RHO;
            break;
        }
        case AT_RHO:
            if (s->rho > s->rhoend) {
                s->delta = 0.5 * s->rho;
                double r = s->rho / s->rhoend;
                s->rho = r <= 16 ? s->rhoend : r <= 250 ? sqrt(r) * s->rhoend : 0.1 * s->rho;
                s->delta = fmax(s->delta, s->rho);
                s->ntrits = 0;
                s->nfsav = s->nf;
                at = AT_TRUST;
                break;
            }
            if (s->ntrits == -1) {
                issue(s, AT_FINAL);
                return;
            }
            s->stop = DESCENT_STOP_RHOEND;
            s->at = AT_DONE;
            return;
        default:
            s->at = AT_DONE;
            return;
        }
    }
}

/* x_b at x (x / scale when unscaled), moved h inside a bound closer than h
 * (or onto it) so that the initial points, h apart, are feasible. */
static void place_base(bq *s, const double *x, bool unscaled, double h)
{
    for (size_t i = 0; i < s->n; i++) {
        double b = unscaled ? x[i] / s->sc[i] : x[i], lo = s->xl[i] - b, hi = s->xu[i] - b;
        if (lo >= -h) {
            if (lo >= 0) {
                b = s->xl[i];
                lo = 0;
                hi = s->xu[i] - s->xl[i];
            } else {
                b = s->xl[i] + h;
                lo = -h;
                hi = fmax(s->xu[i] - b, h);
            }
        } else if (hi <= h) {
            if (hi <= 0) {
                b = s->xu[i];
                lo = s->xl[i] - s->xu[i];
                hi = 0;
            } else {
                b = s->xu[i] - h;
                lo = fmin(s->xl[i] - b, -h);
                hi = h;
            }
        }
        s->xbase[i] = b;
        s->sl[i] = lo;
        s->su[i] = hi;
    }
    s->spacing = h;
}

/* In place of RESCUE: when rounding has spoilt the denominators and
 * points were evaluated since the last build, build the initial points
 * again around the best one, rho apart, keeping rho and delta. */
static bool rebuild(bq *s)
{
    const size_t n = s->n;
    if (s->nf <= s->nresc)
        return false;
    double best[64], *b = n <= 64 ? best : s->work;
    for (size_t i = 0; i < n; i++)
        b[i] = s->xbase[i] + s->xopt[i];
    const double fbest = s->fval[s->kopt];
    memset(s->xpt, 0, s->npt * n * sizeof(double));
    memset(s->gopt, 0, n * sizeof(double));
    memset(s->hq, 0, n * (n + 1) / 2 * sizeof(double));
    memset(s->pq, 0, s->npt * sizeof(double));
    memset(s->bmat, 0, s->ndim * n * sizeof(double));
    memset(s->zmat, 0, s->npt * s->nptm * sizeof(double));
    place_base(s, b, false, s->rho);
    bool same = true;
    for (size_t i = 0; i < n; i++)
        same = same && s->xbase[i] == b[i];
    s->nbuild = s->nf;
    s->rebuilding = 1;
    s->delta = fmax(s->delta, s->rho);
    s->at = AT_PRELIM;
    if (same) { /* the best point is the first one: its value is known */
        prelim_told(s, fbest);
        s->nf--; /* not an evaluation, but the next point is the second */
        s->nbuild--;
    }
    prelim_point(s);
    return true;
}

static int bq_init(void *state, pop_ctx *c, descent_error *err)
{
    bq *s = state;
    const size_t n = s->n;
    const double rb = s->rhobeg;
    memset(s->mem, 0, s->memlen * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        double lo = c->lo ? c->lo[i] : -INFINITY, hi = c->hi ? c->hi[i] : INFINITY;
        /* Without rhobeg and scale, the first step along variable i is
         * |x0_i| (1 where x0_i is 0 or subnormal), NLopt's default initial
         * step for Powell's methods, at most half the width of the bounds
         * (Powell's condition upper - lower >= 2 rhobeg): rhobeg = 1 in
         * u_i = x_i / sc_i, so rho and rhoend are relative to the start. */
        s->sc[i] = s->scale[i];
        if (s->auto_scale) {
            s->sc[i] = isnormal(c->x0[i]) ? fabs(c->x0[i]) : 1;
            if (hi - lo > 0 && hi - lo < 2 * s->sc[i])
                s->sc[i] = 0.5 * (hi - lo);
        }
        if ((hi - lo) / s->sc[i] < 2 * rb)
            return descent_fail(err, DESCENT_ERR_INVALID,
                                "BOBYQA needs (upper - lower) / scale >= 2 rhobeg in every variable: variable %zu has "
                                "upper - lower = %.17g < 2 rhobeg = %.17g (lower rhobeg or widen the bounds)",
                                i, (hi - lo) / s->sc[i], 2 * rb);
    }
    for (size_t i = 0; i < n; i++) {
        s->xlo[i] = c->lo ? c->lo[i] : -INFINITY;
        s->xhi[i] = c->hi ? c->hi[i] : INFINITY;
        s->xl[i] = s->xlo[i] / s->sc[i];
        s->xu[i] = s->xhi[i] / s->sc[i];
    }
    place_base(s, c->x0, true, rb);
    s->nf = s->nbuild = 0;
    s->rebuilding = 0;
    s->kopt = 0;
    s->knew = 0;
    s->stop = 0;
    s->at = AT_PRELIM;
    prelim_point(s);
    return 0;
}

static size_t bq_size(const void *state)
{
    (void)state;
    return 1;
}

static void bq_ask(void *state, pop_ctx *c, double *cand)
{
    (void)c;
    bq *s = state;
    if (s->at == AT_DONE) /* stopped: the best point again (the caller should not ask) */
        to_variables(s, s->xopt, cand);
    else
        memcpy(cand, s->xeval, s->n * sizeof *cand);
}

static void bq_tell(void *state, pop_ctx *c, const double *cand, const double *fv)
{
    (void)c;
    (void)cand;
    bq *s = state;
    double f = fv[0];
    if (!(f <= FBIG)) /* NaN, +inf or beyond 1e30 */
        f = FBIG;
    switch (s->at) {
    case AT_PRELIM:
        prelim_told(s, f);
        if (s->nf - s->nbuild < s->npt) {
            prelim_point(s);
            return;
        }
        start_iterations(s);
        advance(s, AT_TRUST);
        return;
    case AT_STEP:
        s->nf++;
        advance(s, step_told(s, f));
        return;
    case AT_FINAL:
        s->nf++;
        s->stop = DESCENT_STOP_RHOEND;
        s->at = AT_DONE;
        return;
    default:
        return;
    }
}

static int bq_stop(const void *state) { return ((const bq *)state)->stop; }

static bool positive_finite(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(v[i] > 0) || !isfinite(v[i]))
            return false;
    return true;
}

static int bq_io(void *state, pop_io *io, descent_error *err)
{
    bq *s = state;
    int rc = pop_io_expect(io, s->npt, "npt", err);
    if (rc < 0)
        return rc;
    pop_io_f64(io, s->mem, s->memlen);
    uint64_t ints[5] = {(uint64_t)s->at, (uint64_t)s->stop, (uint64_t)(int64_t)s->ntrits, (uint64_t)s->itest,
                        (uint64_t)s->rebuilding};
    for (int i = 0; i < 5; i++)
        pop_io_u64(io, &ints[i]);
    size_t *sizes[] = {&s->nf, &s->kopt, &s->knew, &s->nfsav, &s->nresc, &s->nbuild};
    size_t sv[6];
    for (int i = 0; i < 6; i++) {
        sv[i] = *sizes[i];
        pop_io_size(io, &sv[i]);
    }
    double *scal[] = {&s->spacing, &s->fbeg, &s->rho, &s->delta, &s->ratio, &s->dnorm, &s->dsq, &s->crvmin, &s->diffa,
                      &s->diffb, &s->diffc, &s->xoptsq, &s->alpha, &s->beta, &s->denom, &s->cauchy, &s->adelt,
                      &s->distsq};
    for (size_t i = 0; i < sizeof scal / sizeof scal[0]; i++)
        pop_io_f64(io, scal[i], 1);
    if (pop_io_bad(io) || !io->r)
        return 0;
    if (ints[0] > AT_DONE || (ints[1] != 0 && ints[1] != DESCENT_STOP_RHOEND && ints[1] != DESCENT_STOP_MODEL_ROUNDING)
        || (int64_t)ints[2] < -1 || (int64_t)ints[2] > INT32_MAX || ints[3] > 3 || sv[1] >= s->npt
        || sv[2] >= s->npt || sv[5] > sv[0] || (ints[0] == AT_PRELIM && sv[0] - sv[5] >= s->npt) || ints[4] > 1 || !(s->rho >= 0) || !(s->delta >= 0) || ((ints[0] != AT_DONE || sv[0] > 0) && !positive_finite(s->sc, s->n)))
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "BOBYQA checkpoint has an inconsistent state");
    s->at = (int)ints[0];
    s->stop = (int)ints[1];
    s->ntrits = (int)(int64_t)ints[2];
    s->itest = (int)ints[3];
    s->rebuilding = (int)ints[4];
    for (int i = 0; i < 6; i++)
        *sizes[i] = sv[i];
    return 0;
}

const pop_method descent_pop_bobyqa = {
    "BOBYQA", bq_names, bq_create, bq_destroy, bq_init, bq_size, bq_ask, bq_tell, bq_io, bq_stop, true,
};
