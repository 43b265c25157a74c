// AArch64 Advanced SIMD kernels, ARMv8.0 baseline (Cortex-A53/A72 class: no SDOT).
//
// Integer dot products multiply int8 lanes into int16 (vmull/vmlal) and widen pairwise into int32
// (vpadal). Sums of products stay exact in int16 because activation quants are in [-127, 127]:
// two products for Q8_0 weights (|w| <= 128), four products for every weight of magnitude <= 64
// (all the 4/5/6-bit types). Unaligned data is loaded through byte loads (vld1q_u8).
//
// q4_0, q5_0, q8_0, q4_K, q5_K, q6_K add their exact block sums in the float order of ck_internal.h,
// as the gemm microkernels do, so both give bit for bit the same results.
#include "ck_internal.h"

typedef int ck_arm_neon_translation_unit_not_empty;

#if defined(__aarch64__)

#include <arm_neon.h>
#include <math.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

// ---- helpers -------------------------------------------------------------------------------------

static inline float h2f(const uint8_t *p) {
    __fp16 h;
    memcpy(&h, p, 2);
    return (float)h;
}

static inline int8x16_t ld_s8(const void *p) { return vreinterpretq_s8_u8(vld1q_u8((const uint8_t *)p)); }
static inline float32x4_t ld_f32(const void *p) { return vreinterpretq_f32_u8(vld1q_u8((const uint8_t *)p)); }

// two int8 products per int16 lane (needs |w*a| <= 16383.5 per pair: |a| <= 127, |w| <= 128)
static inline int32x4_t dot16x2(int32x4_t acc, int8x16_t w, int8x16_t a) {
    int16x8_t p = vmull_s8(vget_low_s8(w), vget_low_s8(a));
    p = vmlal_high_s8(p, w, a);
    return vpadalq_s16(acc, p);
}

// 32 products, four per int16 lane (|w| <= 64, |a| <= 127) -> int16x8
static inline int16x8_t dot32x4_i16(int8x16_t w0, int8x16_t a0, int8x16_t w1, int8x16_t a1) {
    int16x8_t p = vmull_s8(vget_low_s8(w0), vget_low_s8(a0));
    p = vmlal_high_s8(p, w0, a0);
    p = vmlal_s8(p, vget_low_s8(w1), vget_low_s8(a1));
    return vmlal_high_s8(p, w1, a1);
}

// 16 products, two per int16 lane -> int16x8
static inline int16x8_t dot16x2_i16(int8x16_t w, int8x16_t a) {
    const int16x8_t p = vmull_s8(vget_low_s8(w), vget_low_s8(a));
    return vmlal_high_s8(p, w, a);
}

// acc += scale * (sum of the 8 int16 lanes, widened)
static inline int32x4_t scale_acc(int32x4_t acc, int16x8_t p, int16_t scale) {
    acc = vmlal_n_s16(acc, vget_low_s16(p), scale);
    return vmlal_high_n_s16(acc, p, scale);
}

// 32 bits -> two vectors of 16 bytes, 0xFF where bit i is set (element i <- bit i).
static inline void bits_to_bytes32(const uint8_t *qh, uint8x16_t *m0, uint8x16_t *m1) {
    static const uint8_t idx0[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    static const uint8_t idx1[16] = {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
    static const uint8_t bits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t tab = vcombine_u8(vcreate_u8((uint64_t)ck_rd_u32(qh)), vdup_n_u8(0));
    const uint8x16_t sel = vld1q_u8(bits);
    *m0 = vtstq_u8(vqtbl1q_u8(tab, vld1q_u8(idx0)), sel);
    *m1 = vtstq_u8(vqtbl1q_u8(tab, vld1q_u8(idx1)), sel);
}

// ---- float rows ----------------------------------------------------------------------------------

float ck_neon_dot_f32(int64_t n, const float *x, const float *y) {
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = vfmaq_f32(a0, vld1q_f32(x + i), vld1q_f32(y + i));
        a1 = vfmaq_f32(a1, vld1q_f32(x + i + 4), vld1q_f32(y + i + 4));
        a2 = vfmaq_f32(a2, vld1q_f32(x + i + 8), vld1q_f32(y + i + 8));
        a3 = vfmaq_f32(a3, vld1q_f32(x + i + 12), vld1q_f32(y + i + 12));
    }
    for (; i + 4 <= n; i += 4) a0 = vfmaq_f32(a0, vld1q_f32(x + i), vld1q_f32(y + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; ++i) s += x[i] * y[i];
    return s;
}

void ck_neon_axpy_f32(int64_t n, float a, const float *x, float *y) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
        vst1q_f32(y + i + 4, vfmaq_n_f32(vld1q_f32(y + i + 4), vld1q_f32(x + i + 4), a));
    }
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
    for (; i < n; ++i) y[i] = fmaf(a, x[i], y[i]);
}

