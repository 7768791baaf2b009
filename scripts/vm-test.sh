#!/usr/bin/env bash
# Run the kernel-tier tests: build lvsd (debug) and the kernel_vm test
# binary on the host, boot ONE guest with a Debian kernel that has IPVS
# (virtme-ng, TCG), run tests/vm/run-all.sh inside it and return its exit
# code. Results and logs land in $LVSD_VM_OUT (default target/vm-results).
#
# Usage: scripts/vm-test.sh [TEST-GLOB]   e.g. scripts/vm-test.sh '01-*'
# Env:   LVSD_VM_MEM (default 2G), LVSD_VM_CPUS (2), LVSD_VM_TEST_TIMEOUT
#        (per test, seconds, default 900), LVSD_SKIP_SETUP=1, LVSD_SKIP_BUILD=1.
#
# Debug builds: the guest's time goes into the kernel and process start-up,
# not into lvsd's own code, and a release build costs minutes of the shared
# CPUs for no test-relevant gain.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
KDIR=${LVSD_KERNEL_DIR:-/var/cache/lvsd-test/kernel}
OUT=${LVSD_VM_OUT:-$REPO/target/vm-results}
GLOB=${1:-}

if [ "${LVSD_SKIP_SETUP:-0}" != 1 ]; then
  "$REPO/scripts/setup-vm.sh"
fi

cd "$REPO"
if [ "${LVSD_SKIP_BUILD:-0}" != 1 ]; then
  # --workspace --examples: tests/vm/02-crate-examples.sh runs the
  # ipvs-netlink crate's examples.
  cargo build --workspace --bins --examples
  # The path of the compiled integration test binary, from cargo itself.
  cargo test --no-run --test kernel_vm --message-format=json 2>/dev/null \
    | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") \
            and m["target"]["name"] == "kernel_vm":
        print(m["executable"])
' > "$REPO/target/kernel_vm.path"
fi
TEST_BIN=$(cat "$REPO/target/kernel_vm.path" 2>/dev/null || true)

rm -rf "$OUT"
mkdir -p "$OUT"
# virtme-ng loses the first bytes of the guest's stdout now and then: the
# guest writes everything to $OUT/run.log too, and we print that file.
boot() {
  timeout "${LVSD_VM_TIMEOUT:-5400}" vng -r "$KDIR/vmlinuz" --disable-kvm --force-9p \
    -m "${LVSD_VM_MEM:-2G}" --cpus "${LVSD_VM_CPUS:-2}" --rwdir "$OUT" \
    --exec "env LVSD_REPO='$REPO' LVSD_BIN_DIR='$REPO/target/debug' \
      LVSD_KERNEL_TEST_BIN='$TEST_BIN' LVSD_VM_OUT='$OUT' \
      LVSD_VM_TEST_TIMEOUT='${LVSD_VM_TEST_TIMEOUT:-900}' LVSD_VM_GLOB='$GLOB' \
      bash '$REPO/tests/vm/run-all.sh'" > "$OUT/vng.stdout" 2> "$OUT/vng.stderr"
}
set +e
boot
rc=$?
# On a loaded machine vng now and then dies before the guest runs anything
# (no run.log at all): boot once more rather than report a false failure.
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ ! -f "$OUT/run.log" ]; then
  echo "vm-test: guest did not start (vng exit $rc), retrying once" >&2
  boot
  rc=$?
fi
set -e
if [ -f "$OUT/run.log" ]; then
  cat "$OUT/run.log"
else
  cat "$OUT/vng.stdout" "$OUT/vng.stderr"
fi
if [ -f "$OUT/rc" ]; then
  # The guest's own verdict wins over vng's exit code, which a lost
  # console can garble.
  rc=$(cat "$OUT/rc")
elif [ "$rc" = 0 ]; then
  echo "vm-test: guest ended without a verdict" >&2
  rc=1
fi
exit "$rc"
