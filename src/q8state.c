/* 8-bit block-quantized optimizer state (state_bits=8), after Dettmers et
 * al. 2022, "8-bit Optimizers via Block-wise Quantization" (ICLR 2022):
 *
 *   each state buffer is split into blocks of DESCENT_Q8_BLOCK elements;
 *   block b keeps absmax_b = max_i |x_i| (f32) and one byte per element,
 *   the index of the code of a dynamic map nearest to x_i · (1/absmax_b);
 *   x_i is read back as map[code_i] * absmax_b.
 *
 * The map is signed for state that changes sign (exp_avg) and unsigned for
 * non-negative state (exp_avg_sq, exp_inf, max_exp_avg_sq); see
 * tools/gen_q8_maps.py. A step dequantizes a block of every state buffer
 * into f32 scratch held in L1, runs the algorithm's own f32 kernel on it (so
 * the update is the fp32 update of the dequantized state), and quantizes the
 * new state back: one pass over memory. Blocks divide the step's chunks, so
 * the result does not depend on the thread count, and every operation is
 * correctly rounded IEEE arithmetic or a comparison, so it does not depend
 * on the instruction set either.
 *
 * A NaN anywhere in a block makes the block's absmax NaN, so the whole block
 * reads back as NaN (the non-finite value propagates, as in f32 state). An
 * infinite state value (an overflow from a finite gradient) saturates at
 * FLT_MAX instead, so finite gradients never give NaN state. */
#include "internal.h"
#include "q8_maps.h"

#include <float.h>
#include <math.h>
#include <string.h>

int descent_q8_wanted(const descent_algo *algo, const descent_hparams *hp)
{
    return algo->state_q8 != NULL && hp->state_bits == 8;
}

static size_t q8_blocks(size_t n) { return (n + DESCENT_Q8_BLOCK - 1) / DESCENT_Q8_BLOCK; }

static size_t q8_codes_bytes(size_t n) { return (n + DESCENT_ALIGN - 1) / DESCENT_ALIGN * DESCENT_ALIGN; }

size_t descent_q8_bytes(size_t n) { return q8_codes_bytes(n) + q8_blocks(n) * sizeof(float); }

size_t descent_q8_image_bytes(size_t n) { return n + q8_blocks(n) * 4; }

static float *q8_absmax(void *buf, size_t n) { return (float *)((unsigned char *)buf + q8_codes_bytes(n)); }

static const float *q8_absmax_const(const void *buf, size_t n)
{
    return (const float *)((const unsigned char *)buf + q8_codes_bytes(n));
}

/* The code of 0 in each map: the signed map has 127 negative codes below it. */
static unsigned char zero_code(char kind)
{
    const float *map = descent_q8_map(kind);
    unsigned char c = 0;
    while (map[c] != 0.0f)
        c++;
    return c;
}

static void q8_init(const descent_optimizer *opt, descent_tensor *t)
{
    for (int k = 0; k < t->nstate; k++) {
        memset(t->state[k], zero_code(opt->algo->state_q8[k]), t->n);
        memset(q8_absmax(t->state[k], t->n), 0, q8_blocks(t->n) * sizeof(float));
    }
}

/* The element loops, in portable C, with AVX2 / AVX-512F intrinsics
 * (gathers, which gcc will not emit for the portable loops under its generic
 * tuning) and, on CPUs with AVX-512 VBMI and VBMI2, with byte-plane table
 * lookups and no gathers (below; 2-3x faster than the AVX-512F code on
 * Zen 4, where a 16-element gather costs more than the rest of the
 * quantizer). All paths do the same IEEE multiplications and comparisons,
 * so they give the same codes. */

/* absmax = max |x_i|, NaN if any x_i is NaN: the maximum of the bit patterns
 * with the sign cleared, which order as the magnitudes do, NaNs above
 * infinity. A block of zeros keeps absmax 0 and the code of 0 (x_i / 1). */
static float block_absmax(const float *x, size_t len)
{
    const uint32_t *xbits = (const uint32_t *)(const void *)x;
    uint32_t maxbits = 0;
    for (size_t i = 0; i < len; i++) {
        uint32_t m = xbits[i] & 0x7FFFFFFFu;
        maxbits = m > maxbits ? m : maxbits;
    }
    float amax;
    memcpy(&amax, &maxbits, sizeof amax);
    return amax;
}

/* code_i = the largest j with mid[j] <= x_i * inv (mid[0] = -inf), where
 * inv = 1 / absmax rounded to f32 (a multiplication, not a division per
 * element: vdivps alone took half the quantization time): the
 * nearest code, a value on a midpoint going up; found by binary search. */
static void quant_portable(const float *x, size_t len, unsigned char *q, const float *mid, float inv)
{
    for (size_t i = 0; i < len; i++) {
        float y = x[i] * inv;
        int j = 0;
        for (int step = 128; step > 0; step >>= 1)
            j += y >= mid[j + step] ? step : 0;
        q[i] = (unsigned char)j;
    }
}

static void dequant_portable(float *x, size_t len, const unsigned char *q, const float *map, float scale)
{
    for (size_t i = 0; i < len; i++)
        x[i] = map[q[i]] * scale;
}

