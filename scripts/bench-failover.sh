#!/usr/bin/env bash
# Failover benchmark: lvsd HA vs keepalived VRRPv3 in the same netns
# topology (tests/ha/lib.sh), measured the same way: the active node dies
# (its links go down, then kill -9), and we time from that instant to the
# client's first echo reply from the new owner of the VIP (ping -D every
# 10 ms). Before each restart the dead node's VIP is removed, as a reboot
# would.
#
# Usage: scripts/bench-failover.sh [ITERATIONS]   (root; default 20)
# Env: KEEPALIVE_MS (lvsd, default 100), DEADTIME_MS (default 300),
#      ADVERT_MS (keepalived advert_int, default 100), LVSD_BIN (prebuilt
#      lvsd; default: release build). lvsd runs as the real daemon, `lvsd
#      run` with the in-memory IPVS table (tests/ha/lib.sh).
# Installs (if missing): keepalived, iputils-ping, iproute2.
set -euo pipefail
cd "$(dirname "$0")/.."
ITER=${1:-20}
KEEPALIVE_MS=${KEEPALIVE_MS:-100}
DEADTIME_MS=${DEADTIME_MS:-300}
ADVERT_MS=${ADVERT_MS:-100}
. tests/ha/lib.sh
trap cleanup EXIT
install_deps
command -v keepalived >/dev/null ||
    apt-get -o DPkg::Lock::Timeout=300 install -y keepalived >/dev/null
if [[ -z ${LVSD_BIN:-} ]]; then
    cargo build -q --release --bin lvsd
    LVSD_BIN=target/release/lvsd
fi
LVSD_BIN=$(realpath "$LVSD_BIN")
ha_key
conf_lvsd() { # NODE PRIO
    HA_KEEPALIVE_MS=$KEEPALIVE_MS HA_DEADTIME_MS=$DEADTIME_MS HA_LINKS=lan HA_ANNOUNCE="5 200" \
        ha_conf "$1" "$2"
}

conf_keepalived() { # NODE PRIO
    local me=1 peer=2
    [[ $1 == b ]] && me=2 peer=1
    cat >"$WORK/$1.keepalived.conf" <<EOT
global_defs {
    router_id node-$1
    vrrp_version 3
    vrrp_garp_master_repeat 5
    vrrp_garp_master_delay 0
}
vrrp_instance VI_1 {
    state BACKUP
    nopreempt
    interface lan
    virtual_router_id 77
    priority $2
    advert_int $(awk -v m="$ADVERT_MS" 'BEGIN { printf "%.2f", m / 1000 }')
    unicast_src_ip 10.77.0.$me
    unicast_peer {
        10.77.0.$peer
    }
    virtual_ipaddress {
        $VIP/24 dev lan
    }
}
EOT
}

start_impl() { # IMPL NODE
    local ns="${P}$2"
    if [[ $1 == lvsd ]]; then
        ip netns exec "$ns" env LVSD_TEST_FAKE_KERNEL=1 "$LVSD_BIN" --socket "$WORK/$2.sock" \
            --pid-file "$WORK/$2.pid" --metrics off --toml "$WORK/$2.toml" run "$WORK/$2.cf" \
            >>"$WORK/$2.lvsd.log" 2>&1 &
        PID[$2]=$!
    else
        # A reboot clears /run; here a killed keepalived's child can linger
        # as a zombie (if nothing reaps it) and its pid file would make the
        # restart refuse with "daemon is already running".
        rm -f "$WORK/$2.ka.pid" "$WORK/$2.ka-vrrp.pid"
        ip netns exec "$ns" keepalived -n -l -f "$WORK/$2.keepalived.conf" \
            -p "$WORK/$2.ka.pid" -r "$WORK/$2.ka-vrrp.pid" >>"$WORK/$2.ka.log" 2>&1 &
        PID[$2]=$!
    fi
}
owner() { if has_vip a; then echo a; elif has_vip b; then echo b; fi; }
only_one() { [[ $(has_vip a && echo 1)$(has_vip b && echo 1) == 1 ]]; }
kill_node() { # NODE: links down, then kill -9 the whole process group of it
    nsx "${P}$1" ip link set lan down
    ip netns pids "${P}$1" | xargs -r kill -9
    wait "${PID[$1]}" 2>/dev/null || true
    unset "PID[$1]"
}

bench() { # IMPL -> prints one ms value per line
    local impl=$1 out=$WORK/$1.ms i
    : >"$out"
    start_impl "$impl" a
    sleep 0.3
    start_impl "$impl" b
    wait_until 10 only_one || { echo "$impl: no owner" >&2; return 1; }
    sleep 1
    for ((i = 1; i <= ITER; i++)); do
        local act stb pp t0 ms
        act=$(owner)
        stb=$([[ $act == a ]] && echo b || echo a)
        nsx "$NS_C" ping -D -n -i 0.01 -W 1 "$VIP" >"$WORK/ping.log" 2>&1 &
        pp=$!
        sleep 0.5
        t0=$(date +%s.%N)
        kill_node "$act"
        wait_until 5 has_vip "$stb" || echo "$impl #$i: $stb did not take over" >&2
        wait_until 3 sh -c "awk -v t=$t0 -f $HA_LIB_DIR/failover_ms.awk $WORK/ping.log | grep -q ." || true
        kill "$pp" 2>/dev/null; wait "$pp" 2>/dev/null || true
        ms=$(failover_ms "$WORK/ping.log" "$t0")
        [[ -n $ms ]] && echo "$ms" >>"$out" || echo "$impl #$i: pings did not resume" >&2
        # Reboot the dead node: no stale VIP, links up, daemon back.
        nsx "${P}$act" ip addr del "$VIP/24" dev lan 2>/dev/null || true
        nsx "${P}$act" ip link set lan up
        start_impl "$impl" "$act"
        sleep 1.5
        only_one || echo "$impl #$i: not exactly one owner after restart" >&2
    done
    for n in a b; do [[ -n ${PID[$n]:-} ]] && kill_node "$n"; done
    for n in a b; do nsx "${P}$n" ip addr del "$VIP/24" dev lan 2>/dev/null || true; nsx "${P}$n" ip link set lan up; done
    sort -n "$out" | awk -v impl="$impl" '{v[NR]=$1; s+=$1} END {
        printf "%-10s n=%d min=%d median=%d mean=%d p90=%d max=%d ms\n", impl, NR, v[1], v[int((NR+1)/2)], s/NR, v[int(NR*0.9+0.5)], v[NR] }'
}

setup_topology
conf_lvsd a 200; conf_lvsd b 100
conf_keepalived a 200; conf_keepalived b 100
echo "lvsd keepalive=${KEEPALIVE_MS}ms deadtime=${DEADTIME_MS}ms; keepalived VRRPv3 advert_int=${ADVERT_MS}ms unicast; $ITER runs each"
bench lvsd
bench keepalived
