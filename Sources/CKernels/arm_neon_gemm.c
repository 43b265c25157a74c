// AArch64 Advanced SIMD gemm microkernels, ARMv8.0 baseline (Cortex-A53/A72 class: no SDOT).
//
// A panel holds 4 weight rows, each block unpacked once into signed int8 values in element order
// (arm_gemm_common.h), plus the row scales; a tile is 4 rows x 2 tokens. Each (row, token) pair
// multiplies 16 bytes at a time into int16 lanes (SMULL / SMLAL2); the sums stay exact in int16
// because activation quants are in [-127, 127]: four products per lane for |w| <= 16 (q4_0, q5_0,
// the 5-bit K-quants' 31 uses 4 * 31 * 127 < 2^15 too), two for q8_0 and q6_K's 16-element
// sub-blocks. K-quant scales multiply the int16 sums while widening (SMLAL by scalar). At the end
// of a block (32-element types) or super-block (K-quants) pairwise adds fold the four rows' int32
// vectors into one vector whose lane r is row r, scaled and accumulated in f32 per token. The
// unpacking of a weight block is done once per panel and reused by every token.
#include "ck_internal.h"

typedef int ck_arm_neon_gemm_translation_unit_not_empty;

#if defined(__aarch64__)

#define CK_ARM_FN
#include "arm_gemm_common.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define MR 4
#define NT 2

// ---- panel geometry (bytes) ------------------------------------------------------------------------

// 32-element blocks: 4 rows x 32 values, then 4 row scales (f32)
#define B32_D 128
#define B32_BYTES 144
// q4_K / q5_K: 4 rows x 256 values, scales i16 [8][4], mins i16 [4][8], d, dmin (f32 x 4)
#define K4_SC 1024
#define K4_M (K4_SC + 64)
#define K4_D (K4_M + 64)
#define K4_DM (K4_D + 16)
#define K4_BYTES (K4_DM + 16)
// q6_K: 4 rows x 256 values, scales i16 [16][4], d (f32 x 4)
#define K6_SC 1024
#define K6_D (K6_SC + 128)
#define K6_BYTES (K6_D + 16)

// ---- packing ---------------------------------------------------------------------------------------

#define PACK_B32(name, unpack, block_type)                                                                     \
    static void name(const uint8_t *w, size_t rb, int nr, int64_t b0, int nblk, uint8_t *panel) {              \
        for (int b = 0; b < nblk; ++b, panel += B32_BYTES) {                                                   \
            const uint8_t *rp[MR];                                                                             \
            row_ptrs(rp, MR, w, rb, nr, (size_t)(b0 + b) * sizeof(block_type));                                \
            for (int r = 0; r < MR; ++r) {                                                                     \
                int8x16_t v[2];                                                                                \
                unpack(rp[r], v);                                                                              \
                st_s8(panel + 32 * r, v[0]);                                                                   \
                st_s8(panel + 32 * r + 16, v[1]);                                                              \
            }                                                                                                  \
            halves_to_f32(rp, MR, 0, panel + B32_D);                                                           \
        }                                                                                                      \
    }
PACK_B32(pack_q4_0, unpack_q4_0, ck_block_q4_0)
PACK_B32(pack_q5_0, unpack_q5_0, ck_block_q5_0)
PACK_B32(pack_q8_0, unpack_q8_0, ck_block_q8_0)

#define PACK_K4(name, unpack, block_type)                                                                      \
    static void name(const uint8_t *w, size_t rb, int nr, int64_t b0, int nblk, uint8_t *panel) {              \
        for (int b = 0; b < nblk; ++b, panel += K4_BYTES) {                                                    \
            const uint8_t *rp[MR];                                                                             \
            row_ptrs(rp, MR, w, rb, nr, (size_t)(b0 + b) * sizeof(block_type));                                \
            for (int r = 0; r < MR; ++r) {                                                                     \
                int8x16_t v[16];                                                                               \
                unpack(rp[r], v);                                                                              \
                for (int k = 0; k < 16; ++k) st_s8(panel + 256 * r + 16 * k, v[k]);                            \
                uint8_t sm[16];                                                                                \
                ck_k4_scales_u32(rp[r] + 4, sm);                                                               \
                for (int j = 0; j < 8; ++j) {                                                                  \
                    ck_wr_i16(panel + K4_SC + 2 * (MR * j + r), sm[j]);                                        \
                    ck_wr_i16(panel + K4_M + 2 * (8 * r + j), sm[8 + j]);                                      \
                }                                                                                              \
            }                                                                                                  \
            halves_to_f32(rp, MR, 0, panel + K4_D);                                                            \
            halves_to_f32(rp, MR, 2, panel + K4_DM);                                                           \
        }                                                                                                      \
    }
