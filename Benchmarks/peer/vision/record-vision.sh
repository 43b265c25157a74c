#!/usr/bin/env bash
# Records GemmaEdge's vision golden fixtures from the peer, llama.cpp's libmtmd, on tiny synthetic
# Gemma 3 4B-shaped text + mmproj pairs, and times both image encoders on the same files.
#
#   Benchmarks/peer/vision/record-vision.sh            # record fixtures + time the encoders
#   Benchmarks/peer/vision/record-vision.sh --bench    # only the timing (prints a table)
#
# Steps: build the peer with libmtmd (../build-peer.sh, cached); write the committed test images
# (make-images.py, pypng); build the Swift tests and run TinyPairTests with
# GEMMA_EDGE_VISION_EXPORT set, which writes the tiny pairs the tests generate (so llama.cpp reads
# the same bytes); compile vision_dump.c against libllama + libmtmd into the cache; run it on every
# (pair, prompt) case; compute Pillow reference values for the resize tests; write
# Tests/Fixtures/vision/golden/*.json with a manifest (hashes of every input, peer commit, date).
# Idempotent; reruns on the same machine give the same fixtures except the manifest's date and
# timings. Needs python3 with numpy, pypng and pillow (pip install pypng pillow).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
CACHE="${GEMMA_EDGE_CACHE:-$HOME/.cache/gemma-edge}"
HERE="$ROOT/Benchmarks/peer/vision"
IMAGES="$ROOT/Tests/Fixtures/vision/images"
OUT="$ROOT/Tests/Fixtures/vision/golden"
SCRATCH="${SCRATCH:-$ROOT/.build-vision}"
GREEDY=16
BENCH_RUNS=20
BENCH_ONLY=0
[ "${1:-}" = "--bench" ] && BENCH_ONLY=1

python3 -c "import png, PIL, numpy" 2>/dev/null || { echo "record-vision: needs python3 with pypng, pillow and numpy (pip install pypng pillow numpy)" >&2; exit 1; }
command -v cc >/dev/null || { echo "record-vision: a C compiler (cc) is missing" >&2; exit 1; }

BUILD="$("$ROOT/Benchmarks/peer/build-peer.sh" | tail -n 1)"
SRC="$(dirname "$BUILD")"
[ -f "$BUILD/bin/libmtmd.so" ] || { echo "record-vision: no libmtmd.so in $BUILD/bin" >&2; exit 1; }

BIN_DIR="$CACHE/vision"
mkdir -p "$BIN_DIR"
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -I"$SRC/include" -I"$SRC/ggml/include" -I"$SRC/tools/mtmd" \
   "$HERE/vision_dump.c" -o "$BIN_DIR/vision_dump" -L"$BUILD/bin" -lmtmd -lllama -lggml -lggml-base -lm \
   -Wl,-rpath,"$BUILD/bin"

work="$(mktemp -d "$BIN_DIR/run.XXXXXX")"
trap 'rm -rf "$work"' EXIT

python3 "$HERE/make-images.py" "$IMAGES"

# The tiny pairs, exactly as the Swift tests generate them (the test's hash check may fail here
# when the fixtures are being re-recorded; the files are written before it checks).
echo "record-vision: building the Swift tests to export the tiny pairs ..." >&2
(cd "$ROOT" && swift build --scratch-path "$SCRATCH" --product GemmaEdgePackageTests >&2)
(cd "$ROOT" && GEMMA_EDGE_VISION_EXPORT="$work" swift test --scratch-path "$SCRATCH" --skip-build \
   --filter 'VisionTests.TinyPairTests/testTinyPairsAreTheRecordedOnes' >/dev/null 2>&1) || true
for v in f32 f16; do
  [ -f "$work/tiny-$v-text.gguf" ] && [ -f "$work/tiny-$v-mmproj.gguf" ] || { echo "record-vision: the tiny $v pair was not exported" >&2; exit 1; }
done

