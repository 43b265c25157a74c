#!/usr/bin/env bash
# Cross-builds GemmaEdge for AArch64 Linux (Debian 12 / Raspberry Pi OS bookworm) from an x86-64
# Debian 12 machine. See Cross/SDK.md for the recipe and Cross/README.md for what is verified where.
#
#   Cross/build-aarch64.sh sysroot   fetch the target's -dev packages (libsentencepiece, libpng,
#                                    libgpiod, libc, libstdc++) as arm64 .debs with apt into
#                                    Cross/out/sysroot-arm64 (a private apt setup: the host's
#                                    dpkg architectures and sources stay untouched)
#   Cross/build-aarch64.sh check-c   cross-compile every C/C++ target (CKernels, CPNG, CGPIOD,
#                                    CSentencePiece) against that sysroot with clang, link a probe
#                                    against the target's libpng / libgpiod / libsentencepiece,
#                                    and run it under qemu-aarch64 with the sysroot's loader
#   Cross/build-aarch64.sh sdk       find the Swift SDK (swift-sdk-generator output) and add the
#                                    sysroot's -dev packages to it; prints the recipe when missing
#   Cross/build-aarch64.sh build     swift build --swift-sdk ... --static-swift-stdlib, then pack
#                                    Cross/out/gemma-edge-aarch64.tar.gz (bin/ + share/gemma-edge/boards)
#   Cross/build-aarch64.sh all       the four steps in order (the default)
#
# Environment: SWIFT_SDK (SDK id, default: the first installed id containing "aarch64"),
# DEBIAN_MIRROR (default http://deb.debian.org), DEBIAN_SUITE (default bookworm), CLANG.
# Exit status: 0 done, 1 a step failed, 2 a tool is missing, 3 the Swift SDK is not installed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="$here/out"
sysroot="$out/sysroot-arm64"
aptdir="$out/apt-arm64"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org}"
suite="${DEBIAN_SUITE:-bookworm}"
triple="aarch64-unknown-linux-gnu"

# The target packages: what the C shims include and link, and the C/C++ runtime they need.
packages=(libsentencepiece-dev libpng-dev libgpiod-dev libc6-dev libstdc++-12-dev libgcc-12-dev zlib1g-dev)
# What the board itself needs at run time (the Swift runtime is linked in statically).
runtime_packages="libsentencepiece0 libpng16-16 libgpiod2 libstdc++6"

say() { printf '%s\n' "$*"; }
die() { printf 'build-aarch64: %s\n' "$*" >&2; exit "${2:-1}"; }
need() { command -v "$1" >/dev/null 2>&1 || die "missing $1 ($2)" 2; }

find_clang() {
    local c
    for c in "${CLANG:-}" clang /opt/swift/usr/bin/clang; do
        if [[ -n "$c" ]] && command -v "$c" >/dev/null 2>&1; then echo "$c"; return 0; fi
    done
    return 1
}

apt_opts() {
    echo "-o Dir::Etc::SourceList=$aptdir/sources.list -o Dir::Etc::SourceParts=$aptdir/parts" \
         "-o Dir::Etc::Preferences=$aptdir/preferences -o Dir::Etc::PreferencesParts=$aptdir/parts" \
         "-o Dir::State::Lists=$aptdir/lists -o Dir::State::Status=$aptdir/status -o Dir::Cache=$aptdir/cache" \
         "-o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Debug::NoLocking=1" \
         "-o APT::Install-Recommends=false -o APT::Sandbox::User=root"
}

