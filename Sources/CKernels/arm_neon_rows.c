// AArch64 Advanced SIMD row kernels (CKernels.h, "Row kernels"): max, exp-shift, GELU (tanh form),
// LayerNorm, add. ARMv8.0 only, so the neon and neon-dotprod sets share them. Elements past the
// last multiple of 4 go through the same vector code on a padded copy, so every element of a row
// gets the same arithmetic whatever its position.
//
// e^d: Cephes' expf, as x86_avx2_rows.c computes it (k = round(d log2 e), r = d - k ln 2 in two
// parts, e^r = 1 + r + r^2 p(r), times 2^k from its bits; 0 below -87.34, +infinity above 88).
#include "ck_internal.h"

typedef int ck_arm_neon_rows_translation_unit_not_empty;

#if defined(__aarch64__)

#include <arm_neon.h>
#include <math.h>

#define CK_INLINE static inline __attribute__((always_inline))

#define EXP_LO (-87.33654f)       // ln(FLT_MIN): 0 below (expf's results there are denormal)
#define EXP_HI 88.0f              // +infinity above (so that 2^k stays a normal float: k <= 127)

CK_INLINE float32x4_t exp4(float32x4_t d) {
    const float32x4_t lo = vdupq_n_f32(EXP_LO), hi = vdupq_n_f32(EXP_HI);
    const float32x4_t v = vminq_f32(vmaxq_f32(d, lo), hi);   // (a NaN d stays NaN here; put back below)
    const float32x4_t k = vrndnq_f32(vmulq_n_f32(v, 1.44269504088896341f));
    float32x4_t r = vfmsq_f32(v, k, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, k, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    const float32x4_t y = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), vmulq_f32(p, r), r);
    // k is in -126 ... 127 here (a NaN k converts to 0), so k + 127 is a normal exponent.
    const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(k), vdupq_n_s32(127)), 23);
    float32x4_t out = vmulq_f32(y, vreinterpretq_f32_s32(e));
    out = vbslq_f32(vcltq_f32(d, lo), vdupq_n_f32(0.0f), out);        // 0 below
    out = vbslq_f32(vcgtq_f32(d, hi), vdupq_n_f32(INFINITY), out);    // inf above
    return vbslq_f32(vceqq_f32(d, d), out, d);                        // NaN stays NaN
}

CK_INLINE float32x4_t load_tail(const float *x, int64_t m, float pad) {
    float t[4];
    for (int j = 0; j < 4; ++j) t[j] = j < m ? x[j] : pad;
    return vld1q_f32(t);
}

CK_INLINE void store_tail(float *x, int64_t m, float32x4_t v) {
    float t[4];
    vst1q_f32(t, v);
    for (int j = 0; j < m; ++j) x[j] = t[j];
}

float ck_neon_max_f32(int64_t n, const float *x) {
    float32x4_t m0 = vdupq_n_f32(-INFINITY), m1 = m0;
    int64_t i = 0;
    // vmaxnmq: a NaN element loses to a number, so NaNs are skipped (max(-inf, NaN) = -inf)
    for (; i + 8 <= n; i += 8) {
        m0 = vmaxnmq_f32(m0, vld1q_f32(x + i));
        m1 = vmaxnmq_f32(m1, vld1q_f32(x + i + 4));
    }
    for (; i + 4 <= n; i += 4) m0 = vmaxnmq_f32(m0, vld1q_f32(x + i));
    if (i < n) m1 = vmaxnmq_f32(m1, load_tail(x + i, n - i, -INFINITY));
    return vmaxnmvq_f32(vmaxnmq_f32(m0, m1));
}

// A masked score (-infinity) minus a finite shift is below EXP_LO, so it gives 0 with no test of
// its own; only a shift of -infinity (every score masked) needs the scalar reference's rule.
CK_INLINE float32x4_t exp_shift4(float32x4_t x, float32x4_t shift) { return exp4(vsubq_f32(x, shift)); }

float ck_neon_exp_shift(int64_t n, float *x, float shift) {
    if (shift == -INFINITY) return ck_scalar_exp_shift(n, x, shift);
    const float32x4_t sh = vdupq_n_f32(shift);
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float32x4_t e0 = exp_shift4(vld1q_f32(x + i), sh), e1 = exp_shift4(vld1q_f32(x + i + 4), sh);
        vst1q_f32(x + i, e0);
        vst1q_f32(x + i + 4, e1);
        s0 = vaddq_f32(s0, e0);
        s1 = vaddq_f32(s1, e1);
    }
    for (; i + 4 <= n; i += 4) {
        const float32x4_t e = exp_shift4(vld1q_f32(x + i), sh);
        vst1q_f32(x + i, e);
        s0 = vaddq_f32(s0, e);
    }
    if (i < n) {   // padding of -infinity contributes 0 to the sum
        const float32x4_t e = exp_shift4(load_tail(x + i, n - i, -INFINITY), sh);
        store_tail(x + i, n - i, e);
        s1 = vaddq_f32(s1, e);
    }
    return vaddvq_f32(vaddq_f32(s0, s1));
}

