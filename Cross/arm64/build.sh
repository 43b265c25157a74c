#!/usr/bin/env bash
# `make arm64`: gemma-edge for aarch64-unknown-linux-gnu from Debian packages only, then
# Cross/out/gemma-edge_<version>_arm64.deb. Everything downloaded or unpacked stays under
# ~/.cache/gemma-edge/cross ($GEMMA_EDGE_CROSS); a second run downloads nothing.
#
#   Cross/arm64/build.sh [step...]   steps: fetch toolchain sysroot sdk build deb (default: all)
#
# The route (Cross/README.md says why each piece is there):
#   toolchain  sid's amd64 `swiftlang` (Swift 6.2.3; trixie's 6.0 is older than the package's
#              tools version) and its sid userland, unpacked with dpkg-deb -x and run in a chroot
#              (`unshare -m`, as root: it needs sid's glibc, not the host's)
#   sysroot    bookworm arm64 -dev packages (glibc 2.36, libstdc++ 12, libpng, libsentencepiece),
#              absolute symlinks made relative: linking against bookworm is what keeps the binary
#              runnable on Debian 12 and 13 boards (sid's glibc would demand GLIBC_2.43)
#   sdk        a Swift SDK bundle: that sysroot, the AArch64 Swift runtime of sid's arm64
#              `swiftlang` (same version), ld.lld, and a small C shim for the few glibc 2.38+
#              names the static Swift runtime references (Cross/arm64/glibc-shim.c)
#   build      swift build --swift-sdk ... --static-swift-stdlib -c release --product gemma-edge
#   deb        Cross/deb/package.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"

triple=aarch64-unknown-linux-gnu
toolchain="$CROSS/toolchain"
bundle="$CROSS/sdks/gemma-edge-aarch64.artifactbundle"
sdkdir="$bundle/sdk"
sysroot="$sdkdir/sysroot"
scratch="$root/.build-arm64"

# What the build needs from each suite (their Depends closures come along).
toolchain_pkgs=(swiftlang libc6-dev bash coreutils dash git sed grep findutils)
sysroot_pkgs=(libc6-dev libstdc++-12-dev libgcc-12-dev zlib1g-dev linux-libc-dev libpng-dev libsentencepiece-dev)

need apt-get "Debian's apt"
need dpkg-deb "dpkg"
need unshare "util-linux"
[[ "$(id -u)" -eq 0 ]] || die "run as root: sid's Swift runs in a chroot (unshare -m + chroot need root)"

# A step is redone only when its inputs (the list of .debs it unpacked, a script) changed.
stamp_ok() { [[ -e "$1.stamp" ]] && cmp -s "$1.stamp" <(printf '%s\n' "${@:2}"); }
stamp_set() { printf '%s\n' "${@:2}" >"$1.stamp"; }

step_fetch() {
    mkdir -p "$CROSS/lists"
    apt_fetch sid amd64 "${toolchain_pkgs[@]}" >"$CROSS/lists/toolchain"
    apt_fetch bookworm arm64 "${sysroot_pkgs[@]}" >"$CROSS/lists/sysroot"
    # Only the AArch64 Swift runtime is taken from sid's arm64 swiftlang: the package alone.
    local v; v="$(sed -n 's|.*/swiftlang_\([^_]*\)_amd64\.deb$|\1|p' "$CROSS/lists/toolchain")"
    [[ -n "$v" ]] || die "no swiftlang in the toolchain closure"
    apt_fetch_one sid arm64 swiftlang "${v//%3a/:}" >"$CROSS/lists/runtime"
    say "fetch: $(wc -l <"$CROSS/lists/toolchain") sid amd64, $(wc -l <"$CROSS/lists/sysroot") bookworm arm64 packages, swiftlang $v (arm64 runtime)"
}

# apt_fetch_one SUITE ARCH NAME VERSION: that one package (no closure), verified by apt.
apt_fetch_one() {
    local suite="$1" arch="$2" name="$3" ver="$4" d
    apt_init "$suite" "$arch"
    d="$(apt_dir "$suite" "$arch")/cache/archives"
    local f; f="$d/${name}_${ver//:/%3a}_$arch.deb"
    if [[ ! -s "$f" ]]; then
        (cd "$d" && capt "$suite" "$arch" -qq download "$name=$ver" >&2) || die "cannot download $name $ver ($suite/$arch)"
    fi
    echo "$f"
}

step_toolchain() {
    mapfile -t debs <"$CROSS/lists/toolchain"
    if stamp_ok "$toolchain" "${debs[@]}"; then say "toolchain: up to date"; return; fi
    say "toolchain: unpacking ${#debs[@]} sid packages into $toolchain"
    rm -rf "$toolchain"
    unpack_into "$toolchain" "${debs[@]}"
    merged_usr "$toolchain"
    mkdir -p "$toolchain"/{proc,dev,tmp,root,etc/ssl/certs}
    stamp_set "$toolchain" "${debs[@]}"
}

# in_toolchain DIR... -- COMMAND...: COMMAND in the sid chroot (lib.sh, in_chroot), Swift first on PATH.
in_toolchain() { CHROOT_PATH=/usr/libexec/swift/bin:/usr/bin:/bin in_chroot "$toolchain" "$@"; }

