// Internal to CKernels: block layouts, unaligned loads/stores, scalar f16/bf16 helpers and the
// prototypes of every per-architecture kernel (so dispatch.c can build the sets).
//
// Block structs hold only byte arrays: their alignment is 1, so any byte address is a valid block
// address (GGUF tensors and test buffers need not be aligned). Multi-byte fields are read and
// written with memcpy, which compiles to plain unaligned loads/stores. Little-endian only, as GGUF.
#ifndef CK_INTERNAL_H
#define CK_INTERNAL_H

#include "CKernels.h"

#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "CKernels assumes a little-endian target (as GGUF does)"
#endif

#define CK_QK 32     // elements per block of the 32-element types
#define CK_QKK 256   // elements per K-quant super-block

// ---- block layouts (as ggml-common.h / gguf quants.py) -------------------------------------------

typedef struct { uint8_t d[2]; uint8_t qs[16]; } ck_block_q4_0;                            // 18 B
typedef struct { uint8_t d[2]; uint8_t m[2]; uint8_t qs[16]; } ck_block_q4_1;              // 20 B
typedef struct { uint8_t d[2]; uint8_t qh[4]; uint8_t qs[16]; } ck_block_q5_0;             // 22 B
typedef struct { uint8_t d[2]; uint8_t m[2]; uint8_t qh[4]; uint8_t qs[16]; } ck_block_q5_1; // 24 B
typedef struct { uint8_t d[2]; int8_t qs[32]; } ck_block_q8_0;                             // 34 B
typedef struct { uint8_t d[2]; uint8_t s[2]; int8_t qs[32]; } ck_block_q8_1;               // 36 B: s = d * sum(qs)
typedef struct {
    uint8_t d[2];          // f16 super-block scale of the 6-bit scales
    uint8_t dmin[2];       // f16 super-block scale of the 6-bit mins
    uint8_t scales[12];    // 8 scales + 8 mins, 6 bits each (see ck_k4_scales)
    uint8_t qs[128];       // 4-bit quants: 64-element chunk c uses qs[32c..32c+31], low nibble first
} ck_block_q4_K;                                                                            // 144 B
typedef struct {
    uint8_t d[2];
    uint8_t dmin[2];
    uint8_t scales[12];
    uint8_t qh[32];        // 5th bit: element 32k+l has bit k of qh[l]
    uint8_t qs[128];
} ck_block_q5_K;                                                                            // 176 B
typedef struct {
    uint8_t ql[128];       // low 4 bits
    uint8_t qh[64];        // high 2 bits
    int8_t scales[16];     // one signed 8-bit scale per 16 elements
    uint8_t d[2];          // f16 super-block scale
} ck_block_q6_K;                                                                            // 210 B
typedef struct {
    uint8_t d[4];          // f32 scale
    int8_t qs[256];
    uint8_t bsums[32];     // 16 x int16: sum of qs in each group of 16
} ck_block_q8_K;                                                                            // 292 B

_Static_assert(sizeof(ck_block_q4_0) == 18, "q4_0");
_Static_assert(sizeof(ck_block_q4_1) == 20, "q4_1");
_Static_assert(sizeof(ck_block_q5_0) == 22, "q5_0");
_Static_assert(sizeof(ck_block_q5_1) == 24, "q5_1");
_Static_assert(sizeof(ck_block_q8_0) == 34, "q8_0");
_Static_assert(sizeof(ck_block_q8_1) == 36, "q8_1");
_Static_assert(sizeof(ck_block_q4_K) == 144, "q4_K");
_Static_assert(sizeof(ck_block_q5_K) == 176, "q5_K");
_Static_assert(sizeof(ck_block_q6_K) == 210, "q6_K");
_Static_assert(sizeof(ck_block_q8_K) == 292, "q8_K");

// ---- unaligned little-endian field access ------------------------------------------------------

