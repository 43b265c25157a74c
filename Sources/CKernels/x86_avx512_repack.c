// AVX-512 VNNI kernels over the q4_0x8 repacked layout (CKRepack.h): two consecutive 8-row groups
// per zmm (16 rows, one per 32-bit lane). As in x86_avx2_repack.c the stored bytes xor 0x88 are the
// native unsigned nibbles q; vpdpbusd multiplies them with 4 broadcast activation bytes and adds
// into int32 lanes directly, and the -8 * (sum of the block's activation quants) of
// ck_avx2_gemm_aux_off8 makes each lane the exact block sum vec_dot forms. The float order is
// ck_internal.h's, the same as the avx512vnni set's Q4_0 vec_dot (the AVX2 one): results equal it
// bit for bit. A last, unpaired group goes through the AVX2 kernel, which keeps the same order.
#include "ck_internal.h"
#include "ck_repack_internal.h"

typedef int ck_x86_avx512_repack_translation_unit_not_empty;

#if defined(__x86_64__)

#include <immintrin.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define CK_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define CK_INLINE static inline __attribute__((always_inline))
#define CK_UNROLL _Pragma("GCC unroll 16")

#define NT 8                  // tokens per register tile
#define AUX_BYTES (32 << 10)  // per-token activation data of one token tile (on the stack)
#define GB CK_RP_Q4_0_BLOCK_BYTES

CK_AVX512 CK_INLINE __m512i bcast32(const uint8_t *p) { return _mm512_set1_epi32((int)ck_rd_u32(p)); }

// 32 bytes at p (group A) and at p + gb (group B) in one zmm.
CK_AVX512 CK_INLINE __m512i ld_pair(const uint8_t *p, int64_t gb) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)p)),
                              _mm256_loadu_si256((const __m256i *)(const void *)(p + gb)), 1);
}

// One block b of a group pair against nt tokens; y[t] / x[t] point at the token's first block and
// aux entry {f32 d_a, i32 -8 * sum a}.
CK_AVX512 CK_INLINE void block(const uint8_t *blk, int64_t gb, int64_t b, const uint8_t *const *y, const uint8_t *const *x,
                               const int nt, __m512 *fc) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), x88 = _mm512_set1_epi8((char)0x88);
    __m512i s[NT];
    CK_UNROLL for (int t = 0; t < nt; ++t) s[t] = bcast32(x[t] + 8 * b + 4);
    CK_UNROLL for (int k = 0; k < 4; ++k) {
        const __m512i v = _mm512_xor_si512(ld_pair(blk + 16 + 32 * k, gb), x88);
        const __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        CK_UNROLL for (int t = 0; t < nt; ++t) {
            s[t] = _mm512_dpbusd_epi32(s[t], lo, bcast32(y[t] + 34 * b + 2 + 4 * k));
            s[t] = _mm512_dpbusd_epi32(s[t], hi, bcast32(y[t] + 34 * b + 18 + 4 * k));
        }
    }
    const __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)blk)),
                                              _mm_loadu_si128((const __m128i *)(const void *)(blk + gb)), 1);
    const __m512 d = _mm512_cvtph_ps(h);
    CK_UNROLL for (int t = 0; t < nt; ++t)
        fc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t]), _mm512_mul_ps(d, _mm512_set1_ps(ck_rd_f32(x[t] + 8 * b))), fc[t]);
}

