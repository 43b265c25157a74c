// AVX-512 VNNI gemm microkernels (prefill): 16 weight rows per panel, one row per 32-bit lane.
// Every function carries its own target attribute (F, BW, VL, VNNI, plus AVX2/FMA/F16C); nothing
// here runs unless ck_cpu_features() reported CK_CPU_AVX2 | CK_CPU_AVX512 | CK_CPU_AVX512VNNI.
//
// Layout. A panel holds, for each weight block, the block's quants of 16 rows as unsigned bytes in
// "groups": group g is one zmm whose lane r holds elements 4g..4g+3 of row r. One vpdpbusd of a
// group with the activation's four bytes 4g..4g+3 broadcast to every lane ({1to16}) adds four
// products to all 16 rows at once, so the activation is read straight from its Q8_0 / Q8_K block
// and each result lane is one output: out[t][r0 .. r0+15] is a plain (masked) store.
//
// vpdpbusd multiplies unsigned by signed bytes, so signed weights are stored with an offset
// (q4_0 nibble = q + 8, q5_0: q + 16, q8_0: q ^ 0x80 = q + 128) and the offset times the block's
// activation sum (computed once per token tile by the aux step, x86_avx2_gemm.c) starts the
// block's accumulator; K-quant weights are unsigned already (q6_K's -32 goes through the Q8_K
// bsums). Every block's integer sum is exactly the one vec_dot computes.
//
// A tile is 16 rows x 8 tokens: each group loaded from the panel (L1) feeds 8 tokens, each
// broadcast activation dword feeds 16 rows, and the 8 int32 accumulators are independent chains.
// The K-quant scales multiply each sub-block's int32 sums (vpmulld); their mins / q6_K's offset use
// vpdpwssd on the Q8_K bsums.
#include "ck_internal.h"

typedef int ck_x86_avx512_translation_unit_not_empty;

#if defined(__x86_64__)

#include <immintrin.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define CK_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define CK_INLINE static inline __attribute__((always_inline))
#define CK_UNROLL _Pragma("GCC unroll 16")

#define MR 16
#define NT_MAX 8

// ---- panel geometry (bytes) ------------------------------------------------------------------------

// 32-element blocks: 8 groups, then the 16 row scales (f32)
#define B32_W 0
#define B32_D 512
#define B32_BYTES 576
// q4_K / q5_K super-blocks: 64 groups, 8 scales (i32), 8 mins (i16 pairs m|m<<16), d, dmin (f32)
#define K4_SC 4096
#define K4_MP (K4_SC + 8 * 64)
#define K4_D (K4_MP + 8 * 64)
#define K4_DM (K4_D + 64)
#define K4_BYTES (K4_DM + 64)
// q6_K super-blocks: 64 groups, 16 scales (i32), 8 scale pairs (i16 pairs), d (f32)
#define K6_SC 4096
#define K6_SP (K6_SC + 16 * 64)
#define K6_D (K6_SP + 8 * 64)
#define K6_BYTES (K6_D + 64)

// ---- helpers -------------------------------------------------------------------------------------

CK_AVX512 CK_INLINE __m512i ld512(const void *p) { return _mm512_loadu_si512(p); }
CK_AVX512 CK_INLINE void st512(void *p, __m512i v) { _mm512_storeu_si512(p, v); }
CK_AVX512 CK_INLINE __m512i bcast32(const uint8_t *p) { return _mm512_set1_epi32((int)ck_rd_u32(p)); }

// Row pointers of a panel for one block: rows past nr read zeros.
CK_INLINE void row_ptrs(const uint8_t *rp[MR], const uint8_t *w, size_t rb, int nr, size_t off) {
    for (int r = 0; r < MR; ++r) rp[r] = r < nr ? w + (size_t)r * rb + off : ck_zero_block;
}

// 16 f16 fields at rp[r] + off -> 16 floats (the row scales of a block)
CK_AVX512 CK_INLINE __m512 halves16(const uint8_t *const rp[MR], int off) {
    uint16_t h[MR];
    for (int r = 0; r < MR; ++r) h[r] = ck_rd_u16(rp[r] + off);
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)h));
}