step_sysroot() {
    need apt-get "Debian's apt"
    need dpkg-deb "dpkg"
    local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [[ -r "$keyring" ]] || die "missing $keyring (package debian-archive-keyring)" 2
    mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$aptdir/parts"
    : >"$aptdir/status"
    : >"$aptdir/preferences"
    cat >"$aptdir/sources.list" <<EOF
deb [arch=arm64 signed-by=$keyring] $mirror/debian $suite main
deb [arch=arm64 signed-by=$keyring] $mirror/debian $suite-updates main
deb [arch=arm64 signed-by=$keyring] $mirror/debian-security $suite-security main
EOF
    # shellcheck disable=SC2046
    apt-get $(apt_opts) -qq update || die "apt-get update for arm64 failed (is $mirror reachable?)"
    # Resolve the dependency closure against an empty dpkg status, download only.
    # shellcheck disable=SC2046
    apt-get $(apt_opts) -qq -y --download-only install "${packages[@]}" >/dev/null \
        || die "apt-get could not resolve or download ${packages[*]} for arm64"
    rm -rf "$sysroot"
    mkdir -p "$sysroot"
    local n=0 deb
    for deb in "$aptdir"/cache/archives/*.deb; do
        dpkg-deb -x "$deb" "$sysroot"
        n=$((n + 1))
    done
    ((n > 0)) || die "no .deb was downloaded"
    # Debian 12 is merged-/usr: make /lib and /lib64 point into /usr as on the board, and turn
    # absolute library symlinks into ones that stay inside the sysroot.
    for d in lib lib64; do
        if [[ -d "$sysroot/$d" && ! -L "$sysroot/$d" ]]; then
            cp -a "$sysroot/$d/." "$sysroot/usr/$d/" && rm -rf "${sysroot:?}/$d"
        fi
        [[ -e "$sysroot/usr/$d" ]] && ln -sfn "usr/$d" "$sysroot/$d"
    done
    find "$sysroot/usr/lib" -type l -lname '/*' | while read -r link; do
        ln -sfn "$sysroot$(readlink "$link")" "$link"
    done
    local missing=0 h
    for h in usr/include/png.h usr/include/gpiod.h usr/include/sentencepiece_processor.h \
             usr/lib/aarch64-linux-gnu/libsentencepiece.so usr/lib/aarch64-linux-gnu/libpng.so \
             usr/lib/aarch64-linux-gnu/libgpiod.so usr/lib/aarch64-linux-gnu/libc.so \
             usr/lib/ld-linux-aarch64.so.1; do
        [[ -e "$sysroot/$h" ]] || { say "  missing in the sysroot: /$h"; missing=1; }
    done
    ((missing == 0)) || die "the sysroot is incomplete"
    say "sysroot: $n arm64 packages from $mirror ($suite) in $sysroot"
    say "  libgpiod $(ls "$aptdir"/cache/archives/ | sed -n 's/^libgpiod-dev_\([^_]*\)_.*/\1/p'), libpng $(ls "$aptdir"/cache/archives/ | sed -n 's/^libpng-dev_\([^_]*\)_.*/\1/p'), sentencepiece $(ls "$aptdir"/cache/archives/ | sed -n 's/^libsentencepiece-dev_\([^_]*\)_.*/\1/p')"
}

