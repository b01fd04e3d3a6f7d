/* The 35 problems of Moré, Garbow & Hillstrom (ACM TOMS 7(1), 1981),
 * section 3, as residuals with analytic Jacobians. The dimensions are the
 * usual ones of the paper's tables where it leaves n or m free (Gulf m = 99,
 * Box m = 10, Watson n = 9, the variable-dimension problems n = 10 with
 * m = 20 for the linear ones, Chebyquad n = 8).
 *
 * f*: the paper's minimum values (given there to six digits); where the
 * paper's value is not zero the extra digits come from converging these
 * residuals to the rounding limit with several methods (all agreeing with
 * the paper's six digits; `bench_mgh --refine` repeats it). */
#include "mgh.h"

#include <math.h>
#include <string.h>

#define PI 3.14159265358979323846

#define JSET(i, j, v)                     \
    do {                                  \
        if (J)                            \
            J[(size_t)(i) * n + (j)] = (v); \
    } while (0)

static void zero_jac(double *J, size_t n, size_t m)
{
    if (J)
        memset(J, 0, n * m * sizeof *J);
}

/* 1. Rosenbrock */
static void s_rosen(double *x, size_t n) { (void)n; x[0] = -1.2; x[1] = 1; }
static void r_rosen(const double *x, size_t n, size_t m, double *r, double *J)
{
    (void)m;
    r[0] = 10 * (x[1] - x[0] * x[0]);
    r[1] = 1 - x[0];
    JSET(0, 0, -20 * x[0]); JSET(0, 1, 10);
    JSET(1, 0, -1); JSET(1, 1, 0);
}

/* 2. Freudenstein and Roth */
static void s_froth(double *x, size_t n) { (void)n; x[0] = 0.5; x[1] = -2; }
static void r_froth(const double *x, size_t n, size_t m, double *r, double *J)
{
    (void)m;
    const double a = x[1];
    r[0] = -13 + x[0] + ((5 - a) * a - 2) * a;
    r[1] = -29 + x[0] + ((a + 1) * a - 14) * a;
    JSET(0, 0, 1); JSET(0, 1, -3 * a * a + 10 * a - 2);
    JSET(1, 0, 1); JSET(1, 1, 3 * a * a + 2 * a - 14);
}

/* 3. Powell badly scaled */
static void s_pbs(double *x, size_t n) { (void)n; x[0] = 0; x[1] = 1; }
static void r_pbs(const double *x, size_t n, size_t m, double *r, double *J)
{
    (void)m;
    r[0] = 1e4 * x[0] * x[1] - 1;
    r[1] = exp(-x[0]) + exp(-x[1]) - 1.0001;
    JSET(0, 0, 1e4 * x[1]); JSET(0, 1, 1e4 * x[0]);
    JSET(1, 0, -exp(-x[0])); JSET(1, 1, -exp(-x[1]));
}

/* 4. Brown badly scaled */
static void s_bbs(double *x, size_t n) { (void)n; x[0] = 1; x[1] = 1; }
static void r_bbs(const double *x, size_t n, size_t m, double *r, double *J)
{
    (void)m;
    r[0] = x[0] - 1e6;
    r[1] = x[1] - 2e-6;
    r[2] = x[0] * x[1] - 2;
    JSET(0, 0, 1); JSET(0, 1, 0);
    JSET(1, 0, 0); JSET(1, 1, 1);
    JSET(2, 0, x[1]); JSET(2, 1, x[0]);
}

/* 5. Beale */
static void s_beale(double *x, size_t n) { (void)n; x[0] = 1; x[1] = 1; }
static void r_beale(const double *x, size_t n, size_t m, double *r, double *J)
{
    static const double y[3] = {1.5, 2.25, 2.625};
    for (size_t i = 0; i < m; i++) {
        double k = (double)(i + 1);
        r[i] = y[i] - x[0] * (1 - pow(x[1], k));
        JSET(i, 0, -(1 - pow(x[1], k)));
        JSET(i, 1, k * x[0] * pow(x[1], k - 1));
    }
}

/* 6. Jennrich and Sampson (m = 10) */
static void s_jenn(double *x, size_t n) { (void)n; x[0] = 0.3; x[1] = 0.4; }
static void r_jenn(const double *x, size_t n, size_t m, double *r, double *J)
{
    for (size_t i = 0; i < m; i++) {
        double k = (double)(i + 1), e1 = exp(k * x[0]), e2 = exp(k * x[1]);
        r[i] = 2 + 2 * k - (e1 + e2);
        JSET(i, 0, -k * e1);
        JSET(i, 1, -k * e2);
    }
}

