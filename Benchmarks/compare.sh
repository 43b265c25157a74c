#!/usr/bin/env bash
# Side-by-side speed of GemmaEdge and llama.cpp in one run, same file, same threads, same method
# (gemma-edge bench vs Benchmarks/peer/peer_bench.c: load, pp512 prefill, tg128 decode, peak RSS),
# on the real Gemma 3 270M Q4_K_M and a Q4_0 requantisation of it, for 1 and 2 threads. Prints a
# Markdown table of GemmaEdge/llama.cpp ratios and writes it into Benchmarks/RESULTS.md.
#   Benchmarks/compare.sh [REPS]     (make bench)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${GEMMA_EDGE_CACHE:-$HOME/.cache/gemma-edge}"
REPS="${1:-5}"
P="${BENCH_P:-512}"
N="${BENCH_N:-128}"
THREADS=(${BENCH_THREADS:-1 2})

. "$ROOT/Benchmarks/peer/setup.sh"

Q40="$CACHE/models/gemma-3-270m-q4_0.gguf"
if [ ! -f "$Q40" ]; then
  "$BUILD/bin/llama-quantize" --allow-requantize "$MODEL" "$Q40.tmp" Q4_0 >/dev/null 2>&1
  mv "$Q40.tmp" "$Q40"
fi

field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}x' if b else '-')" "$1" "$2"; }
fmt() { python3 -c "import sys; print(f'{float(sys.argv[1]):.1f}')" "$1"; }

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
table="| file | threads | pp$P tok/s GE / llama.cpp | tg$N tok/s GE / llama.cpp | load ms GE / llama.cpp | peak RSS MiB GE / llama.cpp |
| --- | --- | --- | --- | --- | --- |"
for file in "$MODEL" "$Q40"; do
  for t in "${THREADS[@]}"; do
    # Alternate who goes first so neither always runs on a warmer machine.
    peer="$("$PEER" "$file" "$P" "$N" "$t" "$REPS")"
    ours="$("$GE" bench -m "$file" -p "$P" -n "$N" -t "$t" -r "$REPS" --json)"
    row="| $(basename "$file") | $t"
    for k in pp_tok_s tg_tok_s load_ms peak_rss_mb; do
      a="$(field "$ours" $k)"; b="$(field "$peer" $k)"
      row="$row | $(fmt "$a") / $(fmt "$b") = **$(ratio "$a" "$b")**"
    done
    table="$table
$row |"
    echo "$row |" >&2
  done
done

stamp="$(date -u +%Y-%m-%dT%H:%MZ)"
{
  echo "## Side by side with llama.cpp ($stamp)"
  echo
  echo "CPU: $cpu, $(nproc) cores. llama.cpp: llama-cpp-python 0.3.36 sdist, GGML_NATIVE=ON."
  echo "Command: \`Benchmarks/compare.sh $REPS\` (same method both sides: random tokens, $REPS repetitions after a warm-up, mean;"
  echo "ratios above 1.00x favour GemmaEdge for speed, below 1.00x for load time and RSS)."
  echo
  echo "$table"
  echo
} > "$CACHE/bench/latest.md"
cat "$CACHE/bench/latest.md"
. "$ROOT/Benchmarks/results.sh"
prepend_results "$CACHE/bench/latest.md"