/* The next block's lines, requested a few at a time while this block
 * computes: from inside the VBMI loops and between pieces of the kernel
 * call, in proportion to the time each part takes, so the streams flow
 * steadily; a burst of 300 prefetches at the block's start stalls the core
 * on the full miss queue and leaves the streams idle for the rest of the
 * block. Time is counted in units, roughly the time of one 64-element
 * iteration of the dequantizer (measured on Zen 4); streams are served
 * round robin. */
#define Q8_PF_DEQUANT 1 /* per 64 elements of one state buffer */
#define Q8_PF_QUANT 3   /* per 64 elements of one state buffer */
#define Q8_PF_KERNEL 16 /* per Q8_KERNEL_PIECE elements of the kernel */
#define Q8_KERNEL_PIECE 256
typedef struct q8_prefetch {
    uintptr_t next[2 + DESCENT_MAX_STATE], end[2 + DESCENT_MAX_STATE];
    int streams, cur;
    unsigned rate, credit; /* lines per unit, in 1/256 */
} q8_prefetch;

static inline void q8_pf_add(q8_prefetch *pf, const void *base, size_t offset_bytes, size_t bytes)
{
    if (base) {
        pf->next[pf->streams] = (uintptr_t)base + offset_bytes;
        pf->end[pf->streams] = pf->next[pf->streams] + bytes;
        pf->streams++;
    }
}

static inline void q8_pf_some(q8_prefetch *pf, unsigned units)
{
    if (!pf)
        return;
    pf->credit += units * pf->rate;
    for (; pf->credit >= 256 && pf->streams > 0; pf->credit -= 256) {
        int k = pf->cur;
        __builtin_prefetch((const void *)pf->next[k], 0, 3);
        pf->next[k] += 64;
        if (pf->next[k] >= pf->end[k]) { /* drop stream k */
            pf->streams--;
            pf->next[k] = pf->next[pf->streams];
            pf->end[k] = pf->end[pf->streams];
        }
        pf->cur = k + 1 < pf->streams ? k + 1 : 0;
    }
}

#if DESCENT_HAVE_DISPATCH
#include <immintrin.h>

/* The vector quantizers look the code up instead of searching for it
 * (tools/gen_q8_maps.py): y's bucket is its sign and the 15 bits below
 * (exponent and top 7 fraction bits), |y| < 2^-23 bucket 0 and |y| >= 1 the
 * last. A bucket holds at most one midpoint, so with j0 the code of its
 * smallest value the code is j0 + (y >= that midpoint), the largest j with
 * mid[j] <= y as the binary search finds it; inside a bucket the comparison
 * is one of y's low 16 bits (complemented when y < 0) against the key the
 * entry holds above j0. One gather per vector. A NaN y (only in a block
 * whose absmax is NaN) has code 0, set before (descent_q8_quantize). */
#define Q8_BUCKET_BIAS ((DESCENT_Q8_BUCKET_LOW_EXP << 7) - 1)

DESCENT_TARGET_AVX2 static void quant_avx2(const float *x, size_t len, unsigned char *q, const float *mid,
                                           const int *bucket, float inv)
{
    const __m256 d = _mm256_set1_ps(inv);
    const __m256i abs_mask = _mm256_set1_epi32(0x7FFFFFFF), bias = _mm256_set1_epi32(Q8_BUCKET_BIAS);
    const __m256i last = _mm256_set1_epi32(DESCENT_Q8_BUCKETS - 1), per_sign = _mm256_set1_epi32(DESCENT_Q8_BUCKETS);
    const __m256i low = _mm256_set1_epi32(0xFFFF), byte = _mm256_set1_epi32(0xFF), zero = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        __m256i yb = _mm256_castps_si256(_mm256_mul_ps(_mm256_loadu_ps(x + i), d));
        __m256i neg = _mm256_srai_epi32(yb, 31);
        __m256i b = _mm256_sub_epi32(_mm256_srli_epi32(_mm256_and_si256(yb, abs_mask), 16), bias);
        b = _mm256_min_epi32(_mm256_max_epi32(b, zero), last);
        b = _mm256_add_epi32(b, _mm256_and_si256(neg, per_sign));
        __m256i e = _mm256_i32gather_epi32(bucket, b, 4);
        __m256i key = _mm256_xor_si256(_mm256_and_si256(yb, low), _mm256_and_si256(neg, low));
        __m256i below = _mm256_cmpgt_epi32(_mm256_srli_epi32(e, 8), key); /* -1: key < the midpoint's */
        __m256i j = _mm256_add_epi32(_mm256_and_si256(e, byte), _mm256_add_epi32(below, _mm256_set1_epi32(1)));
        /* 8 int32 codes < 256 to 8 bytes */
        __m128i lo = _mm256_castsi256_si128(j), hi = _mm256_extracti128_si256(j, 1);
        __m128i w = _mm_packus_epi32(lo, hi);
        _mm_storel_epi64((__m128i *)(void *)(q + i), _mm_packus_epi16(w, w));
    }
    quant_portable(x + i, len - i, q + i, mid, inv);
}

