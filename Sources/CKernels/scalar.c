// Portable scalar reference for every kernel: block geometry, dequantisation of every type, the
// activation quantisers (bit-exact with ggml's *_ref), the storage quantisers used by the project's
// GGUF writer, the dot product of every weight type with its activation type, and the scalar set.
//
// The integer part of each quantised dot product is computed exactly per block (as ggml does); the
// SIMD paths must produce the same integers and may only differ in the order of float summation.
#include "ck_internal.h"

#include <float.h>
#include <math.h>

// The quantisers must round every product separately (as ggml's reference does): no FMA
// contraction. Clang honours this pragma; gcc builds pass -ffp-contract=off (off is also gcc's
// default in ISO C mode).
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

// ---- geometry (from the type traits at the end of this file) ------------------------------------

int64_t ck_block_elements(ck_type type) {
    const ck_type_traits *t = ck_get_type_traits(type);
    return t ? t->block_elements : 0;
}

int64_t ck_block_bytes(ck_type type) {
    const ck_type_traits *t = ck_get_type_traits(type);
    return t ? t->block_bytes : 0;
}

int64_t ck_row_bytes(ck_type type, int64_t n) {
    const int64_t be = ck_block_elements(type);
    if (be == 0 || n < 0 || n % be != 0) return -1;
    return n / be * ck_block_bytes(type);
}

ck_type ck_activation_type(ck_type weight_type) {
    const ck_type_traits *t = ck_get_type_traits(weight_type);
    return t ? t->activation : CK_TYPE_COUNT;
}

const char *ck_type_name(ck_type type) {
    const ck_type_traits *t = ck_get_type_traits(type);
    return t ? t->name : "?";
}

// ---- f16 / bf16 ----------------------------------------------------------------------------------

float ck_f16_to_f32(uint16_t h) { return ck_h2f(h); }
uint16_t ck_f32_to_f16(float f) { return ck_f2h(f); }
float ck_bf16_to_f32(uint16_t h) { return ck_bf2f(h); }
uint16_t ck_f32_to_bf16(float f) { return ck_f2bf(f); }

// ---- dequantisation ------------------------------------------------------------------------------

static void dequant_q4_0(const ck_block_q4_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += CK_QK) {
        const float d = ck_h2f(ck_rd_u16(x[i].d));
        for (int j = 0; j < 16; ++j) {
            y[j] = (float)((x[i].qs[j] & 0x0F) - 8) * d;
            y[j + 16] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void dequant_q4_1(const ck_block_q4_1 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += CK_QK) {
        const float d = ck_h2f(ck_rd_u16(x[i].d)), m = ck_h2f(ck_rd_u16(x[i].m));
        for (int j = 0; j < 16; ++j) {
            y[j] = (float)(x[i].qs[j] & 0x0F) * d + m;
            y[j + 16] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

static void dequant_q5_0(const ck_block_q5_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += CK_QK) {
        const float d = ck_h2f(ck_rd_u16(x[i].d));
        const uint32_t qh = ck_rd_u32(x[i].qh);
        for (int j = 0; j < 16; ++j) {
            const int h0 = (int)((qh >> j) & 1u) << 4, h1 = (int)((qh >> (j + 16)) & 1u) << 4;
            y[j] = (float)(((x[i].qs[j] & 0x0F) | h0) - 16) * d;
            y[j + 16] = (float)(((x[i].qs[j] >> 4) | h1) - 16) * d;
        }
    }
}

static void dequant_q5_1(const ck_block_q5_1 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += CK_QK) {
        const float d = ck_h2f(ck_rd_u16(x[i].d)), m = ck_h2f(ck_rd_u16(x[i].m));
        const uint32_t qh = ck_rd_u32(x[i].qh);
        for (int j = 0; j < 16; ++j) {
            const int h0 = (int)((qh >> j) & 1u) << 4, h1 = (int)((qh >> (j + 16)) & 1u) << 4;
            y[j] = (float)((x[i].qs[j] & 0x0F) | h0) * d + m;
            y[j + 16] = (float)((x[i].qs[j] >> 4) | h1) * d + m;
        }
    }
}

static void dequant_q8_0(const ck_block_q8_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += CK_QK) {
        const float d = ck_h2f(ck_rd_u16(x[i].d));
        for (int j = 0; j < CK_QK; ++j) y[j] = (float)x[i].qs[j] * d;
    }
}

static void dequant_q8_1(const ck_block_q8_1 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += CK_QK) {
        const float d = ck_h2f(ck_rd_u16(x[i].d));
        for (int j = 0; j < CK_QK; ++j) y[j] = (float)x[i].qs[j] * d;
    }
}