/* 7. Helical valley */
static void s_helix(double *x, size_t n) { (void)n; x[0] = -1; x[1] = 0; x[2] = 0; }
static void r_helix(const double *x, size_t n, size_t m, double *r, double *J)
{
    (void)m;
    double theta;
    if (x[0] > 0)
        theta = atan(x[1] / x[0]) / (2 * PI);
    else if (x[0] < 0)
        theta = atan(x[1] / x[0]) / (2 * PI) + 0.5;
    else
        theta = x[1] >= 0 ? 0.25 : -0.25;
    double q = x[0] * x[0] + x[1] * x[1], rho = sqrt(q);
    r[0] = 10 * (x[2] - 10 * theta);
    r[1] = 10 * (rho - 1);
    r[2] = x[2];
    double t1 = q > 0 ? -x[1] / (2 * PI * q) : 0, t2 = q > 0 ? x[0] / (2 * PI * q) : 0;
    JSET(0, 0, -100 * t1); JSET(0, 1, -100 * t2); JSET(0, 2, 10);
    JSET(1, 0, rho > 0 ? 10 * x[0] / rho : 0); JSET(1, 1, rho > 0 ? 10 * x[1] / rho : 0); JSET(1, 2, 0);
    JSET(2, 0, 0); JSET(2, 1, 0); JSET(2, 2, 1);
}

/* 8. Bard */
static void s_bard(double *x, size_t n) { (void)n; x[0] = x[1] = x[2] = 1; }
static void r_bard(const double *x, size_t n, size_t m, double *r, double *J)
{
    static const double y[15] = {0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39,
                                 0.37, 0.58, 0.73, 0.96, 1.34, 2.10, 4.39};
    for (size_t i = 0; i < m; i++) {
        double u = (double)(i + 1), v = 16 - u, w = u < v ? u : v, den = v * x[1] + w * x[2];
        r[i] = y[i] - (x[0] + u / den);
        JSET(i, 0, -1);
        JSET(i, 1, u * v / (den * den));
        JSET(i, 2, u * w / (den * den));
    }
}

/* 9. Gaussian */
static void s_gauss(double *x, size_t n) { (void)n; x[0] = 0.4; x[1] = 1; x[2] = 0; }
static void r_gauss(const double *x, size_t n, size_t m, double *r, double *J)
{
    static const double y[15] = {0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989,
                                 0.3521, 0.2420, 0.1295, 0.0540, 0.0175, 0.0044, 0.0009};
    for (size_t i = 0; i < m; i++) {
        double t = (8 - (double)(i + 1)) / 2, d = t - x[2], e = exp(-x[1] * d * d / 2);
        r[i] = x[0] * e - y[i];
        JSET(i, 0, e);
        JSET(i, 1, -x[0] * e * d * d / 2);
        JSET(i, 2, x[0] * e * x[1] * d);
    }
}

/* 10. Meyer */
static void s_meyer(double *x, size_t n) { (void)n; x[0] = 0.02; x[1] = 4000; x[2] = 250; }
static void r_meyer(const double *x, size_t n, size_t m, double *r, double *J)
{
    static const double y[16] = {34780, 28610, 23650, 19630, 16370, 13720, 11540, 9744,
                                 8261,  7030,  6005,  5147,  4427,  3820,  3307,  2872};
    for (size_t i = 0; i < m; i++) {
        double t = 45 + 5 * (double)(i + 1), d = t + x[2], e = exp(x[1] / d);
        r[i] = x[0] * e - y[i];
        JSET(i, 0, e);
        JSET(i, 1, x[0] * e / d);
        JSET(i, 2, -x[0] * e * x[1] / (d * d));
    }
}

