#!/usr/bin/env bash
# Runs INSIDE the test VM: records which real the kernel's `mh` scheduler
# picks for many client flows, for the fixture under tests/data/mh/ that
# src/model/maglev.rs's unit test compares the user-space table against.
# Clients are local sockets bound (freebind) to addresses that exist only in
# this guest; IPVS schedules locally generated SYNs at LOCAL_OUT, and the
# choice shows in /proc/net/ip_vs_conn. Writes $LVSD_VM_OUT/mh/*.txt.
# Env: LVSD_REPO (the source tree), LVSD_VM_OUT (writable, shared with host).
set -u
REPO=${LVSD_REPO:?LVSD_REPO not set}
OUT=${LVSD_VM_OUT:-/tmp/lvsd-vm}/mh
mkdir -p "$OUT"
modprobe ip_vs_mh || { echo "52-mh-capture: no ip_vs_mh"; exit 1; }
ip netns add lvsd-mh || exit 1
trap 'ip netns del lvsd-mh 2>/dev/null' EXIT
LVSD_BIN_DIR=${LVSD_BIN_DIR:-} ip netns exec lvsd-mh python3 "$REPO/tests/vm/mh-capture.py" "$OUT"
