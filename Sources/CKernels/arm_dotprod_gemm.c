// AArch64 ARMv8.2 dot-product gemm microkernels (SDOT by element, vdotq_laneq_s32). Every function
// carries target("arch=armv8.2-a+dotprod"); nothing here runs unless ck_cpu_features() reported
// CK_CPU_DOTPROD.
//
// A panel holds 8 weight rows as two groups of 4: each block unpacked once into signed int8 values
// (arm_gemm_common.h) and transposed so that one 16-byte vector holds elements 4g..4g+3 of four
// rows ("group" g, row r in 32-bit lane r). SDOT by element multiplies a group with the four
// activation bytes 4g..4g+3 selected from an activation vector by lane index, adding four products
// to each row's lane: no broadcast, no widening, no horizontal sums, and lane r of the result is
// row r's output. A tile is 8 rows x 4 tokens. K-quant scales multiply each sub-block's int32
// sums (MLA), the q4_K / q5_K mins go through the Q8_K bsums, q6_K's -32 is in the values. Every
// block's integer sum is exactly the one vec_dot computes.
#include "ck_internal.h"

typedef int ck_arm_dotprod_gemm_translation_unit_not_empty;

#if defined(__aarch64__)

#define CK_ARM_FN __attribute__((target("arch=armv8.2-a+dotprod")))
#include "arm_gemm_common.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define MR 8
#define NT 4

// ---- panel geometry (bytes) ------------------------------------------------------------------------

// group g of row group rg at 32 g + 16 rg
// 32-element blocks: 8 groups, then 8 row scales (f32)
#define B32_D 256
#define B32_BYTES 288
// q4_K / q5_K: 64 groups, scales i32 [8][8], mins i16 [8][8], d, dmin (f32 x 8)
#define K4_SC 2048
#define K4_M (K4_SC + 256)
#define K4_D (K4_M + 128)
#define K4_DM (K4_D + 32)
#define K4_BYTES (K4_DM + 32)
// q6_K: 64 groups, scales i32 [16][8], d (f32 x 8)
#define K6_SC 2048
#define K6_D (K6_SC + 512)
#define K6_BYTES (K6_D + 32)

// ---- packing ---------------------------------------------------------------------------------------

// out[j] lane r = 32-bit lane j of in[r]
CK_ARM_FN CK_INLINE void transpose4(const int8x16_t in[4], uint8_t *dst, int stride) {
    const int32x4_t r0 = vreinterpretq_s32_s8(in[0]), r1 = vreinterpretq_s32_s8(in[1]);
    const int32x4_t r2 = vreinterpretq_s32_s8(in[2]), r3 = vreinterpretq_s32_s8(in[3]);
    const int64x2_t t0 = vreinterpretq_s64_s32(vtrn1q_s32(r0, r1)), t1 = vreinterpretq_s64_s32(vtrn2q_s32(r0, r1));
    const int64x2_t t2 = vreinterpretq_s64_s32(vtrn1q_s32(r2, r3)), t3 = vreinterpretq_s64_s32(vtrn2q_s32(r2, r3));
    st_s8(dst, vreinterpretq_s8_s64(vtrn1q_s64(t0, t2)));
    st_s8(dst + stride, vreinterpretq_s8_s64(vtrn1q_s64(t1, t3)));
    st_s8(dst + 2 * stride, vreinterpretq_s8_s64(vtrn2q_s64(t0, t2)));
    st_s8(dst + 3 * stride, vreinterpretq_s8_s64(vtrn2q_s64(t1, t3)));
}

#define PACK_B32(name, unpack, block_type)                                                                     \
    CK_ARM_FN static void name(const uint8_t *w, size_t rb, int nr, int64_t b0, int nblk, uint8_t *panel) {    \
        for (int b = 0; b < nblk; ++b, panel += B32_BYTES) {                                                   \
            const uint8_t *rp[MR];                                                                             \
            row_ptrs(rp, MR, w, rb, nr, (size_t)(b0 + b) * sizeof(block_type));                                \
            for (int rg = 0; rg < 2; ++rg) {                                                                   \
                int8x16_t v[4][2], lo[4], hi[4];                                                               \
                for (int r = 0; r < 4; ++r) {                                                                  \
                    unpack(rp[4 * rg + r], v[r]);                                                              \
                    lo[r] = v[r][0];                                                                           \
                    hi[r] = v[r][1];                                                                           \
                }                                                                                              \
                transpose4(lo, panel + 16 * rg, 32);                                                           \
                transpose4(hi, panel + 128 + 16 * rg, 32);                                                     \
            }                                                                                                  \
            halves_to_f32(rp, MR, 0, panel + B32_D);                                                           \
        }                                                                                                      \
    }
