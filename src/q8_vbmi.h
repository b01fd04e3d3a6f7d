/* The 8-bit state quantizer's inner loops that more than one file inlines:
 * the portable binary search, the prefetch pacing, and the AVX-512 VBMI
 * byte-plane lookups (src/q8state.c states the format; the fused
 * Adam-family step, src/q8_fused.h, runs them in the kernel's loop). Not
 * installed. */
#ifndef DESCENT_Q8_VBMI_H
#define DESCENT_Q8_VBMI_H

#include "kernels.h"

#include <stddef.h>
#include <stdint.h>

/* code_i = the largest j with mid[j] <= x_i * inv (mid[0] = -inf), where
 * inv = 1 / absmax rounded to f32 (a multiplication, not a division per
 * element: vdivps alone took half the quantization time): the
 * nearest code, a value on a midpoint going up; found by binary search. */
static inline void quant_portable(const float *x, size_t len, unsigned char *q, const float *mid, float inv)
{
    for (size_t i = 0; i < len; i++) {
        float y = x[i] * inv;
        int j = 0;
        for (int step = 128; step > 0; step >>= 1)
            j += y >= mid[j + step] ? step : 0;
        q[i] = (unsigned char)j;
    }
}

static inline void dequant_portable(float *x, size_t len, const unsigned char *q, const float *map, float scale)
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


/* map[code] * scale for the 64 codes at q, in 4 vectors of 16 (element
 * order); planes: the map's 4 byte planes of 256 entries. */
Q8_TARGET_VBMI static inline void q8_dequant64(const unsigned char *q, const unsigned char (*planes)[256], __m512 scale,
                                               __m512 out[4])
{
    __m512i c = _mm512_permutexvar_epi8(_mm512_loadu_si512((const void *)q8_unpack_order),
                                        _mm512_loadu_si512((const void *)q));
    __mmask64 bit7 = _mm512_movepi8_mask(c);
    __m512i b[4], d[4];
    for (int k = 0; k < 4; k++)
        b[k] = q8_lookup_mem(planes[k], 4, c, bit7, 0);
    q8_unpack(b, d);
    for (int k = 0; k < 4; k++)
        out[k] = _mm512_mul_ps(_mm512_castsi512_ps(d[k]), scale);
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
#endif

#endif
