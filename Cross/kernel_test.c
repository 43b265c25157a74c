// Test driver for the C kernels, built natively (x86-64) and cross (AArch64, run under qemu).
//
// Every kernel set this CPU can run is compared with the scalar reference: activation quantisers
// (identical bytes), vec_dot of every type over many lengths and misaligned buffers (agreement up
// to float summation order), dot_f32 / axpy_f32, row_dot / row_axpy of KV cache rows (F32, F16,
// Q8_0) and their many-query forms rows_dot / rows_mix, the float matrix products fgemm / fgemm_kn, the row kernels (max, exp-shift, GELU,
// LayerNorm, add; exp also against exp() in double), round_f16, gemv / gemm against vec_dot, every gemm microkernel against the scalar vec_dot
// (test_gemm_kernels). Scalar-only checks:
// f16/bf16 conversions, storage-quantiser round trips, known-answer blocks, geometry.
//
//   kernel_test [--expect-set NAME] [--expect-dotprod | --expect-no-dotprod] [--expect-i8mm]
//               [--bench [ROWS]]
//
// Last line: "N passed, N failed". Exit status 1 on any failure.
#define _POSIX_C_SOURCE 200809L
#include "CKernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long g_pass = 0, g_fail = 0;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            ++g_pass;                                                                              \
        } else {                                                                                   \
            ++g_fail;                                                                              \
            if (g_fail <= 60) {                                                                    \
                printf("FAIL %s:%d: ", __FILE__, __LINE__);                                        \
                printf(__VA_ARGS__);                                                               \
                printf("\n");                                                                      \
            }                                                                                      \
        }                                                                                          \
    } while (0)

// ---- deterministic random numbers ---------------------------------------------------------------

static uint64_t g_rng = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd64(void) {
    uint64_t z = (g_rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static float rndu(void) { return (float)(rnd64() >> 40) * (1.0f / 16777216.0f); }   // [0, 1)
static float rndn(void) {   // roughly normal
    float s = 0;
    for (int i = 0; i < 4; ++i) s += rndu();
    return (s - 2.0f) * 1.7320508f;
}

static void fill_floats(float *x, int64_t n, int block) {
    // per-block magnitudes spread over several decades, a few zero blocks and exact ties
    for (int64_t b = 0; b < n; b += block) {
        const int kind = (int)(rnd64() % 16);
        const float scale = powf(10.0f, rndu() * 4.0f - 3.0f);
        for (int64_t i = b; i < b + block && i < n; ++i) {
            if (kind == 0) x[i] = 0.0f;
            else if (kind == 1) x[i] = (i == b) ? ((rnd64() & 1) ? 127.0f : -127.0f)   // scale 1: exact .5 ties
                                                : (float)((int)(rnd64() % 254) - 127) + 0.5f;
            else if (kind == 2) x[i] = (i == b) ? -scale : scale * rndn() * 0.2f;    // negative extreme first
            else if (kind == 3) x[i] = (i % 2) ? scale : -scale;                      // +-max ties
            else x[i] = scale * rndn();
        }
    }
}

static void put_half(uint8_t *p, float v) {
    const uint16_t h = ck_f32_to_f16(v);
    memcpy(p, &h, 2);
}

// Random weight row: mode 0 = quantised from random floats, mode 1 = random bytes with sane scales.
static void make_weights(ck_type t, uint8_t *w, int64_t n, int mode, float *tmp) {
    const int64_t rb = ck_row_bytes(t, n);
    if (mode == 0 || t == CK_F32) {
        fill_floats(tmp, n, (int)(ck_block_elements(t) > 1 ? ck_block_elements(t) : 32));
        if (t == CK_Q8_1 || t == CK_Q8_K) ck_kernels_scalar()->quantize[t](tmp, w, n);
        else ck_quantize_row_ref(t, tmp, w, n);
        return;
    }
    for (int64_t i = 0; i < rb; ++i) w[i] = (uint8_t)rnd64();
    const int64_t bb = ck_block_bytes(t), nb = rb / (bb ? bb : 1);
    for (int64_t b = 0; b < nb; ++b) {
        uint8_t *p = w + b * bb;
        const float s1 = (rndu() * 2.0f - 1.0f) * 0.05f, s2 = rndu() * 0.05f;
        switch (t) {
        case CK_F16: {   // finite halves only
            uint16_t h;
            memcpy(&h, p, 2);
            if (((h >> 10) & 31) == 31) h &= 0xBFFF;
            memcpy(p, &h, 2);
            break;
        }
        case CK_BF16: {
            uint16_t h;
            memcpy(&h, p, 2);
            h = (uint16_t)((h & 0x807F) | ((uint16_t)(100 + rnd64() % 50) << 7));
            memcpy(p, &h, 2);
            break;
        }
        case CK_Q4_0: case CK_Q5_0: case CK_Q8_0: put_half(p, s1); break;
        case CK_Q4_1: case CK_Q5_1: case CK_Q8_1: put_half(p, s1); put_half(p + 2, s2); break;
        case CK_Q4_K: case CK_Q5_K: put_half(p, s2 * 0.1f); put_half(p + 2, s2 * 0.05f); break;
        case CK_Q6_K: put_half(p + 208, s1 * 0.01f); break;
        case CK_Q8_K: {
            const float d = s1 * 0.01f;
            memcpy(p, &d, 4);
            break;
        }
        default: break;
        }
    }
}

static int close_enough(float got, float ref, double mag, double rtol) {
    if (isnan(got) || isnan(ref)) return isnan(got) && isnan(ref);
    return fabs((double)got - (double)ref) <= rtol * mag + 1e-30;
}

// ---- quantisers: every set's bytes == scalar bytes ----------------------------------------------

static void test_quantizers(const ck_kernel_set *ks) {
    const ck_kernel_set *sc = ck_kernels_scalar();
    const ck_type types[] = {CK_F32, CK_F16, CK_BF16, CK_Q8_0, CK_Q8_1, CK_Q8_K,
                             CK_Q4_0, CK_Q4_1, CK_Q5_0, CK_Q5_1, CK_Q4_K, CK_Q5_K, CK_Q6_K};
    float *x = malloc(4096 * sizeof(float) + 64);
    uint8_t *ya = malloc(20000), *yb = malloc(20000);
    for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ++ti) {
        const ck_type t = types[ti];
        const int64_t be = ck_block_elements(t);
        CHECK(ks->quantize[t] != NULL, "%s: quantize[%s] is NULL", ks->name, ck_type_name(t));
        if (!ks->quantize[t]) continue;
        const int64_t maxb = be == 1 ? 67 : (be == 32 ? 16 : 6);
        for (int64_t nbk = 0; nbk <= maxb; ++nbk) {
            const int64_t n = nbk * be;
            for (int off = 0; off < 8; off += (n > 64 ? 3 : 1)) {
                fill_floats(x, n, be == 1 ? 8 : (int)(be < 32 ? 32 : be));
                if (t == CK_F16 || t == CK_BF16) {   // specials and rounding edges
                    const float sp[] = {INFINITY, -INFINITY, NAN, -NAN, 65504.0f, 65520.0f, 65519.99f, 1e-8f,
                                        5.9604645e-8f, 2.9802322e-8f, -6.1035156e-5f, 6.097555e-5f,
                                        1.0f + 1.0f / 2048.0f, 1.0f + 3.0f / 2048.0f, 3.3895314e38f, 1e-40f};
                    for (int64_t i = 0; i < n && i < 16; ++i) x[i] = sp[(i + (int64_t)off) % 16];
                }
                memset(ya, 0xAB, 20000);
                memset(yb, 0xAB, 20000);
                sc->quantize[t](x, ya + off, n);
                ks->quantize[t](x, yb + off, n);
                const int64_t rb = ck_row_bytes(t, n);
                int same = memcmp(ya, yb, (size_t)rb + 16) == 0;
                CHECK(same, "%s quantize %s n=%lld off=%d: bytes differ from scalar", ks->name, ck_type_name(t),
                      (long long)n, off);
            }
        }
    }
    free(x);
    free(ya);
    free(yb);
}

// ---- vec_dot: every set vs scalar ---------------------------------------------------------------

static double dot_magnitude(ck_type t, const uint8_t *w, const uint8_t *a, int64_t n, float *fw, float *fa) {
    const ck_type at = ck_activation_type(t);
    ck_dequantize_row(t, w, fw, n);
    ck_dequantize_row(at, a, fa, n);
    double m = 0;
    for (int64_t i = 0; i < n; ++i) m += fabs((double)fw[i] * (double)fa[i]);
    return m;
}

static void test_vec_dot(const ck_kernel_set *ks) {
    const ck_kernel_set *sc = ck_kernels_scalar();
    const ck_type types[] = {CK_F32, CK_F16, CK_BF16, CK_Q4_0, CK_Q4_1, CK_Q5_0, CK_Q5_1,
                             CK_Q8_0, CK_Q8_1, CK_Q4_K, CK_Q5_K, CK_Q6_K, CK_Q8_K};
    const int64_t maxn = 4096;
    float *x = malloc(maxn * sizeof(float)), *fw = malloc(maxn * sizeof(float)), *fa = malloc(maxn * sizeof(float));
    uint8_t *w = malloc(maxn * 4 + 64), *act = malloc(maxn * 4 + 64);
    uint8_t *wo = malloc(maxn * 4 + 64), *ao = malloc(maxn * 4 + 64);
    for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ++ti) {
        const ck_type t = types[ti], at = ck_activation_type(t);
        CHECK(ks->vec_dot[t] != NULL, "%s: vec_dot[%s] is NULL", ks->name, ck_type_name(t));
        if (!ks->vec_dot[t]) continue;
        const int64_t be = ck_block_elements(t);
        int64_t lens[64];
        int nl = 0;
        if (be == 1) {
            for (int64_t l = 0; l <= 67; l += (l < 40 ? 1 : 9)) lens[nl++] = l;
            lens[nl++] = 640;
            lens[nl++] = 2048;
            lens[nl++] = 2051;
        } else {
            for (int64_t b = 0; b <= 8; ++b) lens[nl++] = b * be;
            if (be == 32) { lens[nl++] = 640; lens[nl++] = 2048; }
            else { lens[nl++] = 2560; lens[nl++] = 4096; }
        }
        double worst = 0;
        for (int li = 0; li < nl; ++li) {
            const int64_t n = lens[li];
            const int64_t wb = ck_row_bytes(t, n), ab = ck_row_bytes(at, n);
            for (int mode = 0; mode < 2; ++mode) {
                make_weights(t, w, n, mode, x);
                fill_floats(x, n, 32);
                sc->quantize[at](x, act, n);
                const float ref = sc->vec_dot[t](n, w, act);
                const double mag = dot_magnitude(t, w, act, n, fw, fa) + fabs((double)ref);
                for (int o = 0; o < 64; ++o) {
                    const int woff = o & 7, aoff = o >> 3;
                    if (n > 256 && (woff + aoff) % 3 != 0) continue;   // fewer offset pairs for long rows
                    memcpy(wo + woff, w, (size_t)wb);
                    memcpy(ao + aoff, act, (size_t)ab);
                    const float got = ks->vec_dot[t](n, wo + woff, ao + aoff);
                    const float ref2 = sc->vec_dot[t](n, wo + woff, ao + aoff);
                    CHECK(ref2 == ref || (isnan(ref) && isnan(ref2)), "scalar %s not deterministic under offsets", ck_type_name(t));
                    const double err = fabs((double)got - (double)ref) / (mag > 0 ? mag : 1);
                    if (err > worst) worst = err;
                    CHECK(close_enough(got, ref, mag, 2e-6), "%s vec_dot %s n=%lld mode=%d woff=%d aoff=%d: got %.9g want %.9g (mag %.3g)",
                          ks->name, ck_type_name(t), (long long)n, mode, woff, aoff, got, ref, mag);
                }
            }
        }
        if (ks != sc) printf("  %-13s vec_dot %-5s worst relative deviation %.2e\n", ks->name, ck_type_name(t), worst);
    }
    free(x); free(fw); free(fa); free(w); free(act); free(wo); free(ao);
}