// out[j] lane r = dword j of the 16 bytes at rp[r] + off (16 x 4 dword transpose)
CK_AVX512 CK_INLINE void tr16x4(const uint8_t *const rp[MR], int off, __m512i out[4]) {
    __m512i z[4];
    for (int k = 0; k < 4; ++k) {
        __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(rp[k] + off)));
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(rp[k + 4] + off)), 1);
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(rp[k + 8] + off)), 2);
        z[k] = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(rp[k + 12] + off)), 3);
    }
    // lane L of z[k] is row k + 4L: a 4 x 4 transpose inside every 128-bit lane finishes it
    const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
    out[0] = _mm512_unpacklo_epi64(t0, t2);
    out[1] = _mm512_unpackhi_epi64(t0, t2);
    out[2] = _mm512_unpacklo_epi64(t1, t3);
    out[3] = _mm512_unpackhi_epi64(t1, t3);
}

// out[j] lane r = dword j of the 32 bytes at rp[r] + off (16 x 8 dword transpose)
CK_AVX512 CK_INLINE void tr16x8(const uint8_t *const rp[MR], int off, __m512i out[8]) {
    __m512i z[8], t[8], u[8];
    for (int k = 0; k < 8; ++k)
        z[k] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(rp[k] + off))),
                                  _mm256_loadu_si256((const __m256i *)(rp[k + 8] + off)), 1);
    // 256-bit half H of z[k] is row k + 8H; 4 x 4 transposes inside the 128-bit lanes ...
    for (int k = 0; k < 8; k += 2) {
        t[k] = _mm512_unpacklo_epi32(z[k], z[k + 1]);
        t[k + 1] = _mm512_unpackhi_epi32(z[k], z[k + 1]);
    }
    for (int k = 0; k < 8; k += 4) {
        u[k] = _mm512_unpacklo_epi64(t[k], t[k + 2]);       // rows k..k+3: dword 0 (even lanes), 4 (odd lanes)
        u[k + 1] = _mm512_unpackhi_epi64(t[k], t[k + 2]);   // dwords 1 / 5
        u[k + 2] = _mm512_unpacklo_epi64(t[k + 1], t[k + 3]);   // dwords 2 / 6
        u[k + 3] = _mm512_unpackhi_epi64(t[k + 1], t[k + 3]);   // dwords 3 / 7
    }
    // ... then interleave the 128-bit lanes of rows 0-3 and rows 4-7
    const __m512i lo = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0), hi = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
    for (int j = 0; j < 4; ++j) {
        out[j] = _mm512_permutex2var_epi64(u[j], lo, u[j + 4]);
        out[j + 4] = _mm512_permutex2var_epi64(u[j], hi, u[j + 4]);
    }
}

// ---- packing ---------------------------------------------------------------------------------------

CK_AVX512 static void pack_q4_0(const uint8_t *w, size_t rb, int nr, int64_t b0, int nblk, uint8_t *panel) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int b = 0; b < nblk; ++b, panel += B32_BYTES) {
        const uint8_t *rp[MR];
        row_ptrs(rp, w, rb, nr, (size_t)(b0 + b) * sizeof(ck_block_q4_0));
        __m512i o[4];
        tr16x4(rp, 2, o);
        for (int j = 0; j < 4; ++j) {
            st512(panel + B32_W + 64 * j, _mm512_and_si512(o[j], m4));                              // elements 4j..
            st512(panel + B32_W + 64 * (j + 4), _mm512_and_si512(_mm512_srli_epi32(o[j], 4), m4));   // 16+4j..
        }
        _mm512_storeu_ps(panel + B32_D, halves16(rp, 0));
    }
}

