#!/usr/bin/env bash
# HA functional test in network namespaces (no IPVS needed): two real lvsd
# daemons (`lvsd run` on an ldirectord.cf plus lvsd.toml [ha], in-memory
# IPVS table) and a client on a bridge. Covers failover by host death
# (kill -9 + links down) repeated N times with the time distribution, kill
# -9 alone, a cut first link with the second up, ping nodes, forged and
# replayed packets, heartbeats captured from the active node and replayed
# after the other node restarts with the first dead, partition and heal,
# auto_failback on and off, the standby/takeover verbs (`lvsd standby`,
# `lvsd takeover` over the control socket) and a refused world-readable key.
#
# Usage: tests/ha/netns.sh [ITERATIONS]   (root; default 20 iterations)
# Env: LVSD_BIN (prebuilt lvsd), RESULTS (file for failover times).
set -euo pipefail
cd "$(dirname "$0")/../.."
ITER=${1:-20}
. tests/ha/lib.sh
trap cleanup EXIT
install_deps
if [[ -z ${LVSD_BIN:-} ]]; then
    cargo build -q --bin lvsd
    LVSD_BIN=target/debug/lvsd
fi
LVSD_BIN=$(realpath "$LVSD_BIN")
RESULTS=${RESULTS:-$WORK/failover-ms.txt}
: >"$RESULTS"
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }

ha_key
# conf NODE PRIO AUTO_FAILBACK [EXTRA_LAN_PEER] [PING_NODE]
conf() {
    local node=$1
    HA_KEEPALIVE_MS=50 HA_WARNTIME_MS=100 HA_DEADTIME_MS=200 HA_INITDEAD_MS=400 \
        HA_AUTO_FAILBACK=$3 HA_FAILBACK_DELAY_MS=300 HA_EXTRA_PEER=${4:-} \
        HA_VIPS="$VIP/24@lan@lan:vip" HA_ANNOUNCE="3 50" ha_conf "$node" "$2"
    if [[ -n ${5:-} ]]; then
        printf '[ha.ping]\nnodes = ["%s"]\ninterval_ms = 50\ndeadping_ms = 200\n' "$5" >>"$WORK/$node.toml"
    fi
    cat >>"$WORK/$node.toml" <<EOT
[[ha.hook]]
when = "any"
command = ["/bin/sh", "-c", "echo \"\$1 \$2\" >> $WORK/$node.hooklog", "x"]
timeout_ms = 2000
EOT
}
start() { ha_start "$@"; }
stop() { ha_stop "$@"; }
links() { # links NODE up|down
    nsx "${P}$1" ip link set lan "$2"
    nsx "${P}$1" ip link set xo "$2"
}
active_node() { if is_role a active; then echo a; else echo b; fi; }
other() { if [[ $1 == a ]]; then echo b; else echo a; fi; }
client_ok() { nsx "$NS_C" ping -c1 -W1 "$VIP"; }
client_mac_is() { nsx "$NS_C" ip neigh show "$VIP" | grep -q "$1"; }
mac_of() { if [[ $1 == a ]]; then echo 02:77:00:00:00:01; else echo 02:77:00:00:00:02; fi; }

setup_topology
conf a 200 false
conf b 100 false
start a
start b
wait_until 5 one_active || fail "pair did not settle"
is_role a active && has_vip a && ! has_vip b && pass "higher priority node-a is active and owns the VIP" ||
    fail "initial election: a=$(field a role) b=$(field b role)"
wait_until 3 client_ok && pass "client reaches the VIP" || fail "client cannot ping the VIP"
grep -q "active init" "$WORK/a.hooklog" && pass "hook ran without a shell parsing its args" || fail "hook log: $(cat "$WORK/a.hooklog" 2>/dev/null)"

# --- Failover by host death, repeated: kill -9 + links down ---------------
PINGLOG=$WORK/ping.log
for ((i = 1; i <= ITER; i++)); do
    act=$(active_node) stb=$(other "$act")
    nsx "$NS_C" ping -D -n -i 0.01 -W 1 "$VIP" >"$PINGLOG" 2>&1 &
    pp=$!
    sleep 0.3
    # Host death: network and process go at once.
    t0=$(date +%s.%N)
    links "$act" down
    kill -9 "${PID[$act]}"
    wait "${PID[$act]}" 2>/dev/null || true
    unset "PID[$act]"
    if ! wait_until 5 is_role "$stb" active; then fail "iteration $i: $stb did not take over"; kill "$pp"; break; fi
    wait_until 3 sh -c "awk -v t=$t0 -f $HA_LIB_DIR/failover_ms.awk $PINGLOG | grep -q ." || true
    kill "$pp" 2>/dev/null; wait "$pp" 2>/dev/null || true
    ms=$(failover_ms "$PINGLOG" "$t0")
    if [[ -z $ms ]]; then fail "iteration $i: client pings did not resume"; else echo "$ms" >>"$RESULTS"; fi
    # Bring the dead node back; with auto_failback off it stays standby.
    links "$act" up
    start "$act"
    wait_until 5 one_active || fail "iteration $i: pair did not re-settle"
    is_role "$stb" active || fail "iteration $i: returning $act took the VIP back with auto_failback off"
    has_vip "$act" && fail "iteration $i: returning $act kept a stale VIP"
