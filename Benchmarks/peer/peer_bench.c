// peer_bench: measures llama.cpp exactly as `gemma-edge bench` measures GemmaEdge, so the two
// can be put side by side in one run: model load time, prefill of P random tokens as one prompt,
// N tokens decoded one at a time from a fresh state, R repetitions after a warm-up, mean tok/s,
// and the process's peak RSS. Built against libllama by Benchmarks/compare.sh (never committed
// as a binary; llama.cpp's code is never in this repository).
//
//   peer_bench MODEL P N THREADS REPS [DEPTH CTX]   -> one JSON line
//
// With DEPTH > 0 (as `gemma-edge bench --depth D --ctx C`), decode is measured behind a filled
// cache: DEPTH random tokens are prefilled once, untimed, in batches of 512, then the warm-up and
// the REPS timed rounds of N tokens continue from there. The context is then CTX tokens with
// swa_full = false (sliding-window layers keep only their window, as llama-cli and llama-bench
// run) and f16 keys and values (llama.cpp's default).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

#include "llama.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static void quiet(enum ggml_log_level level, const char *text, void *data) {
    (void) data;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static unsigned long long rng_state = 1234;
static unsigned next_random(void) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned) (rng_state >> 33);
}

// Decodes n tokens one at a time from position `first`: a random token, then each greedy pick fed
// back. Returns the seconds it took, or -1 when llama_decode fails.
static double decode_round(struct llama_context *ctx, struct llama_batch *batch, int n_vocab, int first, int n) {
    llama_token tok = (llama_token) (next_random() % (unsigned) n_vocab);
    double s = now();
    for (int i = 0; i < n; i++) {
        batch->n_tokens = 1;
        batch->token[0] = tok;
        batch->pos[0] = first + i;
        batch->n_seq_id[0] = 1;
        batch->seq_id[0][0] = 0;
        batch->logits[0] = 1;
        if (llama_decode(ctx, *batch) != 0) return -1;
        const float *logits = llama_get_logits_ith(ctx, 0);
        int best = 0;
        for (int j = 1; j < n_vocab; j++) if (logits[j] > logits[best]) best = j;
        tok = best;
    }
    return now() - s;
}

int main(int argc, char **argv) {
    if (argc != 6 && argc != 8) {
        fprintf(stderr, "usage: peer_bench MODEL P N THREADS REPS [DEPTH CTX]\n");
        return 2;
    }
    const char *path = argv[1];
    int p = atoi(argv[2]), n = atoi(argv[3]), threads = atoi(argv[4]), reps = atoi(argv[5]);
    int depth = argc == 8 ? atoi(argv[6]) : 0, n_ctx = argc == 8 ? atoi(argv[7]) : 0;
    if (depth > 0 && (n_ctx < depth + (reps + 1) * n + 1 || n_ctx < p + 1)) {
        fprintf(stderr, "peer_bench: CTX %d is too short for DEPTH %d and %d rounds of %d tokens\n", n_ctx, depth, reps + 1, n);
        return 2;
    }
    if (p < 0 || n < 0 || p + n == 0 || threads < 1 || reps < 1 || depth < 0) {
        fprintf(stderr, "peer_bench: bad arguments\n");
        return 2;
    }
    llama_log_set(quiet, NULL);
    llama_backend_init();

    double t0 = now();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model *model = llama_model_load_from_file(path, mp);
    if (!model) { fprintf(stderr, "peer_bench: cannot load %s\n", path); return 1; }
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t) (p > n ? p : n) + 1;
    cp.n_batch = cp.n_ctx;
    cp.n_ubatch = 512;
    if (depth > 0) {
        cp.n_ctx = (uint32_t) n_ctx;
        cp.n_batch = 512;
        cp.swa_full = false;
        cp.type_k = GGML_TYPE_F16;
        cp.type_v = GGML_TYPE_F16;
    }
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.no_perf = true;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "peer_bench: cannot create a context\n"); return 1; }
    double load_ms = (now() - t0) * 1000;

    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    int n_vocab = llama_vocab_n_tokens(vocab);
    llama_memory_t mem = llama_get_memory(ctx);
    const int batch_cap = depth > 0 ? 512 : (p > 1 ? p : 1);
    struct llama_batch batch = llama_batch_init(batch_cap, 0, 1);
    llama_token *prompt = malloc(sizeof(llama_token) * (size_t) (p > 0 ? p : 1));
    for (int i = 0; i < p; i++) prompt[i] = (llama_token) (next_random() % (unsigned) n_vocab);

    double pp_sum = 0, tg_sum = 0;
    for (int rep = 0; rep <= reps; rep++) {  // rep 0 warms up
        if (p > 0 && depth == 0) {
            llama_memory_clear(mem, true);
            batch.n_tokens = p;
            for (int i = 0; i < p; i++) {
                batch.token[i] = prompt[i];
                batch.pos[i] = i;
                batch.n_seq_id[i] = 1;
                batch.seq_id[i][0] = 0;
                batch.logits[i] = i == p - 1;
            }
            double s = now();
            if (llama_decode(ctx, batch) != 0) { fprintf(stderr, "peer_bench: decode failed\n"); return 1; }
            double e = now() - s;
            if (rep > 0) pp_sum += p / e;
        }
        if (n > 0) {
            if (depth == 0) llama_memory_clear(mem, true);   // decode from a fresh state
            if (depth > 0 && rep == 0) {   // fill the cache once, untimed
                llama_memory_clear(mem, true);
                for (int done = 0; done < depth;) {
                    const int k = depth - done < 512 ? depth - done : 512;
                    batch.n_tokens = k;
                    for (int i = 0; i < k; i++) {
                        batch.token[i] = (llama_token) (next_random() % (unsigned) n_vocab);
                        batch.pos[i] = done + i;
                        batch.n_seq_id[i] = 1;
                        batch.seq_id[i][0] = 0;
                        batch.logits[i] = done + i == depth - 1;
                    }
                    if (llama_decode(ctx, batch) != 0) { fprintf(stderr, "peer_bench: decode failed\n"); return 1; }
                    done += k;
                }
            }
            const double e = decode_round(ctx, &batch, n_vocab, depth > 0 ? depth + rep * n : 0, n);
            if (e < 0) { fprintf(stderr, "peer_bench: decode failed\n"); return 1; }
            if (rep > 0) tg_sum += n / e;
        }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"pp_tok_s\": %.3f, \"tg_tok_s\": %.3f, \"load_ms\": %.1f, \"peak_rss_mb\": %.1f}\n",
           reps ? pp_sum / reps : 0.0, reps ? tg_sum / reps : 0.0, load_ms, ru.ru_maxrss / 1024.0);
    free(prompt);
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