PACK_K4(pack_q4_K, unpack_q4_K, ck_block_q4_K)
PACK_K4(pack_q5_K, unpack_q5_K, ck_block_q5_K)

static void pack_q6_K(const uint8_t *w, size_t rb, int nr, int64_t b0, int nblk, uint8_t *panel) {
    for (int b = 0; b < nblk; ++b, panel += K6_BYTES) {
        const uint8_t *rp[MR];
        row_ptrs(rp, MR, w, rb, nr, (size_t)(b0 + b) * sizeof(ck_block_q6_K));
        for (int r = 0; r < MR; ++r) {
            int8x16_t v[16];
            unpack_q6_K(rp[r], v);
            for (int k = 0; k < 16; ++k) {
                st_s8(panel + 256 * r + 16 * k, v[k]);
                ck_wr_i16(panel + K6_SC + 2 * (MR * k + r), (int8_t)rp[r][192 + k]);
            }
        }
        halves_to_f32(rp, MR, 208, panel + K6_D);
    }
}

// ---- compute -----------------------------------------------------------------------------------------

// lane r of the result = sum of the four lanes of s[r]
CK_INLINE int32x4_t fold4(const int32x4_t s[MR]) { return vpaddq_s32(vpaddq_s32(s[0], s[1]), vpaddq_s32(s[2], s[3])); }

// The accumulators start from the outputs when a previous K chunk wrote them (acc), so each
// (row, token) stays one chain over the super-blocks, as vec_dot computes it (K-quants).
CK_INLINE float32x4_t load_acc(const float *o, int nr, int acc) {
    if (!acc) return vdupq_n_f32(0.0f);
    if (nr == MR) return ld_f32(o);
    float v[MR] = {0};
    for (int r = 0; r < nr; ++r) v[r] = o[r];
    return vld1q_f32(v);
}

CK_INLINE void store_tile(float *out, int64_t os, const float32x4_t *f, int nt, int nr) {
    for (int t = 0; t < nt; ++t) {
        float *o = out + t * os;
        if (nr == MR) {
            st_f32(o, f[t]);
        } else {
            float v[MR];
            vst1q_f32(v, f[t]);
            for (int r = 0; r < nr; ++r) o[r] = v[r];
        }
    }
}

// 32-element blocks: one block, nt tokens, added to the chains fc; `q8`: |w| up to 128, so only
// two products per int16 lane
CK_INLINE void b32_block(const uint8_t *p, int b, const uint8_t *const *y, const int nt, float32x4_t *fc, const int q8) {
    int8x16_t w0[MR], w1[MR];
    CK_UNROLL for (int r = 0; r < MR; ++r) {
        w0[r] = ld_s8(p + 32 * r);
        w1[r] = ld_s8(p + 32 * r + 16);
    }
    const float32x4_t d = ld_f32(p + B32_D);
    CK_UNROLL for (int t = 0; t < nt; ++t) {
        const uint8_t *yb = y[t] + 34 * b;
        const int8x16_t a0 = ld_s8(yb + 2), a1 = ld_s8(yb + 18);
        int32x4_t s[MR];
        CK_UNROLL for (int r = 0; r < MR; ++r) {
            int16x8_t q = vmull_s8(vget_low_s8(w0[r]), vget_low_s8(a0));
            q = vmlal_high_s8(q, w0[r], a0);
            if (q8) {
                int16x8_t q1 = vmull_s8(vget_low_s8(w1[r]), vget_low_s8(a1));
                q1 = vmlal_high_s8(q1, w1[r], a1);
                s[r] = vpadalq_s16(vpaddlq_s16(q), q1);
            } else {
                q = vmlal_s8(q, vget_low_s8(w1[r]), vget_low_s8(a1));
                q = vmlal_high_s8(q, w1[r], a1);
                s[r] = vpaddlq_s16(q);
            }
        }
        fc[t] = vfmaq_f32(fc[t], vcvtq_f32_s32(fold4(s)), vmulq_n_f32(d, h2f(yb)));
    }
}

