#!/usr/bin/env bash
# Captures, with nlmon, the netlink bytes the real ipvsadm 1.31 and the real
# kernel exchange for each main command, one pcap per command, into
# $LVSD_VM_OUT/nlmon/ (scripts/nlmon-to-fixtures.py turns them into the
# fixtures under crates/ipvs-netlink/tests/data/nlmon/). Fails if a command's window holds no
# IPVS request.
set -euo pipefail
OUT=${LVSD_VM_OUT:?}/nlmon
mkdir -p "$OUT"
ns=lvsd-cap
ip netns del "$ns" 2>/dev/null || true
ip netns add "$ns"
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
n() { ip netns exec "$ns" "$@"; }
n ip link set lo up
n ip link add lvsd0 type dummy
n ip addr add 10.255.255.254/8 dev lvsd0
n ip addr add 192.168.255.254/16 dev lvsd0
n ip -6 addr add 2001:db8:ffff::fe/32 dev lvsd0 nodad
n ip link set lvsd0 up
# nlmon taps the netlink traffic of its own namespace.
n ip link add nl0 type nlmon
n ip link set nl0 up

# One tcpdump for the whole session (starting one per command races with
# its attach in the slow guest); each command's time window, recorded
# around it, tells scripts/nlmon-to-fixtures.py which packets are its own.
pcap="$OUT/session.pcap"
# Not through n(): `ip netns exec` execs tcpdump, so $! is tcpdump itself.
ip netns exec "$ns" tcpdump -i nl0 -w "$pcap" -U >/dev/null 2>&1 &
tpid=$!
trap 'kill $tpid 2>/dev/null || true; ip netns del "$ns" 2>/dev/null || true' EXIT
ready=0
for _ in $(seq 1 100); do
  n ipvsadm -Ln >/dev/null 2>&1 || true
  sleep 0.2
  if [ "$(stat -c %s "$pcap" 2>/dev/null || echo 0)" -gt 24 ]; then ready=1; break; fi
done
[ $ready = 1 ] || { echo "tcpdump on nlmon never captured anything"; exit 1; }
sleep 0.5

i=0
cap() {
  local name=$1; shift
  i=$((i + 1))
  local f
  f=$(printf '%s/%02d-%s' "$OUT" "$i" "$name")
  echo "ipvsadm $*" > "$f.cmd"
  date +%s.%N > "$f.window"
  n ipvsadm "$@" > "$f.stdout" 2>&1 || echo "exit $?" >> "$f.stdout"
  date +%s.%N >> "$f.window"
  # Keep windows apart.
  sleep 0.2
}

cap add-service-tcp -A -t 10.0.0.1:80 -s rr
cap add-service-persistent -A -t 10.0.0.1:443 -s wrr -p 300 -M 255.255.255.0 --pe sip
cap add-service-udp-flags -A -u 10.0.0.2:53 -s sh -b sh-port -o
cap add-service-fwmark -A -f 100 -s rr
cap add-service-fwmark6 -A -f 200 -6 -s rr -p 60 -M 64
cap add-service-ipv6 -A -t '[2001:db8::1]:80' -s wlc
cap edit-service -E -t 10.0.0.1:80 -s wlc
cap add-dest-masq -a -t 10.0.0.1:80 -r 192.168.1.1:8080 -m -w 3 -x 100 -y 10
cap add-dest-route -a -t 10.0.0.1:80 -r 192.168.1.2:9999 -g
cap add-dest-gue -a -f 100 -r 192.168.1.1 -i --tun-type gue --tun-port 6080 --tun-csum
cap add-dest-ipv6 -a -t '[2001:db8::1]:80' -r '[2001:db8::10]:80' -m
cap add-dest-exists -a -t 10.0.0.1:80 -r 192.168.1.1:8080 -m || true
cap edit-dest -e -t 10.0.0.1:80 -r 192.168.1.1:8080 -m -w 0
cap list-services -Ln
cap list-stats -Ln --stats
cap save -Sn
cap list-one -Ln -t 10.0.0.1:80
cap set-timeouts --set 900 120 300
cap list-timeouts -L --timeout
cap start-daemon --start-daemon master --mcast-interface lvsd0 --syncid 5
cap list-daemon -L --daemon
cap stop-daemon --stop-daemon master
cap zero-all -Z
cap zero-one -Z -t 10.0.0.1:80
cap del-dest -d -t 10.0.0.1:80 -r 192.168.1.1:8080
cap del-dest-missing -d -t 10.0.0.1:80 -r 192.168.1.1:8080 || true
cap del-service -D -t 10.0.0.1:80
cap del-service-missing -D -t 10.0.0.1:80 || true
cap flush -C
sleep 1
kill $tpid; wait $tpid 2>/dev/null || true
# Every command must have left at least one IPVS request in its window.
python3 "$LVSD_REPO/scripts/nlmon-to-fixtures.py" "$OUT" "$OUT/fixtures" --check