static void dequant_q4_K(const ck_block_q4_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d = ck_h2f(ck_rd_u16(x[i].d)), dmin = ck_h2f(ck_rd_u16(x[i].dmin));
        uint8_t sc[8], m[8];
        ck_k4_scales(x[i].scales, sc, m);
        const uint8_t *q = x[i].qs;
        for (int c = 0; c < 4; ++c, q += 32) {
            const float d1 = d * sc[2 * c], m1 = dmin * m[2 * c];
            const float d2 = d * sc[2 * c + 1], m2 = dmin * m[2 * c + 1];
            for (int l = 0; l < 32; ++l) *y++ = d1 * (float)(q[l] & 0x0F) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

static void dequant_q5_K(const ck_block_q5_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d = ck_h2f(ck_rd_u16(x[i].d)), dmin = ck_h2f(ck_rd_u16(x[i].dmin));
        uint8_t sc[8], m[8];
        ck_k4_scales(x[i].scales, sc, m);
        const uint8_t *q = x[i].qs, *qh = x[i].qh;
        for (int c = 0; c < 4; ++c, q += 32) {
            const float d1 = d * sc[2 * c], m1 = dmin * m[2 * c];
            const float d2 = d * sc[2 * c + 1], m2 = dmin * m[2 * c + 1];
            for (int l = 0; l < 32; ++l) *y++ = d1 * (float)((q[l] & 0x0F) | (((qh[l] >> (2 * c)) & 1) << 4)) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * (float)((q[l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4)) - m2;
        }
    }
}

static void dequant_q6_K(const ck_block_q6_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d = ck_h2f(ck_rd_u16(x[i].d));
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int h = 0; h < 2; ++h, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * (float)sc[is] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}

static void dequant_q8_K(const ck_block_q8_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += CK_QKK) {
        const float d = ck_rd_f32(x[i].d);
        for (int j = 0; j < CK_QKK; ++j) y[j] = d * (float)x[i].qs[j];
    }
}

static void dequant_f32(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * 4); }

static void dequant_f16(const void *src, float *dst, int64_t n) {
    const uint8_t *s = src;
    for (int64_t i = 0; i < n; ++i) dst[i] = ck_h2f(ck_rd_u16(s + 2 * i));
}

static void dequant_bf16(const void *src, float *dst, int64_t n) {
    const uint8_t *s = src;
    for (int64_t i = 0; i < n; ++i) dst[i] = ck_bf2f(ck_rd_u16(s + 2 * i));
}

// The block dequantisers as traits' to_float: n elements, a multiple of the block.
#define CK_TO_FLOAT(t, blk)                                                                         \
    static void to_float_##t(const void *src, float *dst, int64_t n) { dequant_##t(src, dst, n / (blk)); }
CK_TO_FLOAT(q4_0, CK_QK)
CK_TO_FLOAT(q4_1, CK_QK)
CK_TO_FLOAT(q5_0, CK_QK)
CK_TO_FLOAT(q5_1, CK_QK)
CK_TO_FLOAT(q8_0, CK_QK)
CK_TO_FLOAT(q8_1, CK_QK)
CK_TO_FLOAT(q4_K, CK_QKK)
CK_TO_FLOAT(q5_K, CK_QKK)
CK_TO_FLOAT(q6_K, CK_QKK)
CK_TO_FLOAT(q8_K, CK_QKK)

void ck_dequantize_row(ck_type type, const void *src, float *dst, int64_t n) {
    const ck_type_traits *t = ck_get_type_traits(type);
    if (!t || n <= 0) return;
    t->to_float(src, dst, n);
}

// ---- activation quantisers (bit-exact with ggml's quantize_row_q8_{0,1,K}_ref) -------------------

void ck_scalar_quantize_f32(const float *x, void *y, int64_t n) {
    if (n > 0) memcpy(y, x, (size_t)n * sizeof(float));
}

void ck_scalar_quantize_f16(const float *x, void *y, int64_t n) {
    uint8_t *o = y;
    for (int64_t i = 0; i < n; ++i) ck_wr_u16(o + 2 * i, ck_f2h(x[i]));
}

void ck_scalar_quantize_bf16(const float *x, void *y, int64_t n) {
    uint8_t *o = y;
    for (int64_t i = 0; i < n; ++i) ck_wr_u16(o + 2 * i, ck_f2bf(x[i]));
}

void ck_scalar_quantize_q8_0(const float *x, void *vy, int64_t n) {
    ck_block_q8_0 *y = vy;
    const int64_t nb = n / CK_QK;
    for (int64_t i = 0; i < nb; ++i, x += CK_QK) {
        float amax = 0.0f;
        for (int j = 0; j < CK_QK; ++j) {
            const float a = fabsf(x[j]);
            amax = amax > a ? amax : a;
        }
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        ck_wr_u16(y[i].d, ck_f2h(d));
        for (int j = 0; j < CK_QK; ++j) y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

void ck_scalar_quantize_q8_1(const float *x, void *vy, int64_t n) {
    ck_block_q8_1 *y = vy;
    const int64_t nb = n / CK_QK;
    for (int64_t i = 0; i < nb; ++i, x += CK_QK) {
        float amax = 0.0f;
        for (int j = 0; j < CK_QK; ++j) {
            const float a = fabsf(x[j]);
            amax = amax > a ? amax : a;
        }
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        ck_wr_u16(y[i].d, ck_f2h(d));
        int sum = 0;
        for (int j = 0; j < CK_QK; ++j) {
            y[i].qs[j] = (int8_t)roundf(x[j] * id);
            sum += y[i].qs[j];
        }
        ck_wr_u16(y[i].s, ck_f2h((float)sum * d));
    }
}

void ck_scalar_quantize_q8_K(const float *x, void *vy, int64_t n) {
    ck_block_q8_K *y = vy;
    const int64_t nb = n / CK_QKK;
    for (int64_t i = 0; i < nb; ++i, x += CK_QKK) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < CK_QKK; ++j) {
            const float a = fabsf(x[j]);
            if (a > amax) { amax = a; max = x[j]; }
        }
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof(y[i]));   // ggml leaves bsums stale here; we zero them
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < CK_QKK; ++j) {
            const int v = ck_nearest_int(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int g = 0; g < 16; ++g) {
            int sum = 0;
            for (int l = 0; l < 16; ++l) sum += y[i].qs[16 * g + l];
            ck_wr_i16(y[i].bsums + 2 * g, (int16_t)sum);
        }
        ck_wr_f32(y[i].d, 1.0f / iscale);
    }
}