/* 11. Gulf research and development (m = 99) */
static void s_gulf(double *x, size_t n) { (void)n; x[0] = 5; x[1] = 2.5; x[2] = 0.15; }
static void r_gulf(const double *x, size_t n, size_t m, double *r, double *J)
{
    for (size_t i = 0; i < m; i++) {
        double t = (double)(i + 1) / 100, y = 25 + pow(-50 * log(t), 2.0 / 3.0);
        double d = y - x[1], a = fabs(d), p = pow(a, x[2]), e = exp(-p / x[0]);
        r[i] = e - t;
        JSET(i, 0, e * p / (x[0] * x[0]));
        JSET(i, 1, a > 0 ? e * x[2] * pow(a, x[2] - 1) * (d > 0 ? 1 : -1) / x[0] : 0);
        JSET(i, 2, a > 0 ? -e * p * log(a) / x[0] : 0);
    }
}

/* 12. Box three-dimensional (m = 10) */
static void s_box(double *x, size_t n) { (void)n; x[0] = 0; x[1] = 10; x[2] = 20; }
static void r_box(const double *x, size_t n, size_t m, double *r, double *J)
{
    for (size_t i = 0; i < m; i++) {
        double t = 0.1 * (double)(i + 1), e1 = exp(-t * x[0]), e2 = exp(-t * x[1]), c = exp(-t) - exp(-10 * t);
        r[i] = e1 - e2 - x[2] * c;
        JSET(i, 0, -t * e1);
        JSET(i, 1, t * e2);
        JSET(i, 2, -c);
    }
}

/* 13. Powell singular; 22. its extension (blocks of four) */
static void s_psing(double *x, size_t n)
{
    for (size_t k = 0; k + 3 < n; k += 4) {
        x[k] = 3;
        x[k + 1] = -1;
        x[k + 2] = 0;
        x[k + 3] = 1;
    }
}
static void r_psing(const double *x, size_t n, size_t m, double *r, double *J)
{
    zero_jac(J, n, m);
    const double s5 = sqrt(5.0), s10 = sqrt(10.0);
    for (size_t k = 0; k + 3 < n; k += 4) {
        const double *b = x + k;
        r[k] = b[0] + 10 * b[1];
        r[k + 1] = s5 * (b[2] - b[3]);
        r[k + 2] = (b[1] - 2 * b[2]) * (b[1] - 2 * b[2]);
        r[k + 3] = s10 * (b[0] - b[3]) * (b[0] - b[3]);
        JSET(k, k, 1); JSET(k, k + 1, 10);
        JSET(k + 1, k + 2, s5); JSET(k + 1, k + 3, -s5);
        JSET(k + 2, k + 1, 2 * (b[1] - 2 * b[2])); JSET(k + 2, k + 2, -4 * (b[1] - 2 * b[2]));
        JSET(k + 3, k, 2 * s10 * (b[0] - b[3])); JSET(k + 3, k + 3, -2 * s10 * (b[0] - b[3]));
    }
}

/* 14. Wood */
static void s_wood(double *x, size_t n) { (void)n; x[0] = -3; x[1] = -1; x[2] = -3; x[3] = -1; }
static void r_wood(const double *x, size_t n, size_t m, double *r, double *J)
{
    zero_jac(J, n, m);
    const double s90 = sqrt(90.0), s10 = sqrt(10.0);
    r[0] = 10 * (x[1] - x[0] * x[0]);
    r[1] = 1 - x[0];
    r[2] = s90 * (x[3] - x[2] * x[2]);
    r[3] = 1 - x[2];
    r[4] = s10 * (x[1] + x[3] - 2);
    r[5] = (x[1] - x[3]) / s10;
    JSET(0, 0, -20 * x[0]); JSET(0, 1, 10);
    JSET(1, 0, -1);
    JSET(2, 2, -2 * s90 * x[2]); JSET(2, 3, s90);
    JSET(3, 2, -1);
    JSET(4, 1, s10); JSET(4, 3, s10);
    JSET(5, 1, 1 / s10); JSET(5, 3, -1 / s10);
}

/* 15. Kowalik and Osborne */
static void s_kowo(double *x, size_t n) { (void)n; x[0] = 0.25; x[1] = 0.39; x[2] = 0.415; x[3] = 0.39; }
static void r_kowo(const double *x, size_t n, size_t m, double *r, double *J)
{
    static const double y[11] = {0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627,
                                 0.0456, 0.0342, 0.0323, 0.0235, 0.0246};
    static const double u[11] = {4, 2, 1, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625};
    for (size_t i = 0; i < m; i++) {
        double num = u[i] * u[i] + u[i] * x[1], den = u[i] * u[i] + u[i] * x[2] + x[3];
        r[i] = y[i] - x[0] * num / den;
        JSET(i, 0, -num / den);
        JSET(i, 1, -x[0] * u[i] / den);
        JSET(i, 2, x[0] * num * u[i] / (den * den));
        JSET(i, 3, x[0] * num / (den * den));
    }
}

