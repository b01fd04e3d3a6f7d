/* Line searches: Moré & Thuente's strong Wolfe search ("Line search
 * algorithms with guaranteed sufficient decrease", ACM TOMS 20(3), 1994;
 * the algorithm of MINPACK-2's dcsrch/dcstep, which liblbfgs also follows)
 * and Armijo backtracking. */
#include "line_search.h"

#include <math.h>

static double max3(double a, double b, double c)
{
    double m = a > b ? a : b;
    return m > c ? m : c;
}

/* One safeguarded step of the search (Moré-Thuente section 4): from the
 * interval end points stx (best so far) and sty, and the trial stp with
 * values f and derivatives d, choose the next trial by cubic and quadratic
 * interpolation and update the interval. The four cases are the paper's. */
static void mt_step(double *stx, double *fx, double *dx, double *sty, double *fy, double *dy, double *stp, double fp,
                    double dp, bool *brackt, double stpmin, double stpmax)
{
    const double sgnd = dp * (*dx / fabs(*dx));
    double stpf;
    if (fp > *fx) {
        /* Case 1: a higher function value; the minimum is bracketed. Take
         * the cubic step if it is closer to stx, else the average of the
         * cubic and quadratic steps. */
        double theta = 3 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        double s = max3(fabs(theta), fabs(*dx), fabs(dp));
        double gamma = s * sqrt(fmax(0, (theta / s) * (theta / s) - (*dx / s) * (dp / s)));
        if (*stp < *stx)
            gamma = -gamma;
        double p = (gamma - *dx) + theta, q = ((gamma - *dx) + gamma) + dp;
        double stpc = *stx + p / q * (*stp - *stx);
        double stpq = *stx + ((*dx / ((*fx - fp) / (*stp - *stx) + *dx)) / 2) * (*stp - *stx);
        stpf = fabs(stpc - *stx) < fabs(stpq - *stx) ? stpc : stpc + (stpq - stpc) / 2;
        *brackt = true;
    } else if (sgnd < 0) {
        /* Case 2: lower value, derivatives of opposite sign; bracketed. Take
         * the cubic or secant step, whichever is farther from stp. */
        double theta = 3 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        double s = max3(fabs(theta), fabs(*dx), fabs(dp));
        double gamma = s * sqrt(fmax(0, (theta / s) * (theta / s) - (*dx / s) * (dp / s)));
        if (*stp > *stx)
            gamma = -gamma;
        double p = (gamma - dp) + theta, q = ((gamma - dp) + gamma) + *dx;
        double stpc = *stp + p / q * (*stx - *stp);
        double stpq = *stp + (dp / (dp - *dx)) * (*stx - *stp);
        stpf = fabs(stpc - *stp) > fabs(stpq - *stp) ? stpc : stpq;
        *brackt = true;
    } else if (fabs(dp) < fabs(*dx)) {
        /* Case 3: lower value, same sign, the derivative decreases in
         * magnitude. The cubic may have no minimizer in the direction; then
         * go to the interval end. */
        double theta = 3 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        double s = max3(fabs(theta), fabs(*dx), fabs(dp));
        double gamma = s * sqrt(fmax(0, (theta / s) * (theta / s) - (*dx / s) * (dp / s)));
        if (*stp > *stx)
            gamma = -gamma;
        double p = (gamma - dp) + theta, q = (gamma + (*dx - dp)) + gamma;
        double r = p / q, stpc;
        if (r < 0 && gamma != 0)
            stpc = *stp + r * (*stx - *stp);
        else
            stpc = *stp > *stx ? stpmax : stpmin;
        double stpq = *stp + (dp / (dp - *dx)) * (*stx - *stp);
        if (*brackt) {
            stpf = fabs(stpc - *stp) < fabs(stpq - *stp) ? stpc : stpq;
            double limit = *stp + 0.66 * (*sty - *stp);
            stpf = *stp > *stx ? fmin(limit, stpf) : fmax(limit, stpf);
        } else {
            stpf = fabs(stpc - *stp) > fabs(stpq - *stp) ? stpc : stpq;
            stpf = fmax(stpmin, fmin(stpmax, stpf));
        }
    } else {
        /* Case 4: lower value, same sign, the derivative does not decrease:
         * the cubic through stp and sty if bracketed, else an end point. */
        if (*brackt) {
            double theta = 3 * (fp - *fy) / (*sty - *stp) + *dy + dp;
            double s = max3(fabs(theta), fabs(*dy), fabs(dp));
            double gamma = s * sqrt(fmax(0, (theta / s) * (theta / s) - (*dy / s) * (dp / s)));
            if (*stp > *sty)
                gamma = -gamma;
            double p = (gamma - dp) + theta, q = ((gamma - dp) + gamma) + *dy;
            stpf = *stp + p / q * (*sty - *stp);
        } else {
            stpf = *stp > *stx ? stpmax : stpmin;
        }
    }
    /* The new interval: stx keeps the lowest value found. */
    if (fp > *fx) {
        *sty = *stp;
        *fy = fp;
        *dy = dp;
    } else {
        if (sgnd < 0) {
            *sty = *stx;
            *fy = *fx;
            *dy = *dx;
        }
        *stx = *stp;
        *fx = fp;
        *dx = dp;
    }
    *stp = stpf;
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* x = xp + stp d, then f and g at x; *dg = g'd. */
static int trial(descent_minimizer *m, size_t n, const double *xp, const double *d, double stp, double *x, double *f,
                 double *g, double *dg)
{
    for (size_t i = 0; i < n; i++)
        x[i] = xp[i] + stp * d[i];
    int rc = descent_minimizer_eval(m, x, f, g);
    if (rc == 0 && dg)
        *dg = dot(g, d, n);
    return rc;
}

int descent_line_search_more_thuente(descent_minimizer *m, size_t n, const double *xp, const double *d, double *x,
                                     double *f, double *g, double dg0, double *stp,
                                     const line_search_params *p, size_t *evals, line_search_status *status)
{
    const double finit = *f, ginit = dg0, gtest = p->c1 * ginit;
    double width = p->stpmax - p->stpmin, width1 = 2 * width;
    double stx = 0, fx = finit, gx = ginit, sty = 0, fy = finit, gy = ginit;
    double stmin = 0, stmax = *stp + 4 * *stp;
    bool brackt = false;
    int stage = 1;
    double stpmax = p->stpmax; /* lowered below a step where f was not finite */
    *evals = 0;
    *status = LS_FAILED;
    *stp = fmax(p->stpmin, fmin(stpmax, *stp));
    for (;;) {
        double fv, dg = 0;
        int rc = trial(m, n, xp, d, *stp, x, &fv, g, &dg);
        ++*evals;
        if (rc == DESCENT_ERR_NONFINITE) {
            /* Too far (overflow, or outside f's domain): never go this far
             * again; halve the way back towards the best step. */
            if (*evals >= p->max_evals || *stp <= p->stpmin)
                return 0;
            stpmax = *stp;
            *stp = stx + 0.5 * (*stp - stx);
            continue;
        }
        if (rc < 0)
            return rc;
        *f = fv;
        const double ftest = finit + *stp * gtest;
        if (stage == 1 && fv <= ftest && dg >= 0)
            stage = 2;
        if (fv <= ftest && fabs(dg) <= p->c2 * -ginit) {
            *status = LS_CONVERGED;
            return 0;
        }
        bool warn = (brackt && (*stp <= stmin || *stp >= stmax)) || (brackt && stmax - stmin <= p->xtol * stmax) ||
                    (*stp == stpmax && fv <= ftest && dg <= gtest) ||
                    (*stp == p->stpmin && (fv > ftest || dg >= gtest)) || *evals >= p->max_evals;
        if (warn) {
            *status = fv <= ftest && fv < finit ? LS_ACCEPTED : LS_FAILED;
            return 0;
        }
        if (stage == 1 && fv <= fx && fv > ftest) {
            /* The paper's modified function psi(stp) = f(stp) - f(0) - c1 stp f'(0)
             * while no step has yet satisfied both conditions. */
            double fm = fv - *stp * gtest, fxm = fx - stx * gtest, fym = fy - sty * gtest;
            double gm = dg - gtest, gxm = gx - gtest, gym = gy - gtest;
            mt_step(&stx, &fxm, &gxm, &sty, &fym, &gym, stp, fm, gm, &brackt, stmin, stmax);
            fx = fxm + stx * gtest;
            fy = fym + sty * gtest;
            gx = gxm + gtest;
            gy = gym + gtest;
        } else {
            mt_step(&stx, &fx, &gx, &sty, &fy, &gy, stp, fv, dg, &brackt, stmin, stmax);
        }
        /* Force a sufficient decrease of the bracket's width (bisection). */
        if (brackt) {
            if (fabs(sty - stx) >= 0.66 * width1)
                *stp = stx + 0.5 * (sty - stx);
            width1 = width;
            width = fabs(sty - stx);
        }
        if (brackt) {
            stmin = fmin(stx, sty);
            stmax = fmax(stx, sty);
        } else {
            stmin = *stp + 1.1 * (*stp - stx);
            stmax = *stp + 4 * (*stp - stx);
        }
        *stp = fmax(p->stpmin, fmin(stpmax, *stp));
        /* If no further progress is possible, let stp be the best point. */
        if ((brackt && (*stp <= stmin || *stp >= stmax)) || (brackt && stmax - stmin <= p->xtol * stmax))
            *stp = stx;
    }
}

int descent_line_search_backtracking(descent_minimizer *m, size_t n, const double *xp, const double *d, double *x,
                                     double *f, double *g, double dg0, double *stp,
                                     const line_search_params *p, size_t *evals, line_search_status *status)
{
    const double finit = *f;
    *evals = 0;
    *status = LS_FAILED;
    for (;;) {
        double fv;
        int rc = trial(m, n, xp, d, *stp, x, &fv, g, NULL);
        ++*evals;
        if (rc < 0 && rc != DESCENT_ERR_NONFINITE)
            return rc;
        *f = fv;
        if (rc == 0 && fv <= finit + p->c1 * *stp * dg0) {
            *status = LS_CONVERGED;
            return 0;
        }
        if (*evals >= p->max_evals || *stp * 0.5 < p->stpmin)
            return 0;
        *stp *= 0.5;
    }
}
