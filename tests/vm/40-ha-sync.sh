#!/usr/bin/env bash
# Runs INSIDE the test VM (tests/vm/run-all.sh): real IPVS + lvsd HA. Two
# directors (namespaces A, B) with the same IPVS services (NAT on :5000, DR
# on :5001), a client and a real server. lvsd-ha runs the connection-sync
# daemon as master on the active director and backup on the standby. A
# long-lived TCP connection through the VIP must survive the active
# director's death (links down + kill -9) for both forwarding methods.
#
#   client C  10.77.0.10 --+-- lan bridge --+ A 10.77.0.1  B 10.77.0.2  (VIP 10.77.0.100)
#   real R (DR) 10.77.0.20-+                |
#   real N (NAT) 10.88.0.10 -- int bridge --+ A 10.88.0.1  B 10.88.0.2  (gw VIP 10.88.0.254)
#   (separate real servers: a NAT real must not reach the client directly)
#   A 10.78.0.1 -- xo -- B 10.78.0.2   (heartbeat link 2 + sync daemon)
set -euo pipefail
[[ -n ${LVSD_VM_TRACE:-} ]] && set -x
BIN=${LVSD_BIN_DIR:?}/examples/lvsd-ha
[[ -x $BIN ]] || { echo "40-ha-sync: $BIN missing (cargo build --examples)"; exit 1; }
LVSD_HA_BIN=$BIN
# Still the example runner (with --ipvs); the host netns suite runs lvsd.
HA_RUNNER=lvsd-ha
HA_NS_PREFIX=lvhv
. "$(dirname "${BASH_SOURCE[0]}")/../ha/lib.sh"
W=$WORK
show_logs() { for f in "$W"/a.log "$W"/b.log; do echo "--- $f"; tail -n 30 "$f"; done; }
trap 'rc=$?; ((rc)) && show_logs; cleanup' EXIT
ha_ns a b c r n sw
ha_bridge lanbr
ha_bridge intbr
ha_port a lan lanbr 10.77.0.1/24;  ha_port b lan lanbr 10.77.0.2/24
ha_port c lan lanbr 10.77.0.10/24; ha_port r lan lanbr 10.77.0.20/24
ha_port a int intbr 10.88.0.1/24;  ha_port b int intbr 10.88.0.2/24
ha_port n int intbr 10.88.0.10/24
ha_crossover
# Real server: NAT replies go via the internal gateway VIP; DR needs the VIP
# on lo without answering ARP for it.
nsx ${P}n ip route add default via 10.88.0.254 dev int
nsx ${P}r ip addr add 10.77.0.100/32 dev lo
nsx ${P}r sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
nsx ${P}r sysctl -qw net.ipv4.conf.lan.arp_ignore=1 net.ipv4.conf.lan.arp_announce=2
nsx ${P}n "$BIN" tcp-echo --listen 0.0.0.0:5000 &
nsx ${P}r "$BIN" tcp-echo --listen 0.0.0.0:5001 &
ha_key
for n in a b; do
    prio=200
    [[ $n == b ]] && prio=100
    nsx ${P}$n sysctl -qw net.ipv4.ip_forward=1
    nsx ${P}$n ipvsadm -A -t 10.77.0.100:5000 -s rr
    nsx ${P}$n ipvsadm -a -t 10.77.0.100:5000 -r 10.88.0.10:5000 -m
    nsx ${P}$n ipvsadm -A -t 10.77.0.100:5001 -s rr
    nsx ${P}$n ipvsadm -a -t 10.77.0.100:5001 -r 10.77.0.20:5001 -g
    # Generous timings: the guest is emulated (TCG) and slow; this test is
    # about connection survival, not failover speed.
    HA_NODE_PREFIX=dir- HA_KEEPALIVE_MS=200 HA_DEADTIME_MS=2000 HA_INITDEAD_MS=5000 \
        HA_VIPS="10.77.0.100/24@lan 10.88.0.254/24@int" HA_ANNOUNCE="3 100" ha_conf "$n" "$prio"
    printf '[ha.sync_daemon]\ninterface = "xo"\nsyncid = 7\n' >>"$W/$n.toml"
done
start() { ha_start "$1" --ipvs; }
role() { field "$1" role; }
wait_role() { # NODE ROLE SECONDS
    wait_until "$3" is_role "$1" "$2"
}
start a; sleep 0.5; start b
wait_role a active 30 && wait_role b standby 30 || { echo "pair did not settle"; cat "$W"/*.log; exit 1; }
echo "daemons on a:"; nsx ${P}a ipvsadm -L --daemon
echo "daemons on b:"; nsx ${P}b ipvsadm -L --daemon
sleep 3 # the sync worker applies daemon changes off the heartbeat loop
nsx ${P}a ipvsadm -L --daemon | grep -q "master sync daemon" || { echo "no master daemon on active"; exit 1; }
nsx ${P}b ipvsadm -L --daemon | grep -q "backup sync daemon" || { echo "no backup daemon on standby"; exit 1; }

# Two long-lived connections, then the active director dies mid-stream.
nsx ${P}c "$BIN" tcp-client --to 10.77.0.100:5000 --seconds 40 --interval-ms 100 >"$W/nat.out" 2>&1 &
nat=$!
nsx ${P}c "$BIN" tcp-client --to 10.77.0.100:5001 --seconds 40 --interval-ms 100 >"$W/dr.out" 2>&1 &
dr=$!
sleep 5
echo "connections synced to b:"; nsx ${P}b ipvsadm -Lnc
nsx ${P}a ip link set lan down; nsx ${P}a ip link set int down; nsx ${P}a ip link set xo down
kill -9 "${PID[a]}"
wait_role b active 30 || { echo "b did not take over"; cat "$W/b.log"; exit 1; }
for ((i = 0; i < 100; i++)); do
    nsx ${P}b ipvsadm -L --daemon | grep -q "master sync daemon" && break
    sleep 0.2
done
nsx ${P}b ipvsadm -L --daemon | grep -q "master sync daemon" || { echo "b did not switch to master"; exit 1; }
rc=0
wait "$nat" || rc=1
wait "$dr" || rc=1
echo "NAT: $(cat "$W/nat.out")"
echo "DR:  $(cat "$W/dr.out")"
[[ $rc == 0 ]] && echo "40-ha-sync: both connections survived the failover"
exit $rc