/* 16. Brown and Dennis (m = 20) */
static void s_bd(double *x, size_t n) { (void)n; x[0] = 25; x[1] = 5; x[2] = -5; x[3] = -1; }
static void r_bd(const double *x, size_t n, size_t m, double *r, double *J)
{
    for (size_t i = 0; i < m; i++) {
        double t = (double)(i + 1) / 5, a = x[0] + t * x[1] - exp(t), b = x[2] + x[3] * sin(t) - cos(t);
        r[i] = a * a + b * b;
        JSET(i, 0, 2 * a);
        JSET(i, 1, 2 * a * t);
        JSET(i, 2, 2 * b);
        JSET(i, 3, 2 * b * sin(t));
    }
}

/* 17. Osborne 1 */
static void s_os1(double *x, size_t n) { (void)n; x[0] = 0.5; x[1] = 1.5; x[2] = -1; x[3] = 0.01; x[4] = 0.02; }
static void r_os1(const double *x, size_t n, size_t m, double *r, double *J)
{
    static const double y[33] = {0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784, 0.751,
                                 0.718, 0.685, 0.658, 0.628, 0.603, 0.580, 0.558, 0.538, 0.522, 0.506, 0.490,
                                 0.478, 0.467, 0.457, 0.448, 0.438, 0.431, 0.424, 0.420, 0.414, 0.411, 0.406};
    for (size_t i = 0; i < m; i++) {
        double t = 10 * (double)i, e4 = exp(-t * x[3]), e5 = exp(-t * x[4]);
        r[i] = y[i] - (x[0] + x[1] * e4 + x[2] * e5);
        JSET(i, 0, -1);
        JSET(i, 1, -e4);
        JSET(i, 2, -e5);
        JSET(i, 3, x[1] * t * e4);
        JSET(i, 4, x[2] * t * e5);
    }
}

/* 18. Biggs EXP6 (m = 13) */
static void s_biggs(double *x, size_t n)
{
    (void)n;
    x[0] = 1; x[1] = 2; x[2] = 1; x[3] = 1; x[4] = 1; x[5] = 1;
}
static void r_biggs(const double *x, size_t n, size_t m, double *r, double *J)
{
    for (size_t i = 0; i < m; i++) {
        double t = 0.1 * (double)(i + 1), y = exp(-t) - 5 * exp(-10 * t) + 3 * exp(-4 * t);
        double e1 = exp(-t * x[0]), e2 = exp(-t * x[1]), e5 = exp(-t * x[4]);
        r[i] = x[2] * e1 - x[3] * e2 + x[5] * e5 - y;
        JSET(i, 0, -t * x[2] * e1);
        JSET(i, 1, t * x[3] * e2);
        JSET(i, 2, e1);
        JSET(i, 3, -e2);
        JSET(i, 4, -t * x[5] * e5);
        JSET(i, 5, e5);
    }
}

/* 19. Osborne 2 */
static void s_os2(double *x, size_t n)
{
    static const double x0[11] = {1.3, 0.65, 0.65, 0.7, 0.6, 3, 5, 7, 2, 4.5, 5.5};
    memcpy(x, x0, n * sizeof *x);
}
static void r_os2(const double *x, size_t n, size_t m, double *r, double *J)
{
    static const double y[65] = {
        1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847, 0.786, 0.725, 0.746, 0.679, 0.608,
        0.655, 0.616, 0.606, 0.602, 0.626, 0.651, 0.724, 0.649, 0.649, 0.694, 0.644, 0.624, 0.661,
        0.612, 0.558, 0.533, 0.495, 0.500, 0.423, 0.395, 0.375, 0.372, 0.391, 0.396, 0.405, 0.428,
        0.429, 0.523, 0.562, 0.607, 0.653, 0.672, 0.708, 0.633, 0.668, 0.645, 0.632, 0.591, 0.559,
        0.597, 0.625, 0.739, 0.710, 0.729, 0.720, 0.636, 0.581, 0.428, 0.292, 0.162, 0.098, 0.054};
    zero_jac(J, n, m);
    for (size_t i = 0; i < m; i++) {
        double t = (double)i / 10, e1 = exp(-t * x[4]);
        double model = x[0] * e1;
        JSET(i, 0, -e1);
        JSET(i, 4, x[0] * t * e1);
        for (int k = 1; k <= 3; k++) {
            double amp = x[k], w = x[k + 4], c = x[k + 7], d = t - c, e = exp(-d * d * w);
            model += amp * e;
            JSET(i, k, -e);
            JSET(i, k + 4, amp * d * d * e);
            JSET(i, k + 7, -amp * e * 2 * w * d);
        }
        r[i] = y[i] - model;
    }
}

