#!/bin/bash
# Host integration test of lvsd's VIP announcer with real BIRD 2, between
# two network namespaces: "dir" runs the real lvsd binary (in-memory IPVS,
# LVSD_TEST_FAKE_KERNEL=1; real routes in the namespace) and BIRD learning
# kernel table 100; "rtr" runs BIRD peering with it over a veth and puts
# what it learns into its main table.
#
# usage: run.sh PATH/TO/lvsd    exit 0 pass, 77 skipped, anything else fail.
# Needs root, iproute2 with netns, bird2 (scripts/setup-checks.sh) and
# python3 (the real servers). Nothing is sent outside the namespaces.
set -u
LVSD=${1:?usage: run.sh PATH/TO/lvsd}
HERE=$(cd "$(dirname "$0")" && pwd)

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "not root"
command -v bird >/dev/null || skip "bird2 not installed (scripts/setup-checks.sh)"
command -v python3 >/dev/null || skip "no python3"
ip netns add "lvac$$probe" 2>/dev/null || skip "no network namespaces"
ip netns del "lvac$$probe"

D="lvac$$d"; R="lvac$$r"
T=$(mktemp -d /tmp/lvsd-anycast.XXXXXX)
VIP=10.90.0.100
PORT=21551
PIDS=()
LVSD_PID=

cleanup() {
	[ -n "$LVSD_PID" ] && { kill -9 "$LVSD_PID"; wait "$LVSD_PID"; } 2>/dev/null
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for f in "$T"/bird-*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
	sleep 0.2
	ip netns del "$D" 2>/dev/null
	ip netns del "$R" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	echo "--- lvsd log"; tail -n 40 "$T/lvsd.log" 2>/dev/null
	echo "--- dir table 100"; ip -n "$D" route show table 100
	echo "--- rtr"; ip -n "$R" route show
	exit 1
}
now_ms() { date +%s%3N; }

# wait_for SECONDS DESCRIPTION CMD...: poll every 50 ms.
wait_for() {
	local limit=$1 what=$2; shift 2
	local end=$(( $(now_ms) + limit * 1000 ))
	while [ "$(now_ms)" -lt "$end" ]; do
		"$@" && return 0
		sleep 0.05
	done
	fail "$what (not within ${limit}s)"
}
rtr_has_vip() { ip -n "$R" route show "$VIP" | grep -q "via 10.99.0.1"; }
rtr_lacks_vip() { ! rtr_has_vip; }
dir_has_route() { ip -n "$D" route show table 100 | grep -q "^$VIP dev lo proto 100"; }

ip netns add "$D" && ip netns add "$R" || fail "netns add"
ip -n "$D" link set lo up; ip -n "$R" link set lo up
ip link add "lvac$$a" netns "$D" type veth peer name "lvac$$b" netns "$R" || fail "veth"
ip -n "$D" addr add 10.99.0.1/30 dev "lvac$$a"; ip -n "$D" link set "lvac$$a" up
ip -n "$R" addr add 10.99.0.2/30 dev "lvac$$b"; ip -n "$R" link set "lvac$$b" up
# The real servers live on the director's loopback; DR would put the VIP there too.
ip -n "$D" addr add 10.99.1.1/32 dev lo
ip -n "$D" addr add 10.99.1.2/32 dev lo
ip -n "$D" addr add $VIP/32 dev lo

fill() { sed -e "s/@ROUTER_ID@/$1/" -e "s/@LOCAL@/$1/" -e "s/@PEER@/$2/" "$3"; }
fill 10.99.0.1 10.99.0.2 "$HERE/director-bird.conf" >"$T/dir.conf"
fill 10.99.0.2 10.99.0.1 "$HERE/router-bird.conf" >"$T/rtr.conf"
ip netns exec "$D" bird -c "$T/dir.conf" -s "$T/dir.ctl" -P "$T/bird-dir.pid" || fail "bird dir"
ip netns exec "$R" bird -c "$T/rtr.conf" -s "$T/rtr.ctl" -P "$T/bird-rtr.pid" || fail "bird rtr"

