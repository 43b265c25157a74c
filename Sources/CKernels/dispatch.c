// Kernel sets, run-time selection, the row loops (gemv / gemm) over a set's vec_dot, and the
// driver of the gemm microkernels.
#include "ck_internal.h"

// Kernel sets list only the kernels they improve; `ck_kernel_set_complete` fills every other entry
// from the type traits (scalar.c) and the scalar set, as ggml's arch-fallback does, and every set is
// completed and checked once, before the first one is handed out.

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

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

// The activation quantisers and F16 / BF16 conversions of a set (the storage quantisers and the F32
// copy are the traits' scalar ones).
#define CK_QUANTIZE_ENTRIES(prefix)                                                                \
    .quantize = {                                                                                  \
        [CK_F16] = prefix##_quantize_f16, [CK_BF16] = prefix##_quantize_bf16,                      \
        [CK_Q8_0] = prefix##_quantize_q8_0, [CK_Q8_1] = prefix##_quantize_q8_1,                    \
        [CK_Q8_K] = prefix##_quantize_q8_K,                                                        \
    },                                                                                             \
    .dot_f32 = prefix##_dot_f32, .axpy_f32 = prefix##_axpy_f32

// The dot products of the float types and of the weight types models store (Q8_1 and Q8_K as
// weights are the traits' scalar ones: no model stores them).
#define CK_VEC_DOT_ENTRIES(fp, q)                                                                  \
    .vec_dot = {                                                                                   \
        [CK_F32] = fp##_vec_dot_f32, [CK_F16] = fp##_vec_dot_f16, [CK_BF16] = fp##_vec_dot_bf16,   \
        [CK_Q4_0] = q##_vec_dot_q4_0, [CK_Q4_1] = q##_vec_dot_q4_1, [CK_Q5_0] = q##_vec_dot_q5_0,  \
        [CK_Q5_1] = q##_vec_dot_q5_1, [CK_Q8_0] = q##_vec_dot_q8_0, [CK_Q4_K] = q##_vec_dot_q4_K,  \
        [CK_Q5_K] = q##_vec_dot_q5_K, [CK_Q6_K] = q##_vec_dot_q6_K,                                \
    }

#if defined(__x86_64__)
static ck_kernel_set avx2_set = {
    .name = "avx2",
    CK_VEC_DOT_ENTRIES(ck_avx2, ck_avx2),
    CK_QUANTIZE_ENTRIES(ck_avx2),
    CK_GEMM_ENTRIES(ck_avx2),
    CK_ROW_ENTRIES(ck_avx2, ck_avx2),
    CK_FGEMM_ENTRIES(ck_avx2),
    CK_ROW_KERNEL_ENTRIES(ck_avx2),
};

// AVX-512 VNNI: the prefill microkernels (vpdpbusd on 16 rows at once); decode's vec_dot, the
// quantisers and the float helpers are the AVX2 ones (decode is bound by memory bandwidth).
static ck_kernel_set avx512vnni_set = {
    .name = "avx512vnni",
    CK_VEC_DOT_ENTRIES(ck_avx2, ck_avx2),
    CK_QUANTIZE_ENTRIES(ck_avx2),
    CK_GEMM_ENTRIES(ck_avx512),
    CK_ROW_ENTRIES(ck_avx2, ck_avx512),
    CK_FGEMM_ENTRIES(ck_avx2),   // no AVX-512 tile yet: the AVX2 one
    CK_ROW_KERNEL_ENTRIES(ck_avx2),
};
#endif

#if defined(__aarch64__)
static ck_kernel_set neon_set = {
    .name = "neon",
    CK_VEC_DOT_ENTRIES(ck_neon, ck_neon),
    CK_QUANTIZE_ENTRIES(ck_neon),
    CK_GEMM_ENTRIES(ck_neon),
    CK_ROW_ENTRIES(ck_neon, ck_neon),
    CK_FGEMM_ENTRIES(ck_neon),
    CK_ROW_KERNEL_ENTRIES(ck_neon),
};

static ck_kernel_set dotprod_set = {
    .name = "neon-dotprod",
    CK_VEC_DOT_ENTRIES(ck_neon, ck_dotprod),
    CK_QUANTIZE_ENTRIES(ck_neon),
    CK_GEMM_ENTRIES(ck_dotprod),
    CK_ROW_ENTRIES(ck_neon, ck_neon),
    CK_FGEMM_ENTRIES(ck_neon),
    CK_ROW_KERNEL_ENTRIES(ck_neon),
};
#endif

