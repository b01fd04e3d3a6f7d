/* The run's random generator: xoshiro256** seeded with splitmix64, so one
 * 64-bit seed and a stream number give independent, reproducible streams
 * (split, initialization, shuffling). Its whole state is four words, saved
 * in training checkpoints. */
#include "models.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

void descent_rng_seed(descent_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03u);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t descent_rng_next(descent_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double descent_rng_uniform(descent_rng *r) { return (double)(descent_rng_next(r) >> 11) * 0x1.0p-53; }

uint64_t descent_rng_below(descent_rng *r, uint64_t n)
{
    /* Rejection of the top partial range keeps every value equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = descent_rng_next(r);
    while (x >= limit);
    return x % n;
}

void descent_rng_shuffle(descent_rng *r, size_t *v, size_t n)
{
    /* Fisher-Yates, from the end. */
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)descent_rng_below(r, i);
        size_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}
