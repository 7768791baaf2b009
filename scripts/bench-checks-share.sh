#!/usr/bin/env bash
# The check engine's own share on the host, in alternating rounds: 10,000
# reals with http checks every second (examples/bench_checks.rs `client`),
# then the same bare exchanges flat out (`floor`) and at the engine's pace
# (`floor-paced`), ROUNDS times, against one load server. The host's own
# figures drift by a fifth between runs a minute apart, so one round
# proves little: this prints every round and the medians, and the share
# of each round against its own floors.
#
#   scripts/bench-checks-share.sh [ROUNDS] [SECONDS]    (default 5 rounds of 20 s)
#
# BENCH_PIN=1 pins the load server to CPU 0 and the measured process (the
# engine, then each floor) to CPU 1, so neither migrates nor shares a
# core with the other between rounds (needs taskset and two CPUs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
SECS=${2:-20}
cargo build --release --example bench_checks >&2
B=target/release/examples/bench_checks
SRV_PIN=()
CLI_PIN=()
if [ "${BENCH_PIN:-0}" = 1 ]; then
    SRV_PIN=(taskset -c 0)
    CLI_PIN=(taskset -c 1)
fi
OUT=$(mktemp)
SRV=$OUT.srv
"${SRV_PIN[@]}" "$B" server 40 250 >"$SRV" 2>&1 &
srv=$!
trap 'kill $srv 2>/dev/null || true; wait $srv 2>/dev/null || true; rm -f "$OUT" "$SRV"' EXIT
for _ in $(seq 100); do grep -q ready "$SRV" 2>/dev/null && break; sleep 0.1; done
if ! grep -q ready "$SRV"; then
    echo "load server did not start:" >&2
    cat "$SRV" >&2
    exit 1
fi
for r in $(seq "$ROUNDS"); do
    echo "round $r: load $(cut -d' ' -f1-3 /proc/loadavg)"
    "${CLI_PIN[@]}" "$B" client 40 250 http "$SECS" | grep -E '^(checks|cpu_percent|peak_rss)'
    "${CLI_PIN[@]}" "$B" floor 40 250 http $((SECS * 10000 / 2))
    "${CLI_PIN[@]}" "$B" floor-paced 40 250 http "$SECS"
done | tee "$OUT"
python3 - "$OUT" <<'PY'
import re, statistics, sys
text = open(sys.argv[1]).read()
rounds = text.split("round ")[1:]
rows = []
for r in rounds:
    def f(pat):
        m = re.search(pat, r)
        return float(m.group(1)) if m else None
    eng = f(r"cpu_us_per_check=([0-9.]+)")
    user = f(r"cpu_percent_of_one_core=[0-9.]+ \(user ([0-9.]+)")
    fl = [f(r"(?m)^floor kind=http.*user_us_per_exchange=([0-9.]+)"),
          f(r"(?m)^floor kind=http.*system_us_per_exchange=([0-9.]+)")]
    pa = [f(r"floor-paced kind=http.*user_us_per_exchange=([0-9.]+)"),
          f(r"floor-paced kind=http.*system_us_per_exchange=([0-9.]+)")]
    if None in (eng, user, *fl, *pa):
        continue
    flat, paced = sum(fl), sum(pa)
    rows.append((eng, user, flat, paced, (eng / flat - 1) * 100, (eng / paced - 1) * 100))
if not rows:
    sys.exit("no complete round")
med = [statistics.median(c) for c in zip(*rows)]
print(f"rounds={len(rows)} medians: engine_us_per_check={med[0]:.1f} (user {med[1]:.1f}) "
      f"floor_us={med[2]:.1f} floor_paced_us={med[3]:.1f} "
      f"above_floor={med[4]:.0f}% above_floor_paced={med[5]:.0f}%")
print("per round (engine, user, floor, floor-paced, % above floor, % above floor-paced): "
      + "; ".join(f"{a:.1f} {b:.1f} {c:.1f} {d:.1f} {e:.0f}% {g:.0f}%" for a, b, c, d, e, g in rows))
PY
