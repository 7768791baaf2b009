#!/usr/bin/env bash
# Package test: build the .deb (scripts/build-deb.sh), install it on this
# machine with dpkg -i, check every file, run the installed binaries, man
# pages and completion, `systemd-analyze verify` the unit, then remove and
# purge it and check nothing is left. The package is never enabled or
# started. Installs dpkg-dev/binutils, man-db and systemd tools if absent.
#   LVSD_DEB_PROFILE (default debug here, to keep the suite fast; the
#   package layout does not depend on it).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v dpkg-deb >/dev/null 2>&1 || need+=(dpkg)
command -v objdump >/dev/null 2>&1 || need+=(binutils)
command -v man >/dev/null 2>&1 || need+=(man-db)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
if [ ${#need[@]} -gt 0 ]; then
  echo "test-deb: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
fail() { echo "test-deb: FAIL: $*"; exit 1; }
if dpkg -s lvsd >/dev/null 2>&1; then
  fail "a package named lvsd is already installed; not touching it"
fi
DEB=$(LVSD_DEB_PROFILE=${LVSD_DEB_PROFILE:-debug} bash scripts/build-deb.sh | tail -1)
[ -f "$DEB" ] || fail "no package built"
echo "test-deb: built $DEB"
lintian_like() {
  dpkg-deb -I "$DEB" control >/dev/null || fail "no control file"
  dpkg-deb -f "$DEB" Package Version Architecture Depends | sed 's/^/test-deb:   /'
}
lintian_like

installed=0
cleanup() { [ $installed = 1 ] && dpkg --purge lvsd >/dev/null 2>&1 || true; }
trap cleanup EXIT
dpkg -i "$DEB" >/dev/null || fail "dpkg -i failed"
installed=1

FILES="/usr/sbin/lvsd /usr/sbin/lvsadm /lib/systemd/system/lvsd.service
/usr/share/man/man8/lvsd.8.gz /usr/share/man/man8/lvsadm.8.gz /usr/share/man/man5/lvsd.toml.5.gz
/usr/share/bash-completion/completions/lvsd /usr/share/bash-completion/completions/lvsadm
/usr/share/zsh/vendor-completions/_lvsd /usr/share/zsh/vendor-completions/_lvsadm
/usr/share/doc/lvsd/README.md /usr/share/doc/lvsd/copyright
/usr/share/doc/lvsd/examples/ldirectord.cf /usr/share/doc/lvsd/examples/lvsd.toml.example"
for f in $FILES; do
  [ -e "$f" ] || fail "$f not installed"
  dpkg -S "$f" >/dev/null 2>&1 || fail "$f not owned by the package"
done
[ -x /usr/sbin/lvsd ] && [ -x /usr/sbin/lvsadm ] || fail "binaries not executable"
v=$(/usr/sbin/lvsd --version) ; [ "$v" = "lvsd $(dpkg-deb -f "$DEB" Version | sed 's/-[^-]*$//')" ] || fail "lvsd --version says '$v'"
/usr/sbin/lvsd check-config /usr/share/doc/lvsd/examples/ldirectord.cf >/dev/null ||
  fail "the shipped example ldirectord.cf does not check"
for p in lvsd lvsadm lvsd.toml; do
  MANWIDTH=80 MANPAGER=cat man "$p" 2>/dev/null | head -1 | grep -qi "^${p}(" || fail "man $p does not find the installed page"
done
comp=$(bash -c 'source /usr/share/bash-completion/completions/lvsadm; COMP_WORDS=(lvsadm --stop-d); COMP_CWORD=1; _lvsadm; echo "${COMPREPLY[*]}"')
[ "$comp" = "--stop-daemon" ] || fail "installed bash completion answers '$comp'"

# systemd-analyze also reports on other installed units; only ours counts.
out=$(systemd-analyze verify /lib/systemd/system/lvsd.service 2>&1) || true
ours=$(printf '%s\n' "$out" | grep -i 'lvsd' || true)
if [ -n "$ours" ]; then
  printf '%s\n' "$out"
  fail "systemd-analyze verify complains about lvsd.service"
fi
echo "test-deb: installed files, binaries, man pages, completion and unit ok"

dpkg -r lvsd >/dev/null || fail "dpkg -r failed"
for f in $FILES; do
  [ -e "$f" ] && fail "$f left behind after removal"
done
dpkg --purge lvsd >/dev/null || fail "dpkg --purge failed"
installed=0
dpkg -s lvsd >/dev/null 2>&1 && fail "package still known to dpkg after purge"
[ -d /usr/share/doc/lvsd ] && fail "/usr/share/doc/lvsd left behind"
echo "test-deb: removed and purged cleanly"
echo "test-deb: ok"
