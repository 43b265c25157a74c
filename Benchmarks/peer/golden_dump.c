// golden_dump: records reference outputs of llama.cpp (the peer) for GemmaEdge's golden tests.
// Built and run by record-golden.sh against the cached libllama; never linked into GemmaEdge.
//
//   golden_dump tokenize MODEL CORPUS.json OUT.json
//   golden_dump ppl      MODEL TEXTFILE CTX OUT.json [MAX_CHUNKS [DETAIL_CHUNKS]]
//   golden_dump greedy   MODEL PROMPTS.json N OUT.json
//
// CORPUS.json / PROMPTS.json: a JSON array whose items are strings or objects with a "text"
// string (and optionally a "name" string). Output JSON is written by hand; strings that are not
// valid UTF-8 (a token piece can be half a character) are written with U+FFFD in place of the
// bad bytes, and such outputs also carry the raw bytes as hex.
//
// Definitions (GemmaEdge implements the same):
// - tokenize: llama_tokenize(add_special = false, parse_special = false): no BOS, and user text
//   never becomes special tokens.
// - ppl: tokenise the whole file as above; cut into consecutive chunks of CTX-1 tokens (the last
//   may be shorter); evaluate each chunk from a cleared memory as BOS + chunk with logits at every
//   position; position i (BOS = 0) predicts chunk token i. log-softmax in double.
//   ppl = exp(-mean logprob) over all scored tokens. n_ctx = n_batch = n_ubatch = CTX,
//   swa_full = true, 2 threads.
// - greedy: BOS + prompt tokens, then N argmax steps (ties: lowest id), EOS does not stop.

#include "llama.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_THREADS 2

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("golden_dump: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory");
    return p;
}

static void *xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p) die("out of memory");
    return p;
}

// How llama.cpp resolved flash_attn = auto (read off its log), written into the outputs.
static const char *g_flash_attn = NULL;

static void quiet_log(enum ggml_log_level level, const char *text, void *user) {
    (void) user;
    if (strstr(text, "Flash Attention")) {
        if (strstr(text, "not supported")) g_flash_attn = "auto -> disabled";
        else if (strstr(text, "enabled")) g_flash_attn = "auto -> enabled";
    }
    if (level == GGML_LOG_LEVEL_WARN || level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

// ---------------------------------------------------------------------------------------------
// Files

static char *read_file(const char *path, size_t *len_out) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open %s", path);
    size_t cap = 1 << 16, len = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (len + 4096 > cap) buf = xrealloc(buf, cap *= 2);
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        if (n == 0) break;
        len += n;
    }
    fclose(f);
    buf[len] = 0;
    if (len_out) *len_out = len;
    return buf;
}

// ---------------------------------------------------------------------------------------------
// Minimal JSON reader: enough for arrays of strings or of {"name", "text"} objects.

typedef struct {
    const char *s;
    size_t i, n;
} jreader;

typedef struct {
    char *name;  // may be NULL
    char *text;
    size_t text_len;
} item;

static void jws(jreader *r) {
    while (r->i < r->n && (r->s[r->i] == ' ' || r->s[r->i] == '\n' || r->s[r->i] == '\r' || r->s[r->i] == '\t')) r->i++;
}

static int jpeek(jreader *r) {
    jws(r);
    return r->i < r->n ? (unsigned char) r->s[r->i] : -1;
}

static void jexpect(jreader *r, char c) {
    if (jpeek(r) != c) die("JSON: expected '%c' at byte %zu", c, r->i);
    r->i++;
}

static unsigned jhex4(jreader *r) {
    if (r->i + 4 > r->n) die("JSON: short \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = r->s[r->i++];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned) (c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned) (c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned) (c - 'A' + 10);
        else die("JSON: bad hex digit at byte %zu", r->i);
    }
    return v;
}