PACK_B32(pack_q4_0, unpack_q4_0, ck_block_q4_0)
PACK_B32(pack_q5_0, unpack_q5_0, ck_block_q5_0)
PACK_B32(pack_q8_0, unpack_q8_0, ck_block_q8_0)

// 256 values per row in 16 vectors (v[r][k] = elements 16k..16k+15) -> groups 4k..4k+3
CK_ARM_FN CK_INLINE void store_groups256(int8x16_t v[4][16], uint8_t *panel, int rg) {
    for (int k = 0; k < 16; ++k) {
        const int8x16_t col[4] = {v[0][k], v[1][k], v[2][k], v[3][k]};
        transpose4(col, panel + 32 * 4 * k + 16 * rg, 32);
    }
}

#define PACK_K4(name, unpack, block_type)                                                                      \
    CK_ARM_FN static void name(const uint8_t *w, size_t rb, int nr, int64_t b0, int nblk, uint8_t *panel) {    \
        for (int b = 0; b < nblk; ++b, panel += K4_BYTES) {                                                    \
            const uint8_t *rp[MR];                                                                             \
            row_ptrs(rp, MR, w, rb, nr, (size_t)(b0 + b) * sizeof(block_type));                                \
            for (int rg = 0; rg < 2; ++rg) {                                                                   \
                int8x16_t v[4][16];                                                                            \
                for (int r = 0; r < 4; ++r) unpack(rp[4 * rg + r], v[r]);                                      \
                store_groups256(v, panel, rg);                                                                 \
            }                                                                                                  \
            for (int r = 0; r < MR; ++r) {                                                                     \
                uint8_t sm[16];                                                                                \
                ck_k4_scales_u32(rp[r] + 4, sm);                                                               \
                for (int j = 0; j < 8; ++j) {                                                                  \
                    ck_wr_u32(panel + K4_SC + 4 * (MR * j + r), sm[j]);                                        \
                    ck_wr_i16(panel + K4_M + 2 * (MR * j + r), sm[8 + j]);                                     \
                }                                                                                              \
            }                                                                                                  \
            halves_to_f32(rp, MR, 0, panel + K4_D);                                                            \
            halves_to_f32(rp, MR, 2, panel + K4_DM);                                                           \
        }                                                                                                      \
    }
PACK_K4(pack_q4_K, unpack_q4_K, ck_block_q4_K)
PACK_K4(pack_q5_K, unpack_q5_K, ck_block_q5_K)

CK_ARM_FN static void pack_q6_K(const uint8_t *w, size_t rb, int nr, int64_t b0, int nblk, uint8_t *panel) {
    for (int b = 0; b < nblk; ++b, panel += K6_BYTES) {
        const uint8_t *rp[MR];
        row_ptrs(rp, MR, w, rb, nr, (size_t)(b0 + b) * sizeof(ck_block_q6_K));
        for (int rg = 0; rg < 2; ++rg) {
            int8x16_t v[4][16];
            for (int r = 0; r < 4; ++r) unpack_q6_K(rp[4 * rg + r], v[r]);
            store_groups256(v, panel, rg);
        }
        for (int r = 0; r < MR; ++r)
            for (int k = 0; k < 16; ++k) ck_wr_u32(panel + K6_SC + 4 * (MR * k + r), (uint32_t)(int32_t)(int8_t)rp[r][192 + k]);
        halves_to_f32(rp, MR, 208, panel + K6_D);
    }
}

// ---- compute -----------------------------------------------------------------------------------------

// The accumulators start from the outputs when a previous K chunk wrote them (acc), so each
// (row, token) stays one chain over the super-blocks, as vec_dot computes it (K-quants).
CK_ARM_FN CK_INLINE void load_acc(const float *o, int nr, int acc, float32x4_t *f0, float32x4_t *f1) {
    float v[MR] = {0};
    if (acc)
        for (int r = 0; r < nr; ++r) v[r] = o[r];
    *f0 = vld1q_f32(v);
    *f1 = vld1q_f32(v + 4);
}

