#!/usr/bin/env bash
# Daemon benchmark (docs/benchmarks.md, section "daemon"), ONE guest run:
#  1. start-to-table-complete for N virtuals x M reals (checktype=on, no
#     checkers) for lvsd, keepalived and ldirectord (ldirectord drives
#     /sbin/ipvsadm, one process per operation, so it gets a time cap);
#  2. reload with one real's weight changed: kernel operations issued
#     (IPVS change requests counted on an nlmon capture) and time until the
#     new weight is in the kernel.
# Each daemon gets a fresh network namespace (IPVS is per namespace) with a
# dummy link covering every address; nothing leaves the guest.
#
# Usage (host): scripts/bench-daemon.sh            -> boots one guest
# Env: BENCH_VIRTUALS (1000), BENCH_REALS (10), BENCH_LDIR_CAP (300 s),
#      BENCH_PROFILE (debug|release, default debug: the time goes to the kernel and process start-up), LVSD_SKIP_BUILD=1.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
NV=${BENCH_VIRTUALS:-1000}
NR=${BENCH_REALS:-10}
CAP=${BENCH_LDIR_CAP:-300}
PROFILE=${BENCH_PROFILE:-debug}

if [ "${1:-}" != --guest ]; then
  OUT=${LVSD_BENCH_OUT:-$REPO/target/bench-daemon}
  rm -rf "$OUT"; mkdir -p "$OUT"
  if [ "${LVSD_SKIP_BUILD:-0}" != 1 ]; then
    if [ "$PROFILE" = release ]; then
      (cd "$REPO" && cargo build --release --bin lvsd) || exit 1
    else
      (cd "$REPO" && cargo build --bin lvsd) || exit 1
    fi
  fi
  "$REPO/scripts/setup-vm.sh" >/dev/null || exit 1
  KDIR=${LVSD_KERNEL_DIR:-/var/cache/lvsd-test/kernel}
  timeout 7200 vng -r "$KDIR/vmlinuz" --disable-kvm --force-9p -m 2G --cpus 2 \
    --rwdir "$OUT" --exec "env BENCH_VIRTUALS=$NV BENCH_REALS=$NR BENCH_LDIR_CAP=$CAP \
      BENCH_PROFILE=$PROFILE BENCH_OUT=$OUT LVSD_BENCH_BIN=${LVSD_BENCH_BIN:-} bash $REPO/scripts/bench-daemon.sh --guest" \
    > "$OUT/vng.log" 2>&1
  cat "$OUT/result.txt" 2>/dev/null || { echo "bench: no result"; tail -50 "$OUT/vng.log"; exit 1; }
  exit 0
fi