DESCENT_TARGET_AVX2 static float block_absmax_avx2(const float *x, size_t len)
{
    const uint32_t *xbits = (const uint32_t *)(const void *)x;
    __m256i m = _mm256_setzero_si256();
    const __m256i abs_mask = _mm256_set1_epi32(0x7FFFFFFF);
    size_t i = 0;
    for (; i + 8 <= len; i += 8)
        m = _mm256_max_epu32(m, _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(const void *)(xbits + i)), abs_mask));
    uint32_t lanes[8], maxbits = 0;
    _mm256_storeu_si256((__m256i *)(void *)lanes, m);
    for (int k = 0; k < 8; k++)
        maxbits = lanes[k] > maxbits ? lanes[k] : maxbits;
    for (; i < len; i++) {
        uint32_t v = xbits[i] & 0x7FFFFFFFu;
        maxbits = v > maxbits ? v : maxbits;
    }
    float amax;
    memcpy(&amax, &maxbits, sizeof amax);
    return amax;
}

DESCENT_TARGET_AVX2 static void dequant_avx2(float *x, size_t len, const unsigned char *q, const float *map,
                                             float scale)
{
    const __m256 s = _mm256_set1_ps(scale);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(q + i)));
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_i32gather_ps(map, idx, 4), s));
    }
    dequant_portable(x + i, len - i, q + i, map, scale);
}

/* A table of up to 256 floats in 16-float registers, looked up by an index
 * vector with vpermt2ps (32 entries per instruction) and blends on the
 * higher index bits: the AVX-512 kernels need no gathers. */
typedef struct lut512 {
    __m512 r[16];
} lut512;

DESCENT_TARGET_AVX512 static void lut_load(lut512 *t, const float *v, int count)
{
    for (int k = 0; k < count / 16; k++)
        t->r[k] = _mm512_loadu_ps(v + 16 * k);
}

/* t[idx] for idx < 32 << levels (levels = 0..3: 32, 64, 128, 256 entries). */
DESCENT_TARGET_AVX512 static inline __m512 lut_get(const lut512 *t, __m512i idx, int levels)
{
    __m512 v[8];
    int n = 1 << levels;
    for (int k = 0; k < n; k++)
        v[k] = _mm512_permutex2var_ps(t->r[2 * k], idx, t->r[2 * k + 1]);
    for (int bit = 0; bit < levels; bit++) {
        __mmask16 hi = _mm512_test_epi32_mask(idx, _mm512_set1_epi32(32 << bit));
        for (int k = 0; k < n >> (bit + 1); k++)
            v[k] = _mm512_mask_blend_ps(hi, v[2 * k], v[2 * k + 1]);
    }
    return v[0];
}

DESCENT_TARGET_AVX512 static float block_absmax_avx512(const float *x, size_t len)
{
    const uint32_t *xbits = (const uint32_t *)(const void *)x;
    __m512i m = _mm512_setzero_si512();
    const __m512i abs_mask = _mm512_set1_epi32(0x7FFFFFFF);
    size_t i = 0;
    for (; i + 16 <= len; i += 16)
        m = _mm512_max_epu32(m, _mm512_and_si512(_mm512_loadu_si512((const void *)(xbits + i)), abs_mask));
    uint32_t maxbits = _mm512_reduce_max_epu32(m);
    for (; i < len; i++) {
        uint32_t v = xbits[i] & 0x7FFFFFFFu;
        maxbits = v > maxbits ? v : maxbits;
    }
    float amax;
    memcpy(&amax, &maxbits, sizeof amax);
    return amax;
}

DESCENT_TARGET_AVX512 static void quant_avx512(const float *x, size_t len, unsigned char *q, const float *mid,
                                               const int *bucket, float inv)
{
    const __m512 d = _mm512_set1_ps(inv);
    const __m512i abs_mask = _mm512_set1_epi32(0x7FFFFFFF), bias = _mm512_set1_epi32(Q8_BUCKET_BIAS);
    const __m512i last = _mm512_set1_epi32(DESCENT_Q8_BUCKETS - 1), per_sign = _mm512_set1_epi32(DESCENT_Q8_BUCKETS);
    const __m512i low = _mm512_set1_epi32(0xFFFF), byte = _mm512_set1_epi32(0xFF), zero = _mm512_setzero_si512();
    const __m512i one = _mm512_set1_epi32(1);
    size_t i = 0;
    for (; i + 16 <= len; i += 16) {
        __m512i yb = _mm512_castps_si512(_mm512_mul_ps(_mm512_loadu_ps(x + i), d));
        __m512i neg = _mm512_srai_epi32(yb, 31);
        __m512i b = _mm512_sub_epi32(_mm512_srli_epi32(_mm512_and_si512(yb, abs_mask), 16), bias);
        b = _mm512_min_epi32(_mm512_max_epi32(b, zero), last);
        b = _mm512_add_epi32(b, _mm512_and_si512(neg, per_sign));
        __m512i e = _mm512_i32gather_epi32(b, (const void *)bucket, 4);
        __m512i key = _mm512_xor_si512(_mm512_and_si512(yb, low), _mm512_and_si512(neg, low));
        __mmask16 ge = _mm512_cmpge_epi32_mask(key, _mm512_srli_epi32(e, 8));
        __m512i j = _mm512_mask_add_epi32(_mm512_and_si512(e, byte), ge, _mm512_and_si512(e, byte), one);
        _mm_storeu_si128((__m128i *)(void *)(q + i), _mm512_cvtepi32_epi8(j));
    }
    quant_portable(x + i, len - i, q + i, mid, inv);
}

