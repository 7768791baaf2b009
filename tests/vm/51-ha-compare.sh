#!/usr/bin/env bash
# Runs INSIDE the test VM (tests/vm/run-all.sh): the active/standby baseline
# for the scale-out benchmark (docs/benchmarks.md "scale-out"). lvsd's
# active/standby HA (two `lvsd run` daemons on the real kernel, each with
# the same ldirectord.cf and an lvsd.toml [ha]: heartbeats, VIP takeover,
# IPVS connection sync started by lvsd on each role change) with the
# same client as tests/vm/50-scale-out.sh (tests/vm/scale_client.py) and the
# same load; the active director dies (links down + kill -9). Reports the
# takeover time and broken/failed/moved flows; fails on a broken
# established connection, like 50-scale-out.
#
#   client c 10.77.0.10 --+-- lan bridge --+ a 10.77.0.1  b 10.77.0.2 (VIP 10.77.0.100)
#   reals r1..r3 .21-.23 -+                 a 10.78.0.1 -- xo -- b 10.78.0.2
set -uo pipefail
[[ -n ${LVSD_VM_TRACE:-} ]] && set -x
LVSD_BIN=${LVSD_BIN_DIR:?}/lvsd
[[ -x $LVSD_BIN ]] || { echo "51-ha-compare: $LVSD_BIN missing (cargo build --bins)"; exit 1; }
# The real daemon on the real kernel, as 40-ha-sync.
HA_REAL_KERNEL=1
HA_METRICS=127.0.0.1:22451
HA_NS_PREFIX=so51
. "$(dirname "${BASH_SOURCE[0]}")/../ha/lib.sh"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOL="/usr/bin/python3 $HERE/scale_client.py"
OUT=${LVSD_VM_OUT:-$WORK}
W=$WORK
CONNS=${SO_CONNS:-200} INTERVAL=${SO_INTERVAL:-0.1} NEW_EVERY=${SO_NEW_EVERY:-0.01}
SETTLE=${SO_SETTLE:-8}
export PATH="$PATH:/usr/sbin:/sbin"
say() { echo "51-ha-compare: $*"; }
phase() { echo "$(date +%s.%N) $1 ${2:--}" >> "$W/phases"; say "phase $1"; }
show_logs() { for f in "$W"/a.log "$W"/b.log "$W"/client.log; do echo "--- $f"; tail -n 20 "$f"; done; }
trap 'rc=$?; touch "$W/stop"; ((rc)) && show_logs; cp "$W/events" "$W/phases" "$OUT/" 2>/dev/null; cleanup $rc' EXIT
ha_ns a b c r1 r2 r3 sw
ha_bridge lan
ha_port a lan lan 10.77.0.1/24; ha_port b lan lan 10.77.0.2/24
ha_port c lan lan 10.77.0.10/24
for i in 1 2 3; do
  ha_port "r$i" lan lan "10.77.0.2$i/24"
  nsx "${P}r$i" ip addr add $VIP/32 dev lo
  nsx "${P}r$i" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
  nsx "${P}r$i" $TOOL server "r$i" 7001 > "$W/r$i.log" 2>&1 &
done
ha_crossover
ha_key
for n in a b; do
  prio=200; [[ $n == b ]] && prio=100
  # The same timings as 40-ha-sync (generous: emulated guest).
  HA_NODE_PREFIX=dir- HA_KEEPALIVE_MS=200 HA_DEADTIME_MS=2000 HA_INITDEAD_MS=5000 \
    HA_VIPS="$VIP/24@lan" HA_ANNOUNCE="3 100" ha_conf "$n" "$prio"
  printf '[ha.sync_daemon]\ninterface = "xo"\nsyncid = 7\n' >>"$W/$n.toml"
  # lvsd's own service, the same on both directors (ha_conf wrote a
  # placeholder): DR to the three reals, rr, no checks.
  { printf 'virtual=%s:7001\n\tscheduler=rr\n\tprotocol=tcp\n\tchecktype=on\n' "$VIP"
    for i in 1 2 3; do printf '\treal=10.77.0.2%s:7001 gate 1\n' "$i"; done; } >"$W/$n.cf"
done
has_table() { [[ $(nsx "${P}$1" ipvsadm -Ln | grep -c "10.77.0.2[123]:7001 *Route") == 3 ]]; }
has_daemon() { nsx "${P}$1" ipvsadm -L --daemon | grep -q "$2 sync daemon"; }
ha_start a; sleep 0.5; ha_start b
wait_until 30 is_role a active && wait_until 30 is_role b standby || { say "pair did not settle"; exit 1; }
wait_until 30 has_table a && wait_until 30 has_table b || { say "lvsd did not program the tables"; exit 1; }
wait_until 10 has_daemon a master && wait_until 10 has_daemon b backup || { say "sync daemons not started"; exit 1; }
sleep 3
phase start
nsx ${P}c $TOOL client --vips $VIP:7001 --events "$W/events" --stop "$W/stop" \
  --conns "$CONNS" --interval "$INTERVAL" --new-every "$NEW_EVERY" --max-seconds 600 \
  > "$W/client.log" 2>&1 &
CLIENT=$!
sleep "$SETTLE"
phase warm-up
sleep 2
phase crash-active
t0=$(date +%s.%N)
nsx ${P}a ip link set lan down; nsx ${P}a ip link set xo down
kill -9 "${PID[a]}"
t1=$(date +%s.%N)
wait_until 30 has_vip b || { say "b did not take the VIP"; exit 1; }
# Takeover = b's own log line "vip added" (its timestamp, same clock),
# not the time our polling noticed: under TCG on a loaded host every
# poll is a slow process start. Falls back to the poll's time.
since() { awk -v a="$t0" -v b="$1" 'BEGIN { printf "%.2f", b - a }'; }
polled=$(since "$(date +%s.%N)")
at_log() { # PATTERN: epoch of b's last log line matching it, or nothing
  local ts
  ts=$(grep "$1" "$W/b.log" | tail -n 1 | awk '{print $1}')
  [[ -n $ts ]] && date -d "$ts" +%s.%N 2>/dev/null
}
added=$(at_log "vip added")
dead=$(at_log "peer dead")
takeover=$polled
[[ -n $added ]] && takeover=$(since "$added")
say "links down + kill -9 took $(since "$t1")s; b: peer dead after $([[ -n $dead ]] && since "$dead" || echo '?')s, VIP added after ${takeover}s (noticed by polling after ${polled}s), all from the first 'ip link set ... down'"
wait_until 30 is_role b active || { say "b did not report active"; exit 1; }
wait_until 20 has_daemon b master || { say "b did not switch its sync daemon to master"; exit 1; }
sleep "$SETTLE"
phase end
touch "$W/stop"
wait "$CLIENT"
: > "$W/routes"
say "active/standby failover (lvsd, rr + sync daemon): takeover after ${takeover}s (deadtime 2 s)"
$TOOL report --phases "$W/phases" --events "$W/events" --routes "$W/routes" | tee "$OUT/51-ha-compare.report"
rc=${PIPESTATUS[0]}
say "$CONNS long-lived connections, message every ${INTERVAL}s, new connection every ${NEW_EVERY}s"
((rc)) && { say "FAIL: established connections were broken"; exit 1; }
exit 0