static inline uint16_t ck_rd_u16(const void *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline int16_t ck_rd_i16(const void *p) { int16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t ck_rd_u32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline float ck_rd_f32(const void *p) { float v; memcpy(&v, p, 4); return v; }
static inline void ck_wr_u16(void *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void ck_wr_i16(void *p, int16_t v) { memcpy(p, &v, 2); }
static inline void ck_wr_u32(void *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void ck_wr_f32(void *p, float v) { memcpy(p, &v, 4); }

static inline uint32_t ck_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float ck_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

// ---- f16 / bf16 (scalar; bit-exact with F16C / AArch64 FCVT in round-to-nearest-even) -----------

// f16 -> f32: exact. NaNs keep their payload and come out quiet (as VCVTPH2PS / FCVT do).
static inline float ck_h2f(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1Fu;
    const uint32_t man = h & 0x3FFu;
    if (exp == 0) {
        // zero or subnormal: man * 2^-24, exact in f32
        const float mag = (float)man * 0x1p-24f;
        return ck_bits_f32(sign | ck_f32_bits(mag));
    }
    if (exp == 31) {
        return ck_bits_f32(sign | 0x7F800000u | (man << 13) | (man ? 0x00400000u : 0u));
    }
    return ck_bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

// f32 -> f16, round to nearest even; overflow -> inf; NaN -> quiet NaN with the payload's top bits
// (what VCVTPS2PH and FCVT produce).
static inline uint16_t ck_f2h(float f) {
    const uint32_t x = ck_f32_bits(f);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    const uint32_t ax = x & 0x7FFFFFFFu;
    if (ax > 0x7F800000u) return (uint16_t)(sign | 0x7E00u | ((ax >> 13) & 0x3FFu));
    if (ax >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u);   // >= 65520 rounds to inf
    if (ax < 0x38800000u) {                                      // < 2^-14: f16 subnormal or zero
        // |f| * 2^24 is exact; (v + 2^23) - 2^23 rounds it to the nearest even integer.
        const float v = ck_bits_f32(ax) * 0x1p24f;
        const float r = (v + 0x1p23f) - 0x1p23f;
        return (uint16_t)(sign | (uint16_t)r);                   // r == 1024 encodes 2^-14 correctly
    }
    const uint32_t odd = (ax >> 13) & 1u;
    const uint32_t r = (ax + 0xFFFu + odd) >> 13;
    return (uint16_t)(sign | (uint16_t)(r - (112u << 10)));
}

static inline float ck_bf2f(uint16_t h) { return ck_bits_f32((uint32_t)h << 16); }

// f32 -> bf16 as ggml: round to nearest even, NaN forced quiet.
static inline uint16_t ck_f2bf(float f) {
    const uint32_t u = ck_f32_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 64u);
    return (uint16_t)((u + (0x7FFFu + ((u >> 16) & 1u))) >> 16);
}

// ggml's nearest_int: round to nearest even through the f32 adder (|f| <= 4194303).
static inline int ck_nearest_int(float f) {
    const float v = f + 12582912.f;
    int i;
    memcpy(&i, &v, 4);
    return (i & 0x007FFFFF) - 0x00400000;
}

// Q4_K / Q5_K: unpack the 12 scale bytes into 8 six-bit scales and 8 six-bit mins.
static inline void ck_k4_scales(const uint8_t *q, uint8_t sc[8], uint8_t m[8]) {
    for (int j = 0; j < 4; ++j) {
        sc[j] = q[j] & 63;
        m[j] = q[j + 4] & 63;
        sc[j + 4] = (uint8_t)((q[j + 8] & 0x0F) | ((q[j] >> 6) << 4));
        m[j + 4] = (uint8_t)((q[j + 8] >> 4) | ((q[j + 4] >> 6) << 4));
    }
}

// Same unpacking on 32-bit words: returns scales in out[0..7] and mins in out[8..15].
static inline void ck_k4_scales_u32(const uint8_t *q, uint8_t out[16]) {
    uint32_t u0 = ck_rd_u32(q), u1 = ck_rd_u32(q + 4), u2 = ck_rd_u32(q + 8);
    uint32_t w[4];
    w[0] = u0 & 0x3F3F3F3Fu;                                                 // sc0..3
    w[1] = (u2 & 0x0F0F0F0Fu) | (((u0 >> 6) & 0x03030303u) << 4);          // sc4..7
    w[2] = u1 & 0x3F3F3F3Fu;                                                 // m0..3
    w[3] = ((u2 >> 4) & 0x0F0F0F0Fu) | (((u1 >> 6) & 0x03030303u) << 4);   // m4..7
    memcpy(out, w, 16);
}

// ---- gemm microkernels: the shared driver (dispatch.c) --------------------------------------------
//
// A microkernel is three pieces chosen per instruction set and weight type:
//   pack     unpacks `nblk` weight blocks (from block b0) of `nr` <= mr rows into a panel laid out
//            for the compute step (rows past nr are zero);
//   aux      optional: per-token, per-block data of the activations (e.g. the integer sum of a
//            block's quants) for `ntok` tokens and the same blocks, computed once per token tile;
//   compute  multiplies the panel with `ntok` activation rows and writes (acc == 0) or adds
//            (acc != 0) out[t * out_stride + r] for r < nr.
// ck_gemm_drive walks the K dimension in chunks whose panel fits CK_GEMM_PANEL_BYTES (or of
// kc_blocks blocks), tokens in tiles whose aux fits CK_GEMM_AUX_BYTES, and rows in panels of mr;
// both buffers live on its stack.
#define CK_GEMM_PANEL_BYTES (32 << 10)
#define CK_GEMM_AUX_BYTES (64 << 10)

// Float order shared by vec_dot, gemm and gemv of one set, so that they agree bit for bit (a
// prefill of n tokens then gives exactly what n decode steps give). Every block's integer sum is
// formed exactly, converted to float and multiplied-added with its scale product d_w * d_a:
//   q4_0, q5_0, q8_0: blocks go in chunks of CK_CHAIN_BLOCKS; inside a chunk, even blocks (counted
//     from the chunk start) go to chain 0 and odd ones to chain 1, each c = fma(s, d, c) from +0;
//     a chunk's value is c0 + c1 and the result is the in-order sum of the chunk values, from +0.
//     (Two chains halve the latency of a row's dot product; the chunks bound what a gemm carries
//     between K chunks to one float per output.)
//   q4_K, q5_K, q6_K: one chain over the super-blocks, f = fma(sumi, d * d_a, f), and for q4_K /
//     q5_K then f = fma(-summ, dmin * d_a, f).
#define CK_CHAIN_BLOCKS 32

typedef struct {
    int mr;                  // rows per panel
    int blk;                 // elements per weight block (32 or 256)
    int panel_block_bytes;   // panel bytes per weight block (all mr rows)
    int aux_block_bytes;     // aux bytes per token and block; 0 = no aux
    void (*pack)(const uint8_t *w, size_t row_bytes, int nr, int64_t b0, int nblk, uint8_t *panel);
    void (*aux)(const uint8_t *a, size_t a_stride, int ntok, int64_t b0, int nblk, uint8_t *aux);
    void (*compute)(const uint8_t *panel, int nr, const uint8_t *a, size_t a_stride, const uint8_t *aux, int ntok,
                    int64_t b0, int nblk, float *out, int64_t out_stride, int acc);
    int kc_blocks;           // K chunks of exactly this many blocks (CK_CHAIN_BLOCKS), 0: any size
} ck_gemm_ops;

void ck_gemm_drive(const ck_gemm_ops *ops, int64_t n, const void *w, size_t row_bytes, int64_t rows, const void *a,
                   size_t a_stride, int64_t ntok, float *out, int64_t out_stride);

// Zero bytes standing in for the rows past the end of a partial panel (any block fits).
extern const uint8_t ck_zero_block[512];

#define CK_DECLARE_GEMM(prefix)                                                                   \
    void prefix##_gemm_q4_0(int64_t n, const void *w, size_t row_bytes, int64_t rows, const void *a, size_t a_stride, \
                            int64_t ntok, float *out, int64_t out_stride);                        \
    void prefix##_gemm_q5_0(int64_t n, const void *w, size_t row_bytes, int64_t rows, const void *a, size_t a_stride, \
                            int64_t ntok, float *out, int64_t out_stride);                        \
    void prefix##_gemm_q8_0(int64_t n, const void *w, size_t row_bytes, int64_t rows, const void *a, size_t a_stride, \
                            int64_t ntok, float *out, int64_t out_stride);                        \
    void prefix##_gemm_q4_K(int64_t n, const void *w, size_t row_bytes, int64_t rows, const void *a, size_t a_stride, \
                            int64_t ntok, float *out, int64_t out_stride);                        \
    void prefix##_gemm_q5_K(int64_t n, const void *w, size_t row_bytes, int64_t rows, const void *a, size_t a_stride, \
                            int64_t ntok, float *out, int64_t out_stride);                        \
    void prefix##_gemm_q6_K(int64_t n, const void *w, size_t row_bytes, int64_t rows, const void *a, size_t a_stride, \
                            int64_t ntok, float *out, int64_t out_stride);

