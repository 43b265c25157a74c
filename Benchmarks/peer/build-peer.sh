#!/usr/bin/env bash
# Builds the peer, llama.cpp, from the llama-cpp-python source distribution on PyPI (the only
# place it can come from here) into a cache outside the repo. Prints the build directory.
# Nothing of llama.cpp is ever committed to this repository.
set -euo pipefail
VERSION="${PEER_VERSION:-0.3.36}"
CACHE="${GEMMA_EDGE_CACHE:-$HOME/.cache/gemma-edge}/peer"
SRC="$CACHE/llama_cpp_python-$VERSION/vendor/llama.cpp"
BUILD="$SRC/build"
TARGETS=(llama-bench llama-cli llama-perplexity llama-tokenize llama-quantize llama-simple mtmd llama-mtmd-cli llama-server llama-lookup)

if [ -x "$BUILD/bin/llama-bench" ] && [ -x "$BUILD/bin/llama-perplexity" ] && [ -x "$BUILD/bin/llama-mtmd-cli" ] && [ -x "$BUILD/bin/llama-server" ] \
   && [ -f "$BUILD/.gemma-edge-complete" ]; then
  echo "$BUILD"; exit 0
fi
for tool in cmake ninja; do
  command -v "$tool" >/dev/null || { echo "build-peer: $tool is missing (make deps installs it)" >&2; exit 1; }
done
mkdir -p "$CACHE"
if [ ! -d "$SRC" ]; then
  python3 -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$CACHE" >&2
  tar xzf "$CACHE/llama_cpp_python-$VERSION.tar.gz" -C "$CACHE"
fi
cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DGGML_NATIVE=ON \
      -DBUILD_SHARED_LIBS=ON >&2
cmake --build "$BUILD" -j"$(nproc)" --target "${TARGETS[@]}" >&2
touch "$BUILD/.gemma-edge-complete"
echo "$BUILD"
