// Kernel sets, run-time selection, the row loops (gemv / gemm) over a set's vec_dot, and the
// driver of the gemm microkernels.
#include "ck_internal.h"

// Quantiser entries every SIMD set takes from scalar.c: the storage quantisers (only the writer and
// tests use them) and the F32 copy. Likewise vec_dot of Q8_1 / Q8_K used as weights (no model stores
// them) is the scalar one in every set.
#define CK_COMMON_ENTRIES                                                                          \
    [CK_Q4_0] = ck_scalar_quantize_q4_0, [CK_Q4_1] = ck_scalar_quantize_q4_1,                     \
    [CK_Q5_0] = ck_scalar_quantize_q5_0, [CK_Q5_1] = ck_scalar_quantize_q5_1,                     \
    [CK_Q4_K] = ck_scalar_quantize_q4_K, [CK_Q5_K] = ck_scalar_quantize_q5_K,                     \
    [CK_Q6_K] = ck_scalar_quantize_q6_K, [CK_F32] = ck_scalar_quantize_f32

#define CK_GEMM_ENTRIES(prefix)                                                                    \
    .gemm = {                                                                                      \
        [CK_Q4_0] = prefix##_gemm_q4_0, [CK_Q5_0] = prefix##_gemm_q5_0, [CK_Q8_0] = prefix##_gemm_q8_0, \
        [CK_Q4_K] = prefix##_gemm_q4_K, [CK_Q5_K] = prefix##_gemm_q5_K, [CK_Q6_K] = prefix##_gemm_q6_K, \
    }

