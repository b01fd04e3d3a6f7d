/* Line searches along a descent direction d from xp, shared by LBFGS and
 * HessianFree. Each trial point x = xp + stp d is evaluated through
 * descent_minimizer_eval (f and gradient). */
#ifndef DESCENT_MINIMIZE_LINE_SEARCH_H
#define DESCENT_MINIMIZE_LINE_SEARCH_H

#include "kinds.h"

typedef struct line_search_params {
    double c1;          /* sufficient decrease (Armijo): f <= f0 + c1 stp g0'd */
    double c2;          /* curvature (strong Wolfe): |g'd| <= c2 |g0'd| */
    double xtol;        /* relative width of the bracket at which More-Thuente gives up */
    double stpmin, stpmax;
    size_t max_evals;   /* evaluations allowed in one search */
} line_search_params;

/* The outcome: the search converged, stopped at a point that still
 * decreases f enough (accepted), or found nothing better than xp. */
typedef enum line_search_status {
    LS_CONVERGED = 0,
    LS_ACCEPTED = 1,
    LS_FAILED = 2
} line_search_status;

/* Moré & Thuente (1994) strong Wolfe search. On entry x = xp, f = f(xp),
 * g = grad f(xp), dg0 = g'd < 0, *stp the first trial step. On exit x, f, g
 * hold the last trial (LS_CONVERGED / LS_ACCEPTED) and *stp its step; with
 * LS_FAILED they hold a trial that does not decrease f enough (the caller
 * restores xp). *evals counts the evaluations. A trial where f or the
 * gradient is not finite counts as too long a step: the search steps back
 * and never goes that far again. */
int descent_line_search_more_thuente(descent_minimizer *m, size_t n, const double *xp, const double *d, double *x,
                                     double *f, double *g, double dg0, double *stp,
                                     const line_search_params *p, size_t *evals, line_search_status *status);

/* Backtracking with the Armijo condition: stp, stp/2, stp/4, ... */
int descent_line_search_backtracking(descent_minimizer *m, size_t n, const double *xp, const double *d, double *x,
                                     double *f, double *g, double dg0, double *stp,
                                     const line_search_params *p, size_t *evals, line_search_status *status);

#endif
