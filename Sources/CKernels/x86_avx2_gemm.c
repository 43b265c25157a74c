// AVX2 gemm microkernels (prefill): 8 weight rows per panel, one row per 32-bit lane. Every
// function carries target("avx2,fma,f16c"); nothing here runs unless ck_cpu_features() reported
// CK_CPU_AVX2.
//
// Layout as in x86_avx512.c: group g of a block is one ymm whose lane r holds elements 4g..4g+3 of
// row r; the activation's four bytes 4g..4g+3 are broadcast to all lanes, so each result lane is
// one output and no horizontal sums are needed. vpmaddubsw (unsigned x signed bytes, pairs summed
// into saturating int16) does the products: weights are stored unsigned with an offset (q4_0 + 8,
// q5_0 + 16; the offset times the block's activation sum starts the accumulator, see the aux step
// below), and int16 partial sums are widened (vpmaddwd) before they could reach 2^15: four groups
// of 5-bit weights (4 * 2 * 31 * 127 < 2^15), two of 6-bit ones. q8_0 weights use the sign trick
// (|w| x sign(a, w)) instead, one group per widening. The K-quants' integer scales multiply the
// int16 partial sums in the same vpmaddwd that widens them. Every block's integer sum is exactly
// the one vec_dot computes.
#include "ck_internal.h"

typedef int ck_x86_avx2_gemm_translation_unit_not_empty;

#if defined(__x86_64__)

#include <immintrin.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define CK_AVX2 __attribute__((target("avx2,fma,f16c")))
#define CK_INLINE static inline __attribute__((always_inline))
#define CK_UNROLL _Pragma("GCC unroll 16")

#define MR 8
#define NT 4

// ---- panel geometry (bytes) ------------------------------------------------------------------------

// q4_0 / q5_0: 8 groups of unsigned quants, then the 8 row scales (f32)
#define B32_D 256
#define B32_BYTES 288
// q8_0: 8 groups of |w|, 8 groups of w, the row scales
#define Q8_S 256
#define Q8_D 512
#define Q8_BYTES 544
// q4_K / q5_K: 64 groups, 8 scales and 8 mins as i16 pairs (s | s << 16), d, dmin (f32)
#define K4_SC 2048
#define K4_MP (K4_SC + 8 * 32)
#define K4_D (K4_MP + 8 * 32)
#define K4_DM (K4_D + 32)
#define K4_BYTES (K4_DM + 32)
// q6_K: 64 groups, 16 scales as i16 pairs (s | s << 16), 8 scale pairs (s_2k | s_2k+1 << 16), d
#define K6_SC 2048
#define K6_SP (K6_SC + 16 * 32)
#define K6_D (K6_SP + 8 * 32)
#define K6_BYTES (K6_D + 32)

// ---- helpers -------------------------------------------------------------------------------------

CK_AVX2 CK_INLINE __m256i ld256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
CK_AVX2 CK_INLINE void st256(void *p, __m256i v) { _mm256_storeu_si256((__m256i *)p, v); }
CK_AVX2 CK_INLINE __m256i bcast32(const uint8_t *p) { return _mm256_set1_epi32((int)ck_rd_u32(p)); }

CK_INLINE void row_ptrs(const uint8_t *rp[MR], const uint8_t *w, size_t rb, int nr, size_t off) {
    for (int r = 0; r < MR; ++r) rp[r] = r < nr ? w + (size_t)r * rb + off : ck_zero_block;
}

CK_AVX2 CK_INLINE __m256 halves8(const uint8_t *const rp[MR], int off) {
    uint16_t h[MR];
    for (int r = 0; r < MR; ++r) h[r] = ck_rd_u16(rp[r] + off);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
}

