/* The problems on which BOBYQA's evaluation counts are compared with
 * NLopt's LN_BOBYQA (tools/bobyqa_nlopt_counts.c writes the reference
 * counts, tests/test_bobyqa.c checks against them). Definitions from
 * Moré, Garbow & Hillstrom, "Testing unconstrained optimization software",
 * ACM TOMS 7(1), 1981 (problem numbers in brackets), written out here. */
#ifndef DESCENT_BOBYQA_PROBLEMS_H
#define DESCENT_BOBYQA_PROBLEMS_H

#include <math.h>
#include <stddef.h>

typedef struct bq_problem {
    const char *name;
    size_t n;
    double (*f)(const double *x, size_t n);
    double x0[10];
    double f_min;           /* the known minimum (with the bounds, if any) */
    double rhobeg;
    int bounded;
    double lo[10], hi[10];
} bq_problem;

/* Extended Rosenbrock [21]: sum over pairs 100 (x_2i - x_2i-1^2)^2 + (1 - x_2i-1)^2. */
static inline double bqp_rosenbrock(const double *x, size_t n)
{
    double f = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        double a = x[i + 1] - x[i] * x[i], b = 1 - x[i];
        f += 100 * a * a + b * b;
    }
    return f;
}

static inline double bqp_sphere(const double *x, size_t n)
{
    double f = 0;
    for (size_t i = 0; i < n; i++)
        f += x[i] * x[i];
    return f;
}

/* sum (x_i - 2)^2: with x_i <= 1 the upper bounds are active at the minimum. */
static inline double bqp_shifted(const double *x, size_t n)
{
    double f = 0;
    for (size_t i = 0; i < n; i++)
        f += (x[i] - 2) * (x[i] - 2);
    return f;
}

/* Powell singular [13]. */
static inline double bqp_powell_singular(const double *x, size_t n)
{
    (void)n;
    double a = x[0] + 10 * x[1], b = sqrt(5.0) * (x[2] - x[3]), c = (x[1] - 2 * x[2]) * (x[1] - 2 * x[2]),
           d = sqrt(10.0) * (x[0] - x[3]) * (x[0] - x[3]);
    return a * a + b * b + c * c + d * d;
}

/* Beale [5]: residuals y_i - x1 (1 - x2^i), y = (1.5, 2.25, 2.625). */
static inline double bqp_beale(const double *x, size_t n)
{
    (void)n;
    const double y[3] = {1.5, 2.25, 2.625};
    double f = 0, p = 1;
    for (int i = 0; i < 3; i++) {
        p *= x[1];
        double r = y[i] - x[0] * (1 - p);
        f += r * r;
    }
    return f;
}

/* Helical valley [7]. */
static inline double bqp_helical(const double *x, size_t n)
{
    (void)n;
    const double pi = 3.14159265358979323846;
    double th = atan(x[1] / x[0]) / (2 * pi);
    if (x[0] < 0)
        th += 0.5;
    double r1 = 10 * (x[2] - 10 * th), r2 = 10 * (sqrt(x[0] * x[0] + x[1] * x[1]) - 1), r3 = x[2];
    return r1 * r1 + r2 * r2 + r3 * r3;
}

/* Wood [14]. */
static inline double bqp_wood(const double *x, size_t n)
{
    (void)n;
    double r[6] = {10 * (x[1] - x[0] * x[0]), 1 - x[0], sqrt(90.0) * (x[3] - x[2] * x[2]), 1 - x[2],
                   sqrt(10.0) * (x[1] + x[3] - 2), (x[1] - x[3]) / sqrt(10.0)};
    double f = 0;
    for (int i = 0; i < 6; i++)
        f += r[i] * r[i];
    return f;
}

/* Powell badly scaled [3]. */
static inline double bqp_powell_badly(const double *x, size_t n)
{
    (void)n;
    double a = 1e4 * x[0] * x[1] - 1, b = exp(-x[0]) + exp(-x[1]) - 1.0001;
    return a * a + b * b;
}

