/* The random generator each randomized minimizer owns: xoshiro256**
 * (Blackman & Vigna, 2018) seeded through splitmix64, as the authors
 * recommend. No global state: two instances with the same seed draw the
 * same numbers on any platform. */
#ifndef DESCENT_MINIMIZE_RNG_H
#define DESCENT_MINIMIZE_RNG_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct descent_rng {
    uint64_t s[4];
    bool has_spare;     /* the second normal of the last polar pair */
    double spare;
} descent_rng;

static inline uint64_t descent_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline void descent_rng_seed(descent_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = descent_splitmix64(&x);
    r->has_spare = false;
    r->spare = 0;
}

static inline uint64_t descent_rng_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t descent_rng_next(descent_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = descent_rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = descent_rng_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double descent_rng_uniform(descent_rng *r) { return (double)(descent_rng_next(r) >> 11) * 0x1.0p-53; }

/* Uniform integer in [0, k) (k >= 1), by rejection so it has no bias. */
static inline uint64_t descent_rng_below(descent_rng *r, uint64_t k)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % k;
    uint64_t v;
    do
        v = descent_rng_next(r);
    while (v >= limit);
    return v % k;
}

/* Standard normal by Marsaglia's polar method (pairs; the spare is kept). */
static inline double descent_rng_normal(descent_rng *r)
{
    if (r->has_spare) {
        r->has_spare = false;
        return r->spare;
    }
    double u, v, s;
    do {
        u = 2 * descent_rng_uniform(r) - 1;
        v = 2 * descent_rng_uniform(r) - 1;
        s = u * u + v * v;
    } while (s >= 1 || s == 0);
    double k = sqrt(-2 * log(s) / s);
    r->spare = v * k;
    r->has_spare = true;
    return u * k;
}

#endif