// out[j] lane r = dword j of the 16 bytes at rp[r] + off
CK_AVX2 CK_INLINE void tr8x4(const uint8_t *const rp[MR], int off, __m256i out[4]) {
    __m256i z[4];
    for (int k = 0; k < 4; ++k)
        z[k] = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(rp[k] + off))),
                                       _mm_loadu_si128((const __m128i *)(rp[k + 4] + off)), 1);
    const __m256i t0 = _mm256_unpacklo_epi32(z[0], z[1]), t1 = _mm256_unpackhi_epi32(z[0], z[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(z[2], z[3]), t3 = _mm256_unpackhi_epi32(z[2], z[3]);
    out[0] = _mm256_unpacklo_epi64(t0, t2);
    out[1] = _mm256_unpackhi_epi64(t0, t2);
    out[2] = _mm256_unpacklo_epi64(t1, t3);
    out[3] = _mm256_unpackhi_epi64(t1, t3);
}

// out[j] lane r = dword j of the 32 bytes at rp[r] + off
CK_AVX2 CK_INLINE void tr8x8(const uint8_t *const rp[MR], int off, __m256i out[8]) {
    __m256i z[8], t[8], u[8];
    for (int k = 0; k < 8; ++k) z[k] = ld256(rp[k] + off);
    for (int k = 0; k < 8; k += 2) {
        t[k] = _mm256_unpacklo_epi32(z[k], z[k + 1]);
        t[k + 1] = _mm256_unpackhi_epi32(z[k], z[k + 1]);
    }
    for (int k = 0; k < 8; k += 4) {
        u[k] = _mm256_unpacklo_epi64(t[k], t[k + 2]);
        u[k + 1] = _mm256_unpackhi_epi64(t[k], t[k + 2]);
        u[k + 2] = _mm256_unpacklo_epi64(t[k + 1], t[k + 3]);
        u[k + 3] = _mm256_unpackhi_epi64(t[k + 1], t[k + 3]);
    }
    for (int j = 0; j < 4; ++j) {
        out[j] = _mm256_permute2x128_si256(u[j], u[j + 4], 0x20);
        out[j + 4] = _mm256_permute2x128_si256(u[j], u[j + 4], 0x31);
    }
}

// ---- the aux step of the 32-element types (also used by x86_avx512.c) -----------------------------

// per token t and block b (from b0): {f32 d_a, i32 -off * sum of the 32 quants} at aux + 8 (t nblk + b)
CK_AVX2 CK_INLINE void aux_b32(const uint8_t *a, size_t as, int ntok, int64_t b0, int nblk, uint8_t *aux, int shift) {
    const __m256i x80 = _mm256_set1_epi8((char)0x80), z = _mm256_setzero_si256();
    for (int t = 0; t < ntok; ++t) {
        const uint8_t *y = a + (size_t)t * as + (size_t)b0 * sizeof(ck_block_q8_0);
        for (int b = 0; b < nblk; ++b, y += sizeof(ck_block_q8_0), aux += 8) {
            // sum of (q + 128) in four u64 lanes, minus 32 * 128
            const __m256i s = _mm256_sad_epu8(_mm256_xor_si256(ld256(y + 2), x80), z);
            const __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
            const int sum = (int)(_mm_cvtsi128_si64(s2) + _mm_extract_epi64(s2, 1)) - 32 * 128;
            ck_wr_f32(aux, _cvtsh_ss(ck_rd_u16(y)));
            ck_wr_u32(aux + 4, (uint32_t)(-sum * (1 << shift)));
        }
    }
}

CK_AVX2 void ck_avx2_gemm_aux_off8(const uint8_t *a, size_t as, int ntok, int64_t b0, int nblk, uint8_t *aux) {
    aux_b32(a, as, ntok, b0, nblk, aux, 3);
}
CK_AVX2 void ck_avx2_gemm_aux_off16(const uint8_t *a, size_t as, int ntok, int64_t b0, int nblk, uint8_t *aux) {
    aux_b32(a, as, ntok, b0, nblk, aux, 4);
}
CK_AVX2 void ck_avx2_gemm_aux_off128(const uint8_t *a, size_t as, int ntok, int64_t b0, int nblk, uint8_t *aux) {
    aux_b32(a, as, ntok, b0, nblk, aux, 7);
}

// ---- packing ---------------------------------------------------------------------------------------

CK_AVX2 static void pack_q4_0(const uint8_t *w, size_t rb, int nr, int64_t b0, int nblk, uint8_t *panel) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int b = 0; b < nblk; ++b, panel += B32_BYTES) {
        const uint8_t *rp[MR];
        row_ptrs(rp, w, rb, nr, (size_t)(b0 + b) * sizeof(ck_block_q4_0));
        __m256i o[4];
        tr8x4(rp, 2, o);
        for (int j = 0; j < 4; ++j) {
            st256(panel + 32 * j, _mm256_and_si256(o[j], m4));
            st256(panel + 32 * (j + 4), _mm256_and_si256(_mm256_srli_epi32(o[j], 4), m4));
        }
        _mm256_storeu_ps((float *)(void *)(panel + B32_D), halves8(rp, 0));
    }
}