// ---- storage quantisers --------------------------------------------------------------------------
// Q4_0 / Q4_1 / Q5_0 / Q5_1 follow ggml's reference quantisers exactly. The K types use a simpler
// valid scheme (per-sub-block min/max, no iterative search): close to the input, not ggml's bytes.

void ck_scalar_quantize_q4_0(const float *x, void *vy, int64_t n) {
    ck_block_q4_0 *y = vy;
    const int64_t nb = n / CK_QK;
    for (int64_t i = 0; i < nb; ++i, x += CK_QK) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < CK_QK; ++j) {
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
        }
        const float d = max / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        ck_wr_u16(y[i].d, ck_f2h(d));
        for (int j = 0; j < 16; ++j) {
            const int8_t a = (int8_t)(x[j] * id + 8.5f), b = (int8_t)(x[j + 16] * id + 8.5f);
            const uint8_t xi0 = (uint8_t)(a < 15 ? a : 15), xi1 = (uint8_t)(b < 15 ? b : 15);
            y[i].qs[j] = (uint8_t)(xi0 | (xi1 << 4));
        }
    }
}

void ck_scalar_quantize_q4_1(const float *x, void *vy, int64_t n) {
    ck_block_q4_1 *y = vy;
    const int64_t nb = n / CK_QK;
    for (int64_t i = 0; i < nb; ++i, x += CK_QK) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < CK_QK; ++j) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 15;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        ck_wr_u16(y[i].d, ck_f2h(d));
        ck_wr_u16(y[i].m, ck_f2h(min));
        for (int j = 0; j < 16; ++j) {
            const int8_t a = (int8_t)((x[j] - min) * id + 0.5f), b = (int8_t)((x[j + 16] - min) * id + 0.5f);
            const uint8_t xi0 = (uint8_t)(a < 15 ? a : 15), xi1 = (uint8_t)(b < 15 ? b : 15);
            y[i].qs[j] = (uint8_t)(xi0 | (xi1 << 4));
        }
    }
}

void ck_scalar_quantize_q5_0(const float *x, void *vy, int64_t n) {
    ck_block_q5_0 *y = vy;
    const int64_t nb = n / CK_QK;
    for (int64_t i = 0; i < nb; ++i, x += CK_QK) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < CK_QK; ++j) {
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
        }
        const float d = max / -16;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        ck_wr_u16(y[i].d, ck_f2h(d));
        uint32_t qh = 0;
        for (int j = 0; j < 16; ++j) {
            const int8_t a = (int8_t)(x[j] * id + 16.5f), b = (int8_t)(x[j + 16] * id + 16.5f);
            const uint8_t xi0 = (uint8_t)(a < 31 ? a : 31), xi1 = (uint8_t)(b < 31 ? b : 31);
            y[i].qs[j] = (uint8_t)((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
            qh |= ((xi0 & 0x10u) >> 4) << j;
            qh |= ((xi1 & 0x10u) >> 4) << (j + 16);
        }
        ck_wr_u32(y[i].qh, qh);
    }
}

