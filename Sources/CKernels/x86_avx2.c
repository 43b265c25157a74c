// AVX2 + FMA + F16C kernels. Every function carries its own target attribute: this file is built
// without -mavx2 and nothing here runs unless ck_cpu_features() reported CK_CPU_AVX2.
//
// Integer dot products use the usual sign trick: maddubs(|w|, sign(a, w)) is exact as long as the
// activation quants are in [-127, 127] (our quantisers guarantee it); any weight byte, including
// -128, is fine because the weight is the operand whose absolute value is taken.
//
// The types that have gemm microkernels (q4_0, q5_0, q8_0, q4_K, q5_K, q6_K) add their exact block
// sums in the float order of ck_internal.h (fused multiply-adds on two chains in chunks of 32
// blocks; one chain for the K-quants), as the gemm microkernels of every set do, so a matrix
// product gives bit for bit what this vec_dot gives, whatever the batch (a prefill of n tokens
// gives what n decode steps give).
#include "ck_internal.h"

typedef int ck_x86_avx2_translation_unit_not_empty;

#if defined(__x86_64__)

#include <immintrin.h>
#include <math.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define CK_AVX2 __attribute__((target("avx2,fma,f16c")))

// ---- helpers -------------------------------------------------------------------------------------

CK_AVX2 static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

CK_AVX2 static inline int hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

CK_AVX2 static inline float hmax_ps(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

CK_AVX2 static inline float h2f(const uint8_t *p) { return _cvtsh_ss(ck_rd_u16(p)); }

CK_AVX2 static inline __m256i loadu256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

// unsigned u8 x signed s8 -> 8 x int32 sums of 4 products.
CK_AVX2 static inline __m256i dot_u8s8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// signed w x signed a (a in [-127, 127]) -> 8 x int32.
CK_AVX2 static inline __m256i dot_s8s8(__m256i w, __m256i a) {
    return dot_u8s8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
}

// 16 packed bytes -> 32 nibbles: bytes 0..15 the low nibbles, 16..31 the high nibbles.
CK_AVX2 static inline __m256i nibbles32(const uint8_t *qs) {
    const __m128i t = _mm_loadu_si128((const __m128i *)qs);
    const __m256i b = _mm256_inserti128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

// 32 bits -> 32 bytes, 0xFF where the bit is set (byte i <- bit i).
CK_AVX2 static inline __m256i bits_to_bytes32(const uint8_t *p) {
    const uint32_t x = ck_rd_u32(p);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL,
                                           0x0101010101010101LL, 0x0000000000000000LL);
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x), shuf);
    const __m256i mask = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    return _mm256_cmpeq_epi8(_mm256_and_si256(b, mask), mask);
}

// Four blocks of a chunk (starting at an even block of it) on the two chains of the float order
// (ck_internal.h): lanes 0 / 1 of c are the even / odd chains; s_k is the exact sum of the 8 lanes
// of p_k, d_k lane k of d4. (Lanes 2, 3 of c are scratch.)
CK_AVX2 static inline __m128 chains4(__m128 c, __m256i p0, __m256i p1, __m256i p2, __m256i p3, __m128 d4) {
    const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(p0, p1), _mm256_hadd_epi32(p2, p3));
    const __m128 s = _mm_cvtepi32_ps(_mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1)));
    c = _mm_fmadd_ps(s, d4, c);                                          // blocks 0, 1
    return _mm_fmadd_ps(_mm_movehl_ps(s, s), _mm_movehl_ps(d4, d4), c);  // blocks 2, 3
}