CK_AVX2 static void pack_q5_0(const uint8_t *w, size_t rb, int nr, int64_t b0, int nblk, uint8_t *panel) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), b4 = _mm256_set1_epi8(0x10);
    // byte 4i+k of a lane picks qh byte g/2 of that lane's row; bit 4(g&1)+k of it is element 4g+k's
    const __m256i sel = _mm256_set_epi32(0x0C0C0C0C, 0x08080808, 0x04040404, 0, 0x0C0C0C0C, 0x08080808, 0x04040404, 0);
    const __m256i bit_even = _mm256_set1_epi32(0x08040201), bit_odd = _mm256_set1_epi32((int)0x80402010u);
    for (int b = 0; b < nblk; ++b, panel += B32_BYTES) {
        const uint8_t *rp[MR];
        row_ptrs(rp, w, rb, nr, (size_t)(b0 + b) * sizeof(ck_block_q5_0));
        uint32_t qh[MR];
        for (int r = 0; r < MR; ++r) qh[r] = ck_rd_u32(rp[r] + 2);
        const __m256i vqh = ld256(qh);
        __m256i o[4];
        tr8x4(rp, 6, o);
        for (int g = 0; g < 8; ++g) {
            const __m256i q = g < 4 ? _mm256_and_si256(o[g], m4) : _mm256_and_si256(_mm256_srli_epi32(o[g - 4], 4), m4);
            const __m256i bits = (g & 1) ? bit_odd : bit_even;
            const __m256i hb = _mm256_shuffle_epi8(vqh, _mm256_add_epi8(sel, _mm256_set1_epi8((char)(g >> 1))));
            const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(hb, bits), bits);
            st256(panel + 32 * g, _mm256_or_si256(q, _mm256_and_si256(set, b4)));
        }
        _mm256_storeu_ps((float *)(void *)(panel + B32_D), halves8(rp, 0));
    }
}

CK_AVX2 static void pack_q8_0(const uint8_t *w, size_t rb, int nr, int64_t b0, int nblk, uint8_t *panel) {
    for (int b = 0; b < nblk; ++b, panel += Q8_BYTES) {
        const uint8_t *rp[MR];
        row_ptrs(rp, w, rb, nr, (size_t)(b0 + b) * sizeof(ck_block_q8_0));
        __m256i o[8];
        tr8x8(rp, 2, o);
        for (int g = 0; g < 8; ++g) {
            st256(panel + 32 * g, _mm256_abs_epi8(o[g]));   // -128 -> 0x80, read unsigned: 128
            st256(panel + Q8_S + 32 * g, o[g]);
        }
        _mm256_storeu_ps((float *)(void *)(panel + Q8_D), halves8(rp, 0));
    }
}

CK_AVX2 CK_INLINE void k4_scales(const uint8_t *const rp[MR], uint8_t *p) {
    for (int r = 0; r < MR; ++r) {
        uint8_t sm[16];
        ck_k4_scales_u32(rp[r] + 4, sm);
        for (int j = 0; j < 8; ++j) {
            ck_wr_u32(p + K4_SC + 4 * (8 * j + r), sm[j] * 0x00010001u);
            ck_wr_u32(p + K4_MP + 4 * (8 * j + r), sm[8 + j] * 0x00010001u);
        }
    }
    _mm256_storeu_ps((float *)(void *)(p + K4_D), halves8(rp, 0));
    _mm256_storeu_ps((float *)(void *)(p + K4_DM), halves8(rp, 2));
}

