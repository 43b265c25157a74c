// The blocking of rows_dot / rows_mix (CKernels.h, "KV cache rows") shared by x86_avx2_attn.c,
// x86_avx512_attn.c and arm_neon_attn.c. Each of those files defines, for its vector width,
//   dot_tile(nq, nr, f16, n, q, q_stride, row, row_stride, scale, s, s_stride): nq <= QB queries
//       against nr <= RB rows, s[i * s_stride + r] = scale * dot(query i, row r);
//   mix_span(nq, f16, n, p, p_stride, rows, row_stride, nrows, y, y_stride): nq <= QB outputs,
//       all n elements, every row;
// and the constants QB and RB, then sets CK_ATTN_ATTR (its target attribute, or nothing) and
// CK_ATTN_PREFIX (ck_avx2, ...) and includes this file, which defines the loops over blocks of
// queries and rows (each tile call with constant counts, so the tiles unroll into registers) and
// the four entry points PREFIX_f16_rows_dot, PREFIX_f32_rows_dot, PREFIX_f16_rows_mix,
// PREFIX_f32_rows_mix.
#define CK_ATTN_CAT2(a, b) a##b
#define CK_ATTN_CAT(a, b) CK_ATTN_CAT2(a, b)
#define CK_ATTN_FN(name) CK_ATTN_CAT(CK_ATTN_PREFIX, name)

// One query block against every row: pairs of rows, then the last odd row.
#define CK_ATTN_DOT_TILES(nr)                                                                                   \
    switch (qn) {                                                                                               \
    case 4: dot_tile(4, nr, f16, n, qi, q_stride, r, row_stride, scale, si + j, s_stride); break;               \
    case 3: dot_tile(3, nr, f16, n, qi, q_stride, r, row_stride, scale, si + j, s_stride); break;               \
    case 2: dot_tile(2, nr, f16, n, qi, q_stride, r, row_stride, scale, si + j, s_stride); break;               \
    default: dot_tile(1, nr, f16, n, qi, q_stride, r, row_stride, scale, si + j, s_stride); break;              \
    }

CK_ATTN_ATTR CK_INLINE void rows_dot(const int f16, int64_t n, int64_t nq, const float *q, int64_t q_stride,
                                     const void *rows, size_t row_stride, int64_t nrows, float scale, float *s,
                                     int64_t s_stride) {
    _Static_assert(QB == 4, "the tile switches cover 1 to 4 queries");
    for (int64_t i0 = 0; i0 < nq; i0 += QB) {
        const int qn = nq - i0 < QB ? (int)(nq - i0) : QB;
        const float *qi = q + i0 * q_stride;
        float *si = s + i0 * s_stride;
        int64_t j = 0;
        for (; j + RB <= nrows; j += RB) {
            const uint8_t *r = (const uint8_t *)rows + (size_t)j * row_stride;
            CK_ATTN_DOT_TILES(RB)
        }
        for (; j < nrows; ++j) {
            const uint8_t *r = (const uint8_t *)rows + (size_t)j * row_stride;
            CK_ATTN_DOT_TILES(1)
        }
    }
}

CK_ATTN_ATTR CK_INLINE void rows_mix(const int f16, int64_t n, int64_t nq, const float *p, int64_t p_stride,
                                     const void *rows, size_t row_stride, int64_t nrows, float *y, int64_t y_stride) {
    for (int64_t i0 = 0; i0 < nq; i0 += QB) {
        const int qn = nq - i0 < QB ? (int)(nq - i0) : QB;
        const float *pi = p + i0 * p_stride;
        float *yi = y + i0 * y_stride;
        switch (qn) {
        case 4: mix_span(4, f16, n, pi, p_stride, rows, row_stride, nrows, yi, y_stride); break;
        case 3: mix_span(3, f16, n, pi, p_stride, rows, row_stride, nrows, yi, y_stride); break;
        case 2: mix_span(2, f16, n, pi, p_stride, rows, row_stride, nrows, yi, y_stride); break;
        default: mix_span(1, f16, n, pi, p_stride, rows, row_stride, nrows, yi, y_stride); break;
        }
    }
}

CK_ATTN_ATTR void CK_ATTN_FN(_f16_rows_dot)(int64_t n, int64_t nq, const float *q, int64_t q_stride, const void *rows,
                                            size_t row_stride, int64_t nrows, float scale, float *s, int64_t s_stride) {
    rows_dot(1, n, nq, q, q_stride, rows, row_stride, nrows, scale, s, s_stride);
}

CK_ATTN_ATTR void CK_ATTN_FN(_f32_rows_dot)(int64_t n, int64_t nq, const float *q, int64_t q_stride, const void *rows,
                                            size_t row_stride, int64_t nrows, float scale, float *s, int64_t s_stride) {
    rows_dot(0, n, nq, q, q_stride, rows, row_stride, nrows, scale, s, s_stride);
}

CK_ATTN_ATTR void CK_ATTN_FN(_f16_rows_mix)(int64_t n, int64_t nq, const float *p, int64_t p_stride, const void *rows,
                                            size_t row_stride, int64_t nrows, float *y, int64_t y_stride) {
    rows_mix(1, n, nq, p, p_stride, rows, row_stride, nrows, y, y_stride);
}

CK_ATTN_ATTR void CK_ATTN_FN(_f32_rows_mix)(int64_t n, int64_t nq, const float *p, int64_t p_stride, const void *rows,
                                            size_t row_stride, int64_t nrows, float *y, int64_t y_stride) {
    rows_mix(0, n, nq, p, p_stride, rows, row_stride, nrows, y, y_stride);
}

#undef CK_ATTN_DOT_TILES
#undef CK_ATTN_FN
#undef CK_ATTN_CAT
#undef CK_ATTN_CAT2