CK_ARM_FN CK_INLINE void store_tile(float *out, int64_t os, const float32x4_t *f0, const float32x4_t *f1, int nt, int nr) {
    for (int t = 0; t < nt; ++t) {
        float *o = out + t * os;
        if (nr == MR) {
            st_f32(o, f0[t]);
            st_f32(o + 4, f1[t]);
        } else {
            float v[MR];
            vst1q_f32(v, f0[t]);
            vst1q_f32(v + 4, f1[t]);
            for (int r = 0; r < nr; ++r) o[r] = v[r];
        }
    }
}

// Group `gi` (address) against lane `l` of every token's activation vector av[t], both row groups.
#define GROUP(gi, l)                                                                                    \
    do {                                                                                                \
        const int8x16_t w0_ = ld_s8(p + 32 * (gi)), w1_ = ld_s8(p + 32 * (gi) + 16);                    \
        CK_UNROLL for (int t = 0; t < nt; ++t) {                                                        \
            i0[t] = vdotq_laneq_s32(i0[t], w0_, av[t], l);                                              \
            i1[t] = vdotq_laneq_s32(i1[t], w1_, av[t], l);                                              \
        }                                                                                               \
    } while (0)
#define GROUPS4(g0)                                                                                     \
    do {                                                                                                \
        GROUP((g0), 0);                                                                                 \
        GROUP((g0) + 1, 1);                                                                             \
        GROUP((g0) + 2, 2);                                                                             \
        GROUP((g0) + 3, 3);                                                                             \
    } while (0)

#define TILE_BEGIN(block_bytes)                                                                         \
    float32x4_t f0[NT], f1[NT];                                                                         \
    const uint8_t *y[NT];                                                                               \
    CK_UNROLL for (int t = 0; t < nt; ++t) {                                                            \
        load_acc(out + t * os, nr, acc, &f0[t], &f1[t]);                                                \
        y[t] = a + (size_t)t * as + (size_t)b0 * (block_bytes);                                         \
    }

// One 32-element block b for nt tokens, added to the chains c0 (rows 0-3) and c1 (rows 4-7).
CK_ARM_FN CK_INLINE void b32_block(const uint8_t *p, int b, const uint8_t *const *y, const int nt, float32x4_t *c0,
                                   float32x4_t *c1) {
    int32x4_t i0[NT], i1[NT];
    int8x16_t av[NT];
    CK_UNROLL for (int t = 0; t < nt; ++t) {
        i0[t] = i1[t] = vdupq_n_s32(0);
        av[t] = ld_s8(y[t] + 34 * b + 2);
    }
    GROUPS4(0);
    CK_UNROLL for (int t = 0; t < nt; ++t) av[t] = ld_s8(y[t] + 34 * b + 18);
    GROUPS4(4);
    const float32x4_t d0 = ld_f32(p + B32_D), d1 = ld_f32(p + B32_D + 16);
    CK_UNROLL for (int t = 0; t < nt; ++t) {
        const float da = h2f(y[t] + 34 * b);
        c0[t] = vfmaq_f32(c0[t], vcvtq_f32_s32(i0[t]), vmulq_n_f32(d0, da));
        c1[t] = vfmaq_f32(c1[t], vcvtq_f32_s32(i1[t]), vmulq_n_f32(d1, da));
    }
}

// A K chunk of CK_CHAIN_BLOCKS blocks (the float order of ck_internal.h): the even blocks' chains e*,
// then the odd blocks' chains o* (one at a time keeps the accumulators in registers); the chunk's
// value e + o is stored, or added to what earlier chunks stored.
CK_ARM_FN CK_INLINE void b32_tile(const uint8_t *panel, int nblk, const uint8_t *a, size_t as, int64_t b0, const int nt,
                                  float *out, int64_t os, int nr, int acc) {
    float32x4_t e0[NT], e1[NT], o0[NT], o1[NT];
    const uint8_t *y[NT];
    CK_UNROLL for (int t = 0; t < nt; ++t) {
        e0[t] = e1[t] = o0[t] = o1[t] = vdupq_n_f32(0.0f);
        y[t] = a + (size_t)t * as + (size_t)b0 * sizeof(ck_block_q8_0);
    }
    for (int b = 0; b < nblk; b += 2) b32_block(panel + (size_t)b * B32_BYTES, b, y, nt, e0, e1);
    for (int b = 1; b < nblk; b += 2) b32_block(panel + (size_t)b * B32_BYTES, b, y, nt, o0, o1);
    for (int t = 0; t < nt; ++t) {
        float *o = out + t * os;
        const float32x4_t v0 = vaddq_f32(e0[t], o0[t]), v1 = vaddq_f32(e1[t], o1[t]);
        if (nr == MR) {
            st_f32(o, acc ? vaddq_f32(ld_f32(o), v0) : v0);
            st_f32(o + 4, acc ? vaddq_f32(ld_f32(o + 4), v1) : v1);
        } else {
            float w[MR];
            vst1q_f32(w, v0);
            vst1q_f32(w + 4, v1);
            for (int r = 0; r < nr; ++r) o[r] = acc ? o[r] + w[r] : w[r];
        }
    }
}