CK_AVX512 static void pack_q5_0(const uint8_t *w, size_t rb, int nr, int64_t b0, int nblk, uint8_t *panel) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), b4 = _mm512_set1_epi8(0x10);
    // byte 4i+k of a lane picks qh byte g/2 of that lane's row; bit 4(g&1)+k of it is element 4g+k's
    const __m512i sel = _mm512_set4_epi32(0x0C0C0C0C, 0x08080808, 0x04040404, 0x00000000);
    const __m512i bit_even = _mm512_set1_epi32(0x08040201), bit_odd = _mm512_set1_epi32((int)0x80402010u);
    for (int b = 0; b < nblk; ++b, panel += B32_BYTES) {
        const uint8_t *rp[MR];
        row_ptrs(rp, w, rb, nr, (size_t)(b0 + b) * sizeof(ck_block_q5_0));
        uint32_t qh[MR];
        for (int r = 0; r < MR; ++r) qh[r] = ck_rd_u32(rp[r] + 2);
        const __m512i vqh = ld512(qh);
        __m512i o[4];
        tr16x4(rp, 6, o);
        for (int g = 0; g < 8; ++g) {
            const __m512i q = g < 4 ? _mm512_and_si512(o[g], m4) : _mm512_and_si512(_mm512_srli_epi32(o[g - 4], 4), m4);
            const __m512i hb = _mm512_shuffle_epi8(vqh, _mm512_add_epi8(sel, _mm512_set1_epi8((char)(g >> 1))));
            const __mmask64 m = _mm512_test_epi8_mask(hb, (g & 1) ? bit_odd : bit_even);
            st512(panel + B32_W + 64 * g, _mm512_mask_add_epi8(q, m, q, b4));
        }
        _mm512_storeu_ps(panel + B32_D, halves16(rp, 0));
    }
}

CK_AVX512 static void pack_q8_0(const uint8_t *w, size_t rb, int nr, int64_t b0, int nblk, uint8_t *panel) {
    const __m512i x80 = _mm512_set1_epi8((char)0x80);
    for (int b = 0; b < nblk; ++b, panel += B32_BYTES) {
        const uint8_t *rp[MR];
        row_ptrs(rp, w, rb, nr, (size_t)(b0 + b) * sizeof(ck_block_q8_0));
        __m512i o[8];
        tr16x8(rp, 2, o);
        for (int g = 0; g < 8; ++g) st512(panel + B32_W + 64 * g, _mm512_xor_si512(o[g], x80));
        _mm512_storeu_ps(panel + B32_D, halves16(rp, 0));
    }
}

// q4_K / q5_K scales and mins of 16 rows
CK_AVX512 CK_INLINE void k4_scales(const uint8_t *const rp[MR], uint8_t *p) {
    for (int r = 0; r < MR; ++r) {
        uint8_t sm[16];
        ck_k4_scales_u32(rp[r] + 4, sm);
        for (int j = 0; j < 8; ++j) {
            ck_wr_u32(p + K4_SC + 4 * (16 * j + r), sm[j]);
            ck_wr_u32(p + K4_MP + 4 * (16 * j + r), sm[8 + j] * 0x00010001u);
        }
    }
    _mm512_storeu_ps(p + K4_D, halves16(rp, 0));
    _mm512_storeu_ps(p + K4_DM, halves16(rp, 2));
}

CK_AVX512 static void pack_q4_K(const uint8_t *w, size_t rb, int nr, int64_t b0, int nblk, uint8_t *panel) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int b = 0; b < nblk; ++b, panel += K4_BYTES) {
        const uint8_t *rp[MR];
        row_ptrs(rp, w, rb, nr, (size_t)(b0 + b) * sizeof(ck_block_q4_K));
        for (int c = 0; c < 4; ++c) {   // 64 elements: low nibbles = sub-block 2c, high = 2c+1
            __m512i o[8];
            tr16x8(rp, 16 + 32 * c, o);
            for (int g = 0; g < 8; ++g) {
                st512(panel + 64 * (16 * c + g), _mm512_and_si512(o[g], m4));
                st512(panel + 64 * (16 * c + 8 + g), _mm512_and_si512(_mm512_srli_epi32(o[g], 4), m4));
            }
        }
        k4_scales(rp, panel);
    }
}