CK_AVX2 static void pack_q4_K(const uint8_t *w, size_t rb, int nr, int64_t b0, int nblk, uint8_t *panel) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int b = 0; b < nblk; ++b, panel += K4_BYTES) {
        const uint8_t *rp[MR];
        row_ptrs(rp, w, rb, nr, (size_t)(b0 + b) * sizeof(ck_block_q4_K));
        for (int c = 0; c < 4; ++c) {
            __m256i o[8];
            tr8x8(rp, 16 + 32 * c, o);
            for (int g = 0; g < 8; ++g) {
                st256(panel + 32 * (16 * c + g), _mm256_and_si256(o[g], m4));
                st256(panel + 32 * (16 * c + 8 + g), _mm256_and_si256(_mm256_srli_epi32(o[g], 4), m4));
            }
        }
        k4_scales(rp, panel);
    }
}

CK_AVX2 static void pack_q5_K(const uint8_t *w, size_t rb, int nr, int64_t b0, int nblk, uint8_t *panel) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    for (int b = 0; b < nblk; ++b, panel += K4_BYTES) {
        const uint8_t *rp[MR];
        row_ptrs(rp, w, rb, nr, (size_t)(b0 + b) * sizeof(ck_block_q5_K));
        __m256i h[8];
        tr8x8(rp, 16, h);
        for (int c = 0; c < 4; ++c) {
            __m256i o[8];
            tr8x8(rp, 48 + 32 * c, o);
            for (int g = 0; g < 8; ++g) {
                const __m256i h0 = _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(h[g], 2 * c), one), 4);
                const __m256i h1 = _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(h[g], 2 * c + 1), one), 4);
                st256(panel + 32 * (16 * c + g), _mm256_or_si256(_mm256_and_si256(o[g], m4), h0));
                st256(panel + 32 * (16 * c + 8 + g), _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(o[g], 4), m4), h1));
            }
        }
        k4_scales(rp, panel);
    }
}

CK_AVX2 static void pack_q6_K(const uint8_t *w, size_t rb, int nr, int64_t b0, int nblk, uint8_t *panel) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    for (int b = 0; b < nblk; ++b, panel += K6_BYTES) {
        const uint8_t *rp[MR];
        row_ptrs(rp, w, rb, nr, (size_t)(b0 + b) * sizeof(ck_block_q6_K));
        for (int hf = 0; hf < 2; ++hf) {
            __m256i lA[8], lB[8], qh[8];
            tr8x8(rp, 64 * hf, lA);
            tr8x8(rp, 64 * hf + 32, lB);
            tr8x8(rp, 128 + 32 * hf, qh);
            uint8_t *dst = panel + 32 * 32 * hf;
            for (int g = 0; g < 8; ++g) {
                st256(dst + 32 * g, _mm256_or_si256(_mm256_and_si256(lA[g], m4), _mm256_and_si256(_mm256_slli_epi32(qh[g], 4), m30)));
                st256(dst + 32 * (8 + g), _mm256_or_si256(_mm256_and_si256(lB[g], m4), _mm256_and_si256(_mm256_slli_epi32(qh[g], 2), m30)));
                st256(dst + 32 * (16 + g), _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(lA[g], 4), m4), _mm256_and_si256(qh[g], m30)));
                st256(dst + 32 * (24 + g), _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(lB[g], 4), m4),
                                                           _mm256_and_si256(_mm256_srli_epi32(qh[g], 2), m30)));
            }
        }
        for (int r = 0; r < MR; ++r) {
            const int8_t *s = (const int8_t *)(rp[r] + 192);
            for (int k = 0; k < 16; ++k) ck_wr_u32(panel + K6_SC + 4 * (8 * k + r), (uint32_t)(uint16_t)s[k] * 0x00010001u);
            for (int k = 0; k < 8; ++k)
                ck_wr_u32(panel + K6_SP + 4 * (8 * k + r), (uint32_t)(uint16_t)s[2 * k] | ((uint32_t)(uint16_t)s[2 * k + 1] << 16));
        }
        _mm256_storeu_ps((float *)(void *)(panel + K6_D), halves8(rp, 208));
    }
}

