// vision_dump: records llama.cpp's multimodal (libmtmd) outputs on a text model + mmproj pair for
// GemmaEdge's vision golden tests, and times its image encoder. Built and run by
// record-vision.sh against the cached libllama / libmtmd; never linked into GemmaEdge.
//
//   vision_dump run   TEXT.gguf MMPROJ.gguf OUT.json N_GREEDY PROMPT [IMAGE.png ...]
//   vision_dump bench TEXT.gguf MMPROJ.gguf IMAGE.png RUNS
//
// run: PROMPT holds one media marker "<__media__>" per IMAGE (in order). It is tokenised by
// mtmd_tokenize (add_special and parse_special on: BOS first, "<start_of_image>" and
// "<end_of_image>" around each image), every chunk is evaluated by mtmd_helper_eval_chunks
// (image chunks decoded with causal attention off, as mtmd does for Gemma 3), then N_GREEDY
// argmax steps follow (ties: lowest id; EOS does not stop). Written: the chunks (text token ids;
// for images the soft-token count and the encoder's output embeddings), the logits after the
// prompt, the greedy ids with each step's top1 - top2 margin, and per image the FNV-1a hash of
// the RGB bytes stb_image decoded (an independent decoder to check GemmaEdge's libpng path).
//
// Context: n_ctx 256, n_batch = n_ubatch = 64, f32 K/V cache, flash attention off (here and in
// the encoder), swa_full, 2 threads: everything in f32 so the comparison measures the method, not
// f16 rounding.
//
// bench: encodes IMAGE RUNS times (after one warm-up) and prints the median and minimum encode time
// in milliseconds as JSON, flash attention off, 2 threads or $VISION_DUMP_THREADS.

