#!/usr/bin/env bash
# lvsd's operations verbs on a real IPVS kernel with real traffic, inside
# the test VM. Namespaces: cl (client), dir (director running lvsd), r1, r2
# (python http servers). NAT virtual 10.10.0.100:80 -> r1, r2 :8080, wrr,
# checktype=on (no check traffic), quiescent=no. Checked:
#   drain --wait: a long-lived connection keeps its real while every new
#     request goes to the other one; drain returns (exit 0) only after the
#     long connection closed;
#   weight 3 on r1: wrr sends 3 of 4 requests to r1; the override survives
#     `lvsd reload` and kill -9 + start (ipvsadm shows -w 3);
#   plan on an edited file: the rules it prints, applied with ipvsadm to a
#     copy of the old table in a scratch namespace, give exactly the table
#     the following reload leaves (ipvsadm -Sn);
#   reload --confirm without confirm: the table returns to the previous one
#     and a long-lived connection opened before survives both changes.
# Only addresses inside the namespaces this script creates are used.
set -uo pipefail

BIN=${LVSD_BIN_DIR:?}
W=$(mktemp -d /tmp/lvsd-ops.XXXXXX)
CFG=$W/lvsd.cf
TOML=$W/lvsd.toml
SOCK=$W/lvsd.sock
PIDF=$W/lvsd.pid
LOG=${LVSD_VM_OUT:-$W}/60-lvsd.log
: > "$LOG"
PY=/usr/bin/python3
NS=(cl dir r1 r2 scratch60)
FAILS=0
VIP=10.10.0.100
V=tcp:$VIP:80

say() { echo "ops: $*"; }
bad() { echo "ops: FAIL: $*"; FAILS=$((FAILS + 1)); }
in_ns() { local n=$1; shift; ip netns exec "$n" "$@"; }
lvsd() { timeout 120 ip netns exec dir "$BIN/lvsd" --socket "$SOCK" --pid-file "$PIDF" --log-file "$LOG" --metrics off --toml "$TOML" "$@"; }
ipvs() { in_ns dir ipvsadm "$@"; }
table() { ipvs -Sn | sort; }

