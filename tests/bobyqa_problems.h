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
};
#define BQ_NPROBLEMS (sizeof bq_problems / sizeof bq_problems[0])

/* Success: f <= f* + 1e-8 max(1, |f*|), the criterion of the MGH comparison. */
static inline double bq_target(const bq_problem *p) { return p->f_min + 1e-8 * fmax(1, fabs(p->f_min)); }

#endif
