/* bf16 storage: parameters and gradients in bfloat16, optimizer state and
 * arithmetic in f32.
 *
 * A bf16 value is the upper half of an IEEE binary32, so widening is a
 * shift and the f32 kernels run unchanged: each chunk is processed in
 * blocks small enough for L1 — widen p and g into f32 scratch, run the
 * algorithm's f32 kernel against the f32 state, narrow p back. With a
 * master copy the kernel updates the f32 master in place and p receives
 * its rounding.
 *
 * Rounding to nearest even: add 0x7FFF plus the lowest kept bit, truncate.
 * Stochastic rounding (Gupta et al. 2015): add 16 uniform random bits,
 * truncate — rounds up with probability equal to the discarded fraction.
 * The bits come from a hash of (seed, tensor, step) and the element index,
 * so they do not depend on how elements are split among threads. */
#include "internal.h"
#include "rng.h"

#include <string.h>

/* Elements per block: p, g and the f32 scratch stay in L1. */
#define BF16_BLOCK 1024

DESCENT_INLINE uint32_t f32_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

DESCENT_INLINE float bits_f32(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

DESCENT_INLINE int is_nan_bits(uint32_t u) { return (u & 0x7FFFFFFFu) > 0x7F800000u; }

DESCENT_INLINE void widen(float *dst, const uint16_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = bits_f32((uint32_t)src[i] << 16);
}

DESCENT_INLINE void narrow(uint16_t *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u = f32_bits(src[i]);
        uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
        /* NaN: keep the sign and the top payload bits, force it quiet. */
        dst[i] = (uint16_t)(is_nan_bits(u) ? (u >> 16) | 0x0040u : rounded);
    }
}

/* A 32-bit integer hash with good avalanche (Wellons' lowbias32). */
DESCENT_INLINE uint32_t hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    return x;
}

DESCENT_INLINE void narrow_stochastic(uint16_t *dst, const float *src, size_t n, uint64_t key, uint64_t first)
{
    uint32_t k = (uint32_t)(key ^ (key >> 32));
    uint32_t base = (uint32_t)first * 0x9E3779B9u;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = f32_bits(src[i]);
        uint32_t r = hash32(k ^ (base + (uint32_t)i * 0x9E3779B9u)) & 0xFFFFu;
        uint32_t rounded = (u + r) >> 16;
        /* Infinity has a zero fraction: it stays infinity. NaN stays NaN. */
        dst[i] = (uint16_t)(is_nan_bits(u) ? (u >> 16) | 0x0040u : rounded);
    }
}

/* splitmix64's step on z: the per-(seed, tensor, step) key. */
static uint64_t mix64(uint64_t z) { return descent_splitmix64(&z); }

void descent_bf16_widen(float *dst, const uint16_t *src, size_t n) { widen(dst, src, n); }
void descent_bf16_narrow(uint16_t *dst, const float *src, size_t n) { narrow(dst, src, n); }
void descent_bf16_narrow_stochastic(uint16_t *dst, const float *src, size_t n, uint64_t key, uint64_t first)
{
    narrow_stochastic(dst, src, n, key, first);
}

/* The chunk loop, compiled per instruction set like the kernels (the
 * conversions are integer work the wider vectors speed up; the f32 kernel
 * it calls dispatches itself). */
DESCENT_INLINE void run_chunk(const descent_optimizer *opt, const descent_chunk *c, int *nonfinite)
{
    const descent_tensor *t = &opt->tensors[c->tensor];
    _Alignas(64) float pbuf[BF16_BLOCK];
    _Alignas(64) float gbuf[BF16_BLOCK];
    uint16_t *p16 = t->param;
    const uint16_t *g16 = t->grad;
    uint64_t key = 0;
    if (opt->bf16_flags & DESCENT_BF16_STOCHASTIC)
        key = mix64(opt->bf16_seed ^ mix64((uint64_t)c->tensor ^ mix64((uint64_t)t->scalars.step)));
    descent_kernel_args a;
    /* nonfinite: the kernel tests the widened values (bf16 NaN/inf stay NaN/inf) */
    descent_kernel_args_init(&a, opt, t, nonfinite);
    for (size_t b = c->begin; b < c->end; b += BF16_BLOCK) {
        size_t len = c->end - b < BF16_BLOCK ? c->end - b : BF16_BLOCK;
        /* p and g are read in short bursts between the kernel's state
         * streams; fetch the next block's ahead so the bursts do not wait. */
        if (b + 2 * BF16_BLOCK <= c->end)
            for (size_t l = 0; l < BF16_BLOCK * sizeof(uint16_t); l += 64) {
                __builtin_prefetch((const char *)(p16 + b + BF16_BLOCK) + l, 1);
                __builtin_prefetch((const char *)(g16 + b + BF16_BLOCK) + l, 0);
            }
        float *pf = t->master ? t->master + b : pbuf;
        if (!t->master)
            widen(pbuf, p16 + b, len);
        widen(gbuf, g16 + b, len);
        a.begin = 0;
        a.end = len;
        a.param = pf;
        a.grad = gbuf;
        for (int k = 0; k < DESCENT_MAX_STATE; k++)
            a.state[k] = k < t->nstate ? (float *)t->state[k] + b : NULL;
        opt->algo->kernel_f32(&a);
        if (opt->bf16_flags & DESCENT_BF16_STOCHASTIC)
            narrow_stochastic(p16 + b, pf, len, key, b);
        else
            narrow(p16 + b, pf, len);
    }
}

#if DESCENT_HAVE_DISPATCH
DESCENT_TARGET_AVX512 static void run_chunk_avx512(const descent_optimizer *opt, const descent_chunk *c, int *nonfinite)
{
    run_chunk(opt, c, nonfinite);
}
DESCENT_TARGET_AVX2 static void run_chunk_avx2(const descent_optimizer *opt, const descent_chunk *c, int *nonfinite)
{
    run_chunk(opt, c, nonfinite);
}
#endif

static void run_chunk_bf16(const descent_optimizer *opt, const descent_chunk *c, int *nonfinite)
{
#if DESCENT_HAVE_DISPATCH
    if (opt->isa >= DESCENT_ISA_AVX512) {
        run_chunk_avx512(opt, c, nonfinite);
        return;
    }
    if (opt->isa == DESCENT_ISA_AVX2) {
        run_chunk_avx2(opt, c, nonfinite);
        return;
    }
#endif
    run_chunk(opt, c, nonfinite);
}

/* State in f32 at the algorithm's initial values; the master copy (if any)
 * from the bf16 parameters. */
static void init_bf16(const descent_optimizer *opt, descent_tensor *t)
{
    descent_storage_init_values(opt, t);
    if (t->master)
        descent_bf16_widen(t->master, t->param, t->n);
}

static size_t f32_buffer_bytes(size_t n) { return n * sizeof(float); }
static size_t f32_image_bytes(const descent_tensor *t, int k) { return t->state_n[k] * 4; }

const descent_storage descent_storage_bf16 = {"bf16",
                                              f32_buffer_bytes,
                                              init_bf16,
                                              run_chunk_bf16,
                                              f32_image_bytes,
                                              descent_storage_save_values,
                                              descent_storage_load_values};