// ---- dot_f32 / axpy_f32 -------------------------------------------------------------------------

static void test_f32_ops(const ck_kernel_set *ks) {
    const ck_kernel_set *sc = ck_kernels_scalar();
    float xb[80], yb[80], y1[80], y2[80];
    for (int n = 0; n <= 67; ++n) {
        for (int ox = 0; ox < 8; ++ox) {
            const int oy = (ox * 3 + n) % 8;
            for (int i = 0; i < 80; ++i) { xb[i] = rndn(); yb[i] = rndn(); }
            const float *x = xb + ox;
            const float got = ks->dot_f32(n, x, yb + oy), ref = sc->dot_f32(n, x, yb + oy);
            double mag = 0;
            for (int i = 0; i < n; ++i) mag += fabs((double)x[i] * yb[oy + i]);
            CHECK(close_enough(got, ref, mag, 1e-6), "%s dot_f32 n=%d ox=%d oy=%d: %.9g vs %.9g", ks->name, n, ox, oy, got, ref);
            memcpy(y1, yb, sizeof(yb));
            memcpy(y2, yb, sizeof(yb));
            const float a = rndn();
            ks->axpy_f32(n, a, x, y1 + oy);
            sc->axpy_f32(n, a, x, y2 + oy);
            int ok = 1;
            for (int i = 0; i < 80; ++i) {
                const int inside = i >= oy && i < oy + n;
                if (!inside) { ok &= y1[i] == yb[i]; continue; }
                const double tol = 2.5e-7 * (fabs((double)yb[i]) + fabs((double)a * x[i - oy])) + 1e-30;
                ok &= fabs((double)y1[i] - (double)y2[i]) <= tol;
            }
            CHECK(ok, "%s axpy_f32 n=%d ox=%d oy=%d", ks->name, n, ox, oy);
        }
    }
}

// ---- row kernels: max_f32, exp_shift, gelu_tanh, layer_norm, add_f32 against the scalar set ------
// Every length 0..300 and a few of the real widths, at every misalignment of 0..7 floats; what lies
// outside a row must stay untouched. exp_shift is also checked against exp() in double over its
// whole range, and on the masked cases attention uses (-infinity scores, a row of them).

static long g_row_kernels_compared = 0;

// Fills x[0..<n] for the kind of row `what` (0: scores of a softmax, 1: pre-activations, 2: a
// residual stream with an offset).
static void fill_row(float *x, int64_t n, int what) {
    const float scale = powf(10.0f, rndu() * 3.0f - 1.5f);
    const float offset = what == 2 ? rndn() * 4.0f : 0.0f;
    for (int64_t i = 0; i < n; ++i) {
        const unsigned r = (unsigned)(rnd64() % 64);
        if (what == 0 && r == 0) x[i] = -INFINITY;                   // a masked score
        else if (what == 0 && r == 1) x[i] = -150.0f + rndn();       // far below the maximum
        else if (what == 1 && r == 0) x[i] = (rnd64() & 1) ? 60.0f : -60.0f;
        else x[i] = offset + scale * rndn() * (what == 0 ? 8.0f : 3.0f);
    }
}

static int outside_untouched(const float *a, const float *b, int64_t total, int64_t o, int64_t n) {
    for (int64_t i = 0; i < total; ++i)
        if ((i < o || i >= o + n) && memcmp(a + i, b + i, 4) != 0) return 0;
    return 1;
}