CK_AVX512 static void pack_q5_K(const uint8_t *w, size_t rb, int nr, int64_t b0, int nblk, uint8_t *panel) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), one = _mm512_set1_epi8(1);
    for (int b = 0; b < nblk; ++b, panel += K4_BYTES) {
        const uint8_t *rp[MR];
        row_ptrs(rp, w, rb, nr, (size_t)(b0 + b) * sizeof(ck_block_q5_K));
        __m512i h[8];
        tr16x8(rp, 16, h);   // qh: element 64c + l has bit 2c of qh[l], element 64c + 32 + l bit 2c + 1
        for (int c = 0; c < 4; ++c) {
            __m512i o[8];
            tr16x8(rp, 48 + 32 * c, o);
            for (int g = 0; g < 8; ++g) {
                const __m512i h0 = _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(h[g], 2 * c), one), 4);
                const __m512i h1 = _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(h[g], 2 * c + 1), one), 4);
                st512(panel + 64 * (16 * c + g), _mm512_or_si512(_mm512_and_si512(o[g], m4), h0));
                st512(panel + 64 * (16 * c + 8 + g),
                      _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(o[g], 4), m4), h1));
            }
        }
        k4_scales(rp, panel);
    }
}

CK_AVX512 static void pack_q6_K(const uint8_t *w, size_t rb, int nr, int64_t b0, int nblk, uint8_t *panel) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    for (int b = 0; b < nblk; ++b, panel += K6_BYTES) {
        const uint8_t *rp[MR];
        row_ptrs(rp, w, rb, nr, (size_t)(b0 + b) * sizeof(ck_block_q6_K));
        for (int hf = 0; hf < 2; ++hf) {   // 128 elements: ql[64 hf ..], qh[32 hf ..]
            __m512i lA[8], lB[8], qh[8];
            tr16x8(rp, 64 * hf, lA);
            tr16x8(rp, 64 * hf + 32, lB);
            tr16x8(rp, 128 + 32 * hf, qh);
            uint8_t *dst = panel + 64 * 32 * hf;
            for (int g = 0; g < 8; ++g) {
                const __m512i q1 = _mm512_or_si512(_mm512_and_si512(lA[g], m4), _mm512_and_si512(_mm512_slli_epi32(qh[g], 4), m30));
                const __m512i q2 = _mm512_or_si512(_mm512_and_si512(lB[g], m4), _mm512_and_si512(_mm512_slli_epi32(qh[g], 2), m30));
                const __m512i q3 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(lA[g], 4), m4), _mm512_and_si512(qh[g], m30));
                const __m512i q4 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(lB[g], 4), m4),
                                                   _mm512_and_si512(_mm512_srli_epi32(qh[g], 2), m30));
                st512(dst + 64 * g, q1);
                st512(dst + 64 * (8 + g), q2);
                st512(dst + 64 * (16 + g), q3);
                st512(dst + 64 * (24 + g), q4);
            }
        }
        for (int r = 0; r < MR; ++r) {
            const int8_t *s = (const int8_t *)(rp[r] + 192);
            for (int k = 0; k < 16; ++k) ck_wr_u32(panel + K6_SC + 4 * (16 * k + r), (uint32_t)(int32_t)s[k]);
            for (int k = 0; k < 8; ++k)
                ck_wr_u32(panel + K6_SP + 4 * (16 * k + r), (uint32_t)(uint16_t)s[2 * k] | ((uint32_t)(uint16_t)s[2 * k + 1] << 16));
        }
        _mm512_storeu_ps(panel + K6_D, halves16(rp, 208));
    }
}

// ---- compute -----------------------------------------------------------------------------------------

// The accumulators start from the outputs when a previous K chunk wrote them (acc), so each
// (row, token) stays one chain over the super-blocks, as vec_dot computes it (K-quants).
CK_AVX512 CK_INLINE __m512 load_acc(const float *o, __mmask16 mask, int acc) {
    return acc ? _mm512_maskz_loadu_ps(mask, o) : _mm512_setzero_ps();
}

CK_AVX512 CK_INLINE void store_tile(float *out, int64_t os, const __m512 *f, int nt, __mmask16 mask) {
    for (int t = 0; t < nt; ++t) _mm512_mask_storeu_ps(out + t * os, mask, f[t]);
}

