// AVX2 register tile of fgemm / fgemm_kn (CKernels.h, "Float matrix products"), run by the driver
// in fgemm.c: 6 rows of a x 16 columns of B in 12 accumulators; each step of k loads 16 values of
// the B panel (two vectors) and broadcasts one value of each of the 6 rows, 12 fused
// multiply-adds. Nothing here runs unless ck_cpu_features() reported CK_CPU_AVX2.
#include "ck_internal.h"

typedef int ck_x86_avx2_fgemm_translation_unit_not_empty;

#if defined(__x86_64__)

#include <immintrin.h>

#define CK_AVX2 __attribute__((target("avx2,fma,f16c")))

CK_AVX2 static void tile_6x16(int64_t kc, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                              int64_t ldc, int accumulate) {
    __m256 c0l = _mm256_setzero_ps(), c0h = _mm256_setzero_ps(), c1l = _mm256_setzero_ps(), c1h = _mm256_setzero_ps();
    __m256 c2l = _mm256_setzero_ps(), c2h = _mm256_setzero_ps(), c3l = _mm256_setzero_ps(), c3h = _mm256_setzero_ps();
    __m256 c4l = _mm256_setzero_ps(), c4h = _mm256_setzero_ps(), c5l = _mm256_setzero_ps(), c5h = _mm256_setzero_ps();
    const float *a0 = a, *a1 = a + lda, *a2 = a + 2 * lda, *a3 = a + 3 * lda, *a4 = a + 4 * lda, *a5 = a + 5 * lda;
    for (int64_t k = 0; k < kc; ++k) {
        const __m256 bl = _mm256_loadu_ps(b), bh = _mm256_loadu_ps(b + 8);
        b += ldb;
        __m256 x = _mm256_broadcast_ss(a0 + k);
        c0l = _mm256_fmadd_ps(x, bl, c0l), c0h = _mm256_fmadd_ps(x, bh, c0h);
        x = _mm256_broadcast_ss(a1 + k);
        c1l = _mm256_fmadd_ps(x, bl, c1l), c1h = _mm256_fmadd_ps(x, bh, c1h);
        x = _mm256_broadcast_ss(a2 + k);
        c2l = _mm256_fmadd_ps(x, bl, c2l), c2h = _mm256_fmadd_ps(x, bh, c2h);
        x = _mm256_broadcast_ss(a3 + k);
        c3l = _mm256_fmadd_ps(x, bl, c3l), c3h = _mm256_fmadd_ps(x, bh, c3h);
        x = _mm256_broadcast_ss(a4 + k);
        c4l = _mm256_fmadd_ps(x, bl, c4l), c4h = _mm256_fmadd_ps(x, bh, c4h);
        x = _mm256_broadcast_ss(a5 + k);
        c5l = _mm256_fmadd_ps(x, bl, c5l), c5h = _mm256_fmadd_ps(x, bh, c5h);
    }
    __m256 lo[6] = {c0l, c1l, c2l, c3l, c4l, c5l}, hi[6] = {c0h, c1h, c2h, c3h, c4h, c5h};
    for (int t = 0; t < 6; ++t) {
        float *o = c + t * ldc;
        if (accumulate) {
            lo[t] = _mm256_add_ps(_mm256_loadu_ps(o), lo[t]);
            hi[t] = _mm256_add_ps(_mm256_loadu_ps(o + 8), hi[t]);
        }
        _mm256_storeu_ps(o, lo[t]);
        _mm256_storeu_ps(o + 8, hi[t]);
    }
}

CK_AVX2 static void f16_to_f32(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; ++i) dst[i] = _cvtsh_ss(src[i]);
}

static const ck_fgemm_ops ops = {6, 16, tile_6x16, f16_to_f32};
CK_DEFINE_FGEMM(ck_avx2, ops)

#endif