static size_t put_utf8(char *out, unsigned cp) {
    if (cp < 0x80) { out[0] = (char) cp; return 1; }
    if (cp < 0x800) { out[0] = (char) (0xC0 | (cp >> 6)); out[1] = (char) (0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char) (0xE0 | (cp >> 12)); out[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char) (0x80 | (cp & 0x3F)); return 3;
    }
    out[0] = (char) (0xF0 | (cp >> 18)); out[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char) (0x80 | ((cp >> 6) & 0x3F)); out[3] = (char) (0x80 | (cp & 0x3F)); return 4;
}

static char *jstring(jreader *r, size_t *len_out) {
    jexpect(r, '"');
    char *out = xmalloc(r->n - r->i + 1);
    size_t o = 0;
    for (;;) {
        if (r->i >= r->n) die("JSON: unterminated string");
        char c = r->s[r->i++];
        if (c == '"') break;
        if (c != '\\') { out[o++] = c; continue; }
        if (r->i >= r->n) die("JSON: bad escape");
        char e = r->s[r->i++];
        switch (e) {
            case '"': out[o++] = '"'; break;
            case '\\': out[o++] = '\\'; break;
            case '/': out[o++] = '/'; break;
            case 'b': out[o++] = '\b'; break;
            case 'f': out[o++] = '\f'; break;
            case 'n': out[o++] = '\n'; break;
            case 'r': out[o++] = '\r'; break;
            case 't': out[o++] = '\t'; break;
            case 'u': {
                unsigned cp = jhex4(r);
                if (cp >= 0xD800 && cp < 0xDC00 && r->i + 6 <= r->n && r->s[r->i] == '\\' && r->s[r->i + 1] == 'u') {
                    r->i += 2;
                    unsigned lo = jhex4(r);
                    if (lo < 0xDC00 || lo >= 0xE000) die("JSON: bad surrogate pair");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xD800 && cp < 0xE000) {
                    die("JSON: lone surrogate");
                }
                o += put_utf8(out + o, cp);
                break;
            }
            default: die("JSON: bad escape \\%c", e);
        }
    }
    out[o] = 0;
    if (len_out) *len_out = o;
    return out;
}

static void jskip(jreader *r);

static void jskip_container(jreader *r, char open, char close) {
    jexpect(r, open);
    if (jpeek(r) == close) { r->i++; return; }
    for (;;) {
        if (open == '{') { free(jstring(r, NULL)); jexpect(r, ':'); }
        jskip(r);
        int c = jpeek(r);
        r->i++;
        if (c == close) return;
        if (c != ',') die("JSON: expected ',' at byte %zu", r->i);
    }
}

static void jskip(jreader *r) {
    int c = jpeek(r);
    if (c == '"') { free(jstring(r, NULL)); return; }
    if (c == '[') { jskip_container(r, '[', ']'); return; }
    if (c == '{') { jskip_container(r, '{', '}'); return; }
    while (r->i < r->n && strchr(",]} \n\r\t", r->s[r->i]) == NULL) r->i++;  // number/true/false/null
}

static item *read_items(const char *path, int *count) {
    size_t len;
    char *src = read_file(path, &len);
    jreader r = { src, 0, len };
    item *items = NULL;
    int n = 0;
    jexpect(&r, '[');
    if (jpeek(&r) == ']') { r.i++; goto done; }
    for (;;) {
        items = xrealloc(items, sizeof(item) * (size_t) (n + 1));
        item *it = &items[n++];
        memset(it, 0, sizeof *it);
        if (jpeek(&r) == '"') {
            it->text = jstring(&r, &it->text_len);
        } else {
            jexpect(&r, '{');
            if (jpeek(&r) != '}') {
                for (;;) {
                    char *key = jstring(&r, NULL);
                    jexpect(&r, ':');
                    if (strcmp(key, "text") == 0) it->text = jstring(&r, &it->text_len);
                    else if (strcmp(key, "name") == 0) it->name = jstring(&r, NULL);
                    else jskip(&r);
                    free(key);
                    int c = jpeek(&r);
                    r.i++;
                    if (c == '}') break;
                    if (c != ',') die("JSON: expected ',' in object at byte %zu", r.i);
                }
            } else {
                r.i++;
            }
            if (!it->text) die("%s: item %d has no \"text\"", path, n - 1);
        }
        int c = jpeek(&r);
        r.i++;
        if (c == ']') break;
        if (c != ',') die("JSON: expected ',' in array at byte %zu", r.i);
    }
done:
    free(src);
    *count = n;
    return items;
}