// ---- kernel prototypes --------------------------------------------------------------------------

#define CK_DECLARE_SET(prefix)                                                                    \
    float prefix##_vec_dot_f32(int64_t n, const void *w, const void *a);                          \
    float prefix##_vec_dot_f16(int64_t n, const void *w, const void *a);                          \
    float prefix##_vec_dot_bf16(int64_t n, const void *w, const void *a);                         \
    float prefix##_vec_dot_q4_0(int64_t n, const void *w, const void *a);                         \
    float prefix##_vec_dot_q4_1(int64_t n, const void *w, const void *a);                         \
    float prefix##_vec_dot_q5_0(int64_t n, const void *w, const void *a);                         \
    float prefix##_vec_dot_q5_1(int64_t n, const void *w, const void *a);                         \
    float prefix##_vec_dot_q8_0(int64_t n, const void *w, const void *a);                         \
    float prefix##_vec_dot_q4_K(int64_t n, const void *w, const void *a);                         \
    float prefix##_vec_dot_q5_K(int64_t n, const void *w, const void *a);                         \
    float prefix##_vec_dot_q6_K(int64_t n, const void *w, const void *a);

// scalar.c: everything
CK_DECLARE_SET(ck_scalar)
float ck_scalar_vec_dot_q8_1(int64_t n, const void *w, const void *a);
float ck_scalar_vec_dot_q8_K(int64_t n, const void *w, const void *a);
void ck_scalar_quantize_f32(const float *x, void *y, int64_t n);
void ck_scalar_quantize_f16(const float *x, void *y, int64_t n);
void ck_scalar_quantize_bf16(const float *x, void *y, int64_t n);
void ck_scalar_quantize_q8_0(const float *x, void *y, int64_t n);
void ck_scalar_quantize_q8_1(const float *x, void *y, int64_t n);
void ck_scalar_quantize_q8_K(const float *x, void *y, int64_t n);
void ck_scalar_quantize_q4_0(const float *x, void *y, int64_t n);
void ck_scalar_quantize_q4_1(const float *x, void *y, int64_t n);
void ck_scalar_quantize_q5_0(const float *x, void *y, int64_t n);
void ck_scalar_quantize_q5_1(const float *x, void *y, int64_t n);
void ck_scalar_quantize_q4_K(const float *x, void *y, int64_t n);
void ck_scalar_quantize_q5_K(const float *x, void *y, int64_t n);
void ck_scalar_quantize_q6_K(const float *x, void *y, int64_t n);
float ck_scalar_dot_f32(int64_t n, const float *x, const float *y);
void ck_scalar_axpy_f32(int64_t n, float a, const float *x, float *y);

