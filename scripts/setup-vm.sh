#!/usr/bin/env bash
# Install everything the kernel-tier tests and the demo need on a fresh Debian
# machine: qemu (TCG), udev, kmod, busybox (virtme-ng builds its initramfs
# from it), the real ipvsadm to diff against, bird2 (scale-out test), virtme-ng, and a Debian kernel
# with IPVS unpacked under $LVSD_KERNEL_DIR. Idempotent: a second run only checks.
set -euo pipefail

KDIR=${LVSD_KERNEL_DIR:-/var/cache/lvsd-test/kernel}
need_apt=()
for cmd_pkg in qemu-system-x86_64:qemu-system-x86 udevadm:udev modprobe:kmod \
    busybox:busybox-static ipvsadm:ipvsadm ip:iproute2 tcpdump:tcpdump \
    keepalived:keepalived ldirectord:ldirectord curl:curl python3:python3 \
    bird:bird2; do
  cmd=${cmd_pkg%%:*}; pkg=${cmd_pkg#*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# ldirectord's package pulls heartbeat bits that try to start services: make
# sure nothing it installed keeps running on the build machine.
systemctl stop ldirectord keepalived >/dev/null 2>&1 || true
# bird2 (tests/vm/50-scale-out.sh runs its own BIRDs in namespaces inside the
# guest): the package's service must not run on the build machine.
systemctl disable --now bird >/dev/null 2>&1 || true

if ! command -v vng >/dev/null 2>&1; then
  pip install -q virtme-ng
fi

if [ ! -f "$KDIR/vmlinuz" ]; then
  tmp=$(mktemp -d)
  KPKG=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: //p' | head -1)
  (cd "$tmp" && apt-get download "$KPKG" >/dev/null)
  mkdir -p "$KDIR"
  dpkg -x "$tmp"/"$KPKG"_*.deb "$tmp/x"
  KVER=${KPKG#linux-image-}
  mkdir -p /lib/modules
  [ -d "/lib/modules/$KVER" ] || cp -a "$tmp/x/lib/modules/$KVER" /lib/modules/
  depmod "$KVER"
  cp "$tmp/x/boot/vmlinuz-$KVER" "$KDIR/vmlinuz"
  echo "$KVER" > "$KDIR/version"
  rm -rf "$tmp"
fi
echo "setup-vm: kernel $(cat "$KDIR/version") ready in $KDIR"
