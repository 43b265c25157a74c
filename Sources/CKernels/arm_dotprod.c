// AArch64 ARMv8.2 dot-product kernels (SDOT, vdotq_s32): the integer dot products of the quantised
// types. Float rows and the activation quantisers come from arm_neon.c. Every function carries
// target("arch=armv8.2-a+dotprod") (the spelling gcc 12 and clang both accept); nothing here runs
// unless ck_cpu_features() reported CK_CPU_DOTPROD.
//
// q4_0, q5_0, q8_0, q4_K, q5_K, q6_K add their exact block sums in the float order of ck_internal.h,
// as the gemm microkernels do, so both give bit for bit the same results.
#include "ck_internal.h"

typedef int ck_arm_dotprod_translation_unit_not_empty;

#if defined(__aarch64__)

#include <arm_neon.h>
#include <math.h>

#define CK_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))

CK_DOTPROD static inline float h2f(const uint8_t *p) {
    __fp16 h;
    memcpy(&h, p, 2);
    return (float)h;
}

CK_DOTPROD static inline int8x16_t ld_s8(const void *p) { return vreinterpretq_s8_u8(vld1q_u8((const uint8_t *)p)); }

// 32 int8 products -> int32x4 (exact for any int8 inputs)
CK_DOTPROD static inline int32x4_t dot32(int32x4_t acc, int8x16_t w0, int8x16_t a0, int8x16_t w1, int8x16_t a1) {
    return vdotq_s32(vdotq_s32(acc, w0, a0), w1, a1);
}

CK_DOTPROD static inline void bits_to_bytes32(const uint8_t *qh, uint8x16_t *m0, uint8x16_t *m1) {
    static const uint8_t idx0[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    static const uint8_t idx1[16] = {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
    static const uint8_t bits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t tab = vcombine_u8(vcreate_u8((uint64_t)ck_rd_u32(qh)), vdup_n_u8(0));
    const uint8x16_t sel = vld1q_u8(bits);
    *m0 = vtstq_u8(vqtbl1q_u8(tab, vld1q_u8(idx0)), sel);
    *m1 = vtstq_u8(vqtbl1q_u8(tab, vld1q_u8(idx1)), sel);
}

// One block's int32 partial sums (exact); the vec_dots add the blocks in the float order of
// ck_internal.h (two chains in chunks of CK_CHAIN_BLOCKS), as the gemm microkernels do.
CK_DOTPROD static inline int32x4_t blk_q8_0(const ck_block_q8_0 *x, const ck_block_q8_0 *y) {
    return dot32(vdupq_n_s32(0), ld_s8(x->qs), ld_s8(y->qs), ld_s8(x->qs + 16), ld_s8(y->qs + 16));
}
CK_DOTPROD static inline int32x4_t blk_q4_0(const ck_block_q4_0 *x, const ck_block_q8_0 *y) {
    const uint8x16_t b = vld1q_u8(x->qs);
    const int8x16_t l = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(0x0F))), vdupq_n_s8(8));
    const int8x16_t h = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b, 4)), vdupq_n_s8(8));
    return dot32(vdupq_n_s32(0), l, ld_s8(y->qs), h, ld_s8(y->qs + 16));
}
CK_DOTPROD static inline int32x4_t blk_q5_0(const ck_block_q5_0 *x, const ck_block_q8_0 *y) {
    uint8x16_t hb0, hb1;
    bits_to_bytes32(x->qh, &hb0, &hb1);
    const uint8x16_t b = vld1q_u8(x->qs), f0 = vdupq_n_u8(0xF0);
    const int8x16_t l = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(b, vdupq_n_u8(0x0F)), vbicq_u8(f0, hb0)));
    const int8x16_t h = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(b, 4), vbicq_u8(f0, hb1)));
    return dot32(vdupq_n_s32(0), l, ld_s8(y->qs), h, ld_s8(y->qs + 16));
}