#if defined(__x86_64__)
// x86_avx2.c
CK_DECLARE_SET(ck_avx2)
void ck_avx2_quantize_f16(const float *x, void *y, int64_t n);
void ck_avx2_quantize_bf16(const float *x, void *y, int64_t n);
void ck_avx2_quantize_q8_0(const float *x, void *y, int64_t n);
void ck_avx2_quantize_q8_1(const float *x, void *y, int64_t n);
void ck_avx2_quantize_q8_K(const float *x, void *y, int64_t n);
float ck_avx2_dot_f32(int64_t n, const float *x, const float *y);
void ck_avx2_axpy_f32(int64_t n, float a, const float *x, float *y);
// x86_avx2_gemm.c: gemm microkernels on AVX2 (8 rows per panel), and the aux step of the 32-element
// types that both x86 sets use: per token and block {f32 d_a, i32 -offset * sum of the quants}
CK_DECLARE_GEMM(ck_avx2)
void ck_avx2_gemm_aux_off8(const uint8_t *a, size_t a_stride, int ntok, int64_t b0, int nblk, uint8_t *aux);
void ck_avx2_gemm_aux_off16(const uint8_t *a, size_t a_stride, int ntok, int64_t b0, int nblk, uint8_t *aux);
void ck_avx2_gemm_aux_off128(const uint8_t *a, size_t a_stride, int ntok, int64_t b0, int nblk, uint8_t *aux);
// x86_avx512.c: gemm microkernels on AVX-512 VNNI (16 rows per panel); the rest of the
// avx512vnni set comes from x86_avx2.c
CK_DECLARE_GEMM(ck_avx512)
#endif