DESCENT_TARGET_AVX512 static void dequant_avx512(float *x, size_t len, const unsigned char *q, const float *map,
                                                 float scale)
{
    lut512 m;
    lut_load(&m, map, 256);
    const __m512 s = _mm512_set1_ps(scale);
    size_t i = 0;
    for (; i + 16 <= len; i += 16) {
        __m512i idx = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(q + i)));
        _mm512_storeu_ps(x + i, _mm512_mul_ps(lut_get(&m, idx, 3), s));
    }
    dequant_portable(x + i, len - i, q + i, map, scale);
}

/* ---- AVX-512 VBMI (and VBMI2): byte-plane lookups, no gathers ------------
 * vpermi2b looks 64 bytes up at once in a 128-byte table (two registers);
 * a 256-entry table is two such lookups and a blend on bit 7 of the index,
 * a 512-entry one four and blends on bits 7 and 8. The tables are byte
 * planes (tools/gen_q8_maps.py): byte k of every entry in plane k. 64
 * elements are looked up in "unpack order", in which vpunpck{l,h}bw and
 * vpunpck{l,h}wd of the planes give 4 vectors of 16 dwords in element
 * order: byte 16 L + 4 q + r of a vector in unpack order is element
 * 16 q + 4 L + r (vpunpck works within each 128-bit lane L). */
#if defined(__clang__)
#define Q8_TARGET_VBMI __attribute__((target("avx512f,avx512bw,avx512vbmi,avx512vbmi2")))
#else
#define Q8_TARGET_VBMI __attribute__((target("avx512f,avx512bw,avx512vbmi,avx512vbmi2,prefer-vector-width=512")))
#endif
#define Q8_S4(F, p) F(p), F((p) + 1), F((p) + 2), F((p) + 3)
#define Q8_S16(F, p) Q8_S4(F, p), Q8_S4(F, (p) + 4), Q8_S4(F, (p) + 8), Q8_S4(F, (p) + 12)
#define Q8_S64(F) Q8_S16(F, 0), Q8_S16(F, 16), Q8_S16(F, 32), Q8_S16(F, 48)
#define Q8_UNPACK_ORDER(p) (((p) >> 2 & 3) * 16 + ((p) >> 4) * 4 + ((p) & 3))
/* word unpack order: byte 16 L + 8 h + r is element 32 h + 8 L + r, so
 * vpunpck{l,h}bw of two byte vectors give the words of elements 0-31, 32-63 */
#define Q8_WUNPACK_ORDER(p) (((p) >> 3 & 1) * 32 + ((p) >> 4) * 8 + ((p) & 7))
#define Q8_LOW_WUNPACK(p) (2 * Q8_WUNPACK_ORDER(p))
#define Q8_HIGH_WUNPACK(p) (2 * Q8_WUNPACK_ORDER(p) + 1)
#define Q8_WUNPACK_TO_NAT(p) (((p) >> 3 & 3) * 16 + ((p) >> 5) * 8 + ((p) & 7)) /* where element p is */
#define Q8_UPPER_HALF(p) (4 * ((p) >> 1) + 2 + ((p) & 1)) /* bytes 2, 3 of dword p / 2 */
#define Q8_LOWER_HALF(p) (4 * ((p) >> 1) + ((p) & 1))     /* bytes 0, 1 */
static const unsigned char q8_unpack_order[64] = {Q8_S64(Q8_UNPACK_ORDER)};
static const unsigned char q8_low_wunpack[64] = {Q8_S64(Q8_LOW_WUNPACK)};
static const unsigned char q8_wunpack_to_nat[64] = {Q8_S64(Q8_WUNPACK_TO_NAT)};
static const unsigned char q8_high_wunpack[64] = {Q8_S64(Q8_HIGH_WUNPACK)};
static const unsigned char q8_upper_half[64] = {Q8_S64(Q8_UPPER_HALF)};
static const unsigned char q8_lower_half[64] = {Q8_S64(Q8_LOWER_HALF)};

static int q8_vbmi_cpu(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512vbmi2");
}

/* The 4 byte vectors of 64 elements in unpack order as 4 x 16 dwords in
 * element order: byte k of dword = plane k. */
Q8_TARGET_VBMI static inline void q8_unpack(const __m512i b[4], __m512i d[4])
{
    __m512i lo01 = _mm512_unpacklo_epi8(b[0], b[1]), hi01 = _mm512_unpackhi_epi8(b[0], b[1]);
    __m512i lo23 = _mm512_unpacklo_epi8(b[2], b[3]), hi23 = _mm512_unpackhi_epi8(b[2], b[3]);
    d[0] = _mm512_unpacklo_epi16(lo01, lo23);
    d[1] = _mm512_unpackhi_epi16(lo01, lo23);
    d[2] = _mm512_unpacklo_epi16(hi01, hi23);
    d[3] = _mm512_unpackhi_epi16(hi01, hi23);
}