/* 20. Watson (n = 9, m = 31) */
static void s_zero(double *x, size_t n) { memset(x, 0, n * sizeof *x); }
static void r_watson(const double *x, size_t n, size_t m, double *r, double *J)
{
    zero_jac(J, n, m);
    for (size_t i = 0; i < 29; i++) {
        double t = (double)(i + 1) / 29, s1 = 0, s2 = 0, tp = 1;
        for (size_t j = 1; j < n; j++) {
            s1 += (double)j * x[j] * tp;
            tp *= t;
        }
        tp = 1;
        for (size_t j = 0; j < n; j++) {
            s2 += x[j] * tp;
            tp *= t;
        }
        r[i] = s1 - s2 * s2 - 1;
        double tj1 = 1, tj2 = 0; /* t^(j-1) and (j-1) t^(j-2), 0-based j */
        for (size_t j = 0; j < n; j++) {
            JSET(i, j, tj2 - 2 * s2 * tj1);
            tj2 = (double)(j + 1) * tj1;
            tj1 *= t;
        }
    }
    r[29] = x[0];
    r[30] = x[1] - x[0] * x[0] - 1;
    JSET(29, 0, 1);
    JSET(30, 0, -2 * x[0]);
    JSET(30, 1, 1);
}

/* 21. Extended Rosenbrock (n = 10) */
static void s_xrosen(double *x, size_t n)
{
    for (size_t k = 0; k + 1 < n; k += 2) {
        x[k] = -1.2;
        x[k + 1] = 1;
    }
}
static void r_xrosen(const double *x, size_t n, size_t m, double *r, double *J)
{
    zero_jac(J, n, m);
    for (size_t k = 0; k + 1 < n; k += 2) {
        r[k] = 10 * (x[k + 1] - x[k] * x[k]);
        r[k + 1] = 1 - x[k];
        JSET(k, k, -20 * x[k]);
        JSET(k, k + 1, 10);
        JSET(k + 1, k, -1);
    }
}

/* 23. Penalty I (n = 10, m = n + 1) */
static void s_index(double *x, size_t n)
{
    for (size_t j = 0; j < n; j++)
        x[j] = (double)(j + 1);
}
static void r_pen1(const double *x, size_t n, size_t m, double *r, double *J)
{
    zero_jac(J, n, m);
    const double sa = sqrt(1e-5);
    double s = 0;
    for (size_t j = 0; j < n; j++) {
        r[j] = sa * (x[j] - 1);
        JSET(j, j, sa);
        s += x[j] * x[j];
        JSET(n, j, 2 * x[j]);
    }
    r[n] = s - 0.25;
}

/* 24. Penalty II (n = 10, m = 2n) */
static void s_half(double *x, size_t n)
{
    for (size_t j = 0; j < n; j++)
        x[j] = 0.5;
}
static void r_pen2(const double *x, size_t n, size_t m, double *r, double *J)
{
    zero_jac(J, n, m);
    const double sa = sqrt(1e-5), em = exp(-0.1);
    r[0] = x[0] - 0.2;
    JSET(0, 0, 1);
    for (size_t i = 1; i < n; i++) {
        double y = exp((double)(i + 1) / 10) + exp((double)i / 10);
        double a = exp(x[i] / 10), b = exp(x[i - 1] / 10);
        r[i] = sa * (a + b - y);
        JSET(i, i, sa * a / 10);
        JSET(i, i - 1, sa * b / 10);
    }
    for (size_t i = n; i < 2 * n - 1; i++) {
        size_t j = i - n + 1;
        double a = exp(x[j] / 10);
        r[i] = sa * (a - em);
        JSET(i, j, sa * a / 10);
    }
    double s = 0;
    for (size_t j = 0; j < n; j++) {
        double c = (double)(n - j);
        s += c * x[j] * x[j];
        JSET(2 * n - 1, j, 2 * c * x[j]);
    }
    r[2 * n - 1] = s - 1;
}

