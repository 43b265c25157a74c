#!/usr/bin/env bash
# The narrower output projection (--output-type, issue #19): what holding the tied embedding's
# output product in Q5_0 or Q4_0 costs in perplexity and gains in decode speed, on the real 270M
# (Q4_K_M and Q4_0 files), with llama.cpp beside it.
#   Benchmarks/output-type.sh [REPS]
# GemmaEdge: `perplexity --ctx 512` over Tests/Fixtures/texts/ppl-text.txt (all chunks) and
# `bench -p 0 -n 128` decode, each output type, rounds alternating between the types (median of
# REPS rounds). llama.cpp cannot narrow the output product alone (the 270M's output is its
# embedding), so its rows are the whole embedding requantised by llama-quantize
# (--token-embedding-type; every other tensor keeps its type): lookup and output both change.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${GEMMA_EDGE_CACHE:-$HOME/.cache/gemma-edge}"
REPS="${1:-3}"
CHUNKS="${CHUNKS:-0}"          # perplexity chunks of 511 tokens (0: the whole text, 24 chunks)
T="${BENCH_THREADS:-2}"
TEXT="$ROOT/Tests/Fixtures/texts/ppl-text.txt"
TYPES=(file q5_0 q4_0)

. "$ROOT/Benchmarks/peer/setup.sh"
. "$ROOT/Benchmarks/results.sh"
Q40="$CACHE/models/gemma-3-270m-q4_0.gguf"
[ -f "$Q40" ] || { "$BUILD/bin/llama-quantize" --allow-requantize "$MODEL" "$Q40.tmp" Q4_0 >/dev/null 2>&1; mv "$Q40.tmp" "$Q40"; }
WORK="$CACHE/bench/output-type"
mkdir -p "$WORK"

ge_ppl() {  # file type -> perplexity
  local flag=(); [ "$2" = file ] || flag=(--output-type "$2")
  [ "$CHUNKS" = 0 ] || flag+=(--chunks "$CHUNKS")
  "$GE" perplexity -m "$1" --ctx 512 --threads "$T" "${flag[@]}" "$TEXT" 2>/dev/null | awk '/^perplexity/ {print $2}'
}
ge_tg() {   # file type -> decode tok/s
  local flag=(); [ "$2" = file ] || flag=(--output-type "$2")
  "$GE" bench -m "$1" -p 0 -n 128 -t "$T" -r 3 --json "${flag[@]}" | python3 -c "import json,sys; print(json.load(sys.stdin)['tg_tok_s'])"
}
peer_file() {  # file type -> the peer's file with the whole embedding in that type
  [ "$2" = file ] && { echo "$1"; return; }
  local out="$WORK/$(basename "$1" .gguf)-embd-$2.gguf" ftype
  case "$(basename "$1")" in *q4_k_m*) ftype=Q4_K_M ;; *q4_0*) ftype=Q4_0 ;; esac
  if [ ! -f "$out" ]; then
    "$BUILD/bin/llama-quantize" --allow-requantize --token-embedding-type "$2" "$1" "$out.tmp" "$ftype" >/dev/null 2>&1
    mv "$out.tmp" "$out"
  fi
  echo "$out"
}
peer_ppl() {
  local n=(); [ "$CHUNKS" = 0 ] || n=(--chunks "$CHUNKS")
  "$BUILD/bin/llama-perplexity" -m "$1" -f "$TEXT" -c 512 -b 512 -t "$T" "${n[@]}" 2>&1 | sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p'
}
peer_tg() { "$PEER" "$1" 0 128 "$T" 3 | python3 -c "import json,sys; print(json.load(sys.stdin)['tg_tok_s'])"; }
output_mb() {  # type -> MB the output product reads per decoded token (262144 rows of 640)
  python3 -c "import sys; b={'Q8_0':34,'q8_0':34,'q5_0':22,'q4_0':18}[sys.argv[1]]; print(f'{262144*640//32*b/1e6:.0f}')" "$1"
}
rel() {  # value base -> "value (+x.x %)"
  python3 -c "import sys; v,b=sys.argv[1],sys.argv[2]; print(v if not v or not b or v==b else f'{v} ({(float(v)/float(b)-1)*100:+.1f} %)')" "$1" "$2"
}
median() { python3 -c "import sys,statistics; v=[float(x) for x in sys.argv[1:] if x]; print(f'{statistics.median(v):.1f}' if v else '-')" "$@"; }

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
load0="$(cut -d' ' -f1 /proc/loadavg)"
table="| file | output | output MB/token | GE ppl (output only) | llama.cpp ppl (whole embedding) | GE tg128 tok/s | llama.cpp tg128 tok/s |
| --- | --- | --- | --- | --- | --- | --- |"
for file in "$MODEL" "$Q40"; do
  declare -A gp=() pp=() gt=() pt=()
  for t in "${TYPES[@]}"; do
    gp[$t]="$(ge_ppl "$file" "$t")"
    pp[$t]="$(peer_ppl "$(peer_file "$file" "$t")")"
    echo "$(basename "$file") $t: ppl GE ${gp[$t]} llama.cpp ${pp[$t]}" >&2
  done
  for r in $(seq "$REPS"); do        # rounds alternate the types and the two programs
    for t in "${TYPES[@]}"; do
      gt[$t]="${gt[$t]:-} $(ge_tg "$file" "$t")"
      pt[$t]="${pt[$t]:-} $(peer_tg "$(peer_file "$file" "$t")")"
    done
  done
  for t in "${TYPES[@]}"; do
    mb="$(output_mb "$([ "$t" = file ] && echo Q8_0 || echo "$t")")"
    row="| $(basename "$file") | $([ "$t" = file ] && echo "q8_0 (as shipped)" || echo "$t") | $mb | $(rel "${gp[$t]}" "${gp[file]}") | $(rel "${pp[$t]}" "${pp[file]}") | $(median ${gt[$t]}) | $(median ${pt[$t]}) |"
    table="$table
$row"
    echo "$row" >&2
  done
  unset gp pp gt pt
done

MD="$WORK/latest.md"
{
  echo "## A narrower output projection: --output-type ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "CPU: $cpu, $(nproc) cores, $T threads, load average $load0 at the start and $(cut -d' ' -f1 /proc/loadavg) at the end."
  echo "Command: \`CHUNKS=$CHUNKS Benchmarks/output-type.sh $REPS\`. Perplexity: ctx 512 over Tests/Fixtures/texts/ppl-text.txt, $([ "$CHUNKS" = 0 ] && echo "every chunk" || echo "the first $CHUNKS chunks");"
  echo "decode: tg128, median of $REPS alternating rounds (each the mean of 3 repetitions). GemmaEdge narrows the output product only;"
  echo "llama.cpp's rows requantise the whole tied embedding (llama-quantize --token-embedding-type), so lookup and output both change."
  echo "The two perplexities are not comparable with each other, only their changes: llama-perplexity scores the second half of"
  echo "each chunk, gemma-edge every token after BOS (Tests/Fixtures/golden/ppl-512.json has llama.cpp's figure scored that way)."
  echo
  echo "$table"
  echo
} > "$MD"
cat "$MD"
prepend_results "$MD"
