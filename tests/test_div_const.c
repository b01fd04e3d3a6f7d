/* descent_div_const (src/internal.h): the multiply-and-two-FMA quotient the
 * Adam kernels use for sqrt(v) / sqrt(1 - beta2^t) gives the bits of the
 * IEEE division for every dividend they can pass it.
 *
 * Markstein's theorem says so for any a whose residual a - q0 c does not
 * underflow; this test does not take that on trust. For binary32 it checks
 * every dividend of the binade [1, 2) (2^23 values; the quotient's rounding
 * depends on the significands alone while nothing underflows) against
 * divisors that occur (sqrt(1 - beta2^t) for common beta2 and t) and random
 * ones, then random significands at every exponent from 2^-100 up (the
 * kernels pass sqrt(v) >= 2^-75 or 0), the special values, and the same for
 * binary64 on samples. It also finds where the shortcut does fail (tiny
 * dividends whose residual underflows), so the documented bound is a
 * measured one. The FMA form is compiled for AVX2+FMA as the kernels are
 * and runs when the CPU has FMA; elsewhere the kernels divide and so does
 * the test's reference, and the test says it skipped. */
#include "internal.h"
#include "testutil.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Where the compiler has fast FMA everywhere (aarch64, s390x: FP_FAST_FMA),
 * the kernels take the FMA form without dispatch, and the test runs too. */
#if DESCENT_HAVE_DISPATCH || (defined(FP_FAST_FMAF) && defined(FP_FAST_FMA))
#if !DESCENT_HAVE_DISPATCH
#define DESCENT_TARGET_AVX2
#endif

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static float f32_of(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static double f64_of(uint64_t u)
{
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* Mismatches over dividends with bit patterns [lo, hi) step `step`, for
 * divisor c; the largest failing |a| into *worst. */
DESCENT_TARGET_AVX2 static long scan_f32(float c, uint32_t lo, uint32_t hi, uint32_t step, float *worst)
{
    float rc = 1.0f / c;
    long bad = 0;
    for (uint64_t u = lo; u < hi; u += step) {
        float a = f32_of((uint32_t)u);
        float q = descent_div_const_f32(a, c, rc, 1), want = a / c;
        if (memcmp(&q, &want, sizeof q) != 0) {
            bad++;
            if (fabsf(a) > *worst)
                *worst = fabsf(a);
        }
    }
    return bad;
}

DESCENT_TARGET_AVX2 static int same_f32(float a, float c)
{
    float q = descent_div_const_f32(a, c, 1.0f / c, 1), want = a / c;
    return memcmp(&q, &want, sizeof q) == 0 || (isnan(q) && isnan(want));
}

DESCENT_TARGET_AVX2 static int same_f64(double a, double c)
{
    double q = descent_div_const_f64(a, c, 1.0 / c, 1), want = a / c;
    return memcmp(&q, &want, sizeof q) == 0 || (isnan(q) && isnan(want));
}

/* The divisors: sqrt(1 - beta2^t) as the kernels form them, and random ones
 * in (1e-8, 1]. */
static double divisor(int k)
{
    static const double beta2[] = {0.999, 0.99, 0.95, 0.9, 0.98, 0.9999, 0.5, 0.0};
    if (k < 64)
        return sqrt(1.0 - pow(beta2[k % 8], (double)(1 + k / 8 * 37)));
    return 1e-8 + (1.0 - 1e-8) * (double)(next() >> 11) / 9007199254740992.0;
}

static void binade_f32(void)
{
    long bad = 0;
    float worst = 0;
    int divisors = t_valgrind() ? 2 : 24;
    for (int k = 0; k < divisors; k++) {
        float c = (float)divisor(k < divisors / 2 ? k * 5 : 64 + k);
        bad += scan_f32(c, 0x3F800000u, 0x40000000u, t_valgrind() ? 4099 : 1, &worst);
    }
    CHECK(bad == 0, "%ld dividends in [1, 2) differ from a / c (largest %a)", bad, (double)worst);
}

/* Random significands at every binary32 exponent from 2^-100 to 2^127, and
 * below it the dividends where the shortcut fails, for the record. */
static void exponents_f32(void)
{
    long bad = 0, tiny_bad = 0;
    float worst = 0, tiny_worst = 0;
    int per = t_valgrind() ? 16 : 4096;
    for (int k = 0; k < 40; k++) {
        float c = (float)divisor(k < 20 ? k * 3 : 64 + k);
        for (uint32_t e = 1; e < 255; e++)
            for (int s = 0; s < per; s++) {
                uint32_t u = e << 23 | (uint32_t)(next() & 0x7FFFFF);
                if (e >= 127 - 100)
                    bad += scan_f32(c, u, u + 1, 1, &worst);
                else
                    tiny_bad += scan_f32(c, u, u + 1, 1, &tiny_worst);
            }
    }
    CHECK(bad == 0, "%ld dividends >= 2^-100 differ from a / c (largest %a)", bad, (double)worst);
    printf("dividends below 2^-100 where the FMA quotient differs: %ld, the largest %a "
           "(the kernels never pass one: sqrt(v) >= 2^-75)\n",
           tiny_bad, (double)tiny_worst);
    CHECK(tiny_worst < 0x1p-100f, "a failure at %a, above the documented bound 2^-100", (double)tiny_worst);
}

static void specials(void)
{
    /* zeros, infinities, NaN, the largest values (a / c overflows), the
     * smallest sqrt(v) of a positive v, and ordinary values */
    const float a32[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, FLT_MAX, 0x1.fffffep-75f, 0x1p-75f, 1.0f, 3.0f};
    const double a64[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, DBL_MAX, 0x1p-537, 0x1p-538, 1.0, 3.0};
    const double cs[] = {1.0, 0.5, 0.1, 0.0316227766, 1e-4, 1e-8, 0.99999};
    int ok = 1;
    for (size_t i = 0; i < sizeof a32 / sizeof a32[0]; i++)
        for (size_t j = 0; j < sizeof cs / sizeof cs[0]; j++) {
            if (!same_f32(a32[i], (float)cs[j]) || !same_f64(a64[i], cs[j])) {
                fprintf(stderr, "differs: %a / %a\n", (double)a32[i], cs[j]);
                ok = 0;
            }
        }
    CHECK(ok, "a special dividend (zero, infinity, NaN, extremes) differs from a / c");
}

static void sampled_f64(void)
{
    long bad = 0;
    int per = t_valgrind() ? 1000 : 400000;
    for (int k = 0; k < 40; k++) {
        double c = divisor(k < 20 ? k * 3 : 64 + k);
        for (int s = 0; s < per; s++) {
            /* exponents from 2^-960 up to 2^1023, any significand */
            uint64_t e = 63 + next() % (2047 - 63);
            uint64_t u = e << 52 | (next() & 0xFFFFFFFFFFFFFu);
            bad += !same_f64(f64_of(u), c);
        }
    }
    CHECK(bad == 0, "%ld binary64 dividends differ from a / c", bad);
}

int main(void)
{
#if DESCENT_HAVE_DISPATCH
    if (!__builtin_cpu_supports("fma")) {
        return t_skip("this CPU has no FMA: the kernels divide, nothing to compare");
    }
#endif
    binade_f32();
    exponents_f32();
    specials();
    sampled_f64();
    return t_done();
}

#else

int main(void)
{
    return t_skip("no FMA form in this build: the kernels divide, nothing to compare");
}

#endif