#if defined(__aarch64__)
// arm_neon.c
CK_DECLARE_SET(ck_neon)
void ck_neon_quantize_f16(const float *x, void *y, int64_t n);
void ck_neon_quantize_bf16(const float *x, void *y, int64_t n);
void ck_neon_quantize_q8_0(const float *x, void *y, int64_t n);
void ck_neon_quantize_q8_1(const float *x, void *y, int64_t n);
void ck_neon_quantize_q8_K(const float *x, void *y, int64_t n);
float ck_neon_dot_f32(int64_t n, const float *x, const float *y);
void ck_neon_axpy_f32(int64_t n, float a, const float *x, float *y);
// arm_dotprod.c: the integer dot products only (floats and quantisers come from arm_neon.c)
float ck_dotprod_vec_dot_q4_0(int64_t n, const void *w, const void *a);
float ck_dotprod_vec_dot_q4_1(int64_t n, const void *w, const void *a);
float ck_dotprod_vec_dot_q5_0(int64_t n, const void *w, const void *a);
float ck_dotprod_vec_dot_q5_1(int64_t n, const void *w, const void *a);
float ck_dotprod_vec_dot_q8_0(int64_t n, const void *w, const void *a);
float ck_dotprod_vec_dot_q4_K(int64_t n, const void *w, const void *a);
float ck_dotprod_vec_dot_q5_K(int64_t n, const void *w, const void *a);
float ck_dotprod_vec_dot_q6_K(int64_t n, const void *w, const void *a);
// arm_neon_gemm.c / arm_dotprod_gemm.c: gemm microkernels
CK_DECLARE_GEMM(ck_neon)
CK_DECLARE_GEMM(ck_dotprod)
#endif

// ---- KV cache rows (CKernels.h, "KV cache rows"): row_dot of Q8_0 and row_axpy of every row type --
float ck_scalar_row_dot_q8_0(int64_t n, const void *row, const void *x);
void ck_scalar_row_axpy_f32(int64_t n, float a, const void *row, float *y);
void ck_scalar_row_axpy_f16(int64_t n, float a, const void *row, float *y);
void ck_scalar_row_axpy_q8_0(int64_t n, float a, const void *row, float *y);

// rows_dot / rows_mix (CKernels.h) of one set and row type as plain loops over its row_dot and
// row_axpy: the scalar reference of every type, and the Q8_0 entries of the SIMD sets.
#define CK_DEFINE_ROWS_LOOPS(name, dot, axpy)                                                      \
    void name##_rows_dot(int64_t n, int64_t nq, const float *q, int64_t q_stride, const void *rows, \
                         size_t row_stride, int64_t nrows, float scale, float *s, int64_t s_stride) { \
        for (int64_t i = 0; i < nq; ++i)                                                           \
            for (int64_t j = 0; j < nrows; ++j)                                                    \
                s[i * s_stride + j] = scale * dot(n, (const uint8_t *)rows + (size_t)j * row_stride, q + i * q_stride); \
    }                                                                                              \
    void name##_rows_mix(int64_t n, int64_t nq, const float *p, int64_t p_stride, const void *rows, \
                         size_t row_stride, int64_t nrows, float *y, int64_t y_stride) {           \
        for (int64_t i = 0; i < nq; ++i)                                                           \
            for (int64_t j = 0; j < nrows; ++j)                                                    \
                axpy(n, p[i * p_stride + j], (const uint8_t *)rows + (size_t)j * row_stride, y + i * y_stride); \
    }
