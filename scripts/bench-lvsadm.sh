#!/usr/bin/env bash
# Benchmark lvsadm against the real ipvsadm on a real IPVS kernel.
#
# Host side (no argument): builds lvsadm in release mode and boots ONE test
# VM (scripts/setup-vm.sh must have run) that runs this script with
# --guest. Guest side, for each of two workloads of 1000 services x 10 NAT
# reals (11,000 restore lines):
#   wlc:   the original table (VIP 10.A.B.1:80 -s wlc, reals 192.168.B.N:80);
#   wrr10: reals spread over 10 /24 networks (VIP 10.10.X.Y:80 -s wrr,
#          reals 10.20.R.Y:8080 -m -w 1, R = 0..9);
# in two fresh network namespaces it restores the file with `ipvsadm -R`
# and with `lvsadm -R` (the two tools alternating, BENCH_REPS times each),
# then lists the table ipvsadm restored with each tool's `-Ln` (alternating
# too), lists it again after flushing the other namespace's table (see
# below why that matters), and checks that the four listings (both tools, both tables) and
# both tools' `-Sn` are byte-identical. Each tool is started directly in
# the namespace (setns in the forked child, no `ip netns exec`), and
# wait4() gives its user and system time next to the wall time: the
# system time is the kernel's share, which no tool can avoid.
# Before the workloads it times the start-up floor (`/bin/true` and each
# tool's `-L --timeout`, medians): under TCG every process pays tens of
# milliseconds of user time before doing any work, and the last column
# gives lvsadm's user time above its own floor. The user share is given
# per median run and pooled over all runs (sum of user over sum of wall):
# the guest's kernel samples user and system time at the tick, so a
# single 0.2 s run's share moves by tens of points.
# BENCH_PERF=1 also records a `perf` profile of one lvsadm -R and -Ln of
# the wrr10 workload (reports next to the results).
# Timings are only comparable within one guest run (TCG is slow).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
KERNEL=${LVSD_KERNEL_DIR:-/var/cache/lvsd-test/kernel}/vmlinuz
REPS=${BENCH_REPS:-5}

if [ "${1:-}" != "--guest" ]; then
  # BENCH_LVSADM: benchmark that binary instead of a fresh release build.
  bin=${BENCH_LVSADM:-$REPO/target/release/lvsadm}
  [ -n "${BENCH_LVSADM:-}" ] || (cd "$REPO" && cargo build --release --bin lvsadm)
  out=${BENCH_OUT:-$(mktemp -d)}
  mkdir -p "$out"
  vng -r "$KERNEL" --disable-kvm --force-9p -m 1G --cpus 2 --rwdir "$out" \
    --exec "BENCH_REPS=$REPS BENCH_PERF=${BENCH_PERF:-0} BENCH_OUT=$out bash $REPO/scripts/bench-lvsadm.sh --guest $bin > $out/bench.txt 2>&1; echo rc=\$? >> $out/bench.txt"
  cat "$out/bench.txt"
  grep -q '^rc=0$' "$out/bench.txt"
  exit
fi

W=$(mktemp -d)
# Both binaries run from the same place, a copy in the guest's scratch dir.
cp "$2" "$W/lvsadm"
cp /usr/sbin/ipvsadm "$W/ipvsadm"
modprobe ip_vs
modprobe ip_vs_wlc
modprobe ip_vs_wrr
python3 - "$W" <<'PY'
import sys
w = sys.argv[1]
with open(f"{w}/wlc.txt", "w") as f:
    for i in range(1000):
        vip = f"10.{i // 250}.{i % 250}.1:80"
        print(f"-A -t {vip} -s wlc", file=f)
        for j in range(10):
            print(f"-a -t {vip} -r 192.168.{i % 250}.{(i // 250) * 10 + j + 1}:80 -m -w 1", file=f)