// Four blocks' scale products d_w * d_a from eight f16 fields, with one conversion: lanes 0..3
// (and again 4..7) hold the four products.
CK_AVX2 static inline __m256 scale_products4(const uint8_t *w0, const uint8_t *w1, const uint8_t *w2, const uint8_t *w3,
                                             const uint8_t *a0, const uint8_t *a1, const uint8_t *a2, const uint8_t *a3) {
    __m128i h = _mm_cvtsi32_si128(ck_rd_u16(w0));
    h = _mm_insert_epi16(h, ck_rd_u16(w1), 1);
    h = _mm_insert_epi16(h, ck_rd_u16(w2), 2);
    h = _mm_insert_epi16(h, ck_rd_u16(w3), 3);
    h = _mm_insert_epi16(h, ck_rd_u16(a0), 4);
    h = _mm_insert_epi16(h, ck_rd_u16(a1), 5);
    h = _mm_insert_epi16(h, ck_rd_u16(a2), 6);
    h = _mm_insert_epi16(h, ck_rd_u16(a3), 7);
    const __m256 f = _mm256_cvtph_ps(h);
    const __m128 d4 = _mm_mul_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1));
    return _mm256_set_m128(d4, d4);
}

// ---- float rows ----------------------------------------------------------------------------------

CK_AVX2 float ck_avx2_dot_f32(int64_t n, const float *x, const float *y) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; ++i) s += x[i] * y[i];
    return s;
}

CK_AVX2 void ck_avx2_axpy_f32(int64_t n, float a, const float *x, float *y) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
        _mm256_storeu_ps(y + i + 8, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8)));
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; ++i) y[i] = fmaf(a, x[i], y[i]);
}

CK_AVX2 float ck_avx2_vec_dot_f32(int64_t n, const void *w, const void *a) {
    const float *x = w, *y = a;   // unaligned loads below; tail through memcpy
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    const uint8_t *pw = w, *pa = a;
    for (; i < n; ++i) s += ck_rd_f32(pw + 4 * i) * ck_rd_f32(pa + 4 * i);
    return s;
}

