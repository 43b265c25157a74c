// AVX2 rows_dot / rows_mix (CKernels.h, "KV cache rows") for F32 and F16 rows, the Q8_0 entries
// as loops over the row kernels, and round_f16. Nothing here runs unless ck_cpu_features()
// reported CK_CPU_AVX2 (AVX2 + FMA + F16C).
//
// rows_dot: a tile of up to 4 queries x 2 rows keeps 8 accumulators; each 8-element slice of a row
// is loaded (and converted from f16) once for the 4 queries. rows_mix: a tile of up to 4 outputs x
// 16 elements stays in 8 registers while every row streams past, so the outputs are loaded and
// stored once per call. Elements past the last multiple of 8 are done in scalar code.
#include "ck_internal.h"

typedef int ck_x86_avx2_attn_translation_unit_not_empty;

#if defined(__x86_64__)

#include <immintrin.h>
#include <math.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define CK_AVX2 __attribute__((target("avx2,fma,f16c")))
#define CK_INLINE static inline __attribute__((always_inline))

enum { QB = 4, RB = 2, VB = 2 };  // queries per tile, rows per rows_dot tile, vectors per rows_mix tile

CK_AVX2 CK_INLINE __m256 load_row(const uint8_t *p, int f16) {
    if (f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    return _mm256_loadu_ps((const float *)p);
}

CK_AVX2 CK_INLINE float row_at(const uint8_t *row, int f16, int64_t e) {
    return f16 ? _cvtsh_ss(ck_rd_u16(row + 2 * e)) : ck_rd_f32(row + 4 * e);
}

CK_AVX2 CK_INLINE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

CK_AVX2 CK_INLINE void dot_tile(const int nq, const int nr, const int f16, int64_t n, const float *q, int64_t q_stride,
                                const uint8_t *row, size_t row_stride, float scale, float *s, int64_t s_stride) {
    const int esz = f16 ? 2 : 4;
    __m256 acc[QB][RB];
    for (int i = 0; i < nq; ++i)
        for (int r = 0; r < nr; ++r) acc[i][r] = _mm256_setzero_ps();
    int64_t e = 0;
    for (; e + 8 <= n; e += 8) {
        __m256 k[RB];
        for (int r = 0; r < nr; ++r) k[r] = load_row(row + (size_t)r * row_stride + e * esz, f16);
        for (int i = 0; i < nq; ++i) {
            const __m256 qv = _mm256_loadu_ps(q + i * q_stride + e);
            for (int r = 0; r < nr; ++r) acc[i][r] = _mm256_fmadd_ps(qv, k[r], acc[i][r]);
        }
    }
    for (int i = 0; i < nq; ++i)
        for (int r = 0; r < nr; ++r) {
            float t = hsum(acc[i][r]);
            for (int64_t x = e; x < n; ++x) t += row_at(row + (size_t)r * row_stride, f16, x) * q[i * q_stride + x];
            s[i * s_stride + r] = scale * t;
        }
}

CK_AVX2 CK_INLINE void mix_tile(const int nq, const int nv, const int f16, int64_t e0, const float *p, int64_t p_stride,
                                const uint8_t *rows, size_t row_stride, int64_t nrows, float *y, int64_t y_stride) {
    const int esz = f16 ? 2 : 4;
    __m256 acc[QB][VB];
    for (int i = 0; i < nq; ++i)
        for (int v = 0; v < nv; ++v) acc[i][v] = _mm256_loadu_ps(y + i * y_stride + e0 + 8 * v);
    const uint8_t *row = rows + e0 * esz;
    for (int64_t j = 0; j < nrows; ++j, row += row_stride) {
        __m256 k[VB];
        for (int v = 0; v < nv; ++v) k[v] = load_row(row + 8 * v * esz, f16);
        for (int i = 0; i < nq; ++i) {
            const __m256 pb = _mm256_set1_ps(p[i * p_stride + j]);
            for (int v = 0; v < nv; ++v) acc[i][v] = _mm256_fmadd_ps(pb, k[v], acc[i][v]);
        }
    }
    for (int i = 0; i < nq; ++i)
        for (int v = 0; v < nv; ++v) _mm256_storeu_ps(y + i * y_stride + e0 + 8 * v, acc[i][v]);
}

CK_AVX2 CK_INLINE void mix_span(const int nq, const int f16, int64_t n, const float *p, int64_t p_stride,
                                const uint8_t *rows, size_t row_stride, int64_t nrows, float *y, int64_t y_stride) {
    int64_t e = 0;
    for (; e + 8 * VB <= n; e += 8 * VB) mix_tile(nq, VB, f16, e, p, p_stride, rows, row_stride, nrows, y, y_stride);
    for (; e + 8 <= n; e += 8) mix_tile(nq, 1, f16, e, p, p_stride, rows, row_stride, nrows, y, y_stride);
    for (; e < n; ++e)
        for (int i = 0; i < nq; ++i) {
            float t = y[i * y_stride + e];
            for (int64_t j = 0; j < nrows; ++j) t = fmaf(p[i * p_stride + j], row_at(rows + (size_t)j * row_stride, f16, e), t);
            y[i * y_stride + e] = t;
        }
}

#define CK_ATTN_ATTR CK_AVX2
#define CK_ATTN_PREFIX ck_avx2
#include "ck_attn_blocks.h"

CK_DEFINE_ROWS_LOOPS(ck_avx2_q8_0, ck_avx2_row_dot_q8_0, ck_avx2_row_axpy_q8_0)

CK_AVX2 void ck_avx2_round_f16(float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; ++i) x[i] = ck_h2f(ck_f2h(x[i]));
}

#endif
