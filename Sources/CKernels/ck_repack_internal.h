// Internal to CKernels: prototypes of the kernels over the repacked layouts (CKRepack.h), one
// block per architecture, so dispatch.c can pair them with the kernel sets.
#ifndef CK_REPACK_INTERNAL_H
#define CK_REPACK_INTERNAL_H

#include "ck_internal.h"

#if defined(__x86_64__)
// x86_avx2_repack.c (used by the avx2 and avx512vnni sets)
void ck_avx2_rp_gemm_q4_0(int64_t n, const void *w, int64_t rows, const void *a, size_t a_stride, int64_t ntok,
                          float *out, int64_t out_stride);
void ck_avx2_rp_gemm_q4_K(int64_t n, const void *w, int64_t rows, const void *a, size_t a_stride, int64_t ntok,
                          float *out, int64_t out_stride);
// x86_avx512_repack.c (the avx512vnni set)
void ck_avx512_rp_gemm_q4_0(int64_t n, const void *w, int64_t rows, const void *a, size_t a_stride, int64_t ntok,
                            float *out, int64_t out_stride);
#endif

#if defined(__aarch64__)
// arm_neon_repack.c: plain NEON (ARMv8.0) and SDOT (ARMv8.2 dotprod) versions
void ck_neon_rp_gemm_q4_0(int64_t n, const void *w, int64_t rows, const void *a, size_t a_stride, int64_t ntok,
                          float *out, int64_t out_stride);
void ck_dotprod_rp_gemm_q4_0(int64_t n, const void *w, int64_t rows, const void *a, size_t a_stride, int64_t ntok,
                             float *out, int64_t out_stride);
void ck_neon_rp_gemm_q4_K(int64_t n, const void *w, int64_t rows, const void *a, size_t a_stride, int64_t ntok,
                          float *out, int64_t out_stride);
void ck_dotprod_rp_gemm_q4_K(int64_t n, const void *w, int64_t rows, const void *a, size_t a_stride, int64_t ntok,
                             float *out, int64_t out_stride);
#endif

#endif