done
n=$(wc -l <"$RESULTS")
if ((n == ITER)); then
    sort -n "$RESULTS" | awk '{v[NR]=$1} END {printf "failover ms over %d runs: min %d median %d p90 %d max %d\n", NR, v[1], v[int((NR+1)/2)], v[int(NR*0.9+0.5)], v[NR]}'
    pass "$ITER host-death failovers, client pings resumed each time"
else
    fail "only $n of $ITER failovers measured"
fi

# --- kill -9 alone: the standby takes over and the client follows its GARP -
act=$(active_node) stb=$(other "$act")
stop "$act" KILL
wait_until 2 is_role "$stb" active && wait_until 2 client_mac_is "$(mac_of "$stb")" &&
    pass "kill -9: $stb active, client ARP points at it" || fail "kill -9 alone"
start "$act"
wait_until 5 one_active || fail "re-settle after kill -9"

# --- First link cut, second up: no failover -------------------------------
act=$(active_node) stb=$(other "$act")
before=$(field "$stb" transitions)
nsx "$NS_SW" ip link set "$stb-lan" down
sleep 1
if is_role "$act" active && is_role "$stb" standby && [[ $(field "$stb" transitions) == "$before" ]]; then
    pass "lan cut with crossover up: no failover (links=$(field "$stb" links))"
else
    fail "false failover with one link up: $act=$(field "$act" role) $stb=$(field "$stb" role)"
fi
[[ $(field "$stb" links) == "lan:0,xo:1" ]] && pass "per-link liveness reported" || fail "links=$(field "$stb" links)"
nsx "$NS_SW" ip link set "$stb-lan" up
links_up() { [[ $(field "$1" links) == "lan:1,xo:1" ]]; }
wait_until 3 links_up "$stb" || fail "lan link not back"

# --- Forged and replayed packets: dropped and counted ---------------------
stop a; stop b
conf a 200 false 10.77.0.10:694
start a; start b
wait_until 5 one_active || fail "pair with attacker peer did not settle"
# Replays are only recognisable once b has the originals: wait for lan.
wait_until 3 links_up b || fail "b does not hear a on lan"
rb=$(field b role)
r0=$(field b replayed) b0=$(field b bad_auth)
out=$(nsx "$NS_C" python3 tests/ha/replay.py attack 10.77.0.10:694 10.77.0.2:694 5)
counted() { (($(field b replayed) - r0 >= 5 && $(field b bad_auth) - b0 >= 10)); }
wait_until 3 counted || true
replayed=$(($(field b replayed) - r0)) bad=$(($(field b bad_auth) - b0))
if ((replayed >= 5 && bad >= 10)) && [[ $(field b role) == "$rb" && $(field b peer) == node-a ]]; then
    pass "attack ($out): node-b dropped replayed=$replayed bad_auth=$bad, role unchanged"
else
    fail "attack not contained: replayed=$replayed bad_auth=$bad role=$(field b role) peer=$(field b peer)"
fi

# --- Replay after restart: captured heartbeats of the active node, replayed
# to the other node after it restarts with the active dead (issue 13 defect
# 7). They echo b's previous boot, so b must not count a as alive: it takes
# the VIP at initdead (400 ms) while the replays go on for 4 s.
wait_until 3 is_role a active || fail "replay: a is not active"
cap=$(nsx "$NS_C" python3 tests/ha/replay.py capture 10.77.0.10:694 "$WORK/cap.bin" 80) ||
    fail "replay: nothing captured"