// A group pair (nr <= 16 valid rows) against nt tokens over all nb blocks. Per chunk of
// CK_CHAIN_BLOCKS blocks the even blocks' chain runs first and is parked, then the odd blocks'
// chain, so the nt accumulators of one chain stay in registers.
CK_AVX512 CK_INLINE void tile(const uint8_t *g, int64_t nb, const uint8_t *a, size_t as, const uint8_t *aux, const int nt,
                              float *out, int64_t os, int nr) {
    const int64_t gb = nb * GB;
    __m512 tot[NT], f[NT], c0[NT];
    const uint8_t *y[NT], *x[NT];
    CK_UNROLL for (int t = 0; t < nt; ++t) {
        tot[t] = _mm512_setzero_ps();
        y[t] = a + (size_t)t * as;
        x[t] = aux + (size_t)t * (size_t)nb * 8;
    }
    for (int64_t k0 = 0; k0 < nb; k0 += CK_CHAIN_BLOCKS) {
        const int64_t k1 = k0 + CK_CHAIN_BLOCKS < nb ? k0 + CK_CHAIN_BLOCKS : nb;
        CK_UNROLL for (int t = 0; t < nt; ++t) f[t] = _mm512_setzero_ps();
        for (int64_t b = k0; b < k1; b += 2) block(g + b * GB, gb, b, y, x, nt, f);
        CK_UNROLL for (int t = 0; t < nt; ++t) {
            c0[t] = f[t];
            f[t] = _mm512_setzero_ps();
        }
        for (int64_t b = k0 + 1; b < k1; b += 2) block(g + b * GB, gb, b, y, x, nt, f);
        CK_UNROLL for (int t = 0; t < nt; ++t) tot[t] = _mm512_add_ps(tot[t], _mm512_add_ps(c0[t], f[t]));
    }
    const __mmask16 m = (__mmask16)((1u << nr) - 1u);
    CK_UNROLL for (int t = 0; t < nt; ++t) _mm512_mask_storeu_ps(out + t * os, m, tot[t]);
}

CK_AVX512 void ck_avx512_rp_gemm_q4_0(int64_t n, const void *w, int64_t rows, const void *a, size_t as, int64_t ntok,
                                     float *out, int64_t os) {
    const int64_t nb = n / CK_QK;
    if (rows <= 0 || ntok <= 0) return;
    const int64_t gb = nb * GB;
    const int64_t paired = rows / 16 * 16;   // rows in whole group pairs
    if (paired < rows) {                     // the rest (< 16 rows): AVX2, one group at a time
        ck_avx2_rp_gemm_q4_0(n, (const uint8_t *)w + paired / 8 * gb, rows - paired, a, as, ntok, out + paired, os);
        if (paired == 0) return;
    }
    _Alignas(64) uint8_t aux[AUX_BYTES];
    int64_t tt = nb > 0 ? AUX_BYTES / (nb * 8) : ntok;   // tokens per aux tile
    if (tt < 1) tt = 1;
    if (tt > ntok) tt = ntok;
    const uint8_t *ab = a, *wb = w;
    for (int64_t t0 = 0; t0 < ntok; t0 += tt) {
        const int nt = (int)(t0 + tt <= ntok ? tt : ntok - t0);
        if (nb > 0) ck_avx2_gemm_aux_off8(ab + (size_t)t0 * as, as, nt, 0, (int)nb, aux);
        for (int64_t r0 = 0; r0 < paired; r0 += 16) {
            const uint8_t *g = wb + (r0 / 8) * gb;
            int t = 0;
            for (; t + NT <= nt; t += NT)
                tile(g, nb, ab + (size_t)(t0 + t) * as, as, aux + (size_t)t * nb * 8, NT, out + (t0 + t) * os + r0, os, 16);
            const uint8_t *at = ab + (size_t)(t0 + t) * as, *xt = aux + (size_t)t * nb * 8;
            float *ot = out + (t0 + t) * os + r0;
            switch (nt - t) {
            case 7: tile(g, nb, at, as, xt, 7, ot, os, 16); break;
            case 6: tile(g, nb, at, as, xt, 6, ot, os, 16); break;
            case 5: tile(g, nb, at, as, xt, 5, ot, os, 16); break;
            case 4: tile(g, nb, at, as, xt, 4, ot, os, 16); break;
            case 3: tile(g, nb, at, as, xt, 3, ot, os, 16); break;
            case 2: tile(g, nb, at, as, xt, 2, ot, os, 16); break;
            case 1: tile(g, nb, at, as, xt, 1, ot, os, 16); break;
            default: break;
            }
        }
    }
}

#endif
