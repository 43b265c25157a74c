// NEON register tile of fgemm / fgemm_kn (CKernels.h, "Float matrix products"), run by the driver
// in fgemm.c: 4 rows of a x 16 columns of B in 16 accumulators; each step of k loads 16 values of
// the B panel (four vectors) and one value of each of the 4 rows, 16 fused multiply-adds. The
// f16 rows are widened with FCVTL (base AArch64; no FEAT_FP16 arithmetic).
#include "ck_internal.h"

typedef int ck_arm_neon_fgemm_translation_unit_not_empty;

#if defined(__aarch64__)

#include <arm_neon.h>

static void tile_4x16(int64_t kc, const float *a, int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc,
                      int accumulate) {
    float32x4_t acc[4][4];
    for (int t = 0; t < 4; ++t)
        for (int v = 0; v < 4; ++v) acc[t][v] = vdupq_n_f32(0.0f);
    for (int64_t k = 0; k < kc; ++k) {
        const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8), b3 = vld1q_f32(b + 12);
        b += ldb;
        for (int t = 0; t < 4; ++t) {
            const float32x4_t x = vld1q_dup_f32(a + t * lda + k);
            acc[t][0] = vfmaq_f32(acc[t][0], x, b0);
            acc[t][1] = vfmaq_f32(acc[t][1], x, b1);
            acc[t][2] = vfmaq_f32(acc[t][2], x, b2);
            acc[t][3] = vfmaq_f32(acc[t][3], x, b3);
        }
    }
    for (int t = 0; t < 4; ++t)
        for (int v = 0; v < 4; ++v) {
            float *o = c + t * ldc + 4 * v;
            vst1q_f32(o, accumulate ? vaddq_f32(vld1q_f32(o), acc[t][v]) : acc[t][v]);
        }
}

static void f16_to_f32(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(src + i))));
    for (; i < n; ++i) dst[i] = ck_h2f(src[i]);
}

static const ck_fgemm_ops ops = {4, 16, tile_4x16, f16_to_f32};
CK_DEFINE_FGEMM(ck_neon, ops)

#endif