/* Brown badly scaled [4]. */
static inline double bqp_brown_badly(const double *x, size_t n)
{
    (void)n;
    double a = x[0] - 1e6, b = x[1] - 2e-6, c = x[0] * x[1] - 2;
    return a * a + b * b + c * c;
}

/* Box three-dimensional [12], m = 10. */
static inline double bqp_box3(const double *x, size_t n)
{
    (void)n;
    double f = 0;
    for (int i = 1; i <= 10; i++) {
        double t = 0.1 * i, r = exp(-t * x[0]) - exp(-t * x[1]) - x[2] * (exp(-t) - exp(-10 * t));
        f += r * r;
    }
    return f;
}

/* Variably dimensioned [25]. */
static inline double bqp_variably(const double *x, size_t n)
{
    double f = 0, s = 0;
    for (size_t j = 0; j < n; j++) {
        f += (x[j] - 1) * (x[j] - 1);
        s += (double)(j + 1) * (x[j] - 1);
    }
    return f + s * s + s * s * s * s;
}

/* Brown almost-linear [27]. */
static inline double bqp_brown_almost(const double *x, size_t n)
{
    double sum = 0, prod = 1, f = 0;
    for (size_t j = 0; j < n; j++) {
        sum += x[j];
        prod *= x[j];
    }
    for (size_t i = 0; i + 1 < n; i++) {
        double r = x[i] + sum - (double)(n + 1);
        f += r * r;
    }
    return f + (prod - 1) * (prod - 1);
}

/* Discrete boundary value [28]. */
static inline double bqp_boundary(const double *x, size_t n)
{
    double h = 1.0 / (double)(n + 1), f = 0;
    for (size_t i = 0; i < n; i++) {
        double t = (double)(i + 1) * h, xl = i > 0 ? x[i - 1] : 0, xr = i + 1 < n ? x[i + 1] : 0;
        double c = x[i] + t + 1, r = 2 * x[i] - xl - xr + h * h * c * c * c / 2;
        f += r * r;
    }
    return f;
}

/* Discrete integral equation [29]. */
static inline double bqp_integral(const double *x, size_t n)
{
    double h = 1.0 / (double)(n + 1), f = 0;
    for (size_t i = 0; i < n; i++) {
        double ti = (double)(i + 1) * h, a = 0, b = 0;
        for (size_t j = 0; j < n; j++) {
            double tj = (double)(j + 1) * h, c = x[j] + tj + 1;
            if (j <= i)
                a += tj * c * c * c;
            else
                b += (1 - tj) * c * c * c;
        }
        double r = x[i] + h * ((1 - ti) * a + ti * b) / 2;
        f += r * r;
    }
    return f;
}

/* Broyden tridiagonal [30]. */
static inline double bqp_broyden_tri(const double *x, size_t n)
{
    double f = 0;
    for (size_t i = 0; i < n; i++) {
        double xl = i > 0 ? x[i - 1] : 0, xr = i + 1 < n ? x[i + 1] : 0;
        double r = (3 - 2 * x[i]) * x[i] - xl - 2 * xr + 1;
        f += r * r;
    }
    return f;
}

/* Broyden banded [31], ml = 5, mu = 1. */
static inline double bqp_broyden_banded(const double *x, size_t n)
{
    double f = 0;
    for (size_t i = 0; i < n; i++) {
        double r = x[i] * (2 + 5 * x[i] * x[i]) + 1;
        size_t lo = i >= 5 ? i - 5 : 0, hi = i + 1 < n ? i + 1 : n - 1;
        for (size_t j = lo; j <= hi; j++)
            if (j != i)
                r -= x[j] * (1 + x[j]);
        f += r * r;
    }
    return f;
}

