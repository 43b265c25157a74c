#!/usr/bin/env bash
# The package's maintainer scripts run by a real dpkg, in throwaway Debian 12 roots:
#   Cross/deb/install-test.sh DEB
# Each root is bookworm amd64 (the host runs it natively; the scripts are POSIX sh and the same
# on every architecture, so an arm64 package is installed with `dpkg --add-architecture arm64`
# and --force-depends), unpacked from Debian's packages under $GEMMA_EDGE_CROSS/roots and rebuilt
# every run, with an initialised dpkg database. In a chroot (`unshare -m`, as root):
#   dpkg -i   preinst/postinst configure: the gemma-edge user and group, the gpio group and
#             membership, /var/lib/gemma-edge{,/models} owned by gemma-edge 0750, env 0640 root:gemma-edge
#   dpkg -r   prerm/postrm remove: the binary gone, conffiles and the user kept
#   dpkg -P   postrm purge: /etc/gemma-edge gone, the user and /var/lib/gemma-edge kept
#   dpkg -i   again after the purge (the user already exists)
# Two roots: one without systemd (postinst takes the adduser path) and one with it
# (systemd-sysusers). No systemd runs in either: the scripts' systemctl/udevadm calls are skipped
# as they are on a system booted without systemd. Prints one line (both roots); non-zero on failure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../arm64/lib.sh
source "$here/../arm64/lib.sh"
[[ $# -eq 1 && -s "$1" ]] || die "usage: install-test.sh DEB"
deb="$(realpath "$1")"
dpkg-deb --info "$deb" >/dev/null 2>&1 || die "$1 is not a Debian package"
[[ "$(id -u)" -eq 0 ]] || die "run as root (unshare -m and chroot)"
need dpkg-deb "dpkg"
need unshare "util-linux"

base=(dpkg base-files base-passwd bash dash coreutils libc-bin sed grep findutils tar diffutils
      debianutils passwd adduser perl-base)   # the Essential set the scripts use (adduser is Perl)

# The steps inside the chroot; $1 is the package, $2 "adduser" or "sysusers" (the path expected).
checks='set -eu
deb="$1" via="$2"
fail() { echo "FAIL: $*" >&2; exit 1; }
arch="$(dpkg-deb -f "$deb" Architecture)"
[ "$arch" = "$(dpkg --print-architecture)" ] || dpkg --add-architecture "$arch"
dpkg -i --force-depends "$deb" >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log >&2; fail "dpkg -i"; }
dpkg-query -W -f="\${Status}" gemma-edge | grep -qx "install ok installed" || fail "not configured after dpkg -i"
getent passwd gemma-edge >/dev/null || fail "no gemma-edge user"
getent group gemma-edge >/dev/null || fail "no gemma-edge group"
getent group gpio | cut -d: -f4 | tr , "\n" | grep -qx gemma-edge || fail "gemma-edge is not in the gpio group"
for d in /var/lib/gemma-edge /var/lib/gemma-edge/models; do
    [ "$(stat -c "%U:%G %a" "$d")" = "gemma-edge:gemma-edge 750" ] || fail "$d is $(stat -c "%U:%G %a" "$d")"
done
[ "$(stat -c "%U:%G %a" /etc/gemma-edge/env)" = "root:gemma-edge 640" ] || fail "env is $(stat -c "%U:%G %a" /etc/gemma-edge/env)"
[ -x /usr/bin/gemma-edge ] && [ -e /lib/systemd/system/gemma-edge.service ] || fail "files not installed"
case "$via" in
    sysusers) command -v systemd-sysusers >/dev/null || fail "no systemd-sysusers in this root" ;;
    adduser) ! command -v systemd-sysusers >/dev/null || fail "systemd-sysusers in the adduser root" ;;
esac
user="$(getent passwd gemma-edge)"
dpkg -r gemma-edge >>/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log >&2; fail "dpkg -r"; }
[ ! -e /usr/bin/gemma-edge ] || fail "binary left after dpkg -r"
[ -e /etc/gemma-edge/watchdog.conf ] && [ -e /etc/gemma-edge/env ] || fail "conffiles removed by dpkg -r"
dpkg-query -W -f="\${Status}" gemma-edge | grep -qx "deinstall ok config-files" || fail "state after dpkg -r"
dpkg -P gemma-edge >>/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log >&2; fail "dpkg -P"; }
[ ! -e /etc/gemma-edge ] || fail "/etc/gemma-edge left after purge"
[ "$(getent passwd gemma-edge)" = "$user" ] || fail "user changed by purge"
[ -d /var/lib/gemma-edge/models ] || fail "purge removed /var/lib/gemma-edge"
dpkg -i --force-depends "$deb" >>/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log >&2; fail "dpkg -i after purge"; }
[ "$(getent passwd gemma-edge)" = "$user" ] || fail "reinstall changed the user"
echo "install, remove, purge, reinstall via $via: user $(echo "$user" | cut -d: -f1,3,4,6,7)"
'

# install_root NAME PACKAGE...: a fresh bookworm amd64 tree of those packages and their closure,
# with the files base-passwd and dpkg would have made in their postinst (passwd, group, the dpkg
# database).
install_root() {
    local name="$1" dir="$CROSS/roots/$1"; shift
    local debs
    apt_fetch bookworm amd64 "$@" >"$dir.debs"
    mapfile -t debs <"$dir.debs"
    rm -rf "$dir"
    unpack_into "$dir" "${debs[@]}"
    merged_usr "$dir"
    cp "$dir/usr/share/base-passwd/passwd.master" "$dir/etc/passwd"
    cp "$dir/usr/share/base-passwd/group.master" "$dir/etc/group"
    : >"$dir/etc/shadow"; : >"$dir/etc/gshadow"; chmod 0640 "$dir/etc/shadow" "$dir/etc/gshadow"
    mkdir -p "$dir/var/lib/dpkg/info" "$dir/var/lib/dpkg/updates" "$dir/var/log"
    : >"$dir/var/lib/dpkg/status"; : >"$dir/var/lib/dpkg/available"
    printf '%s\n' "$checks" >"$dir/install-check.sh"
    root_dir="$dir"
}

rc=0 results=()
for via in adduser sysusers; do
    pkgs=("${base[@]}")
    [[ "$via" == sysusers ]] && pkgs+=(systemd)
    install_root "dpkg-bookworm-$via" "${pkgs[@]}"
    if out="$(in_chroot "$root_dir" "$(dirname "$deb")" -- /bin/sh /install-check.sh "$deb" "$via" 2>&1)"; then
        results+=("$(tail -n 1 <<<"$out")")
    else
        results+=("FAIL ($via root): $(tail -n 5 <<<"$out" | tr '\n' ' ')"); rc=1
    fi
done
(IFS=';'; echo "${results[*]}")
exit $rc