// ---- compute -----------------------------------------------------------------------------------------

// The accumulators start from the outputs when a previous K chunk wrote them (acc), so each
// (row, token) stays one chain over the super-blocks, as vec_dot computes it (K-quants).
CK_AVX2 CK_INLINE __m256 load_acc(const float *o, int nr, int acc) {
    if (!acc) return _mm256_setzero_ps();
    if (nr == MR) return _mm256_loadu_ps(o);
    float v[MR] = {0};
    for (int r = 0; r < nr; ++r) v[r] = o[r];
    return _mm256_loadu_ps(v);
}

CK_AVX2 CK_INLINE void store_tile(float *out, int64_t os, const __m256 *f, int nt, int nr) {
    for (int t = 0; t < nt; ++t) {
        float *o = out + t * os;
        if (nr == MR) {
            _mm256_storeu_ps(o, f[t]);
        } else {
            float v[MR];
            _mm256_storeu_ps(v, f[t]);
            for (int r = 0; r < nr; ++r) o[r] = v[r];
        }
    }
}

// A K chunk of the 32-element types is CK_CHAIN_BLOCKS blocks (the float order of ck_internal.h):
// the even blocks' chain (parked on the stack), then the odd blocks' chain, one at a time to keep
// the accumulators in registers; the chunk's value c0 + c1 is stored, or added to what earlier
// chunks stored.
CK_AVX2 CK_INLINE void store_chunk(float *out, int64_t os, const __m256 *f0, const __m256 *f1, int nt, int nr, int acc) {
    for (int t = 0; t < nt; ++t) {
        float *o = out + t * os;
        const __m256 v = _mm256_add_ps(f0[t], f1[t]);
        if (nr == MR) {
            _mm256_storeu_ps(o, acc ? _mm256_add_ps(_mm256_loadu_ps(o), v) : v);
        } else {
            float w[MR];
            _mm256_storeu_ps(w, v);
            for (int r = 0; r < nr; ++r) o[r] = acc ? o[r] + w[r] : w[r];
        }
    }
}

// q4_0 / q5_0 (unsigned quants with an offset; aux: {d_a, -offset * sum a}): one block, NT tokens
CK_AVX2 CK_INLINE void b32_block(const uint8_t *p, int b, const uint8_t *const *y, const uint8_t *const *x, const int nt,
                                __m256 *fc) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i s[NT];
    CK_UNROLL for (int t = 0; t < nt; ++t) s[t] = bcast32(x[t] + 8 * b + 4);
    CK_UNROLL for (int h = 0; h < 2; ++h) {
        __m256i q[NT];
        CK_UNROLL for (int t = 0; t < nt; ++t) q[t] = _mm256_setzero_si256();
        CK_UNROLL for (int g = 4 * h; g < 4 * h + 4; ++g) {
            const __m256i wg = ld256(p + 32 * g);
            CK_UNROLL for (int t = 0; t < nt; ++t)
                q[t] = _mm256_add_epi16(q[t], _mm256_maddubs_epi16(wg, bcast32(y[t] + 34 * b + 4 * g)));
        }
        CK_UNROLL for (int t = 0; t < nt; ++t) s[t] = _mm256_add_epi32(s[t], _mm256_madd_epi16(q[t], ones));
    }
    const __m256 d = _mm256_loadu_ps((const float *)(const void *)(p + B32_D));
    CK_UNROLL for (int t = 0; t < nt; ++t)
        fc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[t]), _mm256_mul_ps(d, _mm256_set1_ps(ck_rd_f32(x[t] + 8 * b))), fc[t]);
}

