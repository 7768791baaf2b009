#!/usr/bin/env bash
# lvsd end to end, inside the test VM (real IPVS, real traffic).
#
# Namespaces: cl (client), dir (director running lvsd), r1..r3 (real servers
# running busybox httpd). cl <-> dir over a veth (10.10.0.0/24, VIPs on the
# director's side); dir <-> reals over a bridge (10.20.0.0/24), reals route
# through the director. Three virtuals in one ldirectord.cf:
#   NAT  10.10.0.100:80 -> r*:8080 masq, rr, negotiate http, quiescent=no,
#        fallback 127.0.0.1:80 (an httpd in the director)
#   DR   10.10.0.101:80 -> r*:80 gate, wrr 1:2:3, connect, quiescent=yes
#        (VIP on the reals' lo, arp_ignore/arp_announce)
#   TUN  10.10.0.102:80 -> r*:80 ipip, rr, connect, quiescent=no
#        (ipip: VIP reached through tunl0)
# Checked: spread by rr and wrr; a stopped server is removed/quiesced within
# checkinterval x failurecount + checktimeout (+ slack for the emulated
# guest) and no request fails afterwards; it returns; all down -> fallback,
# one back -> fallback gone; reload of a weight / a new real keeps a
# long-lived connection and touches one kernel object; kill -9 + start adopts
# the table (no op, connection survives); a broken config on reload is
# rejected with the table unchanged; metrics, status, stop with cleanstop.
# Only addresses inside the namespaces this script creates are used.
set -uo pipefail

BIN=${LVSD_BIN_DIR:?}
W=$(mktemp -d /tmp/lvsd-e2e.XXXXXX)
CFG=$W/lvsd.cf
SOCK=$W/lvsd.sock
PIDF=$W/lvsd.pid
# The daemon's log goes where the host can read it during the run.
LOG=${LVSD_VM_OUT:-$W}/30-lvsd.log
: > "$LOG"
PY=/usr/bin/python3
NS=(cl dir r1 r2 r3)
declare -A SRV   # "rN:port" -> pid of its httpd
FAILS=0

