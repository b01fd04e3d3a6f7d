/* Matrix products for the models: CBLAS when the build has it, and a
 * cache-blocked kernel of our own. The own kernel packs a K-block of op(B)
 * into a contiguous panel, then updates four rows of C at a time, so every
 * panel row loaded serves four rows and the innermost loop runs over
 * contiguous memory (it vectorizes). Summation order is fixed: results do
 * not depend on alignment or on anything but the inputs. */
#include "models.h"

#include <stdlib.h>
#include <string.h>
#ifdef DESCENT_HAVE_CBLAS
#include <cblas.h>
#endif

#define KB 64   /* rows of the packed panel */
#define NB 256  /* its columns: a KB x NB panel (128 KiB in f64) stays in L2 */

/* Compiled for AVX-512, AVX2 and the baseline, picked at load time: the
 * element-wise loop gives the same bits on each (no FMA: -ffp-contract=off). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define GEMM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define GEMM_CLONES
#endif

#define DEFINE_GEMM(REAL, SFX)                                                                                   \
    GEMM_CLONES static void own_gemm_##SFX(bool ta, bool tb, size_t M, size_t N, size_t K, const REAL *A, size_t lda,      \
                               const REAL *B, size_t ldb, REAL beta, REAL *C, size_t ldc)                      \
    {                                                                                                          \
        for (size_t i = 0; i < M; i++) {                                                                       \
            REAL *c = C + i * ldc;                                                                             \
            if (beta == 0)                                                                                     \
                memset(c, 0, N * sizeof *c);                                                                   \
            else if (beta != 1)                                                                                \
                for (size_t j = 0; j < N; j++)                                                                 \
                    c[j] *= beta;                                                                              \
        }                                                                                                      \
        REAL panel[KB * NB];                                                                                   \
        for (size_t j0 = 0; j0 < N; j0 += NB) {                                                                \
            size_t nb = N - j0 < NB ? N - j0 : NB;                                                             \
            for (size_t k0 = 0; k0 < K; k0 += KB) {                                                            \
                size_t kb = K - k0 < KB ? K - k0 : KB;                                                         \
                /* panel[k][j] = op(B)[k0 + k][j0 + j] */                                                      \
                for (size_t k = 0; k < kb; k++)                                                                \
                    for (size_t j = 0; j < nb; j++)                                                            \
                        panel[k * nb + j] = tb ? B[(j0 + j) * ldb + k0 + k] : B[(k0 + k) * ldb + j0 + j];      \
                size_t i = 0;                                                                                  \
                for (; i + 4 <= M; i += 4) {                                                                   \
                    REAL *c0 = C + i * ldc + j0, *c1 = c0 + ldc, *c2 = c1 + ldc, *c3 = c2 + ldc;              \
                    for (size_t k = 0; k < kb; k++) {                                                          \
                        size_t kk = k0 + k;                                                                    \
                        REAL a0 = ta ? A[kk * lda + i] : A[i * lda + kk];                                      \
                        REAL a1 = ta ? A[kk * lda + i + 1] : A[(i + 1) * lda + kk];                            \
                        REAL a2 = ta ? A[kk * lda + i + 2] : A[(i + 2) * lda + kk];                            \
                        REAL a3 = ta ? A[kk * lda + i + 3] : A[(i + 3) * lda + kk];                            \
                        const REAL *b = panel + k * nb;                                                        \
                        for (size_t j = 0; j < nb; j++) {                                                      \
                            REAL bj = b[j];                                                                    \
                            c0[j] += a0 * bj;                                                                  \
                            c1[j] += a1 * bj;                                                                  \
                            c2[j] += a2 * bj;                                                                  \
                            c3[j] += a3 * bj;                                                                  \
                        }                                                                                      \
                    }                                                                                          \
                }                                                                                              \
                for (; i < M; i++) {                                                                           \
                    REAL *c0 = C + i * ldc + j0;                                                               \
                    for (size_t k = 0; k < kb; k++) {                                                          \
                        size_t kk = k0 + k;                                                                    \
                        REAL a0 = ta ? A[kk * lda + i] : A[i * lda + kk];                                      \
                        const REAL *b = panel + k * nb;                                                        \
                        for (size_t j = 0; j < nb; j++)                                                        \
                            c0[j] += a0 * b[j];                                                                \
                    }                                                                                          \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
    }

DEFINE_GEMM(double, f64)
DEFINE_GEMM(float, f32)

void descent_gemm_f64(bool use_blas, bool ta, bool tb, size_t M, size_t N, size_t K, const double *A, size_t lda,
                      const double *B, size_t ldb, double beta, double *C, size_t ldc)
{
    if (M == 0 || N == 0)
        return;
#ifdef DESCENT_HAVE_CBLAS
    if (use_blas && K > 0) {
        cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N,
                    (int)K, 1.0, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
        return;
    }
#else
    (void)use_blas;
#endif
    own_gemm_f64(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

void descent_gemm_f32(bool use_blas, bool ta, bool tb, size_t M, size_t N, size_t K, const float *A, size_t lda,
                      const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    if (M == 0 || N == 0)
        return;
#ifdef DESCENT_HAVE_CBLAS
    if (use_blas && K > 0) {
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N,
                    (int)K, 1.0f, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
        return;
    }
#else
    (void)use_blas;
#endif
    own_gemm_f32(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

int descent_blas_available(void)
{
#ifdef DESCENT_HAVE_CBLAS
    return 1;
#else
    return 0;
#endif
}