// sum over sub-blocks of m_j * bsum pair j, for rows 0-3 (m0) and 4-7 (m1)
#define MIN_TERM(j)                                                                                     \
    do {                                                                                                \
        const int16x8_t mj = ld_s16(p + K4_M + 16 * (j));                                               \
        m0 = vmlal_laneq_s16(m0, vget_low_s16(mj), bp, j);                                              \
        m1 = vmlal_high_laneq_s16(m1, mj, bp, j);                                                       \
    } while (0)

CK_ARM_FN CK_INLINE void k4_tile(const uint8_t *panel, int nblk, const uint8_t *a, size_t as, int64_t b0, const int nt,
                                 float *out, int64_t os, int nr, int acc) {
    TILE_BEGIN(sizeof(ck_block_q8_K))
    for (int b = 0; b < nblk; ++b) {
        const uint8_t *p = panel + (size_t)b * K4_BYTES;
        int32x4_t s0[NT], s1[NT];
        CK_UNROLL for (int t = 0; t < nt; ++t) s0[t] = s1[t] = vdupq_n_s32(0);
        for (int j = 0; j < 8; ++j) {
            int32x4_t i0[NT], i1[NT];
            int8x16_t av[NT];
            CK_UNROLL for (int t = 0; t < nt; ++t) {
                i0[t] = i1[t] = vdupq_n_s32(0);
                av[t] = ld_s8(y[t] + 292 * b + 4 + 32 * j);
            }
            GROUPS4(8 * j);
            CK_UNROLL for (int t = 0; t < nt; ++t) av[t] = ld_s8(y[t] + 292 * b + 20 + 32 * j);
            GROUPS4(8 * j + 4);
            const int32x4_t sc0 = ld_s32(p + K4_SC + 32 * j), sc1 = ld_s32(p + K4_SC + 32 * j + 16);
            CK_UNROLL for (int t = 0; t < nt; ++t) {
                s0[t] = vmlaq_s32(s0[t], i0[t], sc0);
                s1[t] = vmlaq_s32(s1[t], i1[t], sc1);
            }
        }
        const float32x4_t d0 = ld_f32(p + K4_D), d1 = ld_f32(p + K4_D + 16);
        const float32x4_t dm0 = ld_f32(p + K4_DM), dm1 = ld_f32(p + K4_DM + 16);
        CK_UNROLL for (int t = 0; t < nt; ++t) {
            const uint8_t *yb = y[t] + 292 * b;
            const int16x8_t bp = vpaddq_s16(ld_s16(yb + 260), ld_s16(yb + 276));
            int32x4_t m0 = vdupq_n_s32(0), m1 = vdupq_n_s32(0);
            MIN_TERM(0); MIN_TERM(1); MIN_TERM(2); MIN_TERM(3);
            MIN_TERM(4); MIN_TERM(5); MIN_TERM(6); MIN_TERM(7);
            const float yd = ck_rd_f32(yb);
            f0[t] = vfmaq_f32(f0[t], vcvtq_f32_s32(s0[t]), vmulq_n_f32(d0, yd));
            f1[t] = vfmaq_f32(f1[t], vcvtq_f32_s32(s1[t]), vmulq_n_f32(d1, yd));
            f0[t] = vfmsq_f32(f0[t], vcvtq_f32_s32(m0), vmulq_n_f32(dm0, yd));
            f1[t] = vfmsq_f32(f1[t], vcvtq_f32_s32(m1), vmulq_n_f32(dm1, yd));
        }
    }
    store_tile(out, os, f0, f1, nt, nr);
}

