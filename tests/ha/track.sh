#!/usr/bin/env bash
# HA tracking of the real lvsd in network namespaces (issue 17): two
# `lvsd run` daemons with [ha] (in-memory IPVS table). node-a (priority
# 200) tracks an interface `trk` (veth); node-b tracks a script. Setting
# `trk` down on the active node-a makes it ineligible and node-b takes the
# VIP (log `track: interface trk down`, status.json track_faults); `trk`
# up clears it (no failback: auto_failback off). Then node-b's script fails
# `fall` times and node-a takes the VIP back. Last, a non-zero value in
# node-a's track_file hands the VIP to node-b again; 0 clears it.
#
# Usage: tests/ha/track.sh   (root; namespaces lvsdtrk<pid>*, all deleted)
# Env: LVSD_BIN (prebuilt lvsd).
set -euo pipefail
cd "$(dirname "$0")/../.."
export HA_NS_PREFIX=lvsdtrk$$
# Inside the nodes' own namespaces; this helper's port range.
export HA_METRICS=127.0.0.1:22360
. tests/ha/lib.sh
trap cleanup EXIT
# `timeout` in tests/ha.rs sends TERM: exit so the EXIT trap cleans up.
trap 'exit 143' TERM INT
install_deps
if [[ -z ${LVSD_BIN:-} ]]; then
    cargo build -q --bin lvsd
    LVSD_BIN=target/debug/lvsd
fi
LVSD_BIN=$(realpath "$LVSD_BIN")
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
faults() { nsx "${P}$1" curl -s -m 1 "http://$HA_METRICS/status.json" | jq -c '.ha.track_faults'; }
no_faults() { [[ $(faults "$1") == '[]' ]]; }
# The status page and the log follow the role change a moment later (the
# page is a snapshot, the log writer is asynchronous): wait for them too.
faults_are() { [[ $(faults "$1") == "$2" ]]; }
a_trk_fault() { faults_are a '["interface trk down"]' && [[ $(field a healthy) == 0 ]]; }
logged() { grep -q "$1" "$2"; }

ha_key
setup_topology
# A veth pair inside node-a (no dummy module needed): trk is running
# while both ends are up.
nsx "$NS_A" ip link add trk type veth peer name trkp
nsx "$NS_A" ip link set trkp up
nsx "$NS_A" ip link set trk up
conf() {
    HA_KEEPALIVE_MS=50 HA_WARNTIME_MS=100 HA_DEADTIME_MS=200 HA_INITDEAD_MS=400 \
        HA_AUTO_FAILBACK=false ha_conf "$1" "$2"
}
conf a 200
# A missing track file is a fault in lvsd: start with 0 (OK).
echo 0 >"$WORK/a.state"
# [ha] keys must precede the [[ha.link]] tables: insert after key_file.
sed -i "s|^key_file = .*|&\\ntrack_interface = [\"trk\"]\\ntrack_file = [\"$WORK/a.state\"]|" "$WORK/a.toml"
conf b 100
cat >>"$WORK/b.toml" <<EOT
[[ha.track_script]]
name = "bcheck"
command = ["/bin/sh", "-c", "test ! -e $WORK/b.fail"]
interval_ms = 100
fall = 2
rise = 2
EOT
ha_start a
ha_start b
wait_until 8 one_active || fail "pair did not settle: a=$(field a role) b=$(field b role)"
is_role a active && has_vip a && pass "node-a active with the VIP" || fail "a=$(field a role) b=$(field b role)"
[[ $(faults a) == '[]' && $(faults b) == '[]' ]] && pass "no track faults" || fail "faults a=$(faults a) b=$(faults b)"

nsx "$NS_A" ip link set trk down
wait_until 5 is_role b active && wait_until 3 has_vip b && ! has_vip a &&
    pass "trk down on the active node: node-b took the VIP" || fail "after trk down: a=$(field a role) b=$(field b role)"
wait_until 3 a_trk_fault &&
    pass "status.json shows the fault" || fail "faults a=$(faults a) healthy=$(field a healthy)"
wait_until 3 logged "track: interface trk down" "$WORK/a.log" && pass "logged" || fail "no log line"
"$LVSD_BIN" --socket "$WORK/a.sock" --pid-file "$WORK/a.pid" "$WORK/a.cf" status |
    grep -q "ineligible: track: interface trk down" && pass "lvsd status shows it" || fail "lvsd status"

nsx "$NS_A" ip link set trk up
wait_until 3 no_faults a && pass "trk up clears the fault" || fail "faults a=$(faults a)"
wait_until 3 logged "track: cleared: interface trk down" "$WORK/a.log" &&
    pass "clear logged" || fail "no clear log"
sleep 0.5
is_role b active && has_vip b && pass "no failback (auto_failback off)" || fail "a=$(field a role) b=$(field b role)"

touch "$WORK/b.fail"
wait_until 5 is_role a active && wait_until 3 has_vip a && ! has_vip b &&
    pass "node-b's script failed: node-a took the VIP back" || fail "after script failure: a=$(field a role) b=$(field b role)"
wait_until 3 faults_are b '["track script bcheck failing"]' &&
    pass "script fault shown" || fail "faults b=$(faults b)"
rm -f "$WORK/b.fail"
wait_until 3 no_faults b && pass "script passes again (rise 2)" || fail "faults b=$(faults b)"

# track_file on the now active node-a: a non-zero value hands the VIP
# over (keepalived weight 0), 0 clears the fault.
is_role a active || fail "node-a should be active before the file test"
echo 1 >"$WORK/a.state"
wait_until 5 is_role b active && wait_until 3 has_vip b && ! has_vip a &&
    pass "track_file 1 on the active node: node-b took the VIP" || fail "after track_file 1: a=$(field a role) b=$(field b role)"
wait_until 3 faults_are a "[\"track file $WORK/a.state holds 1\"]" &&
    pass "file fault shown" || fail "faults a=$(faults a)"
echo 0 >"$WORK/a.state"
wait_until 3 no_faults a && pass "track_file 0 clears the fault" || fail "faults a=$(faults a)"

ha_stop a
ha_stop b
echo "ha track: $FAILS failed"
((FAILS == 0))