step_check_c() {
    [[ -d "$sysroot/usr/include" ]] || die "no sysroot: run '$0 sysroot' first"
    need qemu-aarch64-static "package qemu-user-static"
    local clang gccdir
    clang="$(find_clang)" || die "no clang found (set CLANG=...)" 2
    gccdir="$(ls -d "$sysroot"/usr/lib/gcc/aarch64-linux-gnu/* | head -n 1)"
    local cflags=(--target=aarch64-linux-gnu --sysroot="$sysroot" -O2 -Wall -Wextra -fPIC)
    local objdir="$out/check-c"
    rm -rf "$objdir"
    mkdir -p "$objdir"
    local f n=0
    for f in "$root"/Sources/CKernels/*.c; do
        "$clang" "${cflags[@]}" -std=c11 -I "$root/Sources/CKernels/include" -I "$root/Sources/CKernels" \
            -c "$f" -o "$objdir/ck_$(basename "$f" .c).o"
        n=$((n + 1))
    done
    for t in CPNG CGPIOD; do
        for f in "$root"/Sources/$t/*.c; do
            "$clang" "${cflags[@]}" -std=c11 -I "$root/Sources/$t/include" -c "$f" -o "$objdir/${t}_$(basename "$f" .c).o"
            n=$((n + 1))
        done
    done
    for f in "$root"/Sources/CSentencePiece/*.cpp; do
        "$clang" "${cflags[@]}" -std=c++17 -isystem "$sysroot/usr/include/c++/12" \
            -isystem "$sysroot/usr/include/aarch64-linux-gnu/c++/12" -I "$root/Sources/CSentencePiece/include" \
            -c "$f" -o "$objdir/CSentencePiece_$(basename "$f" .cpp).o"
        n=$((n + 1))
    done
    say "check-c: $n C/C++ files of CKernels, CPNG, CGPIOD, CSentencePiece compiled for aarch64 against the sysroot"

    # A probe that calls each system library through the project's own headers, linked dynamically
    # against the target's .so files and run with the target's loader under qemu.
    cat >"$objdir/probe.c" <<'EOF'
#include <stdio.h>
#include <png.h>
#include <gpiod.h>
#include "CKernels.h"
const char *sp_probe_version(void);
int main(void) {
    printf("libpng %s\n", png_get_libpng_ver(NULL));
    printf("libgpiod %s\n", gpiod_version_string());
    struct gpiod_chip *chip = gpiod_chip_open("/dev/gpiochip-none");
    printf("gpiochip open without a chip: %s\n", chip ? "unexpected success" : "refused (as on a build machine)");
    printf("kernel set: %s\n", ck_kernels_select(~0u)->name);
    printf("sentencepiece: %s\n", sp_probe_version());
    return chip != NULL;
}
EOF
    cat >"$objdir/sp_probe.cpp" <<'EOF'
#include <sentencepiece_processor.h>
// Constructing a processor and asking for a missing model exercises libsentencepiece and libstdc++.
extern "C" const char *sp_probe_version(void) {
    static std::string s;
    sentencepiece::SentencePieceProcessor p;
    auto status = p.Load("/nonexistent.model");
    s = status.ok() ? "unexpectedly loaded" : "linked (missing model refused: " + status.ToString().substr(0, 40) + "...)";
    return s.c_str();
}
EOF
    "$clang" "${cflags[@]}" -std=c11 -I "$root/Sources/CKernels/include" -c "$objdir/probe.c" -o "$objdir/probe.o"
    "$clang" "${cflags[@]}" -std=c++17 -isystem "$sysroot/usr/include/c++/12" \
        -isystem "$sysroot/usr/include/aarch64-linux-gnu/c++/12" -c "$objdir/sp_probe.cpp" -o "$objdir/sp_probe.o"
    "$clang" --target=aarch64-linux-gnu --sysroot="$sysroot" -fuse-ld=lld -B "$gccdir" -L "$gccdir" \
        -L "$sysroot/usr/lib/aarch64-linux-gnu" -o "$objdir/probe" "$objdir/probe.o" "$objdir/sp_probe.o" \
        "$objdir"/ck_*.o "$objdir"/CPNG_*.o "$objdir"/CGPIOD_*.o "$objdir"/CSentencePiece_*.o \
        -lsentencepiece -lpng -lgpiod -lstdc++ -lm -lpthread
    say "check-c: probe linked against the target's libsentencepiece, libpng, libgpiod ($(file -b "$objdir/probe" | cut -d, -f1-2))"
    local cpu
    for cpu in cortex-a72 cortex-a76; do
        say "  qemu-aarch64 -cpu $cpu:"
        QEMU_LD_PREFIX="$sysroot" qemu-aarch64-static -cpu "$cpu" "$objdir/probe" | sed 's/^/    /'
    done
}

find_sdk() {
    if [[ -n "${SWIFT_SDK:-}" ]]; then echo "$SWIFT_SDK"; return 0; fi
    { swift sdk list 2>/dev/null || true; } | { grep -i aarch64 || true; } | head -n 1
}

print_recipe() {
    local v
    v="$(swift --version 2>/dev/null | sed -n 's/.*Swift version \([0-9.]*\).*/\1/p' | head -n 1)"
    cat >&2 <<EOF
build-aarch64: no Swift SDK for $triple is installed (swift sdk list shows none with "aarch64").
Make one on a machine with network access and Docker (details in Cross/SDK.md):

  docker build --platform linux/arm64 -t gemma-edge-sdk-base -f Cross/sdk.Dockerfile --build-arg SWIFT=${v:-6.1} .
  git clone https://github.com/swiftlang/swift-sdk-generator && cd swift-sdk-generator
  swift run swift-sdk-generator make-linux-sdk --swift-version ${v:-6.1}-RELEASE \\
      --with-docker --from-container-image gemma-edge-sdk-base \\
      --linux-distribution-name debian --linux-distribution-version 12 \\
      --target $triple --sdk-name gemma-edge-${v:-6.1}-debian12-aarch64
  swift sdk install Bundles/gemma-edge-${v:-6.1}-debian12-aarch64.artifactbundle

or, without Docker, generate the plain Debian 12 SDK the same way (no --with-docker and no
--from-container-image) and run '$0 sdk' to add this sysroot's -dev packages to it.
The SDK's Swift version must equal this toolchain's (${v:-unknown}).
EOF
}

