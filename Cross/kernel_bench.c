// Single-thread speed of the prefill matrix products (ck_gemm) on the shapes of Gemma 3 270M.
//
//   kernel_bench [--bench-gemm] [--tokens N] [--set NAME] [--min-time SECONDS] [--quick] [--rows-per-call R]
//   kernel_bench --bench-attn [--set NAME]
//   kernel_bench --bench-rows [--set NAME]
//   kernel_bench --bench-fgemm [--set NAME]
//
// For every kernel set this CPU runs (or only --set NAME) and every shape below, times
//   "tiled"  the row x token tiling over the set's vec_dot (what ck_gemm did before the gemm
//            microkernels; kept here as the baseline),
//   "gemm"   ck_gemm, which uses the set's gemm microkernel when it has one for the type,
//   "repacked" for types with a repacked layout (CKRepack.h): the set's repacked kernel over the
//            weights repacked beforehand (as the cached arena holds them),
// with N tokens (default 512) of activations already quantised, best of several runs (thread CPU
// time), and prints GOP/s (2 * rows * n * tokens operations). --rows-per-call R splits each product
// into calls of R rows, as the thread tasks of Kernels/Compute.swift do (2 threads: R = 32 for 256
// rows, 80 for 640, 128 for 1024, 256 for 2048). The last lines weigh the shapes as the 18 blocks of the
// real Gemma 3 270M Q4_K_M file use them: matmul time per prefill token and the tokens per second
// that time alone allows (one thread; attention, norms and the rest not included).
//
// --bench-attn times instead the two fgemm_kn products of one attention work item of the 4B vision
// encoder (96 queries against 4096 keys of a 72-wide head, in steps of 256 keys): keys and values
// as they lie in [patch][1152] rows (the keys transposed, 4096 floats apart) against the packed
// 16-column panels Sources/Vision/VisionAttention.swift lays out (GFLOP/s of the 72 real columns).
//
// --bench-rows times the row kernels (CKernels.h, "Row kernels") at the encoder's shapes, in ns per
// element, and what they cost per image at the 4B size (see bench_rows). --bench-fgemm times one
// thread's task of the encoder's weight products (see bench_fgemm).
//
// Built by hand (see Cross/README.md):
//   gcc -std=c11 -O2 -ffp-contract=off -I Sources/CKernels/include -I Sources/CKernels
//       Sources/CKernels/*.c Cross/kernel_bench.c -lm -o Cross/out/kernel_bench
#define _POSIX_C_SOURCE 200809L
#include "CKernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t g_rng = 0x2545F4914F6CDD1DULL;
static uint64_t rnd64(void) {
    uint64_t z = (g_rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static float rndn(void) {
    float s = 0;
    for (int i = 0; i < 4; ++i) s += (float)(rnd64() >> 40) * (1.0f / 16777216.0f);
    return (s - 2.0f) * 1.7320508f;
}

// Thread CPU time, not wall time: on a shared machine a run preempted by other processes would
// otherwise count their time slices too.
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// The baseline: ck_gemm as it was before the microkernels (weight tiles of up to 16 rows walked
// for every token of an activation tile, one vec_dot per row and token).
static void gemm_tiled(const ck_kernel_set *ks, ck_type type, int64_t n, const void *w, size_t row_bytes, int64_t rows,
                       const void *a, size_t a_stride, int64_t ntok, float *out, int64_t out_stride) {
    const ck_vec_dot_fn dot = ks->vec_dot[type];
    int64_t rt = (int64_t)((16u << 10) / row_bytes);
    rt = rt < 1 ? 1 : (rt > 16 ? 16 : rt);
    int64_t tt = (int64_t)((128u << 10) / a_stride);
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

typedef struct {
    const char *what;
    ck_type type;
    int64_t n, rows;
    int per_token_count;   // how many such matrices the 270M Q4_K_M file runs per token (18 blocks)
} shape;

static const shape shapes[] = {
    {"attn_q", CK_Q5_0, 640, 1024, 18},
    {"attn_k/v", CK_Q5_0, 640, 256, 27},
    {"attn_v", CK_Q8_0, 640, 256, 9},
    {"attn_output", CK_Q4_K, 1024, 640, 18},
    {"ffn_gate/up", CK_Q5_0, 640, 2048, 36},
    {"ffn_down", CK_Q4_K, 2048, 640, 9},
    {"ffn_down", CK_Q6_K, 2048, 640, 9},
    {"q4_0 file: up", CK_Q4_0, 640, 2048, 0},
    {"q4_0 file: down", CK_Q4_0, 2048, 640, 0},
};

typedef void (*gemm_fn)(const ck_kernel_set *, ck_type, int64_t, const void *, size_t, int64_t, const void *, size_t,
                        int64_t, float *, int64_t);

static int64_t g_rows_per_call = 0;   // 0: all rows in one call

// One product, its rows split into calls of g_rows_per_call rows as Kernels/Compute.swift splits
// them into thread tasks.
static void run_gemm(gemm_fn f, const ck_kernel_set *ks, const shape *s, const uint8_t *w, size_t rb, const uint8_t *a,
                     size_t ab, int64_t ntok, float *out) {
    const int64_t step = g_rows_per_call > 0 ? g_rows_per_call : s->rows;
    for (int64_t r0 = 0; r0 < s->rows; r0 += step) {
        const int64_t nr = r0 + step <= s->rows ? step : s->rows - r0;
        f(ks, s->type, s->n, w + (size_t)r0 * rb, rb, nr, a, ab, ntok, out + r0, s->rows);
    }
}

static double time_gemm(gemm_fn f, const ck_kernel_set *ks, const shape *s, const uint8_t *w, size_t rb, const uint8_t *a,
                        size_t ab, int64_t ntok, float *out, double min_time) {
    run_gemm(f, ks, s, w, rb, a, ab, ntok, out);   // warm
    double best = 1e30, spent = 0;
    int reps = 0;
    while (reps < 3 || (spent < min_time && reps < 50)) {
        const double t0 = now_s();
        run_gemm(f, ks, s, w, rb, a, ab, ntok, out);
        const double dt = now_s() - t0;
        spent += dt;
        if (dt < best) best = dt;
        ++reps;
    }
    return best;
}

// The repacked kernels (CKRepack.h) of a set over a repacked matrix, rows split as run_gemm splits
// them (the splits are multiples of 8 rows, as Compute.swift's are).
static double time_repacked(const ck_rp_kernels *rk, const shape *s, const uint8_t *rp, const uint8_t *a, size_t ab,
                            int64_t ntok, float *out, double min_time) {
    const int64_t step = g_rows_per_call > 0 ? g_rows_per_call : s->rows, gb = ck_rp_group_bytes(s->type, s->n);
    double best = 1e30, spent = 0;
    for (int reps = -1; reps < 3 || (spent < min_time && reps < 50); ++reps) {
        const double t0 = now_s();
        for (int64_t r0 = 0; r0 < s->rows; r0 += step) {
            const int64_t nr = r0 + step <= s->rows ? step : s->rows - r0;
            rk->gemm(s->n, rp + r0 / CK_RP_Q4_0_ROWS * gb, nr, a, ab, ntok, out + r0, s->rows);
        }
        const double dt = now_s() - t0;
        if (reps < 0) continue;   // warm
        spent += dt;
        if (dt < best) best = dt;
    }
    return best;
}

static double time_attn(const ck_kernel_set *ks, int form, const float *q, const float *keys, const float *values, float *s,
                        float *o) {
    enum { N = 4096, HD = 72, QB = 96, KB = 256, D = 1152, DP = 80 };
    double best = 1e30;
    for (int rep = 0; rep < 4; ++rep) {
        const double t0 = now_s();
        for (int j0 = 0; j0 < N; j0 += KB) switch (form) {
            case 0: ks->fgemm_kn(HD, q, HD, QB, keys + j0, N, KB, s, KB, 0); break;   // keys transposed [72][4096]
            case 1:
                for (int c = 0; c < KB; c += 16) ks->fgemm_kn(HD, q, HD, QB, keys + (j0 + c) * HD, 16, 16, s + c, KB, 0);
                break;
            case 2: ks->fgemm_kn(KB, s, KB, QB, values + (int64_t)j0 * D, D, HD, o, D, 1); break;   // values in place
            default:
                for (int c0 = 0; c0 < DP; c0 += 16)
                    ks->fgemm_kn(KB, s, KB, QB, values + c0 * N + j0 * 16, 16, 16, o + c0, DP, 1);
            }
        const double dt = now_s() - t0;
        if (rep > 0 && dt < best) best = dt;
    }
    return 2.0 * QB * 4096 * 72 / best * 1e-9;
}

static int bench_attn(const char *only) {
    const ck_kernel_set *sets[8];
    const int ns = ck_kernels_available(sets, 8);
    float *keys = malloc(sizeof(float) * 1152 * 4096), *values = malloc(sizeof(float) * 1152 * 4096);
    float *q = malloc(sizeof(float) * 96 * 72), *s = malloc(sizeof(float) * 96 * 256), *o = malloc(sizeof(float) * 96 * 1152);
    for (int64_t i = 0; i < 1152 * 4096; ++i) keys[i] = rndn() * 0.1f, values[i] = rndn();
    for (int i = 0; i < 96 * 72; ++i) q[i] = rndn();
    for (int i = 0; i < 96 * 1152; ++i) o[i] = 0;
    printf("attention bench (one work item of the 4B vision encoder, one thread): GFLOP/s\n");
    printf("%-13s %12s %12s %12s %12s\n", "set", "QK^T rows", "QK^T panels", "PV rows", "PV panels");
    for (int si = 0; si < ns; ++si) {
        const ck_kernel_set *ks = sets[si];
        if (only ? strcmp(ks->name, only) != 0 : (si == 0 && ns > 1)) continue;
        printf("%-13s %12.1f %12.1f %12.1f %12.1f\n", ks->name, time_attn(ks, 0, q, keys, values, s, o),
               time_attn(ks, 1, q, keys, values, s, o), time_attn(ks, 2, q, keys, values, s, o),
               time_attn(ks, 3, q, keys, values, s, o));
    }
    free(keys); free(values); free(q); free(s); free(o);
    return 0;
}

// ---- the weight products of the 4B vision encoder (fgemm) ----------------------------------------
// One thread's task of Compute.batchMatmul at the encoder's shapes: 4096 tokens of f32 activations
// against a slice of f16 weight rows (192 of the 1152-row q / k / v / output matrices and of the
// 1152-row ffn_down, 576 of the 4304-row ffn_up: rows per task with 2 threads), GFLOP/s.
static int bench_fgemm(const char *only) {
    const ck_kernel_set *sets[8];
    const int ns = ck_kernels_available(sets, 8);
    static const struct { const char *what; int64_t n, rows; } shapes_f[] = {
        {"attn q/k/v/out", 1152, 192}, {"ffn_up", 1152, 576}, {"ffn_down", 4304, 192}};
    const int64_t ntok = 4096;
    float *a = malloc(sizeof(float) * ntok * 4304), *out = malloc(sizeof(float) * ntok * 1152);
    uint16_t *w = malloc(sizeof(uint16_t) * 4304 * 576);
    for (int64_t i = 0; i < ntok * 4304; ++i) a[i] = rndn();
    for (int64_t i = 0; i < 4304 * 576; ++i) w[i] = ck_f32_to_f16(rndn() * 0.05f);
    printf("fgemm bench (f16 weights, %lld tokens, one thread's task): GFLOP/s, best of 3\n", (long long)ntok);
    for (int si = 0; si < ns; ++si) {
        const ck_kernel_set *ks = sets[si];
        if (only ? strcmp(ks->name, only) != 0 : si == 0) continue;
        for (size_t k = 0; k < sizeof shapes_f / sizeof shapes_f[0]; ++k) {
            const int64_t n = shapes_f[k].n, rows = shapes_f[k].rows;
            double best = 1e30;
            for (int rep = 0; rep < 4; ++rep) {
                const double t0 = now_s();
                ks->fgemm[CK_F16](n, a, n, ntok, w, (size_t)n * 2, rows, out, 1152, 0);
                const double dt = now_s() - t0;
                if (rep > 0 && dt < best) best = dt;
            }
            printf("%-13s %-16s n %5lld rows %4lld  %7.1f GFLOP/s\n", ks->name, shapes_f[k].what, (long long)n,
                   (long long)rows, 2.0 * n * rows * ntok / best * 1e-9);
        }
    }
    free(a); free(out); free(w);
    return 0;
}

// ---- row kernels at the 4B vision encoder's shapes ----------------------------------------------
// Nanoseconds per element (best of 5 runs, thread CPU time) and what that comes to per image: the
// softmax of attention (max + exp-shift over 96 x 256 score blocks: 27 layers x 16 heads x 4096^2
// scores), the GELU with its bias (512 x 4304 rows of an MLP block: 27 x 4096 x 4304), LayerNorm
// (4096 x 1152: 2 per layer), the residual with its bias (4096 x 1152: 2 per layer) and the bias
// alone (q, k, v: 3 per layer).
static double time_rows(const ck_kernel_set *ks, int form, float *x, float *y, const float *w, const float *b) {
    static const int64_t rows[] = {96, 512, 4096, 4096, 4096}, width[] = {256, 4304, 1152, 1152, 1152};
    const int64_t nr = rows[form], n = width[form];
    double best = 1e30;
    for (int rep = 0; rep < 6; ++rep) {
        const double t0 = now_s();
        for (int64_t r = 0; r < nr; ++r) {
            float *xr = x + r * n, *yr = y + r * n;
            switch (form) {
            case 0: ks->exp_shift(n, xr, fmaxf(ks->max_f32(n, xr), 1.0f)); break;
            case 1: ks->gelu_tanh(n, xr, b); break;
            case 2: ks->layer_norm(n, xr, w, b, 1e-6f, yr); break;
            case 3: ks->add_f32(n, yr, xr, b); break;
            default: ks->add_f32(n, yr, b, NULL); break;
            }
        }
        const double dt = now_s() - t0;
        if (rep > 0 && dt < best) best = dt;
    }
    return best / (double)(nr * n) * 1e9;
}

static int bench_rows(const char *only) {
    const ck_kernel_set *sets[8];
    const int ns = ck_kernels_available(sets, 8);
    const int64_t big = 4096 * 1152;
    float *x = malloc(sizeof(float) * big), *y = malloc(sizeof(float) * big), *w = malloc(sizeof(float) * 4304),
          *b = malloc(sizeof(float) * 4304);
    for (int64_t i = 0; i < big; ++i) x[i] = rndn(), y[i] = rndn();
    for (int i = 0; i < 4304; ++i) w[i] = 1.0f + 0.1f * rndn(), b[i] = 0.1f * rndn();
    static const char *names[] = {"softmax (max + exp-shift)", "gelu_tanh + bias", "layer_norm", "residual + bias",
                                  "bias (q, k, v)"};
    static const double per_image[] = {27.0 * 16 * 4096 * 4096, 27.0 * 4096 * 4304, 27.0 * 2 * 4096 * 1152,
                                       27.0 * 2 * 4096 * 1152, 27.0 * 3 * 4096 * 1152};
    printf("row kernel bench (4B vision encoder shapes, one thread): ns per element; CPU s per image\n");
    for (int si = 0; si < ns; ++si) {
        const ck_kernel_set *ks = sets[si];
        if (only && strcmp(ks->name, only) != 0) continue;
        double total = 0;
        for (int form = 0; form < 5; ++form) {
            for (int64_t i = 0; i < big; ++i) x[i] = rndn() * (form == 0 ? 4.0f : 1.0f);
            const double ns_el = time_rows(ks, form, x, y, w, b);
            total += ns_el * per_image[form] * 1e-9;
            printf("%-13s %-26s %7.3f ns %8.2f s\n", ks->name, names[form], ns_el, ns_el * per_image[form] * 1e-9);
        }
        printf("%-13s %-26s %10s %8.2f s\n", ks->name, "all", "", total);
    }
    free(x); free(y); free(w); free(b);
    return 0;
}

int main(int argc, char **argv) {
    int64_t ntok = 512;
    int attn = 0, rows = 0, fg = 0;
    const char *only = NULL;
    double min_time = 0.3;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--bench-gemm")) continue;
        else if (!strcmp(argv[i], "--bench-attn")) attn = 1;
        else if (!strcmp(argv[i], "--bench-rows")) rows = 1;
        else if (!strcmp(argv[i], "--bench-fgemm")) fg = 1;
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc) ntok = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--set") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--min-time") && i + 1 < argc) min_time = atof(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) min_time = 0;
        else if (!strcmp(argv[i], "--rows-per-call") && i + 1 < argc) g_rows_per_call = atoll(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--bench-gemm | --bench-attn | --bench-rows | --bench-fgemm] [--tokens N] [--set NAME] [--min-time S] [--quick] [--rows-per-call R]\n",
                    argv[0]);
            return 2;
        }
    }
    if (attn) return bench_attn(only);
    if (rows) return bench_rows(only);
    if (fg) return bench_fgemm(only);
    if (ntok < 1) ntok = 1;
    const ck_kernel_set *sets[8];
    const int ns = ck_kernels_available(sets, 8);
    printf("gemm bench: %lld tokens, one thread; GOP/s = 2*rows*n*tokens / time (best of runs)\n", (long long)ntok);
    printf("%-13s %-16s %-5s %5s %5s  %9s %8s  %9s %8s  %6s\n", "set", "matrix", "type", "n", "rows", "tiled ms", "GOP/s",
           "gemm ms", "GOP/s", "speedup");
    const size_t nshapes = sizeof(shapes) / sizeof(shapes[0]);
    for (int si = 0; si < ns; ++si) {
        const ck_kernel_set *ks = sets[si];
        if (only ? strcmp(ks->name, only) != 0 : (si == 0 && ns > 1)) continue;   // scalar only on request
        double per_tok_tiled = 0, per_tok_gemm = 0;
        for (size_t k = 0; k < nshapes; ++k) {
            const shape *s = &shapes[k];
            const ck_type at = ck_activation_type(s->type);
            const size_t rb = (size_t)ck_row_bytes(s->type, s->n), ab = (size_t)ck_row_bytes(at, s->n);
            uint8_t *w = malloc(rb * (size_t)s->rows), *a = malloc(ab * (size_t)ntok);
            float *x = malloc((size_t)s->n * sizeof(float)), *out = malloc((size_t)(s->rows * ntok) * sizeof(float));
            for (int64_t r = 0; r < s->rows; ++r) {
                for (int64_t i = 0; i < s->n; ++i) x[i] = rndn() * 0.05f;
                ck_quantize_row_ref(s->type, x, w + (size_t)r * rb, s->n);
            }
            for (int64_t t = 0; t < ntok; ++t) {
                for (int64_t i = 0; i < s->n; ++i) x[i] = rndn();
                ks->quantize[at](x, a + (size_t)t * ab, s->n);
            }
            const double ops = 2.0 * (double)s->rows * (double)s->n * (double)ntok;
            const double t1 = time_gemm(gemm_tiled, ks, s, w, rb, a, ab, ntok, out, min_time);
            const double t2 = time_gemm(ck_gemm, ks, s, w, rb, a, ab, ntok, out, min_time);
            printf("%-13s %-16s %-5s %5lld %5lld  %9.2f %8.1f  %9.2f %8.1f  %5.2fx\n", ks->name, s->what,
                   ck_type_name(s->type), (long long)s->n, (long long)s->rows, t1 * 1e3, ops / t1 * 1e-9, t2 * 1e3,
                   ops / t2 * 1e-9, t1 / t2);
            const ck_rp_kernels *rk = ck_rp_select(ks, s->type);
            if (rk) {
                uint8_t *rp = malloc((size_t)ck_rp_bytes(s->type, s->rows, s->n));
                ck_rp_repack(s->type, w, rb, s->rows, s->n, 0, (s->rows + 7) / 8, rp);
                const double t3 = time_repacked(rk, s, rp, a, ab, ntok, out, min_time);
                printf("%-13s %-16s %-5s %5lld %5lld  repacked (%s) %9.2f ms %8.1f GOP/s  %5.2fx gemm\n", ks->name, s->what,
                       ck_type_name(s->type), (long long)s->n, (long long)s->rows, rk->name, t3 * 1e3, ops / t3 * 1e-9, t2 / t3);
                free(rp);
            }
            fflush(stdout);
            per_tok_tiled += s->per_token_count * t1 / (double)ntok;
            per_tok_gemm += s->per_token_count * t2 / (double)ntok;
            free(w); free(a); free(x); free(out);
        }
        printf("%-13s 270M Q4_K_M blocks, matmuls only, 1 thread: tiled %.3f ms/token (%.0f tok/s), gemm %.3f ms/token "
               "(%.0f tok/s)\n", ks->name, per_tok_tiled * 1e3, 1.0 / per_tok_tiled, per_tok_gemm * 1e3, 1.0 / per_tok_gemm);
    }
    return 0;
}