cleanup() {
  [ -f "$PIDF" ] && kill -9 "$(cat "$PIDF")" 2>/dev/null
  jobs -p | xargs -r kill 2>/dev/null
  for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT
finish() {
  if [ "$FAILS" -eq 0 ]; then say "all checks passed"; exit 0; fi
  say "$FAILS check(s) failed"; echo "--- lvsd log (tail)"; tail -n 60 "$LOG" 2>/dev/null
  exit 1
}

modprobe veth 2>/dev/null; modprobe bridge 2>/dev/null
for n in "${NS[@]}"; do ip netns add "$n"; in_ns "$n" ip link set lo up; done
ip link add cl-a netns cl type veth peer name dir-a netns dir
in_ns cl ip addr add 10.10.0.2/24 dev cl-a; in_ns cl ip link set cl-a up
in_ns cl ip route add default via 10.10.0.1
in_ns dir ip addr add 10.10.0.1/24 dev dir-a
in_ns dir ip addr add $VIP/32 dev dir-a
in_ns dir ip addr add 10.10.0.101/32 dev dir-a
in_ns dir ip link set dir-a up
in_ns dir ip link add br0 type bridge
in_ns dir ip addr add 10.20.0.1/24 dev br0; in_ns dir ip link set br0 up
in_ns dir sysctl -qw net.ipv4.ip_forward=1
i=0
for r in r1 r2; do
  i=$((i + 1))
  ip link add "$r-b" netns "$r" type veth peer name "d$i" netns dir
  in_ns dir ip link set "d$i" master br0; in_ns dir ip link set "d$i" up
  in_ns "$r" ip addr add "10.20.0.1$i/24" dev "$r-b"; in_ns "$r" ip link set "$r-b" up
  in_ns "$r" ip route add default via 10.20.0.1
  mkdir -p "$W/www/$r"; echo "$r" > "$W/www/$r/index.html"
  ip netns exec "$r" "$PY" -m http.server 8080 --bind 0.0.0.0 --directory "$W/www/$r" > /dev/null 2>&1 &
done

cat > "$TOML" <<EOF
[daemon]
state_dir = "$W/state"
resync_ms = 0
EOF
write_cfg() {  # write_cfg W2 [extra virtual]
  cat > "$CFG" <<EOF
checkinterval=1
quiescent=no
cleanstop=no

virtual=$VIP:80
	real=10.20.0.11:8080 masq 1
	real=10.20.0.12:8080 masq $1
	scheduler=wrr
	checktype=on
EOF
  if [ "${2:-}" = extra ]; then
    printf '\nvirtual=10.10.0.101:80\n\treal=10.20.0.11:8080 masq 1\n\tscheduler=rr\n\tchecktype=on\n' >> "$CFG"
  fi
}

get() { in_ns cl "$PY" -c 'import sys,urllib.request; print(urllib.request.urlopen("http://'"$1"'/index.html", timeout=5).read().decode().strip())' 2>/dev/null || echo ERR; }
count() {  # count N VIP: "r1=A r2=B err=C"
  local a=0 b=0 e=0 k x
  for ((k = 0; k < $1; k++)); do
    x=$(get "$2")
    case $x in r1) a=$((a + 1));; r2) b=$((b + 1));; *) e=$((e + 1));; esac
  done
  echo "r1=$a r2=$b err=$e"
}
long_conn() {  # long_conn FLAGFILE OUTFILE: one request sent in two halves
  ip netns exec cl "$PY" - "$1" > "$2" 2>&1 <<EOF &
import os, socket, sys, time
flag = sys.argv[1]
s = socket.create_connection(("$VIP", 80), timeout=5)
s.sendall(b"GET /index.html HTTP/1.0\r\n")
print("open", flush=True)
deadline = time.time() + 120
while not os.path.exists(flag) and time.time() < deadline:
    time.sleep(0.1)
s.settimeout(10)
s.sendall(b"Host: x\r\n\r\n")
data = b""
while True:
    c = s.recv(4096)
    if not c:
        break
    data += c
body = data.split(b"\r\n\r\n", 1)[-1].strip().decode(errors="replace")
print("OK " + body if data.startswith(b"HTTP/1.") else "BAD " + repr(data[:200]))
EOF
}
wait_open() { local k; for ((k = 0; k < 50; k++)); do grep -q open "$1" 2>/dev/null && return 0; sleep 0.1; done; bad "long connection did not open"; return 1; }
wait_done() { local k; for ((k = 0; k < 100; k++)); do grep -q -E '^(OK|BAD)' "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
active_of() { ipvs -Ln | awk -v r="$1" '$2 == r { print $5 }'; }

write_cfg 1
lvsd "$CFG" start || { bad "lvsd start failed"; cat "$LOG"; finish; }
say "table: $(table | tr '\n' ';')"

# ------------------------------------------------------------ drain --wait
rm -f "$W/f1"; long_conn "$W/f1" "$W/c1"; wait_open "$W/c1"
sleep 0.5
if [ "$(active_of 10.20.0.11:8080)" = 1 ]; then HELD=10.20.0.11; OTHER=r2; else HELD=10.20.0.12; OTHER=r1; fi
say "long connection on $HELD:8080"
lvsd drain "$V" "$HELD:8080" --wait --timeout 60 > "$W/drain.out" 2>&1 &
DRAIN=$!
sleep 1.5
ipvs -Ln | grep -q -- "$HELD:8080 *Masq *0 " || bad "drained real not at weight 0: $(ipvs -Ln)"
C=$(count 8 $VIP)
say "new requests while draining: $C"
case $C in "r1=8 r2=0 err=0") [ $OTHER = r1 ] || bad "new requests hit the drained real: $C";;
  "r1=0 r2=8 err=0") [ $OTHER = r2 ] || bad "new requests hit the drained real: $C";;
  *) bad "new requests while draining: $C";; esac