float ck_neon_vec_dot_f32(int64_t n, const void *w, const void *a) {
    const uint8_t *pw = w, *pa = a;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = vfmaq_f32(a0, ld_f32(pw + 4 * i), ld_f32(pa + 4 * i));
        a1 = vfmaq_f32(a1, ld_f32(pw + 4 * i + 16), ld_f32(pa + 4 * i + 16));
        a2 = vfmaq_f32(a2, ld_f32(pw + 4 * i + 32), ld_f32(pa + 4 * i + 32));
        a3 = vfmaq_f32(a3, ld_f32(pw + 4 * i + 48), ld_f32(pa + 4 * i + 48));
    }
    for (; i + 4 <= n; i += 4) a0 = vfmaq_f32(a0, ld_f32(pw + 4 * i), ld_f32(pa + 4 * i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; ++i) s += ck_rd_f32(pw + 4 * i) * ck_rd_f32(pa + 4 * i);
    return s;
}

float ck_neon_vec_dot_f16(int64_t n, const void *w, const void *a) {
    const uint8_t *pw = w, *pa = a;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const float16x8_t h0 = vreinterpretq_f16_u8(vld1q_u8(pw + 2 * i));
        const float16x8_t h1 = vreinterpretq_f16_u8(vld1q_u8(pw + 2 * i + 16));
        a0 = vfmaq_f32(a0, vcvt_f32_f16(vget_low_f16(h0)), ld_f32(pa + 4 * i));
        a1 = vfmaq_f32(a1, vcvt_high_f32_f16(h0), ld_f32(pa + 4 * i + 16));
        a2 = vfmaq_f32(a2, vcvt_f32_f16(vget_low_f16(h1)), ld_f32(pa + 4 * i + 32));
        a3 = vfmaq_f32(a3, vcvt_high_f32_f16(h1), ld_f32(pa + 4 * i + 48));
    }
    for (; i + 4 <= n; i += 4) {
        const float16x4_t h = vreinterpret_f16_u8(vld1_u8(pw + 2 * i));
        a0 = vfmaq_f32(a0, vcvt_f32_f16(h), ld_f32(pa + 4 * i));
    }
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; ++i) s += h2f(pw + 2 * i) * ck_rd_f32(pa + 4 * i);
    return s;
}

static inline float32x4_t bf16_lo(uint16x8_t v) { return vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(v), 16)); }
static inline float32x4_t bf16_hi(uint16x8_t v) { return vreinterpretq_f32_u32(vshll_high_n_u16(v, 16)); }