/* 25. Variably dimensioned (n = 10, m = n + 2) */
static void s_vardim(double *x, size_t n)
{
    for (size_t j = 0; j < n; j++)
        x[j] = 1 - (double)(j + 1) / (double)n;
}
static void r_vardim(const double *x, size_t n, size_t m, double *r, double *J)
{
    zero_jac(J, n, m);
    double s = 0;
    for (size_t j = 0; j < n; j++) {
        r[j] = x[j] - 1;
        JSET(j, j, 1);
        s += (double)(j + 1) * (x[j] - 1);
    }
    r[n] = s;
    r[n + 1] = s * s;
    for (size_t j = 0; j < n; j++) {
        JSET(n, j, (double)(j + 1));
        JSET(n + 1, j, 2 * s * (double)(j + 1));
    }
}

/* 26. Trigonometric (n = m = 10) */
static void s_invn(double *x, size_t n)
{
    for (size_t j = 0; j < n; j++)
        x[j] = 1 / (double)n;
}
static void r_trig(const double *x, size_t n, size_t m, double *r, double *J)
{
    (void)m;
    double sc = 0;
    for (size_t j = 0; j < n; j++)
        sc += cos(x[j]);
    for (size_t i = 0; i < n; i++) {
        double k = (double)(i + 1);
        r[i] = (double)n - sc + k * (1 - cos(x[i])) - sin(x[i]);
        for (size_t j = 0; j < n; j++)
            JSET(i, j, sin(x[j]) + (i == j ? k * sin(x[i]) - cos(x[i]) : 0));
    }
}

/* 27. Brown almost-linear (n = m = 10) */
static void r_bal(const double *x, size_t n, size_t m, double *r, double *J)
{
    (void)m;
    double s = 0, prod = 1;
    for (size_t j = 0; j < n; j++) {
        s += x[j];
        prod *= x[j];
    }
    for (size_t i = 0; i + 1 < n; i++) {
        r[i] = x[i] + s - (double)(n + 1);
        for (size_t j = 0; j < n; j++)
            JSET(i, j, i == j ? 2 : 1);
    }
    r[n - 1] = prod - 1;
    for (size_t j = 0; j < n; j++) {
        double p = 1;
        for (size_t k = 0; k < n; k++)
            if (k != j)
                p *= x[k];
        JSET(n - 1, j, p);
    }
}

/* 28, 29: t_j = j h, h = 1/(n+1), x0_j = t_j (t_j - 1). */
static void s_bv(double *x, size_t n)
{
    double h = 1 / (double)(n + 1);
    for (size_t j = 0; j < n; j++) {
        double t = (double)(j + 1) * h;
        x[j] = t * (t - 1);
    }
}

/* 28. Discrete boundary value (n = m = 10) */
static void r_dbv(const double *x, size_t n, size_t m, double *r, double *J)
{
    zero_jac(J, n, m);
    const double h = 1 / (double)(n + 1);
    for (size_t i = 0; i < n; i++) {
        double t = (double)(i + 1) * h, u = x[i] + t + 1;
        double left = i > 0 ? x[i - 1] : 0, right = i + 1 < n ? x[i + 1] : 0;
        r[i] = 2 * x[i] - left - right + h * h * u * u * u / 2;
        JSET(i, i, 2 + 1.5 * h * h * u * u);
        if (i > 0)
            JSET(i, i - 1, -1);
        if (i + 1 < n)
            JSET(i, i + 1, -1);
    }
}

/* 29. Discrete integral equation (n = m = 10) */
static void r_die(const double *x, size_t n, size_t m, double *r, double *J)
{
    (void)m;
    const double h = 1 / (double)(n + 1);
    for (size_t i = 0; i < n; i++) {
        double ti = (double)(i + 1) * h, s1 = 0, s2 = 0;
        for (size_t j = 0; j < n; j++) {
            double tj = (double)(j + 1) * h, u = x[j] + tj + 1, c = u * u * u, dc = 3 * u * u;
            double w = j <= i ? (1 - ti) * tj : ti * (1 - tj);
            if (j <= i)
                s1 += tj * c;
            else
                s2 += (1 - tj) * c;
            JSET(i, j, (i == j ? 1 : 0) + h / 2 * w * dc);
        }
        r[i] = x[i] + h * ((1 - ti) * s1 + ti * s2) / 2;
    }
}