kill -0 $DRAIN 2>/dev/null || bad "drain --wait returned while a connection was active: $(cat "$W/drain.out")"
touch "$W/f1"; wait_done "$W/c1"
grep -q '^OK' "$W/c1" || bad "long connection through the drain: $(cat "$W/c1")"
wait $DRAIN; rc=$?
[ $rc -eq 0 ] || bad "drain --wait exit $rc: $(cat "$W/drain.out")"
grep -q "no active connection left" "$W/drain.out" || bad "drain output: $(cat "$W/drain.out")"
say "drain --wait: $(tr '\n' ';' < "$W/drain.out")"
lvsd enable "$V" "$HELD:8080" > /dev/null || bad "enable failed"

# -------------------------------------------------------- weight override
lvsd weight "$V" 10.20.0.11:8080 3 > /dev/null || bad "weight failed"
C=$(count 16 $VIP); say "wrr with weight 3:1: $C"
[ "$C" = "r1=12 r2=4 err=0" ] || bad "weight 3:1 gave $C"
lvsd "$CFG" reload > /dev/null || bad "reload failed"
ipvs -Sn | grep -q -- "-r 10.20.0.11:8080 -m -w 3" || bad "override lost on reload: $(table)"
kill -9 "$(cat "$PIDF")"; sleep 0.5; rm -f "$SOCK"
lvsd "$CFG" start || bad "restart failed"
ipvs -Sn | grep -q -- "-r 10.20.0.11:8080 -m -w 3" || bad "override lost on kill -9 + start: $(table)"
C=$(count 8 $VIP); [ "$C" = "r1=6 r2=2 err=0" ] || bad "weight 3:1 after restart gave $C"
say "override kept across reload and kill -9: $(lvsd overrides | tr '\n' ';')"
lvsd overrides --clear > /dev/null

# -------------------------------------------------------------------- plan
BEFORE=$(ipvs -Sn)
write_cfg 2 extra
lvsd plan "$CFG" > "$W/plan.txt"; rc=$?
[ $rc -eq 1 ] || bad "plan exit $rc, want 1"
say "plan: $(tr '\n' ';' < "$W/plan.txt")"
echo "$BEFORE" | in_ns scratch60 ipvsadm-restore
while read -r line; do
  [ -n "$line" ] && { in_ns scratch60 ipvsadm $line || bad "plan rule refused by ipvsadm: $line"; }
done < "$W/plan.txt"
lvsd "$CFG" reload > /dev/null || bad "reload after plan failed"
[ "$(in_ns scratch60 ipvsadm -Sn | sort)" = "$(table)" ] || { bad "plan differs from the reload"; in_ns scratch60 ipvsadm -Sn; table; }
lvsd plan > /dev/null; rc=$?
[ $rc -eq 0 ] || bad "plan after the reload: exit $rc, want 0"

# --------------------------------------------------- reload --confirm, no confirm
PREV=$(table)
rm -f "$W/f2"; long_conn "$W/f2" "$W/c2"; wait_open "$W/c2"
write_cfg 5
lvsd "$CFG" reload --confirm 4 > /dev/null || bad "reload --confirm failed"
[ "$(table)" != "$PREV" ] || bad "reload --confirm changed nothing"
lvsd "$CFG" status | grep -q "pending confirmation" || bad "status shows no pending confirmation"
k=0; while [ "$(table)" != "$PREV" ] && [ $k -lt 100 ]; do sleep 0.2; k=$((k + 1)); done
[ "$(table)" = "$PREV" ] || { bad "no rollback"; table; }
grep -q "rolled back (not confirmed)" "$LOG" || bad "no rollback line in the log"
touch "$W/f2"; wait_done "$W/c2"
grep -q '^OK' "$W/c2" || bad "long connection through reload + rollback: $(cat "$W/c2")"
say "rollback restored the table; long connection: $(cat "$W/c2" | tail -1)"

lvsd "$CFG" stop || bad "stop failed"
finish