float ck_neon_vec_dot_bf16(int64_t n, const void *w, const void *a) {
    const uint8_t *pw = w, *pa = a;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const uint16x8_t h0 = vreinterpretq_u16_u8(vld1q_u8(pw + 2 * i));
        const uint16x8_t h1 = vreinterpretq_u16_u8(vld1q_u8(pw + 2 * i + 16));
        a0 = vfmaq_f32(a0, bf16_lo(h0), ld_f32(pa + 4 * i));
        a1 = vfmaq_f32(a1, bf16_hi(h0), ld_f32(pa + 4 * i + 16));
        a2 = vfmaq_f32(a2, bf16_lo(h1), ld_f32(pa + 4 * i + 32));
        a3 = vfmaq_f32(a3, bf16_hi(h1), ld_f32(pa + 4 * i + 48));
    }
    for (; i + 4 <= n; i += 4) {
        const uint16x4_t h = vreinterpret_u16_u8(vld1_u8(pw + 2 * i));
        a0 = vfmaq_f32(a0, vreinterpretq_f32_u32(vshll_n_u16(h, 16)), ld_f32(pa + 4 * i));
    }
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; ++i) s += ck_bf2f(ck_rd_u16(pw + 2 * i)) * ck_rd_f32(pa + 4 * i);
    return s;
}

// ---- 32-element block types ----------------------------------------------------------------------

// One block's int32 partial sums (exact); the vec_dots add the blocks in the float order of
// ck_internal.h (two chains in chunks of CK_CHAIN_BLOCKS), as the gemm microkernels do.
static inline int32x4_t blk_q8_0(const ck_block_q8_0 *x, const ck_block_q8_0 *y) {
    return dot16x2(dot16x2(vdupq_n_s32(0), ld_s8(x->qs), ld_s8(y->qs)), ld_s8(x->qs + 16), ld_s8(y->qs + 16));
}
static inline int32x4_t blk_q4_0(const ck_block_q4_0 *x, const ck_block_q8_0 *y) {
    const uint8x16_t b = vld1q_u8(x->qs);
    const int8x16_t l = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(0x0F))), vdupq_n_s8(8));
    const int8x16_t h = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b, 4)), vdupq_n_s8(8));
    return vpaddlq_s16(dot32x4_i16(l, ld_s8(y->qs), h, ld_s8(y->qs + 16)));
}
// (nibble | (bit ? 0 : 0xF0)) as int8 == nibble + 16*bit - 16
static inline int32x4_t blk_q5_0(const ck_block_q5_0 *x, const ck_block_q8_0 *y) {
    uint8x16_t hb0, hb1;
    bits_to_bytes32(x->qh, &hb0, &hb1);
    const uint8x16_t b = vld1q_u8(x->qs), f0 = vdupq_n_u8(0xF0);
    const int8x16_t l = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(b, vdupq_n_u8(0x0F)), vbicq_u8(f0, hb0)));
    const int8x16_t h = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(b, 4), vbicq_u8(f0, hb1)));
    return vpaddlq_s16(dot32x4_i16(l, ld_s8(y->qs), h, ld_s8(y->qs + 16)));
}

float ck_neon_vec_dot_q8_0(int64_t n, const void *w, const void *a) {
    const ck_block_q8_0 *x = w;
    const ck_block_q8_0 *y = a;
    const int64_t nb = n / CK_QK;
    float f = 0.0f;
    for (int64_t c0 = 0; c0 < nb; c0 += CK_CHAIN_BLOCKS) {   // the float order of ck_internal.h
        const int64_t c1 = c0 + CK_CHAIN_BLOCKS < nb ? c0 + CK_CHAIN_BLOCKS : nb;
        float e = 0.0f, o = 0.0f;
        int64_t i = c0;
        for (; i + 2 <= c1; i += 2) {
            e = fmaf((float)vaddvq_s32(blk_q8_0(&x[i], &y[i])), h2f(x[i].d) * h2f(y[i].d), e);
            o = fmaf((float)vaddvq_s32(blk_q8_0(&x[i + 1], &y[i + 1])), h2f(x[i + 1].d) * h2f(y[i + 1].d), o);
        }
        if (i < c1) e = fmaf((float)vaddvq_s32(blk_q8_0(&x[i], &y[i])), h2f(x[i].d) * h2f(y[i].d), e);
        f += e + o;
    }
    return f;
}