CK_AVX2 static inline __m256 load_f16x8(const uint8_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

CK_AVX2 float ck_avx2_vec_dot_f16(int64_t n, const void *w, const void *a) {
    const uint8_t *pw = w;
    const float *y = a;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(load_f16x8(pw + 2 * i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(load_f16x8(pw + 2 * i + 16), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(load_f16x8(pw + 2 * i + 32), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(load_f16x8(pw + 2 * i + 48), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load_f16x8(pw + 2 * i), _mm256_loadu_ps(y + i), a0);
    float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    const uint8_t *pa = a;
    for (; i < n; ++i) s += _cvtsh_ss(ck_rd_u16(pw + 2 * i)) * ck_rd_f32(pa + 4 * i);
    return s;
}

CK_AVX2 static inline __m256 load_bf16x8(const uint8_t *p) {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

CK_AVX2 float ck_avx2_vec_dot_bf16(int64_t n, const void *w, const void *a) {
    const uint8_t *pw = w;
    const float *y = a;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(load_bf16x8(pw + 2 * i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(load_bf16x8(pw + 2 * i + 16), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(load_bf16x8(pw + 2 * i + 32), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(load_bf16x8(pw + 2 * i + 48), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load_bf16x8(pw + 2 * i), _mm256_loadu_ps(y + i), a0);
    float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    const uint8_t *pa = a;
    for (; i < n; ++i) s += ck_bf2f(ck_rd_u16(pw + 2 * i)) * ck_rd_f32(pa + 4 * i);
    return s;
}

// ---- 32-element block types ----------------------------------------------------------------------

// Four blocks per iteration: one f16 conversion for the eight scales (the per-block scale work
// otherwise costs as much as the integer dot product).
CK_AVX2 float ck_avx2_vec_dot_q8_0(int64_t n, const void *w, const void *a) {
    const ck_block_q8_0 *x = w;
    const ck_block_q8_0 *y = a;
    const int64_t nb = n / CK_QK;
    float f = 0.0f;
    for (int64_t c0 = 0; c0 < nb; c0 += CK_CHAIN_BLOCKS) {
        const int64_t c1 = c0 + CK_CHAIN_BLOCKS < nb ? c0 + CK_CHAIN_BLOCKS : nb;
        __m128 c = _mm_setzero_ps();
        int64_t i = c0;
        for (; i + 4 <= c1; i += 4) {
            const __m256 d = scale_products4(x[i].d, x[i + 1].d, x[i + 2].d, x[i + 3].d, y[i].d, y[i + 1].d, y[i + 2].d, y[i + 3].d);
            const __m256i p0 = dot_s8s8(loadu256(x[i].qs), loadu256(y[i].qs));
            const __m256i p1 = dot_s8s8(loadu256(x[i + 1].qs), loadu256(y[i + 1].qs));
            const __m256i p2 = dot_s8s8(loadu256(x[i + 2].qs), loadu256(y[i + 2].qs));
            const __m256i p3 = dot_s8s8(loadu256(x[i + 3].qs), loadu256(y[i + 3].qs));
            c = chains4(c, p0, p1, p2, p3, _mm256_castps256_ps128(d));
        }
        float ch[2] = {_mm_cvtss_f32(c), _mm_cvtss_f32(_mm_movehdup_ps(c))};
        for (; i < c1; ++i) {
            const int sumi = hsum_i32(dot_s8s8(loadu256(x[i].qs), loadu256(y[i].qs)));
            ch[(i - c0) & 1] = fmaf((float)sumi, h2f(x[i].d) * h2f(y[i].d), ch[(i - c0) & 1]);
        }
        f += ch[0] + ch[1];
    }
    return f;
}

CK_AVX2 float ck_avx2_vec_dot_q4_0(int64_t n, const void *w, const void *a) {
    const ck_block_q4_0 *x = w;
    const ck_block_q8_0 *y = a;
    const int64_t nb = n / CK_QK;
    const __m256i eight = _mm256_set1_epi8(8);
    float f = 0.0f;
    for (int64_t c0 = 0; c0 < nb; c0 += CK_CHAIN_BLOCKS) {
        const int64_t c1 = c0 + CK_CHAIN_BLOCKS < nb ? c0 + CK_CHAIN_BLOCKS : nb;
        __m128 c = _mm_setzero_ps();
        int64_t i = c0;
        for (; i + 4 <= c1; i += 4) {
            const __m256 d = scale_products4(x[i].d, x[i + 1].d, x[i + 2].d, x[i + 3].d, y[i].d, y[i + 1].d, y[i + 2].d, y[i + 3].d);
            const __m256i p0 = dot_s8s8(_mm256_sub_epi8(nibbles32(x[i].qs), eight), loadu256(y[i].qs));
            const __m256i p1 = dot_s8s8(_mm256_sub_epi8(nibbles32(x[i + 1].qs), eight), loadu256(y[i + 1].qs));
            const __m256i p2 = dot_s8s8(_mm256_sub_epi8(nibbles32(x[i + 2].qs), eight), loadu256(y[i + 2].qs));
            const __m256i p3 = dot_s8s8(_mm256_sub_epi8(nibbles32(x[i + 3].qs), eight), loadu256(y[i + 3].qs));
            c = chains4(c, p0, p1, p2, p3, _mm256_castps256_ps128(d));
        }
        float ch[2] = {_mm_cvtss_f32(c), _mm_cvtss_f32(_mm_movehdup_ps(c))};
        for (; i < c1; ++i) {
            const int sumi = hsum_i32(dot_s8s8(_mm256_sub_epi8(nibbles32(x[i].qs), eight), loadu256(y[i].qs)));
            ch[(i - c0) & 1] = fmaf((float)sumi, h2f(x[i].d) * h2f(y[i].d), ch[(i - c0) & 1]);
        }
        f += ch[0] + ch[1];
    }
    return f;
}

CK_AVX2 float ck_avx2_vec_dot_q4_1(int64_t n, const void *w, const void *a) {
    const ck_block_q4_1 *x = w;
    const ck_block_q8_1 *y = a;
    const int64_t nb = n / CK_QK;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        const __m256i p = dot_u8s8(nibbles32(x[i].qs), loadu256(y[i].qs));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d)), acc);
        summs += h2f(x[i].m) * h2f(y[i].s);
    }
    return hsum_ps(acc) + summs;
}

// (nibble | (bit ? 0 : 0xF0)) read as int8 is nibble + 16*bit - 16.
CK_AVX2 static inline __m256i q5_0_quants(const ck_block_q5_0 *b) {
    return _mm256_or_si256(nibbles32(b->qs), _mm256_andnot_si256(bits_to_bytes32(b->qh), _mm256_set1_epi8((char)0xF0)));
}

CK_AVX2 float ck_avx2_vec_dot_q5_0(int64_t n, const void *w, const void *a) {
    const ck_block_q5_0 *x = w;
    const ck_block_q8_0 *y = a;
    const int64_t nb = n / CK_QK;
    float f = 0.0f;
    for (int64_t c0 = 0; c0 < nb; c0 += CK_CHAIN_BLOCKS) {
        const int64_t c1 = c0 + CK_CHAIN_BLOCKS < nb ? c0 + CK_CHAIN_BLOCKS : nb;
        __m128 c = _mm_setzero_ps();
        int64_t i = c0;
        for (; i + 4 <= c1; i += 4) {
            const __m256 d = scale_products4(x[i].d, x[i + 1].d, x[i + 2].d, x[i + 3].d, y[i].d, y[i + 1].d, y[i + 2].d, y[i + 3].d);
            const __m256i p0 = dot_s8s8(q5_0_quants(&x[i]), loadu256(y[i].qs));
            const __m256i p1 = dot_s8s8(q5_0_quants(&x[i + 1]), loadu256(y[i + 1].qs));
            const __m256i p2 = dot_s8s8(q5_0_quants(&x[i + 2]), loadu256(y[i + 2].qs));
            const __m256i p3 = dot_s8s8(q5_0_quants(&x[i + 3]), loadu256(y[i + 3].qs));
            c = chains4(c, p0, p1, p2, p3, _mm256_castps256_ps128(d));
        }
        float ch[2] = {_mm_cvtss_f32(c), _mm_cvtss_f32(_mm_movehdup_ps(c))};
        for (; i < c1; ++i) {
            const int sumi = hsum_i32(dot_s8s8(q5_0_quants(&x[i]), loadu256(y[i].qs)));
            ch[(i - c0) & 1] = fmaf((float)sumi, h2f(x[i].d) * h2f(y[i].d), ch[(i - c0) & 1]);
        }
        f += ch[0] + ch[1];
    }
    return f;
}

CK_AVX2 float ck_avx2_vec_dot_q5_1(int64_t n, const void *w, const void *a) {
    const ck_block_q5_1 *x = w;
    const ck_block_q8_1 *y = a;
    const int64_t nb = n / CK_QK;
    const __m256i b4 = _mm256_set1_epi8(0x10);
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        const __m256i hb = bits_to_bytes32(x[i].qh);
        const __m256i q = _mm256_or_si256(nibbles32(x[i].qs), _mm256_and_si256(hb, b4));
        const __m256i p = dot_u8s8(q, loadu256(y[i].qs));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d)), acc);
        summs += h2f(x[i].m) * h2f(y[i].s);
    }
    return hsum_ps(acc) + summs;
}

// ---- K-quants ------------------------------------------------------------------------------------

// The sums of the 8 lanes of a and of b.
CK_AVX2 static inline void hsum2_i32(__m256i a, __m256i b, int *sa, int *sb) {
    const __m256i h = _mm256_hadd_epi32(a, b);   // a01 a23 b01 b23 | a45 a67 b45 b67
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    s = _mm_hadd_epi32(s, s);                    // a b a b
    *sa = _mm_cvtsi128_si32(s);
    *sb = _mm_extract_epi32(s, 1);
}

// sum_j mins[j] * (bsums[2j] + bsums[2j+1]) as 8 int32 lanes.
CK_AVX2 static inline __m256i k_min_products(const uint8_t *mins8, const uint8_t *bsums) {
    const __m128i m = _mm_loadl_epi64((const __m128i *)mins8);
    const __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m, m));   // m0 m0 m1 m1 ... m7 m7
    return _mm256_madd_epi16(loadu256(bsums), m16);
}