/* t[idx] for a table of 64 * ntab bytes in ntab registers (ntab = 4 or 8):
 * bit7 and bit8 are the masks of index bits 7 and 8 (vpermi2b reads 0-6). */
Q8_TARGET_VBMI static inline __m512i q8_lookup(const __m512i *t, int ntab, __m512i idx, __mmask64 bit7,
                                               __mmask64 bit8)
{
    __m512i v = _mm512_mask_blend_epi8(bit7, _mm512_permutex2var_epi8(t[0], idx, t[1]),
                                       _mm512_permutex2var_epi8(t[2], idx, t[3]));
    if (ntab == 8)
        v = _mm512_mask_blend_epi8(bit8, v,
                                   _mm512_mask_blend_epi8(bit7, _mm512_permutex2var_epi8(t[4], idx, t[5]),
                                                          _mm512_permutex2var_epi8(t[6], idx, t[7])));
    return v;
}

/* The same from a table in memory (64 * ntab bytes): the compiler keeps
 * what fits in registers and reads the rest from L1, where a local copy of
 * the tables in registers would be spilled, copied to the stack per call. */
Q8_TARGET_VBMI static inline __m512i q8_lookup_mem(const unsigned char *t, int ntab, __m512i idx, __mmask64 bit7,
                                                   __mmask64 bit8)
{
    __m512i r[8];
    for (int h = 0; h < ntab; h++)
        r[h] = _mm512_loadu_si512((const void *)(t + 64 * h));
    return q8_lookup(r, ntab, idx, bit7, bit8);
}

/* x = map[code] * scale, 64 at a time. */
Q8_TARGET_VBMI static void dequant_vbmi(float *x, size_t len, const unsigned char *q,
                                        const unsigned char (*planes)[256], const float *map, float scale,
                                        q8_prefetch *pf)
{
    __m512i t[4][4];
    for (int k = 0; k < 4; k++)
        for (int h = 0; h < 4; h++)
            t[k][h] = _mm512_loadu_si512((const void *)(planes[k] + 64 * h));
    const __m512i order = _mm512_loadu_si512((const void *)q8_unpack_order);
    const __m512 s = _mm512_set1_ps(scale);
    size_t i = 0;
    for (; i + 64 <= len; i += 64) {
        q8_pf_some(pf, Q8_PF_DEQUANT);
        __m512i c = _mm512_permutexvar_epi8(order, _mm512_loadu_si512((const void *)(q + i)));
        __mmask64 bit7 = _mm512_movepi8_mask(c);
        __m512i b[4], d[4];
        for (int k = 0; k < 4; k++)
            b[k] = q8_lookup(t[k], 4, c, bit7, 0);
        q8_unpack(b, d);
        for (int k = 0; k < 4; k++)
            _mm512_storeu_ps(x + i + 16 * k, _mm512_mul_ps(_mm512_castsi512_ps(d[k]), s));
    }
    dequant_portable(x + i, len - i, q + i, map, scale);
}

/* The codes of 64 normalized values y (4 vectors of 16, element order)
 * into *code; returns nonzero when a 16-bit key ties with its sub-bucket's,
 * and the caller then codes these 64 by binary search. The scheme and its proof are in
 * tools/gen_q8_maps.py. nsub = 256 (signed map) or 512 (unsigned)
 * sub-buckets. Words are handled in two vectors of 32, elements 0-31 and
 * 32-63. */