CK_ARM_FN CK_INLINE void k6_tile(const uint8_t *panel, int nblk, const uint8_t *a, size_t as, int64_t b0, const int nt,
                                 float *out, int64_t os, int nr, int acc) {
    TILE_BEGIN(sizeof(ck_block_q8_K))
    for (int b = 0; b < nblk; ++b) {
        const uint8_t *p = panel + (size_t)b * K6_BYTES;
        int32x4_t s0[NT], s1[NT];
        CK_UNROLL for (int t = 0; t < nt; ++t) s0[t] = s1[t] = vdupq_n_s32(0);
        for (int k = 0; k < 16; ++k) {
            int32x4_t i0[NT], i1[NT];
            int8x16_t av[NT];
            CK_UNROLL for (int t = 0; t < nt; ++t) {
                i0[t] = i1[t] = vdupq_n_s32(0);
                av[t] = ld_s8(y[t] + 292 * b + 4 + 16 * k);
            }
            GROUPS4(4 * k);
            const int32x4_t sc0 = ld_s32(p + K6_SC + 32 * k), sc1 = ld_s32(p + K6_SC + 32 * k + 16);
            CK_UNROLL for (int t = 0; t < nt; ++t) {
                s0[t] = vmlaq_s32(s0[t], i0[t], sc0);
                s1[t] = vmlaq_s32(s1[t], i1[t], sc1);
            }
        }
        const float32x4_t d0 = ld_f32(p + K6_D), d1 = ld_f32(p + K6_D + 16);
        CK_UNROLL for (int t = 0; t < nt; ++t) {
            const float yd = ck_rd_f32(y[t] + 292 * b);
            f0[t] = vfmaq_f32(f0[t], vcvtq_f32_s32(s0[t]), vmulq_n_f32(d0, yd));
            f1[t] = vfmaq_f32(f1[t], vcvtq_f32_s32(s1[t]), vmulq_n_f32(d1, yd));
        }
    }
    store_tile(out, os, f0, f1, nt, nr);
}

#define COMPUTE(name, tile)                                                                                    \
    CK_ARM_FN static void name(const uint8_t *panel, int nr, const uint8_t *a, size_t as, const uint8_t *aux,  \
                               int ntok, int64_t b0, int nblk, float *out, int64_t os, int acc) {              \
        (void)aux;                                                                                             \
        int t = 0;                                                                                             \
        for (; t + NT <= ntok; t += NT) tile(panel, nblk, a + (size_t)t * as, as, b0, NT, out + t * os, os, nr, acc); \
        const uint8_t *at = a + (size_t)t * as;                                                                \
        float *ot = out + t * os;                                                                              \
        switch (ntok - t) {                                                                                    \
        case 3: tile(panel, nblk, at, as, b0, 3, ot, os, nr, acc); break;                                      \
        case 2: tile(panel, nblk, at, as, b0, 2, ot, os, nr, acc); break;                                      \
        case 1: tile(panel, nblk, at, as, b0, 1, ot, os, nr, acc); break;                                      \
        default: break;                                                                                        \
        }                                                                                                      \
    }
COMPUTE(compute_b32, b32_tile)
COMPUTE(compute_k4, k4_tile)
COMPUTE(compute_k6, k6_tile)

// ---- entry points ----------------------------------------------------------------------------------

static const ck_gemm_ops ops_q4_0 = {MR, 32, B32_BYTES, 0, pack_q4_0, NULL, compute_b32, CK_CHAIN_BLOCKS};
static const ck_gemm_ops ops_q5_0 = {MR, 32, B32_BYTES, 0, pack_q5_0, NULL, compute_b32, CK_CHAIN_BLOCKS};
static const ck_gemm_ops ops_q8_0 = {MR, 32, B32_BYTES, 0, pack_q8_0, NULL, compute_b32, CK_CHAIN_BLOCKS};
static const ck_gemm_ops ops_q4_K = {MR, 256, K4_BYTES, 0, pack_q4_K, NULL, compute_k4, 0};
static const ck_gemm_ops ops_q5_K = {MR, 256, K4_BYTES, 0, pack_q5_K, NULL, compute_k4, 0};
static const ck_gemm_ops ops_q6_K = {MR, 256, K6_BYTES, 0, pack_q6_K, NULL, compute_k6, 0};

#define ENTRY(type)                                                                                                \
    CK_ARM_FN void ck_dotprod_gemm_##type(int64_t n, const void *w, size_t row_bytes, int64_t rows, const void *a,  \
                                          size_t a_stride, int64_t ntok, float *out, int64_t out_stride) {         \
        ck_gemm_drive(&ops_##type, n, w, row_bytes, rows, a, a_stride, ntok, out, out_stride);                     \
    }
ENTRY(q4_0)
ENTRY(q5_0)
ENTRY(q8_0)
ENTRY(q4_K)
ENTRY(q5_K)
ENTRY(q6_K)

#endif