float ck_neon_vec_dot_q4_0(int64_t n, const void *w, const void *a) {
    const ck_block_q4_0 *x = w;
    const ck_block_q8_0 *y = a;
    const int64_t nb = n / CK_QK;
    float f = 0.0f;
    for (int64_t c0 = 0; c0 < nb; c0 += CK_CHAIN_BLOCKS) {   // the float order of ck_internal.h
        const int64_t c1 = c0 + CK_CHAIN_BLOCKS < nb ? c0 + CK_CHAIN_BLOCKS : nb;
        float e = 0.0f, o = 0.0f;
        int64_t i = c0;
        for (; i + 2 <= c1; i += 2) {
            e = fmaf((float)vaddvq_s32(blk_q4_0(&x[i], &y[i])), h2f(x[i].d) * h2f(y[i].d), e);
            o = fmaf((float)vaddvq_s32(blk_q4_0(&x[i + 1], &y[i + 1])), h2f(x[i + 1].d) * h2f(y[i + 1].d), o);
        }
        if (i < c1) e = fmaf((float)vaddvq_s32(blk_q4_0(&x[i], &y[i])), h2f(x[i].d) * h2f(y[i].d), e);
        f += e + o;
    }
    return f;
}

float ck_neon_vec_dot_q4_1(int64_t n, const void *w, const void *a) {
    const ck_block_q4_1 *x = w;
    const ck_block_q8_1 *y = a;
    const int64_t nb = n / CK_QK;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float32x4_t acc = vdupq_n_f32(0.0f);
    const int32x4_t z = vdupq_n_s32(0);
    float summs = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        const uint8x16_t b = vld1q_u8(x[i].qs);
        const int8x16_t l = vreinterpretq_s8_u8(vandq_u8(b, m4)), h = vreinterpretq_s8_u8(vshrq_n_u8(b, 4));
        const int32x4_t s = vpadalq_s16(z, dot32x4_i16(l, ld_s8(y[i].qs), h, ld_s8(y[i].qs + 16)));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(s), h2f(x[i].d) * h2f(y[i].d));
        summs += h2f(x[i].m) * h2f(y[i].s);
    }
    return vaddvq_f32(acc) + summs;
}

float ck_neon_vec_dot_q5_0(int64_t n, const void *w, const void *a) {
    const ck_block_q5_0 *x = w;
    const ck_block_q8_0 *y = a;
    const int64_t nb = n / CK_QK;
    float f = 0.0f;
    for (int64_t c0 = 0; c0 < nb; c0 += CK_CHAIN_BLOCKS) {   // the float order of ck_internal.h
        const int64_t c1 = c0 + CK_CHAIN_BLOCKS < nb ? c0 + CK_CHAIN_BLOCKS : nb;
        float e = 0.0f, o = 0.0f;
        int64_t i = c0;
        for (; i + 2 <= c1; i += 2) {
            e = fmaf((float)vaddvq_s32(blk_q5_0(&x[i], &y[i])), h2f(x[i].d) * h2f(y[i].d), e);
            o = fmaf((float)vaddvq_s32(blk_q5_0(&x[i + 1], &y[i + 1])), h2f(x[i + 1].d) * h2f(y[i + 1].d), o);
        }
        if (i < c1) e = fmaf((float)vaddvq_s32(blk_q5_0(&x[i], &y[i])), h2f(x[i].d) * h2f(y[i].d), e);
        f += e + o;
    }
    return f;
}

float ck_neon_vec_dot_q5_1(int64_t n, const void *w, const void *a) {
    const ck_block_q5_1 *x = w;
    const ck_block_q8_1 *y = a;
    const int64_t nb = n / CK_QK;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), b4 = vdupq_n_u8(0x10);
    float32x4_t acc = vdupq_n_f32(0.0f);
    const int32x4_t z = vdupq_n_s32(0);
    float summs = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        uint8x16_t hb0, hb1;
        bits_to_bytes32(x[i].qh, &hb0, &hb1);
        const uint8x16_t b = vld1q_u8(x[i].qs);
        const int8x16_t l = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(b, m4), vandq_u8(hb0, b4)));
        const int8x16_t h = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(b, 4), vandq_u8(hb1, b4)));
        const int32x4_t s = vpadalq_s16(z, dot32x4_i16(l, ld_s8(y[i].qs), h, ld_s8(y[i].qs + 16)));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(s), h2f(x[i].d) * h2f(y[i].d));
        summs += h2f(x[i].m) * h2f(y[i].s);
    }
    return vaddvq_f32(acc) + summs;
}

