// AVX2 + FMA row kernels (CKernels.h, "Row kernels"): max, exp-shift, GELU (tanh form), LayerNorm,
// add. Nothing here runs unless ck_cpu_features() reported CK_CPU_AVX2. Elements past the last
// multiple of 8 go through the same vector code on a zero-padded copy, so every element of a row
// gets the same arithmetic whatever its position.
//
// e^d: Cephes' expf. k = round(d log2 e), r = d - k ln 2 (ln 2 in two parts, so r is exact),
// e^r = 1 + r + r^2 p(r) with a degree-5 p on [-ln2/2, ln2/2], times 2^k built from its bits. Within
// 2 ulp of expf on [-87.34, 88]; 0 below (where expf's results are denormal), +infinity above.
#include "ck_internal.h"

typedef int ck_x86_avx2_rows_translation_unit_not_empty;

#if defined(__x86_64__)

#include <immintrin.h>
#include <math.h>

#define CK_AVX2 __attribute__((target("avx2,fma,f16c")))
#define CK_INLINE static inline __attribute__((always_inline))

#define EXP_LO (-87.33654f)       // ln(FLT_MIN): 0 below (expf's results there are denormal)
#define EXP_HI 88.0f              // +infinity above (so that 2^k stays a normal float: k <= 127)

CK_AVX2 CK_INLINE __m256 exp8(__m256 d) {
    const __m256 lo = _mm256_set1_ps(EXP_LO), hi = _mm256_set1_ps(EXP_HI);
    const __m256 v = _mm256_min_ps(_mm256_max_ps(d, lo), hi);   // (a NaN d becomes lo here; put back below)
    const __m256 k = _mm256_round_ps(_mm256_mul_ps(v, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), v);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    const __m256 y = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    // k is in -126 ... 127 here, so k + 127 is a normal exponent.
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    __m256 out = _mm256_mul_ps(y, _mm256_castsi256_ps(e));
    out = _mm256_andnot_ps(_mm256_cmp_ps(d, lo, _CMP_LT_OQ), out);                          // 0 below
    out = _mm256_blendv_ps(out, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(d, hi, _CMP_GT_OQ));  // inf above
    return _mm256_or_ps(out, _mm256_cmp_ps(d, d, _CMP_UNORD_Q));                            // NaN stays NaN
}

CK_AVX2 CK_INLINE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

CK_AVX2 CK_INLINE double hsum_pd(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

// The last n % 8 elements of a row, loaded into / stored from a zero-padded vector.
CK_AVX2 CK_INLINE __m256 load_tail(const float *x, int64_t m, float pad) {
    float t[8];
    for (int j = 0; j < 8; ++j) t[j] = j < m ? x[j] : pad;
    return _mm256_loadu_ps(t);
}

CK_AVX2 CK_INLINE void store_tail(float *x, int64_t m, __m256 v) {
    float t[8];
    _mm256_storeu_ps(t, v);
    for (int j = 0; j < m; ++j) x[j] = t[j];
}

CK_AVX2 float ck_avx2_max_f32(int64_t n, const float *x) {
    __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {   // max_ps(x, m) keeps m where x is NaN
        m0 = _mm256_max_ps(_mm256_loadu_ps(x + i), m0);
        m1 = _mm256_max_ps(_mm256_loadu_ps(x + i + 8), m1);
    }
    for (; i + 8 <= n; i += 8) m0 = _mm256_max_ps(_mm256_loadu_ps(x + i), m0);
    if (i < n) m1 = _mm256_max_ps(load_tail(x + i, n - i, -INFINITY), m1);
    m0 = _mm256_max_ps(m0, m1);
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(m0), _mm256_extractf128_ps(m0, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// A masked score (-infinity) minus a finite shift is below EXP_LO, so it gives 0 with no test of
// its own; only a shift of -infinity (every score masked) needs the scalar reference's rule.
CK_AVX2 CK_INLINE __m256 exp_shift8(__m256 x, __m256 shift) { return exp8(_mm256_sub_ps(x, shift)); }

CK_AVX2 float ck_avx2_exp_shift(int64_t n, float *x, float shift) {
    if (shift == -INFINITY) return ck_scalar_exp_shift(n, x, shift);
    const __m256 sh = _mm256_set1_ps(shift);
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 e0 = exp_shift8(_mm256_loadu_ps(x + i), sh), e1 = exp_shift8(_mm256_loadu_ps(x + i + 8), sh);
        _mm256_storeu_ps(x + i, e0);
        _mm256_storeu_ps(x + i + 8, e1);
        s0 = _mm256_add_ps(s0, e0);
        s1 = _mm256_add_ps(s1, e1);
    }
    for (; i + 8 <= n; i += 8) {
        const __m256 e = exp_shift8(_mm256_loadu_ps(x + i), sh);
        _mm256_storeu_ps(x + i, e);
        s0 = _mm256_add_ps(s0, e);
    }
    if (i < n) {   // padding of -infinity contributes 0 to the sum
        const __m256 e = exp_shift8(load_tail(x + i, n - i, -INFINITY), sh);
        store_tail(x + i, n - i, e);
        s1 = _mm256_add_ps(s1, e);
    }
    return hsum(_mm256_add_ps(s0, s1));
}

CK_AVX2 CK_INLINE __m256 gelu8(__m256 v) {
    const __m256 v2 = _mm256_mul_ps(v, v);
    const __m256 inner = _mm256_fmadd_ps(_mm256_set1_ps(CK_GELU_CUBIC), v2, _mm256_set1_ps(1.0f));
    const __m256 arg = _mm256_mul_ps(_mm256_mul_ps(v, inner), _mm256_set1_ps(CK_GELU_SCALE));
    return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), exp8(arg)));
}