// ---------------------------------------------------------------------------------------------
// JSON writing

// Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid.
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return 0;
    if (n < len) return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp < 0xE000))) return 0;
    if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
    return len;
}

static int is_valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq((const unsigned char *) s + i, n - i);
        if (!l) return 0;
        i += l;
    }
    return 1;
}

static void jw_str(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char) s[i];
        size_t l = utf8_seq((const unsigned char *) s + i, n - i);
        if (l == 0) { fputs("\\ufffd", f); i++; continue; }
        if (l > 1) { fwrite(s + i, 1, l, f); i += l; continue; }
        switch (c) {
            case '"': fputs("\\\"", f); break;
            case '\\': fputs("\\\\", f); break;
            case '\n': fputs("\\n", f); break;
            case '\r': fputs("\\r", f); break;
            case '\t': fputs("\\t", f); break;
            default:
                if (c < 0x20 || c == 0x7F) fprintf(f, "\\u%04x", c);
                else fputc(c, f);
        }
        i++;
    }
    fputc('"', f);
}

static void jw_cstr(FILE *f, const char *s) { jw_str(f, s, strlen(s)); }

static void jw_hex(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) fprintf(f, "%02x", (unsigned char) s[i]);
    fputc('"', f);
}

static void jw_ids(FILE *f, const llama_token *ids, int n) {
    fputc('[', f);
    for (int i = 0; i < n; i++) fprintf(f, i ? ",%d" : "%d", ids[i]);
    fputc(']', f);
}

static FILE *open_out(const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) die("cannot write %s", path);
    return f;
}

// ---------------------------------------------------------------------------------------------
// llama helpers

static struct llama_model *load_model(const char *path, int vocab_only) {
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    mp.vocab_only = vocab_only ? true : false;
    struct llama_model *model = llama_model_load_from_file(path, mp);
    if (!model) die("cannot load model %s", path);
    return model;
}

static struct llama_context *make_context(struct llama_model *model, int n_ctx) {
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t) n_ctx;
    cp.n_batch = (uint32_t) n_ctx;
    cp.n_ubatch = (uint32_t) n_ctx;
    cp.n_seq_max = 1;
    cp.n_threads = N_THREADS;
    cp.n_threads_batch = N_THREADS;
    cp.swa_full = true;
    // GOLDEN_FLASH_ATTN=off records the peer's other attention path: comparing the two measures
    // how far the peer's own outputs move with a change of kernels (its noise floor).
    const char *fa = getenv("GOLDEN_FLASH_ATTN");
    if (fa && strcmp(fa, "off") == 0) cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.no_perf = true;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) die("cannot create a context of %d", n_ctx);
    return ctx;
}

static llama_token *tokenize(const struct llama_vocab *vocab, const char *text, size_t len, int *n_out) {
    if (len > INT32_MAX) die("text too long");
    int cap = (int) len + 16;
    llama_token *ids = xmalloc(sizeof(llama_token) * (size_t) cap);
    int n = llama_tokenize(vocab, text, (int32_t) len, ids, cap, /*add_special*/ false, /*parse_special*/ false);
    if (n < 0) {
        cap = -n;
        ids = xrealloc(ids, sizeof(llama_token) * (size_t) cap);
        n = llama_tokenize(vocab, text, (int32_t) len, ids, cap, false, false);
        if (n < 0) die("llama_tokenize failed");
    }
    *n_out = n;
    return ids;
}

