/* bf16 storage: parameters and gradients in bfloat16, optimizer state and
 * arithmetic in f32 (the conversions: bf16_kernel.h).
 *
 * Two paths, with the same results bit for bit: the f32 kernel's update of
 * the widened values, rounded the same way.
 *   - The algorithm's bf16 kernel (kernel_bf16, src/optim/kernel_types.h)
 *     widens p and g as it loads them and rounds p as it stores it, in
 *     registers, so each element crosses memory once, as in the f32 kernel.
 *     With a master copy it updates the f32 master in place and p receives
 *     its rounding.
 *   - For an algorithm without one: each chunk runs in blocks small enough
 *     for L1 — widen p and g into f32 scratch, run the f32 kernel against
 *     the f32 state, narrow p back. */
#include "internal.h"
#include "bf16_kernel.h"
#include "rng.h"

#include <string.h>

/* Elements per block of the scratch path: p, g and the f32 scratch stay in L1. */
#define BF16_BLOCK 1024

/* A chunk of the bf16 kernel shorter than this many prefetch blocks runs
 * as one call (storage.c, PF_MIN_BLOCKS). */
#define BF16_PF_MIN_BLOCKS 8

DESCENT_INLINE void widen(float *dst, const uint16_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = descent_bf16_load(src[i]);
}

/* Round src into dst; element i is element first + i of its tensor (the
 * stochastic bits' index). */
DESCENT_INLINE void narrow_mode(uint16_t *dst, const float *src, size_t n, const int sr, uint32_t key, size_t first)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = descent_bf16_round(src[i], sr, key, first + i);
}

/* The 32-bit hash key of a 64-bit one. */
static uint32_t key32(uint64_t key) { return (uint32_t)(key ^ (key >> 32)); }

/* splitmix64's step on z: the per-(seed, tensor, step) key. */
static uint64_t mix64(uint64_t z) { return descent_splitmix64(&z); }

void descent_bf16_widen(float *dst, const uint16_t *src, size_t n) { widen(dst, src, n); }
void descent_bf16_narrow(uint16_t *dst, const float *src, size_t n) { narrow_mode(dst, src, n, 0, 0, 0); }
void descent_bf16_narrow_stochastic(uint16_t *dst, const float *src, size_t n, uint64_t key, uint64_t first)
{
    narrow_mode(dst, src, n, 1, key32(key), (size_t)first);
}

void descent_bf16_force_scratch(descent_optimizer *opt, int on) { opt->bf16_scratch = on != 0; }

/* The key of tensor c->tensor's stochastic rounding this step. */
static uint32_t step_key(const descent_optimizer *opt, const descent_chunk *c)
{
    const descent_tensor *t = &opt->tensors[c->tensor];
    return key32(mix64(opt->bf16_seed ^ mix64((uint64_t)c->tensor ^ mix64((uint64_t)t->scalars.step))));
}

/* The scratch path's chunk loop, compiled per instruction set like the
 * kernels (the conversions are integer work the wider vectors speed up;
 * the f32 kernel it calls dispatches itself). */
DESCENT_INLINE void run_scratch(const descent_optimizer *opt, const descent_chunk *c, int *nonfinite)
{
    const descent_tensor *t = &opt->tensors[c->tensor];
    _Alignas(64) float pbuf[BF16_BLOCK];
    _Alignas(64) float gbuf[BF16_BLOCK];
    uint16_t *p16 = t->param;
    const uint16_t *g16 = t->grad;
    const int sr = (opt->bf16_flags & DESCENT_BF16_STOCHASTIC) != 0;
    const uint32_t key = sr ? step_key(opt, c) : 0;
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
        if (sr)
            narrow_mode(p16 + b, pf, len, 1, key, b);
        else
            narrow_mode(p16 + b, pf, len, 0, 0, b);
    }
}

#if DESCENT_HAVE_DISPATCH
DESCENT_TARGET_AVX512 static void run_scratch_avx512(const descent_optimizer *opt, const descent_chunk *c, int *nonfinite)
{
    run_scratch(opt, c, nonfinite);
}
DESCENT_TARGET_AVX2 static void run_scratch_avx2(const descent_optimizer *opt, const descent_chunk *c, int *nonfinite)
{
    run_scratch(opt, c, nonfinite);
}
#endif

