# Sourced by Benchmarks/compare.sh and Benchmarks/ctx-scaling.sh (with ROOT and CACHE set): builds
# llama.cpp once (build-peer.sh), fetches the real 270M, builds the release gemma-edge if missing
# and compiles peer_bench.c against the peer's libllama. Sets BUILD, SRC, MODEL, GE and PEER.
BUILD="$("$ROOT/Benchmarks/peer/build-peer.sh" | tail -n 1)"
SRC="$(dirname "$BUILD")"
MODEL="$("$ROOT/scripts/fetch-model.sh" | tail -n 1)"
GE="$ROOT/.build/release/gemma-edge"
[ -x "$GE" ] || (cd "$ROOT" && swift build -c release --product gemma-edge >&2)

mkdir -p "$CACHE/bench"
PEER="$CACHE/bench/peer_bench"
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -I"$SRC/include" -I"$SRC/ggml/include" \
   "$ROOT/Benchmarks/peer/peer_bench.c" -o "$PEER" -L"$BUILD/bin" -lllama -lggml -lggml-base -Wl,-rpath,"$BUILD/bin"
