// AArch64 Advanced SIMD rows_dot / rows_mix (CKernels.h, "KV cache rows") for F32 and F16 rows,
// the Q8_0 entries as loops over the row kernels, and round_f16. ARMv8.0 only (FCVTL for f16), so
// the neon and neon-dotprod sets share them.
//
// rows_dot: a tile of up to 4 queries x 2 rows keeps 8 accumulators; each 4-element slice of a row
// is loaded (and converted from f16) once for the 4 queries. rows_mix: a tile of up to 4 outputs x
// 16 elements stays in 16 registers while every row streams past, so the outputs are loaded and
// stored once per call. Elements past the last multiple of 4 are done in scalar code.
#include "ck_internal.h"

typedef int ck_arm_neon_attn_translation_unit_not_empty;

#if defined(__aarch64__)

#include <arm_neon.h>
#include <math.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define CK_INLINE static inline __attribute__((always_inline))

enum { QB = 4, RB = 2, VB = 4 };  // queries per tile, rows per rows_dot tile, vectors per rows_mix tile

CK_INLINE float32x4_t load_row(const uint8_t *p, int f16) {
    if (f16) return vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(p)));
    return vreinterpretq_f32_u8(vld1q_u8(p));
}

CK_INLINE float row_at(const uint8_t *row, int f16, int64_t e) {
    if (f16) {
        __fp16 h;
        memcpy(&h, row + 2 * e, 2);
        return (float)h;
    }
    return ck_rd_f32(row + 4 * e);
}

CK_INLINE void dot_tile(const int nq, const int nr, const int f16, int64_t n, const float *q, int64_t q_stride,
                        const uint8_t *row, size_t row_stride, float scale, float *s, int64_t s_stride) {
    const int esz = f16 ? 2 : 4;
    float32x4_t acc[QB][RB];
    for (int i = 0; i < nq; ++i)
        for (int r = 0; r < nr; ++r) acc[i][r] = vdupq_n_f32(0.0f);
    int64_t e = 0;
    for (; e + 4 <= n; e += 4) {
        float32x4_t k[RB];
        for (int r = 0; r < nr; ++r) k[r] = load_row(row + (size_t)r * row_stride + e * esz, f16);
        for (int i = 0; i < nq; ++i) {
            const float32x4_t qv = vld1q_f32(q + i * q_stride + e);
            for (int r = 0; r < nr; ++r) acc[i][r] = vfmaq_f32(acc[i][r], qv, k[r]);
        }
    }
    for (int i = 0; i < nq; ++i)
        for (int r = 0; r < nr; ++r) {
            float t = vaddvq_f32(acc[i][r]);
            for (int64_t x = e; x < n; ++x) t += row_at(row + (size_t)r * row_stride, f16, x) * q[i * q_stride + x];
            s[i * s_stride + r] = scale * t;
        }
}

CK_INLINE void mix_tile(const int nq, const int nv, const int f16, int64_t e0, const float *p, int64_t p_stride,
                        const uint8_t *rows, size_t row_stride, int64_t nrows, float *y, int64_t y_stride) {
    const int esz = f16 ? 2 : 4;
    float32x4_t acc[QB][VB];
    for (int i = 0; i < nq; ++i)
        for (int v = 0; v < nv; ++v) acc[i][v] = vld1q_f32(y + i * y_stride + e0 + 4 * v);
    const uint8_t *row = rows + e0 * esz;
    for (int64_t j = 0; j < nrows; ++j, row += row_stride) {
        float32x4_t k[VB];
        for (int v = 0; v < nv; ++v) k[v] = load_row(row + 4 * v * esz, f16);
        for (int i = 0; i < nq; ++i) {
            const float pj = p[i * p_stride + j];
            for (int v = 0; v < nv; ++v) acc[i][v] = vfmaq_n_f32(acc[i][v], k[v], pj);
        }
    }
    for (int i = 0; i < nq; ++i)
        for (int v = 0; v < nv; ++v) vst1q_f32(y + i * y_stride + e0 + 4 * v, acc[i][v]);
}

CK_INLINE void mix_span(const int nq, const int f16, int64_t n, const float *p, int64_t p_stride, const uint8_t *rows,
                        size_t row_stride, int64_t nrows, float *y, int64_t y_stride) {
    int64_t e = 0;
    for (; e + 4 * VB <= n; e += 4 * VB) mix_tile(nq, VB, f16, e, p, p_stride, rows, row_stride, nrows, y, y_stride);
    for (; e + 4 <= n; e += 4) mix_tile(nq, 1, f16, e, p, p_stride, rows, row_stride, nrows, y, y_stride);
    for (; e < n; ++e)
        for (int i = 0; i < nq; ++i) {
            float t = y[i * y_stride + e];
            for (int64_t j = 0; j < nrows; ++j) t = fmaf(p[i * p_stride + j], row_at(rows + (size_t)j * row_stride, f16, e), t);
            y[i * y_stride + e] = t;
        }
}

#define CK_ATTN_ATTR
#define CK_ATTN_PREFIX ck_neon
#include "ck_attn_blocks.h"

CK_DEFINE_ROWS_LOOPS(ck_neon_q8_0, ck_neon_row_dot_q8_0, ck_neon_row_axpy_q8_0)

void ck_neon_round_f16(float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(x + i, vcvt_f32_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    for (; i < n; ++i) x[i] = ck_h2f(ck_f2h(x[i]));
}

#endif