links a down
stop a KILL
wait_until 3 is_role b active || fail "replay: b did not take over from dead a"
stop b
nsx "$NS_C" python3 tests/ha/replay.py replay "$WORK/cap.bin" 10.77.0.2:694 50 >"$WORK/replay.out" 2>&1 &
rp=$!
sleep 0.3
t0=$(now_ms)
logl=$(wc -l <"$WORK/b.log")
start b
if wait_until 3 is_role b active; then
    took=$(($(now_ms) - t0))
    still=no
    if kill -0 "$rp" 2>/dev/null; then still=yes; fi
    # Polled through a 500 ms status refresh on a shared machine: the bound
    # is loose, the log says which rule fired (before the fix b stayed
    # standby until the 4 s of replays ended, then "peer dead").
    why=$(tail -n +"$((logl + 1))" "$WORK/b.log" | grep -m1 "becoming active" || true)
    if ((took <= 3000)) && [[ $still == yes && $why == *"no peer heard within initdead"* ]] &&
        [[ $(field b peer_alive) == 0 ]] && has_vip b; then
        pass "replay after restart ($cap): b active with the VIP after ${took} ms, replays ignored"
    else
        fail "replay after restart: took=${took} ms replays_running=$still peer_alive=$(field b peer_alive) log: $why"
    fi
else
    fail "replay after restart: b stayed $(field b role) (peer_alive=$(field b peer_alive))"
fi
grep -q "do not echo this boot" "$WORK/b.log" && pass "unproven heartbeats logged" || fail "no unproven-heartbeat log line"
wait "$rp" 2>/dev/null || true
links a up
start a
wait_until 5 one_active || fail "replay: pair did not re-settle"

# --- Standby / takeover verbs ---------------------------------------------
act=$(active_node) stb=$(other "$act")
ha_verb "$act" standby >/dev/null || fail "lvsd standby failed"
wait_until 3 is_role "$stb" active && wait_until 3 is_role "$act" standby && [[ $(field "$act" hold) == 1 ]] &&
    wait_until 3 client_ok && pass "standby verb: $act handed over to $stb" || fail "standby verb"
ha_verb "$act" takeover >/dev/null || fail "lvsd takeover failed"
wait_until 3 is_role "$act" active && wait_until 3 is_role "$stb" standby && [[ $(field "$stb" hold) == 1 ]] &&
    wait_until 3 client_ok && pass "takeover verb: $act took back, $stb holds" || fail "takeover verb"

# --- Partition then heal: exactly one active, log says why ----------------
nsx "$NS_A" ip link set xo down
nsx "$NS_SW" ip link set a-lan down
both_active() { is_role a active && is_role b active; }
wait_until 3 both_active &&
    pass "partition: both active (split brain)" || fail "partition: a=$(field a role) b=$(field b role)"
nsx "$NS_A" ip link set xo up
nsx "$NS_SW" ip link set a-lan up
wait_until 3 one_active && pass "heal: exactly one active ($(active_node))" || fail "heal: a=$(field a role) b=$(field b role)"
grep -h "split brain" "$WORK/a.log" "$WORK/b.log" | tail -n 2 | sed 's/^/  log: /'
grep -q "split brain" "$WORK/a.log" "$WORK/b.log" && pass "split brain logged" || fail "no split brain log line"
wait_until 3 client_ok || fail "client after heal"

# --- Ping nodes: lan cut on the active, crossover up -> hand over ---------
stop a; stop b
conf a 200 false "" 10.77.0.10
conf b 100 false "" 10.77.0.10
start a; start b
reach1() { [[ $(field a ping_reach) == 1 ]]; }
wait_until 5 one_active && wait_until 3 reach1 || fail "ping pair settle"
nsx "$NS_SW" ip link set a-lan down
wait_until 3 is_role b active && pass "ping nodes: a lost the client, b took over (a reach=$(field a ping_reach))" ||
    fail "ping nodes: a=$(field a role) b=$(field b role)"
nsx "$NS_SW" ip link set a-lan up
wait_until 3 reach1 || fail "a ping reach back"

# --- auto_failback on: the higher priority node takes the VIP back ---------
stop a; stop b
conf a 200 true
conf b 100 true
start a; start b
wait_until 5 one_active && is_role a active || fail "auto_failback pair"
stop a KILL
wait_until 2 is_role b active || fail "auto_failback: b did not take over"
start a
wait_until 5 is_role a active && wait_until 3 is_role b standby && wait_until 3 client_ok &&
    pass "auto_failback on: node-a took the VIP back" || fail "auto_failback on: a=$(field a role) b=$(field b role)"

# --- Key file permissions --------------------------------------------------
chmod 644 "$KEY"
if nsx "$NS_A" env LVSD_TEST_FAKE_KERNEL=1 timeout 5 "$LVSD_BIN" --socket "$WORK/perm.sock" \
    --pid-file "$WORK/perm.pid" --metrics off --toml "$WORK/a.toml" run "$WORK/a.cf" 2>"$WORK/perm.err"; then
    fail "started with a world-readable key"
else
    grep -q "readable by group or others" "$WORK/perm.err" && pass "refuses a world-readable key" || fail "key error: $(cat "$WORK/perm.err")"
fi
chmod 600 "$KEY"

echo "ha netns: $FAILS failed"
exit $((FAILS > 0))