REALS=()
start_real() { # ADDR
	ip netns exec "$D" python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(64)
while True:
    c, _ = s.accept(); c.close()
' "$1" $PORT &
	PIDS+=($!); REALS+=($!)
}
stop_reals() { for p in "${REALS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; REALS=(); }

cat >"$T/l.cf" <<CF
checkinterval=1
checktimeout=1
virtual=$VIP:$PORT
	real=10.99.1.1:$PORT gate
	real=10.99.1.2:$PORT gate
	scheduler=mh
	schedflags=mh-fallback
	checktype=connect
	protocol=tcp
CF
cat >"$T/lvsd.toml" <<TOML
[anycast]
table = 100
protocol = 100
drain = 3
bird_socket = "$T/dir.ctl"

[[anycast.vip]]
address = "$VIP"
quorum = 1
TOML
lvsd() { ip netns exec "$D" env LVSD_TEST_FAKE_KERNEL=1 "$LVSD" --socket "$T/s.sock" --pid-file "$T/l.pid" --metrics off --toml "$T/lvsd.toml" "$@"; }
# Not through the function: $! must be lvsd's own pid (ip netns exec and
# env exec it), so that kill -9 hits lvsd.
start_lvsd() {
	ip netns exec "$D" env LVSD_TEST_FAKE_KERNEL=1 "$LVSD" --socket "$T/s.sock" --pid-file "$T/l.pid" \
		--metrics off --toml "$T/lvsd.toml" run "$T/l.cf" 2>>"$T/lvsd.log" &
	LVSD_PID=$!
}
status() { lvsd "$T/l.cf" status 2>&1; }

echo "1. reals up: the router learns the VIP"
start_real 10.99.1.1; start_real 10.99.1.2
start_lvsd
wait_for 30 "router learns $VIP" rtr_has_vip
wait_for 10 "status shows the BGP session up" bash -c "$(declare -f lvsd status); T=$T D=$D LVSD=$LVSD; status | grep -q 'bgp router1 up'"
status | grep -q "vip $VIP announced" || fail "status: $(status)"

echo "2. all reals die: quorum lost, withdrawn"
t0=$(now_ms); stop_reals
wait_for 10 "router drops $VIP after the reals died" rtr_lacks_vip
echo "   withdrawn $(( $(now_ms) - t0 )) ms after the reals died"
dir_has_route && fail "route still in table 100"
status | grep -q "vip $VIP withdrawn: quorum lost: TCP $VIP:$PORT has 0/2 healthy < 1" || fail "status: $(status)"

echo "3. a real returns: announced again"
start_real 10.99.1.2
wait_for 15 "router relearns $VIP" rtr_has_vip

echo "4. lvsd stop: withdrawn before the process exits (drain 3 s)"
t0=$(now_ms)
lvsd "$T/l.cf" stop >/dev/null 2>&1 &
STOPPER=$!
wait_for 5 "router drops $VIP on stop" rtr_lacks_vip
t_wd=$(( $(now_ms) - t0 ))
kill -0 "$LVSD_PID" 2>/dev/null || fail "lvsd exited before/at withdrawal: it must drain"
wait "$LVSD_PID"; rc=$?
t_exit=$(( $(now_ms) - t0 )); LVSD_PID=
wait "$STOPPER" || fail "lvsd stop failed"
[ "$rc" = 0 ] || fail "lvsd exit status $rc"
echo "   withdrawn after ${t_wd} ms, exited after ${t_exit} ms"
[ "$t_exit" -ge 2900 ] || fail "exited after ${t_exit} ms, before the 3 s drain"
dir_has_route && fail "route left behind after stop"

echo "5. crash with the route left, reals down: a restart removes the stale route"
start_lvsd
wait_for 30 "router relearns $VIP after restart" rtr_has_vip
kill -9 "$LVSD_PID"; wait "$LVSD_PID" 2>/dev/null; LVSD_PID=
grep -q "^lvsd" "/proc/$(cat "$T/l.pid" 2>/dev/null)/comm" 2>/dev/null && fail "lvsd survived kill -9"
dir_has_route || fail "kill -9 should leave the route behind (test premise)"
stop_reals
: >"$T/lvsd.log"
start_lvsd
wait_for 5 "stale route removed at start" bash -c "! ip -n $D route show table 100 | grep -q '^$VIP '"
grep -q "removed stale routes" "$T/lvsd.log" || fail "no stale-route message"
wait_for 10 "router drops the stale VIP" rtr_lacks_vip
sleep 3
rtr_has_vip && fail "re-announced with every real down"
dir_has_route && fail "re-announced with every real down"
echo "PASS"
