#!/usr/bin/env bash
# Instructions executed per prefill token and per decoded token, for one or more gemma-edge
# binaries (e.g. two builds of the tree to compare), counted by callgrind: unlike times, these do
# not depend on what else the machine runs. One thread; the repacked cache is warmed natively first.
#   Benchmarks/instructions.sh MODEL BIN...
# Each figure is the difference of two runs (96 against 32 prompt tokens, 12 against 4 decoded
# tokens), so load and set-up cancel out; `bench` runs a warm-up round and one timed round, so a
# difference covers two rounds. valgrind cannot read the DWARF 5 Swift emits: the binaries are
# stripped of debug information into a temporary copy first.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 MODEL BIN..." >&2; exit 2; }
command -v valgrind >/dev/null || { echo "$0: needs valgrind (apt install valgrind)" >&2; exit 2; }
M="$1"; shift
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null | awk '/Collected :/ {print $4}'; }
for b in "$@"; do
  s="$TMP/$(basename "$b").$RANDOM"
  objcopy --strip-debug "$b" "$s"
  "$s" bench -m "$M" -p 8 -n 2 -t 1 -r 1 >/dev/null 2>&1
  p1=$(ir "$s" bench -m "$M" -p 32 -n 0 -t 1 -r 1); p2=$(ir "$s" bench -m "$M" -p 96 -n 0 -t 1 -r 1)
  d1=$(ir "$s" bench -m "$M" -p 0 -n 4 -t 1 -r 1);  d2=$(ir "$s" bench -m "$M" -p 0 -n 12 -t 1 -r 1)
  python3 -c "
import sys
b, p1, p2, d1, d2 = sys.argv[1], *map(int, sys.argv[2:])
print(f'{b}: prefill {(p2 - p1) / (2 * 64) / 1e6:.2f} M instructions/token, decode {(d2 - d1) / (2 * 8) / 1e6:.2f} M instructions/token')
" "$b" "$p1" "$p2" "$d1" "$d2"
done