// ---- K-quants ------------------------------------------------------------------------------------

// sum_j mins[j] * (bsums[2j] + bsums[2j+1])
static inline int32_t k_min_sum(const uint8_t *mins8, const uint8_t *bsums) {
    const int16x8_t b0 = vreinterpretq_s16_u8(vld1q_u8(bsums)), b1 = vreinterpretq_s16_u8(vld1q_u8(bsums + 16));
    const int16x8_t bp = vpaddq_s16(b0, b1);   // b0+b1, b2+b3, ..., b14+b15
    const int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mins8)));
    int32x4_t s = vmull_s16(vget_low_s16(bp), vget_low_s16(m));
    s = vmlal_high_s16(s, bp, m);
    return vaddvq_s32(s);
}

float ck_neon_vec_dot_q4_K(int64_t n, const void *w, const void *a) {
    const ck_block_q4_K *x = w;
    const ck_block_q8_K *y = a;
    const int64_t nb = n / CK_QKK;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float f = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        uint8_t sm[16];
        ck_k4_scales_u32(x[i].scales, sm);
        const float yd = ck_rd_f32(y[i].d);
        const int32_t summ = k_min_sum(sm + 8, y[i].bsums);
        const uint8_t *q = x[i].qs;
        const int8_t *q8 = y[i].qs;
        int32x4_t acc = vdupq_n_s32(0);
        for (int c = 0; c < 4; ++c, q += 32, q8 += 64) {
            const uint8x16_t b0 = vld1q_u8(q), b1 = vld1q_u8(q + 16);
            const int8x16_t l0 = vreinterpretq_s8_u8(vandq_u8(b0, m4)), l1 = vreinterpretq_s8_u8(vandq_u8(b1, m4));
            const int8x16_t h0 = vreinterpretq_s8_u8(vshrq_n_u8(b0, 4)), h1 = vreinterpretq_s8_u8(vshrq_n_u8(b1, 4));
            acc = scale_acc(acc, dot32x4_i16(l0, ld_s8(q8), l1, ld_s8(q8 + 16)), sm[2 * c]);
            acc = scale_acc(acc, dot32x4_i16(h0, ld_s8(q8 + 32), h1, ld_s8(q8 + 48)), sm[2 * c + 1]);
        }
        f = fmaf((float)vaddvq_s32(acc), h2f(x[i].d) * yd, f);
        f = fmaf(-(float)summ, h2f(x[i].dmin) * yd, f);
    }
    return f;
}

float ck_neon_vec_dot_q5_K(int64_t n, const void *w, const void *a) {
    const ck_block_q5_K *x = w;
    const ck_block_q8_K *y = a;
    const int64_t nb = n / CK_QKK;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), b4 = vdupq_n_u8(0x10);
    float f = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        uint8_t sm[16];
        ck_k4_scales_u32(x[i].scales, sm);
        const float yd = ck_rd_f32(y[i].d);
        const int32_t summ = k_min_sum(sm + 8, y[i].bsums);
        const uint8_t *q = x[i].qs;
        const int8_t *q8 = y[i].qs;
        uint8x16_t qh0 = vld1q_u8(x[i].qh), qh1 = vld1q_u8(x[i].qh + 16);
        int32x4_t acc = vdupq_n_s32(0);
        for (int c = 0; c < 4; ++c, q += 32, q8 += 64) {
            const uint8x16_t b0 = vld1q_u8(q), b1 = vld1q_u8(q + 16);
            const int8x16_t l0 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(b0, m4), vandq_u8(vshlq_n_u8(qh0, 4), b4)));
            const int8x16_t l1 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(b1, m4), vandq_u8(vshlq_n_u8(qh1, 4), b4)));
            const int8x16_t h0 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(b0, 4), vandq_u8(vshlq_n_u8(qh0, 3), b4)));
            const int8x16_t h1 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(b1, 4), vandq_u8(vshlq_n_u8(qh1, 3), b4)));
            qh0 = vshrq_n_u8(qh0, 2);
            qh1 = vshrq_n_u8(qh1, 2);
            acc = scale_acc(acc, dot32x4_i16(l0, ld_s8(q8), l1, ld_s8(q8 + 16)), sm[2 * c]);
            acc = scale_acc(acc, dot32x4_i16(h0, ld_s8(q8 + 32), h1, ld_s8(q8 + 48)), sm[2 * c + 1]);
        }
        f = fmaf((float)vaddvq_s32(acc), h2f(x[i].d) * yd, f);
        f = fmaf(-(float)summ, h2f(x[i].dmin) * yd, f);
    }
    return f;
}

