#!/usr/bin/env bash
# Records GemmaEdge's golden reference outputs from the peer, llama.cpp, on the real Gemma 3 270M:
# builds the peer (build-peer.sh, cached), fetches the model (scripts/fetch-model.sh, cached),
# compiles golden_dump.c against the built libllama into the cache (never into the repo), runs it
# and writes Tests/Fixtures/golden/*.json plus manifest.json. Idempotent: rerun at will; the
# fixtures come out byte-identical on the same machine, only manifest.json's date changes.
#
#   Benchmarks/peer/record-golden.sh
#
# Inputs (committed): Tests/Fixtures/texts/{tokenize-corpus.json,prompts.json,ppl-text.txt}.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${GEMMA_EDGE_CACHE:-$HOME/.cache/gemma-edge}"
TEXTS="$ROOT/Tests/Fixtures/texts"
OUT="$ROOT/Tests/Fixtures/golden"
PEER_VERSION="${PEER_VERSION:-0.3.36}"

# What is recorded. ppl: CTX MAX_CHUNKS(0 = whole file) DETAIL_CHUNKS(per-token records). The ctx
# 4096 run is one chunk of 4,095 tokens (the text holds 12,163), which keeps its test short.
GREEDY_TOKENS=32
PPL_RUNS=("512 0 4" "2048 0 2" "4096 1 1")

start=$(date +%s)
command -v cc >/dev/null || { echo "record-golden: a C compiler (cc) is missing" >&2; exit 1; }

BUILD="$(PEER_VERSION="$PEER_VERSION" "$ROOT/Benchmarks/peer/build-peer.sh" | tail -n 1)"
SRC="$(dirname "$BUILD")"
MODEL="$("$ROOT/scripts/fetch-model.sh" | tail -n 1)"
[ -f "$BUILD/bin/libllama.so" ] || { echo "record-golden: no libllama.so in $BUILD/bin" >&2; exit 1; }

BIN_DIR="$CACHE/golden"
BIN="$BIN_DIR/golden_dump"
mkdir -p "$BIN_DIR"
CFLAGS=(-O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra)
cc "${CFLAGS[@]}" -I"$SRC/include" -I"$SRC/ggml/include" "$ROOT/Benchmarks/peer/golden_dump.c" -o "$BIN" \
   -L"$BUILD/bin" -lllama -lggml -lggml-base -lm -Wl,-rpath,"$BUILD/bin"

work="$(mktemp -d "$BIN_DIR/run.XXXXXX")"
trap 'rm -rf "$work"' EXIT

commands=()
run() {
  commands+=("golden_dump $(printf '%s ' "${@:1}" | sed -e "s|$MODEL|MODEL|g" -e "s|$TEXTS/|texts/|g" -e "s|$work/||g" -e 's/ $//')")
  echo "record-golden: golden_dump $1 ..." >&2
  "$BIN" "$@"
}

run tokenize "$MODEL" "$TEXTS/tokenize-corpus.json" "$work/tokenize.json"
for spec in "${PPL_RUNS[@]}"; do
  read -r ctx max detail <<<"$spec"
  run ppl "$MODEL" "$TEXTS/ppl-text.txt" "$ctx" "$work/ppl-$ctx.json" "$max" "$detail"
done
run greedy "$MODEL" "$TEXTS/prompts.json" "$GREEDY_TOKENS" "$work/greedy.json"

# The peer's noise floor: the same runs with flash attention off. The parity tests hold
# GemmaEdge to the agreement the peer shows with itself across this change of kernels.
export GOLDEN_FLASH_ATTN=off
run ppl "$MODEL" "$TEXTS/ppl-text.txt" 512 "$work/ppl-512-noflash.json" 4 4
run greedy "$MODEL" "$TEXTS/prompts.json" "$GREEDY_TOKENS" "$work/greedy-noflash.json"
unset GOLDEN_FLASH_ATTN

commit="$(git -C "$SRC" rev-parse HEAD 2>/dev/null || true)"
if [ -z "$commit" ] && [ -f "$BUILD/common/build-info.cpp" ]; then
  commit="$(sed -n 's/.*LLAMA_COMMIT = "\(.*\)";/\1/p' "$BUILD/common/build-info.cpp")"
fi
elapsed=$(( $(date +%s) - start ))

python3 - "$work" "$MODEL" "$PEER_VERSION" "$commit" "$elapsed" "$TEXTS" "$(cc --version | head -n 1)" \
         "${commands[@]}" <<'PY'
import hashlib, json, os, platform, sys, datetime
work, model, version, commit, elapsed, texts, compiler, *commands = sys.argv[1:]

def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

cpu = ""
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass

outputs = sorted(n for n in os.listdir(work) if n.endswith(".json"))
summary = {}
for n in outputs:
    d = json.load(open(os.path.join(work, n)))
    if n.startswith("ppl-"):
        summary[n] = {"ctx": d["ctx"], "ppl": d["ppl"], "scored_tokens": d["scored_tokens"],
                      "file_tokens": d["file_tokens"], "detail_chunks": d["detail_chunks"]}
manifest = {
    "what": "Golden reference outputs recorded from llama.cpp on the real Gemma 3 270M; regenerate with Benchmarks/peer/record-golden.sh",
    "model": {"file": os.path.basename(model), "sha256": sha(model), "bytes": os.path.getsize(model)},
    "peer": {"name": "llama.cpp", "source": f"llama-cpp-python {version} sdist (PyPI), vendor/llama.cpp",
             "llama_cpp_python_version": version, "commit": commit,
             "build": "cmake Release, GGML_NATIVE=ON, BUILD_SHARED_LIBS=ON, CPU backend"},
    "context": {"swa_full": True, "threads": 2, "flash_attn": "default (auto; enabled on this CPU build, see flash_attn in each output)", "kv_cache_type": "default (f16)"},
    "recorded": {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "cpu": cpu, "machine": platform.machine(), "compiler": compiler,
                 "seconds": int(elapsed)},
    "inputs": {n: sha(os.path.join(texts, n)) for n in sorted(os.listdir(texts)) if not n.endswith(".md")},
    "outputs": {n: sha(os.path.join(work, n)) for n in outputs},
    "perplexity": summary,
    "commands": commands,
}
with open(os.path.join(work, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=2, ensure_ascii=False)
    f.write("\n")
PY

mkdir -p "$OUT"
for f in "$work"/*.json; do mv -f "$f" "$OUT/"; done
echo "record-golden: wrote $(ls "$OUT" | tr '\n' ' ')in ${elapsed}s" >&2
du -sh "$OUT" >&2