/* Linear function, full rank [32], m = 20: f* = m - n. */
static inline double bqp_linear_full(const double *x, size_t n)
{
    const size_t m = 20;
    double sum = 0, f = 0;
    for (size_t j = 0; j < n; j++)
        sum += x[j];
    for (size_t i = 0; i < m; i++) {
        double r = (i < n ? x[i] : 0) - 2 * sum / (double)m - 1;
        f += r * r;
    }
    return f;
}

/* Rosenbrock with x1 <= 0.5: the minimum is at (0.5, 0.25), f = 0.25. */
static const bq_problem bq_problems[] = {
    {"rosenbrock2", 2, bqp_rosenbrock, {-1.2, 1}, 0, 0.5, 0, {0}, {0}},
    {"rosenbrock10", 10, bqp_rosenbrock, {-1.2, 1, -1.2, 1, -1.2, 1, -1.2, 1, -1.2, 1}, 0, 0.5, 0, {0}, {0}},
    {"sphere5", 5, bqp_sphere, {1, 2, 3, 4, 5}, 0, 1, 0, {0}, {0}},
    {"rosenbrock2_bounded", 2, bqp_rosenbrock, {-1.2, 1}, 0.25, 0.5, 1, {-2, -2}, {0.5, 2}},
    {"shifted4_bounded", 4, bqp_shifted, {0, 0, 0, 0}, 4, 0.25, 1, {-1, -1, -1, -1}, {1, 1, 1, 1}},
    {"powell_singular", 4, bqp_powell_singular, {3, -1, 0, 1}, 0, 0.5, 0, {0}, {0}},
    {"beale", 2, bqp_beale, {1, 1}, 0, 0.5, 0, {0}, {0}},
    {"helical_valley", 3, bqp_helical, {-1, 0, 0}, 0, 0.5, 0, {0}, {0}},
    {"wood", 4, bqp_wood, {-3, -1, -3, -1}, 0, 0.5, 0, {0}, {0}},
    {"powell_badly_scaled", 2, bqp_powell_badly, {0, 1}, 0, 0.5, 0, {0}, {0}},
    {"box3", 3, bqp_box3, {0, 10, 20}, 0, 0.5, 0, {0}, {0}},
    {"variably_dimensioned", 10, bqp_variably, {0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0}, 0, 0.5, 0, {0}, {0}},
    {"brown_almost_linear", 10, bqp_brown_almost, {0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5}, 0, 0.5, 0, {0}, {0}},
    {"discrete_boundary", 10, bqp_boundary,
     {-10.0 / 121, -18.0 / 121, -24.0 / 121, -28.0 / 121, -30.0 / 121, -30.0 / 121, -28.0 / 121, -24.0 / 121,
      -18.0 / 121, -10.0 / 121}, 0, 0.1, 0, {0}, {0}},
    {"discrete_integral", 10, bqp_integral,
     {-10.0 / 121, -18.0 / 121, -24.0 / 121, -28.0 / 121, -30.0 / 121, -30.0 / 121, -28.0 / 121, -24.0 / 121,
      -18.0 / 121, -10.0 / 121}, 0, 0.1, 0, {0}, {0}},
    {"broyden_tridiagonal", 10, bqp_broyden_tri, {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1}, 0, 0.5, 0, {0}, {0}},
    {"broyden_banded", 10, bqp_broyden_banded, {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1}, 0, 0.5, 0, {0}, {0}},
    {"linear_full_rank", 10, bqp_linear_full, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 10, 0.5, 0, {0}, {0}},
    {"brown_badly_scaled", 2, bqp_brown_badly, {1, 1}, 0, 0.5, 0, {0}, {0}},
};
#define BQ_NPROBLEMS (sizeof bq_problems / sizeof bq_problems[0])

/* Success: f <= f* + 1e-8 max(1, |f*|), the criterion of the MGH comparison. */
static inline double bq_target(const bq_problem *p) { return p->f_min + 1e-8 * fmax(1, fabs(p->f_min)); }

#endif
