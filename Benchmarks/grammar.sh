#!/usr/bin/env bash
# Constrained decoding speed on the real Gemma 3 270M: GemmaEdge without and with a JSON schema
# (mask time per token reported apart), one process per run; then server to server against
# llama.cpp's llama-server on the same schema and prompt when its build is in the cache
# (Benchmarks/grammar_server.py). Prints Markdown tables for Benchmarks/RESULTS.md.
#   Benchmarks/grammar.sh [REPS]          (THREADS=2, TOKENS=128 by default)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${GEMMA_EDGE_CACHE:-$HOME/.cache/gemma-edge}"
REPS="${1:-3}"
THREADS="${THREADS:-2}"
TOKENS="${TOKENS:-128}"
MODEL="${MODEL:-$CACHE/models/gemma-3-270m-q4_k_m.gguf}"
SCHEMA="$ROOT/Benchmarks/grammar/person.schema.json"
PROMPT="${PROMPT:-Here is a customer record for Jane Doe, a 34 year old teacher from Lyon, as JSON:}"
GE="$ROOT/.build/release/gemma-edge"
[ -x "$GE" ] || (cd "$ROOT" && swift build -c release --product gemma-edge >&2)
[ -f "$MODEL" ] || MODEL="$("$ROOT/scripts/fetch-model.sh" | tail -n 1)"
PEER_BIN="$CACHE/peer/llama_cpp_python-0.3.36/vendor/llama.cpp/build/bin"

# One gemma-edge run: prints "tok/s mask_us masks".
ours() {
  local err
  err="$("$GE" generate -m "$MODEL" --prompt "$PROMPT" --max-tokens "$TOKENS" --temperature 0 --threads "$THREADS" \
         --verbose "$@" 2>&1 >/dev/null)"
  python3 - "$err" <<'PY'
import re, sys
e = sys.argv[1]
tps = re.search(r"tokens in [0-9.]+ s \(([0-9.]+) tok/s\)", e).group(1)
m = re.search(r"grammar: (\d+) masks, ([0-9.]+) us each", e)
print(tps, m.group(2) if m else "-", m.group(1) if m else "-")
PY
}

median() { python3 -c "import sys,statistics; v=[float(x) for x in sys.argv[1:] if x!='-']; print(f'{statistics.median(v):.1f}' if v else '-')" "$@"; }

free_tps=(); json_tps=(); json_mask=()
for ((r = 0; r < REPS; r++)); do
  read -r t _ _ < <(ours); free_tps+=("$t")
  read -r t m _ < <(ours --json-schema "$SCHEMA"); json_tps+=("$t"); json_mask+=("$m")
done

echo "One process per run (\`gemma-edge generate\`: the vocabulary trie and the mask cache are built cold in every run):"
echo
echo "| engine | decode tok/s, free | decode tok/s, JSON schema | constrained / free | mask time per token |"
echo "| --- | --- | --- | --- | --- |"
f="$(median "${free_tps[@]}")"; j="$(median "${json_tps[@]}")"
echo "| GemmaEdge generate | $f | $j | $(python3 -c "print(f'{$j/$f*100:.0f} %')") | mask $(median "${json_mask[@]}") us (cold cache) |"
echo
echo "$(nproc) cores, $THREADS threads, $TOKENS tokens max, greedy, median of $REPS runs; load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%dT%H:%MZ)"
echo
# Server to server, the grammar store warm after the first request; llama-server when built. (This
# llama.cpp's llama-cli is conversation-only and no longer takes a raw prompt with -no-cnv.)
python3 "$ROOT/Benchmarks/grammar_server.py" --gemma-edge "$GE" --model "$MODEL" --peer-bin "$PEER_BIN" --schema "$SCHEMA" \
  --prompt "$PROMPT" --reps "$REPS" --tokens "$TOKENS" --threads "$THREADS"