/* 30. Broyden tridiagonal (n = m = 10); 31 starts there too */
static void s_minus1(double *x, size_t n)
{
    for (size_t j = 0; j < n; j++)
        x[j] = -1;
}
static void r_btri(const double *x, size_t n, size_t m, double *r, double *J)
{
    zero_jac(J, n, m);
    for (size_t i = 0; i < n; i++) {
        double left = i > 0 ? x[i - 1] : 0, right = i + 1 < n ? x[i + 1] : 0;
        r[i] = (3 - 2 * x[i]) * x[i] - left - 2 * right + 1;
        JSET(i, i, 3 - 4 * x[i]);
        if (i > 0)
            JSET(i, i - 1, -1);
        if (i + 1 < n)
            JSET(i, i + 1, -2);
    }
}

/* 31. Broyden banded (n = m = 10, ml = 5, mu = 1) */
static void r_bband(const double *x, size_t n, size_t m, double *r, double *J)
{
    zero_jac(J, n, m);
    for (size_t i = 0; i < n; i++) {
        size_t lo = i >= 5 ? i - 5 : 0, hi = i + 1 < n ? i + 1 : n - 1;
        double s = 0;
        for (size_t j = lo; j <= hi; j++)
            if (j != i) {
                s += x[j] * (1 + x[j]);
                JSET(i, j, -(1 + 2 * x[j]));
            }
        r[i] = x[i] * (2 + 5 * x[i] * x[i]) + 1 - s;
        JSET(i, i, 2 + 15 * x[i] * x[i]);
    }
}

/* 32. Linear function - full rank (n = 10, m = 20) */
static void s_one(double *x, size_t n)
{
    for (size_t j = 0; j < n; j++)
        x[j] = 1;
}
static void r_linfull(const double *x, size_t n, size_t m, double *r, double *J)
{
    double s = 0;
    for (size_t j = 0; j < n; j++)
        s += x[j];
    const double c = 2 / (double)m;
    for (size_t i = 0; i < m; i++) {
        r[i] = (i < n ? x[i] : 0) - c * s - 1;
        for (size_t j = 0; j < n; j++)
            JSET(i, j, (i == j ? 1 : 0) - c);
    }
}

/* 33. Linear function - rank 1 (n = 10, m = 20) */
static void r_linr1(const double *x, size_t n, size_t m, double *r, double *J)
{
    double s = 0;
    for (size_t j = 0; j < n; j++)
        s += (double)(j + 1) * x[j];
    for (size_t i = 0; i < m; i++) {
        double k = (double)(i + 1);
        r[i] = k * s - 1;
        for (size_t j = 0; j < n; j++)
            JSET(i, j, k * (double)(j + 1));
    }
}

/* 34. Linear function - rank 1 with zero columns and rows (n = 10, m = 20) */
static void r_linr1z(const double *x, size_t n, size_t m, double *r, double *J)
{
    zero_jac(J, n, m);
    double s = 0;
    for (size_t j = 1; j + 1 < n; j++)
        s += (double)(j + 1) * x[j];
    for (size_t i = 0; i < m; i++) {
        if (i == 0 || i + 1 == m) {
            r[i] = -1;
            continue;
        }
        r[i] = (double)i * s - 1;
        for (size_t j = 1; j + 1 < n; j++)
            JSET(i, j, (double)i * (double)(j + 1));
    }
}

/* 35. Chebyquad (n = m = 8): shifted Chebyshev polynomials on [0, 1]. */
static void s_cheb(double *x, size_t n)
{
    for (size_t j = 0; j < n; j++)
        x[j] = (double)(j + 1) / (double)(n + 1);
}
static void r_cheb(const double *x, size_t n, size_t m, double *r, double *J)
{
    for (size_t i = 0; i < m; i++) {
        double k = (double)(i + 1);
        r[i] = (i + 1) % 2 == 0 ? 1 / (k * k - 1) : 0; /* minus the integral of T_k over [0, 1] */
    }
    for (size_t j = 0; j < n; j++) {
        double y = 2 * x[j] - 1, t0 = 1, t1 = y, d0 = 0, d1 = 2;
        for (size_t i = 0; i < m; i++) {
            r[i] += t1 / (double)n;
            JSET(i, j, d1 / (double)n);
            double t2 = 2 * y * t1 - t0, d2 = 4 * t1 + 2 * y * d1 - d0;
            t0 = t1;
            t1 = t2;
            d0 = d1;
            d1 = d2;
        }
    }
}

