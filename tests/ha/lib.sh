# Shared netns topology, lvsd.toml writer and node control for the HA tests
# and benchmarks (sourced, not run): tests/ha/netns.sh, tests/vm/40-ha-sync.sh,
# tests/vm/51-ha-compare.sh, scripts/soak-ha.sh, scripts/bench-failover.sh.
#
# Each node is the real daemon, `lvsd run` ($LVSD_BIN) on $WORK/NODE.cf (a
# minimal ldirectord.cf; callers may replace it) and $WORK/NODE.toml, with
# its own control socket and pid file, the in-memory IPVS table
# (LVSD_TEST_FAKE_KERNEL=1; HA_REAL_KERNEL=1 for the real one, as the VM
# tests do) and its status page on $HA_METRICS inside the node's
# namespace, which `field` reads (jq).
#
#   ns A --lan--+                 +--lan-- ns B
#               |  ns SW (bridge) |
#   ns C --lan--+                 |
#   ns A --xo------------------------xo--- ns B   (second heartbeat link)
#
# Addresses: lan 10.77.0.0/24 (A .1, B .2, client C .10, VIP .100),
# crossover 10.78.0.0/24 (A .1, B .2). Only these namespaces and addresses
# (and those a caller adds with `ha_ns`/`ha_port`) are used; `cleanup`
# deletes every namespace the run created.

P=${HA_NS_PREFIX:-lvha$$}
NS_A="${P}a" NS_B="${P}b" NS_C="${P}c" NS_SW="${P}sw"
VIP=10.77.0.100
HA_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# A work directory this library made is removed by a passing run's
# cleanup (a failing one keeps it, logs and all); a caller's WORK is theirs.
HA_OWN_WORK=
if [[ -z ${WORK:-} ]]; then WORK=$(mktemp -d /tmp/lvsd-ha.XXXXXX); HA_OWN_WORK=1; fi
KEY=${KEY:-$WORK/ha.key}
HA_NAMESPACES=()
# Each node has its own namespace, so both may use the same port (21300-
# 21399 is this suite's range).
HA_METRICS=${HA_METRICS:-127.0.0.1:21310}
declare -A PID

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# ha_running PID: the process exists and is not a zombie (a killed child
# of this shell stays a zombie until reaped, but holds no files).
ha_running() {
    local st
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $st && ${st:0:1} != Z ]]
}

# cleanup [RC]: RC is the run's exit status (default: the status cleanup
# is called with, right for `trap cleanup EXIT`).
cleanup() {
    local rc=${1:-$?} p ns gone=("${PID[@]}") i
    for p in "${PID[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    for ns in "${HA_NAMESPACES[@]}"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do
            kill -9 "$p" 2>/dev/null || true
            gone+=("$p")
        done
        ip netns del "$ns" 2>/dev/null || true
    done
    # SIGKILL lands asynchronously: a daemon still alive for a moment can
    # write a file into WORK while it is being removed (rm then fails on a
    # directory no longer empty and WORK stays behind). Wait, bounded, for
    # every process to be gone before removing their files.
    for p in "${gone[@]}"; do
        for ((i = 0; i < 100; i++)); do ha_running "$p" || break; sleep 0.02; done
    done
    if [[ $rc -eq 0 && -n $HA_OWN_WORK ]]; then
        rm -rf "$WORK" 2>/dev/null || { sleep 0.2; rm -rf "$WORK"; }
    fi
}

