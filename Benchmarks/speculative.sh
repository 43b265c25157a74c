#!/bin/sh
# Speculative decoding on this machine (figures in Benchmarks/RESULTS.md, "Speculative decoding"):
#  1. prompt lookup against plain greedy decoding on a copy-heavy prompt (speculative/copy.txt,
#     chat template), alternating inside one `gemma-edge bench` process (medians of -r rounds),
#     and llama.cpp's llama-lookup on the same text and file, side by side, ROUNDS times;
#  2. the cost of verifying k = 0..8 drafts in one batch against a decode step, at the real 270M
#     and at the 1B shape (random weights with the 270M's vocabulary, about 710 MB, written once by
#     the project's own GGUF writer through ShapeModelTests and cached).
# The machine is shared: the load average is printed before each part.
set -eu
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/release/gemma-edge}
CACHE=${GEMMA_EDGE_CACHE:-$HOME/.cache/gemma-edge}
MODEL=${MODEL:-$CACHE/models/gemma-3-270m-q4_k_m.gguf}
PEER=${PEER:-$CACHE/peer/llama_cpp_python-0.3.36/vendor/llama.cpp/build/bin}
SHAPE=${SHAPE:-$CACHE/bench/gemma-1b-shape-q4_0.gguf}
THREADS=${THREADS:-2}
N=${N:-128}
ROUNDS=${ROUNDS:-3}
PROMPT=Benchmarks/speculative/copy.txt
TEMPLATED=$(mktemp)
trap 'rm -f "$TEMPLATED"' EXIT
# The same prompt for llama-lookup, which does not apply a chat template itself.
{ printf '<start_of_turn>user\n'; cat "$PROMPT"; printf '<end_of_turn>\n<start_of_turn>model\n'; } > "$TEMPLATED"

echo "## prompt lookup, $THREADS threads, up to $N tokens"
for i in $(seq "$ROUNDS"); do
    echo "load: $(cat /proc/loadavg)"
    "$BIN" bench -m "$MODEL" -t "$THREADS" -n "$N" -r 3 --speculative lookup --draft-max 8 --prompt-file "$PROMPT" --json
    "$PEER/llama-lookup" -m "$MODEL" -t "$THREADS" -n "$N" --temp 0 --spec-draft-n-max 8 -c 2048 -f "$TEMPLATED" 2>&1 | grep -E "decoded|n_draft|n_predict|n_drafted|n_accept|accept" || true
done

if [ ! -f "$SHAPE" ]; then
    echo "speculative: writing the 1B-shaped model (about 710 MB) with the project's writer ..." >&2
    mkdir -p "$(dirname "$SHAPE")"
    swift build --build-tests >&2
    GEMMA_EDGE_MODEL="$MODEL" GEMMA_EDGE_SHAPE_EXPORT="$SHAPE" swift test --skip-build \
        --filter 'Gemma3Tests.ShapeModelTests/testExportThe1BShape' >&2
    [ -f "$SHAPE" ] || { echo "speculative: the 1B-shaped model was not written" >&2; exit 1; }
fi
for m in "$MODEL" "$SHAPE"; do
    echo "## verification cost, $(basename "$m"), $THREADS threads, behind 128 positions"
    echo "load: $(cat /proc/loadavg)"
    "$BIN" bench -m "$m" -t "$THREADS" -r 5 --verify-max 8 --depth 128 --json
done