Q8_TARGET_VBMI static inline int quant64_vbmi(const __m512i y_in[4], __m512i *code, const __m512i *l1,
                                              const unsigned char *sub, int nsub, int is_signed)
{
    const int ntab = nsub / 64;
    const __m512i upper = _mm512_loadu_si512((const void *)q8_upper_half);
    const __m512i lower = _mm512_loadu_si512((const void *)q8_lower_half);
    __m512i y[4], hi[2], idx[2], key[2];
    for (int k = 0; k < 4; k++) /* the unsigned map codes every y <= -0 as 0, the code of +0 */
        y[k] = is_signed ? y_in[k] : _mm512_max_epi32(y_in[k], _mm512_setzero_si512());
    for (int h = 0; h < 2; h++) {
        hi[h] = _mm512_permutex2var_epi8(y[2 * h], upper, y[2 * h + 1]);
        __m512i lo = _mm512_permutex2var_epi8(y[2 * h], lower, y[2 * h + 1]);
        /* exponent, 7 fraction bits */
        __m512i m = is_signed ? _mm512_and_si512(hi[h], _mm512_set1_epi16(0x7FFF)) : hi[h];
        __m512i e = _mm512_max_epu16(_mm512_srli_epi16(m, 7), _mm512_set1_epi16(DESCENT_Q8_L1_MIN_EXP));
        __m512i ent = _mm512_permutex2var_epi16(l1[0], e, l1[1]);
        __m512i sh = _mm512_srli_epi16(ent, 12);
        idx[h] = _mm512_add_epi16(_mm512_srlv_epi16(m, sh), ent);
        /* the 16 bits of the fraction below the sub-bucket's: (frac23 >> s) & 0xFFFF,
         * the low half of (m:lo) >> s (vpshrdvw) */
        key[h] = _mm512_shrdv_epi16(lo, m, sh);
    }
    /* the sub-bucket numbers as bytes in word unpack order, bit 8 as a mask */
    __m512i wun = _mm512_permutex2var_epi8(idx[0], _mm512_loadu_si512((const void *)q8_low_wunpack), idx[1]);
    __mmask64 wun8 = 0, wun7 = _mm512_movepi8_mask(wun);
    if (ntab == 8)
        wun8 = _mm512_test_epi8_mask(
            _mm512_permutex2var_epi8(idx[0], _mm512_loadu_si512((const void *)q8_high_wunpack), idx[1]),
            _mm512_set1_epi8(1));
    __m512i j0 = _mm512_permutexvar_epi8(_mm512_loadu_si512((const void *)q8_wunpack_to_nat),
                                         q8_lookup_mem(sub, ntab, wun, wun7, wun8));
    __m512i t0 = q8_lookup_mem(sub + nsub, ntab, wun, wun7, wun8);
    __m512i t1 = q8_lookup_mem(sub + 2 * nsub, ntab, wun, wun7, wun8);
    __m512i thr[2] = {_mm512_unpacklo_epi8(t0, t1), _mm512_unpackhi_epi8(t0, t1)}; /* words, element order */
    __mmask32 tie = _mm512_cmpeq_epi16_mask(key[0], thr[0]) | _mm512_cmpeq_epi16_mask(key[1], thr[1]);
    __mmask64 gt = (__mmask64)_mm512_cmpgt_epu16_mask(key[0], thr[0]) |
                   (__mmask64)_mm512_cmpgt_epu16_mask(key[1], thr[1]) << 32;
    __m512i c = _mm512_mask_add_epi8(j0, gt, j0, _mm512_set1_epi8(1));
    if (is_signed) {
        __mmask64 neg = (__mmask64)_mm512_movepi16_mask(hi[0]) | (__mmask64)_mm512_movepi16_mask(hi[1]) << 32;
        c = _mm512_mask_subs_epu8(c, neg, _mm512_set1_epi8((char)254), c); /* max(254 - c, 0) */
    }
    *code = c;
    return tie != 0;
}

Q8_TARGET_VBMI static inline void quant_vbmi_body(const float *x, size_t len, unsigned char *q, float inv,
                                                  const unsigned short *l1tab, const unsigned char *subtab,
                                                  int nsub, int is_signed, q8_prefetch *pf, const float *mid)
{
    __m512i l1[2];
    l1[0] = _mm512_loadu_si512((const void *)l1tab);
    l1[1] = _mm512_loadu_si512((const void *)(l1tab + 32));
    const __m512 d = _mm512_set1_ps(inv);
    for (size_t i = 0; i < len; i += 64) {
        q8_pf_some(pf, Q8_PF_QUANT);
        __m512i y[4], code;
        size_t rest = len - i < 64 ? len - i : 64;
        for (int k = 0; k < 4; k++) { /* lanes past len are 0 */
            size_t have = rest > 16 * (size_t)k ? rest - 16 * (size_t)k : 0;
            __mmask16 mk = have >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << have) - 1);
            y[k] = _mm512_castps_si512(_mm512_mul_ps(_mm512_maskz_loadu_ps(mk, x + i + 16 * k), d));
        }
        if (quant64_vbmi(y, &code, l1, subtab, nsub, is_signed))
            quant_portable(x + i, rest, q + i, mid, inv);
        else
            _mm512_mask_storeu_epi8(q + i, rest == 64 ? ~(__mmask64)0 : ((__mmask64)1 << rest) - 1, code);
    }
}

Q8_TARGET_VBMI static void quant_vbmi_signed(const float *x, size_t len, unsigned char *q, float inv, q8_prefetch *pf)
{
    quant_vbmi_body(x, len, q, inv, descent_q8_signed_l1, &descent_q8_signed_sub[0][0], 256, 1, pf,
                    descent_q8_signed_mid);
}

Q8_TARGET_VBMI static void quant_vbmi_unsigned(const float *x, size_t len, unsigned char *q, float inv,
                                               q8_prefetch *pf)
{
    quant_vbmi_body(x, len, q, inv, descent_q8_unsigned_l1, &descent_q8_unsigned_sub[0][0], 512, 0, pf,
                    descent_q8_unsigned_mid);
}
#endif

const float *descent_q8_map(char kind)
{
    return kind == 's' ? descent_q8_signed_map : descent_q8_unsigned_map;
}

int descent_q8_has_vbmi(void)
{
#if DESCENT_HAVE_DISPATCH
    return q8_vbmi_cpu();
#else
    return 0;
#endif
}

