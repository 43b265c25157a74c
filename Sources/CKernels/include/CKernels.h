// CKernels: the numeric kernels of GemmaEdge, in C, with one standard name per kernel.
//
// Every kernel has a portable scalar reference (scalar.c) and, where it pays, SIMD paths in one
// file per architecture and instruction set (x86_avx2.c, x86_avx512.c, arm_neon.c, arm_dotprod.c;
// the prefill gemm microkernels in *_gemm.c beside them). Which path runs is decided once,
// at load, from what the CPU reports at run time (ck_cpu_features), never from how the binary was
// built: every SIMD function carries its own __attribute__((target(...))), so one binary holds all
// paths and never executes an instruction the CPU lacks.
//
// The kernels know block layouts of quantised tensors (the GGUF/ggml layouts, see
// gguf-py/gguf/quants.py) and nothing about any model.
#ifndef CKERNELS_H
#define CKERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "CKThreadPool.h"

#ifdef __cplusplus
extern "C" {
#endif

// Tensor element types, numbered as in the GGUF file format.
typedef enum {
    CK_F32 = 0,
    CK_F16 = 1,
    CK_Q4_0 = 2,
    CK_Q4_1 = 3,
    CK_Q5_0 = 6,
    CK_Q5_1 = 7,
    CK_Q8_0 = 8,
    CK_Q8_1 = 9,
    CK_Q4_K = 12,
    CK_Q5_K = 13,
    CK_Q6_K = 14,
    CK_Q8_K = 15,
    CK_BF16 = 30,
    CK_TYPE_COUNT = 31
} ck_type;

// CPU feature bits reported by ck_cpu_features().
enum {
    CK_CPU_AVX2 = 1u << 0,     // AVX2 + FMA + F16C
    CK_CPU_AVX512 = 1u << 1,   // AVX-512 F/BW/VL
    CK_CPU_AVX512VNNI = 1u << 2,
    CK_CPU_NEON = 1u << 8,     // AArch64 Advanced SIMD (always present on AArch64)
    CK_CPU_DOTPROD = 1u << 9,  // ARMv8.2 SDOT/UDOT (asimddp)
    CK_CPU_I8MM = 1u << 10,    // ARMv8.6 SMMLA (i8mm)
};

// What the running CPU supports (cpuid + xgetbv on x86, getauxval(AT_HWCAP/AT_HWCAP2) on Linux/ARM).
unsigned ck_cpu_features(void);

// Block geometry: elements per block and bytes per block; 0 for unknown types.
int64_t ck_block_elements(ck_type type);
int64_t ck_block_bytes(ck_type type);

// The activation format a weight type's dot product consumes (Q8_0, Q8_1, Q8_K, or F32 for the
// float weight types). The activation types themselves map to themselves (Q8_1 -> Q8_1,
// Q8_K -> Q8_K), so every ck_type has a dot product. Unknown types give CK_TYPE_COUNT.
ck_type ck_activation_type(ck_type weight_type);

// Bytes of a row of n elements of `type` (n a multiple of the block); -1 for an unknown type or
// a ragged n.
int64_t ck_row_bytes(ck_type type, int64_t n);

// Short lowercase name of a type ("q4_K", "f16", ...); "?" for an unknown type.
const char *ck_type_name(ck_type type);

// Scalar reference: dequantise n elements (n a multiple of the block) of `type` from src into dst.
void ck_dequantize_row(ck_type type, const void *src, float *dst, int64_t n);

// Scalar reference: quantise n floats into an activation format (CK_Q8_0, CK_Q8_1, CK_Q8_K) or a
// storage format used by the project's writer (CK_F32, CK_F16, CK_BF16, CK_Q4_0, CK_Q4_1, CK_Q5_0,
// CK_Q5_1, CK_Q8_0, CK_Q4_K, CK_Q5_K, CK_Q6_K). Q8_0, Q8_1, Q8_K, Q4_0, Q4_1, Q5_0 and Q5_1 round
// exactly as ggml's *_ref quantisers do; Q4_K, Q5_K and Q6_K use a simpler per-sub-block min/max
// scheme (valid blocks close to the input, not ggml's iterative search, so not ggml's bytes).
// Inputs must be finite. Returns 0 on success, -1 when `type` cannot be produced or n is ragged.
int ck_quantize_row_ref(ck_type type, const float *src, void *dst, int64_t n);

// f16/bf16 <-> f32, scalar.
float ck_f16_to_f32(uint16_t h);
uint16_t ck_f32_to_f16(float f);
float ck_bf16_to_f32(uint16_t h);
uint16_t ck_f32_to_bf16(float f);

// Activation quantiser: n floats -> blocks of the activation type (n a multiple of the block;
// a ragged tail is ignored). Activation quantisers (Q8_0, Q8_1, Q8_K) produce quants in
// [-127, 127], which the SIMD dot products rely on. SIMD quantisers write the same bytes as the
// scalar ones.
typedef void (*ck_quantize_fn)(const float *x, void *y, int64_t n);

// Dot product of one weight row (n elements of the weight type) with one activation row
// (n elements in ck_activation_type(weight type)). n must be a multiple of the weight block
// (whole blocks only are used). Neither buffer needs any alignment.
typedef float (*ck_vec_dot_fn)(int64_t n, const void *w, const void *a);

// Matrix-matrix microkernel of one weight type (prefill): for t in [0, ntok), r in [0, rows):
//   out[t * out_stride + r] = dot(row r of W, activation row t)
// with the arguments of ck_gemm. Equal to the same set's vec_dot per (row, token) bit for bit (see
// the float order below), and to the scalar reference's up to float summation order (the integer
// sums of every block are the same). Works on tiles of several rows x several tokens, so each
// weight block is unpacked once per tile and reused across tokens and each activation block feeds
// several rows; only stack buffers, no alignment needed, any rows and ntok >= 0.
typedef void (*ck_gemm_fn)(int64_t n, const void *w, size_t row_bytes, int64_t rows, const void *a, size_t a_stride,
                           int64_t ntok, float *out, int64_t out_stride);

// ---- KV cache rows --------------------------------------------------------------------------------
// Attention reads cached rows that may be stored narrower than the f32 query and output: F32, F16,
// or Q8_0 (blocks of 32 int8 quants with one f16 scale, ggml's q8_0 layout; n a multiple of 32).
// A row is written with the set's quantize[type] (the F32 copy, F16 conversion or Q8_0 quantiser).
//   row_dot[type](n, row, x)      = sum_i row[i] * x[i], x n floats (for F32 and F16 the set's
//                                   vec_dot of that type, which computes exactly this)
//   row_axpy[type](n, a, row, y):   y[i] += a * row[i] for i < n
// The float x and y stay f32, so only the stored row loses precision. No alignment is needed.
typedef void (*ck_row_axpy_fn)(int64_t n, float a, const void *row, float *y);

// Many queries against many stored rows at once (the attention of a prefill batch, or of the query
// heads that share one KV head): nq query vectors of n floats, q_stride floats apart, and nrows
// rows of the type, row_stride bytes apart.
//   rows_dot[type](n, nq, q, q_stride, rows, row_stride, nrows, scale, s, s_stride):
//       s[i * s_stride + j] = scale * row_dot[type](n, row j, query i)        i < nq, j < nrows
//   rows_mix[type](n, nq, p, p_stride, rows, row_stride, nrows, y, y_stride):
//       y[i * y_stride + e] += sum over j of p[i * p_stride + j] * row j [e]   i < nq, e < n
// Equal to loops of row_dot / row_axpy up to float summation order. The SIMD sets hold a block of
// queries in registers against each row (rows_dot) and a block of outputs in registers across all
// rows (rows_mix), so a row is read and converted once per block of queries, not once per query,
// and y is loaded and stored once per call, not once per row. No alignment is needed.
typedef void (*ck_rows_dot_fn)(int64_t n, int64_t nq, const float *q, int64_t q_stride, const void *rows,
                               size_t row_stride, int64_t nrows, float scale, float *s, int64_t s_stride);
typedef void (*ck_rows_mix_fn)(int64_t n, int64_t nq, const float *p, int64_t p_stride, const void *rows,
                               size_t row_stride, int64_t nrows, float *y, int64_t y_stride);

// ---- Float matrix products (f32 activations against f32 / f16 matrices: the vision encoder) -------
//   fgemm[type](n, a, a_stride, ntok, w, row_bytes, rows, out, out_stride, accumulate):
//       out[t * out_stride + r] (+)= sum over k < n of a[t * a_stride + k] * W[r][k]   t < ntok, r < rows
//       W: `rows` rows of n elements of `type` (F32 or F16), row_bytes apart (weights, or keys)
//   fgemm_kn(n, a, a_stride, ntok, b, b_stride, cols, out, out_stride, accumulate):
//       out[t * out_stride + c] (+)= sum over k < n of a[t * a_stride + k] * b[k * b_stride + c]  c < cols
//       b: n rows of `cols` f32 values, b_stride floats apart (attention's values)
// "+=" when accumulate is nonzero, "=" otherwise; strides of a, out and b in floats. Equal to the
// scalar reference (plain loops) up to float summation order. The SIMD sets run register tiles of
// several rows of a x 16 columns over panels of B laid out once per call in f32 (so a weight is
// converted once per call, not once per activation row); stack buffers only, no alignment needed.
typedef void (*ck_fgemm_fn)(int64_t n, const float *a, int64_t a_stride, int64_t ntok, const void *w,
                            size_t row_bytes, int64_t rows, float *out, int64_t out_stride, int accumulate);
typedef void (*ck_fgemm_kn_fn)(int64_t n, const float *a, int64_t a_stride, int64_t ntok, const float *b,
                               int64_t b_stride, int64_t cols, float *out, int64_t out_stride, int accumulate);

// ---- Row kernels (element-wise steps over one row of n floats: softmax, activation, norms) ---------
//   max_f32(n, x)           = the largest x[i] (NaNs skipped); -infinity when n == 0
//   exp_shift(n, x, shift): x[i] = e^(x[i] - shift) in place; returns the sum of the results. An
//                           x[i] of -infinity (a masked score) gives 0, also when shift is -infinity
//                           (a row whose every score is masked sums to 0). The SIMD sets use a
//                           polynomial within 3e-7 relative of expf on [-87.34, 88]; e^d is 0 below
//                           (where expf's results are denormal) and +infinity above.
//   gelu_tanh(n, x, bias):  x[i] = gelu_tanh(x[i] + bias[i]) (bias may be NULL), with
//                           gelu_tanh(v) = 0.5 v (1 + tanh(sqrt(2/pi) (v + 0.044715 v^3)))
//                                        = v / (1 + e^(-2 sqrt(2/pi) (v + 0.044715 v^3)))
//   layer_norm(n, x, weight, bias, eps, out):
//                           out[i] = (x[i] - mean) / sqrt(var + eps) * weight[i] + bias[i], mean and
//                           variance of x summed in double; weight and bias may be NULL; out may be x
//   add_f32(n, y, x, b):    y[i] += x[i] + b[i] (b may be NULL): a bias and a residual in one pass
// No alignment is needed; the SIMD sets agree with the scalar references up to float rounding.
typedef float (*ck_max_fn)(int64_t n, const float *x);
typedef float (*ck_exp_shift_fn)(int64_t n, float *x, float shift);
typedef void (*ck_gelu_fn)(int64_t n, float *x, const float *bias);
typedef void (*ck_layer_norm_fn)(int64_t n, const float *x, const float *weight, const float *bias, float eps,
                                 float *out);
typedef void (*ck_add_fn)(int64_t n, float *y, const float *x, const float *b);

// A kernel set. Once handed out by ck_kernels_select / ck_kernels_available / ck_kernels_scalar,
// entries are never NULL for the types that have traits (for row_dot, row_axpy, rows_dot,
// rows_mix and fgemm: the types whose traits have them), except gemm: NULL where the set
// has no microkernel for a type (ck_gemm then uses vec_dot). A set lists only the kernels it
// improves; ck_kernel_set_complete fills the rest from the type traits (see below), and every set
// is completed and checked once, before the first is handed out.
//
// Float order: for every type with a gemm microkernel, vec_dot forms each block's integer sum
// exactly and adds it with fused multiply-adds in one fixed order (two chains in chunks of 32
// blocks for q4_0 / q5_0 / q8_0, one chain for the K-quants); the gemm microkernels keep the same
// chains per (row, token). So ck_gemv, ck_gemm and vec_dot of one set agree bit for bit, and a
// prefill of n tokens gives what n decode steps give.
typedef struct {
    const char *name;                         // "scalar", "avx2", "avx512vnni", "neon", "neon-dotprod"
    ck_vec_dot_fn vec_dot[CK_TYPE_COUNT];     // indexed by weight type
    ck_quantize_fn quantize[CK_TYPE_COUNT];   // indexed by activation type (Q8_0, Q8_1, Q8_K, F32 copy);
                                              // also F16/BF16 row conversion and, through the scalar
                                              // storage quantisers, every other type in ck_type
    float (*dot_f32)(int64_t n, const float *x, const float *y);
    void (*axpy_f32)(int64_t n, float a, const float *x, float *y);   // y += a * x
    ck_gemm_fn gemm[CK_TYPE_COUNT];           // indexed by weight type; NULL: ck_gemm tiles vec_dot

    // ---- KV cache rows (see "KV cache rows" below) ----
    ck_vec_dot_fn row_dot[CK_TYPE_COUNT];     // indexed by row type: F32, F16, Q8_0; NULL otherwise
    ck_row_axpy_fn row_axpy[CK_TYPE_COUNT];   // indexed by row type: F32, F16, Q8_0; NULL otherwise
    ck_rows_dot_fn rows_dot[CK_TYPE_COUNT];   // indexed by row type: F32, F16, Q8_0; NULL otherwise
    ck_rows_mix_fn rows_mix[CK_TYPE_COUNT];   // indexed by row type: F32, F16, Q8_0; NULL otherwise
    // x[i] = x[i] rounded to the nearest f16 (ties to even) for i < n, in place: how a query meets
    // F16 rows in ggml, which converts it to the rows' type before the dot product.
    void (*round_f16)(float *x, int64_t n);

    // ---- Float matrix products (see "Float matrix products" above) ----
    ck_fgemm_fn fgemm[CK_TYPE_COUNT];         // indexed by matrix type: F32, F16; NULL otherwise
    ck_fgemm_kn_fn fgemm_kn;

    // ---- Row kernels (see "Row kernels" above) ----
    ck_max_fn max_f32;
    ck_exp_shift_fn exp_shift;
    ck_gelu_fn gelu_tanh;
    ck_layer_norm_fn layer_norm;
    ck_add_fn add_f32;
} ck_kernel_set;

// ---- type traits: one row per type (scalar.c) ------------------------------------------------------
// Everything the kernels know about a type: name, block geometry, the activation format its dot
// product consumes, and the scalar reference of each of its kernels (the fallbacks of every set).
typedef void (*ck_to_float_fn)(const void *src, float *dst, int64_t n);
typedef struct {
    const char *name;            // "q4_K", "f16", ...
    int64_t block_elements;      // elements per block
    int64_t block_bytes;         // bytes per block
    ck_type activation;          // what vec_dot's second operand is (ck_activation_type)
    ck_to_float_fn to_float;     // dequantise n elements (n a multiple of the block)
    ck_quantize_fn from_float;   // quantise n floats (ck_quantize_row_ref)
    ck_vec_dot_fn vec_dot;       // dot product with one activation row
    // KV cache rows, for the types that store them (F32, F16, Q8_0); NULL otherwise.
    ck_vec_dot_fn row_dot;
    ck_row_axpy_fn row_axpy;
    ck_rows_dot_fn rows_dot;
    ck_rows_mix_fn rows_mix;
    // Float matrix products with rows of the type (F32, F16); NULL otherwise.
    ck_fgemm_fn fgemm;
} ck_type_traits;

// The traits of `type`, or NULL when the number is not a type.
const ck_type_traits *ck_get_type_traits(ck_type type);

// Fills every NULL entry of `set` with the fallback: the type traits' scalar kernels, and the
// scalar set's dot_f32 / axpy_f32 / round_f16 / fgemm_kn and row kernels. A set's own entries are
// kept.
void ck_kernel_set_complete(ck_kernel_set *set);

// The first entry `set` lacks, as "vec_dot[q4_K]", or NULL when it is complete.
const char *ck_kernel_set_missing(const ck_kernel_set *set);

// A set's entry for a type (NULL for a number that is not a type): how Swift reads a set.
ck_vec_dot_fn ck_set_vec_dot(const ck_kernel_set *ks, ck_type t);
ck_quantize_fn ck_set_quantize(const ck_kernel_set *ks, ck_type t);
ck_gemm_fn ck_set_gemm(const ck_kernel_set *ks, ck_type t);
ck_vec_dot_fn ck_set_row_dot(const ck_kernel_set *ks, ck_type t);
ck_row_axpy_fn ck_set_row_axpy(const ck_kernel_set *ks, ck_type t);
ck_rows_dot_fn ck_set_rows_dot(const ck_kernel_set *ks, ck_type t);
ck_rows_mix_fn ck_set_rows_mix(const ck_kernel_set *ks, ck_type t);
ck_fgemm_fn ck_set_fgemm(const ck_kernel_set *ks, ck_type t);
// Sets a set's dot product for one type (building a set in Swift, e.g. the portable one).
void ck_set_put_vec_dot(ck_kernel_set *ks, ck_type t, ck_vec_dot_fn fn);

// The scalar reference set (always available).
const ck_kernel_set *ck_kernels_scalar(void);

// The best set this CPU can run, restricted to the features in `allowed` (pass ~0u for all).
// Chosen once at load by the caller; never per call.
const ck_kernel_set *ck_kernels_select(unsigned allowed);

// Every set compiled into this binary whose features the CPU has (for tests comparing each with
// the scalar reference). Returns how many were written to out (at most max).
int ck_kernels_available(const ck_kernel_set **out, int max);

// Matrix-vector: out[r] = dot(row r of W, a) for r in [0, rows). W rows are `row_bytes` apart.
// A type the set has no dot product for (a number that is not a type) stops the process with a
// message: callers check types when they load a tensor.
void ck_gemv(const ck_kernel_set *ks, ck_type type, int64_t n, const void *w, size_t row_bytes,
             int64_t rows, const void *a, float *out);

// Matrix-matrix (prefill): for t in [0, ntok), r in [0, rows):
//   out[t * out_stride + r] = dot(row r of W, activation row t)
// Activation rows are `a_stride` bytes apart. Uses the set's gemm microkernel for the type when it
// has one and ntok is large enough to repay unpacking the weights (2 tokens for the 32-element
// types, 3 for q4_K / q5_K, 4 for q6_K; the results are vec_dot's bit for bit either way);
// otherwise walks weight rows in tiles over vec_dot, so each weight block is reused across tokens
// while it is in cache. ntok == 1 is ck_gemv. The microkernels keep their tiles on the stack
// (about 100 KiB: a weight panel and per-token activation data), never on the heap.
void ck_gemm(const ck_kernel_set *ks, ck_type type, int64_t n, const void *w, size_t row_bytes,
             int64_t rows, const void *a, size_t a_stride, int64_t ntok, float *out, int64_t out_stride);

#ifdef __cplusplus
}
#endif
// The repacked weight layouts and their kernels (CKRepack.h includes this header first).
#include "CKRepack.h"

#endif