with open(f"{w}/wrr10.txt", "w") as f:
    for i in range(1000):
        x, y = i // 250, i % 250 + 1
        vip = f"10.10.{x}.{y}:80"
        print(f"-A -t {vip} -s wrr", file=f)
        for r in range(10):
            print(f"-a -t {vip} -r 10.20.{r}.{y}:8080 -m -w 1", file=f)
PY
for ns in ipv lvs; do
  ip netns add "bench-$ns"
  ip -n "bench-$ns" link set lo up
  ip -n "bench-$ns" link add d0 type dummy
  ip -n "bench-$ns" addr add 192.168.255.254/16 dev d0
  ip -n "bench-$ns" addr add 10.20.255.254/16 dev d0
  ip -n "bench-$ns" link set d0 up
done
trap 'ip netns del bench-ipv; ip netns del bench-lvs' EXIT

python3 - "$W" "$REPS" "${BENCH_PERF:-0}" "${BENCH_OUT:-$W}" <<'PY'
import ctypes, os, statistics, subprocess, sys, time

w, reps, want_perf, out = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
tools = {"ipvsadm": f"{w}/ipvsadm", "lvsadm": f"{w}/lvsadm"}
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000

def enter(ns):
    def pre():
        fd = os.open(f"/run/netns/bench-{ns}", os.O_RDONLY)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            os._exit(111)
        os.close(fd)
    return pre

def run(ns, argv, stdin_path=None, stdout=subprocess.DEVNULL):
    """(wall, user, sys) of argv run in namespace ns; exit status checked."""
    fin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=fin, stdout=stdout, preexec_fn=enter(ns))
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if stdin_path:
        fin.close()
    if p.returncode != 0:
        sys.exit(f"{argv} in {ns} exited {p.returncode}")
    return wall, ru.ru_utime, ru.ru_stime

def capture(ns, argv):
    return subprocess.run(argv, check=True, capture_output=True, preexec_fn=enter(ns)).stdout

# The start-up floor: what any process costs in this guest before it does
# any work (exec, the dynamic loader, and under TCG the translation of the
# code it runs), and each tool's cheapest kernel command. Reported next to
# the results so lvsadm's own user time can be read above it.
floor = {k: [] for k in ("true", "ipvsadm -L --timeout", "lvsadm -L --timeout")}
for _ in range(max(reps, 5)):
    floor["true"].append(run("ipv", ["/bin/true"]))
    for tool in ("ipvsadm", "lvsadm"):
        floor[f"{tool} -L --timeout"].append(run("ipv", [tools[tool], "-L", "--timeout"]))
print("start-up floor (medians):")
for k, v in floor.items():
    m = [statistics.median(x[i] for x in v) for i in range(3)]
    print(f"  {k:22} wall {m[0]:.3f} user {m[1]:.3f} sys {m[2]:.3f}")
floor_user = statistics.median(x[1] for x in floor["lvsadm -L --timeout"])