#define CK_DECLARE_ROWS(name)                                                                      \
    void name##_rows_dot(int64_t n, int64_t nq, const float *q, int64_t q_stride, const void *rows, \
                         size_t row_stride, int64_t nrows, float scale, float *s, int64_t s_stride); \
    void name##_rows_mix(int64_t n, int64_t nq, const float *p, int64_t p_stride, const void *rows, \
                         size_t row_stride, int64_t nrows, float *y, int64_t y_stride);
CK_DECLARE_ROWS(ck_scalar_f32)
CK_DECLARE_ROWS(ck_scalar_f16)
CK_DECLARE_ROWS(ck_scalar_q8_0)
void ck_scalar_round_f16(float *x, int64_t n);

// The scalar set (scalar.c): the traits' kernels once completed (dispatch.c completes every set once).
extern ck_kernel_set ck_scalar_set;

#if defined(__x86_64__)
// x86_avx2_attn.c / x86_avx512_attn.c
CK_DECLARE_ROWS(ck_avx2_f32)
CK_DECLARE_ROWS(ck_avx2_f16)
CK_DECLARE_ROWS(ck_avx2_q8_0)
void ck_avx2_round_f16(float *x, int64_t n);
CK_DECLARE_ROWS(ck_avx512_f32)
CK_DECLARE_ROWS(ck_avx512_f16)
float ck_avx2_row_dot_q8_0(int64_t n, const void *row, const void *x);
void ck_avx2_row_axpy_f32(int64_t n, float a, const void *row, float *y);
void ck_avx2_row_axpy_f16(int64_t n, float a, const void *row, float *y);
void ck_avx2_row_axpy_q8_0(int64_t n, float a, const void *row, float *y);
#endif
#if defined(__aarch64__)
// arm_neon_attn.c
CK_DECLARE_ROWS(ck_neon_f32)
CK_DECLARE_ROWS(ck_neon_f16)
CK_DECLARE_ROWS(ck_neon_q8_0)
void ck_neon_round_f16(float *x, int64_t n);
float ck_neon_row_dot_q8_0(int64_t n, const void *row, const void *x);
void ck_neon_row_axpy_f32(int64_t n, float a, const void *row, float *y);
void ck_neon_row_axpy_f16(int64_t n, float a, const void *row, float *y);
void ck_neon_row_axpy_q8_0(int64_t n, float a, const void *row, float *y);
#endif

// ---- Float matrix products (CKernels.h): the driver in fgemm.c and each set's register tile -----
// tile(kc, a, lda, b, ldb, c, ldc, accumulate): for t < mr, j < nr:
//   c[t * ldc + j] = (accumulate ? c[t * ldc + j] : 0) + sum over k < kc of a[t * lda + k] * b[k * ldb + j]
#define CK_FGEMM_MAX_MR 8
#define CK_FGEMM_MAX_NR 16
typedef struct {
    int mr, nr;   // rows of a x columns of B per tile (mr <= CK_FGEMM_MAX_MR, 4 <= nr <= CK_FGEMM_MAX_NR)
    void (*tile)(int64_t kc, const float *a, int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc,
                 int accumulate);
    void (*f16_to_f32)(const uint16_t *src, float *dst, int64_t n);
} ck_fgemm_ops;
// layout 0: B(k, c) = row c of a matrix of type F32 / F16 (f16 != 0), rows b_stride bytes apart;
// layout 1: B(k, c) = b[k * b_stride + c], f32, b_stride in floats.
void ck_fgemm_drive(const ck_fgemm_ops *ops, int layout, int f16, int64_t n, const float *a, int64_t a_stride,
                    int64_t ntok, const void *b, size_t b_stride, int64_t cols, float *out, int64_t out_stride,
                    int accumulate);