// Sets this binary holds, best first, with the CPU features each one needs.
typedef struct {
    ck_kernel_set *set;
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

void ck_kernel_set_complete(ck_kernel_set *set) {
    const ck_kernel_set *fallback = &ck_scalar_set;
    for (int t = 0; t < CK_TYPE_COUNT; ++t) {
        const ck_type_traits *tr = ck_get_type_traits((ck_type)t);
        if (!tr) continue;
        if (!set->vec_dot[t]) set->vec_dot[t] = tr->vec_dot;
        if (!set->quantize[t]) set->quantize[t] = tr->from_float;
        if (!set->row_dot[t]) set->row_dot[t] = tr->row_dot;
        if (!set->row_axpy[t]) set->row_axpy[t] = tr->row_axpy;
        if (!set->rows_dot[t]) set->rows_dot[t] = tr->rows_dot;
        if (!set->rows_mix[t]) set->rows_mix[t] = tr->rows_mix;
        if (!set->fgemm[t]) set->fgemm[t] = tr->fgemm;
    }
    if (set != fallback) {
        if (!set->dot_f32) set->dot_f32 = fallback->dot_f32;
        if (!set->axpy_f32) set->axpy_f32 = fallback->axpy_f32;
        if (!set->round_f16) set->round_f16 = fallback->round_f16;
        if (!set->fgemm_kn) set->fgemm_kn = fallback->fgemm_kn;
        if (!set->max_f32) set->max_f32 = fallback->max_f32;
        if (!set->exp_shift) set->exp_shift = fallback->exp_shift;
        if (!set->gelu_tanh) set->gelu_tanh = fallback->gelu_tanh;
        if (!set->layer_norm) set->layer_norm = fallback->layer_norm;
        if (!set->add_f32) set->add_f32 = fallback->add_f32;
    }
    if (!set->name) set->name = "custom";
}

const char *ck_kernel_set_missing(const ck_kernel_set *set) {
    static _Thread_local char what[48];
    if (!set->dot_f32) return "dot_f32";
    if (!set->axpy_f32) return "axpy_f32";
    if (!set->round_f16) return "round_f16";
    if (!set->fgemm_kn) return "fgemm_kn";
    if (!set->max_f32) return "max_f32";
    if (!set->exp_shift) return "exp_shift";
    if (!set->gelu_tanh) return "gelu_tanh";
    if (!set->layer_norm) return "layer_norm";
    if (!set->add_f32) return "add_f32";
    for (int t = 0; t < CK_TYPE_COUNT; ++t) {
        const ck_type_traits *tr = ck_get_type_traits((ck_type)t);
        if (!tr) continue;
        const char *field = !set->vec_dot[t] ? "vec_dot" : !set->quantize[t] ? "quantize" : NULL;
        if (!field && tr->row_dot)
            field = !set->row_dot[t] ? "row_dot" : !set->row_axpy[t] ? "row_axpy"
                  : !set->rows_dot[t] ? "rows_dot" : !set->rows_mix[t] ? "rows_mix" : NULL;
        if (!field && tr->fgemm && !set->fgemm[t]) field = "fgemm";
        if (field) {
            snprintf(what, sizeof what, "%s[%s]", field, tr->name);
            return what;
        }
    }
    return NULL;
}

// Completes and checks every set once. A set that lacks an entry after completion is a build
// error of this library, so it stops the process with a message rather than run without a kernel.
static void complete_all_sets(void) {
    ck_kernel_set_complete(&ck_scalar_set);
    const char *missing = ck_kernel_set_missing(&ck_scalar_set);
    for (const ck_set_entry *e = simd_sets; !missing && e->set; ++e) {
        ck_kernel_set_complete(e->set);
        missing = ck_kernel_set_missing(e->set);
        if (missing) fprintf(stderr, "CKernels: kernel set %s has no %s\n", e->set->name, missing);
    }
    if (missing) abort();
}

static pthread_once_t sets_once = PTHREAD_ONCE_INIT;
static void ensure_sets(void) { pthread_once(&sets_once, complete_all_sets); }

const ck_kernel_set *ck_kernels_scalar(void) {
    ensure_sets();
    return &ck_scalar_set;
}

const ck_kernel_set *ck_kernels_select(unsigned allowed) {
    ensure_sets();
    const unsigned have = ck_cpu_features() & allowed;
    for (const ck_set_entry *e = simd_sets; e->set; ++e)
        if ((e->needs & have) == e->needs) return e->set;
    return &ck_scalar_set;
}

int ck_kernels_available(const ck_kernel_set **out, int max) {
    ensure_sets();
    int count = 0;
    if (count < max) out[count++] = &ck_scalar_set;
    const unsigned have = ck_cpu_features();
    // report in ascending order of capability after scalar
    int nsets = 0;
    while (simd_sets[nsets].set) ++nsets;
    for (int k = nsets - 1; k >= 0 && count < max; --k)
        if ((simd_sets[k].needs & have) == simd_sets[k].needs) out[count++] = simd_sets[k].set;
    return count;
}

// ---- accessors (Swift reads a set through these, never through field offsets) ----------------------

#define CK_ACCESSOR(type_, field)                                                                  \
    type_ ck_set_##field(const ck_kernel_set *ks, ck_type t) {                                     \
        return (unsigned)t < CK_TYPE_COUNT ? ks->field[t] : NULL;                                  \
    }
CK_ACCESSOR(ck_vec_dot_fn, vec_dot)
CK_ACCESSOR(ck_quantize_fn, quantize)
CK_ACCESSOR(ck_gemm_fn, gemm)
CK_ACCESSOR(ck_vec_dot_fn, row_dot)
CK_ACCESSOR(ck_row_axpy_fn, row_axpy)
CK_ACCESSOR(ck_rows_dot_fn, rows_dot)
CK_ACCESSOR(ck_rows_mix_fn, rows_mix)
CK_ACCESSOR(ck_fgemm_fn, fgemm)

void ck_set_put_vec_dot(ck_kernel_set *ks, ck_type t, ck_vec_dot_fn fn) {
    if ((unsigned)t < CK_TYPE_COUNT) ks->vec_dot[t] = fn;
}

// A kernel set with no kernels of its own is a programming error; so is a type without traits.
__attribute__((noreturn)) static void no_kernel(const ck_kernel_set *ks, ck_type type) {
    fprintf(stderr, "CKernels: kernel set %s has no dot product for type %d\n", ks->name, (int)type);
    abort();
}

void ck_gemv(const ck_kernel_set *ks, ck_type type, int64_t n, const void *w, size_t row_bytes,
             int64_t rows, const void *a, float *out) {
    const ck_vec_dot_fn dot = ck_set_vec_dot(ks, type);
    if (!dot) no_kernel(ks, type);
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
    const ck_vec_dot_fn dot = ck_set_vec_dot(ks, type);
    if (!dot) no_kernel(ks, type);
    if (rows <= 0 || ntok <= 0) return;
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