#include "llama.h"
#include "mtmd.h"
#include "mtmd-helper.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// Threads: 2, or $VISION_DUMP_THREADS (bench only; the recordings always use 2).
static int N_THREADS = 2;
#define N_CTX 256
#define N_BATCH 64

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("vision_dump: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void quiet_log(enum ggml_log_level level, const char *text, void *user) {
    (void)user;
    if (level == GGML_LOG_LEVEL_WARN || level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static uint64_t fnv1a64(const unsigned char *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void json_floats(FILE *f, const float *x, size_t n) {
    fputc('[', f);
    for (size_t i = 0; i < n; i++) fprintf(f, "%s%.9g", i ? ", " : "", x[i]);
    fputc(']', f);
}

typedef struct {
    struct llama_model *model;
    struct llama_context *lctx;
    mtmd_context *mctx;
    const struct llama_vocab *vocab;
    int n_vocab;
    int n_embd;
} peer;

static peer open_peer(const char *text_path, const char *mmproj_path) {
    peer p;
    llama_log_set(quiet_log, NULL);
    mtmd_helper_log_set(quiet_log, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    p.model = llama_model_load_from_file(text_path, mp);
    if (!p.model) die("cannot load %s", text_path);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = N_CTX;
    cp.n_batch = N_BATCH;
    cp.n_ubatch = N_BATCH;
    cp.n_threads = N_THREADS;
    cp.n_threads_batch = N_THREADS;
    cp.type_k = GGML_TYPE_F32;
    cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.swa_full = true;
    p.lctx = llama_init_from_model(p.model, cp);
    if (!p.lctx) die("cannot create a context for %s", text_path);
    struct mtmd_context_params mcp = mtmd_context_params_default();
    mcp.use_gpu = false;
    mcp.print_timings = false;
    mcp.n_threads = N_THREADS;
    mcp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    mcp.warmup = false;
    p.mctx = mtmd_init_from_file(mmproj_path, p.model, mcp);
    if (!p.mctx) die("cannot load the projector %s", mmproj_path);
    p.vocab = llama_model_get_vocab(p.model);
    p.n_vocab = llama_vocab_n_tokens(p.vocab);
    p.n_embd = llama_model_n_embd_inp(p.model);
    return p;
}

static void close_peer(peer *p) {
    mtmd_free(p->mctx);
    llama_free(p->lctx);
    llama_model_free(p->model);
    llama_backend_free();
}

static mtmd_bitmap *load_image(peer *p, const char *path) {
    struct mtmd_helper_bitmap_wrapper w = mtmd_helper_bitmap_init_from_file(p->mctx, path, false, mtmd_helper_init_opt_default());
    if (!w.bitmap) die("cannot decode %s", path);
    return w.bitmap;
}

static int argmax(const float *x, int n, float *margin) {
    int best = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[best]) best = i;
    float second = -INFINITY;
    for (int i = 0; i < n; i++) if (i != best && x[i] > second) second = x[i];
    *margin = x[best] - second;
    return best;
}

static int run(int argc, char **argv) {
    if (argc < 7) die("usage: vision_dump run TEXT MMPROJ OUT.json N_GREEDY PROMPT [IMAGE ...]");
    const char *out_path = argv[4];
    int n_greedy = atoi(argv[5]);
    const char *prompt = argv[6];
    int n_images = argc - 7;
    peer p = open_peer(argv[2], argv[3]);

    mtmd_bitmap **bitmaps = calloc((size_t)n_images + 1, sizeof *bitmaps);
    for (int i = 0; i < n_images; i++) bitmaps[i] = load_image(&p, argv[7 + i]);

    mtmd_input_chunks *chunks = mtmd_input_chunks_init();
    mtmd_input_text text = {prompt, strlen(prompt), true, true};
    int rc = mtmd_tokenize(p.mctx, chunks, &text, (const mtmd_bitmap **)bitmaps, (size_t)n_images);
    if (rc != 0) die("mtmd_tokenize failed (%d)", rc);

    FILE *f = fopen(out_path, "w");
    if (!f) die("cannot write %s", out_path);
    fprintf(f, "{\n  \"prompt\": ");
    json_string(f, prompt);
    fprintf(f, ",\n  \"images\": [");
    for (int i = 0; i < n_images; i++) {
        const char *name = strrchr(argv[7 + i], '/');
        name = name ? name + 1 : argv[7 + i];
        fprintf(f, "%s{\"file\": ", i ? ", " : "");
        json_string(f, name);
        fprintf(f, ", \"width\": %u, \"height\": %u, \"stb_rgb_fnv1a64\": \"%016llx\"}", mtmd_bitmap_get_nx(bitmaps[i]),
                mtmd_bitmap_get_ny(bitmaps[i]),
                (unsigned long long)fnv1a64(mtmd_bitmap_get_data(bitmaps[i]), mtmd_bitmap_get_n_bytes(bitmaps[i])));
    }
    fprintf(f, "],\n  \"chunks\": [");

    // The encoder output of every image chunk, recorded before the whole prompt is evaluated.
    size_t n_chunks = mtmd_input_chunks_size(chunks);
    for (size_t c = 0; c < n_chunks; c++) {
        const mtmd_input_chunk *chunk = mtmd_input_chunks_get(chunks, c);
        fprintf(f, "%s\n    {", c ? "," : "");
        if (mtmd_input_chunk_get_type(chunk) == MTMD_INPUT_CHUNK_TYPE_TEXT) {
            size_t n = 0;
            const llama_token *ids = mtmd_input_chunk_get_tokens_text(chunk, &n);
            fprintf(f, "\"type\": \"text\", \"tokens\": [");
            for (size_t i = 0; i < n; i++) fprintf(f, "%s%d", i ? ", " : "", ids[i]);
            fprintf(f, "]}");
        } else {
            size_t n = mtmd_input_chunk_get_n_tokens(chunk);
            if (mtmd_encode_chunk(p.mctx, chunk) != 0) die("mtmd_encode_chunk failed");
            const float *embd = mtmd_get_output_embd(p.mctx);
            fprintf(f, "\"type\": \"image\", \"n_tokens\": %zu, \"n_pos\": %d, \"embd\": ", n,
                    (int)mtmd_input_chunk_get_n_pos(chunk));
            json_floats(f, embd, n * (size_t)p.n_embd);
            fprintf(f, "}");
        }
    }
    fprintf(f, "\n  ],\n");

    llama_pos n_past = 0;
    rc = mtmd_helper_eval_chunks(p.mctx, p.lctx, chunks, 0, 0, N_BATCH, true, &n_past);
    if (rc != 0) die("mtmd_helper_eval_chunks failed (%d)", rc);
    fprintf(f, "  \"n_past\": %d,\n  \"logits\": ", (int)n_past);
    const float *logits = llama_get_logits_ith(p.lctx, -1);
    json_floats(f, logits, (size_t)p.n_vocab);

    fprintf(f, ",\n  \"greedy\": [");
    float *margins = calloc((size_t)n_greedy + 1, sizeof *margins);
    for (int s = 0; s < n_greedy; s++) {
        logits = llama_get_logits_ith(p.lctx, -1);
        llama_token id = argmax(logits, p.n_vocab, &margins[s]);
        fprintf(f, "%s%d", s ? ", " : "", id);
        struct llama_batch b = llama_batch_get_one(&id, 1);
        if (llama_decode(p.lctx, b) != 0) die("llama_decode failed at greedy step %d", s);
    }
    fprintf(f, "],\n  \"margins\": ");
    json_floats(f, margins, (size_t)n_greedy);
    fprintf(f, ",\n  \"context\": {\"n_ctx\": %d, \"n_batch\": %d, \"kv\": \"f32\", \"flash_attn\": \"off\", "
               "\"swa_full\": true, \"threads\": %d}\n}\n", N_CTX, N_BATCH, N_THREADS);
    fclose(f);
    free(margins);
    for (int i = 0; i < n_images; i++) mtmd_bitmap_free(bitmaps[i]);
    free(bitmaps);
    mtmd_input_chunks_free(chunks);
    close_peer(&p);
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int bench(int argc, char **argv) {
    if (argc < 6) die("usage: vision_dump bench TEXT MMPROJ IMAGE RUNS");
    const char *threads = getenv("VISION_DUMP_THREADS");
    if (threads && atoi(threads) > 0) N_THREADS = atoi(threads);
    int runs = atoi(argv[5]);
    if (runs < 1) die("RUNS must be >= 1");
    peer p = open_peer(argv[2], argv[3]);
    mtmd_bitmap *bm = load_image(&p, argv[4]);
    mtmd_input_chunks *chunks = mtmd_input_chunks_init();
    const char *prompt = mtmd_default_marker();
    mtmd_input_text text = {prompt, strlen(prompt), false, true};
    const mtmd_bitmap *bms[1] = {bm};
    if (mtmd_tokenize(p.mctx, chunks, &text, bms, 1) != 0) die("mtmd_tokenize failed");
    const mtmd_input_chunk *image = NULL;
    for (size_t c = 0; c < mtmd_input_chunks_size(chunks); c++) {
        const mtmd_input_chunk *chunk = mtmd_input_chunks_get(chunks, c);
        if (mtmd_input_chunk_get_type(chunk) == MTMD_INPUT_CHUNK_TYPE_IMAGE) image = chunk;
    }
    if (!image) die("no image chunk");
    double *ms = calloc((size_t)runs, sizeof *ms);
    if (mtmd_encode_chunk(p.mctx, image) != 0) die("mtmd_encode_chunk failed");  // warm-up
    for (int r = 0; r < runs; r++) {
        double t0 = now_ms();
        if (mtmd_encode_chunk(p.mctx, image) != 0) die("mtmd_encode_chunk failed");
        ms[r] = now_ms() - t0;
    }
    qsort(ms, (size_t)runs, sizeof *ms, cmp_double);
    printf("{\"runs\": %d, \"median_ms\": %.3f, \"min_ms\": %.3f, \"n_tokens\": %zu, \"threads\": %d}\n", runs,
           ms[runs / 2], ms[0], mtmd_input_chunk_get_n_tokens(image), N_THREADS);
    free(ms);
    mtmd_bitmap_free(bm);
    mtmd_input_chunks_free(chunks);
    close_peer(&p);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "run") == 0) return run(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "bench") == 0) return bench(argc, argv);
    die("usage: vision_dump run|bench ...");
    return 1;
}
