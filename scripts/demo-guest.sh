#!/usr/bin/env bash
# The demo's story, run INSIDE the guest by scripts/demo.sh. Builds a LAN
# of network namespaces on a bridge (two directors, three real servers, one
# client; LVS direct routing, VIP 10.0.0.100), then: steady traffic, the
# tables, a real server failing and returning, the active director dying.
# Every number printed is measured here; nothing is scripted in advance.
# Both directors run lvsd with the same ldirectord.cf and an lvsd.toml whose
# [ha] table pairs them (heartbeats, VIP takeover, IPVS sync daemons).
# Env: LVSD_BIN_DIR, LVSD_REPO, DEMO_OUT (shared with the host).
set -uo pipefail
BIN=${LVSD_BIN_DIR:?}
REPO=${LVSD_REPO:?}
OUT=${DEMO_OUT:?}
RUN=/tmp/lvsd-demo
LOG=$OUT/demo.log
export PATH="$BIN:$PATH:/usr/sbin:/sbin"
PY=/usr/bin/python3
[ -x $PY ] || PY=python3
NET="$PY $REPO/scripts/demo-net.py"
T0=$(date +%s.%N)

rm -rf "$RUN"; mkdir -p "$RUN"
: >"$LOG"
say()  { printf '%s\n' "$*" | tee -a "$LOG"; }
step() { say ""; say "==> [$(elapsed)] $*"; }
show() { sed 's/^/    /' | tee -a "$LOG"; }
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%5.1fs", b - a }'; }
now() { date +%s.%N; }
ns() { local n=$1; shift; ip netns exec "$n" "$@"; }
fail=()
problem() { say "!!  $*"; fail+=("$*"); }
pids=()
bg() { local n=$1 log=$2; shift 2; ip netns exec "$n" "$@" >"$log" 2>&1 & pids+=($!); }
finish() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
}
trap finish EXIT
# wait_for SECONDS CMD...: poll CMD every 0.2 s; false on timeout.
wait_for() {
  local limit=$1; shift
  local end=$(( $(date +%s) + limit ))
  while [ "$(date +%s)" -lt "$end" ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}

for m in ip_vs ip_vs_rr veth bridge; do modprobe $m 2>/dev/null; done
if ! [ -e /proc/net/ip_vs ]; then
  say "demo: this kernel has no IPVS"; echo 1 >"$OUT/rc"; exit 1
fi

step "Building the network: one LAN (bridge), directors d1 d2, real servers r1 r2 r3, a client"
# Few processes: under emulation every exec costs, so batch the ip commands.
NODES="d1:10.0.0.1 d2:10.0.0.2 r1:10.0.0.11 r2:10.0.0.12 r3:10.0.0.13 client:10.0.0.50"
{
  echo "link add br0 type bridge mcast_snooping 0"
  echo "link set br0 up"
  for n in $NODES; do
    name=${n%%:*}
    echo "netns add $name"
    echo "link add v$name type veth peer name eth0 netns $name"
    echo "link set v$name master br0 up"
  done
} >"$RUN/root.ip"
ip -b "$RUN/root.ip" || problem "network setup failed"
for n in $NODES; do
  name=${n%%:*}; addr=${n#*:}
  {
    echo "link set lo up"
    echo "addr add $addr/24 dev eth0"
    echo "link set eth0 up"
    # Direct routing: the real servers hold the VIP on lo and never answer ARP for it.
    case $name in r*) echo "addr add 10.0.0.100/32 dev lo" ;; esac
  } >"$RUN/$name.ip"
  ip -n "$name" -b "$RUN/$name.ip" || problem "$name: network setup failed"
done
for r in r1 r2 r3; do
  ns $r sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
    net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
done
for d in d1 d2; do ns $d sysctl -qw net.ipv4.ip_forward=1; done
say "    VIP 10.0.0.100:80, direct routing; d1 10.0.0.1, d2 10.0.0.2, reals 10.0.0.11-13, client 10.0.0.50"

step "Starting three real servers (HTTP; /health answers OK)"
for r in r1 r2 r3; do
  bg $r "$RUN/$r.log" $NET server $r 80 "$RUN/$r.down"
done

cat >"$RUN/ldirectord.cf" <<'EOF'
# The same ldirectord.cf on both directors.
# Generous timeout and two failures before "down": the guest is emulated
# and a busy host can stall it for seconds.
checktimeout=3
checkinterval=1
failurecount=2
quiescent=no
virtual=10.0.0.100:80
	real=10.0.0.11:80 gate
	real=10.0.0.12:80 gate
	real=10.0.0.13:80 gate
	service=http
	scheduler=rr
	protocol=tcp
	checktype=negotiate
	request="health"
	receive="OK"
EOF
head -c 32 /dev/urandom >"$RUN/ha.key"; chmod 600 "$RUN/ha.key"
for d in d1:150 d2:100; do
  name=${d%%:*}; prio=${d#*:}
  mkdir -p "$RUN/$name"
  cat >"$RUN/$name/lvsd.toml" <<EOF
[node]
name = "$name"
priority = $prio
[ha]
key_file = "$RUN/ha.key"
keepalive_ms = 250
warntime_ms = 1000
deadtime_ms = 2000
initdead_ms = 4000
auto_failback = false
[[ha.link]]
name = "lan"
interface = "eth0"
peers = ["10.0.0.1", "10.0.0.2"]
[[ha.vip]]
address = "10.0.0.100/24"
interface = "eth0"
[ha.announce]
count = 3
interval_ms = 100
[ha.sync_daemon]
interface = "eth0"
syncid = 1
EOF
done

step "Starting lvsd on both directors as a pair (same ldirectord.cf; lvsd.toml with [ha])"
for d in d1 d2; do
  bg $d "$RUN/$d/lvsd.log" lvsd --socket "$RUN/$d/lvsd.sock" --pid-file "$RUN/$d/lvsd.pid" \
    --toml "$RUN/$d/lvsd.toml" --metrics 127.0.0.1:9612 run "$RUN/ldirectord.cf"
  [ $d = d1 ] && sleep 1
done
# table_has DIRECTOR REAL COUNT: the real appears COUNT times in the table.
table_has() { local n; n=$(ns "$1" lvsadm -Ln | grep -c -- "-> $2"); [ "$n" = "$3" ]; }
all_up() { for r in 11 12 13; do table_has "$1" "10.0.0.$r:80" 1 || return 1; done; }
for d in d1 d2; do
  wait_for 180 all_up $d || problem "$d: the three reals never all entered the table"
done
lvsd_status() { ns "$1" timeout 60 lvsd --socket "$RUN/$1/lvsd.sock" --pid-file "$RUN/$1/lvsd.pid" "$RUN/ldirectord.cf" status 2>&1; }
role_is() { lvsd_status "$1" | grep -qi "^ha: node $1 role $2"; }
wait_for 120 role_is d1 active || problem "d1 never became active"
wait_for 120 role_is d2 standby || problem "d2 never became standby"
for d in d1 d2; do say "    $d: $(lvsd_status $d | grep '^ha:')"; done
say "    VIP on d1: $(ns d1 ip -4 -o addr show dev eth0 | grep -c 10.0.0.100) address(es); on d2: $(ns d2 ip -4 -o addr show dev eth0 | grep -c 10.0.0.100)"

step "The client starts steady traffic: a new connection every 100 ms, one kept-alive connection (5 requests/s)"
bg client "$RUN/client.err" $NET client http://10.0.0.100/ "$RUN/client.log"
wait_for 120 grep -q " ok " "$RUN/client.log" || problem "client gets no answers"
t_start=$(now)
sleep 3
$NET stats "$RUN/client.log" "$t_start" | grep -v = | show

for d in d1 d2; do
  step "$d: lvsadm -Ln --stats"
  ns $d lvsadm -Ln --stats | show
  step "$d: lvsd status"
  lvsd_status $d | show
done

step "Real server r2 fails: its health check starts answering 503"
t_fail=$(now)
touch "$RUN/r2.down"
if wait_for 120 table_has d1 10.0.0.12:80 0; then
  say "    r2 left d1's table $(awk -v a="$t_fail" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}')s after the failure"
else
  problem "r2 never left d1's table"
fi
wait_for 120 table_has d2 10.0.0.12:80 0 || problem "r2 never left d2's table"
ns d1 lvsadm -Ln | show
sleep 2
say "    client while r2 was failing:"
$NET stats "$RUN/client.log" "$t_fail" | grep -v = | show

step "r2 recovers"
t_back=$(now)
rm -f "$RUN/r2.down"
if wait_for 120 table_has d1 10.0.0.12:80 1; then
  say "    r2 back in d1's table $(awk -v a="$t_back" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}')s later"
else
  problem "r2 never came back"
fi
sleep 2
ns d1 lvsadm -Ln | show
say "    IPVS sync daemons: d1: $(ns d1 lvsadm -L --daemon | tr '\n' ' ')"
say "                       d2: $(ns d2 lvsadm -L --daemon | tr '\n' ' ')"
say "    connections synced to d2 so far: $(ns d2 lvsadm -Lnc | grep -c ESTABLISHED)"

step "The active director d1 dies (processes killed, link down)"
t_kill=$(now)
for p in $(ip netns pids d1); do kill -9 "$p" 2>/dev/null; done
ns d1 ip link set eth0 down
if wait_for 120 role_is d2 active; then
  t_active=$(now)
  say "    d2 reports itself active (lvsd status) $(awk -v a="$t_kill" -v b="$t_active" 'BEGIN{printf "%.2f", b-a}')s after d1 died"
else
  problem "d2 never took over"
fi
say "    VIP on d2: $(ns d2 ip -4 -o addr show dev eth0 | grep -c 10.0.0.100) address(es)"
sleep 3
say "    client across the failover (from d1's death until now), measured by the client:"
stats=$($NET stats "$RUN/client.log" "$t_kill")
printf '%s\n' "$stats" | grep -v = | show
new_gap=$(printf '%s\n' "$stats" | sed -n 's/^NEW_GAP=//p')
new_failed=$(printf '%s\n' "$stats" | sed -n 's/^NEW_FAILED=//p')
kept_failed=$(printf '%s\n' "$stats" | sed -n 's/^KEPT_FAILED=//p')
say "    FAILOVER TIME (client side, longest gap between successful new connections): ${new_gap}s"
say "    requests failed during the switch: ${new_failed} new-connection, ${kept_failed} on the established connection"
[ "${kept_failed:-1}" = 0 ] || problem "the established connection lost ${kept_failed} requests in the failover"

step "d2 after the takeover: lvsadm -Ln --stats and lvsd status"
ns d2 lvsadm -Ln --stats | show
lvsd_status d2 | show
say "    status page on d2 (what a browser at http://127.0.0.1:9612/ shows):"
ns d2 $NET page 127.0.0.1:9612 2>&1 | show

step "Summary"
$NET stats "$RUN/client.log" "$t_start" | grep -v = | sed 's/^/whole run: /' | show
if [ ${#fail[@]} -eq 0 ]; then
  say "demo: every step happened as narrated (total $(elapsed))"
  echo 0 >"$OUT/rc"
else
  say "demo: ${#fail[@]} step(s) did not go as planned:"
  for f in "${fail[@]}"; do say "    - $f"; done
  for f in d1/lvsd.log d2/lvsd.log d1/ha.log d2/ha.log client.err; do
    [ -s "$RUN/$f" ] && { say "--- $f (tail)"; tail -n 8 "$RUN/$f" | show; }
  done
  echo 1 >"$OUT/rc"
fi