// Appends the piece of `tok` (special tokens rendered as their text) to buf.
static void append_piece(const struct llama_vocab *vocab, llama_token tok, char **buf, size_t *len, size_t *cap) {
    char tmp[256];
    int n = llama_token_to_piece(vocab, tok, tmp, sizeof tmp, 0, /*special*/ true);
    if (n < 0) die("token_to_piece(%d) needs %d bytes", tok, -n);
    while (*len + (size_t) n + 1 > *cap) *buf = xrealloc(*buf, *cap = *cap ? *cap * 2 : 256);
    memcpy(*buf + *len, tmp, (size_t) n);
    *len += (size_t) n;
    (*buf)[*len] = 0;
}

static void decode_or_die(struct llama_context *ctx, struct llama_batch batch) {
    int rc = llama_decode(ctx, batch);
    if (rc != 0) die("llama_decode returned %d", rc);
}

static void fill_batch(struct llama_batch *b, const llama_token *ids, int n, int pos0, int all_logits) {
    b->n_tokens = n;
    for (int i = 0; i < n; i++) {
        b->token[i] = ids[i];
        b->pos[i] = pos0 + i;
        b->n_seq_id[i] = 1;
        b->seq_id[i][0] = 0;
        b->logits[i] = (int8_t) (all_logits || i == n - 1);
    }
}

static void write_header(FILE *f, struct llama_model *model, const char *model_path) {
    char desc[256] = { 0 };
    llama_model_desc(model, desc, sizeof desc);
    const char *base = strrchr(model_path, '/');
    fputs("  \"peer\": \"llama.cpp\",\n  \"model_file\": ", f);
    jw_cstr(f, base ? base + 1 : model_path);
    fputs(",\n  \"model_desc\": ", f);
    jw_cstr(f, desc);
    fputs(",\n", f);
    if (g_flash_attn) { fputs("  \"flash_attn\": ", f); jw_cstr(f, g_flash_attn); fputs(",\n", f); }
}

// ---------------------------------------------------------------------------------------------
// Subcommands

static int cmd_tokenize(const char *model_path, const char *corpus_path, const char *out_path) {
    struct llama_model *model = load_model(model_path, 0);
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    int n_items;
    item *items = read_items(corpus_path, &n_items);
    FILE *f = open_out(out_path);
    fputs("{\n", f);
    write_header(f, model, model_path);
    fputs("  \"add_special\": false,\n  \"parse_special\": false,\n  \"cases\": [\n", f);
    for (int k = 0; k < n_items; k++) {
        int n;
        llama_token *ids = tokenize(vocab, items[k].text, items[k].text_len, &n);
        fputs("    {", f);
        if (items[k].name) { fputs("\"name\": ", f); jw_cstr(f, items[k].name); fputs(", ", f); }
        fputs("\"text\": ", f);
        jw_str(f, items[k].text, items[k].text_len);
        fputs(", \"ids\": ", f);
        jw_ids(f, ids, n);
        fputs(k + 1 < n_items ? "},\n" : "}\n", f);
        free(ids);
    }
    fputs("  ]\n}\n", f);
    fclose(f);
    fprintf(stderr, "tokenize: %d cases -> %s\n", n_items, out_path);
    llama_model_free(model);
    return 0;
}