CK_AVX2 float ck_avx2_vec_dot_q4_K(int64_t n, const void *w, const void *a) {
    const ck_block_q4_K *x = w;
    const ck_block_q8_K *y = a;
    const int64_t nb = n / CK_QKK;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    float f = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        uint8_t sm[16];
        ck_k4_scales_u32(x[i].scales, sm);
        const float yd = ck_rd_f32(y[i].d);
        const __m256i mp = k_min_products(sm + 8, y[i].bsums);

        const uint8_t *q = x[i].qs;
        const int8_t *q8 = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; ++c, q += 32, q8 += 64) {
            const __m256i b = loadu256(q);
            const __m256i lo = _mm256_and_si256(b, m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(b, 4), m4);
            __m256i p0 = _mm256_maddubs_epi16(lo, loadu256(q8));
            __m256i p1 = _mm256_maddubs_epi16(hi, loadu256(q8 + 32));
            p0 = _mm256_madd_epi16(p0, _mm256_set1_epi16(sm[2 * c]));
            p1 = _mm256_madd_epi16(p1, _mm256_set1_epi16(sm[2 * c + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        int si, smin;
        hsum2_i32(sumi, mp, &si, &smin);
        f = fmaf((float)si, h2f(x[i].d) * yd, f);
        f = fmaf(-(float)smin, h2f(x[i].dmin) * yd, f);
    }
    return f;
}

CK_AVX2 float ck_avx2_vec_dot_q5_K(int64_t n, const void *w, const void *a) {
    const ck_block_q5_K *x = w;
    const ck_block_q8_K *y = a;
    const int64_t nb = n / CK_QKK;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i one = _mm256_set1_epi8(1), two = _mm256_set1_epi8(2);
    float f = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        uint8_t sm[16];
        ck_k4_scales_u32(x[i].scales, sm);
        const float yd = ck_rd_f32(y[i].d);
        const __m256i mp = k_min_products(sm + 8, y[i].bsums);

        const uint8_t *q = x[i].qs;
        const int8_t *q8 = y[i].qs;
        __m256i hb = loadu256(x[i].qh);
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; ++c, q += 32, q8 += 64) {
            const __m256i b = loadu256(q);
            // bit 2c of qh -> 0x10 of the low-nibble element, bit 2c+1 -> 0x10 of the high one
            const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(hb, one), 4);
            const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(hb, two), 3);
            hb = _mm256_srli_epi16(hb, 2);
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(b, m4), h0);
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b, 4), m4), h1);
            __m256i p0 = _mm256_maddubs_epi16(lo, loadu256(q8));
            __m256i p1 = _mm256_maddubs_epi16(hi, loadu256(q8 + 32));
            p0 = _mm256_madd_epi16(p0, _mm256_set1_epi16(sm[2 * c]));
            p1 = _mm256_madd_epi16(p1, _mm256_set1_epi16(sm[2 * c + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        int si, smin;
        hsum2_i32(sumi, mp, &si, &smin);
        f = fmaf((float)si, h2f(x[i].d) * yd, f);
        f = fmaf(-(float)smin, h2f(x[i].dmin) * yd, f);
    }
    return f;
}

CK_AVX2 float ck_avx2_vec_dot_q6_K(int64_t n, const void *w, const void *a) {
    const ck_block_q6_K *x = w;
    const ck_block_q8_K *y = a;
    const int64_t nb = n / CK_QKK;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    // shuffles broadcasting int16 scale 2k to the low 128-bit lane and 2k+1 to the high one
    const __m256i sshuf[4] = {
        _mm256_set_epi8(3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0),
        _mm256_set_epi8(7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4),
        _mm256_set_epi8(11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8),
        _mm256_set_epi8(15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12),
    };
    float f = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *q8 = y[i].qs;
        // q is stored as q+32 in [0, 63]: dot(q+32, a) - 32 * sum(a), the sums being the bsums.
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(),
                                        _mm256_slli_epi32(_mm256_madd_epi16(loadu256(y[i].bsums), sc16), 5));
        const __m256i scv0 = _mm256_permute4x64_epi64(sc16, 0x44);   // scales 0..7 in both lanes
        const __m256i scv1 = _mm256_permute4x64_epi64(sc16, 0xEE);   // scales 8..15 in both lanes
        for (int h = 0; h < 2; ++h, ql += 64, qh += 32, q8 += 128) {
            const __m256i scv = h == 0 ? scv0 : scv1;
            const __m256i vh = loadu256(qh);
            const __m256i l0 = loadu256(ql), l1 = loadu256(ql + 32);
            const __m256i q1 = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(vh, 4), m30));
            const __m256i q2 = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(vh, 2), m30));
            const __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(vh, m30));
            const __m256i q4 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                               _mm256_and_si256(_mm256_srli_epi16(vh, 2), m30));
            __m256i p1 = _mm256_maddubs_epi16(q1, loadu256(q8));
            __m256i p2 = _mm256_maddubs_epi16(q2, loadu256(q8 + 32));
            __m256i p3 = _mm256_maddubs_epi16(q3, loadu256(q8 + 64));
            __m256i p4 = _mm256_maddubs_epi16(q4, loadu256(q8 + 96));
            p1 = _mm256_madd_epi16(p1, _mm256_shuffle_epi8(scv, sshuf[0]));
            p2 = _mm256_madd_epi16(p2, _mm256_shuffle_epi8(scv, sshuf[1]));
            p3 = _mm256_madd_epi16(p3, _mm256_shuffle_epi8(scv, sshuf[2]));
            p4 = _mm256_madd_epi16(p4, _mm256_shuffle_epi8(scv, sshuf[3]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_add_epi32(p1, p2), _mm256_add_epi32(p3, p4)));
        }
        f = fmaf((float)hsum_i32(sumi), h2f(x[i].d) * ck_rd_f32(y[i].d), f);
    }
    return f;
}

