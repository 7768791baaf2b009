#!/usr/bin/env bash
# Kernel client against the real IPVS: runs the kernel_vm test binary
# (every Operation, dumps, errnos, an 11,000-op batch, per-op errors in a batch,
# sync daemons) in a fresh network namespace, and compares the table read
# back with the real `ipvsadm -Sn`.
set -euo pipefail
BIN=${LVSD_KERNEL_TEST_BIN:-}
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
  echo "01-kernel-client: test binary not found (LVSD_KERNEL_TEST_BIN='$BIN')"
  exit 1
fi
ns=lvsd-kc
ip netns del "$ns" 2>/dev/null || true
ip netns add "$ns"
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
# Real servers must be unicast-routable: one dummy link covering the test
# ranges (10/8, 192.168/16, 2001:db8::/32), with an IPv4 address so the
# sync daemon can bind to it.
ip -n "$ns" link set lo up
ip -n "$ns" link add lvsd0 type dummy
ip -n "$ns" addr add 10.255.255.254/8 dev lvsd0
ip -n "$ns" addr add 192.168.255.254/16 dev lvsd0
ip -n "$ns" -6 addr add 2001:db8:ffff::fe/32 dev lvsd0 nodad
ip -n "$ns" link set lvsd0 up
ip netns exec "$ns" env LVSD_VM_IFACE=lvsd0 \
  "$BIN" --ignored --test-threads=1 --nocapture
