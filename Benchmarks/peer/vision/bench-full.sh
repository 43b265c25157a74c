#!/usr/bin/env bash
# Times one 896 px image through the whole Gemma 3 4B vision encoder, GemmaEdge beside llama.cpp's
# llama-mtmd-cli, on the same files, 2 threads (issue 20).
#
#   Benchmarks/peer/vision/bench-full.sh [RUNS]      # default 3 runs a side, medians reported
#
# The files: a random-weight projector with the real 4B shapes (llama.cpp `clip` / `gemma3` mmproj,
# f16 matrices: 896 px, patch 14, 27 blocks 1152 wide, feed-forward 4304, 16 heads, 4 x 4 pooling
# to 256 soft tokens, projection to 2560) and a one-block text model 2560 wide, both written by the
# project's own GGUF writer (TinyVision.benchmark4BWidth(blocks: 27), exported by TinyPairTests with
# GEMMA_EDGE_VISION_EXPORT_BENCH=full) and cached in $GEMMA_EDGE_CACHE/vision/full4b. Only the
# encoder is compared (the text model is kept small: what it costs is the same for both sides).
#
# Each run is a separate process, as a user runs it: `llama-mtmd-cli -t 2` ("mtmd batch encoding done
# in N ms", or "image slice encoded in N ms" in older builds) and `gemma-edge generate --threads 2
# --verbose` ("encoded in N s", plus the encoder's stage breakdown), both generating 1 token after
# the image; peak RSS is each process's maximum resident set size and CPU s its user + system time
# (GNU time): on a shared machine wall times follow the other load, CPU time much less. The runs
# alternate between the two engines, so a busy machine slows both.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
CACHE="${GEMMA_EDGE_CACHE:-$HOME/.cache/gemma-edge}"
IMAGE="$ROOT/Tests/Fixtures/vision/images/wide-rgb.png"
SCRATCH="${SCRATCH:-$ROOT/.build}"
RUNS="${1:-3}"
FILES="$CACHE/vision/full4b"

[ -x /usr/bin/time ] || { echo "bench-full: needs GNU time (/usr/bin/time)" >&2; exit 1; }
BUILD="$("$ROOT/Benchmarks/peer/build-peer.sh" | tail -n 1)"
MTMD="$BUILD/bin/llama-mtmd-cli"
[ -x "$MTMD" ] || { echo "bench-full: no llama-mtmd-cli in $BUILD/bin" >&2; exit 1; }

if [ ! -f "$FILES/full4b-mmproj.gguf" ] || [ ! -f "$FILES/full4b-text.gguf" ]; then
  echo "bench-full: writing the real-shape projector (about 0.9 GB) with the project's writer ..." >&2
  mkdir -p "$FILES"
  (cd "$ROOT" && swift build --scratch-path "$SCRATCH" --build-tests >&2)
  (cd "$ROOT" && GEMMA_EDGE_VISION_EXPORT="$FILES" GEMMA_EDGE_VISION_EXPORT_BENCH=full swift test --scratch-path "$SCRATCH" \
     --skip-build --filter 'VisionTests.TinyPairTests/testTinyPairsAreTheRecordedOnes' >/dev/null 2>&1) || true
  rm -f "$FILES"/tiny-*.gguf
  [ -f "$FILES/full4b-mmproj.gguf" ] || { echo "bench-full: the projector was not written" >&2; exit 1; }
fi
TEXT="$FILES/full4b-text.gguf" MMPROJ="$FILES/full4b-mmproj.gguf"

(cd "$ROOT" && swift build -c release --scratch-path "$SCRATCH" --product gemma-edge >&2)
GE="$SCRATCH/release/gemma-edge"

log="$(mktemp -d)"
trap 'rm -rf "$log"' EXIT
rss() { sed -n 's/.*Maximum resident set size (kbytes): \([0-9]*\).*/\1/p' "$1"; }
cpu() { awk -F': ' '/User time \(seconds\)|System time \(seconds\)/ {s += $2} END {printf "%.1f", s}' "$1"; }
echo "bench-full: $RUNS runs a side, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for r in $(seq 1 "$RUNS"); do
  /usr/bin/time -v "$MTMD" -m "$TEXT" --mmproj "$MMPROJ" --image "$IMAGE" -p x -n 1 -t 2 --temp 0 \
    --chat-template gemma >"$log/peer-$r.out" 2>"$log/peer-$r.err" </dev/null || { cat "$log/peer-$r.err" >&2; exit 1; }
  peer_ms="$(sed -n -e 's/.*image slice encoded in \([0-9.]*\) ms.*/\1/p' -e 's/.*mtmd batch encoding done in \([0-9.]*\) ms.*/\1/p' \
    "$log/peer-$r.err" | head -n 1)"
  [ -n "$peer_ms" ] || { echo "bench-full: no encoder time in llama-mtmd-cli's output:" >&2; cat "$log/peer-$r.err" >&2; exit 1; }
  /usr/bin/time -v "$GE" generate -m "$TEXT" --mmproj "$MMPROJ" --image "$IMAGE" --prompt x --max-tokens 1 --threads 2 \
    --verbose >"$log/ours-$r.out" 2>"$log/ours-$r.err" </dev/null || { cat "$log/ours-$r.err" >&2; exit 1; }
  ours_ms="$(sed -n 's/.*encoded in \([0-9.]*\) s.*/\1/p' "$log/ours-$r.err" | awk '{printf "%.0f", $1 * 1000}')"
  echo "run $r: llama.cpp ${peer_ms} ms, $(($(rss "$log/peer-$r.err") / 1024)) MiB, $(cpu "$log/peer-$r.err") CPU s;" \
    "GemmaEdge ${ours_ms} ms, $(($(rss "$log/ours-$r.err") / 1024)) MiB, $(cpu "$log/ours-$r.err") CPU s" \
    "(load average $(cut -d' ' -f1 /proc/loadavg))" >&2
  echo "  $(grep '^vision-stages' "$log/ours-$r.err")" >&2
  echo "$peer_ms $(rss "$log/peer-$r.err") $ours_ms $(rss "$log/ours-$r.err")" >>"$log/all"
done
echo "bench-full: load average after $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# medians (of the encoder times and of the peak RSS, each column on its own)
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
pm="$(cut -d' ' -f1 "$log/all" | median)" pr="$(cut -d' ' -f2 "$log/all" | median)"
om="$(cut -d' ' -f3 "$log/all" | median)" or="$(cut -d' ' -f4 "$log/all" | median)"
echo "| encoder ms llama.cpp / GemmaEdge (median of $RUNS) | ratio | peak RSS MiB llama.cpp / GemmaEdge |"
echo "| --- | --- | --- |"
awk -v pm="$pm" -v om="$om" -v pr="$pr" -v or="$or" \
  'BEGIN {printf "| %.0f / %.0f | %.2fx | %.0f / %.0f |\n", pm, om, om / pm, pr / 1024, or / 1024}'