// aux of the 32-element types: per token, per block {f32 d_a, i32 -offset * sum(a)} (x86_avx2_gemm.c)
// One block for NT tokens, added to the chains fc: fc[t] = fma((float)sumi, d_w * d_a, fc[t]).
CK_AVX512 CK_INLINE void b32_block(const uint8_t *p, int b, const uint8_t *const *y, const uint8_t *const *x, const int NT,
                                  __m512 *fc) {
    __m512i s[NT_MAX];
    CK_UNROLL for (int t = 0; t < NT; ++t) s[t] = bcast32(x[t] + 8 * b + 4);
    CK_UNROLL for (int g = 0; g < 8; ++g) {
        const __m512i wg = ld512(p + B32_W + 64 * g);
        CK_UNROLL for (int t = 0; t < NT; ++t) s[t] = _mm512_dpbusd_epi32(s[t], wg, bcast32(y[t] + 34 * b + 4 * g));
    }
    const __m512 d = _mm512_loadu_ps(p + B32_D);
    CK_UNROLL for (int t = 0; t < NT; ++t)
        fc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t]), _mm512_mul_ps(d, _mm512_set1_ps(ck_rd_f32(x[t] + 8 * b))), fc[t]);
}

// A K chunk of CK_CHAIN_BLOCKS blocks (the float order of ck_internal.h): the even blocks' chain,
// parked on the stack, then the odd blocks' chain; the chunk's value c0 + c1 is stored, or added to
// what earlier chunks stored. (One chain at a time keeps the 8 tokens' accumulators in registers.)
CK_AVX512 CK_INLINE void b32_tile(const uint8_t *panel, int nblk, const uint8_t *a, size_t as, const uint8_t *aux,
                                 int64_t b0, const int NT, float *out, int64_t os, __mmask16 mask, int acc) {
    __m512 f[NT_MAX], c0[NT_MAX];
    const uint8_t *y[NT_MAX], *x[NT_MAX];
    CK_UNROLL for (int t = 0; t < NT; ++t) {
        f[t] = _mm512_setzero_ps();
        y[t] = a + (size_t)t * as + (size_t)b0 * sizeof(ck_block_q8_0) + 2;
        x[t] = aux + (size_t)t * (size_t)nblk * 8;
    }
    for (int b = 0; b < nblk; b += 2) b32_block(panel + (size_t)b * B32_BYTES, b, y, x, NT, f);
    CK_UNROLL for (int t = 0; t < NT; ++t) {
        c0[t] = f[t];
        f[t] = _mm512_setzero_ps();
    }
    for (int b = 1; b < nblk; b += 2) b32_block(panel + (size_t)b * B32_BYTES, b, y, x, NT, f);
    CK_UNROLL for (int t = 0; t < NT; ++t) {
        float *o = out + t * os;
        __m512 v = _mm512_add_ps(c0[t], f[t]);
        if (acc) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, o), v);
        _mm512_mask_storeu_ps(o, mask, v);
    }
}

CK_AVX512 static void compute_b32(const uint8_t *panel, int nr, const uint8_t *a, size_t as, const uint8_t *aux, int ntok,
                                  int64_t b0, int nblk, float *out, int64_t os, int acc) {
    const __mmask16 mask = (__mmask16)((1u << nr) - 1u);
    int t = 0;
    for (; t + NT_MAX <= ntok; t += NT_MAX)
        b32_tile(panel, nblk, a + (size_t)t * as, as, aux + (size_t)t * nblk * 8, b0, NT_MAX, out + t * os, os, mask, acc);
    const uint8_t *at = a + (size_t)t * as, *xt = aux + (size_t)t * nblk * 8;
    float *ot = out + t * os;
    switch (ntok - t) {
    case 7: b32_tile(panel, nblk, at, as, xt, b0, 7, ot, os, mask, acc); break;
    case 6: b32_tile(panel, nblk, at, as, xt, b0, 6, ot, os, mask, acc); break;
    case 5: b32_tile(panel, nblk, at, as, xt, b0, 5, ot, os, mask, acc); break;
    case 4: b32_tile(panel, nblk, at, as, xt, b0, 4, ot, os, mask, acc); break;
    case 3: b32_tile(panel, nblk, at, as, xt, b0, 3, ot, os, mask, acc); break;
    case 2: b32_tile(panel, nblk, at, as, xt, b0, 2, ot, os, mask, acc); break;
    case 1: b32_tile(panel, nblk, at, as, xt, b0, 1, ot, os, mask, acc); break;
    default: break;
    }
}