CK_AVX2 CK_INLINE void b32_tile(const uint8_t *panel, int nblk, const uint8_t *a, size_t as, const uint8_t *aux, int64_t b0,
                               const int nt, float *out, int64_t os, int nr, int acc) {
    __m256 f0[NT], f1[NT];
    const uint8_t *y[NT], *x[NT];
    CK_UNROLL for (int t = 0; t < nt; ++t) {
        f0[t] = f1[t] = _mm256_setzero_ps();
        y[t] = a + (size_t)t * as + (size_t)b0 * sizeof(ck_block_q8_0) + 2;
        x[t] = aux + (size_t)t * (size_t)nblk * 8;
    }
    for (int b = 0; b < nblk; b += 2) b32_block(panel + (size_t)b * B32_BYTES, b, y, x, nt, f0);
    for (int b = 1; b < nblk; b += 2) b32_block(panel + (size_t)b * B32_BYTES, b, y, x, nt, f1);
    store_chunk(out, os, f0, f1, nt, nr, acc);
}

// q8_0: |w| x sign(a, w), no aux: one block, NT tokens
CK_AVX2 CK_INLINE void q8_block(const uint8_t *p, int b, const uint8_t *const *y, const int nt, __m256 *fc) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i s[NT];
    CK_UNROLL for (int t = 0; t < nt; ++t) s[t] = _mm256_setzero_si256();
    CK_UNROLL for (int g = 0; g < 8; ++g) {
        const __m256i wa = ld256(p + 32 * g), ws = ld256(p + Q8_S + 32 * g);
        CK_UNROLL for (int t = 0; t < nt; ++t) {
            const __m256i q = _mm256_maddubs_epi16(wa, _mm256_sign_epi8(bcast32(y[t] + 34 * b + 2 + 4 * g), ws));
            s[t] = _mm256_add_epi32(s[t], _mm256_madd_epi16(q, ones));
        }
    }
    const __m256 d = _mm256_loadu_ps((const float *)(const void *)(p + Q8_D));
    CK_UNROLL for (int t = 0; t < nt; ++t)
        fc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[t]), _mm256_mul_ps(d, _mm256_set1_ps(_cvtsh_ss(ck_rd_u16(y[t] + 34 * b)))), fc[t]);
}

CK_AVX2 CK_INLINE void q8_tile(const uint8_t *panel, int nblk, const uint8_t *a, size_t as, int64_t b0, const int nt,
                              float *out, int64_t os, int nr, int acc) {
    __m256 f0[NT], f1[NT];
    const uint8_t *y[NT];
    CK_UNROLL for (int t = 0; t < nt; ++t) {
        f0[t] = f1[t] = _mm256_setzero_ps();
        y[t] = a + (size_t)t * as + (size_t)b0 * sizeof(ck_block_q8_0);
    }
    for (int b = 0; b < nblk; b += 2) q8_block(panel + (size_t)b * Q8_BYTES, b, y, nt, f0);
    for (int b = 1; b < nblk; b += 2) q8_block(panel + (size_t)b * Q8_BYTES, b, y, nt, f1);
    store_chunk(out, os, f0, f1, nt, nr, acc);
}

