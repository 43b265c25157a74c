# Shared by Cross/arm64/*.sh (sourced, not run). A private apt per (suite, architecture) under
# $CROSS (default ~/.cache/gemma-edge/cross): own sources list, lists, empty dpkg status and
# archive cache, so the host's apt and dpkg state never change. apt checks each downloaded file
# against the signed Release (debian-archive-keyring) and the Packages hashes and sizes.

CROSS="${GEMMA_EDGE_CROSS:-$HOME/.cache/gemma-edge/cross}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

say() { printf '%s\n' "$*" >&2; }
die() { printf '%s: %s\n' "${0##*/}" "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "missing $1 ($2)"; }

# apt_dir SUITE ARCH: the private apt tree of one suite and architecture.
apt_dir() { echo "$CROSS/apt/$1-$2"; }

# capt SUITE ARCH apt-get-arguments...: apt-get inside that private tree.
capt() { APT_TOOL=apt-get capt_tool "$@"; }
# capt_cache SUITE ARCH apt-cache-arguments...
capt_cache() { APT_TOOL=apt-cache capt_tool "$@"; }
capt_tool() {
    local suite="$1" arch="$2"; shift 2
    local d; d="$(apt_dir "$suite" "$arch")"
    "$APT_TOOL" -o Dir::Etc::SourceList="$d/sources.list" -o Dir::Etc::SourceParts="$d/parts" \
        -o Dir::Etc::Preferences="$d/preferences" -o Dir::Etc::PreferencesParts="$d/parts" \
        -o Dir::State="$d/state" -o Dir::State::Status="$d/state/status" -o Dir::Cache="$d/cache" \
        -o Dir::Log="$d/log" -o APT::Architecture="$arch" -o APT::Architectures::="$arch" \
        -o Debug::NoLocking=1 -o APT::Install-Recommends=false -o APT::Install-Suggests=false \
        -o APT::Sandbox::User=root -o Acquire::Check-Valid-Until=false -o Acquire::Languages=none \
        -o pkgCacheGen::Essential=none "$@"
}

# apt_init SUITE ARCH: write the tree and fetch the lists once (a stamp file; `rm` it to refresh).
apt_init() {
    local suite="$1" arch="$2" d; d="$(apt_dir "$1" "$2")"
    [[ -r "$KEYRING" ]] || die "missing $KEYRING (package debian-archive-keyring)"
    mkdir -p "$d/parts" "$d/state/lists/partial" "$d/cache/archives/partial" "$d/log"
    [[ -e "$d/state/status" ]] || : >"$d/state/status"
    : >"$d/preferences"
    echo "deb [arch=$arch signed-by=$KEYRING] $MIRROR $suite main" >"$d/sources.list"
    if [[ ! -e "$d/updated" ]]; then
        say "apt: lists of $suite/$arch from $MIRROR"
        capt "$suite" "$arch" -qq update || die "apt-get update of $suite/$arch failed (is $MIRROR reachable?)"
        touch "$d/updated"
    fi
}

# apt_fetch SUITE ARCH PACKAGE...: download the packages and their Depends closure (against an
# empty dpkg status), verified by apt; prints the paths of the .debs of that closure.
apt_fetch() {
    local suite="$1" arch="$2"; shift 2
    apt_init "$suite" "$arch"
    local d; d="$(apt_dir "$suite" "$arch")"
    capt "$suite" "$arch" -qq -y --download-only install "$@" >&2 \
        || die "apt-get could not resolve or download $* from $suite/$arch"
    # The closure apt resolved: its package names and versions, mapped to the cached files.
    capt "$suite" "$arch" -s -y install "$@" 2>/dev/null \
        | sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1 \2/p' \
        | while read -r name ver; do
            local f="$d/cache/archives/${name%%:*}_${ver//:/%3a}_"
            ls "$f"*.deb 2>/dev/null | head -n 1 || die "no cached .deb for $name $ver"
        done
}

# unpack_into DIR DEB...: dpkg-deb -x each package into DIR (no maintainer scripts, no dpkg db).
unpack_into() {
    local dir="$1"; shift
    mkdir -p "$dir"
    local deb
    for deb in "$@"; do dpkg-deb -x "$deb" "$dir"; done
}

# relative_links DIR: turn absolute symlinks inside DIR into relative ones, so that tools which
# do not chase links through a sysroot (lld) see the sysroot's files and not the host's.
relative_links() {
    local dir="$1" link target rel
    find "$dir" -type l -lname '/*' -print0 | while IFS= read -r -d '' link; do
        target="$(readlink "$link")"
        rel="$(realpath -m --relative-to="$(dirname "$link")" "$dir$target")"
        ln -sfn "$rel" "$link"
    done
}

# merged_usr DIR: /bin /sbin /lib /lib64 as links into /usr, as on Debian 12 and 13.
merged_usr() {
    local dir="$1" d
    mkdir -p "$dir/usr"
    for d in bin sbin lib lib64; do
        if [[ -d "$dir/$d" && ! -L "$dir/$d" ]]; then
            mkdir -p "$dir/usr/$d"
            cp -a "$dir/$d/." "$dir/usr/$d/" && rm -rf "${dir:?}/$d"
        fi
        [[ -e "$dir/usr/$d" && ! -e "$dir/$d" ]] && ln -sfn "usr/$d" "$dir/$d"
    done
    return 0
}

# in_chroot ROOT DIR... -- COMMAND...: run COMMAND chrooted into ROOT in a private mount namespace
# (`unshare -m`, as root), with each DIR bind-mounted at its own path (so paths mean the same
# inside and out), a private /proc, /dev, /tmp, the host's resolver and CA certificates (SwiftPM
# fetches with git). The environment is empty but for HOME, PATH ($CHROOT_PATH), LANG and TERM.
in_chroot() {
    local r="$1" binds=(); shift
    while [[ "$1" != "--" ]]; do binds+=("$1"); shift; done
    shift
    unshare -m -- bash -s "$r" "${CHROOT_PATH:-/usr/sbin:/usr/bin:/sbin:/bin}" "${#binds[@]}" "${binds[@]}" "$@" <<'INNER'
set -e
t="$1" path="$2" n="$3"; shift 3
mount --make-rprivate /
mkdir -p "$t/proc" "$t/dev" "$t/tmp" "$t/etc/ssl/certs"
mount -t proc proc "$t/proc"
mount --rbind /dev "$t/dev"
mount -t tmpfs tmpfs "$t/tmp"
cp /etc/resolv.conf "$t/etc/resolv.conf" 2>/dev/null || true
[ -d /etc/ssl/certs ] && mount --bind /etc/ssl/certs "$t/etc/ssl/certs"
for ((i = 0; i < n; i++)); do mkdir -p "$t$1"; mount --bind "$1" "$t$1"; shift; done
exec chroot "$t" /usr/bin/env -i HOME=/root PATH="$path" LANG=C.UTF-8 TERM=dumb "$@"
INNER
}