// ---- activation quantisers (same bytes as the scalar reference) ----------------------------------

// roundf(): round half away from zero, exactly (v - trunc(v) is exact).
CK_AVX2 static inline __m256 roundf_ps(__m256 v) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
    const __m256 one = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(v, sign));
    return _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ), one));
}

// 4 x 8 int32 (each in int8 range) -> 32 int8 in order.
CK_AVX2 static inline __m256i pack_i32x32_i8(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i ab = _mm256_packs_epi32(a, b);
    const __m256i cd = _mm256_packs_epi32(c, d);
    const __m256i abcd = _mm256_packs_epi16(ab, cd);
    return _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// One 32-element block: quants into qs, returns d (f32) and optionally the sum of quants.
CK_AVX2 static inline float quantize_block32(const float *x, int8_t *qs, int *sum) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
    const __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
    __m256 m = _mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1));
    m = _mm256_max_ps(m, _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
    const float amax = hmax_ps(m);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    const __m256i i0 = _mm256_cvttps_epi32(roundf_ps(_mm256_mul_ps(v0, vid)));
    const __m256i i1 = _mm256_cvttps_epi32(roundf_ps(_mm256_mul_ps(v1, vid)));
    const __m256i i2 = _mm256_cvttps_epi32(roundf_ps(_mm256_mul_ps(v2, vid)));
    const __m256i i3 = _mm256_cvttps_epi32(roundf_ps(_mm256_mul_ps(v3, vid)));
    if (sum) *sum = hsum_i32(_mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)));
    _mm256_storeu_si256((__m256i *)qs, pack_i32x32_i8(i0, i1, i2, i3));
    return d;
}