// q4_K / q5_K: sumi = sum_j sc_j * dot_j, summ = sum_j m_j * (bsum_2j + bsum_2j+1), as vec_dot
CK_AVX512 CK_INLINE void k4_tile(const uint8_t *panel, int nblk, const uint8_t *a, size_t as, int64_t b0, const int NT,
                                float *out, int64_t os, __mmask16 mask, int acc) {
    __m512 f[NT_MAX];
    const uint8_t *y[NT_MAX];
    CK_UNROLL for (int t = 0; t < NT; ++t) {
        f[t] = load_acc(out + t * os, mask, acc);
        y[t] = a + (size_t)t * as + (size_t)b0 * sizeof(ck_block_q8_K);
    }
    for (int b = 0; b < nblk; ++b, panel += K4_BYTES) {
        __m512i si[NT_MAX];
        CK_UNROLL for (int t = 0; t < NT; ++t) si[t] = _mm512_setzero_si512();
        for (int j = 0; j < 8; ++j) {
            __m512i d[NT_MAX];
            CK_UNROLL for (int t = 0; t < NT; ++t) d[t] = _mm512_setzero_si512();
            CK_UNROLL for (int g = 0; g < 8; ++g) {
                const __m512i wg = ld512(panel + 64 * (8 * j + g));
                CK_UNROLL for (int t = 0; t < NT; ++t)
                    d[t] = _mm512_dpbusd_epi32(d[t], wg, bcast32(y[t] + 292 * b + 4 + 32 * j + 4 * g));
            }
            const __m512i sc = ld512(panel + K4_SC + 64 * j);
            CK_UNROLL for (int t = 0; t < NT; ++t) si[t] = _mm512_add_epi32(si[t], _mm512_mullo_epi32(d[t], sc));
        }
        const __m512 dd = _mm512_loadu_ps(panel + K4_D), dm = _mm512_loadu_ps(panel + K4_DM);
        CK_UNROLL for (int t = 0; t < NT; ++t) {
            __m512i sm = _mm512_setzero_si512();
            CK_UNROLL for (int j = 0; j < 8; ++j)
                sm = _mm512_dpwssd_epi32(sm, ld512(panel + K4_MP + 64 * j), bcast32(y[t] + 292 * b + 260 + 4 * j));
            const __m512 yd = _mm512_set1_ps(ck_rd_f32(y[t] + 292 * b));
            f[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(si[t]), _mm512_mul_ps(dd, yd), f[t]);
            f[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(sm), _mm512_mul_ps(dm, yd), f[t]);
        }
    }
    store_tile(out, os, f, NT, mask);
}

// q6_K: sumi = sum_k sc_k * dot(q, a)_k - 32 * sum_k sc_k * bsum_k with q = stored 6-bit value in [0, 63]
CK_AVX512 CK_INLINE void k6_tile(const uint8_t *panel, int nblk, const uint8_t *a, size_t as, int64_t b0, const int NT,
                                float *out, int64_t os, __mmask16 mask, int acc) {
    __m512 f[NT_MAX];
    const uint8_t *y[NT_MAX];
    CK_UNROLL for (int t = 0; t < NT; ++t) {
        f[t] = load_acc(out + t * os, mask, acc);
        y[t] = a + (size_t)t * as + (size_t)b0 * sizeof(ck_block_q8_K);
    }
    for (int b = 0; b < nblk; ++b, panel += K6_BYTES) {
        __m512i si[NT_MAX];
        CK_UNROLL for (int t = 0; t < NT; ++t) si[t] = _mm512_setzero_si512();
        for (int k = 0; k < 16; ++k) {
            __m512i d[NT_MAX];
            CK_UNROLL for (int t = 0; t < NT; ++t) d[t] = _mm512_setzero_si512();
            CK_UNROLL for (int g = 0; g < 4; ++g) {
                const __m512i wg = ld512(panel + 64 * (4 * k + g));
                CK_UNROLL for (int t = 0; t < NT; ++t)
                    d[t] = _mm512_dpbusd_epi32(d[t], wg, bcast32(y[t] + 292 * b + 4 + 16 * k + 4 * g));
            }
            const __m512i sc = ld512(panel + K6_SC + 64 * k);
            CK_UNROLL for (int t = 0; t < NT; ++t) si[t] = _mm512_add_epi32(si[t], _mm512_mullo_epi32(d[t], sc));
        }
        const __m512 dd = _mm512_loadu_ps(panel + K6_D);
        CK_UNROLL for (int t = 0; t < NT; ++t) {
            __m512i c = _mm512_setzero_si512();
            CK_UNROLL for (int k = 0; k < 8; ++k)
                c = _mm512_dpwssd_epi32(c, ld512(panel + K6_SP + 64 * k), bcast32(y[t] + 292 * b + 260 + 4 * k));
            const __m512i s = _mm512_sub_epi32(si[t], _mm512_slli_epi32(c, 5));
            f[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dd, _mm512_set1_ps(ck_rd_f32(y[t] + 292 * b))), f[t]);
        }
    }
    store_tile(out, os, f, NT, mask);
}