static void test_row_kernels(const ck_kernel_set *ks) {
    const ck_kernel_set *sc = ck_kernels_scalar();
    CHECK(ks->max_f32 && ks->exp_shift && ks->gelu_tanh && ks->layer_norm && ks->add_f32, "%s: no row kernels", ks->name);
    if (!ks->max_f32 || !ks->exp_shift || !ks->gelu_tanh || !ks->layer_norm || !ks->add_f32) return;
    enum { MAXN = 4304 + 16 };
    static float orig[MAXN], x1[MAXN], x2[MAXN], w[MAXN], b[MAXN], o1[MAXN], o2[MAXN];
    static const int64_t big[] = {511, 1152, 4096, 4304};
    for (int li = 0; li <= 300 + 4; ++li) {
        const int64_t n = li <= 300 ? li : big[li - 301];
        const int64_t total = n + 16;
        for (int o = 0; o < 8; ++o) {
            const int ob = (o * 3 + (int)n) % 8;   // the second operand's misalignment
            for (int64_t i = 0; i < total; ++i) { w[i] = rndn(); b[i] = rndn() * 0.5f; }
            int ok;

            // max_f32: exact, NaNs skipped
            fill_row(orig, total, 0);
            if (n > 3 && (rnd64() & 1)) orig[o + (int64_t)(rnd64() % (uint64_t)n)] = NAN;
            const float m1 = ks->max_f32(n, orig + o), m2 = sc->max_f32(n, orig + o);
            CHECK(memcmp(&m1, &m2, 4) == 0, "%s max_f32 n=%lld o=%d: %g vs %g", ks->name, (long long)n, o, m1, m2);

            // exp_shift: shifted by the row's maximum (or, one time in four, by a larger value)
            fill_row(orig, total, 0);
            float shift = sc->max_f32(n, orig + o);
            if (n == 0 || shift == -INFINITY || (rnd64() & 3) == 0) shift = (shift == -INFINITY ? 0.0f : shift) + rndu() * 5;
            memcpy(x1, orig, (size_t)total * 4);
            memcpy(x2, orig, (size_t)total * 4);
            const float s1 = ks->exp_shift(n, x1 + o, shift), s2 = sc->exp_shift(n, x2 + o, shift);
            ok = outside_untouched(x1, orig, total, o, n);
            for (int64_t i = o; i < o + n; ++i)
                ok &= fabs((double)x1[i] - (double)x2[i]) <= 3e-7 * fabs((double)x2[i]) + 1e-37;
            double dsum = 0;   // the sums against the sum in double (each is a float sum of n terms)
            for (int64_t i = o; i < o + n; ++i) dsum += x2[i];
            const double stol = (3e-7 + 1.2e-7 * (double)(n + 8)) * dsum + 1e-30;
            ok &= fabs((double)s1 - dsum) <= stol && fabs((double)s2 - dsum) <= stol;
            CHECK(ok, "%s exp_shift n=%lld o=%d shift=%g: sums %.9g vs %.9g", ks->name, (long long)n, o, shift, s1, s2);
            g_row_kernels_compared += n;

            // gelu_tanh, with and without a bias
            fill_row(orig, total, 1);
            for (int with_bias = 0; with_bias < 2; ++with_bias) {
                const float *bias = with_bias ? b + ob : NULL;
                memcpy(x1, orig, (size_t)total * 4);
                memcpy(x2, orig, (size_t)total * 4);
                ks->gelu_tanh(n, x1 + o, bias);
                sc->gelu_tanh(n, x2 + o, bias);
                ok = outside_untouched(x1, orig, total, o, n);
                for (int64_t i = 0; i < n; ++i) {
                    const double v = (double)orig[o + i] + (bias ? bias[i] : 0.0);
                    ok &= fabs((double)x1[o + i] - (double)x2[o + i]) <= 1e-6 * fabs(v) + 1e-6 * fabs((double)x2[o + i]) + 1e-30;
                }
                CHECK(ok, "%s gelu_tanh n=%lld o=%d bias=%d", ks->name, (long long)n, o, with_bias);
                g_row_kernels_compared += n;
            }

            // layer_norm: weight and bias or neither, into another row and in place
            fill_row(orig, total, 2);
            for (int form = 0; form < 3; ++form) {
                const float *wt = form == 1 ? NULL : w + ob, *bs = form == 1 ? NULL : b + ob;
                const float eps = 1e-6f;
                memcpy(o1, orig, (size_t)total * 4);
                memcpy(o2, orig, (size_t)total * 4);
                if (form == 2) {   // in place
                    ks->layer_norm(n, o1 + o, wt, bs, eps, o1 + o);
                    sc->layer_norm(n, o2 + o, wt, bs, eps, o2 + o);
                } else {
                    memset(x1, 0, sizeof x1);
                    memset(x2, 0, sizeof x2);
                    ks->layer_norm(n, orig + o, wt, bs, eps, x1 + ob);
                    sc->layer_norm(n, orig + o, wt, bs, eps, x2 + ob);
                    for (int64_t i = 0; i < n; ++i) { o1[o + i] = x1[ob + i]; o2[o + i] = x2[ob + i]; }
                    CHECK(outside_untouched(x1, x2, total, ob, n), "%s layer_norm n=%lld writes outside", ks->name, (long long)n);
                }
                double mean = 0, var = 0;
                for (int64_t i = 0; i < n; ++i) mean += orig[o + i];
                mean = n ? mean / (double)n : 0;
                for (int64_t i = 0; i < n; ++i) var += (orig[o + i] - mean) * (orig[o + i] - mean);
                const double scale = n ? 1.0 / sqrt(var / (double)n + eps) : 0;
                ok = 1;
                for (int64_t i = 0; i < n; ++i) {
                    const double mag = fabs(wt ? wt[i] : 1.0) * (fabs(orig[o + i]) + fabs(mean)) * scale + fabs(bs ? bs[i] : 0.0);
                    ok &= fabs((double)o1[o + i] - (double)o2[o + i]) <= 2e-6 * mag + 1e-30;
                }
                CHECK(ok, "%s layer_norm n=%lld o=%d form=%d", ks->name, (long long)n, o, form);
                g_row_kernels_compared += n;
            }

            // add_f32: exact, y + (x + b)
            fill_row(orig, total, 2);
            for (int with_b = 0; with_b < 2; ++with_b) {
                memcpy(x1, orig, (size_t)total * 4);
                memcpy(x2, orig, (size_t)total * 4);
                ks->add_f32(n, x1 + o, w + ob, with_b ? b + (7 - ob) : NULL);
                sc->add_f32(n, x2 + o, w + ob, with_b ? b + (7 - ob) : NULL);
                CHECK(memcmp(x1, x2, (size_t)total * 4) == 0, "%s add_f32 n=%lld o=%d b=%d", ks->name, (long long)n, o, with_b);
                g_row_kernels_compared += n;
            }
        }
    }

    // exp_shift against exp() in double over its whole range, with shift 0
    enum { NE = 65536 };
    static float d[NE];
    double worst = 0;
    for (int rep = 0; rep < 8; ++rep) {
        for (int i = 0; i < NE; ++i)
            d[i] = rep == 0 ? -104.0f + (88.72f + 104.0f) * (float)i / (float)NE   // a grid, then random points
                 : rep < 4 ? (rndu() - 0.5f) * 2.0f : -104.0f + rndu() * 193.0f;
        float e[NE];
        memcpy(e, d, sizeof d);
        ks->exp_shift(NE, e, 0.0f);
        for (int i = 0; i < NE; ++i) {
            const double ref = exp((double)d[i]);
            if (d[i] < -87.33654f || d[i] > 88.0f) {   // 0 or a denormal below, +infinity or FLT_MAX above
                CHECK(d[i] < 0 ? e[i] >= 0 && e[i] <= 1.2e-38 : e[i] >= 1.65e38, "%s exp(%.9g) = %g outside [-87.34, 88]",
                      ks->name, d[i], e[i]);
                continue;
            }
            const double rel = fabs((double)e[i] - ref) / ref;
            if (rel > worst) worst = rel;
        }
    }
    CHECK(worst <= 3e-7, "%s exp: relative error %.3g of exp() in double", ks->name, worst);
    printf("set %-13s exp relative error at most %.3g\n", ks->name, worst);

    // the special cases: masked, far below, overflow, NaN, a row with every score masked
    float sp[9] = {-INFINITY, -200.0f, 0.0f, 100.0f, NAN, -87.0f, 88.0f, -1e30f, 1.0f};
    const float sum = ks->exp_shift(9, sp, 0.0f);
    CHECK(sp[0] == 0 && sp[1] == 0 && sp[2] == 1 && isinf(sp[3]) && sp[3] > 0 && isnan(sp[4]) && sp[7] == 0 && isnan(sum),
          "%s exp_shift special values: %g %g %g %g %g %g", ks->name, sp[0], sp[1], sp[2], sp[3], sp[4], sp[7]);
    CHECK(fabs(sp[5] - 1.6458115e-38) <= 1e-44 && fabs(sp[6] / 1.6516363e38 - 1) <= 3e-7 && fabs(sp[8] - 2.7182817f) <= 3e-7,
          "%s exp_shift near the ends: %g %g %g", ks->name, sp[5], sp[6], sp[8]);
    float masked[19];
    for (int i = 0; i < 19; ++i) masked[i] = -INFINITY;
    const float msum = ks->exp_shift(19, masked, -INFINITY);
    int zeros = msum == 0;
    for (int i = 0; i < 19; ++i) zeros &= masked[i] == 0;
    CHECK(zeros, "%s exp_shift of a fully masked row: sum %g", ks->name, msum);
    CHECK(ks->max_f32(0, masked) == -INFINITY, "%s max_f32 of nothing", ks->name);
    float g[6] = {0.0f, -1e4f, 1e4f, NAN, INFINITY, -INFINITY};
    ks->gelu_tanh(6, g, NULL);
    CHECK(g[0] == 0 && g[1] == 0 && g[2] == 1e4f && isnan(g[3]) && g[4] == INFINITY && isnan(g[5]),
          "%s gelu_tanh special values: %g %g %g %g %g %g", ks->name, g[0], g[1], g[2], g[3], g[4], g[5]);
}

// ---- KV cache rows: row_dot / row_axpy of F32, F16, Q8_0 rows against the scalar set ------------

static void test_rows(const ck_kernel_set *ks) {
    const ck_kernel_set *sc = ck_kernels_scalar();
    static const ck_type types[3] = {CK_F32, CK_F16, CK_Q8_0};
    enum { MAXN = 2 * 256 + 64 };
    static float src[MAXN], xb[MAXN + 8], yb[MAXN + 8], y1[MAXN + 8], y2[MAXN + 8], deq[MAXN];
    static uint8_t rowb[4 * MAXN + 64];
    for (int ti = 0; ti < 3; ++ti) {
        const ck_type t = types[ti];
        CHECK(ks->row_dot[t] != NULL && ks->row_axpy[t] != NULL, "%s: no row kernels for %s", ks->name, ck_type_name(t));
        if (!ks->row_dot[t] || !ks->row_axpy[t]) continue;
        const int step = t == CK_Q8_0 ? 32 : 1;
        for (int n = 0; n <= (t == CK_Q8_0 ? 2 * 256 : 2 * 32 + 3); n += step) {
            for (int off = 0; off < 4; ++off) {
                const int ox = (off * 5 + n) % 8, orow = (off * 7 + 3 * n) % 16;
                fill_floats(src, n, 32);
                for (int i = 0; i < MAXN + 8; ++i) { xb[i] = rndn(); yb[i] = rndn(); }
                uint8_t *row = rowb + orow;
                ks->quantize[t](src, row, n);
                if (n > 0) ck_dequantize_row(t, row, deq, n);
                const float *x = xb + ox;
                double mag = 0;
                for (int i = 0; i < n; ++i) mag += fabs((double)deq[i] * x[i]);
                const float got = ks->row_dot[t](n, row, x), ref = sc->row_dot[t](n, row, x);
                CHECK(close_enough(got, ref, mag, 2e-6), "%s row_dot %s n=%d off=%d: %.9g vs %.9g", ks->name, ck_type_name(t), n,
                      off, got, ref);
                memcpy(y1, yb, sizeof(yb));
                memcpy(y2, yb, sizeof(yb));
                const float a = rndn();
                ks->row_axpy[t](n, a, row, y1 + ox);
                sc->row_axpy[t](n, a, row, y2 + ox);
                int ok = 1;
                for (int i = 0; i < MAXN + 8; ++i) {
                    const int inside = i >= ox && i < ox + n;
                    if (!inside) { ok &= y1[i] == yb[i]; continue; }
                    const double tol = 2.5e-7 * (fabs((double)yb[i]) + fabs((double)a * deq[i - ox])) + 1e-30;
                    ok &= fabs((double)y1[i] - (double)y2[i]) <= tol;
                }
                CHECK(ok, "%s row_axpy %s n=%d off=%d", ks->name, ck_type_name(t), n, off);
            }
        }
    }
}

// ---- fgemm / fgemm_kn (float matrix products) against the scalar set ------------------------------
// Every tile edge: rows of a 0..13 and 25, columns 1..17, 33 and 70, lengths 0..9, 72, 255, 257 and
// 300 (more than one chunk of k), misaligned a, B and out, strides wider than the rows, both
// accumulate modes; outputs outside the written ranges must stay untouched.

static long g_fgemm_compared = 0;

