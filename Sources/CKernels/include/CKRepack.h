// The repacked weight layout of GemmaEdge: weights rearranged once, at load, for the kernels.
//
// Layout "q4_0x8" (version CK_RP_LAYOUT_VERSION) holds a Q4_0 matrix of `rows` rows of n
// elements as groups of 8 rows (the last group padded with zero rows). A group is nb = n / 32
// blocks of 144 bytes, one per 32 columns, each holding that column block of all 8 rows:
//   bytes   0..15   the 8 rows' f16 scales d (row r at 2r), gathered so one load converts them all;
//   bytes  16..143  4 chunks of 32 bytes; chunk k holds, for r = 0..7, the 4 quant bytes 4k..4k+3 of
//                   row r at 16 + 32k + 4r. Byte j of a Q4_0 block holds element j (low nibble) and
//                   element j + 16 (high nibble); here every byte is stored xor 0x88, so each nibble
//                   read as a signed 4-bit number is already q - 8.
// So one 32-byte load gives 4 columns of 8 rows in eight 32-bit lanes: a broadcast of 4 activation
// bytes multiplies all 8 rows at once (x86 vpmaddubsw, ARM sdot by lane) and every lane's sum
// belongs to one row, with no horizontal additions. Per row the bytes are exactly the Q4_0 ones
// (144 bytes per 8 rows and 32 columns, the size of 8 Q4_0 blocks), so decode reads no more memory.
//
// Layout "q4_Kx8" holds a Q4_K matrix the same way, in groups of 8 rows (the last padded with zero
// rows), one 1184-byte block per 256 columns (a Q4_K super-block of all 8 rows):
//   bytes    0..15    the 8 rows' f16 d (row r at 2r);   bytes 16..31  their f16 dmin;
//   bytes   32..95    6-bit scales unpacked to bytes: scale of sub-block s (32 elements) of row r at 32 + 8s + r;
//   bytes   96..159   mins likewise: min of sub-block s of row r at 96 + 8s + r;
//   bytes  160..1183  quants: for c = 0..3 and k = 0..7, 32 bytes at 160 + 256c + 32k holding, for
//                     r = 0..7, the 4 bytes qs[32c + 4k .. 32c + 4k + 3] of row r at + 4r. A byte's low
//                     nibble is element 64c + 4k + j (sub-block 2c), its high nibble element
//                     64c + 32 + 4k + j (sub-block 2c + 1), as in Q4_K.
// So one 32-byte load again gives 4 columns of 8 rows in eight 32-bit lanes, and the per-row scales
// and mins of a sub-block are one 8-byte load. The kernels consume Q8_K activation rows (what the
// Q4_K vec_dot consumes) and keep its float order (per super-block, two fused multiply-adds: the
// scaled quant sum times d * d_a, then minus the min sum times dmin * d_a), so they equal the set's
// Q4_K vec_dot bit for bit. The unpacked scales make a group 32 bytes (2.8 %) larger than 8 Q4_K
// rows.
//
// The q4_0x8 kernels consume Q8_0 activation rows (what the Q4_0 vec_dot consumes) and
// keep the float order of ck_internal.h (CK_CHAIN_BLOCKS, two chains): their results equal the
// native Q4_0 vec_dot / gemv / gemm of the kernel set they belong to, bit for bit.
#ifndef CK_REPACK_H
#define CK_REPACK_H

#include "CKernels.h"

#ifdef __cplusplus
extern "C" {
#endif

// Version of every layout in this file; a cache file of repacked weights records it and is
// rebuilt when it differs.
#define CK_RP_LAYOUT_VERSION 2
// Rows per interleaved group and bytes per group and 32-column block (q4_0x8).
#define CK_RP_Q4_0_ROWS 8
#define CK_RP_Q4_0_BLOCK_BYTES 144
// Rows per group and bytes per group and 256-column super-block (q4_Kx8).
#define CK_RP_Q4_K_ROWS 8
#define CK_RP_Q4_K_BLOCK_BYTES 1184
// Longest row the kernels take (their per-token activation data lives on the stack).
#define CK_RP_MAX_COLUMNS 131072

// The repacked kernels of one kernel set for one weight type.
//   gemm: for t in [0, ntok), r in [0, rows): out[t * out_stride + r] = dot(row r, activation row t),
//         where w is the start of a group (row 0 of the call is a multiple of 8 rows into the
//         matrix) and activation rows are a_stride bytes apart. ntok == 1 is the decode case.
typedef void (*ck_rp_gemm_fn)(int64_t n, const void *w, int64_t rows, const void *a, size_t a_stride,
                              int64_t ntok, float *out, int64_t out_stride);

typedef struct {
    const char *name;     // "q4_0x8/avx2", ...
    ck_type type;         // the weight type it replaces
    int group_rows;       // rows per interleaved group
    ck_rp_gemm_fn gemm;
    // Whether it was measured faster than the set's native kernels (decode and prefill of the real
    // Gemma 3 270M, gemma-edge bench); loaders use only these unless asked for every layout.
    int pays;
} ck_rp_kernels;

// Bytes the repacked form of a rows x n matrix of `type` takes; 0 when the type has no repacked
// layout or n is not a positive multiple of its block or exceeds CK_RP_MAX_COLUMNS.
int64_t ck_rp_bytes(ck_type type, int64_t rows, int64_t n);

// Bytes from one group to the next (8 rows) of a repacked matrix with rows of n elements.
int64_t ck_rp_group_bytes(ck_type type, int64_t n);

// Repacks groups [g0, g1) of a rows x n matrix of `type` (rows `row_bytes` apart at src) into dst,
// the start of the whole repacked matrix (group g goes to dst + g * ck_rp_group_bytes). Distinct
// group ranges may be repacked concurrently. Returns 0, or -1 for a type without a layout.
int ck_rp_repack(ck_type type, const void *src, size_t row_bytes, int64_t rows, int64_t n, int64_t g0, int64_t g1, void *dst);

// The repacked kernels matching kernel set `ks` for weight `type`, or NULL when that set has none
// (the scalar set has none: its Q4_0 vec_dot sums in another order). Chosen once at load.
const ck_rp_kernels *ck_rp_select(const ck_kernel_set *ks, ck_type type);

// Scalar reference of the q4_0x8 kernels (the float order of the SIMD sets), for tests.
void ck_rp_ref_gemm_q4_0(int64_t n, const void *w, int64_t rows, const void *a, size_t a_stride, int64_t ntok,
                         float *out, int64_t out_stride);
// Scalar reference of the q4_Kx8 kernels (the float order of the SIMD sets' Q4_K vec_dot), for tests.
void ck_rp_ref_gemm_q4_K(int64_t n, const void *w, int64_t rows, const void *a, size_t a_stride, int64_t ntok,
                         float *out, int64_t out_stride);

#ifdef __cplusplus
}
#endif
#endif