// A K chunk of CK_CHAIN_BLOCKS blocks (the float order of ck_internal.h): even blocks on chain f0,
// odd ones on f1; the chunk's value f0 + f1 is stored, or added to what earlier chunks stored.
CK_INLINE void b32_tile(const uint8_t *panel, int nblk, const uint8_t *a, size_t as, int64_t b0, const int nt, float *out,
                        int64_t os, int nr, int acc, const int q8) {
    float32x4_t f0[NT], f1[NT];
    const uint8_t *y[NT];
    CK_UNROLL for (int t = 0; t < nt; ++t) {
        f0[t] = f1[t] = vdupq_n_f32(0.0f);
        y[t] = a + (size_t)t * as + (size_t)b0 * sizeof(ck_block_q8_0);
    }
    int b = 0;
    for (; b + 2 <= nblk; b += 2) {
        b32_block(panel + (size_t)b * B32_BYTES, b, y, nt, f0, q8);
        b32_block(panel + (size_t)(b + 1) * B32_BYTES, b + 1, y, nt, f1, q8);
    }
    if (b < nblk) b32_block(panel + (size_t)b * B32_BYTES, b, y, nt, f0, q8);
    for (int t = 0; t < nt; ++t) {
        float *o = out + t * os;
        const float32x4_t v = vaddq_f32(f0[t], f1[t]);
        if (nr == MR) {
            st_f32(o, acc ? vaddq_f32(ld_f32(o), v) : v);
        } else {
            float w[MR];
            vst1q_f32(w, v);
            for (int r = 0; r < nr; ++r) o[r] = acc ? o[r] + w[r] : w[r];
        }
    }
}

// q4_K / q5_K: sumi = sum_j sc_j * dot_j, summ = sum_j m_j * (bsum_2j + bsum_2j+1)
CK_INLINE void k4_tile(const uint8_t *panel, int nblk, const uint8_t *a, size_t as, int64_t b0, const int nt, float *out,
                       int64_t os, int nr, int acc) {
    float32x4_t f[NT];
    const uint8_t *y[NT];
    CK_UNROLL for (int t = 0; t < nt; ++t) {
        f[t] = load_acc(out + t * os, nr, acc);
        y[t] = a + (size_t)t * as + (size_t)b0 * sizeof(ck_block_q8_K);
    }
    for (int b = 0; b < nblk; ++b, panel += K4_BYTES) {
        int32x4_t s[NT][MR];
        CK_UNROLL for (int t = 0; t < nt; ++t) CK_UNROLL for (int r = 0; r < MR; ++r) s[t][r] = vdupq_n_s32(0);
        for (int j = 0; j < 8; ++j) {
            int8x16_t w0[MR], w1[MR];
            CK_UNROLL for (int r = 0; r < MR; ++r) {
                w0[r] = ld_s8(panel + 256 * r + 32 * j);
                w1[r] = ld_s8(panel + 256 * r + 32 * j + 16);
            }
            CK_UNROLL for (int t = 0; t < nt; ++t) {
                const uint8_t *q8 = y[t] + 292 * b + 4 + 32 * j;
                const int8x16_t a0 = ld_s8(q8), a1 = ld_s8(q8 + 16);
                CK_UNROLL for (int r = 0; r < MR; ++r) {
                    int16x8_t p = vmull_s8(vget_low_s8(w0[r]), vget_low_s8(a0));
                    p = vmlal_high_s8(p, w0[r], a0);
                    p = vmlal_s8(p, vget_low_s8(w1[r]), vget_low_s8(a1));
                    p = vmlal_high_s8(p, w1[r], a1);
                    const int16_t scale = ck_rd_i16(panel + K4_SC + 2 * (MR * j + r));
                    s[t][r] = vmlal_n_s16(s[t][r], vget_low_s16(p), scale);
                    s[t][r] = vmlal_high_n_s16(s[t][r], p, scale);
                }
            }
        }
        const float32x4_t dd = ld_f32(panel + K4_D), dm = ld_f32(panel + K4_DM);
        CK_UNROLL for (int t = 0; t < nt; ++t) {
            const uint8_t *yb = y[t] + 292 * b;
            const int16x8_t bp = vpaddq_s16(ld_s16(yb + 260), ld_s16(yb + 276));   // bsum pairs, one per sub-block
            int32x4_t m[MR];
            CK_UNROLL for (int r = 0; r < MR; ++r) {
                const int16x8_t mr = ld_s16(panel + K4_M + 16 * r);
                m[r] = vmlal_high_s16(vmull_s16(vget_low_s16(mr), vget_low_s16(bp)), mr, bp);
            }
            const float yd = ck_rd_f32(yb);
            f[t] = vfmaq_f32(f[t], vcvtq_f32_s32(fold4(s[t])), vmulq_n_f32(dd, yd));
            f[t] = vfmsq_f32(f[t], vcvtq_f32_s32(fold4(m)), vmulq_n_f32(dm, yd));
        }
    }
    store_tile(out, os, f, nt, nr);
}

