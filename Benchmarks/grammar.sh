#!/usr/bin/env bash
# Constrained decoding speed on the real Gemma 3 270M: GemmaEdge without and with a JSON schema
# (mask time per token reported apart), and llama.cpp's grammar sampling on the same schema and
# prompt when its build is in the cache. Prints a Markdown table for Benchmarks/RESULTS.md.
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

# One llama-cli run: prints "tok/s sampling_ms_per_token".
peer() {
  local err
  err="$("$PEER_BIN/llama-cli" -m "$MODEL" -p "$PROMPT" -n "$TOKENS" --temp 0 -t "$THREADS" -no-cnv --no-warmup \
         "$@" 2>&1 </dev/null >/dev/null || true)"
  python3 - "$err" <<'PY'
import re, sys
e = sys.argv[1]
ev = re.search(r"\beval time =\s*[0-9.]+ ms /\s*\d+ runs\s*\(\s*[0-9.]+ ms per token,\s*([0-9.]+) tokens per second", e)
sa = re.search(r"sampling time =\s*[0-9.]+ ms /\s*\d+ runs\s*\(\s*([0-9.]+) ms per token", e)
print(ev.group(1) if ev else "-", sa.group(1) if sa else "-")
PY
}

median() { python3 -c "import sys,statistics; v=[float(x) for x in sys.argv[1:] if x!='-']; print(f'{statistics.median(v):.1f}' if v else '-')" "$@"; }

free_tps=(); json_tps=(); json_mask=(); peer_free=(); peer_json=(); peer_sample=()
for ((r = 0; r < REPS; r++)); do
  read -r t _ _ < <(ours); free_tps+=("$t")
  read -r t m _ < <(ours --json-schema "$SCHEMA"); json_tps+=("$t"); json_mask+=("$m")
  if [ -x "$PEER_BIN/llama-cli" ]; then
    read -r t _ < <(peer); peer_free+=("$t")
    read -r t s < <(peer --json-schema "$(cat "$SCHEMA")"); peer_json+=("$t"); peer_sample+=("$s")
  fi
done

echo "| engine | decode tok/s, free | decode tok/s, JSON schema | constrained / free | mask or sampling time per token |"
echo "| --- | --- | --- | --- | --- |"
f="$(median "${free_tps[@]}")"; j="$(median "${json_tps[@]}")"
echo "| GemmaEdge | $f | $j | $(python3 -c "print(f'{$j/$f*100:.0f} %')") | mask $(median "${json_mask[@]}") us |"
if [ ${#peer_free[@]} -gt 0 ]; then
  pf="$(median "${peer_free[@]}")"; pj="$(median "${peer_json[@]}")"
  echo "| llama.cpp (llama-cli --json-schema) | $pf | $pj | $(python3 -c "print(f'{$pj/$pf*100:.0f} %' if '$pf' != '-' and '$pj' != '-' else '-')") | sampling $(median "${peer_sample[@]}") ms |"
else
  echo "| llama.cpp | not built ($PEER_BIN/llama-cli missing: Benchmarks/peer/build-peer.sh) | | | |"
fi
echo
echo "$(nproc) cores, $THREADS threads, $TOKENS tokens max, greedy, median of $REPS runs; $(date -u +%Y-%m-%d)"