static void test_fgemm(const ck_kernel_set *ks) {
    const ck_kernel_set *sc = ck_kernels_scalar();
    CHECK(ks->fgemm[CK_F32] && ks->fgemm[CK_F16] && ks->fgemm_kn, "%s: no fgemm", ks->name);
    if (!ks->fgemm[CK_F32] || !ks->fgemm[CK_F16] || !ks->fgemm_kn) return;
    static const int ns[] = {0, 1, 2, 3, 5, 8, 9, 72, 255, 257, 300};
    static const int nts[] = {1, 2, 5, 6, 7, 12, 13, 25};
    static const int ncs[] = {1, 3, 8, 15, 16, 17, 33, 70, 200};   // 200: more than one chunk of weight rows
    enum { MAXN = 300, MAXT = 25, MAXC = 200, PAD = 9 };
    static float a[MAXT * (MAXN + PAD) + PAD], bk[MAXN * (MAXC + PAD) + PAD], src[MAXN];
    static float o0[MAXT * (MAXC + PAD) + PAD], o1[MAXT * (MAXC + PAD) + PAD], o2[MAXT * (MAXC + PAD) + PAD];
    static float deq[MAXC][MAXN];
    static uint8_t wb[MAXC * (4 * MAXN + 8) + 16];
    const int on = MAXT * (MAXC + PAD) + PAD;
    for (int ni = 0; ni < (int)(sizeof ns / sizeof *ns); ++ni)
        for (int ti = 0; ti < (int)(sizeof nts / sizeof *nts); ++ti)
            for (int ci = 0; ci < (int)(sizeof ncs / sizeof *ncs); ++ci)
                for (int form = 0; form < 3; ++form) {   // fgemm f32, fgemm f16, fgemm_kn
                    const int n = ns[ni], nt = nts[ti], nc = ncs[ci], off = (n + nt + nc + form) % 5;
                    const int accumulate = (n + nt + nc) & 1;
                    const int64_t a_stride = n + (off & 3), o_stride = nc + (off & 1) + 2;
                    for (int i = 0; i < MAXT * (MAXN + PAD) + PAD; ++i) a[i] = rndn();
                    const float *ap = a + off;
                    const void *b;
                    size_t row_bytes = 0;
                    int64_t b_stride = nc + (off & 2) + 1;
                    if (form < 2) {
                        const ck_type t = form ? CK_F16 : CK_F32;
                        row_bytes = (size_t)ck_row_bytes(t, n) + (size_t)(off % 3) * 2 + 4;
                        for (int c = 0; c < nc; ++c) {
                            for (int k = 0; k < n; ++k) src[k] = rndn();
                            ks->quantize[t](src, wb + off + (size_t)c * row_bytes, n);
                            if (n > 0) ck_dequantize_row(t, wb + off + (size_t)c * row_bytes, deq[c], n);
                        }
                        b = wb + off;
                    } else {
                        for (int i = 0; i < MAXN * (MAXC + PAD) + PAD; ++i) bk[i] = rndn();
                        for (int c = 0; c < nc; ++c)
                            for (int k = 0; k < n; ++k) deq[c][k] = bk[off + k * b_stride + c];
                        b = bk + off;
                    }
                    for (int i = 0; i < on; ++i) o0[i] = o1[i] = o2[i] = rndn();
                    if (form < 2) {
                        const ck_type t = form ? CK_F16 : CK_F32;
                        ks->fgemm[t](n, ap, a_stride, nt, b, row_bytes, nc, o1 + off, o_stride, accumulate);
                        sc->fgemm[t](n, ap, a_stride, nt, b, row_bytes, nc, o2 + off, o_stride, accumulate);
                    } else {
                        ks->fgemm_kn(n, ap, a_stride, nt, b, b_stride, nc, o1 + off, o_stride, accumulate);
                        sc->fgemm_kn(n, ap, a_stride, nt, b, b_stride, nc, o2 + off, o_stride, accumulate);
                    }
                    int ok = 1;
                    for (int i = 0; i < on; ++i) {
                        const int k = i - off, t = k >= 0 ? k / (int)o_stride : -1, c = k >= 0 ? k % (int)o_stride : -1;
                        if (k < 0 || t >= nt || c >= nc) { ok &= o1[i] == o0[i]; continue; }
                        double mag = accumulate ? fabs((double)o0[i]) : 0;
                        for (int e = 0; e < n; ++e) mag += fabs((double)ap[t * a_stride + e] * deq[c][e]);
                        ok &= fabs((double)o1[i] - (double)o2[i]) <= 2e-6 * mag + 1e-30;
                        ++g_fgemm_compared;
                    }
                    CHECK(ok, "%s fgemm form %d n=%d ntok=%d cols=%d acc=%d", ks->name, form, n, nt, nc, accumulate);
                }
}

// ---- rows_dot / rows_mix (many queries x many rows) and round_f16 against the scalar set ---------
// Query counts 1..9 (every tile shape plus remainders), row counts 0..7 and 37, lengths 0..2N with
// misaligned queries, rows and outputs, row strides wider than the row; outputs outside the
// written ranges must stay untouched.

static long g_rows_many_compared = 0;

static void test_rows_many(const ck_kernel_set *ks) {
    const ck_kernel_set *sc = ck_kernels_scalar();
    static const ck_type types[3] = {CK_F32, CK_F16, CK_Q8_0};
    enum { MAXN = 160, MAXQ = 9, MAXR = 37, PAD = 8 };
    static float src[MAXN], qb[MAXQ * (MAXN + PAD) + PAD], pb[MAXQ * (MAXR + PAD) + PAD];
    static float s1[MAXQ * (MAXR + PAD) + PAD], s2[MAXQ * (MAXR + PAD) + PAD];
    static float yb[MAXQ * (MAXN + PAD) + PAD], y1[MAXQ * (MAXN + PAD) + PAD], y2[MAXQ * (MAXN + PAD) + PAD];
    static float deq[MAXR][MAXN];
    static uint8_t rowb[MAXR * (4 * MAXN + 24) + 16];
    static const int nqs[] = {1, 2, 3, 4, 5, 8, 9};
    static const int nrs[] = {0, 1, 2, 3, 5, 7, 37};
    const int sn = MAXQ * (MAXR + PAD) + PAD, yn = MAXQ * (MAXN + PAD) + PAD;
    for (int ti = 0; ti < 3; ++ti) {
        const ck_type t = types[ti];
        CHECK(ks->rows_dot[t] != NULL && ks->rows_mix[t] != NULL, "%s: no rows_dot/rows_mix for %s", ks->name, ck_type_name(t));
        if (!ks->rows_dot[t] || !ks->rows_mix[t]) continue;
        const int step = t == CK_Q8_0 ? 32 : 1;
        for (int n = 0; n <= (t == CK_Q8_0 ? MAXN : 2 * 32 + 3); n += step) {
            for (int qi = 0; qi < (int)(sizeof nqs / sizeof *nqs); ++qi) {
                for (int ri = 0; ri < (int)(sizeof nrs / sizeof *nrs); ++ri) {
                    const int nq = nqs[qi], nr = nrs[ri], off = (n + nq + nr) % 8;
                    const int64_t rb = ck_row_bytes(t, n);
                    const size_t row_stride = (size_t)rb + (size_t)(off % 3) * 2 + (t == CK_F32 ? 4 : 0);
                    uint8_t *rows = rowb + off;
                    for (int j = 0; j < nr; ++j) {
                        fill_floats(src, n, 32);
                        ks->quantize[t](src, rows + (size_t)j * row_stride, n);
                        if (n > 0) ck_dequantize_row(t, rows + (size_t)j * row_stride, deq[j], n);
                    }
                    const int64_t q_stride = n + (off & 3), s_stride = nr + (off & 1) + 1;
                    const float *q = qb + off;
                    for (int i = 0; i < MAXQ * (MAXN + PAD) + PAD; ++i) { qb[i] = rndn(); yb[i] = rndn(); }
                    for (int i = 0; i < sn; ++i) { pb[i] = rndn(); s1[i] = s2[i] = -7.0f; }
                    const float scale = 0.0625f + (float)off;
                    ks->rows_dot[t](n, nq, q, q_stride, rows, row_stride, nr, scale, s1 + off, s_stride);
                    sc->rows_dot[t](n, nq, q, q_stride, rows, row_stride, nr, scale, s2 + off, s_stride);
                    int ok = 1;
                    for (int i = 0; i < sn; ++i) {
                        const int k = i - off, qrow = k >= 0 ? k / (int)s_stride : -1, col = k >= 0 ? k % (int)s_stride : -1;
                        if (k < 0 || qrow >= nq || col >= nr) { ok &= s1[i] == -7.0f; continue; }
                        double mag = 0;
                        for (int e = 0; e < n; ++e) mag += fabs((double)deq[col][e] * q[qrow * q_stride + e]);
                        ok &= close_enough(s1[i], s2[i], mag * scale, 2e-6);
                    }
                    CHECK(ok, "%s rows_dot %s n=%d nq=%d nrows=%d", ks->name, ck_type_name(t), n, nq, nr);
                    const int64_t p_stride = nr + (off & 1), y_stride = n + (off & 3) + 1;
                    const float *p = pb + off;
                    memcpy(y1, yb, sizeof yb);
                    memcpy(y2, yb, sizeof yb);
                    ks->rows_mix[t](n, nq, p, p_stride, rows, row_stride, nr, y1 + off, y_stride);
                    sc->rows_mix[t](n, nq, p, p_stride, rows, row_stride, nr, y2 + off, y_stride);
                    ok = 1;
                    for (int i = 0; i < yn; ++i) {
                        const int k = i - off, qrow = k >= 0 ? k / (int)y_stride : -1, e = k >= 0 ? k % (int)y_stride : -1;
                        if (k < 0 || qrow >= nq || e >= n) { ok &= y1[i] == yb[i]; continue; }
                        double mag = fabs((double)yb[i]);
                        for (int j = 0; j < nr; ++j) mag += fabs((double)p[qrow * p_stride + j] * deq[j][e]);
                        ok &= fabs((double)y1[i] - (double)y2[i]) <= 4e-7 * mag + 1e-30;
                    }
                    CHECK(ok, "%s rows_mix %s n=%d nq=%d nrows=%d", ks->name, ck_type_name(t), n, nq, nr);
                    g_rows_many_compared += 2;
                }
            }
        }
    }
    // round_f16: the same bits as the scalar f16 round trip, for every length and offset, with values
    // across the f16 range (subnormals, ties, overflow to infinity).
    CHECK(ks->round_f16 != NULL, "%s: no round_f16", ks->name);
    if (!ks->round_f16) return;
    static float a[80], b[80];
    for (int n = 0; n <= 70; ++n) {
        const int off = n % 5;
        for (int i = 0; i < 80; ++i) {
            const float m[] = {1.0f, 1e-5f, 1e-7f, 70000.0f, 3.0f};
            a[i] = b[i] = rndn() * m[i % 5];
        }
        a[off] = b[off] = 1.0f + 0x1p-11f;  // a tie: rounds to even (1.0)
        ks->round_f16(a + off, n);
        sc->round_f16(b + off, n);
        CHECK(memcmp(a, b, sizeof a) == 0, "%s round_f16 n=%d", ks->name, n);
    }
}

// ---- gemv / gemm against vec_dot ----------------------------------------------------------------

