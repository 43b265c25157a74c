// Shared by arm_neon_gemm.c and arm_dotprod_gemm.c: unpacking one weight block of one row into
// signed int8 values (the panels of both ARM gemm sets hold the quants as int8 with their offsets
// already applied, since SDOT and SMULL both take signed bytes), and small helpers. Everything is
// static inline and uses ARMv8.0 Advanced SIMD only; the including file defines CK_ARM_FN as its
// functions' target attribute (empty for the baseline, the dotprod target for arm_dotprod_gemm.c)
// so these helpers inline into its functions.
#ifndef CK_ARM_GEMM_COMMON_H
#define CK_ARM_GEMM_COMMON_H

#include "ck_internal.h"

#include <arm_neon.h>

#ifndef CK_ARM_FN
#error "define CK_ARM_FN before including arm_gemm_common.h"
#endif

#define CK_INLINE static inline __attribute__((always_inline))
#define CK_UNROLL _Pragma("GCC unroll 16")

CK_ARM_FN CK_INLINE float h2f(const uint8_t *p) {
    __fp16 h;
    memcpy(&h, p, 2);
    return (float)h;
}

CK_ARM_FN CK_INLINE int8x16_t ld_s8(const void *p) { return vreinterpretq_s8_u8(vld1q_u8((const uint8_t *)p)); }
CK_ARM_FN CK_INLINE int16x8_t ld_s16(const void *p) { return vreinterpretq_s16_u8(vld1q_u8((const uint8_t *)p)); }
CK_ARM_FN CK_INLINE int32x4_t ld_s32(const void *p) { return vreinterpretq_s32_u8(vld1q_u8((const uint8_t *)p)); }
CK_ARM_FN CK_INLINE float32x4_t ld_f32(const void *p) { return vreinterpretq_f32_u8(vld1q_u8((const uint8_t *)p)); }
CK_ARM_FN CK_INLINE void st_s8(void *p, int8x16_t v) { vst1q_u8((uint8_t *)p, vreinterpretq_u8_s8(v)); }
CK_ARM_FN CK_INLINE void st_f32(void *p, float32x4_t v) { vst1q_u8((uint8_t *)p, vreinterpretq_u8_f32(v)); }

// Row pointers of a panel for one block: rows past nr read zeros.
CK_INLINE void row_ptrs(const uint8_t **rp, int mr, const uint8_t *w, size_t rb, int nr, size_t off) {
    for (int r = 0; r < mr; ++r) rp[r] = r < nr ? w + (size_t)r * rb + off : ck_zero_block;
}

// 32 bits -> two vectors of 16 bytes, 0xFF where bit i is set (element i <- bit i).
CK_ARM_FN CK_INLINE void bits_to_bytes32(const uint8_t *qh, uint8x16_t *m0, uint8x16_t *m1) {
    static const uint8_t idx0[16] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    static const uint8_t idx1[16] = {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
    static const uint8_t bits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t tab = vcombine_u8(vcreate_u8((uint64_t)ck_rd_u32(qh)), vdup_n_u8(0));
    const uint8x16_t sel = vld1q_u8(bits);
    *m0 = vtstq_u8(vqtbl1q_u8(tab, vld1q_u8(idx0)), sel);
    *m1 = vtstq_u8(vqtbl1q_u8(tab, vld1q_u8(idx1)), sel);
}

// ---- one block of one row -> signed values, 16 per vector, in element order --------------------

// q4_0: nibble - 8
CK_ARM_FN CK_INLINE void unpack_q4_0(const uint8_t *blk, int8x16_t v[2]) {
    const uint8x16_t b = vld1q_u8(blk + 2);
    v[0] = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(0x0F))), vdupq_n_s8(8));
    v[1] = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b, 4)), vdupq_n_s8(8));
}

// q5_0: (nibble | bit << 4) - 16, computed as nibble | (bit ? 0 : 0xF0) read as int8
CK_ARM_FN CK_INLINE void unpack_q5_0(const uint8_t *blk, int8x16_t v[2]) {
    uint8x16_t hb0, hb1;
    bits_to_bytes32(blk + 2, &hb0, &hb1);
    const uint8x16_t b = vld1q_u8(blk + 6), f0 = vdupq_n_u8(0xF0);
    v[0] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(b, vdupq_n_u8(0x0F)), vbicq_u8(f0, hb0)));
    v[1] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(b, 4), vbicq_u8(f0, hb1)));
}

CK_ARM_FN CK_INLINE void unpack_q8_0(const uint8_t *blk, int8x16_t v[2]) {
    v[0] = ld_s8(blk + 2);
    v[1] = ld_s8(blk + 18);
}