void ck_scalar_quantize_q5_1(const float *x, void *vy, int64_t n) {
    ck_block_q5_1 *y = vy;
    const int64_t nb = n / CK_QK;
    for (int64_t i = 0; i < nb; ++i, x += CK_QK) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < CK_QK; ++j) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 31;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        ck_wr_u16(y[i].d, ck_f2h(d));
        ck_wr_u16(y[i].m, ck_f2h(min));
        uint32_t qh = 0;
        for (int j = 0; j < 16; ++j) {
            const uint8_t xi0 = (uint8_t)((x[j] - min) * id + 0.5f);
            const uint8_t xi1 = (uint8_t)((x[j + 16] - min) * id + 0.5f);
            y[i].qs[j] = (uint8_t)((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
            qh |= ((xi0 & 0x10u) >> 4) << j;
            qh |= ((xi1 & 0x10u) >> 4) << (j + 16);
        }
        ck_wr_u32(y[i].qh, qh);
    }
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Q4_K / Q5_K: x ~ d*sc*q - dmin*m per 32-element sub-block; L gets q in [0, nmax].
static void quantize_k_minmax(const float *x, int nmax, uint8_t dh[2], uint8_t dminh[2],
                              uint8_t scales[12], uint8_t L[CK_QKK]) {
    float scale[8], mins[8], maxscale = 0.0f, maxmin = 0.0f;
    for (int j = 0; j < 8; ++j) {
        const float *xs = x + 32 * j;
        float mn = xs[0], mx = xs[0];
        for (int l = 1; l < 32; ++l) {
            mn = xs[l] < mn ? xs[l] : mn;
            mx = xs[l] > mx ? xs[l] : mx;
        }
        if (mn > 0.0f) mn = 0.0f;   // the offset is subtracted: keep m >= 0
        scale[j] = (mx - mn) / (float)nmax;
        mins[j] = -mn;
        maxscale = scale[j] > maxscale ? scale[j] : maxscale;
        maxmin = mins[j] > maxmin ? mins[j] : maxmin;
    }
    const uint16_t dq16 = ck_f2h(maxscale / 63.0f), mq16 = ck_f2h(maxmin / 63.0f);
    ck_wr_u16(dh, dq16);
    ck_wr_u16(dminh, mq16);
    const float dq = ck_h2f(dq16), mq = ck_h2f(mq16);
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; ++j) {
        ls[j] = (uint8_t)(dq > 0.0f ? clampi(ck_nearest_int(scale[j] / dq), 0, 63) : 0);
        lm[j] = (uint8_t)(mq > 0.0f ? clampi(ck_nearest_int(mins[j] / mq), 0, 63) : 0);
    }
    for (int j = 0; j < 4; ++j) {
        scales[j] = (uint8_t)(ls[j] | ((ls[j + 4] >> 4) << 6));
        scales[j + 4] = (uint8_t)(lm[j] | ((lm[j + 4] >> 4) << 6));
        scales[j + 8] = (uint8_t)((ls[j + 4] & 0x0F) | ((lm[j + 4] & 0x0F) << 4));
    }
    for (int j = 0; j < 8; ++j) {
        const float step = dq * (float)ls[j], off = mq * (float)lm[j];
        for (int l = 0; l < 32; ++l) {
            const float v = x[32 * j + l];
            L[32 * j + l] = (uint8_t)(step > 0.0f ? clampi(ck_nearest_int((v + off) / step), 0, nmax) : 0);
        }
    }
}

