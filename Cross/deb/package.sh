#!/usr/bin/env bash
# Packs a gemma-edge binary (Swift runtime linked in statically) into a Debian package:
#   Cross/deb/package.sh ARCH BINARY OUTDIR        (ARCH: arm64 or amd64)
# writes OUTDIR/gemma-edge_<version>_<ARCH>.deb with dpkg-deb and prints its path. Used by
# `make arm64` and `make deb`. Depends: is derived from the binary's own NEEDED libraries and
# GLIBC_ symbol versions, named as Debian 12 and 13 name the packages; a library the map below
# does not know stops the packaging (a new link dependency must be a decision, not an accident).
# Version: $GEMMA_EDGE_VERSION, else 0.1.0~git<commit date>.<commit>.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
die() { printf 'package.sh: %s\n' "$*" >&2; exit 1; }

[[ $# -eq 3 ]] || die "usage: package.sh ARCH BINARY OUTDIR"
arch="$1" bin="$2" out="$3"
case "$arch" in arm64|amd64) ;; *) die "unknown architecture $arch (arm64, amd64)" ;; esac
[[ -x "$bin" ]] || die "no executable at $bin"
command -v dpkg-deb >/dev/null || die "missing dpkg-deb"
command -v readelf >/dev/null || die "missing readelf (binutils)"
machine="$(readelf -h "$bin" | sed -n 's/^ *Machine: *//p')"
case "$arch:$machine" in arm64:AArch64|amd64:*X86-64*) ;; *) die "$bin is a $machine binary, not $arch" ;; esac
case "$arch" in arm64) strip=aarch64-linux-gnu-strip ;; amd64) strip=strip ;; esac
command -v "$strip" >/dev/null || die "missing $strip (binutils for $arch; scripts/deps.sh installs it)"

version="${GEMMA_EDGE_VERSION:-}"
if [[ -z "$version" ]]; then
    version="0.1.0~git$(git -C "$root" log -1 --format=%cd --date=format:%Y%m%d).$(git -C "$root" log -1 --format=%h)"
fi

# soname -> the package that has it on Debian 12 and 13 (alternatives where 13 renamed it).
depends_of() {
    case "$1" in
        libc.so.6|libm.so.6|libdl.so.2|libpthread.so.0|librt.so.1|ld-linux-*) echo "libc6" ;;
        libstdc++.so.6) echo "libstdc++6" ;;
        libgcc_s.so.1) echo "libgcc-s1" ;;
        libpng16.so.16) echo "libpng16-16t64 | libpng16-16" ;;
        libsentencepiece.so.0) echo "libsentencepiece0" ;;
        libz.so.1) echo "zlib1g" ;;
        *) return 1 ;;
    esac
}
deps=()
while read -r soname; do
    d="$(depends_of "$soname")" || die "$bin needs $soname, which has no package mapping here (Cross/deb/package.sh)"
    [[ "$d" == libc6 ]] && continue
    [[ " ${deps[*]} " == *" $d "* ]] || deps+=("$d")
done < <(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
glibc="$(readelf -V "$bin" | grep -o 'GLIBC_2\.[0-9]*' | sort -t. -k2 -n -u | tail -n 1 | sed 's/GLIBC_//')"
[[ -n "$glibc" ]] || die "no GLIBC_ symbol versions in $bin"
depends="libc6 (>= $glibc)"
for d in "${deps[@]}"; do depends+=", $d"; done

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
pkg="$stage/pkg"
install -d "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/usr/share/gemma-edge/boards" "$pkg/usr/share/doc/gemma-edge" \
    "$pkg/lib/systemd/system" "$pkg/usr/lib/sysusers.d" "$pkg/lib/udev/rules.d" "$pkg/etc/gemma-edge"
# Stripped: the symbol table and debug sections are most of the unstripped binary's size; the
# Swift metadata the program reads at run time is in allocated sections, which strip keeps.
install -m 0755 "$bin" "$pkg/usr/bin/gemma-edge"
"$strip" --strip-all "$pkg/usr/bin/gemma-edge" || die "$strip failed on $bin"
# Board profiles beside the binary's share/ (BoardCatalog looks in <exe>/../share/gemma-edge/boards).
install -m 0644 "$root"/Platforms/boards/*.json "$pkg/usr/share/gemma-edge/boards/"
sed 's|/usr/local/bin/gemma-edge|/usr/bin/gemma-edge|g' "$root/Platforms/systemd/gemma-edge.service" \
    >"$pkg/lib/systemd/system/gemma-edge.service"
install -m 0644 "$root/Platforms/systemd/gemma-edge.sysusers" "$pkg/usr/lib/sysusers.d/gemma-edge.conf"
install -m 0644 "$root/Platforms/systemd/99-gemma-edge.rules" "$pkg/lib/udev/rules.d/99-gemma-edge.rules"
install -m 0644 "$root/Platforms/systemd/watchdog.conf" "$pkg/etc/gemma-edge/watchdog.conf"
cat >"$pkg/etc/gemma-edge/env" <<'ENV'
# Environment of gemma-edge.service (EnvironmentFile). For example:
# GEMMA_EDGE_API_KEY=change-me
ENV
chmod 0640 "$pkg/etc/gemma-edge/env"
install -m 0644 "$here/README.Debian" "$pkg/usr/share/doc/gemma-edge/README.Debian"
cat >"$pkg/usr/share/doc/gemma-edge/copyright" <<'COPY'
GemmaEdge: a Gemma 3 inference runtime for ARM single-board computers.
The package contains no model weights; fetch a GGUF model separately (see README.Debian).
COPY
printf '/etc/gemma-edge/watchdog.conf\n/etc/gemma-edge/env\n' >"$pkg/DEBIAN/conffiles"
for s in postinst prerm postrm; do install -m 0755 "$here/$s" "$pkg/DEBIAN/$s"; done

size_kb="$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)"
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: gemma-edge
Version: $version
Architecture: $arch
Maintainer: GemmaEdge maintainers <maintainers@users.noreply.h-seed-3a0b640e.example>
Installed-Size: $size_kb
Depends: $depends
Recommends: libgpiod3 | libgpiod2
Suggests: systemd
Section: misc
Priority: optional
Description: Gemma 3 inference runtime and OpenAI-compatible server for ARM boards
 gemma-edge runs Gemma 3 GGUF models on the CPU (NEON, dotprod, AVX2 kernels chosen at
 run time): generate, chat, perplexity, an OpenAI-compatible HTTP server supervised by a
 watchdog with systemd notify, hardware watchdog and an optional GPIO status LED and button
 (libgpiod 1.6 or 2.x, loaded at run time when GPIO is configured).
 .
 The service (gemma-edge.service) is installed disabled; see
 /usr/share/doc/gemma-edge/README.Debian.
CONTROL

mkdir -p "$out"
deb="$out/gemma-edge_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"