CK_AVX2 void ck_avx2_quantize_q8_0(const float *x, void *vy, int64_t n) {
    ck_block_q8_0 *y = vy;
    const int64_t nb = n / CK_QK;
    for (int64_t i = 0; i < nb; ++i, x += CK_QK) {
        const float d = quantize_block32(x, y[i].qs, NULL);
        ck_wr_u16(y[i].d, (uint16_t)_cvtss_sh(d, 0));
    }
}

CK_AVX2 void ck_avx2_quantize_q8_1(const float *x, void *vy, int64_t n) {
    ck_block_q8_1 *y = vy;
    const int64_t nb = n / CK_QK;
    for (int64_t i = 0; i < nb; ++i, x += CK_QK) {
        int sum = 0;
        const float d = quantize_block32(x, y[i].qs, &sum);
        ck_wr_u16(y[i].d, (uint16_t)_cvtss_sh(d, 0));
        ck_wr_u16(y[i].s, (uint16_t)_cvtss_sh((float)sum * d, 0));
    }
}

CK_AVX2 void ck_avx2_quantize_q8_K(const float *x, void *vy, int64_t n) {
    ck_block_q8_K *y = vy;
    const int64_t nb = n / CK_QKK;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < nb; ++i, x += CK_QKK) {
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < CK_QKK; j += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
        const float amax = hmax_ps(m);
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof(y[i]));
            continue;
        }
        // the signed value of the first element reaching amax (the scalar loop's choice)
        const __m256 vmax = _mm256_set1_ps(amax);
        float max = 0.0f;
        for (int j = 0; j < CK_QKK; j += 8) {
            const __m256 v = _mm256_loadu_ps(x + j);
            const int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, v), vmax, _CMP_EQ_OQ));
            if (mask) { max = x[j + __builtin_ctz((unsigned)mask)]; break; }
        }
        const float iscale = -127.0f / max;
        const __m256 vis = _mm256_set1_ps(iscale);
        const __m256i lim = _mm256_set1_epi32(127);
        for (int j = 0; j < CK_QKK; j += 32) {
            // cvtps rounds to nearest even, as nearest_int() does
            const __m256i i0 = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j), vis)), lim);
            const __m256i i1 = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 8), vis)), lim);
            const __m256i i2 = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 16), vis)), lim);
            const __m256i i3 = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 24), vis)), lim);
            ck_wr_i16(y[i].bsums + 2 * (j / 16), (int16_t)hsum_i32(_mm256_add_epi32(i0, i1)));
            ck_wr_i16(y[i].bsums + 2 * (j / 16 + 1), (int16_t)hsum_i32(_mm256_add_epi32(i2, i3)));
            _mm256_storeu_si256((__m256i *)(y[i].qs + j), pack_i32x32_i8(i0, i1, i2, i3));
        }
        ck_wr_f32(y[i].d, 1.0f / iscale);
    }
}