static void test_gemv_gemm(const ck_kernel_set *ks) {
    const ck_kernel_set *sc = ck_kernels_scalar();
    const ck_type types[] = {CK_F32, CK_F16, CK_Q8_0, CK_Q4_0, CK_Q5_0, CK_Q5_1, CK_Q4_K, CK_Q5_K, CK_Q6_K};
    for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ++ti) {
        const ck_type t = types[ti], at = ck_activation_type(t);
        const int64_t n = ck_block_elements(t) == 256 ? 512 : 320;
        const int64_t rows = 37, ntok = 7;
        const size_t rb = (size_t)ck_row_bytes(t, n) + 5, ab = (size_t)ck_row_bytes(at, n) + 3;
        uint8_t *w = calloc(rows, rb), *a = calloc(ntok, ab);
        float *x = malloc(n * sizeof(float)), *out = malloc(ntok * 41 * sizeof(float)), *gv = malloc(rows * sizeof(float));
        for (int64_t r = 0; r < rows; ++r) make_weights(t, w + r * rb, n, (int)(r & 1), x);
        for (int64_t k = 0; k < ntok; ++k) {
            fill_floats(x, n, 32);
            sc->quantize[at](x, a + k * ab, n);
        }
        for (int64_t i = 0; i < ntok * 41; ++i) out[i] = -12345.0f;
        ck_gemm(ks, t, n, w, rb, rows, a, ab, ntok, out, 41);
        // bit for bit what vec_dot gives, with or without a microkernel
        int ok = 1;
        for (int64_t k = 0; k < ntok; ++k) {
            for (int64_t r = 0; r < rows; ++r) ok &= out[k * 41 + r] == ks->vec_dot[t](n, w + r * rb, a + k * ab);
            for (int64_t r = rows; r < 41; ++r) ok &= out[k * 41 + r] == -12345.0f;
        }
        CHECK(ok, "%s gemm %s differs from vec_dot", ks->name, ck_type_name(t));
        // gemv (the set's several-rows kernel where it has one) for row counts around its groups
        static const int64_t gemv_rows[] = {1, 2, 3, 4, 5, 7, 8, 9, 36, 37};
        for (size_t gi = 0; gi < sizeof(gemv_rows) / sizeof(gemv_rows[0]); ++gi) {
            const int64_t nr = gemv_rows[gi];
            for (int64_t r = 0; r < rows; ++r) gv[r] = -999.0f;
            ck_gemv(ks, t, n, w, rb, nr, a + 2 * ab, gv);
            ok = 1;
            for (int64_t r = 0; r < nr; ++r) ok &= gv[r] == ks->vec_dot[t](n, w + r * rb, a + 2 * ab);
            for (int64_t r = nr; r < rows; ++r) ok &= gv[r] == -999.0f;
            CHECK(ok, "%s gemv %s rows=%lld differs from vec_dot", ks->name, ck_type_name(t), (long long)nr);
        }
        free(w); free(a); free(x); free(out); free(gv);
    }
}

// ---- gemm microkernels against the scalar vec_dot ------------------------------------------------

// Scale fields of a weight row set to powers of two (exact mode, see below).
static void exact_scales(ck_type t, uint8_t *w, int64_t n) {
    const int64_t bb = ck_block_bytes(t), nb = ck_row_bytes(t, n) / bb;
    const uint16_t h4 = 0x2C00, h5 = 0x2800;   // 2^-4, 2^-5
    for (int64_t b = 0; b < nb; ++b) {
        uint8_t *p = w + b * bb;
        if (t == CK_Q6_K) memcpy(p + 208, &h4, 2);
        else memcpy(p, &h4, 2);
        if (t == CK_Q4_K || t == CK_Q5_K || t == CK_Q4_1 || t == CK_Q5_1) memcpy(p + 2, &h5, 2);
    }
}

// Activation rows with quants in [-maxq, maxq] and scale 2^-3 (exact mode).
static void exact_activations(ck_type at, uint8_t *y, int64_t n, int maxq) {
    const int64_t be = ck_block_elements(at), bb = ck_block_bytes(at), nb = n / be;
    for (int64_t b = 0; b < nb; ++b) {
        uint8_t *p = y + b * bb;
        int8_t *qs = (int8_t *)(p + (at == CK_Q8_K ? 4 : (at == CK_Q8_1 ? 4 : 2)));
        int sum = 0;
        for (int64_t i = 0; i < be; ++i) { qs[i] = (int8_t)((int)(rnd64() % (2 * maxq + 1)) - maxq); sum += qs[i]; }
        if (at == CK_Q8_K) {
            const float d = 0.125f;
            memcpy(p, &d, 4);
            for (int g = 0; g < 16; ++g) {
                int16_t s16 = 0;
                for (int i = 0; i < 16; ++i) s16 = (int16_t)(s16 + qs[16 * g + i]);
                memcpy(p + 260 + 2 * g, &s16, 2);
            }
        } else {
            put_half(p, 0.125f);
            if (at == CK_Q8_1) put_half(p + 2, 0.125f * (float)sum);
        }
    }
}

// Every gemm microkernel of a set against vec_dot per (row, token), over shapes that are not
// multiples of the tiles (1 token, 1 row, 17 rows, ...), K long enough for several panel chunks,
// enough tokens for several aux tiles, misaligned buffers and strides, untouched outputs outside
// the rows; then ck_gemm on the same data. Each output must equal the same set's vec_dot bit for
// bit (a prefill gives what decoding token by token gives) and the scalar vec_dot up to float
// summation order. Modes: 0 weights quantised from floats, 1 random bytes with sane scales, 2
// "exact": power-of-two scales and small sums, where every summation order gives the same float,
// so the result must also equal the scalar one bit for bit (the integer block sums are the same).
static long g_gemm_compared = 0;
static void test_gemm_kernels(const ck_kernel_set *ks) {
    const ck_kernel_set *sc = ck_kernels_scalar();
    const ck_type types[] = {CK_Q4_0, CK_Q5_0, CK_Q8_0, CK_Q4_K, CK_Q5_K, CK_Q6_K, CK_Q4_1, CK_Q5_1, CK_F16};
    // rows, tokens, blocks of 32 elements, super-blocks of 256
    static const int cases[][4] = {
        {1, 1, 1, 1}, {1, 2, 3, 1}, {3, 5, 2, 2}, {8, 4, 4, 1}, {15, 7, 5, 2}, {16, 8, 1, 1}, {17, 9, 3, 3},
        {33, 13, 2, 1}, {37, 17, 20, 4}, {5, 3, 130, 14}, {17, 300, 20, 3}, {24, 2, 0, 0}, {40, 11, 7, 2},
    };
    const int ncases = (int)(sizeof(cases) / sizeof(cases[0]));
    for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ++ti) {
        const ck_type t = types[ti], at = ck_activation_type(t);
        if (!ks->gemm[t]) continue;
        const int64_t be = ck_block_elements(t);
        double worst = 0;
        for (int ci = 0; ci < ncases; ++ci) {
            const int rows = cases[ci][0], ntok = cases[ci][1];
            const int64_t n = be * (be == 32 ? cases[ci][2] : cases[ci][3]);
            const size_t rb0 = (size_t)ck_row_bytes(t, n), ab0 = (size_t)ck_row_bytes(at, n);
            const size_t rb = rb0 + (size_t)(ci % 3) * 5, ab = ab0 + (size_t)(ci % 4) * 3;
            const int woff = ci % 8, aoff = (3 * ci + 1) % 8;
            const int64_t os = rows + 3;
            uint8_t *wbuf = calloc(1, (size_t)rows * rb + 16), *abuf = calloc(1, (size_t)ntok * ab + 16);
            uint8_t *w = wbuf + woff, *a = abuf + aoff;
            float *x = malloc((size_t)(n + 1) * sizeof(float)), *out = malloc((size_t)(ntok * os) * sizeof(float));
            float *fw = malloc((size_t)(n + 1) * sizeof(float)), *fa = malloc((size_t)(n + 1) * sizeof(float));
            const int exact_ok = be == 32 ? n <= 256 : n <= 512;
            for (int mode = 0; mode < 3; ++mode) {
                if (mode == 2 && !exact_ok) continue;
                for (int r = 0; r < rows; ++r) {
                    make_weights(t, w + (size_t)r * rb, n, mode == 2 ? 1 : mode, x);
                    if (mode == 2) exact_scales(t, w + (size_t)r * rb, n);
                }
                for (int k = 0; k < ntok; ++k) {
                    if (mode == 2) {
                        exact_activations(at, a + (size_t)k * ab, n, be == 32 ? 127 : 7);
                    } else {
                        fill_floats(x, n, 32);
                        sc->quantize[at](x, a + (size_t)k * ab, n);
                    }
                }
                for (int path = 0; path < 2; ++path) {
                    for (int64_t i = 0; i < ntok * os; ++i) out[i] = -777.0f;
                    if (path == 0) ks->gemm[t](n, w, rb, rows, a, ab, ntok, out, os);
                    else ck_gemm(ks, t, n, w, rb, rows, a, ab, ntok, out, os);
                    int ok = 1, shown = 0;
                    for (int k = 0; k < ntok && ok; ++k) {
                        for (int r = 0; r < rows; ++r) {
                            const uint8_t *wr = w + (size_t)r * rb, *ak = a + (size_t)k * ab;
                            const float ref = sc->vec_dot[t](n, wr, ak), got = out[k * os + r];
                            const float own = ks->vec_dot[t](n, wr, ak);
                            int good = got == own;
                            if (mode == 2) {
                                good &= got == ref;
                            } else {
                                const double mag = dot_magnitude(t, wr, ak, n, fw, fa) + fabs((double)ref);
                                const double err = fabs((double)got - (double)ref) / (mag > 0 ? mag : 1);
                                if (err > worst) worst = err;
                                good &= close_enough(got, ref, mag, 2e-6);
                            }
                            ++g_gemm_compared;
                            if (!good && shown++ < 3)
                                printf("  %s %s %s rows=%d ntok=%d n=%lld mode=%d: out[%d][%d] = %.9g, vec_dot %.9g, scalar %.9g\n",
                                       ks->name, path ? "ck_gemm" : "gemm", ck_type_name(t), rows, ntok, (long long)n, mode, k,
                                       r, got, own, ref);
                            ok &= good;
                        }
                        for (int64_t r = rows; r < os; ++r) ok &= out[k * os + r] == -777.0f;
                    }
                    CHECK(ok, "%s %s %s rows=%d ntok=%d n=%lld mode=%d woff=%d aoff=%d differs from vec_dot",
                          ks->name, path ? "ck_gemm" : "gemm", ck_type_name(t), rows, ntok, (long long)n, mode, woff, aoff);
                }
            }
            free(wbuf); free(abuf); free(x); free(out); free(fw); free(fa);
        }
        printf("  %-13s gemm    %-5s worst relative deviation %.2e\n", ks->name, ck_type_name(t), worst);
    }
}