step_sysroot() {
    mapfile -t debs <"$CROSS/lists/sysroot"
    if stamp_ok "$sysroot" "${debs[@]}"; then say "sysroot: up to date"; return; fi
    say "sysroot: unpacking ${#debs[@]} bookworm arm64 packages into $sysroot"
    rm -rf "$sysroot"
    unpack_into "$sysroot" "${debs[@]}"
    merged_usr "$sysroot"
    # lld does not resolve absolute symlinks inside a sysroot: libm.so -> /lib/... would make it
    # fall back to libm.a and fail on glibc-internal names.
    relative_links "$sysroot"
    local f
    for f in usr/include/stdio.h usr/include/png.h usr/include/sentencepiece_processor.h \
             usr/lib/aarch64-linux-gnu/libc.so usr/lib/aarch64-linux-gnu/libpng.so \
             usr/lib/aarch64-linux-gnu/libsentencepiece.so usr/lib/ld-linux-aarch64.so.1; do
        [[ -e "$sysroot/$f" ]] || die "the sysroot lacks /$f"
    done
    stamp_set "$sysroot" "${debs[@]}"
}

step_sdk() {
    mapfile -t runtime <"$CROSS/lists/runtime"
    local res="$sdkdir/swift-resources"
    if stamp_ok "$res" "${runtime[@]}"; then
        say "sdk: Swift runtime up to date"
    else
        say "sdk: the AArch64 Swift runtime from ${runtime[0]##*/}"
        rm -rf "$res" && mkdir -p "$res"
    dpkg-deb --fsys-tarfile "${runtime[0]}" \
        | tar -x -C "$res" --wildcards './usr/libexec/swift/lib/swift/*' './usr/libexec/swift/lib/swift_static/*' \
              './usr/libexec/swift/lib/clang/*'
        [[ -e "$res/usr/libexec/swift/lib/swift_static/linux/static-stdlib-args.lnk" ]] \
            || die "no static Swift runtime in ${runtime[0]}"
        relative_links "$res"
        stamp_set "$res" "${runtime[@]}"
    fi
    # The driver looks for swiftrt.o (and the runtime) under <sysroot>/usr/lib/swift{,_static}.
    local d
    for d in swift swift_static; do
        ln -sfn "../../../swift-resources/usr/libexec/swift/lib/$d" "$sysroot/usr/lib/$d"
        [[ -e "$sysroot/usr/lib/$d/linux" ]] || die "the link $sysroot/usr/lib/$d leads nowhere"
    done
    # The bundle's description and the shim: cheap, rewritten every time.
    cat >"$bundle/info.json" <<JSON
{
  "schemaVersion": "1.0",
  "artifacts": {
    "gemma-edge-aarch64": {
      "type": "swiftSDK",
      "version": "1",
      "variants": [{ "path": "sdk", "supportedTriples": ["x86_64-unknown-linux-gnu", "x86_64-pc-linux-gnu"] }]
    }
  }
}
JSON
    cat >"$sdkdir/swift-sdk.json" <<JSON
{
  "schemaVersion": "4.0",
  "targetTriples": {
    "$triple": {
      "sdkRootPath": "sysroot",
      "swiftResourcesPath": "swift-resources/usr/libexec/swift/lib/swift",
      "swiftStaticResourcesPath": "swift-resources/usr/libexec/swift/lib/swift_static",
      "toolsetPaths": ["toolset.json"]
    }
  }
}
JSON
    cat >"$sdkdir/toolset.json" <<JSON
{
  "schemaVersion": "1.0",
  "rootPath": "/usr/libexec/swift/bin",
  "linker": { "path": "ld.lld" },
  "swiftCompiler": { "extraCLIOptions": ["-use-ld=lld"] },
  "cCompiler": { "extraCLIOptions": ["-fuse-ld=lld"] },
  "cxxCompiler": { "extraCLIOptions": ["-fuse-ld=lld"] }
}
JSON
    in_toolchain "$CROSS" "$here" -- /usr/libexec/swift/bin/clang --target=$triple --sysroot="$sysroot" -O2 -fPIC \
        -c "$here/glibc-shim.c" -o "$sdkdir/glibc-shim.o"
}

step_build() {
    [[ -e "$sdkdir/swift-sdk.json" ]] || die "no SDK: run the sdk step first"
    say "build: swift build --swift-sdk gemma-edge-aarch64 (sid Swift $(sed -n 's|.*/swiftlang_\([^_]*\)_amd64\.deb$|\1|p' "$CROSS/lists/toolchain"))"
    # The dependencies are fetched by the host's swift (network and git live there); the chroot
    # only builds what is checked out.
    need swift "the host's Swift toolchain (scripts/deps.sh)"
    (cd "$root" && swift package resolve --scratch-path "$scratch") || die "swift package resolve failed"
    in_toolchain "$root" "$CROSS" -- /bin/sh -c "cd '$root' && swift build --scratch-path '$scratch' --disable-automatic-resolution \
        --swift-sdks-path '$CROSS/sdks' --swift-sdk gemma-edge-aarch64 --static-swift-stdlib \
        -c release --product gemma-edge -Xlinker '$sdkdir/glibc-shim.o' ${SWIFT_BUILD_FLAGS:-}"
    local bin="$scratch/$triple/release/gemma-edge"
    [[ -x "$bin" ]] || die "no binary at $bin"
    mkdir -p "$root/Cross/out"
    cp "$bin" "$root/Cross/out/gemma-edge-arm64"
    say "build: Cross/out/gemma-edge-arm64 ($(du -h "$bin" | cut -f1))"
}

step_deb() {
    bash "$root/Cross/deb/package.sh" arm64 "$root/Cross/out/gemma-edge-arm64" "$root/Cross/out"
}

steps=("$@")
[[ ${#steps[@]} -gt 0 ]] || steps=(fetch toolchain sysroot sdk build deb)
for s in "${steps[@]}"; do
    case "$s" in
        fetch|toolchain|sysroot|sdk|build|deb) "step_$s" ;;
        *) die "unknown step $s (fetch toolchain sysroot sdk build deb)" ;;
    esac
done
