#!/usr/bin/env bash
# Benchmark lvsadm against the real ipvsadm on a real IPVS kernel.
#
# Host side (no argument): builds lvsadm in release mode and boots ONE test
# VM (scripts/setup-vm.sh must have run) that runs this script with
# --guest. Guest side: in two fresh network namespaces, restores the same
# 1000 TCP services x 10 NAT real servers file with `ipvsadm -R` and with
# `lvsadm -R`, then lists each table with `-Ln` (both tools, both tables),
# checks the listings are byte-identical and prints the timings and ratios.
# Timings are only comparable within one guest run (TCG is slow).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
KERNEL=${LVSD_KERNEL_DIR:-/var/cache/lvsd-test/kernel}/vmlinuz
REPS=${BENCH_REPS:-5}

if [ "${1:-}" != "--guest" ]; then
  (cd "$REPO" && cargo build --release --bin lvsadm)
  out=$(mktemp -d)
  vng -r "$KERNEL" --disable-kvm --force-9p -m 1G --cpus 2 --rwdir "$out" \
    --exec "BENCH_REPS=$REPS bash $REPO/scripts/bench-lvsadm.sh --guest $REPO/target/release/lvsadm > $out/bench.txt 2>&1; echo rc=\$? >> $out/bench.txt"
  cat "$out/bench.txt"
  grep -q '^rc=0$' "$out/bench.txt"
  exit
fi

W=$(mktemp -d)
# Both binaries run from the same place, a copy in the guest's scratch dir.
cp "$2" "$W/lvsadm"
cp /usr/sbin/ipvsadm "$W/ipvsadm"
LVSADM=$W/lvsadm
IPVSADM=$W/ipvsadm
modprobe ip_vs
modprobe ip_vs_wlc
python3 - > "$W/table.txt" <<'PY'
for i in range(1000):
    vip = f"10.{i // 250}.{i % 250}.1:80"
    print(f"-A -t {vip} -s wlc")
    for j in range(10):
        print(f"-a -t {vip} -r 192.168.{i % 250}.{(i // 250) * 10 + j + 1}:80 -m -w 1")
PY
for ns in ipv lvs; do
  ip netns add "bench-$ns"
  ip -n "bench-$ns" link set lo up
  ip -n "bench-$ns" link add d0 type dummy
  ip -n "bench-$ns" addr add 192.168.255.254/16 dev d0
  ip -n "bench-$ns" link set d0 up
done
trap 'ip netns del bench-ipv; ip netns del bench-lvs' EXIT

now() { date +%s.%N; }
# Seconds taken by "$@" with stdin from $1.
timed() {
  local in=$1 t0 t1
  shift
  t0=$(now); "$@" < "$in" > /dev/null; t1=$(now)
  python3 -c "import sys; print(float(sys.argv[1]) - float(sys.argv[2]))" "$t1" "$t0"
}
# The two tools run alternately, REPS times each, so a slow spell of the
# (emulated, shared) machine hits both alike; the report gives medians.
: > "$W/r_ipv"; : > "$W/r_lvs"; : > "$W/l_ipv"; : > "$W/l_lvs"
for _ in $(seq "$REPS"); do
  ip netns exec bench-ipv "$IPVSADM" -C
  timed "$W/table.txt" ip netns exec bench-ipv "$IPVSADM" -R >> "$W/r_ipv"
  ip netns exec bench-lvs "$LVSADM" -C
  timed "$W/table.txt" ip netns exec bench-lvs "$LVSADM" -R >> "$W/r_lvs"
done
# The last restore of each tool left its table loaded; both tools list the
# table ipvsadm restored.
for _ in $(seq "$REPS"); do
  timed /dev/null ip netns exec bench-ipv "$IPVSADM" -Ln >> "$W/l_ipv"
  timed /dev/null ip netns exec bench-ipv "$LVSADM" -Ln >> "$W/l_lvs"
done

ip netns exec bench-ipv "$IPVSADM" -Ln > "$W/a"; ip netns exec bench-ipv "$LVSADM" -Ln > "$W/b"
ip netns exec bench-lvs "$IPVSADM" -Ln > "$W/c"; ip netns exec bench-lvs "$LVSADM" -Ln > "$W/d"
same=yes
cmp -s "$W/a" "$W/b" || same=no
cmp -s "$W/c" "$W/d" || same=no
cmp -s "$W/a" "$W/d" || same=no
lines=$(wc -l < "$W/a")

python3 - "$W" "$same" "$lines" "$REPS" <<'PY'
import statistics, sys
w, same, lines, reps = sys.argv[1:5]
def load(name):
    return [float(x) for x in open(f"{w}/{name}").read().split()]
ri, rl, li, ll = (statistics.median(load(n)) for n in ("r_ipv", "r_lvs", "l_ipv", "l_lvs"))
print(f"table: 1000 TCP services x 10 NAT reals ({lines} lines of -Ln), median of {reps} alternating runs")
for n in ("r_ipv", "r_lvs", "l_ipv", "l_lvs"):
    print(f"  {n}: " + " ".join(f"{x:.3f}" for x in load(n)))
print(f"restore  ipvsadm -R {ri:.3f} s   lvsadm -R {rl:.3f} s   speed-up {ri / rl:.1f}x")
print(f"list     ipvsadm -Ln {li:.3f} s  lvsadm -Ln {ll:.3f} s  speed-up {li / ll:.1f}x")
print(f"-Ln output identical (both tools, both tables): {same}")
ok = same == "yes" and ri / rl >= 5 and li / ll >= 2
print("targets (restore >= 5x, list >= 2x, identical bytes):", "MET" if ok else "NOT MET")
PY
