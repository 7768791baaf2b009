# Shared netns topology for the HA tests and benchmarks (sourced, not run).
#
#   ns A --lan--+                 +--lan-- ns B
#               |  ns SW (bridge) |
#   ns C --lan--+                 |
#   ns A --xo------------------------xo--- ns B   (second heartbeat link)
#
# Addresses: lan 10.77.0.0/24 (A .1, B .2, client C .10, VIP .100),
# crossover 10.78.0.0/24 (A .1, B .2). Only these namespaces and addresses
# are used; `cleanup` deletes every namespace the run created.

P="lvha$$"
NS_A="${P}a" NS_B="${P}b" NS_C="${P}c" NS_SW="${P}sw"
VIP=10.77.0.100
HA_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=${WORK:-$(mktemp -d /tmp/lvsd-ha.XXXXXX)}
declare -A PID

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

cleanup() {
    local p
    for p in "${PID[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    for ns in "$NS_A" "$NS_B" "$NS_C" "$NS_SW"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
}

install_deps() {
    local need=()
    command -v ping >/dev/null || need+=(iputils-ping)
    command -v ip >/dev/null || need+=(iproute2)
    if ((${#need[@]})); then
        apt-get -o DPkg::Lock::Timeout=300 install -y "${need[@]}" >/dev/null
    fi
}

setup_topology() {
    for ns in "$NS_A" "$NS_B" "$NS_C" "$NS_SW"; do ip netns add "$ns"; done
    nsx "$NS_SW" ip link add br0 type bridge
    nsx "$NS_SW" ip link set br0 up
    local n i=1
    for n in A B C; do
        local ns="${P}${n,,}" side="${n,,}-lan"
        ip link add lan netns "$ns" type veth peer name "$side" netns "$NS_SW"
        nsx "$NS_SW" ip link set "$side" master br0 up
        nsx "$ns" ip link set lo up
        nsx "$ns" ip link set lan address "02:77:00:00:00:0$i" up
        i=$((i + 1))
    done
    nsx "$NS_A" ip addr add 10.77.0.1/24 dev lan
    nsx "$NS_B" ip addr add 10.77.0.2/24 dev lan
    nsx "$NS_C" ip addr add 10.77.0.10/24 dev lan
    ip link add xo netns "$NS_A" type veth peer name xo netns "$NS_B"
    nsx "$NS_A" ip addr add 10.78.0.1/24 dev xo
    nsx "$NS_B" ip addr add 10.78.0.2/24 dev xo
    nsx "$NS_A" ip link set xo up
    nsx "$NS_B" ip link set xo up
    # Let the bridge forward at once (no STP delay on a fresh bridge).
    sleep 0.2
}

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
