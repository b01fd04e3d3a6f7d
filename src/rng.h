/* The library's one random generator: xoshiro256** (Blackman & Vigna,
 * "Scrambled linear pseudorandom number generators", 2018), seeded through
 * splitmix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number
 * generators", 2014) as the authors recommend. No global state: two
 * generators seeded alike draw the same numbers on every platform. The
 * randomized minimizers (src/minimize/) and the training runs (src/models/,
 * whose checkpoints hold the four state words) own one each; the bf16
 * stochastic rounding key and the unique names of temporary files use the
 * splitmix64 finalizer alone. Not installed. */
#ifndef DESCENT_RNG_H
#define DESCENT_RNG_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct descent_rng {
    uint64_t s[4];
    bool has_spare; /* the second normal of the last polar pair */
    double spare;
} descent_rng;

/* splitmix64's output function: a bijective 64-bit mix. */
static inline uint64_t descent_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* splitmix64: advance *x by the golden gamma 0x9E3779B97F4A7C15 and mix. */
static inline uint64_t descent_splitmix64(uint64_t *x) { return descent_mix64(*x += 0x9E3779B97F4A7C15u); }

/* Seed from a 64-bit seed and a stream number (independent streams of one
 * seed: a run's split, initialization and shuffling); stream 0 is the seed
 * itself. */
static inline void descent_rng_seed(descent_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03u);
    for (int i = 0; i < 4; i++)
        r->s[i] = descent_splitmix64(&x);
    r->has_spare = false;
    r->spare = 0;
}

static inline uint64_t descent_rng_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256**: the next 64 bits. */
static inline uint64_t descent_rng_next(descent_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = descent_rng_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
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

/* Uniform integer in [0, k) (k >= 1): rejecting the top partial range keeps
 * every value equally likely. */
static inline uint64_t descent_rng_below(descent_rng *r, uint64_t k)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % k, v;
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

/* Fisher–Yates shuffle of v[0..n), from the end. */
static inline void descent_rng_shuffle(descent_rng *r, size_t *v, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)descent_rng_below(r, i), t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

#endif
