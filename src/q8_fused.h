/* The step of an element-wise algorithm over 8-bit state, fused: the
 * dequantizer, the algorithm's own f32 element loop and the quantizer in
 * one loop, on CPUs with AVX-512 VBMI. An algorithm file defines
 *
 *     #define DESCENT_Q8_FUSED_NAME adam_kernel_q8
 *     #define DESCENT_Q8_FUSED_BODY(args) adam_body_f32(args, 1)
 *     #include "../q8_fused.h"
 *
 * (BODY an always-inline f32 kernel body, kernel_types.h) and names
 * DESCENT_Q8_FUSED_FN(adam_kernel_q8) as its table's kernel_q8, NULL in
 * builds without the dispatch. The result is that of src/q8state.c's
 * general path bit for bit: per block of DESCENT_Q8_BLOCK elements, the old
 * state dequantized, the element loop on it, the new state's absmax and its
 * codes. What changes is the order: 64 elements (a row) at a time, the
 * rows of block b + 1 dequantized and updated while the same rows of block
 * b are quantized (its absmax is known once all of it has run). The
 * quantizer is integer and shuffle work, the update mostly the divider (a
 * square root and a division per element), and the core overlaps the two
 * only when they share a loop: kernel calls per block left them
 * one after another (1.0 ns per parameter in cache where the f32 step
 * takes 0.33). Not installed. */
#include "q8_vbmi.h"

#if DESCENT_HAVE_DISPATCH
#define DESCENT_Q8_FUSED_FN(name) name
#else
#define DESCENT_Q8_FUSED_FN(name) NULL
#endif

#if DESCENT_HAVE_DISPATCH && defined(DESCENT_Q8_FUSED_NAME)
#define Q8F_PASTE_(a, b) a##_##b
#define Q8F_PASTE(a, b) Q8F_PASTE_(a, b)
#define Q8F(x) Q8F_PASTE(DESCENT_Q8_FUSED_NAME, x)

/* The codes of 64 values of a block (at x) whose absmax gives inv = 1 /
 * absmax; the binary search where the 16-bit keys tie (q8_vbmi.h). */
Q8_TARGET_VBMI DESCENT_INLINE void Q8F(quant_row)(const float *x, unsigned char *q, __m512 inv, const __m512i *l1,
                                                  const unsigned char *sub, int nsub, int is_signed, const float *mid,
                                                  int l1_min_exp)
{
    __m512i y[4], code;
    for (int j = 0; j < 4; j++)
        y[j] = _mm512_castps_si512(_mm512_mul_ps(_mm512_load_ps(x + 16 * j), inv));
    if (quant64_vbmi(y, &code, l1, sub, nsub, is_signed, l1_min_exp))
        quant_portable(x, 64, q, mid, _mm512_cvtss_f32(inv));
    else
        _mm512_storeu_si512((void *)q, code);
}

/* nf: the chunk's nonfinite flag or NULL, a constant in each copy (the
 * body then drops its test, DESCENT_NF_SPLIT). */