#define K_COMPUTE(name, tile)                                                                                     \
    CK_AVX512 static void name(const uint8_t *panel, int nr, const uint8_t *a, size_t as, const uint8_t *aux, int ntok, \
                               int64_t b0, int nblk, float *out, int64_t os, int acc) {                           \
        (void)aux;                                                                                                \
        const __mmask16 mask = (__mmask16)((1u << nr) - 1u);                                                      \
        int t = 0;                                                                                                \
        for (; t + 8 <= ntok; t += 8) tile(panel, nblk, a + (size_t)t * as, as, b0, 8, out + t * os, os, mask, acc); \
        const uint8_t *at = a + (size_t)t * as;                                                                   \
        float *ot = out + t * os;                                                                                 \
        switch (ntok - t) {                                                                                       \
        case 7: tile(panel, nblk, at, as, b0, 7, ot, os, mask, acc); break;                                       \
        case 6: tile(panel, nblk, at, as, b0, 6, ot, os, mask, acc); break;                                       \
        case 5: tile(panel, nblk, at, as, b0, 5, ot, os, mask, acc); break;                                       \
        case 4: tile(panel, nblk, at, as, b0, 4, ot, os, mask, acc); break;                                       \
        case 3: tile(panel, nblk, at, as, b0, 3, ot, os, mask, acc); break;                                       \
        case 2: tile(panel, nblk, at, as, b0, 2, ot, os, mask, acc); break;                                       \
        case 1: tile(panel, nblk, at, as, b0, 1, ot, os, mask, acc); break;                                       \
        default: break;                                                                                           \
        }                                                                                                         \
    }

K_COMPUTE(compute_k4, k4_tile)
K_COMPUTE(compute_k6, k6_tile)

// ---- entry points ----------------------------------------------------------------------------------

static const ck_gemm_ops ops_q4_0 = {MR, 32, B32_BYTES, 8, pack_q4_0, ck_avx2_gemm_aux_off8, compute_b32, CK_CHAIN_BLOCKS};
static const ck_gemm_ops ops_q5_0 = {MR, 32, B32_BYTES, 8, pack_q5_0, ck_avx2_gemm_aux_off16, compute_b32, CK_CHAIN_BLOCKS};
static const ck_gemm_ops ops_q8_0 = {MR, 32, B32_BYTES, 8, pack_q8_0, ck_avx2_gemm_aux_off128, compute_b32, CK_CHAIN_BLOCKS};
static const ck_gemm_ops ops_q4_K = {MR, 256, K4_BYTES, 0, pack_q4_K, NULL, compute_k4, 0};
static const ck_gemm_ops ops_q5_K = {MR, 256, K4_BYTES, 0, pack_q5_K, NULL, compute_k4, 0};
static const ck_gemm_ops ops_q6_K = {MR, 256, K6_BYTES, 0, pack_q6_K, NULL, compute_k6, 0};

#define ENTRY(type)                                                                                                \
    void ck_avx512_gemm_##type(int64_t n, const void *w, size_t row_bytes, int64_t rows, const void *a, size_t a_stride, \
                               int64_t ntok, float *out, int64_t out_stride) {                                     \
        ck_gemm_drive(&ops_##type, n, w, row_bytes, rows, a, a_stride, ntok, out, out_stride);                     \
    }
ENTRY(q4_0)
ENTRY(q5_0)
ENTRY(q8_0)
ENTRY(q4_K)
ENTRY(q5_K)
ENTRY(q6_K)

#endif
