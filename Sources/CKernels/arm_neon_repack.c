// AArch64 kernels over the q4_0x8 repacked layout (CKRepack.h), in two versions: SDOT by lane
// (ARMv8.2 dotprod) and plain ARMv8.0 NEON (vmull + pairwise widening). A 32-byte chunk is two
// registers, rows 0-3 and rows 4-7, four bytes per row and lane. Because the layout stores every
// byte xor 0x88, a left shift by 4 turns each low nibble into 16 * (q - 8) and a mask of 0xF0
// leaves 16 * (q - 8) of each high nibble, both as int8; the sums of products are therefore 16
// times the block's exact integer sum, and an arithmetic shift right by 4 gives it back exactly.
// The float order is ck_internal.h's, the same as the neon and neon-dotprod sets' Q4_0 vec_dot:
// results equal them bit for bit.
#include "ck_internal.h"
#include "ck_repack_internal.h"

typedef int ck_arm_neon_repack_translation_unit_not_empty;

#if defined(__aarch64__)

#include <arm_neon.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define CK_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#define CK_PLAIN
#define CK_INLINE static inline __attribute__((always_inline))
#define CK_UNROLL _Pragma("GCC unroll 16")
#define NT 4   // tokens per register tile

// ARMv8.0: acc lane r += dot(4 bytes of w lane r, the 4 bytes of lane k of a).
#define PLAIN_DOT_LANE(acc, w, a, k) plain_dot(acc, w, vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(a), k)))
CK_INLINE int32x4_t plain_dot(int32x4_t acc, int8x16_t w, int8x16_t ab) {
    // |16 (q - 8)| <= 128 and |a| <= 127: every product and every pair sum fits int16.
    const int32x4_t s0 = vpaddlq_s16(vmull_s8(vget_low_s8(w), vget_low_s8(ab)));   // rows 0, 1 (two halves each)
    const int32x4_t s1 = vpaddlq_s16(vmull_high_s8(w, ab));                        // rows 2, 3
    return vaddq_s32(acc, vpaddq_s32(s0, s1));
}
#define SDOT_LANE(acc, w, a, k) vdotq_laneq_s32(acc, w, a, k)

