// The repacked weight layouts (see CKRepack.h): geometry, the repacking itself and the scalar
// reference of their kernels. The SIMD kernels are in x86_avx2_repack.c and arm_neon_repack.c; which
// ones a kernel set uses is decided in dispatch.c (ck_rp_select).
#include "ck_internal.h"
#include "ck_repack_internal.h"

#include <math.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

int64_t ck_rp_group_bytes(ck_type type, int64_t n) {
    if (n <= 0 || n > CK_RP_MAX_COLUMNS) return 0;
    if (type == CK_Q4_0 && n % CK_QK == 0) return n / CK_QK * CK_RP_Q4_0_BLOCK_BYTES;
    if (type == CK_Q4_K && n % CK_QKK == 0) return n / CK_QKK * CK_RP_Q4_K_BLOCK_BYTES;
    return 0;
}

int64_t ck_rp_bytes(ck_type type, int64_t rows, int64_t n) {
    const int64_t g = ck_rp_group_bytes(type, n);
    if (g == 0 || rows <= 0) return 0;
    return (rows + 7) / 8 * g;   // both layouts group 8 rows
}

static void repack_q4_K(const uint8_t *s, size_t row_bytes, int64_t rows, int64_t n, int64_t g0, int64_t g1, uint8_t *d) {
    const int64_t nb = n / CK_QKK, gb = nb * CK_RP_Q4_K_BLOCK_BYTES;
    for (int64_t g = g0; g < g1; ++g) {
        uint8_t *out = d + g * gb;
        for (int64_t b = 0; b < nb; ++b, out += CK_RP_Q4_K_BLOCK_BYTES) {
            memset(out, 0, CK_RP_Q4_K_BLOCK_BYTES);   // padding rows stay all zero (d = dmin = 0)
            for (int r = 0; r < CK_RP_Q4_K_ROWS && g * CK_RP_Q4_K_ROWS + r < rows; ++r) {
                const int64_t row = g * CK_RP_Q4_K_ROWS + r;
                const ck_block_q4_K *blk = (const ck_block_q4_K *)(const void *)(s + (size_t)row * row_bytes) + b;
                memcpy(out + 2 * r, blk->d, 2);
                memcpy(out + 16 + 2 * r, blk->dmin, 2);
                uint8_t sc[8], mn[8];
                ck_k4_scales(blk->scales, sc, mn);
                for (int sb = 0; sb < 8; ++sb) {
                    out[32 + 8 * sb + r] = sc[sb];
                    out[96 + 8 * sb + r] = mn[sb];
                }
                for (int c = 0; c < 4; ++c)
                    for (int k = 0; k < 8; ++k) memcpy(out + 160 + 256 * c + 32 * k + 4 * r, blk->qs + 32 * c + 4 * k, 4);
            }
        }
    }
}

int ck_rp_repack(ck_type type, const void *src, size_t row_bytes, int64_t rows, int64_t n, int64_t g0, int64_t g1,
                 void *dst) {
    const int64_t gb = ck_rp_group_bytes(type, n);
    if (gb == 0) return -1;
    if (type == CK_Q4_K) {
        repack_q4_K(src, row_bytes, rows, n, g0, g1, dst);
        return 0;
    }
    const int64_t nb = n / CK_QK;
    const uint8_t *s = src;
    uint8_t *d = dst;
    for (int64_t g = g0; g < g1; ++g) {
        uint8_t *out = d + g * gb;
        for (int64_t b = 0; b < nb; ++b, out += CK_RP_Q4_0_BLOCK_BYTES) {
            for (int r = 0; r < CK_RP_Q4_0_ROWS; ++r) {
                const int64_t row = g * CK_RP_Q4_0_ROWS + r;
                if (row >= rows) {
                    // Padding rows: scale 0 and quants q = 8 (the stored nibbles are 0).
                    ck_wr_u16(out + 2 * r, 0);
                    for (int k = 0; k < 4; ++k) memset(out + 16 + 32 * k + 4 * r, 0, 4);
                    continue;
                }
                const ck_block_q4_0 *blk = (const ck_block_q4_0 *)(const void *)(s + (size_t)row * row_bytes) + b;
                memcpy(out + 2 * r, blk->d, 2);
                for (int k = 0; k < 4; ++k)
                    for (int j = 0; j < 4; ++j) out[16 + 32 * k + 4 * r + j] = blk->qs[4 * k + j] ^ 0x88;
            }
        }
    }
    return 0;
}