/* The element loops a call runs, decided once per call (per chunk in a
 * step, not per block and state buffer): the VBMI byte-plane paths where the
 * CPU has them and isa allows (not capped, not DESCENT_Q8_NO_VBMI), else the
 * widest of AVX-512F, AVX2 and portable that isa allows. */
enum { Q8_PORTABLE, Q8_AVX2, Q8_AVX512, Q8_VBMI };

static int q8_path(int isa)
{
#if DESCENT_HAVE_DISPATCH
    if ((isa & DESCENT_Q8_NO_VBMI) == 0 && isa >= DESCENT_ISA_AVX512 && q8_vbmi_cpu())
        return Q8_VBMI;
    isa &= ~DESCENT_Q8_NO_VBMI;
    return isa >= DESCENT_ISA_AVX512 ? Q8_AVX512 : isa == DESCENT_ISA_AVX2 ? Q8_AVX2 : Q8_PORTABLE;
#else
    (void)isa;
    return Q8_PORTABLE;
#endif
}

static void q8_dequantize(char kind, float *x, size_t len, const unsigned char *codes, const float *absmax, int path,
                          q8_prefetch *pf)
{
    const float *map = descent_q8_map(kind);
#if DESCENT_HAVE_DISPATCH
    if (path == Q8_VBMI) {
        dequant_vbmi(x, len, codes, kind == 's' ? descent_q8_signed_map_planes : descent_q8_unsigned_map_planes, map,
                     *absmax, pf);
        return;
    }
    if (path == Q8_AVX512) {
        dequant_avx512(x, len, codes, map, *absmax);
        return;
    }
    if (path == Q8_AVX2) {
        dequant_avx2(x, len, codes, map, *absmax);
        return;
    }
#endif
    (void)path;
    (void)pf;
    dequant_portable(x, len, codes, map, *absmax);
}

void descent_q8_dequantize(char kind, float *x, size_t len, const unsigned char *codes, const float *absmax, int isa)
{
    q8_dequantize(kind, x, len, codes, absmax, q8_path(isa), NULL);
}

static void q8_quantize(char kind, const float *x, size_t len, unsigned char *codes, float *absmax, int path,
                        q8_prefetch *pf)
{
    const float *mid = kind == 's' ? descent_q8_signed_mid : descent_q8_unsigned_mid;
#if DESCENT_HAVE_DISPATCH
    float amax = path >= Q8_AVX512 ? block_absmax_avx512(x, len)
                 : path == Q8_AVX2 ? block_absmax_avx2(x, len)
                                   : block_absmax(x, len);
#else
    float amax = block_absmax(x, len);
#endif
    /* A state value that overflowed f32 (exp_avg_sq of a gradient of 1e30:
     * (1 - beta2) g^2 = inf) saturates: the block's scale becomes FLT_MAX,
     * inf * (1 / FLT_MAX) = inf quantizes to the extreme code, which reads
     * back as +-FLT_MAX. With absmax = inf the scale 1 / inf = 0 would make
     * inf * 0 = NaN and every element of the block would read back as NaN
     * (inf * map[c]) from finite input. A NaN absmax stays NaN: every y is
     * NaN, every code 0 (no midpoint compares <= NaN), and the block reads
     * back as NaN. */
    if (amax == INFINITY)
        amax = FLT_MAX;
    *absmax = amax;
    if (amax != amax) {
        memset(codes, 0, len);
        return;
    }
    float inv = 1.0f / (amax > 0.0f ? amax : 1.0f);
#if DESCENT_HAVE_DISPATCH
    const int *bucket = kind == 's' ? descent_q8_signed_bucket : descent_q8_unsigned_bucket;
    /* inv = inf (a subnormal absmax below 2^-128) makes y = 0 * inf NaN
     * (code 0 by definition: no midpoint is <= NaN) or inf: the binary
     * search takes those blocks rather than rely on the sign of the NaN the
     * hardware makes. */
    if (path == Q8_VBMI && inv <= FLT_MAX) {
        if (kind == 's')
            quant_vbmi_signed(x, len, codes, inv, pf);
        else
            quant_vbmi_unsigned(x, len, codes, inv, pf);
        return;
    }
    if (path >= Q8_AVX512) {
        quant_avx512(x, len, codes, mid, bucket, inv);
        return;
    }
    if (path == Q8_AVX2) {
        quant_avx2(x, len, codes, mid, bucket, inv);
        return;
    }
#endif
    (void)path;
    (void)pf;
    quant_portable(x, len, codes, mid, inv);
}

void descent_q8_quantize(char kind, const float *x, size_t len, unsigned char *codes, float *absmax, int isa)
{
    q8_quantize(kind, x, len, codes, absmax, q8_path(isa), NULL);
}

/* One chunk: per block, dequantize the state, run the f32 kernel, quantize
 * it back. */