float ck_neon_vec_dot_q6_K(int64_t n, const void *w, const void *a) {
    const ck_block_q6_K *x = w;
    const ck_block_q8_K *y = a;
    const int64_t nb = n / CK_QKK;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m30 = vdupq_n_u8(0x30);
    const int8x16_t s32 = vdupq_n_s8(32);
    float f = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales, *q8 = y[i].qs;
        int32x4_t acc = vdupq_n_s32(0);
        for (int h = 0; h < 2; ++h, ql += 64, qh += 32, sc += 8, q8 += 128) {
            const uint8x16_t h0 = vld1q_u8(qh), h1 = vld1q_u8(qh + 16);
            const uint8x16_t la = vld1q_u8(ql), lb = vld1q_u8(ql + 16), lc = vld1q_u8(ql + 32), ld = vld1q_u8(ql + 48);
            int8x16_t q[8];
            q[0] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(la, m4), vandq_u8(vshlq_n_u8(h0, 4), m30)));
            q[1] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(lb, m4), vandq_u8(vshlq_n_u8(h1, 4), m30)));
            q[2] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(lc, m4), vandq_u8(vshlq_n_u8(h0, 2), m30)));
            q[3] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(ld, m4), vandq_u8(vshlq_n_u8(h1, 2), m30)));
            q[4] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(la, 4), vandq_u8(h0, m30)));
            q[5] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(lb, 4), vandq_u8(h1, m30)));
            q[6] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(lc, 4), vandq_u8(vshrq_n_u8(h0, 2), m30)));
            q[7] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(ld, 4), vandq_u8(vshrq_n_u8(h1, 2), m30)));
            for (int k = 0; k < 8; ++k) acc = scale_acc(acc, dot16x2_i16(vsubq_s8(q[k], s32), ld_s8(q8 + 16 * k)), sc[k]);
        }
        f = fmaf((float)vaddvq_s32(acc), h2f(x[i].d) * ck_rd_f32(y[i].d), f);
    }
    return f;
}

// ---- activation quantisers (same bytes as the scalar reference) ----------------------------------

static inline int8x8_t narrow_s32x8(int32x4_t a, int32x4_t b) {
    return vqmovn_s16(vcombine_s16(vqmovn_s32(a), vqmovn_s32(b)));
}

// One 32-element block: quants into qs; returns d; *sum gets the sum of quants when asked.
static inline float quantize_block32(const float *x, int8_t *qs, int *sum) {
    float32x4_t v[8];
    for (int k = 0; k < 8; ++k) v[k] = ld_f32(x + 4 * k);
    float32x4_t m = vabsq_f32(v[0]);
    for (int k = 1; k < 8; ++k) m = vmaxq_f32(m, vabsq_f32(v[k]));
    const float amax = vmaxvq_f32(m);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int32x4_t q[8];
    for (int k = 0; k < 8; ++k) q[k] = vcvtq_s32_f32(vrndaq_f32(vmulq_n_f32(v[k], id)));   // roundf
    if (sum) {
        int32x4_t s = vaddq_s32(vaddq_s32(q[0], q[1]), vaddq_s32(q[2], q[3]));
        s = vaddq_s32(s, vaddq_s32(vaddq_s32(q[4], q[5]), vaddq_s32(q[6], q[7])));
        *sum = vaddvq_s32(s);
    }
    for (int k = 0; k < 4; ++k) vst1_s8(qs + 8 * k, narrow_s32x8(q[2 * k], q[2 * k + 1]));
    return d;
}

