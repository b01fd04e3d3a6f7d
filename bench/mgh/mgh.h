/* The 35 test problems of Moré, Garbow & Hillstrom, "Testing unconstrained
 * optimization software", ACM Transactions on Mathematical Software 7(1),
 * 17-41 (1981), written from the paper's definitions as sums of squares
 *     f(x) = sum_{i=1..m} r_i(x)^2,   grad f = 2 J' r,
 * with analytic Jacobians J (m x n, row-major) and the paper's standard
 * starting points. */
#ifndef DESCENT_BENCH_MGH_H
#define DESCENT_BENCH_MGH_H

#include <stddef.h>

typedef struct mgh_problem {
    int id;             /* the paper's number, 1..35 */
    const char *name;
    size_t n, m;
    /* The least value of f known (the paper's value; see mgh.c on digits). */
    double fstar;
    void (*start)(double *x, size_t n);
    /* r (m values) and, when J is not NULL, the Jacobian (m x n). */
    void (*residual)(const double *x, size_t n, size_t m, double *r, double *J);
} mgh_problem;

#define MGH_COUNT 35
extern const mgh_problem mgh_problems[MGH_COUNT];

/* f(x) and, when g is not NULL, its gradient 2 J' r; work holds m + m n
 * doubles. */
double mgh_eval(const mgh_problem *p, const double *x, double *g, double *work);

/* The success criterion of the comparison: f <= f* + 1e-8 max(1, |f*|). */
int mgh_solved(const mgh_problem *p, double f);

#endif
