#!/usr/bin/env bash
# Cross-checks the C kernels (Sources/CKernels/*.c) with the driver Cross/kernel_test.c:
#   1. natively with the host gcc (x86-64: scalar + avx2 sets, + avx512vnni when the CPU has it),
#      and builds (does not run) the gemm benchmark Cross/kernel_bench.c,
#   2. for AArch64 with aarch64-linux-gnu-gcc -O2 -static, run under qemu-aarch64-static as
#        -cpu cortex-a72  (ARMv8.0, no SDOT): must select "neon" and must not report dotprod
#        -cpu cortex-a76  (ARMv8.2 + dotprod): must select "neon-dotprod"
#        -cpu max         (everything qemu has): must select "neon-dotprod" and report i8mm
#   3. when a clang is at hand (the one Swift builds with), the same AArch64 runs of a clang build.
# Every set the (emulated) CPU can run is compared with the scalar reference in each run, and every
# SIMD set's repacked kernels (q4_0x8) with their reference and the set's own vec_dot.
# Installs nothing: `make deps` (or apt-get) provides gcc-aarch64-linux-gnu, libc6-dev-arm64-cross
# and qemu-user-static. Outputs go to Cross/out/. Last line: "N passed, N failed".
set -u -o pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="$here/out"
src=("$root"/Sources/CKernels/*.c "$here/kernel_test.c")
inc=(-I "$root/Sources/CKernels/include" -I "$root/Sources/CKernels")
cflags=(-std=c11 -O2 -Wall -Wextra -ffp-contract=off)

missing=()
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || missing+=("aarch64-linux-gnu-gcc (package gcc-aarch64-linux-gnu, libc6-dev-arm64-cross)")
command -v qemu-aarch64-static >/dev/null 2>&1 || missing+=("qemu-aarch64-static (package qemu-user-static)")
command -v gcc >/dev/null 2>&1 || missing+=("gcc (host compiler)")
if ((${#missing[@]})); then
    echo "run-arm-kernel-tests: missing tools:" >&2
    for m in "${missing[@]}"; do echo "  - $m" >&2; done
    echo "install them with the Makefile's deps step (apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static)" >&2
    exit 2
fi

mkdir -p "$out"
total_pass=0
total_fail=0
runs_failed=0

# run LABEL CMD...: runs one test binary, echoes its summary, adds its counts.
run() {
    local label="$1"
    shift
    local log="$out/$label.log"
    "$@" >"$log" 2>&1
    local rc=$?
    local summary
    summary="$(tail -n 1 "$log")"
    local p f
    if [[ "$summary" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        p="${BASH_REMATCH[1]}"
        f="${BASH_REMATCH[2]}"
    else
        p=0
        f=1
        summary="no summary line (exit $rc)"
    fi
    if ((rc != 0 && f == 0)); then f=1; fi
    # Every SIMD set has repacked kernels (CKRepack.h): a run that compared none of their outputs
    # did not test them.
    local repacked
    repacked="$(sed -n 's/^repacked kernel outputs compared with the reference: \([0-9]*\)$/\1/p' "$log")"
    if [[ "${repacked:-0}" == 0 ]] && ! grep -q "available: scalar$" "$log"; then
        f=$((f + 1))
        summary="$summary; no repacked kernel outputs compared"
    fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    local sets
    sets="$(grep -m1 '^selected set:' "$log" || true)"
    printf '%-24s %-58s %s\n' "$label" "${sets:-?}" "$summary"
    if ((f != 0)); then
        runs_failed=$((runs_failed + 1))
        grep -E '^FAIL' "$log" | head -n 20 | sed 's/^/    /'
    fi
}

build() {
    local label="$1"
    shift
    if ! "$@" 2>"$out/$label.build.log"; then
        echo "$label: build failed:" >&2
        cat "$out/$label.build.log" >&2
        total_fail=$((total_fail + 1))
        runs_failed=$((runs_failed + 1))
        return 1
    fi
    if [[ -s "$out/$label.build.log" ]]; then
        echo "$label: build warnings:"
        sed 's/^/    /' "$out/$label.build.log"
    fi
    return 0
}

# 1. native
if build native-gcc gcc "${cflags[@]}" "${inc[@]}" "${src[@]}" -lm -o "$out/kernel_test-native"; then
    run native-gcc "$out/kernel_test-native"
fi
build native-bench gcc "${cflags[@]}" "${inc[@]}" "$root"/Sources/CKernels/*.c "$here/kernel_bench.c" -lm \
    -o "$out/kernel_bench" || true

# 2. AArch64, gcc
if build arm64-gcc aarch64-linux-gnu-gcc "${cflags[@]}" -static "${inc[@]}" "${src[@]}" -lm -o "$out/kernel_test-arm64-gcc"; then
    run arm64-gcc-cortex-a72 qemu-aarch64-static -cpu cortex-a72 "$out/kernel_test-arm64-gcc" --expect-set neon --expect-no-dotprod
    run arm64-gcc-cortex-a76 qemu-aarch64-static -cpu cortex-a76 "$out/kernel_test-arm64-gcc" --expect-set neon-dotprod --expect-dotprod
    run arm64-gcc-max qemu-aarch64-static -cpu max "$out/kernel_test-arm64-gcc" --expect-set neon-dotprod --expect-dotprod --expect-i8mm
fi

# 3. AArch64, clang (optional): the compiler SwiftPM uses for CKernels
clang_bin="${CLANG:-}"
if [[ -z "$clang_bin" ]]; then
    for c in clang /opt/swift/usr/bin/clang; do
        if command -v "$c" >/dev/null 2>&1; then clang_bin="$c"; break; fi
    done
fi
if [[ -n "$clang_bin" ]]; then
    gccdir="$(dirname "$(aarch64-linux-gnu-gcc -print-libgcc-file-name)")"
    if build arm64-clang "$clang_bin" --target=aarch64-linux-gnu -std=c11 -O3 -fno-math-errno -Wall -Wextra \
        -static -fuse-ld=lld -B "$gccdir" -L "$gccdir" -isystem /usr/aarch64-linux-gnu/include \
        -L /usr/aarch64-linux-gnu/lib "${inc[@]}" "${src[@]}" -lm -o "$out/kernel_test-arm64-clang"; then
        run arm64-clang-cortex-a72 qemu-aarch64-static -cpu cortex-a72 "$out/kernel_test-arm64-clang" --expect-set neon --expect-no-dotprod
        run arm64-clang-cortex-a76 qemu-aarch64-static -cpu cortex-a76 "$out/kernel_test-arm64-clang" --expect-set neon-dotprod --expect-dotprod
    fi
else
    echo "(no clang found: skipping the clang AArch64 build; set CLANG=/path/to/clang to include it)"
fi

echo "logs in $out"
echo "$total_pass passed, $total_fail failed"
if ((total_fail != 0 || runs_failed != 0)); then exit 1; fi
exit 0
