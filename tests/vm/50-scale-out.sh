#!/usr/bin/env bash
# Runs INSIDE the test VM (tests/vm/run-all.sh): scale-out, N active
# directors behind ECMP (issue 14). Real kernel, real BIRD 2.
#
#   cl 10.92.0.2 -- rt 10.92.0.1 (BIRD: BGP from d1..d3, merge paths, BFD,
#                  |                L4 multipath hash)
#                  rt 10.91.0.1 --+-- lan bridge (ns sw) --+ d1 .11 d2 .12 d3 .13
#                                 |                        (BIRD + lvsd, IPVS DR,
#                                 |                         mh + sloppy_tcp)
#                                 +-- r1 .21 r2 .22 r3 .23 (VIPs on lo, answer
#                                                           with their name)
# VIP1 10.90.0.100:7001, VIP2 10.90.0.101:7002 (health port 7102; d3 checks
# VIP2 on 7103, which the reals close in the quorum-loss scenario).
#
# The client holds long-lived connections and opens new ones all along;
# scenarios in sequence: planned stop of d1, d1 back, kill -9 of d2 (lvsd +
# bird) with its link down, d3 losing all reals of VIP2. The test fails on
# a broken established connection; it prints per scenario the time until
# the router's route set changed, broken, failed new and moved flows.
#
# ANNOUNCE=hand (default until lvsd's [anycast] announcer is merged): this
# script adds/deletes the VIP host routes in table 100 proto 100 itself,
# where lvsd would. ANNOUNCE=lvsd: lvsd gets an [anycast] section in its
# lvsd.toml and does it (stop = withdraw + drain, quorum), the script only
# starts/stops/kills things.
set -uo pipefail
[[ -n ${LVSD_VM_TRACE:-} ]] && set -x
ANNOUNCE=${ANNOUNCE:-lvsd}
BIN=${LVSD_BIN_DIR:?}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOL="/usr/bin/python3 $HERE/scale_client.py"
W=$(mktemp -d /tmp/lvsd-so.XXXXXX)
OUT=${LVSD_VM_OUT:-$W}
P=so50
NS=(cl rt sw d1 d2 d3 r1 r2 r3)
VIP1=10.90.0.100 VIP2=10.90.0.101
TABLE=100 PROTO=100 DRAIN=3
CONNS=${SO_CONNS:-200} INTERVAL=${SO_INTERVAL:-0.1} NEW_EVERY=${SO_NEW_EVERY:-0.01}
SETTLE=${SO_SETTLE:-8}   # seconds of traffic after each event (emulated guest)
export PATH="$PATH:/usr/sbin:/sbin"

say() { echo "50-scale-out: $*"; }
nsx() { local n=$1; shift; ip netns exec "$P$n" "$@"; }
now() { date +%s.%N; }
phase() { echo "$(now) $1 ${2:--}" >> "$W/phases"; say "phase $1"; }

