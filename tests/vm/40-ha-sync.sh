#!/usr/bin/env bash
# Runs INSIDE the test VM (tests/vm/run-all.sh): real IPVS + the real lvsd
# daemon in HA. Two directors (namespaces A, B) each run `lvsd run` on the
# real kernel with the same ldirectord.cf (NAT on :5000, DR on :5001, which
# lvsd itself puts into IPVS) and an lvsd.toml [ha] with
# [ha.sync_daemon]: lvsd runs the kernel's connection-sync daemon as master
# on the active director and backup on the standby. A client and a real
# server. A long-lived TCP connection through the VIP must survive the
# active director's death (links down + kill -9) for both forwarding
# methods.
#
#   client C  10.77.0.10 --+-- lan bridge --+ A 10.77.0.1  B 10.77.0.2  (VIP 10.77.0.100)
#   real R (DR) 10.77.0.20-+                |
#   real N (NAT) 10.88.0.10 -- int bridge --+ A 10.88.0.1  B 10.88.0.2  (gw VIP 10.88.0.254)
#   (separate real servers: a NAT real must not reach the client directly)
#   A 10.78.0.1 -- xo -- B 10.78.0.2   (heartbeat link 2 + sync daemon)
set -euo pipefail
[[ -n ${LVSD_VM_TRACE:-} ]] && set -x
LVSD_BIN=${LVSD_BIN_DIR:?}/lvsd
[[ -x $LVSD_BIN ]] || { echo "40-ha-sync: $LVSD_BIN missing (cargo build --bins)"; exit 1; }
# The real daemon on the real kernel; its status page (read by `field`)
# in each director's own namespace.
HA_REAL_KERNEL=1
HA_METRICS=127.0.0.1:22450
HA_NS_PREFIX=lvhv
. "$(dirname "${BASH_SOURCE[0]}")/../ha/lib.sh"
CONN="/usr/bin/python3 $(dirname "${BASH_SOURCE[0]}")/ha_conn.py"
W=$WORK
show_logs() { for f in "$W"/a.log "$W"/b.log; do echo "--- $f"; tail -n 30 "$f"; done; }
trap 'rc=$?; ((rc)) && show_logs; cleanup $rc' EXIT
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
nsx ${P}n $CONN echo 5000 &
nsx ${P}r $CONN echo 5001 &
ha_key
for n in a b; do
    prio=200
    [[ $n == b ]] && prio=100
    nsx ${P}$n sysctl -qw net.ipv4.ip_forward=1
    # Generous timings: the guest is emulated (TCG) and slow; this test is
    # about connection survival, not failover speed.
    HA_NODE_PREFIX=dir- HA_KEEPALIVE_MS=200 HA_DEADTIME_MS=2000 HA_INITDEAD_MS=5000 \
        HA_VIPS="10.77.0.100/24@lan 10.88.0.254/24@int" HA_ANNOUNCE="3 100" ha_conf "$n" "$prio"
    printf '[ha.sync_daemon]\ninterface = "xo"\nsyncid = 7\n' >>"$W/$n.toml"
    # lvsd's own services (ha_conf wrote a placeholder): both directors
    # keep the same table, whatever their role, so the standby's backup
    # sync daemon has services to attach synced connections to.
    cat >"$W/$n.cf" <<'EOT'
virtual=10.77.0.100:5000
	real=10.88.0.10:5000 masq 1
	scheduler=rr
	protocol=tcp
	checktype=on
virtual=10.77.0.100:5001
	real=10.77.0.20:5001 gate 1
	scheduler=rr
	protocol=tcp
	checktype=on
EOT
done
start() { ha_start "$1"; }
# Both services with their real, as lvsd put them into NODE's kernel.
has_table() {
    local t
    t=$(nsx "${P}$1" ipvsadm -Ln)
    grep -q "10.77.0.100:5000 rr" <<<"$t" && grep -q "10.88.0.10:5000 *Masq" <<<"$t" &&
        grep -q "10.77.0.100:5001 rr" <<<"$t" && grep -q "10.77.0.20:5001 *Route" <<<"$t"
}
role() { field "$1" role; }
wait_role() { # NODE ROLE SECONDS
    wait_until "$3" is_role "$1" "$2"
}
start a; sleep 0.5; start b
wait_role a active 30 && wait_role b standby 30 || { echo "pair did not settle"; cat "$W"/*.log; exit 1; }
for n in a b; do
    wait_until 30 has_table "$n" || { echo "lvsd did not program $n's IPVS table"; nsx "${P}$n" ipvsadm -Ln; exit 1; }
done
echo "table on b (lvsd's):"; nsx ${P}b ipvsadm -Ln
echo "daemons on a:"; nsx ${P}a ipvsadm -L --daemon
echo "daemons on b:"; nsx ${P}b ipvsadm -L --daemon
# The sync worker applies daemon changes off the heartbeat loop.
has_daemon() { nsx "${P}$1" ipvsadm -L --daemon | grep -q "$2 sync daemon"; }
wait_until 10 has_daemon a master || { echo "no master daemon on active"; exit 1; }
wait_until 10 has_daemon b backup || { echo "no backup daemon on standby"; exit 1; }

# Two long-lived connections, then the active director dies mid-stream.
nsx ${P}c $CONN client 10.77.0.100:5000 40 100 >"$W/nat.out" 2>&1 &
nat=$!
nsx ${P}c $CONN client 10.77.0.100:5001 40 100 >"$W/dr.out" 2>&1 &
dr=$!
sleep 5
echo "connections synced to b:"; nsx ${P}b ipvsadm -Lnc
nsx ${P}a ip link set lan down; nsx ${P}a ip link set int down; nsx ${P}a ip link set xo down
kill -9 "${PID[a]}"
wait_role b active 30 || { echo "b did not take over"; cat "$W/b.log"; exit 1; }
wait_until 20 has_daemon b master || { echo "b did not switch to master"; exit 1; }
rc=0
wait "$nat" || rc=1
wait "$dr" || rc=1
echo "NAT: $(cat "$W/nat.out")"
echo "DR:  $(cat "$W/dr.out")"
[[ $rc == 0 ]] && echo "40-ha-sync: both connections survived the failover"
exit $rc
