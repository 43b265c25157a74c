// AVX2 kernels over the q4_0x8 repacked layout (CKRepack.h): one 8-row group per ymm, one row per
// 32-bit lane. A chunk's stored bytes, xor 0x88, are the native unsigned nibbles q; vpmaddubsw
// multiplies them with 4 broadcast activation bytes, and the -8 * (sum of the block's activation
// quants) of ck_avx2_gemm_aux_off8 turns sum(q * a) into the exact sum((q - 8) * a) that vec_dot
// forms. All eight int16 partial sums of a block stay below 2^15 (8 * 2 * 15 * 127 = 30480), so one
// vpmaddwd widens them. The float order is ck_internal.h's, the same as ck_avx2_vec_dot_q4_0:
// results equal the avx2 (and avx512vnni) set's Q4_0 vec_dot bit for bit.
#include "ck_internal.h"
#include "ck_repack_internal.h"

typedef int ck_x86_avx2_repack_translation_unit_not_empty;

#if defined(__x86_64__)

#include <immintrin.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define CK_AVX2 __attribute__((target("avx2,fma,f16c")))
#define CK_INLINE static inline __attribute__((always_inline))
#define CK_UNROLL _Pragma("GCC unroll 16")

#define NT 4                  // tokens per register tile
#define AUX_BYTES (32 << 10)  // per-token activation data of one token tile (on the stack)

CK_AVX2 CK_INLINE __m256i ld256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
CK_AVX2 CK_INLINE __m256i bcast32(const uint8_t *p) { return _mm256_set1_epi32((int)ck_rd_u32(p)); }

// One block b of one group against nt tokens: fc[t] = fma(sum, d_w * d_a, fc[t]) per row lane.
// y[t] / x[t] point at the token's first block and aux entry {f32 d_a, i32 -8 * sum a}.
CK_AVX2 CK_INLINE void block(const uint8_t *blk, int64_t b, const uint8_t *const *y, const uint8_t *const *x, const int nt,
                             __m256 *fc) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), x88 = _mm256_set1_epi8((char)0x88), ones = _mm256_set1_epi16(1);
    __m256i q[NT];
    CK_UNROLL for (int t = 0; t < nt; ++t) q[t] = _mm256_setzero_si256();
    CK_UNROLL for (int k = 0; k < 4; ++k) {
        const __m256i v = _mm256_xor_si256(ld256(blk + 16 + 32 * k), x88);
        const __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        CK_UNROLL for (int t = 0; t < nt; ++t) {
            q[t] = _mm256_add_epi16(q[t], _mm256_maddubs_epi16(lo, bcast32(y[t] + 34 * b + 2 + 4 * k)));
            q[t] = _mm256_add_epi16(q[t], _mm256_maddubs_epi16(hi, bcast32(y[t] + 34 * b + 18 + 4 * k)));
        }
    }
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)blk));
    CK_UNROLL for (int t = 0; t < nt; ++t) {
        const __m256i s = _mm256_add_epi32(_mm256_madd_epi16(q[t], ones), bcast32(x[t] + 8 * b + 4));
        fc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(d, _mm256_set1_ps(ck_rd_f32(x[t] + 8 * b))), fc[t]);
    }
}

// One group (nr <= 8 valid rows) against nt tokens over all nb blocks. Per chunk of
// CK_CHAIN_BLOCKS blocks the even blocks' chain runs first and is parked, then the odd blocks'
// chain, so the nt accumulators of one chain stay in registers.
CK_AVX2 CK_INLINE void tile(const uint8_t *g, int64_t nb, const uint8_t *a, size_t as, const uint8_t *aux, const int nt,
                            float *out, int64_t os, int nr) {
    __m256 tot[NT], f[NT], c0[NT];
    const uint8_t *y[NT], *x[NT];
    CK_UNROLL for (int t = 0; t < nt; ++t) {
        tot[t] = _mm256_setzero_ps();
        y[t] = a + (size_t)t * as;
        x[t] = aux + (size_t)t * (size_t)nb * 8;
    }
    for (int64_t k0 = 0; k0 < nb; k0 += CK_CHAIN_BLOCKS) {
        const int64_t k1 = k0 + CK_CHAIN_BLOCKS < nb ? k0 + CK_CHAIN_BLOCKS : nb;
        CK_UNROLL for (int t = 0; t < nt; ++t) f[t] = _mm256_setzero_ps();
        for (int64_t b = k0; b < k1; b += 2) block(g + b * CK_RP_Q4_0_BLOCK_BYTES, b, y, x, nt, f);
        CK_UNROLL for (int t = 0; t < nt; ++t) {
            c0[t] = f[t];
            f[t] = _mm256_setzero_ps();
        }
        for (int64_t b = k0 + 1; b < k1; b += 2) block(g + b * CK_RP_Q4_0_BLOCK_BYTES, b, y, x, nt, f);
        CK_UNROLL for (int t = 0; t < nt; ++t) tot[t] = _mm256_add_ps(tot[t], _mm256_add_ps(c0[t], f[t]));
    }
    CK_UNROLL for (int t = 0; t < nt; ++t) {
        float *o = out + t * os;
        if (nr == CK_RP_Q4_0_ROWS) {
            _mm256_storeu_ps(o, tot[t]);
        } else {
            float v[CK_RP_Q4_0_ROWS];
            _mm256_storeu_ps(v, tot[t]);
            for (int r = 0; r < nr; ++r) o[r] = v[r];
        }
    }
}

