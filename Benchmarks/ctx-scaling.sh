#!/usr/bin/env bash
# Decode speed and peak RSS against the context length, GemmaEdge and llama.cpp side by side in one
# run, on the real Gemma 3 270M Q4_K_M: for each context C, both engines fill their cache with
# C - (REPS + 1) * N - 1 random tokens (prefilled once, untimed), then decode a warm-up round and
# REPS timed rounds of N tokens behind it, so every timed token attends over a nearly full cache
# (decode at the depth a long conversation reaches, not from an empty cache, which would hide
# what the context costs). Same method both sides: `gemma-edge bench --ctx C --depth D` and
# Benchmarks/peer/peer_bench.c with DEPTH and CTX (f16 keys and values, swa_full = false as
# llama-cli and llama-bench run). GemmaEdge runs with its default KV type (f16 global caches,
# f16 local rings). Peak RSS is each process's VmHWM: weights (mapped), caches and scratch.
#
#   Benchmarks/ctx-scaling.sh [CTX ...]        (default 512 2048 8192 32768)
#   env: N (tokens per round, 32), REPS (3), THREADS (2), NICE (10)
#
# Writes Benchmarks/ctx-scaling.png (drawn by `gemma-edge chart`), the chart's JSON next to the
# peer binary in the cache, and a section at the top of Benchmarks/RESULTS.md with the table,
# the load average before and after the run, and the command.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${GEMMA_EDGE_CACHE:-$HOME/.cache/gemma-edge}"
CTXS=("$@")
((${#CTXS[@]})) || CTXS=(512 2048 8192 32768)
N="${N:-32}"
REPS="${REPS:-3}"
THREADS="${THREADS:-2}"
NICE="${NICE:-10}"

. "$ROOT/Benchmarks/peer/setup.sh"

field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
results=()
for c in "${CTXS[@]}"; do
  depth=$((c - (REPS + 1) * N - 1))
  ((depth > 0)) || { echo "ctx-scaling: ctx $c is too short for $((REPS + 1)) rounds of $N" >&2; exit 2; }
  echo "ctx-scaling: ctx $c, depth $depth ..." >&2
  ours="$(nice -n "$NICE" "$GE" bench -m "$MODEL" -p 0 -n "$N" -r "$REPS" -t "$THREADS" --ctx "$c" --depth "$depth" --json)"
  peer="$(nice -n "$NICE" "$PEER" "$MODEL" 0 "$N" "$THREADS" "$REPS" "$depth" "$c")"
  echo "  GemmaEdge $ours" >&2
  echo "  llama.cpp $peer" >&2
  results+=("$c $depth $(field "$ours" tg_tok_s) $(field "$peer" tg_tok_s) $(field "$ours" peak_rss_mb) $(field "$peer" peak_rss_mb)")
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
elapsed=$(( $(date +%s) - start ))

stamp="$(date -u +%Y-%m-%dT%H:%MZ)"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
JSON="$CACHE/bench/ctx-scaling.json"
MD="$CACHE/bench/ctx-scaling.md"
python3 - "$JSON" "$MD" "$stamp" "$cpu" "$load_before" "$load_after" "$elapsed" "$N" "$REPS" "$THREADS" "$*" "${results[@]}" <<'PY'
import json, sys
json_path, md_path, stamp, cpu, before, after, elapsed, n, reps, threads, args, *rows = sys.argv[1:]
rows = [r.split() for r in rows]
def label(c):
    c = int(c)
    return f"{c // 1024}K" if c % 1024 == 0 and c >= 1024 else str(c)
cats = [label(r[0]) for r in rows]
chart = {
    "title": "GEMMA 3 270M Q4_K_M: DECODE BEHIND A FULL CACHE",
    "note": f"{stamp}, THREADS {threads}, {n} TOKENS X {reps} ROUNDS AFTER A WARM-UP, LOAD AVERAGE {before} BEFORE, {after} AFTER",
    "xTitle": "CONTEXT (TOKENS), CACHE FILLED TO CONTEXT - (ROUNDS + 1) x N",
    "categories": cats,
    "panels": [
        {"title": "DECODE TOK/S", "series": [
            {"name": "GemmaEdge (f16 KV)", "values": [float(r[2]) for r in rows]},
            {"name": "llama.cpp (f16 KV)", "values": [float(r[3]) for r in rows]}]},
        {"title": "PEAK RSS (MIB)", "series": [
            {"name": "GemmaEdge (f16 KV)", "values": [float(r[4]) for r in rows]},
            {"name": "llama.cpp (f16 KV)", "values": [float(r[5]) for r in rows]}]},
    ],
}
json.dump(chart, open(json_path, "w"), indent=1)
lines = [
    f"## Decode and memory against the context ({stamp})",
    "",
    f"CPU: {cpu}. Command: `Benchmarks/ctx-scaling.sh {args}`".rstrip() + f" ({elapsed} s). Load average (1, 5, 15 min): "
    f"{before} before, {after} after; the machine is shared, so read the figures as a comparison taken side by side, "
    "not as absolutes.",
    f"Method: each engine prefills context - {int(reps) + 1} x {n} - 1 random tokens once (untimed), then decodes a warm-up "
    f"round and {reps} timed rounds of {n} tokens behind them (mean tok/s of the rounds); threads: {threads}; "
    "f16 keys and values on both sides (GemmaEdge: `--kv-type f16`, the default; llama.cpp: its default, "
    "swa_full = false). Peak RSS is VmHWM of the process. Chart: `Benchmarks/ctx-scaling.png`.",
    "",
    "| context | depth | decode tok/s GemmaEdge | decode tok/s llama.cpp | ratio | peak RSS MiB GemmaEdge | peak RSS MiB llama.cpp |",
    "| --- | --- | --- | --- | --- | --- | --- |",
]
for r in rows:
    a, b = float(r[2]), float(r[3])
    lines.append(f"| {r[0]} | {r[1]} | {a:.1f} | {b:.1f} | {a / b if b else float('nan'):.2f}x | {float(r[4]):.0f} | {float(r[5]):.0f} |")
open(md_path, "w").write("\n".join(lines) + "\n\n")
PY
"$GE" chart "$JSON" -o "$ROOT/Benchmarks/ctx-scaling.png"
cat "$MD"
. "$ROOT/Benchmarks/results.sh"
prepend_results "$MD"
echo "ctx-scaling: wrote Benchmarks/ctx-scaling.png and a section of Benchmarks/RESULTS.md" >&2