# ------------------------------------------------------------ in the guest
export PATH="$PATH:/usr/sbin:/sbin"
OUT=${BENCH_OUT:?}
LVSD=${LVSD_BENCH_BIN:-$REPO/target/$PROFILE/lvsd}
W=$(mktemp -d /tmp/bench.XXXXXX)
RES=$OUT/result.txt
: > "$RES"
exec 2>>"$OUT/guest.err"
for m in ip_vs ip_vs_wrr dummy nlmon; do modprobe "$m"; done
say() { echo "$*" | tee -a "$RES"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
TOTAL=$((3 + NV + NV * NR))   # /proc/net/ip_vs: 3 header lines + services + reals

vip() { echo "10.1.$(($1 / 250)).$(($1 % 250 + 1))"; }
rip() { echo "10.2.$(($1 / 25)).$((($1 % 25) * 10 + $2 + 1))"; }

# One config per daemon, same table: wrr, NAT, port 80, weight 1; the
# reload changes the weight of real 0 of virtual 0 to 5.
gen_ldirectord() {  # gen_ldirectord FILE WEIGHT0
  {
    echo "checkinterval=10"; echo "quiescent=no"; echo "logfile=\"$W/ldirectord.log\""
    for ((i = 0; i < NV; i++)); do
      echo "virtual=$(vip $i):80"
      for ((j = 0; j < NR; j++)); do
        w=1; [ $i -eq 0 ] && [ $j -eq 0 ] && w=$2
        printf '\treal=%s:80 masq %s\n' "$(rip $i $j)" "$w"
      done
      printf '\tchecktype=on\n\tscheduler=wrr\n'
    done
  } > "$1"
}
gen_keepalived() {  # gen_keepalived FILE WEIGHT0
  {
    echo "global_defs { router_id bench }"
    for ((i = 0; i < NV; i++)); do
      echo "virtual_server $(vip $i) 80 {"
      echo "  delay_loop 10"; echo "  lb_algo wrr"; echo "  lb_kind NAT"; echo "  protocol TCP"
      for ((j = 0; j < NR; j++)); do
        w=1; [ $i -eq 0 ] && [ $j -eq 0 ] && w=$2
        echo "  real_server $(rip $i $j) 80 { weight $w }"
      done
      echo "}"
    done
  } > "$1"
}
say "bench-daemon: $NV virtuals x $NR reals, kernel $(uname -r), lvsd $PROFILE build, $(nproc) vCPUs"
gen_ldirectord "$W/a.cf" 1; gen_ldirectord "$W/b.cf" 5
gen_keepalived "$W/a.conf" 1; gen_keepalived "$W/b.conf" 5
cp "$W/a.cf" "$W/lvsd.cf"; cp "$W/a.cf" "$W/ld.cf"; cp "$W/a.conf" "$W/k.conf"

fresh_ns() {
  ip netns del bench 2>/dev/null
  ip netns add bench
  ip -n bench link set lo up
  ip -n bench link add dummy0 type dummy
  ip -n bench addr add 10.0.0.1/8 dev dummy0
  ip -n bench link set dummy0 up
}
lines() { ip netns exec bench wc -l < /proc/net/ip_vs; }
# wait_lines N CAP: seconds until /proc/net/ip_vs has N lines, or "timeout"
wait_lines() {
  local n=$1 cap=$2 t0; t0=$(now)
  while :; do
    [ "$(lines)" -ge "$n" ] && { since "$t0"; return 0; }
    [ "$(since "$t0" | cut -d. -f1)" -ge "$cap" ] && { echo timeout; return 1; }
    sleep 0.2
  done
}
# weight of real 0 of virtual 0, from /proc/net/ip_vs (hex addresses)
w0() {
  local hex; hex=$(printf '%02X%02X%02X%02X:0050' $(rip 0 0 | tr . ' '))
  ip netns exec bench awk -v r="$hex" '$1=="->" && $2==r {print $4; exit}' /proc/net/ip_vs
}
capture_start() {
  ip -n bench link add nl0 type nlmon 2>/dev/null; ip -n bench link set nl0 up
  ip netns exec bench tcpdump -i nl0 -w "$W/cap.pcap" -U -q 2>/dev/null &
  CAPPID=$!; sleep 1
}
capture_stop() { sleep 1; kill "$CAPPID"; wait "$CAPPID" 2>/dev/null; }
# IPVS change requests (NEW/SET/DEL service or dest) in the capture.
count_ops() {
  python3 - "$W/cap.pcap" <<'EOF'
import struct, sys
data = open(sys.argv[1], "rb").read()
e = "<" if struct.unpack("<I", data[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D) else ">"
off, n = 24, 0
while off + 16 <= len(data):
    incl = struct.unpack(e + "I", data[off + 8:off + 12])[0]
    raw = data[off + 16:off + 16 + incl]
    off += 16 + incl
    if len(raw) < 16 or struct.unpack(">H", raw[14:16])[0] != 16:   # NETLINK_GENERIC
        continue
    pkt, p = raw[16:], 0
    while p + 20 <= len(pkt):
        ln, typ, flags = struct.unpack("<IHH", pkt[p:p + 8])
        if ln < 16:
            break
        # requests to a generic family other than nlctrl (0x10)
        if typ > 0x10 and flags & 1 and pkt[p + 16] in (1, 2, 3, 5, 6, 7):
            n += 1
        p += (ln + 3) & ~3
print(n)
EOF
}

# ------------------------------------------------------------------ lvsd
fresh_ns
L() { ip netns exec bench "$LVSD" --socket "$W/l.sock" --pid-file "$W/l.pid" --log-file "$W/lvsd.log" --metrics off "$@"; }
t0=$(now); L "$W/lvsd.cf" start; ready=$(since "$t0")
full=$(wait_lines $TOTAL 600)
say "lvsd start: ready (sd_notify point) after ${ready}s, table complete after ${full}s"
cp "$W/b.cf" "$W/lvsd.cf"
capture_start
t0=$(now); msg=$(L "$W/lvsd.cf" reload); rt=$(since "$t0")
until [ "$(w0)" = 5 ]; do sleep 0.1; done; rt2=$(since "$t0")
capture_stop
say "lvsd reload (1 weight): ${rt2}s until applied (reload verb returned after ${rt}s: $msg); kernel ops: $(count_ops)"
L "$W/lvsd.cf" stop >/dev/null

# ------------------------------------------------------------ keepalived
fresh_ns
t0=$(now)
ip netns exec bench keepalived -C -n -l -f "$W/k.conf" -p "$W/k.pid" -c "$W/kc.pid" > "$W/keepalived.log" 2>&1 &
KPID=$!
full=$(wait_lines $TOTAL 1200)
say "keepalived start: table complete after ${full}s"
cp "$W/b.conf" "$W/k.conf"
capture_start
t0=$(now); kill -HUP "$KPID"
k=0; until [ "$(w0)" = 5 ] || [ $k -ge 3000 ]; do sleep 0.1; k=$((k + 1)); done; rt=$(since "$t0")
capture_stop
say "keepalived reload (1 weight): ${rt}s until applied; kernel ops: $(count_ops)"
kill "$KPID"; wait "$KPID" 2>/dev/null

# ------------------------------------------------------------ ldirectord
fresh_ns
t0=$(now)
( cd "$W" && ip netns exec bench ldirectord "$W/ld.cf" start ) > "$W/ldirectord.out" 2>&1
full=$(wait_lines $TOTAL "$CAP")
if [ "$full" = timeout ]; then
  got=$(( $(lines) - 3 ))
  say "ldirectord start: NOT complete after ${CAP}s cap: $got of $((NV + NV * NR)) services+reals in the kernel"
else
  say "ldirectord start: table complete after ${full}s"
  cp "$W/b.cf" "$W/ld.cf"
  capture_start
  t0=$(now); ip netns exec bench ldirectord "$W/ld.cf" reload
  k=0; until [ "$(w0)" = 5 ] || [ $k -ge 6000 ]; do sleep 0.1; k=$((k + 1)); done; rt=$(since "$t0")
  capture_stop
  say "ldirectord reload (1 weight): ${rt}s until applied; kernel ops: $(count_ops)"
fi
# No `ldirectord stop`: with cleanstop it would spawn one ipvsadm per real.
[ -f /var/run/ldirectord.ld.cf.pid ] && kill -9 "$(cat /var/run/ldirectord.ld.cf.pid)" 2>/dev/null
ip netns del bench
say "bench-daemon: done"