/* The instruction set for the bf16 kernels: their AVX-512 copy also uses
 * AVX512BW (16-bit lanes), which the first AVX-512 chips (Xeon Phi) lack.
 * The CPU is asked once per process, not on every chunk: the answer is
 * cached in an int (-1 until known) that threads read and write
 * atomically; two threads that both find it unknown store the same value. */
static int bf16_isa(int isa)
{
#if DESCENT_HAVE_DISPATCH
    static int has_bw = -1;
    int bw = __atomic_load_n(&has_bw, __ATOMIC_RELAXED);
    if (bw < 0) {
        bw = __builtin_cpu_supports("avx512bw") != 0;
        __atomic_store_n(&has_bw, bw, __ATOMIC_RELAXED);
    }
    if (isa >= DESCENT_ISA_AVX512 && !bw)
        return DESCENT_ISA_AVX2;
#endif
    return isa;
}

/* The bf16 kernel over chunk c, in one call. Software prefetch, which
 * helps the f32 kernels on one thread (kernels.h), made it slower: with
 * 1 KiB blocks AdamW ran at 0.71 of the memory-bandwidth limit on one
 * thread and 0.81 on two, against 0.84 and 0.98 in one call (16M
 * parameters; docs/performance.md). Blocks only when the caller asks
 * (descent_set_prefetch > 0): each block's streams prefetched two blocks
 * ahead first, as run_plain (storage.c) does for f32; a block is
 * block_bytes of each f32 stream (state, master) and half that of the bf16
 * ones (p, g). */
static void run_kernel(const descent_optimizer *opt, const descent_chunk *c, int *nonfinite)
{
    const descent_tensor *t = &opt->tensors[c->tensor];
    descent_kernel_args a;
    descent_kernel_args_init(&a, opt, t, nonfinite);
    a.isa = bf16_isa(opt->isa);
    a.master = t->master;
    a.bf16_mode = (t->master ? DESCENT_BF16K_MASTER : 0) |
                  (opt->bf16_flags & DESCENT_BF16_STOCHASTIC ? DESCENT_BF16K_SR : 0);
    a.bf16_key = a.bf16_mode & DESCENT_BF16K_SR ? step_key(opt, c) : 0;
    a.begin = c->begin;
    a.end = c->end;
    const size_t block_bytes = opt->prefetch > 0 ? (size_t)opt->prefetch : 0;
    const size_t block = block_bytes / sizeof(float), ahead = 2 * block_bytes;
    if (!block || c->end - c->begin < BF16_PF_MIN_BLOCKS * block) {
        opt->algo->kernel_bf16(&a);
        return;
    }
    for (size_t b = c->begin; b < c->end; b += block) {
        a.begin = b;
        a.end = c->end - b < block ? c->end : b + block;
        DESCENT_PREFETCH_BLOCK(a.param, b, sizeof(uint16_t), block_bytes / 2, ahead / 2);
        DESCENT_PREFETCH_BLOCK(a.grad, b, sizeof(uint16_t), block_bytes / 2, ahead / 2);
        DESCENT_PREFETCH_BLOCK(a.master, b, sizeof(float), block_bytes, ahead);
        for (int k = 0; k < t->nstate; k++)
            DESCENT_PREFETCH_BLOCK(a.state[k], b, sizeof(float), block_bytes, ahead);
        opt->algo->kernel_bf16(&a);
    }
}

static void run_chunk_bf16(const descent_optimizer *opt, const descent_chunk *c, int *nonfinite)
{
    if (opt->algo->kernel_bf16 && !opt->bf16_scratch && !(opt->bf16_flags & DESCENT_BF16_SCRATCH)) {
        run_kernel(opt, c, nonfinite);
        return;
    }
#if DESCENT_HAVE_DISPATCH
    if (opt->isa >= DESCENT_ISA_AVX512) {
        run_scratch_avx512(opt, c, nonfinite);
        return;
    }
    if (opt->isa == DESCENT_ISA_AVX2) {
        run_scratch_avx2(opt, c, nonfinite);
        return;
    }
#endif
    run_scratch(opt, c, nonfinite);
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