// Signed nibble (two's complement, 4 bits) to int.
static inline int s4(unsigned v) { return (int)((v & 0x0Fu) ^ 8u) - 8; }

void ck_rp_ref_gemm_q4_0(int64_t n, const void *w, int64_t rows, const void *a, size_t a_stride, int64_t ntok,
                         float *out, int64_t out_stride) {
    const int64_t nb = n / CK_QK, gb = nb * CK_RP_Q4_0_BLOCK_BYTES;
    const uint8_t *wb = w, *ab = a;
    for (int64_t t = 0; t < ntok; ++t) {
        const ck_block_q8_0 *y = (const ck_block_q8_0 *)(const void *)(ab + (size_t)t * a_stride);
        for (int64_t r = 0; r < rows; ++r) {
            const uint8_t *g = wb + (r / CK_RP_Q4_0_ROWS) * gb;
            const int rr = (int)(r % CK_RP_Q4_0_ROWS);
            float f = 0.0f;
            for (int64_t c0 = 0; c0 < nb; c0 += CK_CHAIN_BLOCKS) {   // the float order of ck_internal.h
                const int64_t c1 = c0 + CK_CHAIN_BLOCKS < nb ? c0 + CK_CHAIN_BLOCKS : nb;
                float ch[2] = {0.0f, 0.0f};
                for (int64_t i = c0; i < c1; ++i) {
                    const uint8_t *blk = g + i * CK_RP_Q4_0_BLOCK_BYTES;
                    int sumi = 0;
                    for (int k = 0; k < 4; ++k)
                        for (int j = 0; j < 4; ++j) {
                            const unsigned v = blk[16 + 32 * k + 4 * rr + j];
                            sumi += s4(v) * y[i].qs[4 * k + j] + s4(v >> 4) * y[i].qs[16 + 4 * k + j];
                        }
                    const float d = ck_h2f(ck_rd_u16(blk + 2 * rr)) * ck_h2f(ck_rd_u16(y[i].d));
                    ch[(i - c0) & 1] = fmaf((float)sumi, d, ch[(i - c0) & 1]);
                }
                f += ch[0] + ch[1];
            }
            out[t * out_stride + r] = f;
        }
    }
}

void ck_rp_ref_gemm_q4_K(int64_t n, const void *w, int64_t rows, const void *a, size_t a_stride, int64_t ntok,
                         float *out, int64_t out_stride) {
    const int64_t nb = n / CK_QKK, gb = nb * CK_RP_Q4_K_BLOCK_BYTES;
    const uint8_t *wb = w, *ab = a;
    for (int64_t t = 0; t < ntok; ++t) {
        const ck_block_q8_K *y = (const ck_block_q8_K *)(const void *)(ab + (size_t)t * a_stride);
        for (int64_t r = 0; r < rows; ++r) {
            const uint8_t *g = wb + (r / CK_RP_Q4_K_ROWS) * gb;
            const int rr = (int)(r % CK_RP_Q4_K_ROWS);
            float f = 0.0f;
            for (int64_t i = 0; i < nb; ++i) {
                const uint8_t *blk = g + i * CK_RP_Q4_K_BLOCK_BYTES;
                int si = 0, smin = 0;
                for (int c = 0; c < 4; ++c) {
                    int lo = 0, hi = 0;
                    for (int k = 0; k < 8; ++k)
                        for (int j = 0; j < 4; ++j) {
                            const unsigned v = blk[160 + 256 * c + 32 * k + 4 * rr + j];
                            lo += (int)(v & 0x0Fu) * y[i].qs[64 * c + 4 * k + j];
                            hi += (int)(v >> 4) * y[i].qs[64 * c + 32 + 4 * k + j];
                        }
                    si += lo * blk[32 + 8 * (2 * c) + rr] + hi * blk[32 + 8 * (2 * c + 1) + rr];
                }
                for (int sb = 0; sb < 8; ++sb)
                    smin += blk[96 + 8 * sb + rr] * (ck_rd_i16(y[i].bsums + 4 * sb) + ck_rd_i16(y[i].bsums + 4 * sb + 2));
                const float yd = ck_rd_f32(y[i].d);
                f = fmaf((float)si, ck_h2f(ck_rd_u16(blk + 2 * rr)) * yd, f);
                f = fmaf(-(float)smin, ck_h2f(ck_rd_u16(blk + 16 + 2 * rr)) * yd, f);
            }
            out[t * out_stride + r] = f;
        }
    }
}