void ck_scalar_quantize_q4_K(const float *x, void *vy, int64_t n) {
    ck_block_q4_K *y = vy;
    const int64_t nb = n / CK_QKK;
    uint8_t L[CK_QKK];
    for (int64_t i = 0; i < nb; ++i, x += CK_QKK) {
        quantize_k_minmax(x, 15, y[i].d, y[i].dmin, y[i].scales, L);
        for (int c = 0; c < 4; ++c)
            for (int l = 0; l < 32; ++l)
                y[i].qs[32 * c + l] = (uint8_t)(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
    }
}

void ck_scalar_quantize_q5_K(const float *x, void *vy, int64_t n) {
    ck_block_q5_K *y = vy;
    const int64_t nb = n / CK_QKK;
    uint8_t L[CK_QKK];
    for (int64_t i = 0; i < nb; ++i, x += CK_QKK) {
        quantize_k_minmax(x, 31, y[i].d, y[i].dmin, y[i].scales, L);
        memset(y[i].qh, 0, sizeof(y[i].qh));
        for (int c = 0; c < 4; ++c) {
            for (int l = 0; l < 32; ++l) {
                const uint8_t a = L[64 * c + l], b = L[64 * c + 32 + l];
                y[i].qs[32 * c + l] = (uint8_t)((a & 0x0F) | ((b & 0x0F) << 4));
                y[i].qh[l] |= (uint8_t)(((a >> 4) << (2 * c)) | ((b >> 4) << (2 * c + 1)));
            }
        }
    }
}

void ck_scalar_quantize_q6_K(const float *x, void *vy, int64_t n) {
    ck_block_q6_K *y = vy;
    const int64_t nb = n / CK_QKK;
    for (int64_t i = 0; i < nb; ++i, x += CK_QKK) {
        float scale[16], big = 0.0f, abig = 0.0f;
        for (int j = 0; j < 16; ++j) {
            float amax = 0.0f, max = 0.0f;
            for (int l = 0; l < 16; ++l) {
                const float v = x[16 * j + l];
                if (fabsf(v) > amax) { amax = fabsf(v); max = v; }
            }
            scale[j] = max / -32.0f;   // the largest magnitude maps to q = -32
            if (fabsf(scale[j]) > abig) { abig = fabsf(scale[j]); big = scale[j]; }
        }
        const uint16_t d16 = ck_f2h(big / -128.0f);
        ck_wr_u16(y[i].d, d16);
        const float d = ck_h2f(d16);
        uint8_t L[CK_QKK];
        for (int j = 0; j < 16; ++j) {
            const int sc = d != 0.0f ? clampi(ck_nearest_int(scale[j] / d), -128, 127) : 0;
            y[i].scales[j] = (int8_t)sc;
            const float step = d * (float)sc;
            for (int l = 0; l < 16; ++l) {
                const int q = step != 0.0f ? clampi(ck_nearest_int(x[16 * j + l] / step), -32, 31) : 0;
                L[16 * j + l] = (uint8_t)(q + 32);
            }
        }
        for (int h = 0; h < 2; ++h) {
            const uint8_t *Lh = L + 128 * h;
            uint8_t *ql = y[i].ql + 64 * h, *qh = y[i].qh + 32 * h;
            for (int l = 0; l < 32; ++l) {
                const uint8_t q1 = Lh[l], q2 = Lh[l + 32], q3 = Lh[l + 64], q4 = Lh[l + 96];
                ql[l] = (uint8_t)((q1 & 0x0F) | ((q3 & 0x0F) << 4));
                ql[l + 32] = (uint8_t)((q2 & 0x0F) | ((q4 & 0x0F) << 4));
                qh[l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }
}

int ck_quantize_row_ref(ck_type type, const float *src, void *dst, int64_t n) {
    const ck_type_traits *t = ck_get_type_traits(type);
    if (!t || n < 0 || n % t->block_elements != 0) return -1;
    t->from_float(src, dst, n);
    return 0;
}

// ---- float dot products --------------------------------------------------------------------------

float ck_scalar_dot_f32(int64_t n, const float *x, const float *y) {
    float s[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s[0] += x[i] * y[i];
        s[1] += x[i + 1] * y[i + 1];
        s[2] += x[i + 2] * y[i + 2];
        s[3] += x[i + 3] * y[i + 3];
    }
    for (; i < n; ++i) s[0] += x[i] * y[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

void ck_scalar_axpy_f32(int64_t n, float a, const float *x, float *y) {
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

// ---- row kernels (CKernels.h, "Row kernels") ----------------------------------------------------

float ck_scalar_max_f32(int64_t n, const float *x) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
    return m;
}

float ck_scalar_exp_shift(int64_t n, float *x, float shift) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
        x[i] = x[i] == -INFINITY ? 0.0f : expf(x[i] - shift);
        sum += x[i];
    }
    return sum;
}

void ck_scalar_gelu_tanh(int64_t n, float *x, const float *bias) {
    for (int64_t i = 0; i < n; ++i) {
        const float v = bias ? x[i] + bias[i] : x[i];
        x[i] = v / (1.0f + expf(v * (1.0f + CK_GELU_CUBIC * v * v) * CK_GELU_SCALE));
    }
}

void ck_scalar_layer_norm(int64_t n, const float *x, const float *weight, const float *bias, float eps, float *out) {
    if (n <= 0) return;
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += x[i];
    const float mean = (float)(sum / (double)n);
    double squares = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        const float c = x[i] - mean;
        squares += c * c;
    }
    const float scale = 1.0f / sqrtf((float)(squares / (double)n) + eps);
    for (int64_t i = 0; i < n; ++i) {
        float v = (x[i] - mean) * scale;
        if (weight) v *= weight[i];
        if (bias) v += bias[i];
        out[i] = v;
    }
}

void ck_scalar_add_f32(int64_t n, float *y, const float *x, const float *b) {
    if (b)
        for (int64_t i = 0; i < n; ++i) y[i] += x[i] + b[i];
    else
        for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

float ck_scalar_vec_dot_f32(int64_t n, const void *w, const void *a) {
    // w and a may be misaligned for float: read through memcpy.
    const uint8_t *pw = w, *pa = a;
    float s[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; ++k) s[k] += ck_rd_f32(pw + 4 * (i + k)) * ck_rd_f32(pa + 4 * (i + k));
    for (; i < n; ++i) s[0] += ck_rd_f32(pw + 4 * i) * ck_rd_f32(pa + 4 * i);
    return (s[0] + s[1]) + (s[2] + s[3]);
}

float ck_scalar_vec_dot_f16(int64_t n, const void *w, const void *a) {
    const uint8_t *pw = w, *pa = a;
    float s[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; ++k) s[k] += ck_h2f(ck_rd_u16(pw + 2 * (i + k))) * ck_rd_f32(pa + 4 * (i + k));
    for (; i < n; ++i) s[0] += ck_h2f(ck_rd_u16(pw + 2 * i)) * ck_rd_f32(pa + 4 * i);
    return (s[0] + s[1]) + (s[2] + s[3]);
}

float ck_scalar_vec_dot_bf16(int64_t n, const void *w, const void *a) {
    const uint8_t *pw = w, *pa = a;
    float s[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; ++k) s[k] += ck_bf2f(ck_rd_u16(pw + 2 * (i + k))) * ck_rd_f32(pa + 4 * (i + k));
    for (; i < n; ++i) s[0] += ck_bf2f(ck_rd_u16(pw + 2 * i)) * ck_rd_f32(pa + 4 * i);
    return (s[0] + s[1]) + (s[2] + s[3]);
}

// ---- quantised dot products ----------------------------------------------------------------------

float ck_scalar_vec_dot_q4_0(int64_t n, const void *w, const void *a) {
    const ck_block_q4_0 *x = w;
    const ck_block_q8_0 *y = a;
    const int64_t nb = n / CK_QK;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        int sumi = 0;
        for (int j = 0; j < 16; ++j) {
            sumi += ((x[i].qs[j] & 0x0F) - 8) * y[i].qs[j];
            sumi += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        }
        sumf += (float)sumi * (ck_h2f(ck_rd_u16(x[i].d)) * ck_h2f(ck_rd_u16(y[i].d)));
    }
    return sumf;
}

float ck_scalar_vec_dot_q4_1(int64_t n, const void *w, const void *a) {
    const ck_block_q4_1 *x = w;
    const ck_block_q8_1 *y = a;
    const int64_t nb = n / CK_QK;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        int sumi = 0;
        for (int j = 0; j < 16; ++j) {
            sumi += (x[i].qs[j] & 0x0F) * y[i].qs[j];
            sumi += (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        }
        sumf += (float)sumi * (ck_h2f(ck_rd_u16(x[i].d)) * ck_h2f(ck_rd_u16(y[i].d)))
              + ck_h2f(ck_rd_u16(x[i].m)) * ck_h2f(ck_rd_u16(y[i].s));
    }
    return sumf;
}

float ck_scalar_vec_dot_q5_0(int64_t n, const void *w, const void *a) {
    const ck_block_q5_0 *x = w;
    const ck_block_q8_0 *y = a;
    const int64_t nb = n / CK_QK;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        const uint32_t qh = ck_rd_u32(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < 16; ++j) {
            const int h0 = (int)((qh >> j) & 1u) << 4, h1 = (int)((qh >> (j + 16)) & 1u) << 4;
            sumi += (((x[i].qs[j] & 0x0F) | h0) - 16) * y[i].qs[j];
            sumi += (((x[i].qs[j] >> 4) | h1) - 16) * y[i].qs[j + 16];
        }
        sumf += (float)sumi * (ck_h2f(ck_rd_u16(x[i].d)) * ck_h2f(ck_rd_u16(y[i].d)));
    }
    return sumf;
}

float ck_scalar_vec_dot_q5_1(int64_t n, const void *w, const void *a) {
    const ck_block_q5_1 *x = w;
    const ck_block_q8_1 *y = a;
    const int64_t nb = n / CK_QK;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        const uint32_t qh = ck_rd_u32(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < 16; ++j) {
            const int h0 = (int)((qh >> j) & 1u) << 4, h1 = (int)((qh >> (j + 16)) & 1u) << 4;
            sumi += ((x[i].qs[j] & 0x0F) | h0) * y[i].qs[j];
            sumi += ((x[i].qs[j] >> 4) | h1) * y[i].qs[j + 16];
        }
        sumf += (float)sumi * (ck_h2f(ck_rd_u16(x[i].d)) * ck_h2f(ck_rd_u16(y[i].d)))
              + ck_h2f(ck_rd_u16(x[i].m)) * ck_h2f(ck_rd_u16(y[i].s));
    }
    return sumf;
}

float ck_scalar_vec_dot_q8_0(int64_t n, const void *w, const void *a) {
    const ck_block_q8_0 *x = w;
    const ck_block_q8_0 *y = a;
    const int64_t nb = n / CK_QK;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        int sumi = 0;
        for (int j = 0; j < CK_QK; ++j) sumi += x[i].qs[j] * y[i].qs[j];
        sumf += (float)sumi * (ck_h2f(ck_rd_u16(x[i].d)) * ck_h2f(ck_rd_u16(y[i].d)));
    }
    return sumf;
}