// ---- repacked layouts (CKRepack.h): repack -> kernel == native kernel ---------------------------

// For many shapes, token counts and misalignments: the set's repacked kernel equals the scalar
// reference of the layout bit for bit, and both equal the set's native Q4_0 vec_dot bit for bit
// (they keep its float order); the scalar set has no repacked kernel, and there the reference is
// compared with the scalar vec_dot up to float summation order. Outputs past `rows` stay untouched.
static long g_repack_compared = 0;
static void test_repack_type(const ck_kernel_set *ks, ck_type wt) {
    const ck_rp_kernels *rk = ck_rp_select(ks, wt);
    const int simd = strcmp(ks->name, "scalar") != 0;
    const ck_type at = ck_activation_type(wt);
    const int64_t be = ck_block_elements(wt);
    void (*ref_gemm)(int64_t, const void *, int64_t, const void *, size_t, int64_t, float *, int64_t) =
        wt == CK_Q4_K ? ck_rp_ref_gemm_q4_K : ck_rp_ref_gemm_q4_0;
    CHECK(simd ? rk != NULL : rk == NULL, "%s: repacked %s kernels %s", ks->name, ck_type_name(wt), rk ? "present" : "missing");
    if (rk) CHECK(rk->type == wt && rk->group_rows == 8, "%s: %s kernels describe their layout", ks->name, rk->name);
    static const int64_t blocks[] = {1, 2, 3, 10, 32, 33, 65};
    static const int64_t rowss[] = {1, 3, 7, 8, 9, 15, 16, 17, 40};
    static const int64_t ntoks[] = {1, 2, 3, 4, 5, 9, 70};
    for (size_t ni = 0; ni < sizeof(blocks) / sizeof(blocks[0]); ++ni)
        for (size_t ri = 0; ri < sizeof(rowss) / sizeof(rowss[0]); ++ri) {
            const int64_t n = be * (wt == CK_Q4_K ? (blocks[ni] + 7) / 8 : blocks[ni]), rows = rowss[ri];
            if (n >= 1024 && rows > 17 && ri % 2) continue;   // keep the emulated runs short
            const int mis = (int)((ni + ri) % 4);             // byte offsets of the buffers
            const size_t rb = (size_t)ck_row_bytes(wt, n) + (size_t)mis, ab = (size_t)ck_row_bytes(at, n) + 3;
            const int64_t ntok = ntoks[(ni * 3 + ri) % (sizeof(ntoks) / sizeof(ntoks[0]))];
            const int64_t os = rows + 3, rpb = ck_rp_bytes(wt, rows, n);
            uint8_t *w = calloc(rows * rb + 4, 1), *a = calloc(ntok * ab + 4, 1), *rp = malloc(rpb + 4);
            float *x = malloc(n * sizeof(float)), *ref = malloc(ntok * os * sizeof(float)), *got = malloc(ntok * os * sizeof(float));
            float *fw = malloc(2 * n * sizeof(float));
            uint8_t *w0 = w + mis, *a0 = a + (mis ^ 1), *rp0 = rp + mis;
            for (int64_t r = 0; r < rows; ++r) make_weights(wt, w0 + r * rb, n, (int)(r & 1), x);
            for (int64_t k = 0; k < ntok; ++k) {
                fill_floats(x, n, 32);
                ck_kernels_scalar()->quantize[at](x, a0 + k * ab, n);
            }
            const int64_t groups = (rows + 7) / 8;
            // two halves of the groups, as concurrent repacking does
            CHECK(ck_rp_repack(wt, w0, rb, rows, n, 0, groups / 2, rp0) == 0 &&
                  ck_rp_repack(wt, w0, rb, rows, n, groups / 2, groups, rp0) == 0, "repack %s", ck_type_name(wt));
            for (int64_t i = 0; i < ntok * os; ++i) ref[i] = got[i] = -12345.0f;
            ref_gemm(n, rp0, rows, a0, ab, ntok, ref, os);
            int ok = 1;
            for (int64_t k = 0; k < ntok; ++k)
                for (int64_t r = 0; r < rows; ++r) {
                    const float v = ks->vec_dot[wt](n, w0 + r * rb, a0 + k * ab);
                    if (simd) ok &= memcmp(&v, &ref[k * os + r], 4) == 0;
                    else ok &= close_enough(ref[k * os + r], v, dot_magnitude(wt, w0 + r * rb, a0 + k * ab, n, fw, fw + n), 1e-5);
                }
            CHECK(ok, "%s: %sx8 reference differs from vec_dot (n=%lld rows=%lld ntok=%lld)", ks->name, ck_type_name(wt),
                  (long long)n, (long long)rows, (long long)ntok);
            if (rk) {
                rk->gemm(n, rp0, rows, a0, ab, ntok, got, os);
                ok = 1;
                for (int64_t k = 0; k < ntok; ++k) {
                    for (int64_t r = 0; r < rows; ++r) ok &= memcmp(&got[k * os + r], &ref[k * os + r], 4) == 0;
                    for (int64_t r = rows; r < os; ++r) ok &= got[k * os + r] == -12345.0f;
                }
                g_repack_compared += ntok * rows;
                CHECK(ok, "%s: %s differs from the reference (n=%lld rows=%lld ntok=%lld mis=%d)", ks->name, rk->name,
                      (long long)n, (long long)rows, (long long)ntok, mis);
                // decode: one token, rows starting at a group of the matrix
                if (rows > 8) {
                    rk->gemm(n, rp0 + ck_rp_group_bytes(wt, n), rows - 8, a0, ab, 1, got, os);
                    ok = 1;
                    for (int64_t r = 8; r < rows; ++r) ok &= memcmp(&got[r - 8], &ref[r], 4) == 0;
                    CHECK(ok, "%s: %s decode from group 1 differs (n=%lld rows=%lld)", ks->name, rk->name, (long long)n,
                          (long long)rows);
                }
            }
            free(w); free(a); free(rp); free(x); free(ref); free(got); free(fw);
        }
}

static void test_repack(const ck_kernel_set *ks) {
    CHECK(ck_rp_select(ks, CK_Q5_0) == NULL && ck_rp_select(ks, CK_Q6_K) == NULL && ck_rp_bytes(CK_Q8_0, 8, 64) == 0,
          "only q4_0 and q4_K have repacked layouts");
    CHECK(ck_rp_bytes(CK_Q4_0, 9, 64) == 2 * 2 * CK_RP_Q4_0_BLOCK_BYTES && ck_rp_bytes(CK_Q4_0, 8, 48) == 0,
          "q4_0x8 geometry");
    CHECK(ck_rp_bytes(CK_Q4_K, 9, 512) == 2 * 2 * CK_RP_Q4_K_BLOCK_BYTES && ck_rp_bytes(CK_Q4_K, 8, 128) == 0,
          "q4_Kx8 geometry");
    test_repack_type(ks, CK_Q4_0);
    test_repack_type(ks, CK_Q4_K);
}

// ---- scalar-only checks -------------------------------------------------------------------------

static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bitsf(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static void test_conversions(void) {
    // every finite half survives f16 -> f32 -> f16; values match the definition
    int ok = 1, okv = 1;
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = ck_f16_to_f32((uint16_t)h);
        const int e = (h >> 10) & 31, m = h & 1023;
        const double s = (h & 0x8000) ? -1.0 : 1.0;
        if (e == 31) {
            okv &= m ? isnan(f) : (isinf(f) && (f < 0) == ((h & 0x8000) != 0));
            if (m) ok &= ck_f32_to_f16(f) == (uint16_t)(h | 0x200);   // NaN comes back quiet
            continue;
        }
        const double v = e == 0 ? s * m * ldexp(1.0, -24) : s * (1024 + m) * ldexp(1.0, e - 25);
        okv &= (double)f == v;
        ok &= ck_f32_to_f16(f) == h;
    }
    CHECK(okv, "f16 -> f32 values");
    CHECK(ok, "f16 round trip");
    struct { float f; uint16_t h; } cases[] = {
        {0.0f, 0x0000}, {-0.0f, 0x8000}, {1.0f, 0x3C00}, {-2.0f, 0xC000}, {65504.0f, 0x7BFF}, {65519.0f, 0x7BFF},
        {65520.0f, 0x7C00}, {1e10f, 0x7C00}, {INFINITY, 0x7C00}, {-INFINITY, 0xFC00},
        {5.9604645e-8f, 0x0001}, {2.9802322e-8f, 0x0000}, {2.98023259e-8f, 0x0001}, {8.940697e-8f, 0x0002},
        {6.1035156e-5f, 0x0400}, {6.097555e-5f, 0x03FF}, {1.0f + 1.0f / 2048, 0x3C00}, {1.0f + 3.0f / 2048, 0x3C02},
        {1e-20f, 0x0000}, {-1e-20f, 0x8000}, {0.333333343f, 0x3555},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i)
        CHECK(ck_f32_to_f16(cases[i].f) == cases[i].h, "f32_to_f16(%g) = %04x want %04x", cases[i].f,
              ck_f32_to_f16(cases[i].f), cases[i].h);
    CHECK((ck_f32_to_f16(NAN) & 0x7E00) == 0x7E00, "f16 nan quiet");
    CHECK(ck_f32_to_f16(bitsf(0x7F800001u)) == 0x7E00, "f16 signalling nan -> quiet");
    // bf16
    CHECK(ck_f32_to_bf16(1.0f) == 0x3F80, "bf16 1");
    CHECK(ck_f32_to_bf16(bitsf(0x3F808000u)) == 0x3F80, "bf16 tie to even (down)");
    CHECK(ck_f32_to_bf16(bitsf(0x3F818000u)) == 0x3F82, "bf16 tie to even (up)");
    CHECK(ck_f32_to_bf16(bitsf(0x3F808001u)) == 0x3F81, "bf16 above tie");
    CHECK(ck_f32_to_bf16(INFINITY) == 0x7F80 && ck_f32_to_bf16(-INFINITY) == 0xFF80, "bf16 inf");
    CHECK(ck_f32_to_bf16(bitsf(0x7F7FFFFFu)) == 0x7F80, "bf16 overflow to inf");
    CHECK(ck_f32_to_bf16(bitsf(0x7F800001u)) == 0x7FC0, "bf16 nan quiet");
    CHECK(ck_f32_to_bf16(bitsf(0x00010000u)) == 0x0001, "bf16 subnormal");
    CHECK(fbits(ck_bf16_to_f32(0x8001)) == 0x80010000u, "bf16 -> f32 subnormal");
    CHECK(isnan(ck_bf16_to_f32(0x7FC1)), "bf16 nan");
}