static int cmd_ppl(const char *model_path, const char *text_path, int n_ctx, const char *out_path,
                   int max_chunks, int detail_chunks) {
    if (n_ctx < 2) die("CTX must be at least 2");
    struct llama_model *model = load_model(model_path, 0);
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);
    const llama_token bos = llama_vocab_bos(vocab);
    size_t len;
    char *text = read_file(text_path, &len);
    int n_tokens;
    llama_token *toks = tokenize(vocab, text, len, &n_tokens);
    free(text);

    const int chunk_len = n_ctx - 1;
    int n_chunks = (n_tokens + chunk_len - 1) / chunk_len;
    const int n_chunks_file = n_chunks;
    if (max_chunks > 0 && n_chunks > max_chunks) n_chunks = max_chunks;
    if (detail_chunks < 0 || detail_chunks > n_chunks) detail_chunks = n_chunks;

    struct llama_context *ctx = make_context(model, n_ctx);
    llama_memory_t mem = llama_get_memory(ctx);
    struct llama_batch batch = llama_batch_init(n_ctx, 0, 1);
    llama_token *seq = xmalloc(sizeof(llama_token) * (size_t) n_ctx);
    llama_token *top1 = xmalloc(sizeof(llama_token) * (size_t) n_ctx);
    double *lp = xmalloc(sizeof(double) * (size_t) n_ctx);

    FILE *f = open_out(out_path);
    fputs("{\n", f);
    write_header(f, model, model_path);
    const char *tbase = strrchr(text_path, '/');
    fputs("  \"text_file\": ", f);
    jw_cstr(f, tbase ? tbase + 1 : text_path);
    fprintf(f, ",\n  \"ctx\": %d,\n  \"chunk_tokens\": %d,\n  \"file_tokens\": %d,\n  \"file_chunks\": %d,\n"
               "  \"n_chunks\": %d,\n  \"detail_chunks\": %d,\n  \"bos\": %d,\n  \"swa_full\": true,\n"
               "  \"definition\": \"tokens = tokenize(file, no BOS, parse_special false); chunk k = tokens[k*(ctx-1) ..< (k+1)*(ctx-1)]; "
               "each chunk evaluated from a cleared memory as [BOS] + chunk; logits at position i (BOS = 0) score chunk token i; "
               "logprob = log_softmax in double; ppl = exp(-mean logprob)\",\n  \"chunks\": [\n",
            n_ctx, chunk_len, n_tokens, n_chunks_file, n_chunks, detail_chunks, bos);

    double total = 0.0;
    long scored = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int c = 0; c < n_chunks; c++) {
        const int start = c * chunk_len;
        const int n = (n_tokens - start < chunk_len) ? n_tokens - start : chunk_len;
        seq[0] = bos;
        memcpy(seq + 1, toks + start, sizeof(llama_token) * (size_t) n);
        llama_memory_clear(mem, true);
        fill_batch(&batch, seq, n + 1, 0, 1);
        decode_or_die(ctx, batch);
        double sum = 0.0;
        for (int i = 0; i < n; i++) {
            const float *lg = llama_get_logits_ith(ctx, i);
            if (!lg) die("no logits at %d", i);
            int best = 0;
            double mx = lg[0];
            for (int v = 1; v < n_vocab; v++) if (lg[v] > mx) { mx = lg[v]; best = v; }
            double se = 0.0;
            for (int v = 0; v < n_vocab; v++) se += exp((double) lg[v] - mx);
            lp[i] = (double) lg[seq[i + 1]] - mx - log(se);
            top1[i] = best;
            sum += lp[i];
        }
        total += sum;
        scored += n;
        fprintf(f, "    {\"index\": %d, \"start\": %d, \"n_tokens\": %d, \"ppl\": %.6f, \"mean_logprob\": %.8f",
                c, start, n, exp(-sum / n), sum / n);
        if (c < detail_chunks) {
            fputs(",\n     \"tokens\": ", f);
            jw_ids(f, seq + 1, n);
            fputs(",\n     \"top1\": ", f);
            jw_ids(f, top1, n);
            fputs(",\n     \"logprob\": [", f);
            for (int i = 0; i < n; i++) fprintf(f, i ? ",%.5f" : "%.5f", lp[i]);
            fputs("]", f);
        }
        fputs(c + 1 < n_chunks ? "},\n" : "}\n", f);
        fprintf(stderr, "ppl ctx %d: chunk %d/%d (%d tokens) ppl %.4f, running %.4f\n", n_ctx, c + 1, n_chunks, n,
                exp(-sum / n), exp(-total / (double) scored));
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double) (t1.tv_sec - t0.tv_sec) + 1e-9 * (double) (t1.tv_nsec - t0.tv_nsec);
    // No timings in the file: reruns must reproduce it byte for byte.
    fprintf(f, "  ],\n  \"scored_tokens\": %ld,\n  \"mean_logprob\": %.8f,\n  \"ppl\": %.6f\n}\n",
            scored, total / (double) scored, exp(-total / (double) scored));
    fclose(f);
    fprintf(stderr, "ppl ctx %d: %ld tokens, ppl %.4f in %.1f s -> %s\n", n_ctx, scored, exp(-total / (double) scored),
            secs, out_path);

    free(seq); free(top1); free(lp); free(toks);
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}