CK_DOTPROD float ck_dotprod_vec_dot_q8_0(int64_t n, const void *w, const void *a) {
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

CK_DOTPROD float ck_dotprod_vec_dot_q4_0(int64_t n, const void *w, const void *a) {
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

CK_DOTPROD float ck_dotprod_vec_dot_q4_1(int64_t n, const void *w, const void *a) {
    const ck_block_q4_1 *x = w;
    const ck_block_q8_1 *y = a;
    const int64_t nb = n / CK_QK;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int32x4_t z = vdupq_n_s32(0);
    float32x4_t acc = vdupq_n_f32(0.0f);
    float summs = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        const uint8x16_t b = vld1q_u8(x[i].qs);
        const int32x4_t s = dot32(z, vreinterpretq_s8_u8(vandq_u8(b, m4)), ld_s8(y[i].qs),
                                  vreinterpretq_s8_u8(vshrq_n_u8(b, 4)), ld_s8(y[i].qs + 16));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(s), h2f(x[i].d) * h2f(y[i].d));
        summs += h2f(x[i].m) * h2f(y[i].s);
    }
    return vaddvq_f32(acc) + summs;
}

CK_DOTPROD float ck_dotprod_vec_dot_q5_0(int64_t n, const void *w, const void *a) {
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

CK_DOTPROD float ck_dotprod_vec_dot_q5_1(int64_t n, const void *w, const void *a) {
    const ck_block_q5_1 *x = w;
    const ck_block_q8_1 *y = a;
    const int64_t nb = n / CK_QK;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), b4 = vdupq_n_u8(0x10);
    const int32x4_t z = vdupq_n_s32(0);
    float32x4_t acc = vdupq_n_f32(0.0f);
    float summs = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        uint8x16_t hb0, hb1;
        bits_to_bytes32(x[i].qh, &hb0, &hb1);
        const uint8x16_t b = vld1q_u8(x[i].qs);
        const int8x16_t l = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(b, m4), vandq_u8(hb0, b4)));
        const int8x16_t h = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(b, 4), vandq_u8(hb1, b4)));
        const int32x4_t s = dot32(z, l, ld_s8(y[i].qs), h, ld_s8(y[i].qs + 16));
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(s), h2f(x[i].d) * h2f(y[i].d));
        summs += h2f(x[i].m) * h2f(y[i].s);
    }
    return vaddvq_f32(acc) + summs;
}

CK_DOTPROD static inline int32_t k_min_sum(const uint8_t *mins8, const uint8_t *bsums) {
    const int16x8_t b0 = vreinterpretq_s16_u8(vld1q_u8(bsums)), b1 = vreinterpretq_s16_u8(vld1q_u8(bsums + 16));
    const int16x8_t bp = vpaddq_s16(b0, b1);
    const int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mins8)));
    int32x4_t s = vmull_s16(vget_low_s16(bp), vget_low_s16(m));
    s = vmlal_high_s16(s, bp, m);
    return vaddvq_s32(s);
}

CK_DOTPROD float ck_dotprod_vec_dot_q4_K(int64_t n, const void *w, const void *a) {
    const ck_block_q4_K *x = w;
    const ck_block_q8_K *y = a;
    const int64_t nb = n / CK_QKK;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int32x4_t z = vdupq_n_s32(0);
    float f = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        uint8_t sm[16];
        ck_k4_scales_u32(x[i].scales, sm);
        const float yd = ck_rd_f32(y[i].d);
        const int32_t summ = k_min_sum(sm + 8, y[i].bsums);
        const uint8_t *q = x[i].qs;
        const int8_t *q8 = y[i].qs;
        int32x4_t acc = z;
        for (int c = 0; c < 4; ++c, q += 32, q8 += 64) {
            const uint8x16_t b0 = vld1q_u8(q), b1 = vld1q_u8(q + 16);
            const int32x4_t pl = dot32(z, vreinterpretq_s8_u8(vandq_u8(b0, m4)), ld_s8(q8),
                                       vreinterpretq_s8_u8(vandq_u8(b1, m4)), ld_s8(q8 + 16));
            const int32x4_t ph = dot32(z, vreinterpretq_s8_u8(vshrq_n_u8(b0, 4)), ld_s8(q8 + 32),
                                       vreinterpretq_s8_u8(vshrq_n_u8(b1, 4)), ld_s8(q8 + 48));
            acc = vmlaq_n_s32(acc, pl, sm[2 * c]);
            acc = vmlaq_n_s32(acc, ph, sm[2 * c + 1]);
        }
        f = fmaf((float)vaddvq_s32(acc), h2f(x[i].d) * yd, f);
        f = fmaf(-(float)summ, h2f(x[i].dmin) * yd, f);
    }
    return f;
}