static void run_chunk_q8(const descent_optimizer *opt, const descent_chunk *c, int *nonfinite)
{
    const descent_tensor *t = &opt->tensors[c->tensor];
    const char *kinds = opt->algo->state_q8;
    _Alignas(DESCENT_ALIGN) float scratch[DESCENT_MAX_STATE][DESCENT_Q8_BLOCK];
    const int path = q8_path(opt->isa);
    descent_kernel_args a;
    descent_kernel_args_init(&a, opt, t, nonfinite);
    for (int k = 0; k < t->nstate; k++)
        a.state[k] = scratch[k];
    const float *grad = a.grad; /* the accumulated mean under accumulation */
    float *param = t->param;
    for (size_t b = c->begin; b < c->end; b += DESCENT_Q8_BLOCK) {
        size_t len = c->end - b < DESCENT_Q8_BLOCK ? c->end - b : DESCENT_Q8_BLOCK;
        /* The next block's p, g and codes, requested while this one
         * computes: the quantization between the kernel's short bursts
         * leaves the streams too few misses in flight (as in storage.c).
         * The VBMI loops spread the requests over the block (q8_prefetch);
         * the other paths ask for them all here. */
        q8_prefetch pf_lines, *pf = NULL;
        if (opt->prefetch_step && b + 2 * DESCENT_Q8_BLOCK <= c->end) {
            size_t next = b + DESCENT_Q8_BLOCK;
            if (path == Q8_VBMI) {
                pf = &pf_lines;
                pf->streams = pf->cur = 0;
                for (int k = 0; k < t->nstate; k++)
                    q8_pf_add(pf, t->state[k], next, DESCENT_Q8_BLOCK);
                q8_pf_add(pf, t->param, next * sizeof(float), DESCENT_Q8_BLOCK * sizeof(float));
                q8_pf_add(pf, grad, next * sizeof(float), DESCENT_Q8_BLOCK * sizeof(float));
                unsigned lines = (2 * (unsigned)sizeof(float) + (unsigned)t->nstate) * DESCENT_Q8_BLOCK / 64;
                unsigned units = (unsigned)t->nstate * (DESCENT_Q8_BLOCK / 64) * (Q8_PF_DEQUANT + Q8_PF_QUANT) +
                                 DESCENT_Q8_BLOCK / Q8_KERNEL_PIECE * Q8_PF_KERNEL;
                pf->rate = (lines * 256 + units - 1) / units;
                pf->credit = 0;
            } else {
                DESCENT_PREFETCH_BLOCK(t->param, next, sizeof(float), DESCENT_Q8_BLOCK * sizeof(float), 0);
                DESCENT_PREFETCH_BLOCK(grad, next, sizeof(float), DESCENT_Q8_BLOCK * sizeof(float), 0);
                for (int k = 0; k < t->nstate; k++)
                    DESCENT_PREFETCH_BLOCK(t->state[k], next, 1, DESCENT_Q8_BLOCK, 0);
            }
        }
        for (int k = 0; k < t->nstate; k++)
            q8_dequantize(kinds[k], scratch[k], len, (const unsigned char *)t->state[k] + b,
                          q8_absmax(t->state[k], t->n) + b / DESCENT_Q8_BLOCK, path, pf);
        a.param = param + b;
        a.grad = grad + b;
        /* with prefetching in pieces, prefetching between them (the kernel
         * is element-wise) */
        size_t piece = pf ? Q8_KERNEL_PIECE : len;
        for (size_t s = 0; s < len; s += piece) {
            a.begin = s;
            a.end = len - s < piece ? len : s + piece;
            q8_pf_some(pf, Q8_PF_KERNEL);
            opt->algo->kernel_f32(&a);
        }
        for (int k = 0; k < t->nstate; k++)
            q8_quantize(kinds[k], scratch[k], len, (unsigned char *)t->state[k] + b,
                        q8_absmax(t->state[k], t->n) + b / DESCENT_Q8_BLOCK, path, pf);
    }
}

void descent_q8_put(descent_writer *w, const void *buf, size_t n)
{
    descent_put_bytes(w, buf, n);
    const float *absmax = q8_absmax_const(buf, n);
    for (size_t b = 0; b < q8_blocks(n); b++)
        descent_put_f32(w, absmax[b]);
}

void descent_q8_get(descent_reader *r, void *buf, size_t n)
{
    const unsigned char *codes = descent_get_view(r, n);
    if (codes)
        memcpy(buf, codes, n);
    float *absmax = q8_absmax(buf, n);
    for (size_t b = 0; b < q8_blocks(n); b++)
        absmax[b] = descent_get_f32(r);
}

int descent_q8_image_ok(const unsigned char *image, size_t n)
{
    descent_reader r = {image, descent_q8_image_bytes(n), n, 0};
    for (size_t b = 0; b < q8_blocks(n); b++) {
        float a = descent_get_f32(&r);
        if (!(a >= 0 && a <= FLT_MAX))
            return 0;
    }
    return !r.bad;
}

static size_t q8_image(const descent_tensor *t, int k)
{
    (void)k;
    return descent_q8_image_bytes(t->n);
}

static void q8_save(descent_writer *w, const descent_tensor *t, int k) { descent_q8_put(w, t->state[k], t->n); }
static void q8_load(descent_reader *r, descent_tensor *t, int k) { descent_q8_get(r, t->state[k], t->n); }

const descent_storage descent_storage_q8 = {"q8", descent_q8_bytes, q8_init, run_chunk_q8, q8_image, q8_save, q8_load};