Q8_TARGET_VBMI DESCENT_INLINE void Q8F(run)(const descent_q8_chunk *c, int *nf)
{
    enum { B = DESCENT_Q8_BLOCK, ROW = 64 };
    _Alignas(64) float scratch[DESCENT_MAX_STATE][B];
    const int ns = c->nstate;
    const float *grad = c->args.grad;
    float *param = c->args.param;
    __m512i l1[2][2];
    for (int m = 0; m < 2; m++)
        for (int h = 0; h < 2; h++)
            l1[m][h] = _mm512_loadu_si512((const void *)(c->l1[m] + 32 * h));
    const __m512i abs_mask = _mm512_set1_epi32(0x7FFFFFFF);
    descent_kernel_args a = c->args;
    a.nonfinite = nf;
    a.begin = 0;
    a.end = ROW;
    /* the block waiting to be quantized: its absmax, and whether the VBMI
     * quantizer codes it (not for a NaN or subnormal absmax) */
    float prev_amax[DESCENT_MAX_STATE] = {0};
    __m512 prev_inv[DESCENT_MAX_STATE];
    int prev_vbmi[DESCENT_MAX_STATE] = {0};
    for (int k = 0; k < DESCENT_MAX_STATE; k++)
        prev_inv[k] = _mm512_set1_ps(1.0f);
    size_t prev = c->begin, prev_len = 0, len;
    for (size_t b = c->begin; b < c->end || prev_len > 0; b += len) {
        len = c->end - b < B ? c->end - b : B;
        /* The next block's rows, one row of each stream per row computed
         * (p and g 4 lines, each state's codes 1): the requests spread
         * evenly over the block. */
        uintptr_t pf_p = 0, pf_g = 0, pf_q[DESCENT_MAX_STATE] = {0};
        int pf = c->prefetch && b + 2 * (size_t)B <= c->end;
        if (pf) {
            pf_p = (uintptr_t)(param + b + B);
            pf_g = (uintptr_t)(grad + b + B);
            for (int k = 0; k < ns; k++)
                pf_q[k] = (uintptr_t)(c->codes[k] + b + B);
        }
        __m512 scale[DESCENT_MAX_STATE];
        __m512i acc[DESCENT_MAX_STATE];
        for (int k = 0; k < ns; k++) {
            scale[k] = _mm512_set1_ps(len ? c->absmax[k][b / B] : 0.0f);
            acc[k] = _mm512_setzero_si512();
        }
        size_t rows = len > prev_len ? len : prev_len;
        for (size_t r = 0; r < rows; r += ROW) {
            if (pf) {
                for (int l = 0; l < 4; l++) {
                    __builtin_prefetch((const void *)(pf_p + 4 * r + 64 * (size_t)l), 0, 3);
                    __builtin_prefetch((const void *)(pf_g + 4 * r + 64 * (size_t)l), 0, 3);
                }
                for (int k = 0; k < ns; k++)
                    __builtin_prefetch((const void *)(pf_q[k] + r), 0, 3);
            }
            if (r + ROW <= prev_len) {
                for (int k = 0; k < ns; k++) {
                    unsigned char *q = c->codes[k] + prev + r;
                    if (!prev_vbmi[k])
                        c->quantize(k ? 'u' : 's', scratch[k] + r, ROW, q, prev_amax[k]);
                    else if (k == 0)
                        Q8F(quant_row)(scratch[0] + r, q, prev_inv[0], l1[0], c->sub[0], 256, 1, c->mid[0],
                                       c->l1_min_exp);
                    else
                        Q8F(quant_row)(scratch[k] + r, q, prev_inv[k], l1[1], c->sub[1], 512, 0, c->mid[1],
                                       c->l1_min_exp);
                }
            } else if (r < prev_len) {
                for (int k = 0; k < ns; k++)
                    c->quantize(k ? 'u' : 's', scratch[k] + r, prev_len - r, c->codes[k] + prev + r, prev_amax[k]);
            }
            if (r + ROW <= len) {
                for (int k = 0; k < ns; k++) {
                    __m512 d[4];
                    q8_dequant64(c->codes[k] + b + r, c->planes[k ? 1 : 0], scale[k], d);
                    for (int j = 0; j < 4; j++)
                        _mm512_store_ps(scratch[k] + r + 16 * j, d[j]);
                    a.state[k] = scratch[k] + r;
                }
                a.param = param + b + r;
                a.grad = grad + b + r;
                DESCENT_Q8_FUSED_BODY(&a);
                for (int k = 0; k < ns; k++)
                    for (int j = 0; j < 4; j++)
                        acc[k] = _mm512_max_epu32(
                            acc[k], _mm512_and_si512(_mm512_load_si512((const void *)(scratch[k] + r + 16 * j)), abs_mask));
            } else if (r < len) { /* the tensor's last, partial row */
                descent_kernel_args t = c->args;
                t.begin = 0;
                t.end = len - r;
                t.param = param + b + r;
                t.grad = grad + b + r;
                for (int k = 0; k < ns; k++) {
                    c->dequantize(k ? 'u' : 's', scratch[k] + r, len - r, c->codes[k] + b + r, c->absmax[k][b / B]);
                    t.state[k] = scratch[k] + r;
                }
                c->kernel_f32(&t);
                for (int k = 0; k < ns; k++) {
                    const uint32_t *bits = (const uint32_t *)(const void *)(scratch[k] + r);
                    uint32_t m = 0;
                    for (size_t i = 0; i < len - r; i++)
                        m = (bits[i] & 0x7FFFFFFFu) > m ? bits[i] & 0x7FFFFFFFu : m;
                    acc[k] = _mm512_max_epu32(acc[k], _mm512_set1_epi32((int)m));
                }
            }
        }
        /* the new absmax (q8state.c q8_block_absmax: inf saturates at
         * FLT_MAX, NaN stays), and 1 / absmax for the quantizer */
        for (int k = 0; k < ns && len > 0; k++) {
            uint32_t m = _mm512_reduce_max_epu32(acc[k]);
            float amax;
            memcpy(&amax, &m, sizeof amax);
            amax = amax == INFINITY ? FLT_MAX : amax;
            c->absmax[k][b / B] = amax;
            prev_amax[k] = amax;
            float inv = 1.0f / (amax > 0.0f ? amax : 1.0f);
            prev_vbmi[k] = amax == amax && inv <= FLT_MAX;
            prev_inv[k] = _mm512_set1_ps(inv);
        }
        prev = b;
        prev_len = len;
    }
}

Q8_TARGET_VBMI static void DESCENT_Q8_FUSED_NAME(const descent_q8_chunk *c)
{
    if (c->args.nonfinite)
        Q8F(run)(c, c->args.nonfinite);
    else
        Q8F(run)(c, NULL);
}

#undef Q8F
#undef Q8F_PASTE
#undef Q8F_PASTE_
#endif
#undef DESCENT_Q8_FUSED_NAME
#undef DESCENT_Q8_FUSED_BODY