// ---- KV cache rows: the row_dot / row_axpy entries of each set (CKernels.h, "KV cache rows") ----
// F32 and F16 rows are dotted one at a time with the set's own vec_dot of that type; the avx512vnni
// set takes the AVX2 row kernels (one query against one row is bound by memory, not by vector
// width) and the dotprod set NEON's (the query stays f32: no int8 x int8 product for SDOT).
// rows_dot / rows_mix of F32 and F16 rows have register-blocked kernels per set (x86_avx2_attn.c,
// x86_avx512_attn.c, arm_neon_attn.c; there AVX-512 pays, since blocks of queries and outputs are
// reused from registers); Q8_0 rows loop over the set's row kernels.
#define CK_ROW_ENTRIES(prefix, rows_prefix)                                                        \
    .row_dot = {[CK_F32] = prefix##_vec_dot_f32, [CK_F16] = prefix##_vec_dot_f16,                  \
                [CK_Q8_0] = prefix##_row_dot_q8_0},                                                \
    .row_axpy = {[CK_F32] = prefix##_row_axpy_f32, [CK_F16] = prefix##_row_axpy_f16,               \
                 [CK_Q8_0] = prefix##_row_axpy_q8_0},                                              \
    .rows_dot = {[CK_F32] = rows_prefix##_f32_rows_dot, [CK_F16] = rows_prefix##_f16_rows_dot,     \
                 [CK_Q8_0] = prefix##_q8_0_rows_dot},                                              \
    .rows_mix = {[CK_F32] = rows_prefix##_f32_rows_mix, [CK_F16] = rows_prefix##_f16_rows_mix,     \
                 [CK_Q8_0] = prefix##_q8_0_rows_mix},                                              \
    .round_f16 = prefix##_round_f16

#if defined(__x86_64__)
#define CK_AVX2_ENTRIES                                                                            \
    .vec_dot = {                                                                                   \
        [CK_F32] = ck_avx2_vec_dot_f32,                                                            \
        [CK_F16] = ck_avx2_vec_dot_f16,                                                            \
        [CK_BF16] = ck_avx2_vec_dot_bf16,                                                          \
        [CK_Q4_0] = ck_avx2_vec_dot_q4_0,                                                          \
        [CK_Q4_1] = ck_avx2_vec_dot_q4_1,                                                          \
        [CK_Q5_0] = ck_avx2_vec_dot_q5_0,                                                          \
        [CK_Q5_1] = ck_avx2_vec_dot_q5_1,                                                          \
        [CK_Q8_0] = ck_avx2_vec_dot_q8_0,                                                          \
        [CK_Q8_1] = ck_scalar_vec_dot_q8_1,                                                        \
        [CK_Q4_K] = ck_avx2_vec_dot_q4_K,                                                          \
        [CK_Q5_K] = ck_avx2_vec_dot_q5_K,                                                          \
        [CK_Q6_K] = ck_avx2_vec_dot_q6_K,                                                          \
        [CK_Q8_K] = ck_scalar_vec_dot_q8_K,                                                        \
    },                                                                                             \
    .quantize = {                                                                                  \
        CK_COMMON_ENTRIES,                                                                         \
        [CK_F16] = ck_avx2_quantize_f16,                                                           \
        [CK_BF16] = ck_avx2_quantize_bf16,                                                         \
        [CK_Q8_0] = ck_avx2_quantize_q8_0,                                                         \
        [CK_Q8_1] = ck_avx2_quantize_q8_1,                                                         \
        [CK_Q8_K] = ck_avx2_quantize_q8_K,                                                         \
    },                                                                                             \
    .dot_f32 = ck_avx2_dot_f32,                                                                    \
    .axpy_f32 = ck_avx2_axpy_f32

static const ck_kernel_set avx2_set = {
    .name = "avx2",
    CK_AVX2_ENTRIES,
    CK_GEMM_ENTRIES(ck_avx2),
    CK_ROW_ENTRIES(ck_avx2, ck_avx2),
    CK_FGEMM_ENTRIES(ck_avx2),
};

// AVX-512 VNNI: the prefill microkernels (vpdpbusd on 16 rows at once); decode's vec_dot, the
// quantisers and the float helpers are the AVX2 ones (decode is bound by memory bandwidth).
static const ck_kernel_set avx512vnni_set = {
    .name = "avx512vnni",
    CK_AVX2_ENTRIES,
    CK_GEMM_ENTRIES(ck_avx512),
    CK_ROW_ENTRIES(ck_avx2, ck_avx512),
    CK_FGEMM_ENTRIES(ck_avx2),   // no AVX-512 tile yet: the AVX2 one
};
#endif

#if defined(__aarch64__)
#define CK_NEON_QUANTIZE                                                                           \
    .quantize = {                                                                                  \
        CK_COMMON_ENTRIES,                                                                         \
        [CK_F16] = ck_neon_quantize_f16,                                                           \
        [CK_BF16] = ck_neon_quantize_bf16,                                                         \
        [CK_Q8_0] = ck_neon_quantize_q8_0,                                                         \
        [CK_Q8_1] = ck_neon_quantize_q8_1,                                                         \
        [CK_Q8_K] = ck_neon_quantize_q8_K,                                                         \
    },                                                                                             \
    .dot_f32 = ck_neon_dot_f32, .axpy_f32 = ck_neon_axpy_f32

static const ck_kernel_set neon_set = {
    .name = "neon",
    .vec_dot = {
        [CK_F32] = ck_neon_vec_dot_f32,
        [CK_F16] = ck_neon_vec_dot_f16,
        [CK_BF16] = ck_neon_vec_dot_bf16,
        [CK_Q4_0] = ck_neon_vec_dot_q4_0,
        [CK_Q4_1] = ck_neon_vec_dot_q4_1,
        [CK_Q5_0] = ck_neon_vec_dot_q5_0,
        [CK_Q5_1] = ck_neon_vec_dot_q5_1,
        [CK_Q8_0] = ck_neon_vec_dot_q8_0,
        [CK_Q8_1] = ck_scalar_vec_dot_q8_1,
        [CK_Q4_K] = ck_neon_vec_dot_q4_K,
        [CK_Q5_K] = ck_neon_vec_dot_q5_K,
        [CK_Q6_K] = ck_neon_vec_dot_q6_K,
        [CK_Q8_K] = ck_scalar_vec_dot_q8_K,
    },
    CK_NEON_QUANTIZE,
    CK_GEMM_ENTRIES(ck_neon),
    CK_ROW_ENTRIES(ck_neon, ck_neon),
    CK_FGEMM_ENTRIES(ck_neon),
};

static const ck_kernel_set dotprod_set = {
    .name = "neon-dotprod",
    .vec_dot = {
        [CK_F32] = ck_neon_vec_dot_f32,
        [CK_F16] = ck_neon_vec_dot_f16,
        [CK_BF16] = ck_neon_vec_dot_bf16,
        [CK_Q4_0] = ck_dotprod_vec_dot_q4_0,
        [CK_Q4_1] = ck_dotprod_vec_dot_q4_1,
        [CK_Q5_0] = ck_dotprod_vec_dot_q5_0,
        [CK_Q5_1] = ck_dotprod_vec_dot_q5_1,
        [CK_Q8_0] = ck_dotprod_vec_dot_q8_0,
        [CK_Q8_1] = ck_scalar_vec_dot_q8_1,
        [CK_Q4_K] = ck_dotprod_vec_dot_q4_K,
        [CK_Q5_K] = ck_dotprod_vec_dot_q5_K,
        [CK_Q6_K] = ck_dotprod_vec_dot_q6_K,
        [CK_Q8_K] = ck_scalar_vec_dot_q8_K,
    },
    CK_NEON_QUANTIZE,
    CK_GEMM_ENTRIES(ck_dotprod),
    CK_ROW_ENTRIES(ck_neon, ck_neon),
    CK_FGEMM_ENTRIES(ck_neon),
};
#endif

// Sets this binary holds, best first, with the CPU features each one needs.
typedef struct {
    const ck_kernel_set *set;
    unsigned needs;
} ck_set_entry;

static const ck_set_entry simd_sets[] = {
#if defined(__x86_64__)
    {&avx512vnni_set, CK_CPU_AVX2 | CK_CPU_AVX512 | CK_CPU_AVX512VNNI},
    {&avx2_set, CK_CPU_AVX2},
#endif
#if defined(__aarch64__)
    {&dotprod_set, CK_CPU_NEON | CK_CPU_DOTPROD},
    {&neon_set, CK_CPU_NEON},
#endif
    {NULL, 0},
};

const ck_kernel_set *ck_kernels_select(unsigned allowed) {
    const unsigned have = ck_cpu_features() & allowed;
    for (const ck_set_entry *e = simd_sets; e->set; ++e)
        if ((e->needs & have) == e->needs) return e->set;
    return ck_kernels_scalar();
}

int ck_kernels_available(const ck_kernel_set **out, int max) {
    int count = 0;
    if (count < max) out[count++] = ck_kernels_scalar();
    const unsigned have = ck_cpu_features();
    // report in ascending order of capability after scalar
    int nsets = 0;
    while (simd_sets[nsets].set) ++nsets;
    for (int k = nsets - 1; k >= 0 && count < max; --k)
        if ((simd_sets[k].needs & have) == simd_sets[k].needs) out[count++] = simd_sets[k].set;
    return count;
}

void ck_gemv(const ck_kernel_set *ks, ck_type type, int64_t n, const void *w, size_t row_bytes,
             int64_t rows, const void *a, float *out) {
    if ((unsigned)type >= CK_TYPE_COUNT) return;
    const ck_vec_dot_fn dot = ks->vec_dot[type];
    if (!dot) return;
    const uint8_t *wr = w;
    for (int64_t r = 0; r < rows; ++r) out[r] = dot(n, wr + (size_t)r * row_bytes, a);
}

// Fewest tokens for which ck_gemm uses a set's microkernel rather than vec_dot tiles: below these
// the unpacking of each weight panel is not repaid (measured with Cross/kernel_bench.c --tokens N
// on AVX2 and AVX-512 VNNI; the K-quants' panels cost more to build).
static int gemm_min_tokens(ck_type type) {
    switch (type) {
    case CK_Q4_K: case CK_Q5_K: return 3;
    case CK_Q6_K: return 4;
    default: return 2;
    }
}

void ck_gemm(const ck_kernel_set *ks, ck_type type, int64_t n, const void *w, size_t row_bytes,
             int64_t rows, const void *a, size_t a_stride, int64_t ntok, float *out, int64_t out_stride) {
    if ((unsigned)type >= CK_TYPE_COUNT) return;
    const ck_vec_dot_fn dot = ks->vec_dot[type];
    if (!dot || rows <= 0 || ntok <= 0) return;
    if (ntok == 1) {
        ck_gemv(ks, type, n, w, row_bytes, rows, a, out);
        return;
    }
    if (ks->gemm[type] && ntok >= gemm_min_tokens(type)) {
        ks->gemm[type](n, w, row_bytes, rows, a, a_stride, ntok, out, out_stride);
        return;
    }
    // Tiles: a weight tile of up to 16 rows (about 16 KiB, L1) is walked for every token of an
    // activation tile (about 128 KiB, L2), so each weight block is fetched from memory once per
    // activation tile instead of once per token.
    const size_t rb = row_bytes ? row_bytes : 1, ab = a_stride ? a_stride : 1;
    int64_t rt = (int64_t)((16u << 10) / rb);
    rt = rt < 1 ? 1 : (rt > 16 ? 16 : rt);
    int64_t tt = (int64_t)((128u << 10) / ab);
    tt = tt < 1 ? 1 : (tt > ntok ? ntok : tt);
    const uint8_t *wb = w, *abase = a;
    for (int64_t t0 = 0; t0 < ntok; t0 += tt) {
        const int64_t t1 = t0 + tt < ntok ? t0 + tt : ntok;
        for (int64_t r0 = 0; r0 < rows; r0 += rt) {
            const int64_t r1 = r0 + rt < rows ? r0 + rt : rows;
            for (int64_t t = t0; t < t1; ++t) {
                const void *at = abase + (size_t)t * a_stride;
                float *o = out + t * out_stride;
                for (int64_t r = r0; r < r1; ++r) o[r] = dot(n, wb + (size_t)r * row_bytes, at);
            }
        }
    }
}

// ---- the gemm microkernel driver -----------------------------------------------------------------

const uint8_t ck_zero_block[512] = {0};

void ck_gemm_drive(const ck_gemm_ops *ops, int64_t n, const void *w, size_t row_bytes, int64_t rows, const void *a,
                   size_t a_stride, int64_t ntok, float *out, int64_t out_stride) {
    if (rows <= 0 || ntok <= 0) return;
    const int64_t nb = n / ops->blk;
    if (nb <= 0) {   // an empty dot product is 0, as vec_dot says
        for (int64_t t = 0; t < ntok; ++t)
            for (int64_t r = 0; r < rows; ++r) out[t * out_stride + r] = 0.0f;
        return;
    }
    _Alignas(64) uint8_t panel[CK_GEMM_PANEL_BYTES];
    _Alignas(64) uint8_t aux[CK_GEMM_AUX_BYTES];
    // K chunks of equal size whose panel fits the buffer
    int64_t kmax = CK_GEMM_PANEL_BYTES / ops->panel_block_bytes;
    if (ops->aux_block_bytes && kmax * ops->aux_block_bytes * 16 > CK_GEMM_AUX_BYTES)
        kmax = CK_GEMM_AUX_BYTES / (ops->aux_block_bytes * 16);   // leave room for >= 16 tokens of aux
    if (kmax < 1) kmax = 1;
    const int64_t nchunks = (nb + kmax - 1) / kmax;
    int64_t kcb = (nb + nchunks - 1) / nchunks;
    if (ops->kc_blocks) kcb = ops->kc_blocks < nb ? ops->kc_blocks : nb;   // the float order's chunks
    // token tiles: all tokens at once unless the aux buffer limits them (then tiles of equal size,
    // multiples of 8 where possible)
    int64_t tt = ntok;
    if (ops->aux_block_bytes) {
        const int64_t cap = CK_GEMM_AUX_BYTES / (ops->aux_block_bytes * kcb);
        if (tt > cap) {
            const int64_t ntiles = (ntok + cap - 1) / cap;
            tt = (ntok + ntiles - 1) / ntiles;
            tt = (tt + 7) & ~(int64_t)7;
            if (tt > cap) tt = cap;
        }
    }
    const uint8_t *wb = w, *ab = a;
    for (int64_t b0 = 0; b0 < nb; b0 += kcb) {
        const int nbk = (int)(b0 + kcb <= nb ? kcb : nb - b0);
        for (int64_t t0 = 0; t0 < ntok; t0 += tt) {
            const int nt = (int)(t0 + tt <= ntok ? tt : ntok - t0);
            const uint8_t *at = ab + (size_t)t0 * a_stride;
            if (ops->aux_block_bytes) ops->aux(at, a_stride, nt, b0, nbk, aux);
            for (int64_t r0 = 0; r0 < rows; r0 += ops->mr) {
                const int nr = (int)(r0 + ops->mr <= rows ? ops->mr : rows - r0);
                ops->pack(wb + (size_t)r0 * row_bytes, row_bytes, nr, b0, nbk, panel);
                ops->compute(panel, nr, at, a_stride, aux, nt, b0, nbk, out + t0 * out_stride + r0, out_stride, b0 > 0);
            }
        }
    }
}

// ---- repacked layouts (CKRepack.h): which kernels go with which set --------------------------------
//
// Each set's repacked kernels keep that set's float order, so they replace its native gemv / gemm
// bit for bit. The scalar set has none (its Q4_0 vec_dot sums in a different order).
#include "ck_repack_internal.h"

// The q4_Kx8 kernel of the avx512vnni set is the AVX2 one: that set's Q4_K vec_dot is AVX2's.
//
// `pays`: q4_0x8 took Q4_0 decode from 82 to 101 tok/s (1 thread, avx512vnni). q4_Kx8 does not pay
// on x86 (Benchmarks/RESULTS.md, 2026-11-23): the native Q4_K vec_dot already works on 256-column
// super-blocks, and the broadcast-by-4-bytes kernel needs more instructions per product (AVX2
// decode 67.7 vs 87.0 tok/s at 1 thread; prefill 1217 vs 1438 tok/s against the AVX-512
// microkernel). Its ARM kernels are tested bit for bit under qemu but have not been timed on a
// board, so they stay opt-in too (`--repack-all`) until they are.
#if defined(__x86_64__)
static const ck_rp_kernels rp_avx2_q4_0 = {"q4_0x8/avx2", CK_Q4_0, CK_RP_Q4_0_ROWS, ck_avx2_rp_gemm_q4_0, 1};
static const ck_rp_kernels rp_avx512_q4_0 = {"q4_0x8/avx512vnni", CK_Q4_0, CK_RP_Q4_0_ROWS, ck_avx512_rp_gemm_q4_0, 1};
static const ck_rp_kernels rp_avx2_q4_K = {"q4_Kx8/avx2", CK_Q4_K, CK_RP_Q4_K_ROWS, ck_avx2_rp_gemm_q4_K, 0};
#endif
#if defined(__aarch64__)
static const ck_rp_kernels rp_neon_q4_0 = {"q4_0x8/neon", CK_Q4_0, CK_RP_Q4_0_ROWS, ck_neon_rp_gemm_q4_0, 1};
static const ck_rp_kernels rp_dotprod_q4_0 = {"q4_0x8/neon-dotprod", CK_Q4_0, CK_RP_Q4_0_ROWS, ck_dotprod_rp_gemm_q4_0, 1};
static const ck_rp_kernels rp_neon_q4_K = {"q4_Kx8/neon", CK_Q4_K, CK_RP_Q4_K_ROWS, ck_neon_rp_gemm_q4_K, 0};
static const ck_rp_kernels rp_dotprod_q4_K = {"q4_Kx8/neon-dotprod", CK_Q4_K, CK_RP_Q4_K_ROWS, ck_dotprod_rp_gemm_q4_K, 0};
#endif

const ck_rp_kernels *ck_rp_select(const ck_kernel_set *ks, ck_type type) {
    if (!ks || (type != CK_Q4_0 && type != CK_Q4_K)) return NULL;
    const int k = type == CK_Q4_K;
#if defined(__x86_64__)
    if (ks == &avx2_set) return k ? &rp_avx2_q4_K : &rp_avx2_q4_0;
    if (ks == &avx512vnni_set) return k ? &rp_avx2_q4_K : &rp_avx512_q4_0;
#endif
#if defined(__aarch64__)
    if (ks == &neon_set) return k ? &rp_neon_q4_K : &rp_neon_q4_0;
    if (ks == &dotprod_set) return k ? &rp_dotprod_q4_K : &rp_dotprod_q4_0;
#endif
    return NULL;
}