CK_AVX2 void ck_avx2_quantize_f16(const float *x, void *vy, int64_t n) {
    uint8_t *y = vy;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + 2 * i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; ++i) ck_wr_u16(y + 2 * i, ck_f2h(x[i]));
}

CK_AVX2 void ck_avx2_quantize_bf16(const float *x, void *vy, int64_t n) {
    uint8_t *y = vy;
    const __m256i absm = _mm256_set1_epi32(0x7FFFFFFF), inf = _mm256_set1_epi32(0x7F800000);
    const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7FFF), q = _mm256_set1_epi32(64);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i r[2];
        for (int k = 0; k < 2; ++k) {
            const __m256i u = _mm256_castps_si256(_mm256_loadu_ps(x + i + 8 * k));
            const __m256i isnan = _mm256_cmpgt_epi32(_mm256_and_si256(u, absm), inf);
            const __m256i rounded = _mm256_srli_epi32(
                _mm256_add_epi32(u, _mm256_add_epi32(bias, _mm256_and_si256(_mm256_srli_epi32(u, 16), one))), 16);
            const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), q);
            r[k] = _mm256_blendv_epi8(rounded, quiet, isnan);
        }
        const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r[0], r[1]), 0xD8);
        _mm256_storeu_si256((__m256i *)(y + 2 * i), packed);
    }
    for (; i < n; ++i) ck_wr_u16(y + 2 * i, ck_f2bf(x[i]));
}