// Weight Q8_1 with activation Q8_1 (not a GGUF weight type in practice; here for completeness).
float ck_scalar_vec_dot_q8_1(int64_t n, const void *w, const void *a) {
    const ck_block_q8_1 *x = w;
    const ck_block_q8_1 *y = a;
    const int64_t nb = n / CK_QK;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        int sumi = 0;
        for (int j = 0; j < CK_QK; ++j) sumi += x[i].qs[j] * y[i].qs[j];
        sumf += (float)sumi * (ck_h2f(ck_rd_u16(x[i].d)) * ck_h2f(ck_rd_u16(y[i].d)));
    }
    return sumf;
}

// Weight Q8_K with activation Q8_K (for completeness).
float ck_scalar_vec_dot_q8_K(int64_t n, const void *w, const void *a) {
    const ck_block_q8_K *x = w;
    const ck_block_q8_K *y = a;
    const int64_t nb = n / CK_QKK;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        int sumi = 0;
        for (int j = 0; j < CK_QKK; ++j) sumi += x[i].qs[j] * y[i].qs[j];
        sumf += (float)sumi * (ck_rd_f32(x[i].d) * ck_rd_f32(y[i].d));
    }
    return sumf;
}

static inline int q8k_bsum(const ck_block_q8_K *y, int g) { return ck_rd_i16(y->bsums + 2 * g); }

