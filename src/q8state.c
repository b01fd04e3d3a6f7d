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

void descent_q8_init(const descent_optimizer *opt, descent_tensor *t)
{
    for (int k = 0; k < t->nstate; k++) {
        memset(t->state[k], zero_code(opt->algo->state_q8[k]), t->n);
        memset(q8_absmax(t->state[k], t->n), 0, q8_blocks(t->n) * sizeof(float));
    }
}

/* The element loops, in portable C and with AVX2 / AVX-512F intrinsics
 * (gathers, which gcc will not emit for the portable loops under its generic
 * tuning). All paths do the same IEEE multiplications and comparisons, so they give
 * the same codes. */

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

#if DESCENT_HAVE_DISPATCH
#include <immintrin.h>

DESCENT_TARGET_AVX2 static void quant_avx2(const float *x, size_t len, unsigned char *q, const float *mid, float inv)
{
    const __m256 d = _mm256_set1_ps(inv);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        __m256 y = _mm256_mul_ps(_mm256_loadu_ps(x + i), d);
        /* The top four levels of the search without gathers: 16 times the
         * number of k in 1..15 with mid[16 k] <= y (the mids ascend). */
        __m256i j = _mm256_setzero_si256();
        for (int k = 1; k < 16; k++) {
            __m256i ge = _mm256_castps_si256(_mm256_cmp_ps(y, _mm256_set1_ps(mid[16 * k]), _CMP_GE_OQ));
            j = _mm256_add_epi32(j, _mm256_and_si256(ge, _mm256_set1_epi32(16)));
        }
        for (int step = 8; step > 0; step >>= 1) {
            __m256i probe = _mm256_add_epi32(j, _mm256_set1_epi32(step));
            __m256 t = _mm256_i32gather_ps(mid, probe, 4);
            __m256i ge = _mm256_castps_si256(_mm256_cmp_ps(y, t, _CMP_GE_OQ));
            j = _mm256_add_epi32(j, _mm256_and_si256(ge, _mm256_set1_epi32(step)));
        }
        /* 8 int32 codes < 256 to 8 bytes */
        __m128i lo = _mm256_castsi256_si128(j), hi = _mm256_extracti128_si256(j, 1);
        __m128i w = _mm_packus_epi32(lo, hi);
        __m128i b = _mm_packus_epi16(w, w);
        _mm_storel_epi64((__m128i *)(void *)(q + i), b);
    }
    quant_portable(x + i, len - i, q + i, mid, inv);
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
                                               float inv)
{
    /* The binary search probes mid[j + st] from j, a multiple of 2 st: the
     * thresholds of step st are T_st[i] = mid[2 st i + st], i = j / (2 st). */
    _Alignas(64) float tab[128];
    __m512 small[5]; /* st = 128, 64, 32, 16, 8: at most 16 thresholds each */
    for (int l = 0, st = 128; st >= 8; l++, st >>= 1) {
        for (int i = 0; i < 16; i++)
            tab[i] = mid[(2 * st * i + st) & 255];
        small[l] = _mm512_load_ps(tab);
    }
    lut512 t4, t2, t1;
    for (int i = 0; i < 32; i++)
        tab[i] = mid[8 * i + 4];
    lut_load(&t4, tab, 32);
    for (int i = 0; i < 64; i++)
        tab[i] = mid[4 * i + 2];
    lut_load(&t2, tab, 64);
    for (int i = 0; i < 128; i++)
        tab[i] = mid[2 * i + 1];
    lut_load(&t1, tab, 128);
    const __m512 d = _mm512_set1_ps(inv);
    size_t i = 0;
    for (; i + 16 <= len; i += 16) {
        __m512 y = _mm512_mul_ps(_mm512_loadu_ps(x + i), d);
        __m512i j = _mm512_setzero_si512();
        for (int l = 0, st = 128; st >= 8; l++, st >>= 1) {
            __m512 thr = _mm512_permutexvar_ps(_mm512_srli_epi32(j, 8 - l), small[l]);
            __mmask16 ge = _mm512_cmp_ps_mask(y, thr, _CMP_GE_OQ);
            j = _mm512_mask_add_epi32(j, ge, j, _mm512_set1_epi32(st));
        }
        __mmask16 ge = _mm512_cmp_ps_mask(y, lut_get(&t4, _mm512_srli_epi32(j, 3), 0), _CMP_GE_OQ);
        j = _mm512_mask_add_epi32(j, ge, j, _mm512_set1_epi32(4));
        ge = _mm512_cmp_ps_mask(y, lut_get(&t2, _mm512_srli_epi32(j, 2), 1), _CMP_GE_OQ);
        j = _mm512_mask_add_epi32(j, ge, j, _mm512_set1_epi32(2));
        ge = _mm512_cmp_ps_mask(y, lut_get(&t1, _mm512_srli_epi32(j, 1), 2), _CMP_GE_OQ);
        j = _mm512_mask_add_epi32(j, ge, j, _mm512_set1_epi32(1));
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
#endif

const float *descent_q8_map(char kind)
{
    return kind == 's' ? descent_q8_signed_map : descent_q8_unsigned_map;
}

void descent_q8_dequantize(char kind, float *x, size_t len, const unsigned char *codes, const float *absmax, int isa)
{
    const float *map = descent_q8_map(kind);
#if DESCENT_HAVE_DISPATCH
    if (isa >= DESCENT_ISA_AVX512) {
        dequant_avx512(x, len, codes, map, *absmax);
        return;
    }
    if (isa == DESCENT_ISA_AVX2) {
        dequant_avx2(x, len, codes, map, *absmax);
        return;
    }
#endif
    (void)isa;
    dequant_portable(x, len, codes, map, *absmax);
}

void descent_q8_quantize(char kind, const float *x, size_t len, unsigned char *codes, float *absmax, int isa)
{
    const float *mid = kind == 's' ? descent_q8_signed_mid : descent_q8_unsigned_mid;
#if DESCENT_HAVE_DISPATCH
    float amax = isa >= DESCENT_ISA_AVX512 ? block_absmax_avx512(x, len) : block_absmax(x, len);
#else
    float amax = block_absmax(x, len);
#endif
    /* A state value that overflowed f32 (exp_avg_sq of a gradient of 1e30:
     * (1 - beta2) g^2 = inf) saturates: the block's scale becomes FLT_MAX,
     * inf * (1 / FLT_MAX) = inf quantizes to the extreme code, which reads
     * back as +-FLT_MAX. With absmax = inf the scale 1 / inf = 0 would make
     * inf * 0 = NaN and every element of the block would read back as NaN
     * (inf * map[c]) from finite input. A NaN absmax stays NaN. */
    if (amax == INFINITY)
        amax = FLT_MAX;
    float inv = 1.0f / (amax > 0.0f ? amax : 1.0f);
    *absmax = amax;
#if DESCENT_HAVE_DISPATCH
    if (isa >= DESCENT_ISA_AVX512) {
        quant_avx512(x, len, codes, mid, inv);
        return;
    }
    if (isa == DESCENT_ISA_AVX2) {
        quant_avx2(x, len, codes, mid, inv);
        return;
    }
#endif
    (void)isa;
    quant_portable(x, len, codes, mid, inv);
}

void descent_run_chunk_q8(const descent_optimizer *opt, const descent_chunk *c, int *nonfinite)
{
    const descent_tensor *t = &opt->tensors[c->tensor];
    const char *kinds = opt->algo->state_q8;
    _Alignas(DESCENT_ALIGN) float scratch[DESCENT_MAX_STATE][DESCENT_Q8_BLOCK];
    for (size_t b = c->begin; b < c->end; b += DESCENT_Q8_BLOCK) {
        size_t len = c->end - b < DESCENT_Q8_BLOCK ? c->end - b : DESCENT_Q8_BLOCK;
        for (int k = 0; k < t->nstate; k++)
            descent_q8_dequantize(kinds[k], scratch[k], len, (const unsigned char *)t->state[k] + b,
                                  q8_absmax(t->state[k], t->n) + b / DESCENT_Q8_BLOCK, opt->isa);
        descent_kernel_args a;
        a.coeffs = t->coeffs;
        a.begin = 0;
        a.end = len;
        a.param = (float *)t->param + b;
        a.grad = (const float *)descent_utils_grad(t) + b; /* the accumulated mean under accumulation */
        for (int k = 0; k < DESCENT_MAX_STATE; k++)
            a.state[k] = k < t->nstate ? scratch[k] : NULL;
        a.isa = opt->isa;
        a.nonfinite = nonfinite;
        opt->algo->kernel_f32(&a);
        for (int k = 0; k < t->nstate; k++)
            descent_q8_quantize(kinds[k], scratch[k], len, (unsigned char *)t->state[k] + b,
                                q8_absmax(t->state[k], t->n) + b / DESCENT_Q8_BLOCK, opt->isa);
    }
}

void descent_q8_put(descent_writer *w, const void *buf, size_t n)
{
    const unsigned char *codes = buf;
    for (size_t i = 0; i < n; i++)
        descent_put_u(w, codes[i], 1);
    const float *absmax = q8_absmax_const(buf, n);
    for (size_t b = 0; b < q8_blocks(n); b++) {
        uint32_t u;
        memcpy(&u, &absmax[b], sizeof u);
        descent_put_u(w, u, 4);
    }
}

void descent_q8_get(descent_reader *r, void *buf, size_t n)
{
    unsigned char *codes = buf;
    for (size_t i = 0; i < n; i++)
        codes[i] = (unsigned char)descent_get_u(r, 1);
    float *absmax = q8_absmax(buf, n);
    for (size_t b = 0; b < q8_blocks(n); b++) {
        uint32_t u = (uint32_t)descent_get_u(r, 4);
        memcpy(&absmax[b], &u, sizeof u);
    }
}
