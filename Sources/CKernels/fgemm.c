// Float matrix products (CKernels.h, "Float matrix products"): the scalar reference of fgemm /
// fgemm_kn, and the blocked driver every SIMD set runs its register tile through.
//
// The driver is the classic one of BLIS-style gemm: the matrix B (the weights, read row-major as
// W[col][k], or a k-major f32 block such as attention's values) is taken in chunks of KC values of
// k and NC columns, each chunk laid out once as panels of nr columns [k][nr] in f32 (the f16 rows
// converted on the way), and every block of mr activation rows then runs against every panel with
// mr x nr sums held in registers. A k-major f32 B whose panel is whole is read in place (no copy).
// Edges (fewer than mr rows of a, fewer than nr columns) go through zero-padded stack tiles.
#include "ck_internal.h"

// A chunk of B is KC x NC floats (192 KiB), kept in L2 while every row of a passes it: the a
// operand streams from memory once per chunk, so wide chunks read it fewer times (NC 64 -> 192 took
// the encoder's f16 products from 42-45 to 71-79 GFLOP/s on one thread, Benchmarks/RESULTS.md).
// fgemm_kn's B is attention's packed panels, read in place in chunks of NC_KN columns.
enum { KC = 256, NC = 192, NC_KN = 64 };

static void fgemm_scalar(int f16, int64_t n, const float *a, int64_t a_stride, int64_t ntok, const void *w,
                         size_t row_bytes, int64_t rows, float *out, int64_t out_stride, int accumulate) {
    for (int64_t t = 0; t < ntok; ++t)
        for (int64_t r = 0; r < rows; ++r) {
            const uint8_t *row = (const uint8_t *)w + (size_t)r * row_bytes;
            float s = 0.0f;
            for (int64_t k = 0; k < n; ++k)
                s += a[t * a_stride + k] * (f16 ? ck_h2f(ck_rd_u16(row + 2 * k)) : ck_rd_f32(row + 4 * k));
            out[t * out_stride + r] = accumulate ? out[t * out_stride + r] + s : s;
        }
}

void ck_scalar_fgemm_f32(int64_t n, const float *a, int64_t a_stride, int64_t ntok, const void *w, size_t row_bytes,
                         int64_t rows, float *out, int64_t out_stride, int accumulate) {
    fgemm_scalar(0, n, a, a_stride, ntok, w, row_bytes, rows, out, out_stride, accumulate);
}

void ck_scalar_fgemm_f16(int64_t n, const float *a, int64_t a_stride, int64_t ntok, const void *w, size_t row_bytes,
                         int64_t rows, float *out, int64_t out_stride, int accumulate) {
    fgemm_scalar(1, n, a, a_stride, ntok, w, row_bytes, rows, out, out_stride, accumulate);
}

void ck_scalar_fgemm_kn(int64_t n, const float *a, int64_t a_stride, int64_t ntok, const float *b, int64_t b_stride,
                        int64_t cols, float *out, int64_t out_stride, int accumulate) {
    for (int64_t t = 0; t < ntok; ++t)
        for (int64_t c = 0; c < cols; ++c) {
            float s = 0.0f;
            for (int64_t k = 0; k < n; ++k) s += a[t * a_stride + k] * b[k * b_stride + c];
            out[t * out_stride + c] = accumulate ? out[t * out_stride + c] + s : s;
        }
}

// Lays out columns c0 ..< c0 + nc (nc <= nr) and k values k0 ..< k0 + kc of B as one panel
// [kc][nr], zero past nc. layout 0: B(k, c) = row c of W (f32 or f16, row_bytes apart);
// layout 1: B(k, c) = b[k * b_stride + c] (f32).
static void pack(const ck_fgemm_ops *ops, int layout, int f16, const void *b, size_t b_stride, int64_t c0, int nc,
                 int64_t k0, int kc, float *panel) {
    const int nr = ops->nr;
    if (nc < nr)
        for (int k = 0; k < kc; ++k)
            for (int c = nc; c < nr; ++c) panel[k * nr + c] = 0.0f;
    if (layout == 1) {
        const float *src = (const float *)b + k0 * (int64_t)b_stride + c0;
        for (int k = 0; k < kc; ++k) memcpy(panel + k * nr, src + k * (int64_t)b_stride, (size_t)nc * 4);
        return;
    }
    float row[KC];
    for (int c = 0; c < nc; ++c) {
        const uint8_t *src = (const uint8_t *)b + (size_t)(c0 + c) * b_stride;
        const float *v;
        if (f16) {
            ops->f16_to_f32((const uint16_t *)(const void *)(src + 2 * k0), row, kc);
            v = row;
        } else {
            memcpy(row, src + 4 * k0, (size_t)kc * 4);
            v = row;
        }
        for (int k = 0; k < kc; ++k) panel[k * nr + c] = v[k];
    }
}

