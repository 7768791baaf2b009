#!/usr/bin/env bash
# Differential test, run INSIDE the test VM: the same generated sequence of
# ipvsadm command lines (gen-lvsadm-cases.py, ~470 commands plus every
# listing form after each batch) is applied with the real ipvsadm in one
# network namespace and with lvsadm in another; exit codes, stdout and
# stderr must be identical (--nosort listings compared as sets of lines).
# Then a cross-restore both ways: ipvsadm -S | lvsadm -R and
# lvsadm -S | ipvsadm -R must rebuild the same table.
# Env: LVSD_BIN_DIR (holds lvsadm), LVSD_REPO (the source tree).
set -u
BIN=${LVSD_BIN_DIR:?LVSD_BIN_DIR not set}
REPO=${LVSD_REPO:?LVSD_REPO not set}
HERE="$REPO/tests/vm"
REF=/usr/sbin/ipvsadm
W=$(mktemp -d)
fail=0

modprobe ip_vs || { echo "10-lvsadm-diff: no ip_vs module"; exit 1; }
scheds=()
for s in rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos; do
  modprobe "ip_vs_$s" 2>/dev/null && scheds+=("$s")
done
modprobe ip_vs_pe_sip 2>/dev/null || true
SCHEDS=$(IFS=,; echo "${scheds[*]}")

# Name look-ups must be fast and the same for both tools: a resolver that
# answers nothing at once (loopback, nothing listening) and a few names.
cp /etc/resolv.conf "$W/resolv.conf.orig" 2>/dev/null || true
cp /etc/hosts "$W/hosts.orig"
restore_etc() {
  cp "$W/resolv.conf.orig" /etc/resolv.conf 2>/dev/null || true
  cp "$W/hosts.orig" /etc/hosts
  ip netns del lvsd-ref 2>/dev/null
  ip netns del lvsd-lvs 2>/dev/null
}
trap restore_etc EXIT
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > /etc/resolv.conf
cat >> /etc/hosts <<'HOSTS'
10.0.0.1 vip-zero.example.com
192.168.0.1 rs-zero-a.example.com
192.168.0.2 a-very-long-real-server-hostname.example.com
2001:db8:100::1 vip6-one.example.com
2001:db8:1:0::1 rs6-zero.example.com
HOSTS

for ns in ref lvs; do
  ip netns add "lvsd-$ns"
  ip -n "lvsd-$ns" link set lo up
  ip -n "lvsd-$ns" link add d0 type dummy
  ip -n "lvsd-$ns" addr add 192.168.0.254/16 dev d0
  ip -n "lvsd-$ns" -6 addr add 2001:db8::fffe/32 dev d0 nodad
  ip -n "lvsd-$ns" link set d0 up
done

python3 "$HERE/gen-lvsadm-cases.py" "$SCHEDS" > "$W/cases.jsonl"
echo "10-lvsadm-diff: $(wc -l < "$W/cases.jsonl") commands, schedulers $SCHEDS"
# LVSADM_DIFF_REF: reuse ipvsadm's results of an earlier run of the same
# cases (TCG guests are slow); LVSD_VM_OUT: keep both result files there.
if [ -n "${LVSADM_DIFF_REF:-}" ] && [ -f "$LVSADM_DIFF_REF" ]; then
  cp "$LVSADM_DIFF_REF" "$W/ref.jsonl"
else
  ip netns exec lvsd-ref python3 "$HERE/lvsadm-diff.py" run "$REF" "$W/cases.jsonl" "$W/ref.jsonl"
fi
ip netns exec lvsd-lvs python3 "$HERE/lvsadm-diff.py" run "$BIN/lvsadm" "$W/cases.jsonl" "$W/got.jsonl"
if [ -n "${LVSD_VM_OUT:-}" ]; then cp "$W/ref.jsonl" "$W/got.jsonl" "$LVSD_VM_OUT/" || true; fi
python3 "$HERE/lvsadm-diff.py" compare "$W/ref.jsonl" "$W/got.jsonl" || fail=1

# Cross-restore, both directions, from a table holding every feature.
table="$W/table.txt"
cat > "$table" <<'TABLE'
-A -t 10.70.0.1:80 -s wrr -p 120 -M 255.255.0.0
-a -t 10.70.0.1:80 -r 192.168.80.1:80 -g -w 3
-a -t 10.70.0.1:80 -r 192.168.80.2:80 -g -w 0
-A -u 10.70.0.2:53 -s sh -o -b sh-fallback
-a -u 10.70.0.2:53 -r 192.168.80.3:5353 -m -w 1
-A --sctp-service 10.70.0.3:9000 -s mh -b mh-port
-a --sctp-service 10.70.0.3:9000 -r 192.168.80.4:9000 -m -w 2
-A -t [2001:db8:70::1]:443 -s lc -p 60 -M 96
-a -t [2001:db8:70::1]:443 -r [2001:db8:1:80::5]:8443 -m -w 4
-A -f 70 -s rr
-a -f 70 -r 192.168.80.6:0 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum
-a -f 70 -r 192.168.80.7:0 -i -w 1 --tun-type gre --tun-nocsum
-a -f 70 -r 2001:db8:1:80::8 -i -w 1
-A -f 71 -6 -s nq
-a -f 71 -6 -r [2001:db8:1:80::9]:0 -m -w 7
-A -t 10.0.0.1:80 -s rr
-a -t 10.0.0.1:80 -r 192.168.0.1:80 -m -w 1
-a -t 10.0.0.1:80 -r 192.168.0.2:8080 -m -w 1
TABLE
ipx() { ip netns exec lvsd-ref "$REF" "$@"; }
lvx() { ip netns exec lvsd-lvs "$BIN/lvsadm" "$@"; }
ipx -C; lvx -C
ipx -R < "$table"
ipx -S > "$W/ref.S"; ipx -Sn > "$W/ref.Sn"
lvx -R < "$W/ref.S"
lvx -Sn > "$W/lvs.Sn"
if ! cmp -s "$W/ref.Sn" "$W/lvs.Sn"; then
  echo "DIFF cross-restore ipvsadm -S | lvsadm -R"; diff "$W/ref.Sn" "$W/lvs.Sn"; fail=1