CK_DOTPROD float ck_dotprod_vec_dot_q5_K(int64_t n, const void *w, const void *a) {
    const ck_block_q5_K *x = w;
    const ck_block_q8_K *y = a;
    const int64_t nb = n / CK_QKK;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), b4 = vdupq_n_u8(0x10);
    const int32x4_t z = vdupq_n_s32(0);
    float f = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        uint8_t sm[16];
        ck_k4_scales_u32(x[i].scales, sm);
        const float yd = ck_rd_f32(y[i].d);
        const int32_t summ = k_min_sum(sm + 8, y[i].bsums);
        const uint8_t *q = x[i].qs;
        const int8_t *q8 = y[i].qs;
        uint8x16_t qh0 = vld1q_u8(x[i].qh), qh1 = vld1q_u8(x[i].qh + 16);
        int32x4_t acc = z;
        for (int c = 0; c < 4; ++c, q += 32, q8 += 64) {
            const uint8x16_t b0 = vld1q_u8(q), b1 = vld1q_u8(q + 16);
            const int8x16_t l0 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(b0, m4), vandq_u8(vshlq_n_u8(qh0, 4), b4)));
            const int8x16_t l1 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(b1, m4), vandq_u8(vshlq_n_u8(qh1, 4), b4)));
            const int8x16_t h0 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(b0, 4), vandq_u8(vshlq_n_u8(qh0, 3), b4)));
            const int8x16_t h1 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(b1, 4), vandq_u8(vshlq_n_u8(qh1, 3), b4)));
            qh0 = vshrq_n_u8(qh0, 2);
            qh1 = vshrq_n_u8(qh1, 2);
            acc = vmlaq_n_s32(acc, dot32(z, l0, ld_s8(q8), l1, ld_s8(q8 + 16)), sm[2 * c]);
            acc = vmlaq_n_s32(acc, dot32(z, h0, ld_s8(q8 + 32), h1, ld_s8(q8 + 48)), sm[2 * c + 1]);
        }
        f = fmaf((float)vaddvq_s32(acc), h2f(x[i].d) * yd, f);
        f = fmaf(-(float)summ, h2f(x[i].dmin) * yd, f);
    }
    return f;
}

CK_DOTPROD float ck_dotprod_vec_dot_q6_K(int64_t n, const void *w, const void *a) {
    const ck_block_q6_K *x = w;
    const ck_block_q8_K *y = a;
    const int64_t nb = n / CK_QKK;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m30 = vdupq_n_u8(0x30);
    const int8x16_t s32 = vdupq_n_s8(32);
    const int32x4_t z = vdupq_n_s32(0);
    float f = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales, *q8 = y[i].qs;
        int32x4_t acc = z;
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
            for (int k = 0; k < 8; ++k)
                acc = vmlaq_n_s32(acc, vdotq_s32(z, vsubq_s8(q[k], s32), ld_s8(q8 + 16 * k)), sc[k]);
        }
        f = fmaf((float)vaddvq_s32(acc), h2f(x[i].d) * ck_rd_f32(y[i].d), f);
    }
    return f;
}

#endif