// The kernels of one version: ATTR is its target attribute, DOT its dot-by-lane.
#define CK_RP_NEON_KERNELS(prefix, ATTR, DOT)                                                                   \
    ATTR CK_INLINE void prefix##_block(const uint8_t *blk, const uint8_t *const *y, const int nt, float32x4_t *fc) { \
        const int8x16_t mhi = vdupq_n_s8((int8_t)0xF0);                                                         \
        int32x4_t s[2 * NT];                                                                                    \
        int8x16_t al[NT], ah[NT];                                                                               \
        CK_UNROLL for (int t = 0; t < nt; ++t) {                                                                \
            s[2 * t] = s[2 * t + 1] = vdupq_n_s32(0);                                                           \
            al[t] = vreinterpretq_s8_u8(vld1q_u8(y[t] + 2));                                                    \
            ah[t] = vreinterpretq_s8_u8(vld1q_u8(y[t] + 18));                                                   \
        }                                                                                                       \
        _Pragma("GCC unroll 4") for (int k = 0; k < 4; ++k) {                                                   \
            const int8x16_t v0 = vreinterpretq_s8_u8(vld1q_u8(blk + 16 + 32 * k));                              \
            const int8x16_t v1 = vreinterpretq_s8_u8(vld1q_u8(blk + 32 + 32 * k));                              \
            const int8x16_t l0 = vshlq_n_s8(v0, 4), h0 = vandq_s8(v0, mhi);                                     \
            const int8x16_t l1 = vshlq_n_s8(v1, 4), h1 = vandq_s8(v1, mhi);                                     \
            CK_UNROLL for (int t = 0; t < nt; ++t) {                                                            \
                switch (k) {                                                                                    \
                case 0: s[2 * t] = DOT(DOT(s[2 * t], l0, al[t], 0), h0, ah[t], 0);                              \
                        s[2 * t + 1] = DOT(DOT(s[2 * t + 1], l1, al[t], 0), h1, ah[t], 0); break;               \
                case 1: s[2 * t] = DOT(DOT(s[2 * t], l0, al[t], 1), h0, ah[t], 1);                              \
                        s[2 * t + 1] = DOT(DOT(s[2 * t + 1], l1, al[t], 1), h1, ah[t], 1); break;               \
                case 2: s[2 * t] = DOT(DOT(s[2 * t], l0, al[t], 2), h0, ah[t], 2);                              \
                        s[2 * t + 1] = DOT(DOT(s[2 * t + 1], l1, al[t], 2), h1, ah[t], 2); break;               \
                default: s[2 * t] = DOT(DOT(s[2 * t], l0, al[t], 3), h0, ah[t], 3);                             \
                        s[2 * t + 1] = DOT(DOT(s[2 * t + 1], l1, al[t], 3), h1, ah[t], 3); break;               \
                }                                                                                               \
            }                                                                                                   \
        }                                                                                                       \
        const float32x4_t d0 = vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(blk)));                                 \
        const float32x4_t d1 = vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(blk + 8)));                             \
        CK_UNROLL for (int t = 0; t < nt; ++t) {                                                                \
            __fp16 hd;                                                                                          \
            memcpy(&hd, y[t], 2);                                                                               \
            const float da = (float)hd;                                                                         \
            fc[2 * t] = vfmaq_f32(fc[2 * t], vcvtq_f32_s32(vshrq_n_s32(s[2 * t], 4)), vmulq_n_f32(d0, da));       \
            fc[2 * t + 1] = vfmaq_f32(fc[2 * t + 1], vcvtq_f32_s32(vshrq_n_s32(s[2 * t + 1], 4)), vmulq_n_f32(d1, da)); \
        }                                                                                                       \
    }                                                                                                           \
                                                                                                                \
    ATTR CK_INLINE void prefix##_tile(const uint8_t *g, int64_t nb, const uint8_t *a, size_t as, const int nt,  \
                                      float *out, int64_t os, int nr) {                                         \
        float32x4_t tot[2 * NT];                                                                                \
        const uint8_t *y[NT];                                                                                   \
        CK_UNROLL for (int t = 0; t < 2 * nt; ++t) tot[t] = vdupq_n_f32(0.0f);                                  \
        for (int64_t c0 = 0; c0 < nb; c0 += CK_CHAIN_BLOCKS) {                                                  \
            const int64_t c1 = c0 + CK_CHAIN_BLOCKS < nb ? c0 + CK_CHAIN_BLOCKS : nb;                           \
            float32x4_t f0[2 * NT], f1[2 * NT];                                                                 \
            CK_UNROLL for (int t = 0; t < 2 * nt; ++t) f0[t] = f1[t] = vdupq_n_f32(0.0f);                       \
            /* even blocks (from the chunk start) feed chain 0, odd ones chain 1, each in block order */        \
            for (int h = 0; h < 2; ++h)                                                                         \
                for (int64_t b = c0 + h; b < c1; b += 2) {                                                      \
                    CK_UNROLL for (int t = 0; t < nt; ++t) y[t] = a + (size_t)t * as + (size_t)b * sizeof(ck_block_q8_0); \
                    prefix##_block(g + b * CK_RP_Q4_0_BLOCK_BYTES, y, nt, h ? f1 : f0);                         \
                }                                                                                               \
            CK_UNROLL for (int t = 0; t < 2 * nt; ++t) tot[t] = vaddq_f32(tot[t], vaddq_f32(f0[t], f1[t]));     \
        }                                                                                                       \
        CK_UNROLL for (int t = 0; t < nt; ++t) {                                                                \
            float *o = out + t * os;                                                                            \
            if (nr == CK_RP_Q4_0_ROWS) {                                                                        \
                vst1q_f32(o, tot[2 * t]);                                                                       \
                vst1q_f32(o + 4, tot[2 * t + 1]);                                                               \
            } else {                                                                                            \
                float v[CK_RP_Q4_0_ROWS];                                                                       \
                vst1q_f32(v, tot[2 * t]);                                                                       \
                vst1q_f32(v + 4, tot[2 * t + 1]);                                                               \
                for (int r = 0; r < nr; ++r) o[r] = v[r];                                                       \
            }                                                                                                   \
        }                                                                                                       \
    }                                                                                                           \
                                                                                                                \
    ATTR void ck_##prefix##_rp_gemm_q4_0(int64_t n, const void *w, int64_t rows, const void *a, size_t as,      \
                                         int64_t ntok, float *out, int64_t os) {                                \
        const int64_t nb = n / CK_QK, gb = nb * CK_RP_Q4_0_BLOCK_BYTES;                                        \
        const uint8_t *ab = a, *wb = w;                                                                         \
        /* 64 tokens at a time, so their activation rows stay in cache while every group passes */             \
        for (int64_t t0 = 0; t0 < ntok; t0 += 64) {                                                             \
            const int64_t t1 = t0 + 64 < ntok ? t0 + 64 : ntok;                                                 \
            for (int64_t r0 = 0; r0 < rows; r0 += CK_RP_Q4_0_ROWS) {                                            \
                const int nr = (int)(rows - r0 < CK_RP_Q4_0_ROWS ? rows - r0 : CK_RP_Q4_0_ROWS);                \
                const uint8_t *g = wb + (r0 / CK_RP_Q4_0_ROWS) * gb;                                            \
                int64_t t = t0;                                                                                 \
                for (; t + NT <= t1; t += NT) prefix##_tile(g, nb, ab + (size_t)t * as, as, NT, out + t * os + r0, os, nr); \
                const uint8_t *at = ab + (size_t)t * as;                                                        \
                float *ot = out + t * os + r0;                                                                  \
                switch (t1 - t) {                                                                               \
                case 3: prefix##_tile(g, nb, at, as, 3, ot, os, nr); break;                                     \
                case 2: prefix##_tile(g, nb, at, as, 2, ot, os, nr); break;                                     \
                case 1: prefix##_tile(g, nb, at, as, 1, ot, os, nr); break;                                     \
                default: break;                                                                                 \
                }                                                                                               \
            }                                                                                                   \
        }                                                                                                       \
    }