// q6_K: values q - 32, 16-element sub-blocks with signed scales
CK_INLINE void k6_tile(const uint8_t *panel, int nblk, const uint8_t *a, size_t as, int64_t b0, const int nt, float *out,
                       int64_t os, int nr, int acc) {
    float32x4_t f[NT];
    const uint8_t *y[NT];
    CK_UNROLL for (int t = 0; t < nt; ++t) {
        f[t] = load_acc(out + t * os, nr, acc);
        y[t] = a + (size_t)t * as + (size_t)b0 * sizeof(ck_block_q8_K);
    }
    for (int b = 0; b < nblk; ++b, panel += K6_BYTES) {
        int32x4_t s[NT][MR];
        CK_UNROLL for (int t = 0; t < nt; ++t) CK_UNROLL for (int r = 0; r < MR; ++r) s[t][r] = vdupq_n_s32(0);
        for (int k = 0; k < 16; ++k) {
            int8x16_t wk[MR];
            CK_UNROLL for (int r = 0; r < MR; ++r) wk[r] = ld_s8(panel + 256 * r + 16 * k);
            CK_UNROLL for (int t = 0; t < nt; ++t) {
                const int8x16_t ak = ld_s8(y[t] + 292 * b + 4 + 16 * k);
                CK_UNROLL for (int r = 0; r < MR; ++r) {
                    const int16x8_t p = vmlal_high_s8(vmull_s8(vget_low_s8(wk[r]), vget_low_s8(ak)), wk[r], ak);
                    const int16_t scale = ck_rd_i16(panel + K6_SC + 2 * (MR * k + r));
                    s[t][r] = vmlal_n_s16(s[t][r], vget_low_s16(p), scale);
                    s[t][r] = vmlal_high_n_s16(s[t][r], p, scale);
                }
            }
        }
        const float32x4_t dd = ld_f32(panel + K6_D);
        CK_UNROLL for (int t = 0; t < nt; ++t)
            f[t] = vfmaq_f32(f[t], vcvtq_f32_s32(fold4(s[t])), vmulq_n_f32(dd, ck_rd_f32(y[t] + 292 * b)));
    }
    store_tile(out, os, f, nt, nr);
}

#define COMPUTE(name, call)                                                                                    \
    static void name(const uint8_t *panel, int nr, const uint8_t *a, size_t as, const uint8_t *aux, int ntok,  \
                     int64_t b0, int nblk, float *out, int64_t os, int acc) {                                  \
        (void)aux;                                                                                             \
        int t = 0;                                                                                             \
        for (; t + NT <= ntok; t += NT) call(NT);                                                              \
        if (t < ntok) call(1);                                                                                 \
    }
#define TILE_ARGS(k) panel, nblk, a + (size_t)t * as, as, b0, k, out + t * os, os, nr, acc
#define CALL_B32(k) b32_tile(TILE_ARGS(k), 0)
#define CALL_Q8(k) b32_tile(TILE_ARGS(k), 1)
#define CALL_K4(k) k4_tile(TILE_ARGS(k))
#define CALL_K6(k) k6_tile(TILE_ARGS(k))
COMPUTE(compute_b32, CALL_B32)
COMPUTE(compute_q8, CALL_Q8)
COMPUTE(compute_k4, CALL_K4)
COMPUTE(compute_k6, CALL_K6)

// ---- entry points ----------------------------------------------------------------------------------

static const ck_gemm_ops ops_q4_0 = {MR, 32, B32_BYTES, 0, pack_q4_0, NULL, compute_b32, CK_CHAIN_BLOCKS};
static const ck_gemm_ops ops_q5_0 = {MR, 32, B32_BYTES, 0, pack_q5_0, NULL, compute_b32, CK_CHAIN_BLOCKS};
static const ck_gemm_ops ops_q8_0 = {MR, 32, B32_BYTES, 0, pack_q8_0, NULL, compute_q8, CK_CHAIN_BLOCKS};
static const ck_gemm_ops ops_q4_K = {MR, 256, K4_BYTES, 0, pack_q4_K, NULL, compute_k4, 0};
static const ck_gemm_ops ops_q5_K = {MR, 256, K4_BYTES, 0, pack_q5_K, NULL, compute_k4, 0};
static const ck_gemm_ops ops_q6_K = {MR, 256, K6_BYTES, 0, pack_q6_K, NULL, compute_k6, 0};

#define ENTRY(type)                                                                                                \
    void ck_neon_gemm_##type(int64_t n, const void *w, size_t row_bytes, int64_t rows, const void *a, size_t a_stride, \
                             int64_t ntok, float *out, int64_t out_stride) {                                       \
        ck_gemm_drive(&ops_##type, n, w, row_bytes, rows, a, a_stride, ntok, out, out_stride);                     \
    }
ENTRY(q4_0)
ENTRY(q5_0)
ENTRY(q8_0)
ENTRY(q4_K)
ENTRY(q5_K)
ENTRY(q6_K)

#endif