fi
lvx -S > "$W/lvs.S"
ipx -C
ipx -R < "$W/lvs.S"
ipx -Sn > "$W/ref2.Sn"
if ! cmp -s "$W/lvs.Sn" "$W/ref2.Sn"; then
  echo "DIFF cross-restore lvsadm -S | ipvsadm -R"; diff "$W/lvs.Sn" "$W/ref2.Sn"; fail=1
fi
# A large batch (lvsadm -R sends it in chunks, acks only on the last
# request of each chunk): 1000 wrr services x 10 reals over 10 /24s, then
# a second restore on top in which every 97th line fails (the entry exists)
# among new ones. Both tools must leave the same table (-Sn bytes) and
# print the same errors in the same order with the same exit status.
python3 - "$W" <<'PY'
import sys
w = sys.argv[1]
with open(f"{w}/big.txt", "w") as f, open(f"{w}/big2.txt", "w") as g:
    n = 0
    for i in range(1000):
        x, y = i // 250, i % 250 + 1
        vip = f"10.10.{x}.{y}:80"
        print(f"-A -t {vip} -s wrr", file=f)
        for r in range(10):
            line = f"-a -t {vip} -r 10.20.{r}.{y}:8080 -m -w 1"
            print(line, file=f)
            n += 1
            if n % 97 == 0:
                print(line, file=g)
            elif n % 11 == 0:
                print(f"-a -t {vip} -r 10.30.{r}.{y}:8080 -m -w 2", file=g)
PY
for ns in ref lvs; do ip -n "lvsd-$ns" addr add 10.20.255.254/16 dev d0; done
for f in big big2; do
  ipx -C; lvx -C
  [ "$f" = big2 ] && { ipx -R < "$W/big.txt"; lvx -R < "$W/big.txt"; }
  ipx -R < "$W/$f.txt" > "$W/ref.$f.out" 2>&1; echo "rc=$?" >> "$W/ref.$f.out"
  lvx -R < "$W/$f.txt" > "$W/lvs.$f.out" 2>&1; echo "rc=$?" >> "$W/lvs.$f.out"
  if ! cmp -s "$W/ref.$f.out" "$W/lvs.$f.out"; then
    echo "DIFF large restore $f: output"; diff "$W/ref.$f.out" "$W/lvs.$f.out" | head -20; fail=1
  fi
  ipx -Sn > "$W/ref.$f.Sn"; ip netns exec lvsd-lvs "$REF" -Sn > "$W/lvs.$f.Sn"
  lvx -Sn > "$W/lvs.$f.lSn"; lvx -Ln > "$W/lvs.$f.lLn"; ip netns exec lvsd-lvs "$REF" -Ln > "$W/lvs.$f.Ln"
  if ! cmp -s "$W/ref.$f.Sn" "$W/lvs.$f.Sn" || ! cmp -s "$W/lvs.$f.Sn" "$W/lvs.$f.lSn" \
      || ! cmp -s "$W/lvs.$f.Ln" "$W/lvs.$f.lLn"; then
    echo "DIFF large restore $f: tables"; diff "$W/ref.$f.Sn" "$W/lvs.$f.Sn" | head -20; fail=1
  fi
  echo "10-lvsadm-diff: large restore $f: $(wc -l < "$W/$f.txt") lines, $(wc -l < "$W/ref.$f.Sn") in -Sn, $(grep -vc '^rc=' "$W/ref.$f.out") error lines, $(tail -1 "$W/ref.$f.out")"
done

# A listing larger than a pipe, read by a reader that quits after 100
# bytes: ipvsadm dies of SIGPIPE (status 141 in the shell); lvsadm must
# end the same way, not carry on and exit 0.
ref_pipe=$(ipx -Ln | head -c 100 > /dev/null; echo "${PIPESTATUS[0]}")
lvs_pipe=$(lvx -Ln | head -c 100 > /dev/null; echo "${PIPESTATUS[0]}")
if [ "$ref_pipe" != "$lvs_pipe" ]; then
  echo "DIFF -Ln into a closed pipe: ipvsadm status $ref_pipe, lvsadm $lvs_pipe"; fail=1
fi
echo "10-lvsadm-diff: -Ln into a closed pipe: ipvsadm $ref_pipe, lvsadm $lvs_pipe"
# With stdin closed, lvsadm's netlink socket must not become fd 0:
# `-R` then reads an empty input (/dev/null) and ends at once, leaving
# the table as it was (ipvsadm would read its own netlink socket).
lvx -Sn > "$W/before.closed"
timeout 60 ip netns exec lvsd-lvs "$BIN/lvsadm" -R <&-; closed_rc=$?
lvx -Sn > "$W/after.closed"
if [ "$closed_rc" != 0 ] || ! cmp -s "$W/before.closed" "$W/after.closed"; then
  echo "FAIL -R with stdin closed: status $closed_rc"; fail=1
fi

if [ "$fail" -eq 0 ]; then echo "10-lvsadm-diff: PASS"; else echo "10-lvsadm-diff: FAIL"; fi
exit "$fail"