CK_AVX2 void ck_avx2_rp_gemm_q4_0(int64_t n, const void *w, int64_t rows, const void *a, size_t as, int64_t ntok,
                                  float *out, int64_t os) {
    const int64_t nb = n / CK_QK;
    if (rows <= 0 || ntok <= 0) return;
    _Alignas(64) uint8_t aux[AUX_BYTES];
    const int64_t gb = nb * CK_RP_Q4_0_BLOCK_BYTES;
    int64_t tt = nb > 0 ? AUX_BYTES / (nb * 8) : ntok;   // tokens per aux tile
    if (tt < 1) tt = 1;
    if (tt > ntok) tt = ntok;
    const uint8_t *ab = a, *wb = w;
    for (int64_t t0 = 0; t0 < ntok; t0 += tt) {
        const int nt = (int)(t0 + tt <= ntok ? tt : ntok - t0);
        if (nb > 0) ck_avx2_gemm_aux_off8(ab + (size_t)t0 * as, as, nt, 0, (int)nb, aux);
        for (int64_t r0 = 0; r0 < rows; r0 += CK_RP_Q4_0_ROWS) {
            const int nr = (int)(rows - r0 < CK_RP_Q4_0_ROWS ? rows - r0 : CK_RP_Q4_0_ROWS);
            const uint8_t *g = wb + (r0 / CK_RP_Q4_0_ROWS) * gb;
            int t = 0;
            for (; t + NT <= nt; t += NT)
                tile(g, nb, ab + (size_t)(t0 + t) * as, as, aux + (size_t)t * nb * 8, NT, out + (t0 + t) * os + r0, os, nr);
            const uint8_t *at = ab + (size_t)(t0 + t) * as, *xt = aux + (size_t)t * nb * 8;
            float *ot = out + (t0 + t) * os + r0;
            switch (nt - t) {
            case 3: tile(g, nb, at, as, xt, 3, ot, os, nr); break;
            case 2: tile(g, nb, at, as, xt, 2, ot, os, nr); break;
            case 1: tile(g, nb, at, as, xt, 1, ot, os, nr); break;
            default: break;
            }
        }
    }
}