// Indices of the k largest logits, descending; ties broken by lower id.
static void topk(const float *lg, int n_vocab, int k, int *out) {
    for (int j = 0; j < k; j++) out[j] = -1;
    for (int v = 0; v < n_vocab; v++) {
        int j = k;
        while (j > 0 && (out[j - 1] < 0 || lg[v] > lg[out[j - 1]])) j--;
        if (j >= k) continue;
        memmove(out + j + 1, out + j, sizeof(int) * (size_t) (k - j - 1));
        out[j] = v;
    }
}

static int cmd_greedy(const char *model_path, const char *prompts_path, int n_gen, const char *out_path) {
    struct llama_model *model = load_model(model_path, 0);
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);
    const llama_token bos = llama_vocab_bos(vocab);
    int n_items;
    item *items = read_items(prompts_path, &n_items);

    // Context large enough for the longest prompt plus the continuation.
    int max_prompt = 0;
    int **pids = xmalloc(sizeof(int *) * (size_t) (n_items ? n_items : 1));
    int *pn = xmalloc(sizeof(int) * (size_t) (n_items ? n_items : 1));
    for (int k = 0; k < n_items; k++) {
        int n;
        llama_token *t = tokenize(vocab, items[k].text, items[k].text_len, &n);
        pids[k] = xmalloc(sizeof(int) * (size_t) (n + 1));
        pids[k][0] = bos;
        memcpy(pids[k] + 1, t, sizeof(int) * (size_t) n);
        pn[k] = n + 1;
        if (pn[k] > max_prompt) max_prompt = pn[k];
        free(t);
    }
    int n_ctx = max_prompt + n_gen + 1;
    n_ctx = (n_ctx + 255) / 256 * 256;
    struct llama_context *ctx = make_context(model, n_ctx);
    llama_memory_t mem = llama_get_memory(ctx);
    struct llama_batch batch = llama_batch_init(n_ctx, 0, 1);
    llama_token *gen = xmalloc(sizeof(llama_token) * (size_t) (n_gen + 1));
    float *margin = xmalloc(sizeof(float) * (size_t) (n_gen + 1));

    FILE *f = open_out(out_path);
    fputs("{\n", f);
    write_header(f, model, model_path);
    fprintf(f, "  \"n_generate\": %d,\n  \"bos\": %d,\n  \"eos\": %d,\n  \"swa_full\": true,\n"
               "  \"definition\": \"prompt_ids = [BOS] + tokenize(prompt, parse_special false); the prompt is decoded in one batch, "
               "then each argmax token (ties: lowest id) is fed back one at a time; EOS does not stop generation. "
               "margin = top1 logit - top2 logit at each step; top5 = logits at the first generated step\",\n"
               "  \"cases\": [\n",
            n_gen, bos, llama_vocab_eos(vocab));
    for (int k = 0; k < n_items; k++) {
        llama_memory_clear(mem, true);
        fill_batch(&batch, pids[k], pn[k], 0, 0);
        decode_or_die(ctx, batch);
        int top5[5];
        float top5v[5];
        for (int s = 0; s < n_gen; s++) {
            const float *lg = llama_get_logits_ith(ctx, -1);
            if (!lg) die("no logits");
            int t2[2];
            if (s == 0) {
                topk(lg, n_vocab, 5, top5);
                for (int j = 0; j < 5; j++) top5v[j] = lg[top5[j]];
                t2[0] = top5[0]; t2[1] = top5[1];
            } else {
                topk(lg, n_vocab, 2, t2);
            }
            gen[s] = t2[0];
            margin[s] = lg[t2[0]] - lg[t2[1]];
            if (s + 1 < n_gen) {
                fill_batch(&batch, &gen[s], 1, pn[k] + s, 1);
                decode_or_die(ctx, batch);
            }
        }
        char *txt = NULL;
        size_t tl = 0, tc = 0;
        append_piece(vocab, gen[0], &txt, &tl, &tc);
        for (int s = 1; s < n_gen; s++) append_piece(vocab, gen[s], &txt, &tl, &tc);
        fputs("    {", f);
        if (items[k].name) { fputs("\"name\": ", f); jw_cstr(f, items[k].name); fputs(", ", f); }
        fputs("\"prompt\": ", f);
        jw_str(f, items[k].text, items[k].text_len);
        fputs(",\n     \"prompt_ids\": ", f);
        jw_ids(f, pids[k], pn[k]);
        fputs(",\n     \"generated_ids\": ", f);
        jw_ids(f, gen, n_gen);
        fputs(",\n     \"text\": ", f);
        jw_str(f, txt, tl);
        if (!is_valid_utf8(txt, tl)) { fputs(",\n     \"text_hex\": ", f); jw_hex(f, txt, tl); }
        fputs(",\n     \"margins\": [", f);
        for (int s = 0; s < n_gen; s++) fprintf(f, s ? ",%.4f" : "%.4f", margin[s]);
        fputs("],\n     \"top5\": [", f);
        for (int j = 0; j < 5; j++) fprintf(f, "%s{\"id\": %d, \"logit\": %.5f}", j ? ", " : "", top5[j], top5v[j]);
        fputs(k + 1 < n_items ? "]},\n" : "]}\n", f);
        fprintf(stderr, "greedy %d/%d: ", k + 1, n_items);
        for (size_t j = 0; j < tl && j < 80; j++) fputc(txt[j] == '\n' ? ' ' : txt[j], stderr);
        fputc('\n', stderr);
        free(txt);
    }
    fputs("  ]\n}\n", f);
    fclose(f);
    for (int k = 0; k < n_items; k++) free(pids[k]);
    free(pids); free(pn); free(gen); free(margin);
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) goto usage;
    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    int rc;
    if (strcmp(argv[1], "tokenize") == 0 && argc == 5) {
        rc = cmd_tokenize(argv[2], argv[3], argv[4]);
    } else if (strcmp(argv[1], "ppl") == 0 && argc >= 6 && argc <= 8) {
        rc = cmd_ppl(argv[2], argv[3], atoi(argv[4]), argv[5], argc > 6 ? atoi(argv[6]) : 0, argc > 7 ? atoi(argv[7]) : -1);
    } else if (strcmp(argv[1], "greedy") == 0 && argc == 6) {
        rc = cmd_greedy(argv[2], argv[3], atoi(argv[4]), argv[5]);
    } else {
        goto usage;
    }
    llama_backend_free();
    return rc;
usage:
    fprintf(stderr,
            "usage: golden_dump tokenize MODEL CORPUS.json OUT.json\n"
            "       golden_dump ppl MODEL TEXTFILE CTX OUT.json [MAX_CHUNKS [DETAIL_CHUNKS]]\n"
            "       golden_dump greedy MODEL PROMPTS.json N OUT.json\n");
    return 2;
}
