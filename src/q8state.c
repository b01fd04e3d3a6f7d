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
#include "q8_vbmi.h"

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
static uint32_t absmax_bits(const float *x, size_t len)
{
    const uint32_t *xbits = (const uint32_t *)(const void *)x;
    uint32_t maxbits = 0;
    for (size_t i = 0; i < len; i++) {
        uint32_t m = xbits[i] & 0x7FFFFFFFu;
        maxbits = m > maxbits ? m : maxbits;
    }
    return maxbits;
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

DESCENT_TARGET_AVX2 static uint32_t absmax_bits_avx2(const float *x, size_t len)
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
    return maxbits;
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

DESCENT_TARGET_AVX512 static uint32_t absmax_bits_avx512(const float *x, size_t len)
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
    return maxbits;
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

static int q8_vbmi_cpu(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512vbmi2");
}

/* x = map[code] * scale, 64 at a time. */
Q8_TARGET_VBMI static void dequant_vbmi(float *x, size_t len, const unsigned char *q,
                                        const unsigned char (*planes)[256], const float *map, float scale,
                                        q8_prefetch *pf)
{
    const __m512 s = _mm512_set1_ps(scale);
    size_t i = 0;
    for (; i + 64 <= len; i += 64) {
        q8_pf_some(pf, Q8_PF_DEQUANT);
        __m512 d[4];
        q8_dequant64(q + i, planes, s, d);
        for (int k = 0; k < 4; k++)
            _mm512_storeu_ps(x + i + 16 * k, d[k]);
    }
    dequant_portable(x + i, len - i, q + i, map, scale);
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

/* The element loops one call uses, decided once per call (per chunk in a
 * step) rather than per block: the VBMI byte-plane paths where the CPU has
 * them and isa allows (not capped, not DESCENT_Q8_NO_VBMI), else the widest
 * of AVX-512F, AVX2 and portable that isa allows. */
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

static void q8_dequantize(int path, char kind, float *x, size_t len, const unsigned char *codes, float scale,
                          q8_prefetch *pf)
{
    const float *map = descent_q8_map(kind);
#if DESCENT_HAVE_DISPATCH
    if (path == Q8_VBMI) {
        dequant_vbmi(x, len, codes, kind == 's' ? descent_q8_signed_map_planes : descent_q8_unsigned_map_planes, map,
                     scale, pf);
        return;
    }
    if (path == Q8_AVX512) {
        dequant_avx512(x, len, codes, map, scale);
        return;
    }
    if (path == Q8_AVX2) {
        dequant_avx2(x, len, codes, map, scale);
        return;
    }
#endif
    (void)path;
    (void)pf;
    dequant_portable(x, len, codes, map, scale);
}

void descent_q8_dequantize(char kind, float *x, size_t len, const unsigned char *codes, const float *absmax, int isa)
{
    q8_dequantize(q8_path(isa), kind, x, len, codes, *absmax, NULL);
}

/* The largest magnitude's bits (NaN above inf, absmax_bits) of x[0, len). */
static uint32_t q8_absmax_bits(int path, const float *x, size_t len)
{
#if DESCENT_HAVE_DISPATCH
    if (path >= Q8_AVX512)
        return absmax_bits_avx512(x, len);
    if (path == Q8_AVX2)
        return absmax_bits_avx2(x, len);
#endif
    (void)path;
    return absmax_bits(x, len);
}

/* The absmax a block keeps, from the bits of its largest magnitude. A state
 * value that overflowed f32 (exp_avg_sq of a gradient of 1e30:
 * (1 - beta2) g^2 = inf) saturates: the block's scale becomes FLT_MAX,
 * inf * (1 / FLT_MAX) = inf quantizes to the extreme code, which reads
 * back as +-FLT_MAX. With absmax = inf the scale 1 / inf = 0 would make
 * inf * 0 = NaN and every element of the block would read back as NaN
 * (inf * map[c]) from finite input. A NaN absmax stays NaN. */
static float q8_block_absmax(uint32_t maxbits)
{
    float amax;
    memcpy(&amax, &maxbits, sizeof amax);
    return amax == INFINITY ? FLT_MAX : amax;
}

/* The codes of x[0, len), part of a block whose absmax (q8_block_absmax)
 * is amax. A NaN absmax makes every y NaN, every code 0 (no midpoint
 * compares <= NaN), and the block reads back as NaN. */
static void q8_quantize_part(int path, char kind, const float *x, size_t len, unsigned char *codes, float amax,
                             q8_prefetch *pf)
{
    if (amax != amax) {
        memset(codes, 0, len);
        return;
    }
    const float *mid = kind == 's' ? descent_q8_signed_mid : descent_q8_unsigned_mid;
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
    int path = q8_path(isa);
    *absmax = q8_block_absmax(q8_absmax_bits(path, x, len));
    q8_quantize_part(path, kind, x, len, codes, *absmax, NULL);
}

/* One chunk: per block, dequantize the state, run the f32 kernel, quantize
 * it back. */
static void run_chunk_q8(const descent_optimizer *opt, const descent_chunk *c, int *nonfinite)
{
    const descent_tensor *t = &opt->tensors[c->tensor];
    const char *kinds = opt->algo->state_q8;
    const int ns = t->nstate, path = q8_path(opt->isa);
    _Alignas(DESCENT_ALIGN) float scratch[DESCENT_MAX_STATE][DESCENT_Q8_BLOCK];
    unsigned char *codes[DESCENT_MAX_STATE];
    float *absmax[DESCENT_MAX_STATE];
    descent_kernel_args a;
    descent_kernel_args_init(&a, opt, t, nonfinite);
    for (int k = 0; k < ns; k++) {
        codes[k] = t->state[k];
        absmax[k] = q8_absmax(t->state[k], t->n);
        a.state[k] = scratch[k];
    }
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
                for (int k = 0; k < ns; k++)
                    q8_pf_add(pf, codes[k], next, DESCENT_Q8_BLOCK);
                q8_pf_add(pf, param, next * sizeof(float), DESCENT_Q8_BLOCK * sizeof(float));
                q8_pf_add(pf, grad, next * sizeof(float), DESCENT_Q8_BLOCK * sizeof(float));
                unsigned lines = (2 * (unsigned)sizeof(float) + (unsigned)ns) * DESCENT_Q8_BLOCK / 64;
                unsigned units = (unsigned)ns * (DESCENT_Q8_BLOCK / 64) * (Q8_PF_DEQUANT + Q8_PF_QUANT) +
                                 DESCENT_Q8_BLOCK / Q8_KERNEL_PIECE * Q8_PF_KERNEL;
                pf->rate = (lines * 256 + units - 1) / units;
                pf->credit = 0;
            } else {
                DESCENT_PREFETCH_BLOCK(param, next, sizeof(float), DESCENT_Q8_BLOCK * sizeof(float), 0);
                DESCENT_PREFETCH_BLOCK(grad, next, sizeof(float), DESCENT_Q8_BLOCK * sizeof(float), 0);
                for (int k = 0; k < ns; k++)
                    DESCENT_PREFETCH_BLOCK(codes[k], next, 1, DESCENT_Q8_BLOCK, 0);
            }
        }
        for (int k = 0; k < ns; k++)
            q8_dequantize(path, kinds[k], scratch[k], len, codes[k] + b, absmax[k][b / DESCENT_Q8_BLOCK], pf);
        a.param = param + b;
        a.grad = grad + b;
        /* in pieces, prefetching between them; the kernel is element-wise */
        size_t piece = pf ? Q8_KERNEL_PIECE : len;
        for (size_t s = 0; s < len; s += piece) {
            a.begin = s;
            a.end = len - s < piece ? len : s + piece;
            q8_pf_some(pf, Q8_PF_KERNEL);
            opt->algo->kernel_f32(&a);
        }
        for (int k = 0; k < ns; k++) {
            float amax = q8_block_absmax(q8_absmax_bits(path, scratch[k], len));
            absmax[k][b / DESCENT_Q8_BLOCK] = amax;
            q8_quantize_part(path, kinds[k], scratch[k], len, codes[k] + b, amax, pf);
        }
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