void ck_neon_quantize_q8_0(const float *x, void *vy, int64_t n) {
    ck_block_q8_0 *y = vy;
    const int64_t nb = n / CK_QK;
    for (int64_t i = 0; i < nb; ++i, x += CK_QK) {
        const float d = quantize_block32(x, y[i].qs, NULL);
        ck_wr_u16(y[i].d, ck_f2h(d));
    }
}

void ck_neon_quantize_q8_1(const float *x, void *vy, int64_t n) {
    ck_block_q8_1 *y = vy;
    const int64_t nb = n / CK_QK;
    for (int64_t i = 0; i < nb; ++i, x += CK_QK) {
        int sum = 0;
        const float d = quantize_block32(x, y[i].qs, &sum);
        ck_wr_u16(y[i].d, ck_f2h(d));
        ck_wr_u16(y[i].s, ck_f2h((float)sum * d));
    }
}

void ck_neon_quantize_q8_K(const float *x, void *vy, int64_t n) {
    ck_block_q8_K *y = vy;
    const int64_t nb = n / CK_QKK;
    const int32x4_t lim = vdupq_n_s32(127);
    for (int64_t i = 0; i < nb; ++i, x += CK_QKK) {
        float32x4_t m = vdupq_n_f32(0.0f);
        for (int j = 0; j < CK_QKK; j += 4) m = vmaxq_f32(m, vabsq_f32(ld_f32(x + j)));
        const float amax = vmaxvq_f32(m);
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof(y[i]));
            continue;
        }
        float max = 0.0f;   // the signed value of the first element reaching amax (the scalar loop's choice)
        for (int j = 0; j < CK_QKK; ++j) {
            if (fabsf(x[j]) == amax) { max = x[j]; break; }
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < CK_QKK; j += 16) {
            int32x4_t q[4];
            for (int k = 0; k < 4; ++k)   // vcvtn: round to nearest even, as nearest_int()
                q[k] = vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(ld_f32(x + j + 4 * k), iscale)), lim);
            vst1_s8(y[i].qs + j, narrow_s32x8(q[0], q[1]));
            vst1_s8(y[i].qs + j + 8, narrow_s32x8(q[2], q[3]));
            ck_wr_i16(y[i].bsums + 2 * (j / 16), (int16_t)vaddvq_s32(vaddq_s32(vaddq_s32(q[0], q[1]), vaddq_s32(q[2], q[3]))));
        }
        ck_wr_f32(y[i].d, 1.0f / iscale);
    }
}

void ck_neon_quantize_f16(const float *x, void *vy, int64_t n) {
    uint8_t *y = vy;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float16x8_t h = vcombine_f16(vcvt_f16_f32(ld_f32(x + i)), vcvt_f16_f32(ld_f32(x + i + 4)));
        vst1q_u8(y + 2 * i, vreinterpretq_u8_f16(h));
    }
    for (; i < n; ++i) ck_wr_u16(y + 2 * i, ck_f2h(x[i]));
}