step_sdk() {
    need swift "the Swift toolchain"
    local sdk
    sdk="$(find_sdk)"
    if [[ -z "$sdk" ]]; then print_recipe; exit 3; fi
    local sdkroot
    sdkroot="$(swift sdk configure --show-configuration "$sdk" "$triple" 2>/dev/null | sed -n 's/^sdkRootPath: //p' | head -n 1)"
    if [[ -z "$sdkroot" ]]; then
        # Fallback: the bundle layout swift-sdk-generator writes (<bundle>/<id>/<triple>/<distro>.sdk).
        sdkroot="$(find "$HOME/.swiftpm/swift-sdks" "$HOME/.config/swiftpm/swift-sdks" -maxdepth 5 -type d -name '*.sdk' \
            -path "*$sdk*" -path "*$triple*" 2>/dev/null | head -n 1)"
    fi
    [[ -n "$sdkroot" && -d "$sdkroot" ]] || die "cannot find the sysroot of Swift SDK $sdk (swift sdk configure --show-configuration)"
    if [[ -e "$sdkroot/usr/include/sentencepiece_processor.h" && -e "$sdkroot/usr/include/gpiod.h" && -e "$sdkroot/usr/include/png.h" ]]; then
        say "sdk: $sdk already has libsentencepiece, libpng and libgpiod ($sdkroot)"
        return 0
    fi
    [[ -d "$aptdir/cache/archives" ]] || step_sysroot
    local deb
    for deb in "$aptdir"/cache/archives/*.deb; do dpkg-deb -x "$deb" "$sdkroot"; done
    say "sdk: added the -dev packages to $sdk ($sdkroot)"
}

step_build() {
    need swift "the Swift toolchain"
    local sdk
    sdk="$(find_sdk)"
    if [[ -z "$sdk" ]]; then print_recipe; exit 3; fi
    (cd "$root" && swift build -c release --swift-sdk "$sdk" --static-swift-stdlib --product gemma-edge \
        --scratch-path .build-aarch64)
    local bin
    bin="$(cd "$root" && swift build -c release --swift-sdk "$sdk" --scratch-path .build-aarch64 --show-bin-path)/gemma-edge"
    file "$bin" | grep -q "ARM aarch64" || die "$bin is not an AArch64 executable: $(file -b "$bin")"
    local stage="$out/gemma-edge-aarch64"
    rm -rf "$stage"
    mkdir -p "$stage/bin" "$stage/share/gemma-edge/boards"
    cp "$bin" "$stage/bin/"
    cp "$root"/Platforms/boards/*.json "$stage/share/gemma-edge/boards/"
    cat >"$stage/README" <<EOF
GemmaEdge for AArch64 Linux (Debian 12 / Raspberry Pi OS bookworm), Swift runtime linked in.
On the board: sudo apt install $runtime_packages
Then: bin/gemma-edge doctor    (board profiles are read from share/gemma-edge/boards)
EOF
    tar -C "$out" -czf "$out/gemma-edge-aarch64.tar.gz" gemma-edge-aarch64
    say "build: $out/gemma-edge-aarch64.tar.gz ($(file -b "$bin" | cut -d, -f1-2))"
    if [[ -d "$sysroot/usr/lib" ]] && command -v qemu-aarch64-static >/dev/null 2>&1; then
        say "  smoke test under qemu with the target's libraries (slow, functional only):"
        QEMU_LD_PREFIX="$sysroot" qemu-aarch64-static -cpu cortex-a72 "$stage/bin/gemma-edge" doctor \
            --sysfs-root "$root/Platforms/boards/trees/raspberry-pi-4" | sed 's/^/    /'
    fi
}

case "${1:-all}" in
    sysroot) step_sysroot ;;
    check-c) step_check_c ;;
    sdk) step_sdk ;;
    build) step_build ;;
    all) step_sysroot; step_check_c; step_sdk; step_build ;;
    -h|--help) sed -n '2,23p' "$0" ;;
    *) die "unknown step '$1' (sysroot, check-c, sdk, build, all)" ;;
esac