float ck_scalar_vec_dot_q4_K(int64_t n, const void *w, const void *a) {
    const ck_block_q4_K *x = w;
    const ck_block_q8_K *y = a;
    const int64_t nb = n / CK_QKK;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        uint8_t sm[16];
        ck_k4_scales_u32(x[i].scales, sm);
        int summ = 0;
        for (int j = 0; j < 8; ++j) summ += sm[8 + j] * (q8k_bsum(&y[i], 2 * j) + q8k_bsum(&y[i], 2 * j + 1));
        int sumi = 0;
        const uint8_t *q = x[i].qs;
        const int8_t *q8 = y[i].qs;
        for (int c = 0; c < 4; ++c, q += 32, q8 += 64) {
            int s0 = 0, s1 = 0;
            for (int l = 0; l < 32; ++l) {
                s0 += (q[l] & 0x0F) * q8[l];
                s1 += (q[l] >> 4) * q8[l + 32];
            }
            sumi += sm[2 * c] * s0 + sm[2 * c + 1] * s1;
        }
        const float yd = ck_rd_f32(y[i].d);
        sumf += (ck_h2f(ck_rd_u16(x[i].d)) * yd) * (float)sumi - (ck_h2f(ck_rd_u16(x[i].dmin)) * yd) * (float)summ;
    }
    return sumf;
}

float ck_scalar_vec_dot_q5_K(int64_t n, const void *w, const void *a) {
    const ck_block_q5_K *x = w;
    const ck_block_q8_K *y = a;
    const int64_t nb = n / CK_QKK;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        uint8_t sm[16];
        ck_k4_scales_u32(x[i].scales, sm);
        int summ = 0;
        for (int j = 0; j < 8; ++j) summ += sm[8 + j] * (q8k_bsum(&y[i], 2 * j) + q8k_bsum(&y[i], 2 * j + 1));
        int sumi = 0;
        const uint8_t *q = x[i].qs, *qh = x[i].qh;
        const int8_t *q8 = y[i].qs;
        for (int c = 0; c < 4; ++c, q += 32, q8 += 64) {
            int s0 = 0, s1 = 0;
            for (int l = 0; l < 32; ++l) {
                s0 += ((q[l] & 0x0F) | (((qh[l] >> (2 * c)) & 1) << 4)) * q8[l];
                s1 += ((q[l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4)) * q8[l + 32];
            }
            sumi += sm[2 * c] * s0 + sm[2 * c + 1] * s1;
        }
        const float yd = ck_rd_f32(y[i].d);
        sumf += (ck_h2f(ck_rd_u16(x[i].d)) * yd) * (float)sumi - (ck_h2f(ck_rd_u16(x[i].dmin)) * yd) * (float)summ;
    }
    return sumf;
}

float ck_scalar_vec_dot_q6_K(int64_t n, const void *w, const void *a) {
    const ck_block_q6_K *x = w;
    const ck_block_q8_K *y = a;
    const int64_t nb = n / CK_QKK;
    float sumf = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales, *q8 = y[i].qs;
        int sumi = 0;
        for (int h = 0; h < 2; ++h, ql += 64, qh += 32, sc += 8, q8 += 128) {
            int s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                s[is] += q1 * q8[l];
                s[is + 2] += q2 * q8[l + 32];
                s[is + 4] += q3 * q8[l + 64];
                s[is + 6] += q4 * q8[l + 96];
            }
            for (int j = 0; j < 8; ++j) sumi += sc[j] * s[j];
        }
        sumf += (ck_h2f(ck_rd_u16(x[i].d)) * ck_rd_f32(y[i].d)) * (float)sumi;
    }
    return sumf;
}

// ---- KV cache rows (reference) -------------------------------------------------------------------

float ck_scalar_row_dot_q8_0(int64_t n, const void *row, const void *x) {
    const ck_block_q8_0 *b = row;
    const uint8_t *px = x;
    const int64_t nb = n / CK_QK;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; ++i) {
        float s[4] = {0, 0, 0, 0};
        for (int j = 0; j < CK_QK; ++j) s[j & 3] += (float)b[i].qs[j] * ck_rd_f32(px + 4 * (i * CK_QK + j));
        sum += ck_h2f(ck_rd_u16(b[i].d)) * ((s[0] + s[1]) + (s[2] + s[3]));
    }
    return sum;
}

void ck_scalar_row_axpy_f32(int64_t n, float a, const void *row, float *y) {
    const uint8_t *p = row;
    for (int64_t i = 0; i < n; ++i) y[i] += a * ck_rd_f32(p + 4 * i);
}

void ck_scalar_row_axpy_f16(int64_t n, float a, const void *row, float *y) {
    const uint8_t *p = row;
    for (int64_t i = 0; i < n; ++i) y[i] += a * ck_h2f(ck_rd_u16(p + 2 * i));
}

void ck_scalar_row_axpy_q8_0(int64_t n, float a, const void *row, float *y) {
    const ck_block_q8_0 *b = row;
    const int64_t nb = n / CK_QK;
    for (int64_t i = 0; i < nb; ++i) {
        const float ad = a * ck_h2f(ck_rd_u16(b[i].d));
        for (int j = 0; j < CK_QK; ++j) y[i * CK_QK + j] += ad * (float)b[i].qs[j];
    }
}