CK_AVX2 void ck_avx2_gelu_tanh(int64_t n, float *x, const float *bias) {
    int64_t i = 0;
    if (bias) {
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(x + i, gelu8(_mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(bias + i))));
        if (i < n) store_tail(x + i, n - i, gelu8(_mm256_add_ps(load_tail(x + i, n - i, 0), load_tail(bias + i, n - i, 0))));
    } else {
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, gelu8(_mm256_loadu_ps(x + i)));
        if (i < n) store_tail(x + i, n - i, gelu8(load_tail(x + i, n - i, 0)));
    }
}

CK_AVX2 CK_INLINE __m256d sum_pd(__m256 v, __m256d acc) {
    acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    return _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

CK_AVX2 void ck_avx2_layer_norm(int64_t n, const float *x, const float *weight, const float *bias, float eps,
                                float *out) {
    if (n <= 0) return;
    const int64_t m = n % 8, full = n - m;
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 16 <= full; i += 16) {
        s0 = sum_pd(_mm256_loadu_ps(x + i), s0);
        s1 = sum_pd(_mm256_loadu_ps(x + i + 8), s1);
    }
    for (; i < full; i += 8) s0 = sum_pd(_mm256_loadu_ps(x + i), s0);
    if (m) s1 = sum_pd(load_tail(x + full, m, 0), s1);
    const float mean = (float)(hsum_pd(_mm256_add_pd(s0, s1)) / (double)n);
    const __m256 mv = _mm256_set1_ps(mean);
    s0 = s1 = _mm256_setzero_pd();
    for (i = 0; i < full; i += 8) {
        const __m256 c = _mm256_sub_ps(_mm256_loadu_ps(x + i), mv);
        s0 = sum_pd(_mm256_mul_ps(c, c), s0);
    }
    if (m) {   // the padding is set to the mean, so it adds 0
        const __m256 c = _mm256_sub_ps(load_tail(x + full, m, mean), mv);
        s1 = sum_pd(_mm256_mul_ps(c, c), s1);
    }
    const float scale = 1.0f / sqrtf((float)(hsum_pd(_mm256_add_pd(s0, s1)) / (double)n) + eps);
    const __m256 sv = _mm256_set1_ps(scale), one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    for (i = 0; i < n; i += 8) {
        const int64_t k = n - i < 8 ? n - i : 8;
        const __m256 xv = k == 8 ? _mm256_loadu_ps(x + i) : load_tail(x + i, k, 0);
        const __m256 wv = !weight ? one : k == 8 ? _mm256_loadu_ps(weight + i) : load_tail(weight + i, k, 0);
        const __m256 bv = !bias ? zero : k == 8 ? _mm256_loadu_ps(bias + i) : load_tail(bias + i, k, 0);
        const __m256 y = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_sub_ps(xv, mv), sv), wv, bv);
        if (k == 8) _mm256_storeu_ps(out + i, y);
        else store_tail(out + i, k, y);
    }
}

CK_AVX2 void ck_avx2_add_f32(int64_t n, float *y, const float *x, const float *b) {
    int64_t i = 0;
    if (b)
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i),
                                                  _mm256_add_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(b + i))));
    else
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
    for (; i < n; ++i) y[i] += b ? x[i] + b[i] : x[i];
}

#endif