say() { echo "e2e: $*"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
bad() { echo "e2e: FAIL: $*"; FAILS=$((FAILS + 1)); }
in_ns() { local n=$1; shift; ip netns exec "$n" "$@"; }
lvsd() { timeout 120 ip netns exec dir "$BIN/lvsd" --socket "$SOCK" --pid-file "$PIDF" --log-file "$LOG" --metrics 127.0.0.1:9612 "$@"; }
ipvs() { in_ns dir ipvsadm "$@"; }

cleanup() {
  [ -f "$PIDF" ] && kill -9 "$(cat "$PIDF")" 2>/dev/null
  for k in "${!SRV[@]}"; do kill "${SRV[$k]}" 2>/dev/null; done
  jobs -p | xargs -r kill 2>/dev/null
  for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null; done
}
trap cleanup EXIT

finish() {
  if [ "$FAILS" -eq 0 ]; then say "all checks passed"; exit 0; fi
  say "$FAILS check(s) failed"; echo "--- lvsd log (tail)"; tail -n 60 "$LOG" 2>/dev/null
  exit 1
}

# ---------------------------------------------------------------- topology
modprobe ipip 2>/dev/null; modprobe veth 2>/dev/null; modprobe bridge 2>/dev/null
for n in "${NS[@]}"; do ip netns add "$n"; in_ns "$n" ip link set lo up; done
ip link add cl-a netns cl type veth peer name dir-a netns dir
in_ns cl ip addr add 10.10.0.2/24 dev cl-a
in_ns cl ip link set cl-a up
in_ns dir ip addr add 10.10.0.1/24 dev dir-a
for v in 100 101 102; do in_ns dir ip addr add 10.10.0.$v/32 dev dir-a; done
in_ns dir ip link set dir-a up
in_ns dir ip link add br0 type bridge
in_ns dir ip addr add 10.20.0.1/24 dev br0
in_ns dir ip link set br0 up
in_ns dir sysctl -qw net.ipv4.ip_forward=1
# DR/TUN replies come back from the VIP (a local address of the director)
# and are forwarded by it to the client.
for k in all default br0 dir-a; do
  in_ns dir sysctl -qw net.ipv4.conf.$k.rp_filter=0
  in_ns dir sysctl -qw net.ipv4.conf.$k.accept_local=1
done
i=0
for r in r1 r2 r3; do
  i=$((i + 1))
  ip link add "$r-b" netns "$r" type veth peer name "d$i" netns dir
  in_ns dir ip link set "d$i" master br0
  in_ns dir ip link set "d$i" up
  in_ns "$r" ip addr add "10.20.0.1$i/24" dev "$r-b"
  in_ns "$r" ip link set "$r-b" up
  in_ns "$r" ip route add default via 10.20.0.1
  in_ns "$r" sysctl -qw net.ipv4.conf.all.arp_ignore=1
  in_ns "$r" sysctl -qw net.ipv4.conf.all.arp_announce=2
  for k in all default lo "$r-b"; do in_ns "$r" sysctl -qw net.ipv4.conf.$k.rp_filter=0; done
  in_ns "$r" ip addr add 10.10.0.101/32 dev lo
  in_ns "$r" ip addr add 10.10.0.102/32 dev lo
  in_ns "$r" ip link set tunl0 up
  in_ns "$r" sysctl -qw net.ipv4.conf.tunl0.rp_filter=0
  mkdir -p "$W/www/$r"
  echo "$r" > "$W/www/$r/index.html"
done
mkdir -p "$W/www/fb"; echo fallback > "$W/www/fb/index.html"
in_ns cl ip route add default via 10.10.0.1

start_srv() {  # start_srv rN port
  local ns=$1 port=$2 dir=$W/www/$1
  # ip netns exec directly (not through a function), so $! is the server.
  if [ "$ns" = dir ]; then
    ip netns exec dir busybox httpd -f -p "$port" -h "$W/www/fb" &
  else
    # python's server has no request timeout (busybox httpd answers 408
    # to a request left half-sent), which the long-lived connections need.
    ip netns exec "$ns" "$PY" -m http.server "$port" --bind 0.0.0.0 --directory "$dir" > /dev/null 2>&1 &
  fi
  SRV[$ns:$port]=$!
}
stop_srv() { kill "${SRV[$1:$2]}" 2>/dev/null; wait "${SRV[$1:$2]}" 2>/dev/null; unset "SRV[$1:$2]"; }
for r in r1 r2 r3; do start_srv "$r" 8080; start_srv "$r" 80; done
start_srv dir 80

# -------------------------------------------------------------- the config
write_cfg() {  # write_cfg DR_W1 EXTRA_NAT_REAL(yes/no)
  # A blank line would end a virtual block (ldirectord's rule), so the
  # optional real carries its own newline.
  local extra=""
  [ "$2" = yes ] && extra=$'\treal=10.20.0.11:80 masq 1\n'
  cat > "$CFG" <<EOF
checktimeout=3
checkinterval=1
failurecount=2
quiescent=no

virtual=10.10.0.100:80
	real=10.20.0.11:8080 masq 1
	real=10.20.0.12:8080 masq 1
	real=10.20.0.13:8080 masq 1
${extra}	fallback=127.0.0.1:80 gate
	scheduler=rr
	checktype=negotiate
	service=http
	request="index.html"
	receive="^r[0-9]"

virtual=10.10.0.101:80
	real=10.20.0.11:80 gate $1
	real=10.20.0.12:80 gate 2
	real=10.20.0.13:80 gate 3
	scheduler=wrr
	checktype=connect
	quiescent=yes

virtual=10.10.0.102:80
	real=10.20.0.11:80 ipip 1
	real=10.20.0.12:80 ipip 1
	real=10.20.0.13:80 ipip 1
	scheduler=rr
	checktype=connect
EOF
}

# ----------------------------------------------------------------- helpers
# spread VIP N -> "r1=a r2=b r3=c fallback=d fail=e": N requests, each on a
# new connection, from one python process (a process per request is slow
# in the emulated guest).
spread() {
  ip netns exec cl "$PY" - "$1" "$2" <<'EOF'
import socket, sys
vip, n = sys.argv[1], int(sys.argv[2])
c = {"r1": 0, "r2": 0, "r3": 0, "fallback": 0, "fail": 0}
for _ in range(n):
    try:
        s = socket.create_connection((vip, 80), timeout=3)
        s.sendall(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        body = data.split(b"\r\n\r\n", 1)[-1].strip().decode(errors="replace")
        c[body if body in c and data.startswith(b"HTTP/1.") else "fail"] += 1
    except OSError:
        c["fail"] += 1
print(" ".join(f"{k}={v}" for k, v in c.items()))
EOF
}
expect_spread() {  # expect_spread what VIP N "expected"
  local got; got=$(spread "$2" "$3")
  if [ "$got" = "$4" ]; then say "ok: $1: $got"; else bad "$1: got '$got', want '$4'"; fi
}
# real line of a virtual in `ipvsadm -Ln`: "ADDR:PORT FWD WEIGHT" or empty
real_of() {  # real_of VIP RIP:PORT
  ipvs -Ln -t "$1:80" 2>/dev/null | awk -v r="$2" '$1=="->" && $2==r {print $2, $3, $4}'
}
# wait_for DESC MAX_SECONDS CMD...: poll every 0.2 s; prints elapsed seconds
wait_for() {
  local desc=$1 max=$2; shift 2
  local t0; t0=$(now)
  local tries=$((max * 5)) k
  for ((k = 0; k < tries; k++)); do
    if "$@"; then
      since "$t0"
      return 0
    fi
    sleep 0.2
  done
  bad "timed out after ${max}s waiting for: $desc"
  echo -1
  return 1
}
absent() { [ -z "$(real_of "$1" "$2")" ]; }
weight_is() { [ "$(real_of "$1" "$2" | awk '{print $3}')" = "$3" ]; }
kernel_ops() { lvsd "$CFG" status 2>/dev/null | sed -n 's/.* reconciles, \([0-9]*\) kernel operations.*/\1/p'; }
# Detection bound: checkinterval x failurecount + checktimeout = 1 x 2 + 3.
BOUND=5
SLACK=${LVSD_E2E_SLACK:-6}
within_bound() {  # within_bound what elapsed
  local ok; ok=$(awk -v e="$2" -v b="$BOUND" -v s="$SLACK" 'BEGIN { print (e >= 0 && e <= b + s) ? 1 : 0 }')
  if [ "$ok" = 1 ]; then say "ok: $1 after ${2}s (bound ${BOUND}s + ${SLACK}s emulation slack)"
  else bad "$1 took ${2}s (bound ${BOUND}s + ${SLACK}s)"; fi
}
# A connection opened now and finished later: prints OK when the response
# arrives through the same TCP connection.
long_conn() {  # long_conn VIP FLAGFILE OUTFILE
  ip netns exec cl "$PY" - "$1" "$2" > "$3" 2>&1 <<'EOF' &
import os, socket, sys, time
vip, flag = sys.argv[1], sys.argv[2]
s = socket.create_connection((vip, 80), timeout=5)
s.sendall(b"GET /index.html HTTP/1.0\r\n")
print("open", flush=True)
deadline = time.time() + 120
while not os.path.exists(flag) and time.time() < deadline:
    time.sleep(0.1)
s.settimeout(10)
s.sendall(b"Host: x\r\n\r\n")
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
body = data.split(b"\r\n\r\n", 1)[-1].strip().decode(errors="replace")
print("OK " + body if data.startswith(b"HTTP/1.") and body.startswith("r") else "BAD " + repr(data[:200]))
EOF
}
wait_open() { local k; for ((k = 0; k < 50; k++)); do grep -q open "$1" 2>/dev/null && return 0; sleep 0.1; done; bad "long connection did not open"; return 1; }

# ------------------------------------------------------------------- start
write_cfg 1 no
say "lvsd check-config:"; in_ns dir "$BIN/lvsd" check-config "$CFG" || bad "check-config failed"
t0=$(now)
lvsd "$CFG" start || { bad "lvsd start failed (exit $?)"; cat "$LOG"; finish; }
say "start returned after $(since "$t0")s"
lvsd "$CFG" status > "$W/status.txt"; rc=$?
[ $rc -eq 0 ] || bad "status exit $rc, want 0"
grep -q "is running with pid: $(cat "$PIDF")" "$W/status.txt" || bad "status line: $(head -1 "$W/status.txt")"
all_in() {
  for r in 11 12 13; do
    weight_is 10.10.0.100 "10.20.0.$r:8080" 1 || return 1
    weight_is 10.10.0.102 "10.20.0.$r:80" 1 || return 1
  done
  weight_is 10.10.0.101 10.20.0.11:80 1 && weight_is 10.10.0.101 10.20.0.12:80 2 &&
    weight_is 10.10.0.101 10.20.0.13:80 3 && absent 10.10.0.100 127.0.0.1:80
}
wait_for "all reals checked up" 30 all_in > /dev/null || { ipvs -Ln; finish; }
say "table after start:"; ipvs -Ln

# ------------------------------------------------------------ distribution
say "--- distribution"
expect_spread "NAT rr" 10.10.0.100 30 "r1=10 r2=10 r3=10 fallback=0 fail=0"
expect_spread "DR wrr 1:2:3" 10.10.0.101 60 "r1=10 r2=20 r3=30 fallback=0 fail=0"
expect_spread "TUN rr" 10.10.0.102 30 "r1=10 r2=10 r3=10 fallback=0 fail=0"

# ------------------------------------------------------------ metrics/status
say "--- metrics/status"
in_ns dir curl -s --max-time 5 http://127.0.0.1:9612/metrics > "$W/metrics.txt"
grep -q 'lvsd_real_up{virtual="TCP 10.10.0.100:80",real="10.20.0.12:8080",fallback="false"} 1' "$W/metrics.txt" \
  || bad "metrics: no lvsd_real_up for r2 (got $(grep -c . "$W/metrics.txt") lines)"
grep -Eq 'lvsd_real_connections_total\{virtual="TCP 10.10.0.101:80",real="10.20.0.13:80",fallback="false"\} [1-9]' "$W/metrics.txt" \
  || bad "metrics: no kernel connection count for DR r3"
grep -q '^lvsd_check_latency_seconds{' "$W/metrics.txt" || bad "metrics: no check latency"
lvsd "$CFG" status > "$W/status.txt"
grep -q -- '-> 10.20.0.12:8080 masq up weight 1/1' "$W/status.txt" || bad "status body: $(cat "$W/status.txt")"

# ----------------------------------------------------- a real fails and returns
say "--- a real fails and returns"
stop_srv r2 8080
el=$(wait_for "NAT r2 removed (quiescent=no)" 30 absent 10.10.0.100 10.20.0.12:8080)
within_bound "NAT r2 removed" "$el"
expect_spread "NAT without r2" 10.10.0.100 30 "r1=15 r2=0 r3=15 fallback=0 fail=0"
stop_srv r3 80
el=$(wait_for "DR r3 quiesced (quiescent=yes)" 30 weight_is 10.10.0.101 10.20.0.13:80 0)
within_bound "DR r3 quiesced to weight 0" "$el"
wait_for "TUN r3 removed" 30 absent 10.10.0.102 10.20.0.13:80 > /dev/null
expect_spread "DR without r3" 10.10.0.101 30 "r1=10 r2=20 r3=0 fallback=0 fail=0"
expect_spread "TUN without r3" 10.10.0.102 30 "r1=15 r2=15 r3=0 fallback=0 fail=0"
start_srv r2 8080; start_srv r3 80
wait_for "NAT r2 back" 30 weight_is 10.10.0.100 10.20.0.12:8080 1 > /dev/null
wait_for "DR r3 back to weight 3" 30 weight_is 10.10.0.101 10.20.0.13:80 3 > /dev/null
wait_for "TUN r3 back" 30 weight_is 10.10.0.102 10.20.0.13:80 1 > /dev/null
expect_spread "NAT after return" 10.10.0.100 30 "r1=10 r2=10 r3=10 fallback=0 fail=0"

# ----------------------------------------------------------------- fallback
say "--- fallback"
for r in r1 r2 r3; do stop_srv "$r" 8080; done
only_fallback() { [ "$(ipvs -Ln -t 10.10.0.100:80 | grep -c -- '->')" = 2 ] && weight_is 10.10.0.100 127.0.0.1:80 1; }
wait_for "fallback is the only NAT server" 30 only_fallback > /dev/null || ipvs -Ln -t 10.10.0.100:80
expect_spread "all down -> fallback" 10.10.0.100 10 "r1=0 r2=0 r3=0 fallback=10 fail=0"
start_srv r1 8080
back_no_fb() { weight_is 10.10.0.100 10.20.0.11:8080 1 && absent 10.10.0.100 127.0.0.1:80; }
wait_for "r1 back, fallback gone" 30 back_no_fb > /dev/null || ipvs -Ln -t 10.10.0.100:80
expect_spread "one back -> fallback gone" 10.10.0.100 10 "r1=10 r2=0 r3=0 fallback=0 fail=0"
start_srv r2 8080; start_srv r3 8080
wait_for "NAT complete again" 30 all_in > /dev/null

# ------------------------------------------------------------------ reload
say "--- reload"
stats_of() { ipvs -Ln --stats -t "$1:80" | awk '$1=="->" && $2 ~ /^[0-9]/ {print $2, $3}'; }
tun_before=$(stats_of 10.10.0.102)
nat_before=$(ipvs -Sn | grep -- '-t 10.10.0.100:80')
rm -f "$W/flag1"; long_conn 10.10.0.101 "$W/flag1" "$W/conn1.txt"; LC1=$!; wait_open "$W/conn1.txt"
ops0=$(kernel_ops)
write_cfg 4 no
out=$(lvsd "$CFG" reload); rc=$?
say "reload (weight 1 -> 4): exit $rc: $out"
[ $rc -eq 0 ] || bad "reload exit $rc"
[ "$out" = "configuration applied: 1 kernel operations" ] || bad "reload of one weight: '$out', want 1 kernel operation"
weight_is 10.10.0.101 10.20.0.11:80 4 || bad "DR r1 weight not 4: $(real_of 10.10.0.101 10.20.0.11:80)"
[ "$(ipvs -Sn | grep -- '-t 10.10.0.100:80')" = "$nat_before" ] || bad "NAT virtual changed by a DR weight reload"
ops1=$(kernel_ops)
[ $((ops1 - ops0)) -eq 1 ] || bad "kernel operations went $ops0 -> $ops1, want +1"
# Adding a real: one add once its first check passes, nothing else.
write_cfg 4 yes
out=$(lvsd "$CFG" reload); rc=$?
say "reload (new NAT real): exit $rc: $out"
[ $rc -eq 0 ] || bad "reload exit $rc"
wait_for "new NAT real 10.20.0.11:80 added" 30 weight_is 10.10.0.100 10.20.0.11:80 1 > /dev/null
sleep 2
ops2=$(kernel_ops)
[ $((ops2 - ops1)) -eq 1 ] || bad "adding one real cost $((ops2 - ops1)) kernel operations, want 1"
tun_after=$(stats_of 10.10.0.102)
# Untouched reals keep their counters (a delete + add would zero them).
while read -r rip conns; do
  after=$(echo "$tun_after" | awk -v r="$rip" '$1==r {print $2}')
  [ -n "$after" ] && [ "$after" -ge "$conns" ] || bad "TUN real $rip counters reset ($conns -> ${after:-missing})"
done <<< "$tun_before"
touch "$W/flag1"; wait "$LC1"
grep -q '^OK r' "$W/conn1.txt" || bad "long-lived connection across reloads: $(cat "$W/conn1.txt")"
say "long connection across reloads: $(tail -1 "$W/conn1.txt")"

# ------------------------------------------------------ broken config reload
say "--- broken config reload"
table_before=$(ipvs -Sn)
cp "$CFG" "$W/good.cf"
printf 'frobnicate=yes\n' >> "$CFG"
out=$(lvsd "$CFG" reload 2>&1); rc=$?
say "broken reload: exit $rc: $out"
[ $rc -eq 2 ] || bad "broken config reload exit $rc, want 2"
[ "$(ipvs -Sn)" = "$table_before" ] || bad "table changed after a rejected reload"
lvsd "$CFG" status > /dev/null; rc=$?
[ $rc -eq 0 ] || bad "daemon not running after a rejected reload (status exit $rc)"
grep -q "frobnicate" "$LOG" || bad "config error not logged in $LOG"
cp "$W/good.cf" "$CFG"

# -------------------------------------------------------- kill -9 + restart
say "--- kill -9 + restart"
rm -f "$W/flag2"; long_conn 10.10.0.100 "$W/flag2" "$W/conn2.txt"; LC2=$!; wait_open "$W/conn2.txt"
table_before=$(ipvs -Sn)
pid=$(cat "$PIDF")
kill -9 "$pid"; sleep 0.5
[ "$(ipvs -Sn)" = "$table_before" ] || bad "table changed by kill -9"
lvsd "$CFG" start; rc=$?
[ $rc -eq 0 ] || bad "start after kill -9: exit $rc"
[ "$(cat "$PIDF")" != "$pid" ] || bad "pid file not rewritten"
sleep 4
[ "$(ipvs -Sn)" = "$table_before" ] || { bad "table changed by the restart"; diff <(echo "$table_before") <(ipvs -Sn); }
ops=$(kernel_ops)
[ "$ops" = 0 ] || bad "restart issued $ops kernel operations, want 0 (adopt)"
touch "$W/flag2"; wait "$LC2"
grep -q '^OK r' "$W/conn2.txt" || bad "connection across kill -9 + restart: $(cat "$W/conn2.txt")"
say "connection across kill -9 + restart: $(tail -1 "$W/conn2.txt")"
expect_spread "NAT after restart" 10.10.0.100 40 "r1=20 r2=10 r3=10 fallback=0 fail=0"

# ---------------------------------------------------- stop with cleanstop=yes
say "--- stop with cleanstop=yes"
ipvs -A -t 10.10.0.200:80 -s rr   # someone else's service
lvsd "$CFG" stop; rc=$?
[ $rc -eq 0 ] || bad "stop exit $rc"
[ ! -e "$PIDF" ] || bad "pid file left after stop"
left=$(ipvs -Sn)
[ "$left" = "-A -t 10.10.0.200:80 -s rr" ] || bad "after stop (cleanstop=yes) the table should hold only the foreign service, has: $left"
lvsd "$CFG" status > /dev/null; rc=$?
[ $rc -eq 3 ] || bad "status after stop: exit $rc, want 3"
finish
