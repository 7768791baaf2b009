#!/usr/bin/env bash
# The lvsd demo: one command on a Debian machine whose kernel has no IPVS.
# Installs what is missing (scripts/setup-vm.sh: qemu, virtme-ng, a Debian
# kernel with IPVS), builds lvsd, boots one guest and plays the story in it
# (scripts/demo-guest.sh), narrating on this terminal. Exit 0 when every
# step happened as narrated.
#   DEMO_OUT (default target/demo): the guest's log and verdict.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
KDIR=${LVSD_KERNEL_DIR:-/var/cache/lvsd-test/kernel}
OUT=${DEMO_OUT:-$REPO/target/demo}
cd "$REPO"

echo "demo: checking prerequisites (scripts/setup-vm.sh)"
bash scripts/setup-vm.sh
echo "demo: building lvsd and lvsadm (release: the guest is emulated, so debug code would slow every step)"
cargo build -q --release --bins

rm -rf "$OUT"; mkdir -p "$OUT"
: >"$OUT/demo.log"
echo "demo: booting the guest (emulated, ~30 s)"
start=$(date +%s)
timeout "${DEMO_TIMEOUT:-1200}" vng -r "$KDIR/vmlinuz" --disable-kvm --force-9p -m 1G --cpus 2 --rwdir "$OUT" \
  --exec "env LVSD_REPO='$REPO' LVSD_BIN_DIR='$REPO/target/release' DEMO_OUT='$OUT' \
    bash '$REPO/scripts/demo-guest.sh'" >"$OUT/vng.stdout" 2>"$OUT/vng.stderr" &
vng_pid=$!
# The guest writes its narration to a file on the shared directory; follow
# it (the guest console can drop bytes under emulation).
tail -n +1 -F --pid=$vng_pid "$OUT/demo.log" 2>/dev/null
wait $vng_pid || true
secs=$(( $(date +%s) - start ))
if [ -f "$OUT/rc" ]; then
  rc=$(cat "$OUT/rc")
else
  echo "demo: the guest ended without a verdict; its console:"
  tail -n 30 "$OUT/vng.stdout" "$OUT/vng.stderr"
  rc=1
fi
echo "demo: guest run took ${secs}s; log in $OUT/demo.log"
exit "$rc"