const mgh_problem mgh_problems[MGH_COUNT] = {
    {1, "Rosenbrock", 2, 2, 0, s_rosen, r_rosen},
    {2, "Freudenstein and Roth", 2, 2, 0, s_froth, r_froth},
    {3, "Powell badly scaled", 2, 2, 0, s_pbs, r_pbs},
    {4, "Brown badly scaled", 2, 3, 0, s_bbs, r_bbs},
    {5, "Beale", 2, 3, 0, s_beale, r_beale},
    {6, "Jennrich and Sampson", 2, 10, 124.36218235561481, s_jenn, r_jenn},
    {7, "Helical valley", 3, 3, 0, s_helix, r_helix},
    {8, "Bard", 3, 15, 8.2148773065789e-3, s_bard, r_bard},
    {9, "Gaussian", 3, 15, 1.1279327696189e-8, s_gauss, r_gauss},
    {10, "Meyer", 3, 16, 87.945855170489, s_meyer, r_meyer},
    {11, "Gulf research and development", 3, 99, 0, s_gulf, r_gulf},
    {12, "Box three-dimensional", 3, 10, 0, s_box, r_box},
    {13, "Powell singular", 4, 4, 0, s_psing, r_psing},
    {14, "Wood", 4, 6, 0, s_wood, r_wood},
    {15, "Kowalik and Osborne", 4, 11, 3.0750560385e-4, s_kowo, r_kowo},
    {16, "Brown and Dennis", 4, 20, 85822.201626356, s_bd, r_bd},
    {17, "Osborne 1", 5, 33, 5.4648946975e-5, s_os1, r_os1},
    {18, "Biggs EXP6", 6, 13, 0, s_biggs, r_biggs},
    {19, "Osborne 2", 11, 65, 4.0137736293548e-2, s_os2, r_os2},
    {20, "Watson", 9, 31, 1.3997601380e-6, s_zero, r_watson},
    {21, "Extended Rosenbrock", 10, 10, 0, s_xrosen, r_xrosen},
    {22, "Extended Powell singular", 12, 12, 0, s_psing, r_psing},
    {23, "Penalty I", 10, 11, 7.0876514670904e-5, s_index, r_pen1},
    {24, "Penalty II", 10, 20, 2.9366053745675e-4, s_half, r_pen2},
    {25, "Variably dimensioned", 10, 12, 0, s_vardim, r_vardim},
    {26, "Trigonometric", 10, 10, 0, s_invn, r_trig},
    {27, "Brown almost-linear", 10, 10, 0, s_half, r_bal},
    {28, "Discrete boundary value", 10, 10, 0, s_bv, r_dbv},
    {29, "Discrete integral equation", 10, 10, 0, s_bv, r_die},
    {30, "Broyden tridiagonal", 10, 10, 0, s_minus1, r_btri},
    {31, "Broyden banded", 10, 10, 0, s_minus1, r_bband},
    {32, "Linear function - full rank", 10, 20, 10, s_one, r_linfull},
    {33, "Linear function - rank 1", 10, 20, 4.6341463414634146, s_one, r_linr1},
    {34, "Linear function - rank 1 with zero columns and rows", 10, 20, 6.1351351351351351, s_one, r_linr1z},
    {35, "Chebyquad", 8, 8, 3.5168737245e-3, s_cheb, r_cheb},
};

double mgh_eval(const mgh_problem *p, const double *x, double *g, double *work)
{
    const size_t n = p->n, m = p->m;
    double *r = work, *J = g ? work + m : NULL;
    p->residual(x, n, m, r, J);
    double f = 0;
    for (size_t i = 0; i < m; i++)
        f += r[i] * r[i];
    if (g)
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t i = 0; i < m; i++)
                s += J[i * n + j] * r[i];
            g[j] = 2 * s;
        }
    return f;
}

int mgh_solved(const mgh_problem *p, double f)
{
    return f <= p->fstar + 1e-8 * fmax(1, fabs(p->fstar));
}