void ck_neon_quantize_bf16(const float *x, void *vy, int64_t n) {
    uint8_t *y = vy;
    const uint32x4_t absm = vdupq_n_u32(0x7FFFFFFF), inf = vdupq_n_u32(0x7F800000);
    const uint32x4_t one = vdupq_n_u32(1), bias = vdupq_n_u32(0x7FFF), q = vdupq_n_u32(64);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint16x4_t r[2];
        for (int k = 0; k < 2; ++k) {
            const uint32x4_t u = vreinterpretq_u32_u8(vld1q_u8((const uint8_t *)(x + i + 4 * k)));
            const uint32x4_t isnan = vcgtq_u32(vandq_u32(u, absm), inf);
            const uint32x4_t rounded = vshrq_n_u32(vaddq_u32(u, vaddq_u32(bias, vandq_u32(vshrq_n_u32(u, 16), one))), 16);
            const uint32x4_t quiet = vorrq_u32(vshrq_n_u32(u, 16), q);
            r[k] = vmovn_u32(vbslq_u32(isnan, quiet, rounded));
        }
        vst1q_u8(y + 2 * i, vreinterpretq_u8_u16(vcombine_u16(r[0], r[1])));
    }
    for (; i < n; ++i) ck_wr_u16(y + 2 * i, ck_f2bf(x[i]));
}

// ---- KV cache rows -------------------------------------------------------------------------------

// 16 int8 quants -> four vectors of 4 floats.
static inline void q8x16_to_f32(int8x16_t q, float32x4_t f[4]) {
    const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q);
    f[0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo)));
    f[1] = vcvtq_f32_s32(vmovl_high_s16(lo));
    f[2] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi)));
    f[3] = vcvtq_f32_s32(vmovl_high_s16(hi));
}

float ck_neon_row_dot_q8_0(int64_t n, const void *row, const void *x) {
    const ck_block_q8_0 *b = row;
    const uint8_t *px = x;
    const int64_t nb = n / CK_QK;
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < nb; ++i, px += 4 * CK_QK) {
        float32x4_t f[8];
        q8x16_to_f32(vld1q_s8(b[i].qs), f);
        q8x16_to_f32(vld1q_s8(b[i].qs + 16), f + 4);
        float32x4_t p0 = vmulq_f32(f[0], ld_f32(px)), p1 = vmulq_f32(f[1], ld_f32(px + 16));
        p0 = vfmaq_f32(p0, f[2], ld_f32(px + 32));
        p1 = vfmaq_f32(p1, f[3], ld_f32(px + 48));
        p0 = vfmaq_f32(p0, f[4], ld_f32(px + 64));
        p1 = vfmaq_f32(p1, f[5], ld_f32(px + 80));
        p0 = vfmaq_f32(p0, f[6], ld_f32(px + 96));
        p1 = vfmaq_f32(p1, f[7], ld_f32(px + 112));
        acc = vfmaq_n_f32(acc, vaddq_f32(p0, p1), h2f(b[i].d));
    }
    return vaddvq_f32(acc);
}

void ck_neon_row_axpy_f32(int64_t n, float a, const void *row, float *y) {
    const uint8_t *p = row;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), ld_f32(p + 4 * i), a));
    for (; i < n; ++i) y[i] = fmaf(a, ck_rd_f32(p + 4 * i), y[i]);
}

void ck_neon_row_axpy_f16(int64_t n, float a, const void *row, float *y) {
    const uint8_t *p = row;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float16x8_t h = vreinterpretq_f16_u8(vld1q_u8(p + 2 * i));
        vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vcvt_f32_f16(vget_low_f16(h)), a));
        vst1q_f32(y + i + 4, vfmaq_n_f32(vld1q_f32(y + i + 4), vcvt_high_f32_f16(h), a));
    }
    for (; i < n; ++i) y[i] = fmaf(a, h2f(p + 2 * i), y[i]);
}

void ck_neon_row_axpy_q8_0(int64_t n, float a, const void *row, float *y) {
    const ck_block_q8_0 *b = row;
    const int64_t nb = n / CK_QK;
    for (int64_t i = 0; i < nb; ++i, y += CK_QK) {
        const float ad = a * h2f(b[i].d);
        float32x4_t f[8];
        q8x16_to_f32(vld1q_s8(b[i].qs), f);
        q8x16_to_f32(vld1q_s8(b[i].qs + 16), f + 4);
        for (int k = 0; k < 8; ++k) vst1q_f32(y + 4 * k, vfmaq_n_f32(vld1q_f32(y + 4 * k), f[k], ad));
    }
}

#endif