// The driver with chunks of at most nc_max columns laid out in `panels` (KC x nc_max floats).
static void drive(const ck_fgemm_ops *ops, int layout, int f16, int64_t n, const float *a, int64_t a_stride,
                  int64_t ntok, const void *b, size_t b_stride, int64_t cols, float *out, int64_t out_stride,
                  int accumulate, const int nc_max, float *panels) {
    if (n <= 0) {   // an empty sum is 0
        if (!accumulate)
            for (int64_t t = 0; t < ntok; ++t)
                for (int64_t c = 0; c < cols; ++c) out[t * out_stride + c] = 0.0f;
        return;
    }
    const int mr = ops->mr, nr = ops->nr;
    _Alignas(64) float atile[CK_FGEMM_MAX_MR * KC];
    _Alignas(64) float ctile[CK_FGEMM_MAX_MR * CK_FGEMM_MAX_NR];
    const float *bp[NC / 4];
    int64_t ldb[NC / 4];
    for (int64_t c0 = 0; c0 < cols; c0 += nc_max) {
        const int nc = (int)(cols - c0 < nc_max ? cols - c0 : nc_max);
        const int npanels = (nc + nr - 1) / nr;
        for (int64_t k0 = 0; k0 < n; k0 += KC) {
            const int kc = (int)(n - k0 < KC ? n - k0 : KC);
            const int acc = accumulate || k0 > 0;
            for (int j = 0; j < npanels; ++j) {
                const int cj = nc - j * nr < nr ? nc - j * nr : nr;
                if (layout == 1 && cj == nr) {   // a whole k-major panel is read where it is
                    bp[j] = (const float *)b + k0 * (int64_t)b_stride + c0 + j * nr;
                    ldb[j] = (int64_t)b_stride;
                } else {
                    float *p = panels + (size_t)j * KC * nr;
                    pack(ops, layout, f16, b, b_stride, c0 + j * nr, cj, k0, kc, p);
                    bp[j] = p;
                    ldb[j] = nr;
                }
            }
            for (int64_t t0 = 0; t0 < ntok; t0 += mr) {
                const int mt = (int)(ntok - t0 < mr ? ntok - t0 : mr);
                const float *at = a + t0 * a_stride + k0;
                int64_t lda = a_stride;
                if (mt < mr) {   // the last rows of a, zero-padded to a whole tile
                    for (int t = 0; t < mr; ++t)
                        for (int k = 0; k < kc; ++k) atile[t * KC + k] = t < mt ? at[t * a_stride + k] : 0.0f;
                    at = atile;
                    lda = KC;
                }
                for (int j = 0; j < npanels; ++j) {
                    const int cj = nc - j * nr < nr ? nc - j * nr : nr;
                    float *o = out + t0 * out_stride + c0 + j * nr;
                    if (mt == mr && cj == nr) {
                        ops->tile(kc, at, lda, bp[j], ldb[j], o, out_stride, acc);
                        continue;
                    }
                    for (int t = 0; t < mr; ++t)
                        for (int c = 0; c < nr; ++c)
                            ctile[t * nr + c] = acc && t < mt && c < cj ? o[t * out_stride + c] : 0.0f;
                    ops->tile(kc, at, lda, bp[j], ldb[j], ctile, nr, acc);
                    for (int t = 0; t < mt; ++t)
                        for (int c = 0; c < cj; ++c) o[t * out_stride + c] = ctile[t * nr + c];
                }
            }
        }
    }
}

void ck_fgemm_drive(const ck_fgemm_ops *ops, int layout, int f16, int64_t n, const float *a, int64_t a_stride,
                    int64_t ntok, const void *b, size_t b_stride, int64_t cols, float *out, int64_t out_stride,
                    int accumulate) {
    if (ntok <= 0 || cols <= 0) return;
    if (layout == 0) {   // weight rows: converted into wide chunks
        _Alignas(64) float panels[KC * NC];
        drive(ops, layout, f16, n, a, a_stride, ntok, b, b_stride, cols, out, out_stride, accumulate, NC, panels);
    } else {   // a k-major block: whole panels are read in place, so only partial ones are laid out
        _Alignas(64) float panels[KC * NC_KN];
        drive(ops, layout, f16, n, a, a_stride, ntok, b, b_stride, cols, out, out_stride, accumulate, NC_KN, panels);
    }
}