CK_RP_NEON_KERNELS(neon, CK_PLAIN, PLAIN_DOT_LANE)
CK_RP_NEON_KERNELS(dotprod, CK_DOTPROD, SDOT_LANE)

// ---- q4_Kx8 ---------------------------------------------------------------------------------------
// The nibbles are unsigned (0..15) here and go in as they are: SDOT (or vmull + pairwise widening,
// |15 * 127| * 2 fits int16) gives each sub-block's exact sum per row, which an int32 multiply by
// the row's scale adds to the super-block sum; the mins meet the Q8_K bsums the same way. Then the
// two fused multiply-adds of the Q4_K vec_dot (neon and neon-dotprod sets alike), per row lane.
#define CK_RP_NEON_K_KERNELS(prefix, ATTR, DOT)                                                                 \
    ATTR CK_INLINE void prefix##_kblock(const uint8_t *blk, const uint8_t *const *y, const int nt, float32x4_t *f) { \
        const uint8x16_t m4 = vdupq_n_u8(0x0F);                                                                 \
        int32x4_t si[2 * NT];                                                                                   \
        CK_UNROLL for (int t = 0; t < 2 * nt; ++t) si[t] = vdupq_n_s32(0);                                      \
        for (int c = 0; c < 4; ++c) {                                                                           \
            CK_UNROLL for (int h = 0; h < 2; ++h) {                                                             \
                int32x4_t s[2 * NT];                                                                            \
                int8x16_t a0[NT], a1[NT];                                                                       \
                CK_UNROLL for (int t = 0; t < nt; ++t) {                                                        \
                    s[2 * t] = s[2 * t + 1] = vdupq_n_s32(0);                                                   \
                    a0[t] = vreinterpretq_s8_u8(vld1q_u8(y[t] + 4 + 64 * c + 32 * h));                         \
                    a1[t] = vreinterpretq_s8_u8(vld1q_u8(y[t] + 20 + 64 * c + 32 * h));                        \
                }                                                                                               \
                _Pragma("GCC unroll 8") for (int k = 0; k < 8; ++k) {                                           \
                    const uint8x16_t v0 = vld1q_u8(blk + 160 + 256 * c + 32 * k);                               \
                    const uint8x16_t v1 = vld1q_u8(blk + 176 + 256 * c + 32 * k);                               \
                    const int8x16_t q0 = vreinterpretq_s8_u8(h ? vshrq_n_u8(v0, 4) : vandq_u8(v0, m4));        \
                    const int8x16_t q1 = vreinterpretq_s8_u8(h ? vshrq_n_u8(v1, 4) : vandq_u8(v1, m4));        \
                    CK_UNROLL for (int t = 0; t < nt; ++t) {                                                    \
                        const int8x16_t at = k < 4 ? a0[t] : a1[t];                                             \
                        switch (k & 3) {                                                                        \
                        case 0: s[2 * t] = DOT(s[2 * t], q0, at, 0); s[2 * t + 1] = DOT(s[2 * t + 1], q1, at, 0); break; \
                        case 1: s[2 * t] = DOT(s[2 * t], q0, at, 1); s[2 * t + 1] = DOT(s[2 * t + 1], q1, at, 1); break; \
                        case 2: s[2 * t] = DOT(s[2 * t], q0, at, 2); s[2 * t + 1] = DOT(s[2 * t + 1], q1, at, 2); break; \
                        default: s[2 * t] = DOT(s[2 * t], q0, at, 3); s[2 * t + 1] = DOT(s[2 * t + 1], q1, at, 3); break; \
                        }                                                                                       \
                    }                                                                                           \
                }                                                                                               \
                const uint16x8_t sc = vmovl_u8(vld1_u8(blk + 32 + 8 * (2 * c + h)));                           \
                const int32x4_t sc0 = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(sc)));                      \
                const int32x4_t sc1 = vreinterpretq_s32_u32(vmovl_high_u16(sc));                                \
                CK_UNROLL for (int t = 0; t < nt; ++t) {                                                        \
                    si[2 * t] = vmlaq_s32(si[2 * t], s[2 * t], sc0);                                            \
                    si[2 * t + 1] = vmlaq_s32(si[2 * t + 1], s[2 * t + 1], sc1);                                \
                }                                                                                               \
            }                                                                                                   \
        }                                                                                                       \
        const float32x4_t d0 = vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(blk)));                                 \
        const float32x4_t d1 = vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(blk + 8)));                             \
        const float32x4_t m0 = vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(blk + 16)));                            \
        const float32x4_t m1 = vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(blk + 24)));                            \
        CK_UNROLL for (int t = 0; t < nt; ++t) {                                                                \
            int32x4_t mn0 = vdupq_n_s32(0), mn1 = vdupq_n_s32(0);                                               \
            for (int sb = 0; sb < 8; ++sb) {                                                                    \
                const int32_t bs = (int32_t)ck_rd_i16(y[t] + 260 + 4 * sb) + (int32_t)ck_rd_i16(y[t] + 262 + 4 * sb); \
                const uint16x8_t mn = vmovl_u8(vld1_u8(blk + 96 + 8 * sb));                                    \
                mn0 = vmlaq_n_s32(mn0, vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(mn))), bs);                 \
                mn1 = vmlaq_n_s32(mn1, vreinterpretq_s32_u32(vmovl_high_u16(mn)), bs);                          \
            }                                                                                                   \
            const float yd = ck_rd_f32(y[t]);                                                                   \
            f[2 * t] = vfmaq_f32(f[2 * t], vcvtq_f32_s32(si[2 * t]), vmulq_n_f32(d0, yd));                      \
            f[2 * t + 1] = vfmaq_f32(f[2 * t + 1], vcvtq_f32_s32(si[2 * t + 1]), vmulq_n_f32(d1, yd));          \
            f[2 * t] = vfmaq_f32(f[2 * t], vnegq_f32(vcvtq_f32_s32(mn0)), vmulq_n_f32(m0, yd));                 \
            f[2 * t + 1] = vfmaq_f32(f[2 * t + 1], vnegq_f32(vcvtq_f32_s32(mn1)), vmulq_n_f32(m1, yd));         \
        }                                                                                                       \
    }                                                                                                           \
                                                                                                                \
    ATTR CK_INLINE void prefix##_ktile(const uint8_t *g, int64_t nb, const uint8_t *a, size_t as, const int nt, \
                                       float *out, int64_t os, int nr) {                                        \
        float32x4_t f[2 * NT];                                                                                  \
        const uint8_t *y[NT];                                                                                   \
        CK_UNROLL for (int t = 0; t < 2 * nt; ++t) f[t] = vdupq_n_f32(0.0f);                                    \
        for (int64_t i = 0; i < nb; ++i) {                                                                      \
            CK_UNROLL for (int t = 0; t < nt; ++t) y[t] = a + (size_t)t * as + (size_t)i * sizeof(ck_block_q8_K); \
            prefix##_kblock(g + i * CK_RP_Q4_K_BLOCK_BYTES, y, nt, f);                                          \
        }                                                                                                       \
        CK_UNROLL for (int t = 0; t < nt; ++t) {                                                                \
            float *o = out + t * os;                                                                            \
            if (nr == CK_RP_Q4_K_ROWS) {                                                                        \
                vst1q_f32(o, f[2 * t]);                                                                         \
                vst1q_f32(o + 4, f[2 * t + 1]);                                                                 \
            } else {                                                                                            \
                float v[CK_RP_Q4_K_ROWS];                                                                       \
                vst1q_f32(v, f[2 * t]);                                                                         \
                vst1q_f32(v + 4, f[2 * t + 1]);                                                                 \
                for (int r = 0; r < nr; ++r) o[r] = v[r];                                                       \
            }                                                                                                   \
        }                                                                                                       \
    }                                                                                                           \
                                                                                                                \
    ATTR void ck_##prefix##_rp_gemm_q4_K(int64_t n, const void *w, int64_t rows, const void *a, size_t as,      \
                                         int64_t ntok, float *out, int64_t os) {                                \
        const int64_t nb = n / CK_QKK, gb = nb * CK_RP_Q4_K_BLOCK_BYTES;                                       \
        const uint8_t *ab = a, *wb = w;                                                                         \
        for (int64_t t0 = 0; t0 < ntok; t0 += 64) {                                                             \
            const int64_t t1 = t0 + 64 < ntok ? t0 + 64 : ntok;                                                 \
            for (int64_t r0 = 0; r0 < rows; r0 += CK_RP_Q4_K_ROWS) {                                            \
                const int nr = (int)(rows - r0 < CK_RP_Q4_K_ROWS ? rows - r0 : CK_RP_Q4_K_ROWS);                \
                const uint8_t *g = wb + (r0 / CK_RP_Q4_K_ROWS) * gb;                                            \
                int64_t t = t0;                                                                                 \
                for (; t + NT <= t1; t += NT) prefix##_ktile(g, nb, ab + (size_t)t * as, as, NT, out + t * os + r0, os, nr); \
                const uint8_t *at = ab + (size_t)t * as;                                                        \
                float *ot = out + t * os + r0;                                                                  \
                switch (t1 - t) {                                                                               \
                case 3: prefix##_ktile(g, nb, at, as, 3, ot, os, nr); break;                                    \
                case 2: prefix##_ktile(g, nb, at, as, 2, ot, os, nr); break;                                    \
                case 1: prefix##_ktile(g, nb, at, as, 1, ot, os, nr); break;                                    \
                default: break;                                                                                 \
                }                                                                                               \
            }                                                                                                   \
        }                                                                                                       \
    }

// ARMv8.0: the unsigned nibbles (<= 15) times int8 fit int16 per pair, as plain_dot needs.
CK_RP_NEON_K_KERNELS(neon, CK_PLAIN, PLAIN_DOT_LANE)
CK_RP_NEON_K_KERNELS(dotprod, CK_DOTPROD, SDOT_LANE)

#endif