CK_DEFINE_ROWS_LOOPS(ck_scalar_f32, ck_scalar_vec_dot_f32, ck_scalar_row_axpy_f32)
CK_DEFINE_ROWS_LOOPS(ck_scalar_f16, ck_scalar_vec_dot_f16, ck_scalar_row_axpy_f16)
CK_DEFINE_ROWS_LOOPS(ck_scalar_q8_0, ck_scalar_row_dot_q8_0, ck_scalar_row_axpy_q8_0)

void ck_scalar_round_f16(float *x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) x[i] = ck_h2f(ck_f2h(x[i]));
}

// ---- type traits: one row per type -------------------------------------------------------------
//
// Everything the kernels know about a type, in one place: its name, block geometry, the activation
// format its dot product consumes, and the scalar reference of each kernel. A kernel set lists only
// the kernels it improves; `ck_kernel_set_complete` fills the rest from here. Adding a type is one
// row (plus its block struct and scalar kernels), and its SIMD kernels where they exist.

#define CK_KV_ROWS(t, dot)                                                                           \
    .row_dot = dot, .row_axpy = ck_scalar_row_axpy_##t, .rows_dot = ck_scalar_##t##_rows_dot,        \
    .rows_mix = ck_scalar_##t##_rows_mix

#define CK_TRAITS(T, t, blk, bytes, act)                                                            \
    [CK_##T] = {.name = #t, .block_elements = (blk), .block_bytes = (bytes), .activation = CK_##act,  \
                .to_float = to_float_##t, .from_float = ck_scalar_quantize_##t, .vec_dot = ck_scalar_vec_dot_##t}

static const ck_type_traits type_traits[CK_TYPE_COUNT] = {
    [CK_F32] = {.name = "f32", .block_elements = 1, .block_bytes = 4, .activation = CK_F32, .to_float = dequant_f32,
                .from_float = ck_scalar_quantize_f32, .vec_dot = ck_scalar_vec_dot_f32,
                CK_KV_ROWS(f32, ck_scalar_vec_dot_f32), .fgemm = ck_scalar_fgemm_f32},
    [CK_F16] = {.name = "f16", .block_elements = 1, .block_bytes = 2, .activation = CK_F32, .to_float = dequant_f16,
                .from_float = ck_scalar_quantize_f16, .vec_dot = ck_scalar_vec_dot_f16,
                CK_KV_ROWS(f16, ck_scalar_vec_dot_f16), .fgemm = ck_scalar_fgemm_f16},
    [CK_BF16] = {.name = "bf16", .block_elements = 1, .block_bytes = 2, .activation = CK_F32, .to_float = dequant_bf16,
                 .from_float = ck_scalar_quantize_bf16, .vec_dot = ck_scalar_vec_dot_bf16},
    CK_TRAITS(Q4_0, q4_0, CK_QK, sizeof(ck_block_q4_0), Q8_0),
    CK_TRAITS(Q4_1, q4_1, CK_QK, sizeof(ck_block_q4_1), Q8_1),
    CK_TRAITS(Q5_0, q5_0, CK_QK, sizeof(ck_block_q5_0), Q8_0),
    CK_TRAITS(Q5_1, q5_1, CK_QK, sizeof(ck_block_q5_1), Q8_1),
    [CK_Q8_0] = {.name = "q8_0", .block_elements = CK_QK, .block_bytes = sizeof(ck_block_q8_0), .activation = CK_Q8_0,
                 .to_float = to_float_q8_0, .from_float = ck_scalar_quantize_q8_0, .vec_dot = ck_scalar_vec_dot_q8_0,
                 CK_KV_ROWS(q8_0, ck_scalar_row_dot_q8_0)},
    CK_TRAITS(Q8_1, q8_1, CK_QK, sizeof(ck_block_q8_1), Q8_1),
    CK_TRAITS(Q4_K, q4_K, CK_QKK, sizeof(ck_block_q4_K), Q8_K),
    CK_TRAITS(Q5_K, q5_K, CK_QKK, sizeof(ck_block_q5_K), Q8_K),
    CK_TRAITS(Q6_K, q6_K, CK_QKK, sizeof(ck_block_q6_K), Q8_K),
    CK_TRAITS(Q8_K, q8_K, CK_QKK, sizeof(ck_block_q8_K), Q8_K),
};

const ck_type_traits *ck_get_type_traits(ck_type type) {
    if ((unsigned)type >= CK_TYPE_COUNT || type_traits[type].block_elements == 0) return NULL;
    return &type_traits[type];
}

// ---- the scalar set: the traits' kernels and the scalar float helpers ------------------------------

ck_kernel_set ck_scalar_set = {
    .name = "scalar",
    .dot_f32 = ck_scalar_dot_f32,
    .axpy_f32 = ck_scalar_axpy_f32,
    .round_f16 = ck_scalar_round_f16,
    .fgemm_kn = ck_scalar_fgemm_kn,
    CK_ROW_KERNEL_ENTRIES(ck_scalar),
};