// ---- q4_Kx8 ----------------------------------------------------------------------------------------
// One super-block of one group against nt tokens (y[t]: the token's Q8_K block). Per sub-block the
// eight 4-byte chunks' vpmaddubsw sums stay in int16 (8 * 2 * 15 * 127 = 30480), one vpmaddwd with
// the rows' scales (as int16 pairs) widens and scales them exactly; the mins meet the Q8_K bsums the
// same way. Then the two fused multiply-adds of the Q4_K vec_dot, per row lane.
CK_AVX2 CK_INLINE void kblock(const uint8_t *blk, const uint8_t *const *y, const int nt, __m256 *f) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256i si[NT], mn[NT];
    CK_UNROLL for (int t = 0; t < nt; ++t) si[t] = mn[t] = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
        CK_UNROLL for (int h = 0; h < 2; ++h) {
            __m256i p[NT];
            CK_UNROLL for (int t = 0; t < nt; ++t) p[t] = _mm256_setzero_si256();
            CK_UNROLL for (int k = 0; k < 8; ++k) {
                const __m256i v = ld256(blk + 160 + 256 * c + 32 * k);
                const __m256i q = h ? _mm256_and_si256(_mm256_srli_epi16(v, 4), m4) : _mm256_and_si256(v, m4);
                CK_UNROLL for (int t = 0; t < nt; ++t)
                    p[t] = _mm256_add_epi16(p[t], _mm256_maddubs_epi16(q, bcast32(y[t] + 4 + 64 * c + 32 * h + 4 * k)));
            }
            const __m256i sc = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(blk + 32 + 8 * (2 * c + h))));
            const __m256i sc2 = _mm256_or_si256(sc, _mm256_slli_epi32(sc, 16));
            CK_UNROLL for (int t = 0; t < nt; ++t) si[t] = _mm256_add_epi32(si[t], _mm256_madd_epi16(p[t], sc2));
        }
    }
    CK_UNROLL for (int sb = 0; sb < 8; ++sb) {
        const __m256i m = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(blk + 96 + 8 * sb)));
        const __m256i m2 = _mm256_or_si256(m, _mm256_slli_epi32(m, 16));
        CK_UNROLL for (int t = 0; t < nt; ++t) mn[t] = _mm256_add_epi32(mn[t], _mm256_madd_epi16(m2, bcast32(y[t] + 260 + 4 * sb)));
    }
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)blk));
    const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(blk + 16)));
    const __m256 sign = _mm256_set1_ps(-0.0f);
    CK_UNROLL for (int t = 0; t < nt; ++t) {
        const __m256 yd = _mm256_set1_ps(ck_rd_f32(y[t]));
        f[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(si[t]), _mm256_mul_ps(d, yd), f[t]);
        f[t] = _mm256_fmadd_ps(_mm256_xor_ps(_mm256_cvtepi32_ps(mn[t]), sign), _mm256_mul_ps(dmin, yd), f[t]);
    }
}

CK_AVX2 CK_INLINE void ktile(const uint8_t *g, int64_t nb, const uint8_t *a, size_t as, const int nt, float *out, int64_t os,
                             int nr) {
    __m256 f[NT];
    const uint8_t *y[NT];
    CK_UNROLL for (int t = 0; t < nt; ++t) {
        f[t] = _mm256_setzero_ps();
        y[t] = a + (size_t)t * as;
    }
    for (int64_t i = 0; i < nb; ++i) {
        const uint8_t *yi[NT];
        CK_UNROLL for (int t = 0; t < nt; ++t) yi[t] = y[t] + i * (int64_t)sizeof(ck_block_q8_K);
        kblock(g + i * CK_RP_Q4_K_BLOCK_BYTES, yi, nt, f);
    }
    CK_UNROLL for (int t = 0; t < nt; ++t) {
        float *o = out + t * os;
        if (nr == CK_RP_Q4_K_ROWS) {
            _mm256_storeu_ps(o, f[t]);
        } else {
            float v[CK_RP_Q4_K_ROWS];
            _mm256_storeu_ps(v, f[t]);
            for (int r = 0; r < nr; ++r) o[r] = v[r];
        }
    }
}

CK_AVX2 void ck_avx2_rp_gemm_q4_K(int64_t n, const void *w, int64_t rows, const void *a, size_t as, int64_t ntok,
                                  float *out, int64_t os) {
    const int64_t nb = n / CK_QKK, gb = nb * CK_RP_Q4_K_BLOCK_BYTES;
    const uint8_t *ab = a, *wb = w;
    for (int64_t r0 = 0; r0 < rows; r0 += CK_RP_Q4_K_ROWS) {
        const int nr = (int)(rows - r0 < CK_RP_Q4_K_ROWS ? rows - r0 : CK_RP_Q4_K_ROWS);
        const uint8_t *g = wb + (r0 / CK_RP_Q4_K_ROWS) * gb;
        int64_t t = 0;
        for (; t + NT <= ntok; t += NT) ktile(g, nb, ab + (size_t)t * as, as, NT, out + t * os + r0, os, nr);
        const uint8_t *at = ab + (size_t)t * as;
        float *ot = out + t * os + r0;
        switch (ntok - t) {
        case 3: ktile(g, nb, at, as, 3, ot, os, nr); break;
        case 2: ktile(g, nb, at, as, 2, ot, os, nr); break;
        case 1: ktile(g, nb, at, as, 1, ot, os, nr); break;
        default: break;
        }
    }
}

#endif