CK_INLINE float32x4_t gelu4(float32x4_t v) {
    const float32x4_t inner = vfmaq_f32(vdupq_n_f32(1.0f), vdupq_n_f32(CK_GELU_CUBIC), vmulq_f32(v, v));
    const float32x4_t arg = vmulq_n_f32(vmulq_f32(v, inner), CK_GELU_SCALE);
    return vdivq_f32(v, vaddq_f32(vdupq_n_f32(1.0f), exp4(arg)));
}

void ck_neon_gelu_tanh(int64_t n, float *x, const float *bias) {
    int64_t i = 0;
    if (bias) {
        for (; i + 4 <= n; i += 4) vst1q_f32(x + i, gelu4(vaddq_f32(vld1q_f32(x + i), vld1q_f32(bias + i))));
        if (i < n) store_tail(x + i, n - i, gelu4(vaddq_f32(load_tail(x + i, n - i, 0), load_tail(bias + i, n - i, 0))));
    } else {
        for (; i + 4 <= n; i += 4) vst1q_f32(x + i, gelu4(vld1q_f32(x + i)));
        if (i < n) store_tail(x + i, n - i, gelu4(load_tail(x + i, n - i, 0)));
    }
}

CK_INLINE float64x2_t sum_pd(float32x4_t v, float64x2_t acc) {
    acc = vaddq_f64(acc, vcvt_f64_f32(vget_low_f32(v)));
    return vaddq_f64(acc, vcvt_high_f64_f32(v));
}

void ck_neon_layer_norm(int64_t n, const float *x, const float *weight, const float *bias, float eps, float *out) {
    if (n <= 0) return;
    const int64_t m = n % 4, full = n - m;
    float64x2_t s0 = vdupq_n_f64(0.0), s1 = s0;
    int64_t i = 0;
    for (; i + 8 <= full; i += 8) {
        s0 = sum_pd(vld1q_f32(x + i), s0);
        s1 = sum_pd(vld1q_f32(x + i + 4), s1);
    }
    for (; i < full; i += 4) s0 = sum_pd(vld1q_f32(x + i), s0);
    if (m) s1 = sum_pd(load_tail(x + full, m, 0), s1);
    const float mean = (float)(vaddvq_f64(vaddq_f64(s0, s1)) / (double)n);
    const float32x4_t mv = vdupq_n_f32(mean);
    s0 = s1 = vdupq_n_f64(0.0);
    for (i = 0; i < full; i += 4) {
        const float32x4_t c = vsubq_f32(vld1q_f32(x + i), mv);
        s0 = sum_pd(vmulq_f32(c, c), s0);
    }
    if (m) {   // the padding is set to the mean, so it adds 0
        const float32x4_t c = vsubq_f32(load_tail(x + full, m, mean), mv);
        s1 = sum_pd(vmulq_f32(c, c), s1);
    }
    const float scale = 1.0f / sqrtf((float)(vaddvq_f64(vaddq_f64(s0, s1)) / (double)n) + eps);
    const float32x4_t one = vdupq_n_f32(1.0f), zero = vdupq_n_f32(0.0f);
    for (i = 0; i < n; i += 4) {
        const int64_t k = n - i < 4 ? n - i : 4;
        const float32x4_t xv = k == 4 ? vld1q_f32(x + i) : load_tail(x + i, k, 0);
        const float32x4_t wv = !weight ? one : k == 4 ? vld1q_f32(weight + i) : load_tail(weight + i, k, 0);
        const float32x4_t bv = !bias ? zero : k == 4 ? vld1q_f32(bias + i) : load_tail(bias + i, k, 0);
        const float32x4_t y = vfmaq_f32(bv, vmulq_n_f32(vsubq_f32(xv, mv), scale), wv);
        if (k == 4) vst1q_f32(out + i, y);
        else store_tail(out + i, k, y);
    }
}

void ck_neon_add_f32(int64_t n, float *y, const float *x, const float *b) {
    int64_t i = 0;
    if (b)
        for (; i + 4 <= n; i += 4)
            vst1q_f32(y + i, vaddq_f32(vld1q_f32(y + i), vaddq_f32(vld1q_f32(x + i), vld1q_f32(b + i))));
    else
        for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vaddq_f32(vld1q_f32(y + i), vld1q_f32(x + i)));
    for (; i < n; ++i) y[i] += b ? x[i] + b[i] : x[i];
}

#endif
