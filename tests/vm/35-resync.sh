#!/usr/bin/env bash
# lvsd's resync on a real IPVS kernel, inside the test VM: lvsd runs in its
# own network namespace with two virtuals (checktype=on, so no traffic is
# needed) and `[daemon] resync_ms = 2000`. Behind its back ipvsadm deletes
# a real, changes a weight, changes a scheduler, deletes a service, flushes
# the table and adds a foreign service. After each, lvsd must restore its
# own services (compared with `ipvsadm -Sn`) within a bounded time, log a
# "resync:" line naming the repair, and leave the foreign service alone.
# Only addresses inside the namespace this script creates are used.
set -uo pipefail

BIN=${LVSD_BIN_DIR:?}
W=$(mktemp -d /tmp/lvsd-resync.XXXXXX)
CFG=$W/lvsd.cf
TOML=$W/lvsd.toml
SOCK=$W/lvsd.sock
PIDF=$W/lvsd.pid
LOG=${LVSD_VM_OUT:-$W}/35-lvsd.log
: > "$LOG"
NS=rsync35
FAILS=0
# The emulated guest is slow: a 2 s resync gets 30 s to show.
WAIT=30

say() { echo "resync: $*"; }
bad() { echo "resync: FAIL: $*"; FAILS=$((FAILS + 1)); }
ipvs() { ip netns exec "$NS" ipvsadm "$@"; }
lvsd() { timeout 120 ip netns exec "$NS" "$BIN/lvsd" --socket "$SOCK" --pid-file "$PIDF" --log-file "$LOG" --metrics off --toml "$TOML" "$@"; }

cleanup() {
  [ -f "$PIDF" ] && kill -9 "$(cat "$PIDF")" 2>/dev/null
  ip netns del "$NS" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT

finish() {
  if [ "$FAILS" -eq 0 ]; then say "all checks passed"; exit 0; fi
  say "$FAILS check(s) failed"; echo "--- lvsd log (tail)"; tail -n 60 "$LOG" 2>/dev/null
  exit 1
}

ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" ip link add d0 type dummy
ip netns exec "$NS" ip addr add 10.30.0.1/24 dev d0
ip netns exec "$NS" ip link set d0 up

cat > "$TOML" <<EOF
[daemon]
resync_ms = 2000
EOF
cat > "$CFG" <<EOF
checkinterval=1
quiescent=no
cleanstop=no

virtual=10.30.0.1:80
	real=10.30.1.1:80 masq 1
	real=10.30.1.2:80 masq 2
	scheduler=wrr
	checktype=on

virtual=10.30.0.2:80
	real=10.30.1.3:80 masq 3
	real=10.30.1.4:80 masq 4
	scheduler=wlc
	checktype=on
EOF

# The owned services as ipvsadm saves them, sorted (the kernel lists the
# newest real first, so a restored real may move).
owned() { ipvs -Sn | grep -E -- '-t 10\.30\.0\.(1|2):80' | sort; }
foreign() { ipvs -Sn | grep -E -- '-t 10\.30\.0\.9:80' | sort; }
repairs() { grep -c 'resync: ' "$LOG"; }

# wait_restored WHAT PATTERN: the table equals $WANT again and the log got
# a new line matching PATTERN.
wait_restored() {
  local what=$1 pat=$2 i
  for i in $(seq 1 "$((WAIT * 4))"); do
    if [ "$(owned)" = "$WANT" ] && grep -q -- "$pat" "$LOG"; then
      say "$what: restored ($(grep -- "$pat" "$LOG" | tail -n 1 | sed 's/.*resync:/resync:/'))"
      return 0
    fi
    sleep 0.25
  done
  bad "$what: not restored within ${WAIT}s"
  echo "want:"; echo "$WANT"; echo "have:"; owned
  return 1
}

lvsd "$CFG" start || { bad "lvsd start failed (exit $?)"; cat "$LOG"; finish; }
WANT=$(owned)
[ "$(echo "$WANT" | wc -l)" -eq 6 ] || { bad "first table: $WANT"; finish; }
say "table up: $(echo "$WANT" | tr '\n' ';')"
[ "$(repairs)" -eq 0 ] || bad "repairs logged before any drift"

ipvs -d -t 10.30.0.1:80 -r 10.30.1.2:80
wait_restored "real deleted" 'resync: restored real 10.30.1.2:80 of tcp 10.30.0.1:80 with weight 2 (deleted'

ipvs -e -t 10.30.0.2:80 -r 10.30.1.3:80 -m -w 9
wait_restored "weight changed" 'resync: restored weight 3 of real 10.30.1.3:80 of tcp 10.30.0.2:80'

ipvs -E -t 10.30.0.1:80 -s rr
wait_restored "scheduler changed" 'resync: restored scheduler wrr.* of virtual server tcp 10.30.0.1:80'

ipvs -D -t 10.30.0.2:80
wait_restored "service deleted" 'resync: restored virtual server tcp 10.30.0.2:80 (deleted'

before=$(repairs)
ipvs -C
wait_restored "table flushed" 'resync: restored virtual server tcp 10.30.0.1:80 (deleted'
# Both services and their four reals came back: at least six repairs.
after=$(repairs)
[ "$((after - before))" -ge 6 ] || bad "flush: $((after - before)) repairs logged, want >= 6"

ipvs -A -t 10.30.0.9:80 -s lc
ipvs -a -t 10.30.0.9:80 -r 10.30.1.9:80 -m -w 5
FOREIGN=$(foreign)
before=$(repairs)
# Three resync periods and more: the foreign service must stay as it is.
sleep 8
[ "$(foreign)" = "$FOREIGN" ] || { bad "foreign service changed"; foreign; }
[ "$(owned)" = "$WANT" ] || bad "owned services changed with a foreign one present"
[ "$(repairs)" -eq "$before" ] || bad "repairs logged for a foreign service: $(tail -n 3 "$LOG")"
say "foreign service untouched: $(echo "$FOREIGN" | tr '\n' ';')"

lvsd "$CFG" stop || bad "lvsd stop failed"
finish