#define CK_DECLARE_FGEMM(prefix)                                                                   \
    void prefix##_fgemm_f32(int64_t n, const float *a, int64_t a_stride, int64_t ntok, const void *w,    \
                            size_t row_bytes, int64_t rows, float *out, int64_t out_stride, int accumulate); \
    void prefix##_fgemm_f16(int64_t n, const float *a, int64_t a_stride, int64_t ntok, const void *w,    \
                            size_t row_bytes, int64_t rows, float *out, int64_t out_stride, int accumulate); \
    void prefix##_fgemm_kn(int64_t n, const float *a, int64_t a_stride, int64_t ntok, const float *b,    \
                           int64_t b_stride, int64_t cols, float *out, int64_t out_stride, int accumulate);
#define CK_DEFINE_FGEMM(prefix, ops)                                                               \
    void prefix##_fgemm_f32(int64_t n, const float *a, int64_t a_stride, int64_t ntok, const void *w,    \
                            size_t row_bytes, int64_t rows, float *out, int64_t out_stride, int accumulate) { \
        ck_fgemm_drive(&ops, 0, 0, n, a, a_stride, ntok, w, row_bytes, rows, out, out_stride, accumulate); \
    }                                                                                              \
    void prefix##_fgemm_f16(int64_t n, const float *a, int64_t a_stride, int64_t ntok, const void *w,    \
                            size_t row_bytes, int64_t rows, float *out, int64_t out_stride, int accumulate) { \
        ck_fgemm_drive(&ops, 0, 1, n, a, a_stride, ntok, w, row_bytes, rows, out, out_stride, accumulate); \
    }                                                                                              \
    void prefix##_fgemm_kn(int64_t n, const float *a, int64_t a_stride, int64_t ntok, const float *b,    \
                           int64_t b_stride, int64_t cols, float *out, int64_t out_stride, int accumulate) { \
        ck_fgemm_drive(&ops, 1, 0, n, a, a_stride, ntok, b, (size_t)b_stride, cols, out, out_stride, accumulate); \
    }
#define CK_FGEMM_ENTRIES(prefix)                                                                   \
    .fgemm = {[CK_F32] = prefix##_fgemm_f32, [CK_F16] = prefix##_fgemm_f16}, .fgemm_kn = prefix##_fgemm_kn
CK_DECLARE_FGEMM(ck_scalar)
#if defined(__x86_64__)
CK_DECLARE_FGEMM(ck_avx2)
#endif
#if defined(__aarch64__)
CK_DECLARE_FGEMM(ck_neon)
#endif


// ---- Row kernels (CKernels.h, "Row kernels"): scalar.c, x86_avx2_rows.c, arm_neon_rows.c ----------
#define CK_DECLARE_ROW_KERNELS(prefix)                                                             \
    float prefix##_max_f32(int64_t n, const float *x);                                             \
    float prefix##_exp_shift(int64_t n, float *x, float shift);                                    \
    void prefix##_gelu_tanh(int64_t n, float *x, const float *bias);                               \
    void prefix##_layer_norm(int64_t n, const float *x, const float *weight, const float *bias, float eps, \
                             float *out);                                                          \
    void prefix##_add_f32(int64_t n, float *y, const float *x, const float *b);
#define CK_ROW_KERNEL_ENTRIES(prefix)                                                              \
    .max_f32 = prefix##_max_f32, .exp_shift = prefix##_exp_shift, .gelu_tanh = prefix##_gelu_tanh, \
    .layer_norm = prefix##_layer_norm, .add_f32 = prefix##_add_f32
// -2 sqrt(2 / pi): gelu_tanh(v) = v / (1 + e^(CK_GELU_SCALE (v + 0.044715 v^3))).
#define CK_GELU_SCALE (-2.0f * 0.79788456f)
#define CK_GELU_CUBIC 0.044715f
CK_DECLARE_ROW_KERNELS(ck_scalar)
#if defined(__x86_64__)
CK_DECLARE_ROW_KERNELS(ck_avx2)
#endif
#if defined(__aarch64__)
CK_DECLARE_ROW_KERNELS(ck_neon)
#endif

#endif