ok = True
for load in ("wlc", "wrr10"):
    table = f"{w}/{load}.txt"
    t = {k: [] for k in ("r_ipvsadm", "r_lvsadm", "l_ipvsadm", "l_lvsadm")}
    # Alternating, so a slow spell of the (emulated, shared) machine hits
    # both tools alike; the report gives medians.
    for _ in range(reps):
        for tool, ns in (("ipvsadm", "ipv"), ("lvsadm", "lvs")):
            run(ns, [tools[tool], "-C"])
            t[f"r_{tool}"].append(run(ns, [tools[tool], "-R"], table))
    for _ in range(reps):
        for tool in ("ipvsadm", "lvsadm"):
            t[f"l_{tool}"].append(run("ipv", [tools[tool], "-Ln"]))
    outs = [capture(ns, [tools[tool], "-Ln"]) for ns in ("ipv", "lvs") for tool in tools]
    saves = [capture(ns, [tools[tool], "-Sn"]) for ns in ("ipv", "lvs") for tool in tools]
    # The same listing with the other namespace's table flushed: on
    # kernels whose IPVS service table is shared by all namespaces (6.1),
    # /proc/net/ip_vs skips about half of a namespace's services whenever
    # another namespace holds services (docs/lvsadm.md), and lvsadm dumps
    # those over netlink; with one table it reads every real from the text.
    run("lvs", [tools["lvsadm"], "-C"])
    t["l1_ipvsadm"], t["l1_lvsadm"] = [], []
    for _ in range(reps):
        for tool in ("ipvsadm", "lvsadm"):
            t[f"l1_{tool}"].append(run("ipv", [tools[tool], "-Ln"]))
    same_l = all(o == outs[0] for o in outs)
    same_s = all(s == saves[0] for s in saves)
    lines = outs[0].count(b"\n")
    med = {k: tuple(statistics.median(x[i] for x in v) for i in range(3)) for k, v in t.items()}
    print(f"workload {load}: 1000 TCP services x 10 NAT reals ({lines} lines of -Ln), median of {reps} alternating runs")
    for k, v in t.items():
        print(f"  {k:11} wall " + " ".join(f"{x[0]:.3f}" for x in v))
        print(f"  {k:11} user " + " ".join(f"{x[1]:.3f}" for x in v))
        print(f"  {k:11} sys  " + " ".join(f"{x[2]:.3f}" for x in v))
    # The guest's kernel splits time into user and system at the tick, so
    # one run's share is a sample: the pooled share (all user time over
    # all wall time of the runs) is the estimate the goal is read from.
    pooled = {k: sum(x[1] for x in v) / sum(x[0] for x in v) for k, v in t.items()}
    print("  | | ipvsadm wall (user / sys) | lvsadm wall (user / sys) | speed-up | lvsadm user / wall | pooled | same, user above the start-up floor |")
    ratios = {}
    for op, flag in (("r", "-R"), ("l", "-Ln"), ("l1", "-Ln, other netns empty")):
        i, l = med[f"{op}_ipvsadm"], med[f"{op}_lvsadm"]
        ratios[op] = i[0] / l[0]
        above = max(l[1] - floor_user, 0.0)
        print(f"  | `{flag}` | {i[0]:.3f} s ({i[1]:.3f} / {i[2]:.3f}) | {l[0]:.3f} s ({l[1]:.3f} / {l[2]:.3f}) | {ratios[op]:.1f}x | {100 * l[1] / l[0]:.0f} % | {100 * pooled[f'{op}_lvsadm']:.0f} % | {100 * above / l[0]:.0f} % |")
    print(f"  -Ln output identical (both tools, both tables): {'yes' if same_l else 'no'}")
    print(f"  -Sn output identical (both tools, both tables): {'yes' if same_s else 'no'}")
    want_r = 5 if load == "wlc" else 4
    user_ok = all(pooled[f"{op}_lvsadm"] <= 0.25 for op in "rl")
    met = same_l and same_s and ratios["r"] >= want_r and ratios["l"] >= 2.5 and user_ok
    print(f"  targets (restore >= {want_r}x, list >= 2.5x, lvsadm user <= 25 % of wall, identical bytes): {'MET' if met else 'NOT MET'}")
    ok = ok and same_l and same_s

if want_perf and os.path.exists("/usr/bin/perf"):
    table = f"{w}/wrr10.txt"
    run("lvs", [tools["lvsadm"], "-C"])
    for name, argv, stdin in (("restore", [tools["lvsadm"], "-R"], table), ("list", [tools["lvsadm"], "-Ln"], None)):
        data = f"{w}/perf-{name}.data"
        run("lvs", ["perf", "record", "-q", "-e", "cpu-clock", "-F", "2000", "-g", "-o", data, "--"] + argv, stdin)
        with open(f"{out}/perf-{name}.txt", "wb") as f:
            subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--percent-limit", "0.5", "--sort", "dso,sym"], stdout=f, stderr=subprocess.DEVNULL)
        print(f"perf profile of lvsadm {' '.join(argv[1:])}: {out}/perf-{name}.txt")
sys.exit(0 if ok else 1)
PY
