#!/usr/bin/env bash
# Soak: an lvsd HA pair (two real `lvsd run` daemons with the in-memory IPVS
# table, netns topology of tests/ha/lib.sh, keepalive 50 ms,
# deadtime 200 ms, two links) runs for SOAK_SECONDS (default 300) while a
# load generator keeps every CPU core busy. Passes if no transition happened
# (zero false failovers) and the peer never died. Reports late-heartbeat
# warnings and the packet counters.
#
# Usage: scripts/soak-ha.sh [SECONDS]   (root)
# Env: LVSD_BIN (prebuilt lvsd; default: debug build), LOAD_PROCS
#      (default: nproc), KEEPALIVE_MS (50), DEADTIME_MS (200).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-${SOAK_SECONDS:-300}}
KEEPALIVE_MS=${KEEPALIVE_MS:-50}
DEADTIME_MS=${DEADTIME_MS:-200}
LOAD_PROCS=${LOAD_PROCS:-$(nproc)}
. tests/ha/lib.sh
LOADPIDS=()
stop_load() { for p in "${LOADPIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap 'rc=$?; stop_load; cleanup $rc' EXIT
install_deps
if [[ -z ${LVSD_BIN:-} ]]; then
    cargo build -q --bin lvsd
    LVSD_BIN=target/debug/lvsd
fi
LVSD_BIN=$(realpath "$LVSD_BIN")
ha_key
for n in a b; do
    prio=200
    [[ $n == b ]] && prio=100
    HA_KEEPALIVE_MS=$KEEPALIVE_MS HA_DEADTIME_MS=$DEADTIME_MS ha_conf "$n" "$prio"
done
setup_topology
ha_start a
ha_start b
settled() { [[ $(field a role) == active && $(field b role) == standby && $(field b peer_alive) == 1 ]]; }
wait_until 10 settled || { echo "soak: pair did not settle"; exit 1; }
ta=$(field a transitions) tb=$(field b transitions)
for ((i = 0; i < LOAD_PROCS; i++)); do
    (while :; do :; done) &
    LOADPIDS+=($!)
done
echo "soak: ${SECS}s, $LOAD_PROCS busy loops on $(nproc) cores, keepalive ${KEEPALIVE_MS}ms deadtime ${DEADTIME_MS}ms"
load0=$(cut -d' ' -f1 /proc/loadavg)
dead=0
for ((s = 0; s < SECS; s++)); do
    sleep 1
    [[ $(field a peer_alive) == 1 && $(field b peer_alive) == 1 ]] || dead=$((dead + 1))
done
load1=$(cut -d' ' -f1 /proc/loadavg)
stop_load
late=$(cat "$WORK/a.log" "$WORK/b.log" | grep -c "late heartbeat" || true)
slow=$(cat "$WORK/a.log" "$WORK/b.log" | grep -c "took longer than keepalive\|send ran late" || true)
linkdead=$(cat "$WORK/a.log" "$WORK/b.log" | grep -c "link dead" || true)
fa=$(($(field a transitions) - ta)) fb=$(($(field b transitions) - tb))
echo "soak: loadavg ${load0} -> ${load1}; transitions a=$fa b=$fb; seconds with a peer dead: $dead;" \
    "late-heartbeat warnings: $late; link-dead events: $linkdead; slow-loop warnings: $slow"
echo "soak: counters b: accepted=$(field b accepted) bad_auth=$(field b bad_auth) replayed=$(field b replayed)"
if ((fa == 0 && fb == 0 && dead == 0)); then
    echo "soak: PASS (zero false failovers)"
else
    echo "soak: FAIL"
    exit 1
fi