static void test_geometry(void) {
    const struct { ck_type t; int64_t e, b; ck_type a; } g[] = {
        {CK_F32, 1, 4, CK_F32}, {CK_F16, 1, 2, CK_F32}, {CK_BF16, 1, 2, CK_F32}, {CK_Q4_0, 32, 18, CK_Q8_0},
        {CK_Q4_1, 32, 20, CK_Q8_1}, {CK_Q5_0, 32, 22, CK_Q8_0}, {CK_Q5_1, 32, 24, CK_Q8_1}, {CK_Q8_0, 32, 34, CK_Q8_0},
        {CK_Q8_1, 32, 36, CK_Q8_1}, {CK_Q4_K, 256, 144, CK_Q8_K}, {CK_Q5_K, 256, 176, CK_Q8_K},
        {CK_Q6_K, 256, 210, CK_Q8_K}, {CK_Q8_K, 256, 292, CK_Q8_K},
    };
    for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); ++i) {
        CHECK(ck_block_elements(g[i].t) == g[i].e && ck_block_bytes(g[i].t) == g[i].b, "geometry %s", ck_type_name(g[i].t));
        CHECK(ck_activation_type(g[i].t) == g[i].a, "activation type of %s", ck_type_name(g[i].t));
    }
    CHECK(ck_block_elements((ck_type)5) == 0 && ck_row_bytes(CK_Q4_K, 100) == -1, "unknown type / ragged row");
    CHECK(ck_row_bytes(CK_Q8_0, 640) == 680, "row bytes");
}

// Storage quantisers: dequantise(quantise(x)) stays within the type's error bound.
static void test_round_trips(void) {
    const int64_t n = 4096;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    uint8_t *q = malloc(n * 4);
    const ck_type types[] = {CK_F32, CK_F16, CK_BF16, CK_Q4_0, CK_Q4_1, CK_Q5_0, CK_Q5_1,
                             CK_Q8_0, CK_Q8_1, CK_Q4_K, CK_Q5_K, CK_Q6_K, CK_Q8_K};
    for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ++ti) {
        const ck_type t = types[ti];
        const int64_t be = ck_block_elements(t), blk = be < 32 ? 32 : be;
        double worst = 0;
        int ok = 1;
        for (int rep = 0; rep < 4; ++rep) {
            for (int64_t i = 0; i < n; ++i) x[i] = rndn() * (rep == 3 ? 0.001f : 1.0f) + (rep == 2 ? 0.7f : 0.0f);
            ok &= ck_quantize_row_ref(t, x, q, n) == 0;
            ck_dequantize_row(t, q, y, n);
            for (int64_t b = 0; b < n; b += blk) {
                float amax = 0, mn = x[b], mx = x[b];
                for (int64_t i = b; i < b + blk; ++i) {
                    amax = fmaxf(amax, fabsf(x[i]));
                    mn = fminf(mn, x[i]);
                    mx = fmaxf(mx, x[i]);
                }
                // f16 scales carry an absolute rounding error of up to 2^-25 once they are subnormal:
                // sub = that error times the largest multiplier of the scale in the type.
                const double sub = 0x1p-25;
                double bound;
                switch (t) {
                case CK_F32: bound = 0; break;
                case CK_F16: bound = amax * 0x1p-11; break;
                case CK_BF16: bound = amax * 0x1p-8; break;
                case CK_Q8_0: case CK_Q8_1: bound = 0.5 * amax / 127 * 1.13 + 127 * sub; break;   // half step + f16 scale
                case CK_Q8_K: bound = 0.5 * amax / 127 * 1.0001; break;
                case CK_Q4_0: bound = amax / 8 * 1.01 + 8 * sub; break;             // the clamped side: one step (+ f16 rounding of d)
                case CK_Q5_0: bound = amax / 16 * 1.01 + 16 * sub; break;
                case CK_Q4_1: bound = 0.5 * (mx - mn) / 15 * 1.02 + fabs(mn) * 0x1p-11 + 16 * sub; break;
                case CK_Q5_1: bound = 0.5 * (mx - mn) / 31 * 1.04 + fabs(mn) * 0x1p-11 + 32 * sub; break;
                case CK_Q4_K: bound = 0.12 * amax + 2048 * sub; break;   // simple scheme: ~1/2 step plus 6-bit scale error
                case CK_Q5_K: bound = 0.06 * amax + 4096 * sub; break;
                case CK_Q6_K: bound = 0.035 * amax + 4096 * sub; break;
                default: bound = 0;
                }
                for (int64_t i = b; i < b + blk; ++i) {
                    const double e = fabs((double)x[i] - y[i]);
                    if (amax > 0 && e / amax > worst) worst = e / amax;
                    if (e > bound + 1e-30) ok = 0;
                }
            }
        }
        printf("  round trip %-5s worst |error|/amax %.4f\n", ck_type_name(t), worst);
        CHECK(ok, "round trip %s exceeds its bound", ck_type_name(t));
    }
    CHECK(ck_quantize_row_ref(CK_Q4_0, x, q, 33) == -1 && ck_quantize_row_ref((ck_type)4, x, q, 32) == -1,
          "quantize_row_ref rejects ragged rows and unknown types");
    free(x); free(y); free(q);
}

// Hand-built blocks with values worked out from the layouts.
static void test_known_answers(void) {
    float out[256];
    {   // Q4_0: d = 0.5 (0x3800); qs[j] = j | (15-j) << 4 -> x[j] = (j-8)/2, x[16+j] = (7-j)/2
        uint8_t b[18] = {0x00, 0x38};
        for (int j = 0; j < 16; ++j) b[2 + j] = (uint8_t)(j | ((15 - j) << 4));
        ck_dequantize_row(CK_Q4_0, b, out, 32);
        CHECK(out[0] == -4.0f && out[8] == 0.0f && out[15] == 3.5f && out[16] == 3.5f && out[31] == -4.0f, "KAT q4_0");
    }
    {   // Q4_1: d = 2, m = -1; nibble 3 low / 12 high -> 5, 23
        uint8_t b[20] = {0x00, 0x40, 0x00, 0xBC};
        for (int j = 0; j < 16; ++j) b[4 + j] = 0xC3;
        ck_dequantize_row(CK_Q4_1, b, out, 32);
        CHECK(out[0] == 5.0f && out[16] == 23.0f, "KAT q4_1");
    }
    {   // Q5_0: d = 1; qh bit 0 and bit 16 set; qs = 0x21 -> x0 = (1|16)-16 = 1, x1 = 1-16 = -15, x16 = (2|16)-16 = 2, x17 = -14
        uint8_t b[22] = {0x00, 0x3C, 0x01, 0x00, 0x01, 0x00};
        for (int j = 0; j < 16; ++j) b[6 + j] = 0x21;
        ck_dequantize_row(CK_Q5_0, b, out, 32);
        CHECK(out[0] == 1.0f && out[1] == -15.0f && out[16] == 2.0f && out[17] == -14.0f, "KAT q5_0");
    }
    {   // Q5_1: d = 0.5, m = 10; qh = 0x80000000 -> element 31 gets +16; qs = 0xF0
        uint8_t b[24] = {0x00, 0x38, 0x00, 0x49, 0x00, 0x00, 0x00, 0x80};
        for (int j = 0; j < 16; ++j) b[8 + j] = 0xF0;
        ck_dequantize_row(CK_Q5_1, b, out, 32);
        CHECK(out[0] == 10.0f && out[16] == 17.5f && out[31] == 25.5f, "KAT q5_1");
    }
    {   // Q8_0: d = 0.25, qs[j] = j - 16
        uint8_t b[34] = {0x00, 0x34};
        for (int j = 0; j < 32; ++j) b[2 + j] = (uint8_t)(int8_t)(j - 16);
        ck_dequantize_row(CK_Q8_0, b, out, 32);
        CHECK(out[0] == -4.0f && out[16] == 0.0f && out[31] == 3.75f, "KAT q8_0");
    }
    {   // Q4_K: d = 1, dmin = 0.5; sub-block 0: sc 2, m 4; sub-block 5: sc 33 (=0x21), m 17 (=0x11)
        uint8_t b[144] = {0};
        b[0] = 0x00; b[1] = 0x3C; b[2] = 0x00; b[3] = 0x38;
        b[4 + 0] = 2; b[4 + 4] = 4;                 // sc0, m0
        b[4 + 1] = (uint8_t)(0x21 >> 4) << 6;       // sc5 high bits in scales[1] bits 6-7 (2 -> 0x80)
        b[4 + 5] = (uint8_t)((0x11 >> 4) << 6);     // m5 high bits in scales[5] bits 6-7
        b[4 + 9] = (uint8_t)((0x21 & 15) | ((0x11 & 15) << 4));
        for (int l = 0; l < 128; ++l) b[16 + l] = 0x97;   // low nibble 7, high nibble 9
        ck_dequantize_row(CK_Q4_K, b, out, 256);
        // element 0: sub-block 0, q = 7 -> 1*2*7 - 0.5*4 = 12; element 160: chunk 2 low = sub-block 4 (sc 0, m 0) -> 0
        // element 192+: chunk 3? sub-block 5 is chunk 2's high nibble: elements 160..191 -> 33*9 - 0.5*17 = 288.5
        CHECK(out[0] == 12.0f && out[128] == 0.0f && out[160] == 288.5f && out[191] == 288.5f, "KAT q4_K");
    }
    {   // Q5_K: d = 1, dmin = 0; sc0 = 1; qh[0] bit 0 -> element 0 gets +16; qs low nibble 3
        uint8_t b[176] = {0};
        b[1] = 0x3C;
        b[4] = 1;
        b[16] = 0x01;
        for (int l = 0; l < 128; ++l) b[48 + l] = 0x03;
        ck_dequantize_row(CK_Q5_K, b, out, 256);
        CHECK(out[0] == 19.0f && out[1] == 3.0f && out[32] == 0.0f, "KAT q5_K");
    }
    {   // Q6_K: d = 0.5; scales[0] = 2, scales[2] = -1; ql[0] = 0x21, qh[0] = 0b00000110
        uint8_t b[210] = {0};
        b[0] = 0x21;            // element 0 low 4 bits = 1, element 64 low bits = 2
        b[32] = 0x05;           // element 32 low bits = 5
        b[128] = 0x06;          // qh[0]: element 0 high = 2 (bits 0-1), element 32 high = 1 (bits 2-3)
        b[192 + 0] = 2;
        b[192 + 2] = (uint8_t)-1;
        b[192 + 4] = 3;
        b[209] = 0x38;          // d = 0.5
        ck_dequantize_row(CK_Q6_K, b, out, 256);
        // e0: q = 1 | 2<<4 = 33 -> 33-32 = 1 -> 0.5*2*1 = 1; e32: q = 5 | 1<<4 = 21 -> -11 -> 0.5*-1*-11 = 5.5
        // e64: q = 2 -> -30 -> 0.5*3*-30 = -45; e1: q = 0 -> -32 -> 0.5*2*-32 = -32
        CHECK(out[0] == 1.0f && out[32] == 5.5f && out[64] == -45.0f && out[1] == -32.0f, "KAT q6_K");
    }
    {   // vec_dot on known blocks: Q8_0 (d = 1) . Q8_0 (d = 0.5), qs all 2 and 3 -> 32*6*0.5 = 96
        uint8_t w[34] = {0x00, 0x3C}, a[34] = {0x00, 0x38};
        memset(w + 2, 2, 32);
        memset(a + 2, 3, 32);
        const ck_kernel_set *sets[8];
        const int ns = ck_kernels_available(sets, 8);
        for (int s = 0; s < ns; ++s) CHECK(sets[s]->vec_dot[CK_Q8_0](32, w, a) == 96.0f, "KAT vec_dot q8_0 %s", sets[s]->name);
    }
    {   // Q8_K quantiser: first extreme negative -> d = -max/127 > 0, the extreme maps to -127
        float x[256];
        for (int i = 0; i < 256; ++i) x[i] = 0.25f;
        x[5] = -2.0f;
        x[9] = 2.0f;   // same magnitude later: the first one (negative) wins
        uint8_t q[292];
        ck_quantize_row_ref(CK_Q8_K, x, q, 256);
        float d;
        memcpy(&d, q, 4);
        int16_t bs0;
        memcpy(&bs0, q + 260, 2);
        // iscale = -127 / -2 = 63.5: 0.25 -> 15.875 -> 16; -2 -> -127; 2 -> 127
        CHECK((int8_t)q[4 + 5] == -127 && (int8_t)q[4 + 9] == 127 && (int8_t)q[4] == 16 && fabsf(d - 2.0f / 127.0f) < 1e-9f &&
                  bs0 == 14 * 16 + 0,
              "KAT q8_K quantiser (d %g, q %d %d %d, bsum %d)", d, (int8_t)q[9], (int8_t)q[13], (int8_t)q[4], bs0);
    }
    {   // Q8_0 quantiser: amax 127 -> d = 1 exactly; 2.5 -> 3 (roundf, away from zero), -0.5 -> -1
        float x[32] = {127.0f, 2.5f, -0.5f, 0.49f};
        uint8_t q[34];
        ck_quantize_row_ref(CK_Q8_0, x, q, 32);
        CHECK(q[0] == 0x00 && q[1] == 0x3C && (int8_t)q[2] == 127 && (int8_t)q[3] == 3 && (int8_t)q[4] == -1 && q[5] == 0,
              "KAT q8_0 quantiser");
    }
}