// q4_K / q5_K: `split` groups per int16 partial sum (8 for 4-bit quants, 4 for 5-bit)
CK_AVX2 CK_INLINE void k4_tile(const uint8_t *panel, int nblk, const uint8_t *a, size_t as, int64_t b0, const int nt,
                              float *out, int64_t os, int nr, int acc, const int split) {
    __m256 f[NT];
    const uint8_t *y[NT];
    CK_UNROLL for (int t = 0; t < nt; ++t) {
        f[t] = load_acc(out + t * os, nr, acc);
        y[t] = a + (size_t)t * as + (size_t)b0 * sizeof(ck_block_q8_K);
    }
    for (int b = 0; b < nblk; ++b, panel += K4_BYTES) {
        __m256i si[NT];
        CK_UNROLL for (int t = 0; t < nt; ++t) si[t] = _mm256_setzero_si256();
        for (int j = 0; j < 8; ++j) {
            const __m256i sc = ld256(panel + K4_SC + 32 * j);
            CK_UNROLL for (int h = 0; h < 8; h += split) {
                __m256i p[NT];
                CK_UNROLL for (int t = 0; t < nt; ++t) p[t] = _mm256_setzero_si256();
                CK_UNROLL for (int g = h; g < h + split; ++g) {
                    const __m256i wg = ld256(panel + 32 * (8 * j + g));
                    CK_UNROLL for (int t = 0; t < nt; ++t)
                        p[t] = _mm256_add_epi16(p[t], _mm256_maddubs_epi16(wg, bcast32(y[t] + 292 * b + 4 + 32 * j + 4 * g)));
                }
                CK_UNROLL for (int t = 0; t < nt; ++t) si[t] = _mm256_add_epi32(si[t], _mm256_madd_epi16(p[t], sc));
            }
        }
        const __m256 dd = _mm256_loadu_ps((const float *)(const void *)(panel + K4_D));
        const __m256 dm = _mm256_loadu_ps((const float *)(const void *)(panel + K4_DM));
        CK_UNROLL for (int t = 0; t < nt; ++t) {
            __m256i sm = _mm256_setzero_si256();
            CK_UNROLL for (int j = 0; j < 8; ++j)
                sm = _mm256_add_epi32(sm, _mm256_madd_epi16(ld256(panel + K4_MP + 32 * j), bcast32(y[t] + 292 * b + 260 + 4 * j)));
            const __m256 yd = _mm256_set1_ps(ck_rd_f32(y[t] + 292 * b));
            f[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(si[t]), _mm256_mul_ps(dd, yd), f[t]);
            f[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(sm), _mm256_mul_ps(dm, yd), f[t]);
        }
    }
    store_tile(out, os, f, nt, nr);
}

// q6_K: quants in [0, 63], two groups per int16 partial; -32 * sum_k sc_k bsum_k afterwards
CK_AVX2 CK_INLINE void k6_tile(const uint8_t *panel, int nblk, const uint8_t *a, size_t as, int64_t b0, const int nt,
                              float *out, int64_t os, int nr, int acc) {
    __m256 f[NT];
    const uint8_t *y[NT];
    CK_UNROLL for (int t = 0; t < nt; ++t) {
        f[t] = load_acc(out + t * os, nr, acc);
        y[t] = a + (size_t)t * as + (size_t)b0 * sizeof(ck_block_q8_K);
    }
    for (int b = 0; b < nblk; ++b, panel += K6_BYTES) {
        __m256i si[NT];
        CK_UNROLL for (int t = 0; t < nt; ++t) si[t] = _mm256_setzero_si256();
        for (int k = 0; k < 16; ++k) {
            const __m256i sc = ld256(panel + K6_SC + 32 * k);
            CK_UNROLL for (int h = 0; h < 4; h += 2) {
                const __m256i w0 = ld256(panel + 32 * (4 * k + h)), w1 = ld256(panel + 32 * (4 * k + h + 1));
                CK_UNROLL for (int t = 0; t < nt; ++t) {
                    const uint8_t *q = y[t] + 292 * b + 4 + 16 * k + 4 * h;
                    const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(w0, bcast32(q)), _mm256_maddubs_epi16(w1, bcast32(q + 4)));
                    si[t] = _mm256_add_epi32(si[t], _mm256_madd_epi16(p, sc));
                }
            }
        }
        const __m256 dd = _mm256_loadu_ps((const float *)(const void *)(panel + K6_D));
        CK_UNROLL for (int t = 0; t < nt; ++t) {
            __m256i c = _mm256_setzero_si256();
            CK_UNROLL for (int k = 0; k < 8; ++k)
                c = _mm256_add_epi32(c, _mm256_madd_epi16(ld256(panel + K6_SP + 32 * k), bcast32(y[t] + 292 * b + 260 + 4 * k)));
            const __m256i s = _mm256_sub_epi32(si[t], _mm256_slli_epi32(c, 5));
            f[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dd, _mm256_set1_ps(ck_rd_f32(y[t] + 292 * b))), f[t]);
        }
    }
    store_tile(out, os, f, nt, nr);
}

