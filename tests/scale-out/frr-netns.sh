#!/usr/bin/env bash
# Host-tier check of examples/scale-out/frr-director.conf (no IPVS needed):
# FRR (zebra + bgpd + bfdd) in a director namespace learns a VIP host route
# put into kernel table 100 with `proto 100` (what lvsd's [anycast]
# announcer writes) and exports it over BGP to BIRD in a router namespace
# running examples/scale-out/bird-router.conf. Asserts that the router's
# kernel gets the route while it is in table 100 and loses it when it is
# deleted, and that a route of another table is never exported.
# Needs root, frr and bird2. Only namespaces this script creates are used.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
P=sofrr$$
W=$(mktemp -d /tmp/lvsd-frr.XXXXXX)
FRR=/usr/lib/frr
VIP=10.90.0.100
say() { echo "frr-netns: $*"; }
nsx() { local n=$1; shift; ip netns exec "$P$n" "$@"; }
cleanup() {
  local rc=$? n
  for n in d rt; do
    ip netns pids "$P$n" 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns del "$P$n" 2>/dev/null
  done
  rm -rf "/var/run/frr/$P" 2>/dev/null
  # A passing run leaves nothing behind; a failing one keeps its logs.
  [ "$rc" -eq 0 ] && rm -rf "$W"
}
trap cleanup EXIT
fail() { say "FAIL: $*"; for f in "$W"/*.log; do echo "--- $f"; tail -n 20 "$f"; done
  nsx rt birdc -s "$W/rt.ctl" show protocols 2>&1 | tail -n 8; exit 1; }
for b in "$FRR/zebra" "$FRR/bgpd" "$FRR/bfdd" /usr/sbin/bird; do
  [[ -x $b ]] || { say "SKIP: $b not installed (apt-get install frr bird2)"; exit 77; }
done

for n in d rt; do ip netns add "$P$n"; nsx "$n" ip link set lo up; done
ip link add lan netns "${P}d" type veth peer name lan netns "${P}rt"
nsx d ip addr add 10.91.0.11/24 dev lan; nsx d ip link set lan up
nsx rt ip addr add 10.91.0.1/24 dev lan; nsx rt ip link set lan up
# The VIP is local through a route in the local table, not an address:
# zebra's connected route for an address on lo would win over the route
# imported from table 100, and bgpd exports only the winner.
nsx d ip route add local $VIP/32 dev lo table local

# Router: the repo's example, with only d1 as a neighbour.
grep -v 'protocol bgp d[23] ' "$REPO/examples/scale-out/bird-router.conf" > "$W/rt.conf"
nsx rt bird -c "$W/rt.conf" -s "$W/rt.ctl" -P "$W/rt.pid" || fail "bird did not start"

# Director: the repo's FRR example, daemons under their own path space.
mkdir -p "/var/run/frr/$P"; chown frr:frr "/var/run/frr/$P" 2>/dev/null
cp "$REPO/examples/scale-out/frr-director.conf" "$W/frr.conf"
chmod 644 "$W/frr.conf"; chmod 755 "$W"; chown frr:frr "$W" 2>/dev/null
for d in zebra bfdd bgpd; do
  nsx d "$FRR/$d" -d -N "$P" -f "$W/frr.conf" -i "/var/run/frr/$P/$d.pid" -P 0 \
    --log "file:$W/$d.log" > "$W/$d.out" 2>&1 || fail "$d did not start: $(cat "$W/$d.out")"
  sleep 0.5
done

route() { nsx rt ip route show "$1/32" | grep -c 'via 10.91.0.11'; }
wait_route() { # PREFIX WANT SECONDS
  local k
  for ((k = 0; k < $3 * 10; k++)); do [[ $(route "$1") == "$2" ]] && return 0; sleep 0.1; done
  return 1
}
# A route of another table must not leak (only table 100 is imported).
nsx d ip route add 10.90.0.102/32 dev lo table 101 proto 100
nsx d ip route add $VIP/32 dev lo table 100 proto 100
t0=$(date +%s.%N)
wait_route $VIP 1 ${FRR_WAIT:-120} || { [[ -n ${FRR_DEBUG:-} ]] && sleep 1000; fail "router did not learn $VIP from FRR"; }
say "router learned $VIP in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}') s (session setup included): $(nsx rt ip route show $VIP/32)"
[[ $(route 10.90.0.102) == 0 ]] || fail "route from table 101 was exported"
t0=$(date +%s.%N)
nsx d ip route del $VIP/32 table 100 proto 100
wait_route $VIP 0 30 || fail "router kept $VIP after its withdrawal"
say "withdrawal reached the router in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}') s"
nsx d ip route add $VIP/32 dev lo table 100 proto 100
wait_route $VIP 1 30 || fail "router did not learn $VIP again"
say "PASS"
[[ -n ${FRR_DEBUG:-} ]] && sleep 1000
exit 0