// ---- benchmark ----------------------------------------------------------------------------------

// thread CPU time: other processes on a shared machine do not count
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void bench(int64_t rows) {
    const int64_t n = 640;
    const ck_kernel_set *sets[8];
    const int ns = ck_kernels_available(sets, 8);
    const ck_type types[] = {CK_Q8_0, CK_Q4_0, CK_Q5_0, CK_Q4_K, CK_Q6_K, CK_F16};
    float *x = malloc(1024 * sizeof(float)), *out = malloc(rows * sizeof(float));
    for (size_t ti = 0; ti < sizeof(types) / sizeof(types[0]); ++ti) {
        const ck_type t = types[ti], at = ck_activation_type(t);
        const int64_t nn = ck_block_elements(t) == 256 ? 768 : n;   // 640 is not a multiple of 256
        const size_t rb = (size_t)ck_row_bytes(t, nn);
        uint8_t *w = malloc(rb * rows), *a = malloc((size_t)ck_row_bytes(at, nn) + 64);
        for (size_t i = 0; i < rb * rows; ++i) w[i] = (uint8_t)rnd64();
        for (int64_t r = 0; r < rows; ++r) make_weights(t, w + r * rb, nn, 1, x);
        fill_floats(x, nn, 32);
        ck_kernels_scalar()->quantize[at](x, a, nn);
        for (int s = 0; s < ns; ++s) {
            ck_gemv(sets[s], t, nn, w, rb, rows, a, out);   // warm
            double best = 1e9;
            for (int rep = 0; rep < 3; ++rep) {
                const double t0 = now_s();
                ck_gemv(sets[s], t, nn, w, rb, rows, a, out);
                const double dt = now_s() - t0;
                if (dt < best) best = dt;
            }
            printf("  bench gemv %-5s %lld x %lld %-13s %8.2f ms  %6.2f GB/s\n", ck_type_name(t), (long long)rows,
                   (long long)nn, sets[s]->name, best * 1e3, (double)(rb * rows) / best * 1e-9);
        }
        free(w);
        free(a);
    }
    free(x);
    free(out);
}

int main(int argc, char **argv) {
    const char *expect_set = NULL;
    int expect_dotprod = -1, expect_i8mm = 0;
    int64_t bench_rows = 0;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--expect-set") && i + 1 < argc) expect_set = argv[++i];
        else if (!strcmp(argv[i], "--expect-dotprod")) expect_dotprod = 1;
        else if (!strcmp(argv[i], "--expect-no-dotprod")) expect_dotprod = 0;
        else if (!strcmp(argv[i], "--expect-i8mm")) expect_i8mm = 1;
        else if (!strcmp(argv[i], "--bench")) {
            bench_rows = 262144;
            if (i + 1 < argc && argv[i + 1][0] != '-') bench_rows = atoll(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--expect-set NAME] [--expect-dotprod|--expect-no-dotprod] [--expect-i8mm] [--bench [ROWS]]\n",
                    argv[0]);
            return 2;
        }
    }
    const unsigned f = ck_cpu_features();
    const ck_kernel_set *sets[8];
    const int ns = ck_kernels_available(sets, 8);
    printf("cpu features: 0x%x%s%s%s%s%s%s\n", f, f & CK_CPU_AVX2 ? " avx2" : "", f & CK_CPU_AVX512 ? " avx512" : "",
           f & CK_CPU_AVX512VNNI ? " avx512vnni" : "", f & CK_CPU_NEON ? " neon" : "", f & CK_CPU_DOTPROD ? " dotprod" : "",
           f & CK_CPU_I8MM ? " i8mm" : "");
    printf("selected set: %s; available:", ck_kernels_select(~0u)->name);
    for (int s = 0; s < ns; ++s) printf(" %s", sets[s]->name);
    printf("\n");

    CHECK(strcmp(ck_kernels_select(0)->name, "scalar") == 0, "select(0) must be scalar");
    CHECK(ns >= 1 && sets[0] == ck_kernels_scalar(), "scalar set listed first");
    if (expect_set) CHECK(strcmp(ck_kernels_select(~0u)->name, expect_set) == 0, "selected %s, expected %s", ck_kernels_select(~0u)->name, expect_set);
    if (expect_dotprod == 1) CHECK((f & CK_CPU_DOTPROD) != 0, "dotprod expected but not reported");
    if (expect_dotprod == 0) CHECK((f & CK_CPU_DOTPROD) == 0, "dotprod reported on a CPU without it");
    if (expect_i8mm) CHECK((f & CK_CPU_I8MM) != 0, "i8mm expected but not reported");
#if defined(__aarch64__)
    CHECK((f & CK_CPU_NEON) != 0, "AArch64 must report NEON");
    if (!(f & CK_CPU_DOTPROD)) CHECK(strcmp(ck_kernels_select(~0u)->name, "neon") == 0, "no dotprod: neon set expected");
    CHECK(strcmp(ck_kernels_select(~(unsigned)CK_CPU_DOTPROD)->name, "neon") == 0, "masking dotprod selects neon");
#endif

    test_geometry();
    test_conversions();
    test_known_answers();
    test_round_trips();
    for (int s = 0; s < ns; ++s) {
        const long before = g_fail;
        test_quantizers(sets[s]);
        test_vec_dot(sets[s]);
        test_f32_ops(sets[s]);
        test_rows(sets[s]);
        test_rows_many(sets[s]);
        test_fgemm(sets[s]);
        test_row_kernels(sets[s]);
        test_gemv_gemm(sets[s]);
        test_gemm_kernels(sets[s]);
        test_repack(sets[s]);
        printf("set %-13s %s\n", sets[s]->name, g_fail == before ? "ok" : "FAILED");
    }
    printf("gemm microkernel outputs compared with vec_dot: %ld\n", g_gemm_compared);
    printf("repacked kernel outputs compared with the reference: %ld\n", g_repack_compared);
    printf("rows_dot / rows_mix outputs compared with the scalar set: %ld\n", g_rows_many_compared);
    printf("fgemm / fgemm_kn outputs compared with the scalar set: %ld\n", g_fgemm_compared);
    printf("row kernel outputs compared with the scalar set: %ld\n", g_row_kernels_compared);
    if (bench_rows > 0) bench(bench_rows);
    printf("%ld passed, %ld failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