if [ "$BENCH_ONLY" = 0 ]; then
  # Cases: name | prompt | images. Markers are llama.cpp's "<__media__>".
  # "text" has no image: the text path's own distance to llama.cpp on these models (the floor).
  CASES=(
    "text|hello world the cat|"
    "wide|<__media__>hello world|wide-rgb.png"
    "two|the cat <__media__> and <__media__> in|tall-grey.png square-palette-interlaced.png"
    "chat|<start_of_turn>user
<__media__>describe the world<end_of_turn>
<start_of_turn>model
|big-rgb16.png"
  )
  for v in f32 f16; do
    for spec in "${CASES[@]}"; do
      IFS='|' read -r -d '' name prompt images <<<"$spec" || true
      images="${images%$'\n'}"
      args=()
      for im in $images; do args+=("$IMAGES/$im"); done
      echo "record-vision: $v/$name" >&2
      "$BIN_DIR/vision_dump" run "$work/tiny-$v-text.gguf" "$work/tiny-$v-mmproj.gguf" "$work/$v-$name.json" \
        "$GREEDY" "$prompt" "${args[@]}"
    done
  done
fi

# Encoder timing on the same files, both sides, 2 threads, the preprocessed wide-rgb.png: the tiny
# pairs and a tower at the real 4B width (896 px, 1152 wide, 16 heads, MLP 4304) with 2 of its 27
# blocks, exported by the same test when GEMMA_EDGE_VISION_EXPORT_BENCH is set.
(cd "$ROOT" && GEMMA_EDGE_VISION_EXPORT="$work" GEMMA_EDGE_VISION_EXPORT_BENCH=1 swift test --scratch-path "$SCRATCH" \
   --skip-build --filter 'VisionTests.TinyPairTests/testTinyPairsAreTheRecordedOnes' >/dev/null 2>&1) || true
[ -f "$work/bench4b-mmproj.gguf" ] || { echo "record-vision: the 4B-width pair was not exported" >&2; exit 1; }
bench_json="$work/bench.json"
{
  echo "{"
  for v in f32 f16; do
    printf '  "%s": %s,\n' "$v" "$("$BIN_DIR/vision_dump" bench "$work/tiny-$v-text.gguf" "$work/tiny-$v-mmproj.gguf" "$IMAGES/wide-rgb.png" "$BENCH_RUNS")"
  done
  printf '  "4b-width-2-blocks": %s\n' "$("$BIN_DIR/vision_dump" bench "$work/bench4b-text.gguf" "$work/bench4b-mmproj.gguf" "$IMAGES/wide-rgb.png" 3)"
  echo "}"
} >"$bench_json"
echo "record-vision: llama.cpp encoder (vision_dump bench, 2 threads):" >&2
cat "$bench_json" >&2
ours="$work/bench-gemma-edge.txt"
: >"$ours"
if [ "${SKIP_GEMMA_EDGE_BENCH:-0}" = 1 ]; then
  echo "record-vision: SKIP_GEMMA_EDGE_BENCH=1: GemmaEdge's encoder not timed" >&2
else
  # The release CLI, as users run it: `generate --image-bench-runs N` encodes the first image N
  # times after a warm-up and prints the median.
  (cd "$ROOT" && swift build -c release --scratch-path "$SCRATCH" --product gemma-edge >&2)
  GE="$SCRATCH/release/gemma-edge"
  bench_ours() {  # label text mmproj runs
    printf '%s: %s\n' "$1" "$("$GE" generate -m "$2" --mmproj "$3" --image "$IMAGES/wide-rgb.png" --prompt x \
      --threads 2 --image-bench-runs "$4" 2>&1 | grep '^vision-bench')" >>"$ours"
  }
  for v in f32 f16; do bench_ours "$v" "$work/tiny-$v-text.gguf" "$work/tiny-$v-mmproj.gguf" "$BENCH_RUNS"; done
  bench_ours 4b-width-2-blocks "$work/bench4b-text.gguf" "$work/bench4b-mmproj.gguf" 3
  echo "record-vision: GemmaEdge encoder (release gemma-edge, 2 threads):" >&2
  cat "$ours" >&2
fi
[ "$BENCH_ONLY" = 1 ] && exit 0

commit="$(git -C "$SRC" rev-parse HEAD 2>/dev/null || true)"
python3 "$HERE/finish-golden.py" "$work" "$OUT" "$IMAGES" "$commit" "$(cc --version | head -n 1)"
echo "record-vision: wrote $(ls "$OUT" | tr '\n' ' ')" >&2