// ---- KV cache rows -------------------------------------------------------------------------------

// 32 int8 quants -> four vectors of 8 floats.
CK_AVX2 static inline void q8x32_to_ps(const int8_t *q, __m256 f[4]) {
    const __m128i lo = _mm_loadu_si128((const __m128i *)q), hi = _mm_loadu_si128((const __m128i *)(q + 16));
    f[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
    f[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)));
    f[2] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
    f[3] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)));
}

CK_AVX2 float ck_avx2_row_dot_q8_0(int64_t n, const void *row, const void *x) {
    const ck_block_q8_0 *b = row;
    const float *y = x;
    const int64_t nb = n / CK_QK;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; ++i, y += CK_QK) {
        __m256 f[4];
        q8x32_to_ps(b[i].qs, f);
        __m256 p = _mm256_mul_ps(f[0], _mm256_loadu_ps(y));
        p = _mm256_fmadd_ps(f[1], _mm256_loadu_ps(y + 8), p);
        p = _mm256_fmadd_ps(f[2], _mm256_loadu_ps(y + 16), p);
        p = _mm256_fmadd_ps(f[3], _mm256_loadu_ps(y + 24), p);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(ck_rd_u16(b[i].d))), p, acc);
    }
    return hsum_ps(acc);
}

CK_AVX2 void ck_avx2_row_axpy_f32(int64_t n, float a, const void *row, float *y) {
    const uint8_t *p = row;
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps((const float *)(p + 4 * i)), _mm256_loadu_ps(y + i)));
    for (; i < n; ++i) y[i] = fmaf(a, ck_rd_f32(p + 4 * i), y[i]);
}

CK_AVX2 void ck_avx2_row_axpy_f16(int64_t n, float a, const void *row, float *y) {
    const uint8_t *p = row;
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, load_f16x8(p + 2 * i), _mm256_loadu_ps(y + i)));
        _mm256_storeu_ps(y + i + 8, _mm256_fmadd_ps(va, load_f16x8(p + 2 * i + 16), _mm256_loadu_ps(y + i + 8)));
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, load_f16x8(p + 2 * i), _mm256_loadu_ps(y + i)));
    for (; i < n; ++i) y[i] = fmaf(a, _cvtsh_ss(ck_rd_u16(p + 2 * i)), y[i]);
}

CK_AVX2 void ck_avx2_row_axpy_q8_0(int64_t n, float a, const void *row, float *y) {
    const ck_block_q8_0 *b = row;
    const int64_t nb = n / CK_QK;
    for (int64_t i = 0; i < nb; ++i, y += CK_QK) {
        const __m256 ad = _mm256_set1_ps(a * _cvtsh_ss(ck_rd_u16(b[i].d)));
        __m256 f[4];
        q8x32_to_ps(b[i].qs, f);
        for (int k = 0; k < 4; ++k) _mm256_storeu_ps(y + 8 * k, _mm256_fmadd_ps(ad, f[k], _mm256_loadu_ps(y + 8 * k)));
    }
}

#endif