cleanup() {
  local n
  touch "$W/stop" 2>/dev/null
  for n in "${NS[@]}"; do
    ip netns pids "$P$n" 2>/dev/null | xargs -r kill -9 2>/dev/null
  done
  for n in "${NS[@]}"; do ip netns del "$P$n" 2>/dev/null; done
  cp "$W"/*.log "$W"/events "$W"/routes "$W"/phases "$OUT/" 2>/dev/null
}
trap cleanup EXIT
show_logs() {
  local f
  for f in "$W"/*.log; do echo "--- $f"; tail -n 15 "$f"; done
}
die() { say "FAIL: $*"; show_logs; exit 1; }

command -v bird >/dev/null || die "bird (Debian bird2) is not installed"

# ------------------------------------------------------------ topology
for n in "${NS[@]}"; do ip netns add "$P$n"; nsx "$n" ip link set lo up; done
nsx sw ip link add lan type bridge
nsx sw ip link set lan up
port() { # port NS ADDR/LEN: a veth "lan" in NS on the bridge
  ip link add lan netns "$P$1" type veth peer name "p-$1" netns "${P}sw"
  nsx sw ip link set "p-$1" master lan
  nsx sw ip link set "p-$1" up
  nsx "$1" ip addr add "$2" dev lan
  nsx "$1" ip link set lan up
}
port rt 10.91.0.1/24
for i in 1 2 3; do port "d$i" "10.91.0.1$i/24"; port "r$i" "10.91.0.2$i/24"; done
ip link add cl netns "${P}cl" type veth peer name cl netns "${P}rt"
nsx cl ip addr add 10.92.0.2/24 dev cl; nsx cl ip link set cl up
nsx rt ip addr add 10.92.0.1/24 dev cl; nsx rt ip link set cl up
nsx cl ip route add default via 10.92.0.1
nsx rt sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1
for n in rt d1 d2 d3 r1 r2 r3; do
  for k in all default lan; do nsx "$n" sysctl -qw "net.ipv4.conf.$k.rp_filter=0"; done
done
for n in d1 d2 d3 r1 r2 r3; do
  # The VIPs are local (IPVS and the servers accept them) but never
  # answered for in ARP: the router sends to the director's own address.
  nsx "$n" ip addr add $VIP1/32 dev lo
  nsx "$n" ip addr add $VIP2/32 dev lo
  nsx "$n" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
done
for i in 1 2 3; do
  nsx "r$i" ip route add default via 10.91.0.1
  nsx "r$i" $TOOL server "r$i" 7001,7002 --health 7102,7103 --drop-on-usr1 7103 \
    > "$W/r$i.log" 2>&1 &
  # mh + sloppy_tcp: a flow that ECMP moves to another director finds the
  # same real there without that director having seen its SYN.
  nsx "d$i" sysctl -qw net.ipv4.vs.sloppy_tcp=1 net.ipv4.vs.sloppy_sctp=1
done

# ------------------------------------------------------------ BIRD
# The example configs of the repo, run as they are (addresses rewritten).
# BFD at 50 ms x 3 flaps in an emulated guest on a loaded host (a flap costs
# every session, and all traffic, for seconds): BFD_MS x 5 here.
BFD_MS=${SO_BFD_MS:-200}
bfd() { sed -e "s/interval 50 ms/interval $BFD_MS ms/g; s/multiplier 3/multiplier 5/" "$@"; }
bfd "$LVSD_REPO/examples/scale-out/bird-router.conf" > "$W/rt.conf"
for i in 1 2 3; do
  bfd -e "s/10\.91\.0\.11/10.91.0.1$i/g" "$LVSD_REPO/examples/scale-out/bird-director.conf" \
    > "$W/d$i.conf"
done
for n in rt d1 d2 d3; do echo "log \"$W/$n.bird.log\" { info, warning, error, auth, remote, fatal, bug };" >> "$W/$n.conf"; done
bird_start() { nsx "$1" bird -c "$W/$1.conf" -s "$W/$1.ctl" -P "$W/$1.bird.pid" || die "bird in $1 did not start"; }
for n in rt d1 d2 d3; do bird_start "$n"; done

# ------------------------------------------------------------ lvsd
cfg() { # cfg CHECKPORT_OF_VIP2
  cat <<CF
checktimeout=2
checkinterval=1
failurecount=1
quiescent=yes

virtual=$VIP1:7001
	real=10.91.0.21:7001 gate 1
	real=10.91.0.22:7001 gate 1
	real=10.91.0.23:7001 gate 1
	scheduler=mh
	schedflags=mh-fallback,mh-port
	checktype=connect

virtual=$VIP2:7002
	real=10.91.0.21:7002 gate 1
	real=10.91.0.22:7002 gate 1
	real=10.91.0.23:7002 gate 1
	scheduler=mh
	schedflags=mh-fallback,mh-port
	checktype=connect
	checkport=$1
CF
}
for i in 1 2 3; do
  port=7102; [[ $i == 3 ]] && port=7103
  cfg $port > "$W/d$i.cf"
  if [[ $ANNOUNCE == lvsd ]]; then
    cat > "$W/d$i.toml" <<TOML
[anycast]
table = $TABLE
protocol = $PROTO
drain = $DRAIN
bird_socket = "$W/d$i.ctl"
sloppy = true

[[anycast.vip]]
address = "$VIP1"
quorum = 1

[[anycast.vip]]
address = "$VIP2"
quorum = 1
TOML
  fi
done
lvsd_() { local n=$1 toml=(); shift
  [[ -f $W/$n.toml ]] && toml=(--toml "$W/$n.toml")
  timeout 60 ip netns exec "$P$n" "$BIN/lvsd" --socket "$W/$n.sock" --pid-file "$W/$n.pid" \
    --log-file "$W/$n.log" "${toml[@]}" --metrics off "$W/$n.cf" "$@"; }
# hand mode: this script is the announcer.
announce() { [[ $ANNOUNCE == hand ]] && nsx "$1" ip route replace "$2/32" dev lo table $TABLE proto $PROTO; true; }
withdraw() { [[ $ANNOUNCE == hand ]] && nsx "$1" ip route del "$2/32" table $TABLE proto $PROTO; true; }

route_paths() { nsx rt ip route show "$1/32" | grep -c 'via 10.91.0.1[1-3]'; }
wait_paths() { # VIP N SECONDS
  local k
  for ((k = 0; k < $3 * 10; k++)); do
    [[ $(route_paths "$1") == "$2" ]] && return 0
    sleep 0.1
  done
  return 1
}
reals_up() { # NS VIP:PORT -> number of reals with weight > 0
  nsx "$1" ipvsadm -Ln -t "$2" 2>/dev/null | awk '$1 == "->" && $2 ~ /:/ && $4 + 0 > 0 { n++ } END { print n + 0 }'
}

for i in 1 2 3; do lvsd_ "d$i" start || die "lvsd start in d$i"; done
for i in 1 2 3; do
  for v in $VIP1:7001 $VIP2:7002; do
    for ((k = 0; k < 100; k++)); do [[ $(reals_up "d$i" $v) == 3 ]] && break; sleep 0.2; done
    [[ $(reals_up "d$i" $v) == 3 ]] || die "d$i: $v has not 3 healthy reals"
  done
  announce "d$i" $VIP1; announce "d$i" $VIP2
done
wait_paths $VIP1 3 60 && wait_paths $VIP2 3 60 || {
  nsx rt ip route; birdc -s "$W/rt.ctl" show protocols all; die "router has no 3-path routes"; }
say "router: $(nsx rt ip route show $VIP1/32 | tr '\n' ' ')"
say "d1 table (mh, canonical order):"; nsx d1 ipvsadm -Ln
for i in 2 3; do
  [[ $(nsx d1 ipvsadm -Ln) == $(nsx "d$i" ipvsadm -Ln) ]] || die "d$i's IPVS table differs from d1's"
done

# ------------------------------------------------------------ traffic
nsx rt $TOOL watch $VIP1 $VIP2 --out "$W/routes" &
sleep 1
phase start
nsx cl $TOOL client --vips $VIP1:7001,$VIP2:7002 --events "$W/events" --stop "$W/stop" \
  --conns "$CONNS" --interval "$INTERVAL" --new-every "$NEW_EVERY" --max-seconds 900 \
  > "$W/client.log" 2>&1 &
CLIENT=$!
sleep "$SETTLE"
phase warm-up
sleep 2

# 1. planned stop of d1: withdraw first, keep serving, then exit.
phase planned-stop-d1 $VIP1
withdraw d1 $VIP1; withdraw d1 $VIP2
[[ $ANNOUNCE == hand ]] && sleep $DRAIN
lvsd_ d1 stop || die "lvsd stop in d1"
wait_paths $VIP1 2 30 || die "router kept d1's path after its stop"
sleep "$SETTLE"

# 2. d1 comes back: flows ECMP moves back to it keep their real (mh+sloppy).
phase d1-back $VIP1
lvsd_ d1 start || die "lvsd start in d1 (again)"
if [[ $ANNOUNCE == hand ]]; then
  for v in $VIP1:7001 $VIP2:7002; do
    for ((k = 0; k < 100; k++)); do [[ $(reals_up d1 $v) == 3 ]] && break; sleep 0.2; done
  done
  announce d1 $VIP1; announce d1 $VIP2
fi
wait_paths $VIP1 3 30 || die "router did not take d1 back"
sleep "$SETTLE"

# 3. crash: d2's link down and its lvsd + bird killed; BFD tells the router.
phase crash-d2 $VIP1
nsx d2 ip link set lan down
kill -9 "$(cat "$W/d2.pid")" "$(cat "$W/d2.bird.pid")" 2>/dev/null
wait_paths $VIP1 2 30 || die "router kept d2's path after its crash"
sleep "$SETTLE"

# 4. quorum loss: d3's health checks of VIP2 fail (its check port closes);
# d3 withdraws VIP2 only, VIP1 stays on d1 and d3.
phase quorum-loss-d3-vip2 $VIP2
for i in 1 2 3; do ip netns pids "${P}r$i" | xargs -r kill -USR1; done
for ((k = 0; k < 150; k++)); do [[ $(reals_up d3 $VIP2:7002) == 0 ]] && break; sleep 0.2; done
[[ $(reals_up d3 $VIP2:7002) == 0 ]] || die "d3 still sees healthy reals for VIP2"
withdraw d3 $VIP2
wait_paths $VIP2 1 30 || die "router kept d3's VIP2 path"
[[ $(route_paths $VIP1) == 2 ]] || die "VIP1 lost a path it should keep"
sleep "$SETTLE"
phase end

touch "$W/stop"
wait "$CLIENT"
sleep 0.5
say "scenario results (route change: seconds from the event to the router's first route change):"
$TOOL report --phases "$W/phases" --events "$W/events" --routes "$W/routes" | tee "$OUT/50-scale-out.report"
rc=${PIPESTATUS[0]}
say "announcer: $ANNOUNCE; $CONNS long-lived connections, message every ${INTERVAL}s, new connection every ${NEW_EVERY}s"
if ((rc)); then die "established connections were broken"; fi
say "no established connection broken"
exit 0