// Token loops: groups of NT tokens, then the 1..NT-1 left (each instantiated with a constant count).
#define TOKEN_LOOP(call_nt)                                                                                       \
    int t = 0;                                                                                                    \
    for (; t + NT <= ntok; t += NT) call_nt(NT);                                                                  \
    switch (ntok - t) {                                                                                           \
    case 3: call_nt(3); break;                                                                                    \
    case 2: call_nt(2); break;                                                                                    \
    case 1: call_nt(1); break;                                                                                    \
    default: break;                                                                                               \
    }

CK_AVX2 static void compute_b32(const uint8_t *panel, int nr, const uint8_t *a, size_t as, const uint8_t *aux, int ntok,
                                int64_t b0, int nblk, float *out, int64_t os, int acc) {
#define CALL(k) b32_tile(panel, nblk, a + (size_t)t * as, as, aux + (size_t)t * nblk * 8, b0, k, out + t * os, os, nr, acc)
    TOKEN_LOOP(CALL)
#undef CALL
}

CK_AVX2 static void compute_q8(const uint8_t *panel, int nr, const uint8_t *a, size_t as, const uint8_t *aux, int ntok,
                               int64_t b0, int nblk, float *out, int64_t os, int acc) {
    (void)aux;
#define CALL(k) q8_tile(panel, nblk, a + (size_t)t * as, as, b0, k, out + t * os, os, nr, acc)
    TOKEN_LOOP(CALL)
#undef CALL
}

CK_AVX2 static void compute_q4_K(const uint8_t *panel, int nr, const uint8_t *a, size_t as, const uint8_t *aux, int ntok,
                                 int64_t b0, int nblk, float *out, int64_t os, int acc) {
    (void)aux;
#define CALL(k) k4_tile(panel, nblk, a + (size_t)t * as, as, b0, k, out + t * os, os, nr, acc, 8)
    TOKEN_LOOP(CALL)
#undef CALL
}

CK_AVX2 static void compute_q5_K(const uint8_t *panel, int nr, const uint8_t *a, size_t as, const uint8_t *aux, int ntok,
                                 int64_t b0, int nblk, float *out, int64_t os, int acc) {
    (void)aux;
#define CALL(k) k4_tile(panel, nblk, a + (size_t)t * as, as, b0, k, out + t * os, os, nr, acc, 4)
    TOKEN_LOOP(CALL)
#undef CALL
}

CK_AVX2 static void compute_k6(const uint8_t *panel, int nr, const uint8_t *a, size_t as, const uint8_t *aux, int ntok,
                               int64_t b0, int nblk, float *out, int64_t os, int acc) {
    (void)aux;
#define CALL(k) k6_tile(panel, nblk, a + (size_t)t * as, as, b0, k, out + t * os, os, nr, acc)
    TOKEN_LOOP(CALL)
#undef CALL
}

// ---- entry points ----------------------------------------------------------------------------------

static const ck_gemm_ops ops_q4_0 = {MR, 32, B32_BYTES, 8, pack_q4_0, ck_avx2_gemm_aux_off8, compute_b32, CK_CHAIN_BLOCKS};
static const ck_gemm_ops ops_q5_0 = {MR, 32, B32_BYTES, 8, pack_q5_0, ck_avx2_gemm_aux_off16, compute_b32, CK_CHAIN_BLOCKS};
static const ck_gemm_ops ops_q8_0 = {MR, 32, Q8_BYTES, 0, pack_q8_0, NULL, compute_q8, CK_CHAIN_BLOCKS};
static const ck_gemm_ops ops_q4_K = {MR, 256, K4_BYTES, 0, pack_q4_K, NULL, compute_q4_K, 0};
static const ck_gemm_ops ops_q5_K = {MR, 256, K4_BYTES, 0, pack_q5_K, NULL, compute_q5_K, 0};
static const ck_gemm_ops ops_q6_K = {MR, 256, K6_BYTES, 0, pack_q6_K, NULL, compute_k6, 0};

#define ENTRY(type)                                                                                                \
    void ck_avx2_gemm_##type(int64_t n, const void *w, size_t row_bytes, int64_t rows, const void *a, size_t a_stride, \
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