// q4_K: 16 vectors; v[2j], v[2j+1] are sub-block j (quants in [0, 15])
CK_ARM_FN CK_INLINE void unpack_q4_K(const uint8_t *blk, int8x16_t v[16]) {
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    for (int c = 0; c < 4; ++c) {
        const uint8x16_t b0 = vld1q_u8(blk + 16 + 32 * c), b1 = vld1q_u8(blk + 32 + 32 * c);
        v[4 * c] = vreinterpretq_s8_u8(vandq_u8(b0, m4));
        v[4 * c + 1] = vreinterpretq_s8_u8(vandq_u8(b1, m4));
        v[4 * c + 2] = vreinterpretq_s8_u8(vshrq_n_u8(b0, 4));
        v[4 * c + 3] = vreinterpretq_s8_u8(vshrq_n_u8(b1, 4));
    }
}

// q5_K: as q4_K with the fifth bit from qh (quants in [0, 31])
CK_ARM_FN CK_INLINE void unpack_q5_K(const uint8_t *blk, int8x16_t v[16]) {
    const uint8x16_t m4 = vdupq_n_u8(0x0F), b4 = vdupq_n_u8(0x10);
    uint8x16_t qh0 = vld1q_u8(blk + 16), qh1 = vld1q_u8(blk + 32);
    for (int c = 0; c < 4; ++c) {
        const uint8x16_t b0 = vld1q_u8(blk + 48 + 32 * c), b1 = vld1q_u8(blk + 64 + 32 * c);
        v[4 * c] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(b0, m4), vandq_u8(vshlq_n_u8(qh0, 4), b4)));
        v[4 * c + 1] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(b1, m4), vandq_u8(vshlq_n_u8(qh1, 4), b4)));
        v[4 * c + 2] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(b0, 4), vandq_u8(vshlq_n_u8(qh0, 3), b4)));
        v[4 * c + 3] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(b1, 4), vandq_u8(vshlq_n_u8(qh1, 3), b4)));
        qh0 = vshrq_n_u8(qh0, 2);
        qh1 = vshrq_n_u8(qh1, 2);
    }
}

// q6_K: 16 vectors; v[k] is the 16-element sub-block k, values q - 32 in [-32, 31]
CK_ARM_FN CK_INLINE void unpack_q6_K(const uint8_t *blk, int8x16_t v[16]) {
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m30 = vdupq_n_u8(0x30);
    const int8x16_t s32 = vdupq_n_s8(32);
    for (int h = 0; h < 2; ++h) {
        const uint8_t *ql = blk + 64 * h, *qh = blk + 128 + 32 * h;
        const uint8x16_t h0 = vld1q_u8(qh), h1 = vld1q_u8(qh + 16);
        const uint8x16_t la = vld1q_u8(ql), lb = vld1q_u8(ql + 16), lc = vld1q_u8(ql + 32), ld = vld1q_u8(ql + 48);
        uint8x16_t q[8];
        q[0] = vorrq_u8(vandq_u8(la, m4), vandq_u8(vshlq_n_u8(h0, 4), m30));
        q[1] = vorrq_u8(vandq_u8(lb, m4), vandq_u8(vshlq_n_u8(h1, 4), m30));
        q[2] = vorrq_u8(vandq_u8(lc, m4), vandq_u8(vshlq_n_u8(h0, 2), m30));
        q[3] = vorrq_u8(vandq_u8(ld, m4), vandq_u8(vshlq_n_u8(h1, 2), m30));
        q[4] = vorrq_u8(vshrq_n_u8(la, 4), vandq_u8(h0, m30));
        q[5] = vorrq_u8(vshrq_n_u8(lb, 4), vandq_u8(h1, m30));
        q[6] = vorrq_u8(vshrq_n_u8(lc, 4), vandq_u8(vshrq_n_u8(h0, 2), m30));
        q[7] = vorrq_u8(vshrq_n_u8(ld, 4), vandq_u8(vshrq_n_u8(h1, 2), m30));
        for (int k = 0; k < 8; ++k) v[8 * h + k] = vsubq_s8(vreinterpretq_s8_u8(q[k]), s32);
    }
}

// f16 fields at rp[r] + off of `mr` rows -> floats at dst
CK_INLINE void halves_to_f32(const uint8_t *const *rp, int mr, int off, uint8_t *dst) {
    for (int r = 0; r < mr; ++r) ck_wr_f32(dst + 4 * r, ck_h2f(ck_rd_u16(rp[r] + off)));
}

#endif