install_deps() {
    local need=()
    command -v ping >/dev/null || need+=(iputils-ping)
    command -v ip >/dev/null || need+=(iproute2)
    command -v jq >/dev/null || need+=(jq)
    command -v curl >/dev/null || need+=(curl)
    if ((${#need[@]})); then
        apt-get -o DPkg::Lock::Timeout=300 install -y "${need[@]}" >/dev/null
    fi
}

# ha_ns NAME...: create namespaces ${P}NAME with lo up (deleted by cleanup).
ha_ns() {
    local n
    for n in "$@"; do
        ip netns del "${P}$n" 2>/dev/null || true
        ip netns add "${P}$n"
        HA_NAMESPACES+=("${P}$n")
        nsx "${P}$n" ip link set lo up
    done
}

# ha_bridge NAME: a bridge in the switch namespace ${P}sw.
ha_bridge() {
    nsx "$NS_SW" ip link add "$1" type bridge
    nsx "$NS_SW" ip link set "$1" up
}

# ha_port NODE IFNAME BRIDGE ADDR/PREFIX [MAC]: veth from ${P}NODE to BRIDGE
# (switch side named NODE-IFNAME).
ha_port() {
    ip link add "$2" netns "${P}$1" type veth peer name "$1-$2" netns "$NS_SW"
    nsx "$NS_SW" ip link set "$1-$2" master "$3" up
    if [[ -n ${5:-} ]]; then nsx "${P}$1" ip link set "$2" address "$5"; fi
    nsx "${P}$1" ip addr add "$4" dev "$2"
    nsx "${P}$1" ip link set "$2" up
}

# ha_crossover: the direct A-B link xo (10.78.0.0/24).
ha_crossover() {
    ip link add xo netns "$NS_A" type veth peer name xo netns "$NS_B"
    nsx "$NS_A" ip addr add 10.78.0.1/24 dev xo
    nsx "$NS_B" ip addr add 10.78.0.2/24 dev xo
    nsx "$NS_A" ip link set xo up
    nsx "$NS_B" ip link set xo up
}

# The standard topology above (MACs 02:77:00:00:00:0{1,2,3} for A, B, C).
setup_topology() {
    ha_ns a b c sw
    ha_bridge br0
    ha_port a lan br0 10.77.0.1/24 02:77:00:00:00:01
    ha_port b lan br0 10.77.0.2/24 02:77:00:00:00:02
    ha_port c lan br0 10.77.0.10/24 02:77:00:00:00:03
    ha_crossover
    # Let the bridge forward at once (no STP delay on a fresh bridge).
    sleep 0.2
}

# ha_key: a fresh random shared key in $KEY, mode 600.
ha_key() {
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$KEY"
    chmod 600 "$KEY"
}

# ha_conf NODE PRIO: write $WORK/NODE.toml for node a or b (node name
# ${HA_NODE_PREFIX}NODE). Tunables (environment, with defaults):
#   HA_KEEPALIVE_MS 50, HA_DEADTIME_MS 200, HA_WARNTIME_MS deadtime/2,
#   HA_INITDEAD_MS deadtime*2, HA_AUTO_FAILBACK false, HA_FAILBACK_DELAY_MS
#   (unset: config default), HA_LINKS "lan xo", HA_EXTRA_PEER (another lan
#   peer, e.g. an attacker), HA_VIPS ("ADDR/PREFIX@IFACE[@LABEL] ...",
#   default $VIP/24@lan), HA_ANNOUNCE ("COUNT INTERVAL_MS", unset: default),
#   HA_NODE_PREFIX "node-". Callers append further sections (ping, hooks,
#   sync daemon) to the file.
ha_conf() {
    local node=$1 prio=$2 me=1 peer=2 l v
    if [[ $node == b ]]; then me=2 peer=1; fi
    local dead=${HA_DEADTIME_MS:-200}
    local f=$WORK/$node.toml
    {
        printf '[node]\nname = "%s%s"\npriority = %s\n' "${HA_NODE_PREFIX:-node-}" "$node" "$prio"
        printf '[ha]\nkey_file = "%s"\n' "$KEY"
        printf 'keepalive_ms = %s\nwarntime_ms = %s\ndeadtime_ms = %s\ninitdead_ms = %s\n' \
            "${HA_KEEPALIVE_MS:-50}" "${HA_WARNTIME_MS:-$((dead / 2))}" "$dead" "${HA_INITDEAD_MS:-$((dead * 2))}"
        printf 'auto_failback = %s\n' "${HA_AUTO_FAILBACK:-false}"
        if [[ -n ${HA_FAILBACK_DELAY_MS:-} ]]; then printf 'failback_delay_ms = %s\n' "$HA_FAILBACK_DELAY_MS"; fi
        for l in ${HA_LINKS:-lan xo}; do
            local net=10.77.0 extra=
            if [[ $l == xo ]]; then net=10.78.0; fi
            if [[ $l == lan && -n ${HA_EXTRA_PEER:-} ]]; then extra=", \"$HA_EXTRA_PEER\""; fi
            printf '[[ha.link]]\nname = "%s"\ninterface = "%s"\nbind = "%s.%s"\npeers = ["%s.%s"%s]\n' \
                "$l" "$l" "$net" "$me" "$net" "$peer" "$extra"
        done
        for v in ${HA_VIPS:-$VIP/24@lan}; do
            local addr iface label
            IFS=@ read -r addr iface label <<<"$v"
            printf '[[ha.vip]]\naddress = "%s"\ninterface = "%s"\n' "$addr" "$iface"
            if [[ -n $label ]]; then printf 'label = "%s"\n' "$label"; fi
        done
        if [[ -n ${HA_ANNOUNCE:-} ]]; then
            local count interval
            read -r count interval <<<"$HA_ANNOUNCE"
            printf '[ha.announce]\ncount = %s\ninterval_ms = %s\n' "$count" "$interval"
        fi
    } >"$f"
    # The director's own config: one virtual on the VIP, one real that is
    # never contacted (checktype=on).
    printf 'virtual=%s:80\n\treal=10.77.0.10:80 gate 1\n\tchecktype=on\n' "$VIP" >"$WORK/$node.cf"
}

# ha_start NODE [ARGS...]: run the node in ${P}NODE with $WORK/NODE.toml,
# log appended to $WORK/NODE.log; PID[NODE] is the daemon itself (ip netns
# exec and env exec it); socket $WORK/NODE.sock, pid file $WORK/NODE.pid,
# ARGS are lvsd options.
ha_start() {
    local n=$1
    shift
    local fake=1
    if [[ ${HA_REAL_KERNEL:-0} == 1 ]]; then fake=0; fi
    ip netns exec "${P}$n" env LVSD_TEST_FAKE_KERNEL=$fake "$LVSD_BIN" \
        --socket "$WORK/$n.sock" --pid-file "$WORK/$n.pid" --metrics "$HA_METRICS" \
        --toml "$WORK/$n.toml" "$@" run "$WORK/$n.cf" >>"$WORK/$n.log" 2>&1 &
    PID[$n]=$!
}

# ha_verb NODE standby|takeover: the operator verb, over the node's
# control socket.
ha_verb() {
    "$LVSD_BIN" --socket "$WORK/$1.sock" --pid-file "$WORK/$1.pid" "$WORK/$1.cf" "$2"
}

# ha_stop NODE [SIGNAL]: signal (default TERM) and reap it.
ha_stop() {
    local n=$1 sig=${2:-TERM}
    [[ -n ${PID[$n]:-} ]] || return 0
    kill "-$sig" "${PID[$n]}" 2>/dev/null || true
    wait "${PID[$n]}" 2>/dev/null || true
    unset "PID[$n]"
}

# field NODE KEY: a value of the node's HA status: role, hold, healthy,
# peer, peer_alive, ping_reach, transitions (booleans as 1/0), links
# ("lan:1,xo:0"), or a packet counter (accepted, bad_auth, replayed, ...).
# lvsd refreshes its page's HA part every 500 ms.
field() {
    nsx "${P}$1" curl -s -m 1 "http://$HA_METRICS/status.json" 2>/dev/null |
        jq -r --arg k "$2" '.ha // empty
            | if $k == "links" then (.links | map(.name + ":" + (if .alive then "1" else "0" end)) | join(","))
              elif has($k) then .[$k]
              else .counters[$k] end
            | if . == true then 1 elif . == false then 0 elif . == null then "" else . end' 2>/dev/null
}
is_role() { [[ $(field "$1" role) == "$2" ]]; }
# one_active: exactly one active, the other standby, each hearing the other.
one_active() {
    local a b
    a=$(field a role) b=$(field b role)
    [[ ($a == active && $b == standby) || ($a == standby && $b == active) ]] &&
        [[ $(field a peer_alive) == 1 && $(field b peer_alive) == 1 ]]
}
has_vip() { nsx "${P}$1" ip -4 addr show dev lan | grep -q "inet $VIP/"; }

# wait_until TIMEOUT_S CMD...: poll CMD every 20 ms; bounded.
wait_until() {
    local t=$1; shift
    local n=$((t * 50)) i
    for ((i = 0; i < n; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.02
    done
    return 1
}

now_ms() { date +%s%3N; }

# failover_ms PINGLOG T0: see failover_ms.awk.
failover_ms() { awk -v t="$2" -f "$HA_LIB_DIR/failover_ms.awk" "$1"; }
