/* bf16 <-> f32 conversions for one element, shared by the bf16 storage
 * adapter (bf16.c) and the bf16 copies of the element-wise kernels
 * (src/optim/kernel_types.h), so that both round alike. Not installed.
 *
 * A bf16 value is the upper half of an IEEE binary32: widening is a shift.
 * Rounding to nearest even: add 0x7FFF plus the lowest kept bit, truncate.
 * Stochastic rounding (Gupta et al. 2015): add 16 uniform random bits,
 * truncate; it rounds up with probability equal to the discarded fraction.
 * Its bits are a hash of a per-(seed, tensor, step) key and the element's
 * index in the tensor, so they do not depend on how the tensor is split
 * into chunks, threads or blocks. A NaN keeps its sign and top payload
 * bits and is made quiet; an infinity (zero fraction) stays infinite. */
#ifndef DESCENT_BF16_KERNEL_H
#define DESCENT_BF16_KERNEL_H

#include "kernels.h"

#include <stdint.h>
#include <string.h>

DESCENT_INLINE float descent_bf16_load(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* A 32-bit integer hash with good avalanche (Wellons' lowbias32). */
DESCENT_INLINE uint32_t descent_bf16_hash(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    x ^= x >> 16;
    return x;
}

/* x rounded to bf16: to nearest even (sr = 0), or stochastically with the
 * bits for element index of the tensor under key. */
DESCENT_INLINE uint16_t descent_bf16_round(float x, const int sr, uint32_t key, size_t index)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint32_t add = sr ? descent_bf16_hash(key ^ ((uint32_t)index * 0x9E3779B9u)) & 0xFFFFu
                      : 0x7FFFu + ((u >> 16) & 1u);
    uint32_t rounded = (u + add) >> 16;
    return (uint16_t)((u & 0x7FFFFFFFu) > 0x7F800000u ? (u >> 16) | 0x0040u : rounded);
}

/* Store the updated parameter x of element i: into the master copy (if
 * any) and, rounded, into the bf16 parameter. */
DESCENT_INLINE void descent_bf16_store(uint16_t *restrict p, float *restrict master, size_t i, float x,
                                       const int mode, uint32_t key)
{
    if (mode & DESCENT_BF16K_MASTER)
        master[i] = x;
    p[i] = descent_bf16_round(x, mode & DESCENT_BF16K_SR, key, i);
}

/* The bf16 kernels' bodies, once per mode with the mode a constant (see
 * DESCENT_KERNEL_VARIANTS). */
#define DESCENT_BF16_VARIANTS(CALL, a)                                       \
    do {                                                                     \
        switch ((a).bf16_mode) {                                             \
        case 0:                                                              \
            (a).bf16_mode = 0;                                               \
            CALL;                                                            \
            break;                                                           \
        case DESCENT_BF16K_MASTER:                                           \
            (a).bf16_mode = DESCENT_BF16K_MASTER;                            \
            CALL;                                                            \
            break;                                                           \
        case DESCENT_BF16K_SR:                                               \
            (a).bf16_mode = DESCENT_BF16K_SR;                                \
            CALL;                                                            \
            break;                                                           \
        default:                                                             \
            (a).bf16_mode = DESCENT_BF16K_MASTER | DESCENT_BF16K_SR;         \
            CALL;                                                            \
            break;                                                           \
        }                                                                    \
    } while (0)

#endif
