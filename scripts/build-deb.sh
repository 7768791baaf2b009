#!/usr/bin/env bash
# Build the lvsd Debian package with dpkg-deb (no cargo-deb: installing it
# compiles a few hundred crates, minutes on a small builder, for what is a
# file copy plus a control file). Output: target/debian/lvsd_VERSION-1_ARCH.deb
# (path printed on the last line).
#
#   LVSD_DEB_PROFILE=release|debug   cargo profile to package (default release)
#
# Installs: /usr/sbin/{lvsd,lvsadm}, /lib/systemd/system/lvsd.service, man
# pages, bash and zsh completions, README and example configs under
# /usr/share/doc/lvsd/. Needs dpkg-dev tools (dpkg-deb) and gzip.
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${LVSD_DEB_PROFILE:-release}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
ARCH=$(dpkg --print-architecture)
if [ "$PROFILE" = release ]; then
  cargo build -q --release --bin lvsd --bin lvsadm
  BIN=target/release
else
  cargo build -q --bin lvsd --bin lvsadm
  BIN=target/debug
fi

OUT=target/debian
ROOT=$OUT/lvsd_${VERSION}-1_$ARCH
rm -rf "$ROOT"
install -d "$ROOT/DEBIAN" "$ROOT/usr/sbin" "$ROOT/lib/systemd/system" \
  "$ROOT/usr/share/man/man8" "$ROOT/usr/share/man/man5" \
  "$ROOT/usr/share/bash-completion/completions" "$ROOT/usr/share/zsh/vendor-completions" \
  "$ROOT/usr/share/doc/lvsd/examples"
install -m 0755 -s "$BIN/lvsd" "$BIN/lvsadm" "$ROOT/usr/sbin/"
install -m 0644 systemd/lvsd.service "$ROOT/lib/systemd/system/"
for p in docs/man/lvsd.8 docs/man/lvsadm.8; do gzip -9n <"$p" >"$ROOT/usr/share/man/man8/$(basename "$p").gz"; done
gzip -9n <docs/man/lvsd.toml.5 >"$ROOT/usr/share/man/man5/lvsd.toml.5.gz"
install -m 0644 completions/lvsd.bash "$ROOT/usr/share/bash-completion/completions/lvsd"
install -m 0644 completions/lvsadm.bash "$ROOT/usr/share/bash-completion/completions/lvsadm"
install -m 0644 completions/_lvsd completions/_lvsadm "$ROOT/usr/share/zsh/vendor-completions/"
install -m 0644 README.md "$ROOT/usr/share/doc/lvsd/"
install -m 0644 packaging/examples/ldirectord.cf lvsd.toml.example "$ROOT/usr/share/doc/lvsd/examples/"
{
  echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
  echo "Upstream-Name: lvsd"
  echo
  echo "Files: *"
  echo "License: MIT or Apache-2.0"
  echo
  cat LICENSE-MIT
} >"$ROOT/usr/share/doc/lvsd/copyright"
chmod 0644 "$ROOT/usr/share/doc/lvsd/copyright"

# The binaries link glibc only: depend on the newest symbol version used.
GLIBC=$(objdump -T "$ROOT/usr/sbin/lvsd" "$ROOT/usr/sbin/lvsadm" 2>/dev/null |
  grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
SIZE=$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
cat >"$ROOT/DEBIAN/control" <<CTRL
Package: lvsd
Version: ${VERSION}-1
Architecture: $ARCH
Maintainer: lvsd developers <lvsd@example.invalid>
Installed-Size: $SIZE
Depends: libc6 (>= ${GLIBC:-2.31})
Recommends: kmod
Section: net
Priority: optional
Homepage: https://example.invalid/lvsd
Description: Linux Virtual Server control plane (ipvsadm, ldirectord, heartbeat)
 lvsd keeps the kernel IPVS table in step with an ldirectord.cf: it
 health-checks real servers and adds, reweights or removes them, and serves
 a status page and Prometheus metrics on loopback.
 .
 lvsadm is a drop-in replacement for ipvsadm: same commands, output and
 exit codes.
CTRL
# Not enabled on install: the operator checks the config first
# (lvsd check-config), then runs systemctl enable --now lvsd.
cat >"$ROOT/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
SH
cat >"$ROOT/DEBIAN/prerm" <<'SH'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop lvsd.service >/dev/null 2>&1 || true
  systemctl disable lvsd.service >/dev/null 2>&1 || true
fi
exit 0
SH
cat >"$ROOT/DEBIAN/postrm" <<'SH'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
SH
chmod 0755 "$ROOT/DEBIAN/postinst" "$ROOT/DEBIAN/prerm" "$ROOT/DEBIAN/postrm"
DEB=$OUT/lvsd_${VERSION}-1_$ARCH.deb
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$DEB" >/dev/null
echo "$DEB"
