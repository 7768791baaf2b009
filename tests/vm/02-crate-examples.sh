#!/usr/bin/env bash
# The ipvs-netlink crate's examples (crates/ipvs-netlink/examples) against
# the real kernel, as a user of the crate runs them: add_service programs a
# wrr service with two reals in one batch, list and watch_stats read it
# back, and the real ipvsadm confirms what the kernel holds. IPv4 and IPv6.
set -euo pipefail
EX=${LVSD_BIN_DIR:?}/examples
for e in add_service list watch_stats; do
  [[ -x $EX/$e ]] || { echo "02-crate-examples: $EX/$e missing (cargo build --workspace --examples)"; exit 1; }
done
ns=lvsd-cx
ip netns del "$ns" 2>/dev/null || true
ip netns add "$ns"
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
# The examples' documentation addresses, routable through a dummy link so
# the kernel sees the reals as unicast.
ip -n "$ns" link set lo up
ip -n "$ns" link add cx0 type dummy
ip -n "$ns" addr add 198.51.100.254/24 dev cx0
ip -n "$ns" -6 addr add 2001:db8::fe/64 dev cx0 nodad
ip -n "$ns" link set cx0 up
inns() { ip netns exec "$ns" "$@"; }
fail() { echo "02-crate-examples: FAIL: $*"; exit 1; }

inns "$EX/add_service" 192.0.2.1:80
inns "$EX/add_service" '[2001:db8:1::1]:443'
got=$(inns ipvsadm -Sn)
want='-A -t 192.0.2.1:80 -s wrr
-a -t 192.0.2.1:80 -r 198.51.100.10:80 -g -w 1
-a -t 192.0.2.1:80 -r 198.51.100.11:80 -g -w 2
-A -t [2001:db8:1::1]:443 -s wrr
-a -t [2001:db8:1::1]:443 -r [2001:db8::10]:443 -g -w 1
-a -t [2001:db8:1::1]:443 -r [2001:db8::11]:443 -g -w 2'
[[ $got == "$want" ]] || fail "ipvsadm -Sn after add_service:
$got
expected:
$want"
echo "add_service: ipvsadm -Sn shows both services with their two reals"

# Adding the same service again is an error that keeps the kernel's errno.
if out=$(inns "$EX/add_service" 192.0.2.1:80 2>&1); then
  fail "a second add_service of the same VIP succeeded"
fi
grep -qi 'exists' <<<"$out" || fail "duplicate add_service error does not say the service exists: $out"
echo "add_service again: fails with: $out"

list=$(inns "$EX/list")
echo "$list"
grep -q '^IPVS version 0x' <<<"$list" || fail "list: no version line"
[[ $(grep -c ' wrr$' <<<"$list") == 2 ]] || fail "list: expected 2 wrr services"
[[ $(grep -c -- '-> .*weight 2 ' <<<"$list") == 2 ]] || fail "list: expected two reals of weight 2"
[[ $(grep -c -- '-> ' <<<"$list") == 4 ]] || fail "list: expected 4 reals"

stats=$(timeout 30 ip netns exec "$ns" "$EX/watch_stats" 2)
echo "$stats"
grep -q -- '-- round 2' <<<"$stats" || fail "watch_stats: no second round"
grep -q 'cps ' <<<"$stats" || fail "watch_stats: no rates"

inns ipvsadm -C
[[ -z $(inns ipvsadm -Sn) ]] || fail "table not empty after ipvsadm -C"
echo "02-crate-examples: PASS"
