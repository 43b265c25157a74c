// AVX-512 rows_dot / rows_mix (CKernels.h, "KV cache rows") for F32 and F16 rows: many queries
// against many stored rows, 16 floats per vector. Nothing here runs unless ck_cpu_features()
// reported CK_CPU_AVX512 (the avx512vnni set).
//
// rows_dot: a tile of up to 4 queries x 2 rows keeps 8 accumulators; each 16-element slice of a
// row is loaded (and converted from f16) once for the 4 queries. rows_mix: a tile of up to 4
// outputs x 64 elements stays in 16 registers while every row streams past, so the outputs are
// loaded and stored once per call. Tails use masked loads and stores, never reading past a row.
#include "ck_internal.h"

typedef int ck_x86_avx512_attn_translation_unit_not_empty;

#if defined(__x86_64__)

#include <immintrin.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define CK_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define CK_INLINE static inline __attribute__((always_inline))

enum { QB = 4, RB = 2, VB = 4 };  // queries per tile, rows per rows_dot tile, vectors per rows_mix tile

// 16 elements of a row (f16 or f32) from byte address p, as floats; `m` masks a tail.
CK_AVX512 CK_INLINE __m512 load_row(const uint8_t *p, int f16, __mmask16 m) {
    if (f16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_maskz_loadu_ps(m, p);
}

// s[i][r] = scale * dot(query i, row r) for i < nq, r < nr.
CK_AVX512 CK_INLINE void dot_tile(const int nq, const int nr, const int f16, int64_t n, const float *q, int64_t q_stride,
                                  const uint8_t *row, size_t row_stride, float scale, float *s, int64_t s_stride) {
    const int esz = f16 ? 2 : 4;
    __m512 acc[QB][RB];
    for (int i = 0; i < nq; ++i)
        for (int r = 0; r < nr; ++r) acc[i][r] = _mm512_setzero_ps();
    for (int64_t e = 0; e < n; e += 16) {
        const __mmask16 m = n - e >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - e)) - 1);
        __m512 k[RB];
        for (int r = 0; r < nr; ++r) k[r] = load_row(row + (size_t)r * row_stride + e * esz, f16, m);
        for (int i = 0; i < nq; ++i) {
            const __m512 qv = _mm512_maskz_loadu_ps(m, q + i * q_stride + e);
            for (int r = 0; r < nr; ++r) acc[i][r] = _mm512_fmadd_ps(qv, k[r], acc[i][r]);
        }
    }
    for (int i = 0; i < nq; ++i)
        for (int r = 0; r < nr; ++r) s[i * s_stride + r] = scale * _mm512_reduce_add_ps(acc[i][r]);
}

CK_AVX512 CK_INLINE void mix_tile(const int nq, const int nv, const int f16, int64_t e0, __mmask16 m, const float *p,
                                  int64_t p_stride, const uint8_t *rows, size_t row_stride, int64_t nrows, float *y,
                                  int64_t y_stride) {
    const int esz = f16 ? 2 : 4;
    __m512 acc[QB][VB];
    for (int i = 0; i < nq; ++i)
        for (int v = 0; v < nv; ++v)
            acc[i][v] = _mm512_maskz_loadu_ps(v == nv - 1 ? m : 0xFFFF, y + i * y_stride + e0 + 16 * v);
    const uint8_t *row = rows + e0 * esz;
    for (int64_t j = 0; j < nrows; ++j, row += row_stride) {
        __m512 k[VB];
        for (int v = 0; v < nv; ++v) k[v] = load_row(row + 16 * v * esz, f16, v == nv - 1 ? m : 0xFFFF);
        for (int i = 0; i < nq; ++i) {
            const __m512 pb = _mm512_set1_ps(p[i * p_stride + j]);
            for (int v = 0; v < nv; ++v) acc[i][v] = _mm512_fmadd_ps(pb, k[v], acc[i][v]);
        }
    }
    for (int i = 0; i < nq; ++i)
        for (int v = 0; v < nv; ++v)
            _mm512_mask_storeu_ps(y + i * y_stride + e0 + 16 * v, v == nv - 1 ? m : 0xFFFF, acc[i][v]);
}

CK_AVX512 CK_INLINE void mix_span(const int nq, const int f16, int64_t n, const float *p, int64_t p_stride,
                                  const uint8_t *rows, size_t row_stride, int64_t nrows, float *y, int64_t y_stride) {
    int64_t e = 0;
    for (; e + 16 * VB <= n; e += 16 * VB)
        mix_tile(nq, VB, f16, e, 0xFFFF, p, p_stride, rows, row_stride, nrows, y, y_stride);
    for (; e < n; e += 16) {
        const __mmask16 m = n - e >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - e)) - 1);
        mix_tile(nq, 1, f16, e, m, p, p_stride, rows, row_stride, nrows, y, y_stride);
    }
}

#define CK_ATTN_ATTR CK_AVX512
#define CK_ATTN_PREFIX ck_avx512
#include "ck_attn_blocks.h"

#endif
