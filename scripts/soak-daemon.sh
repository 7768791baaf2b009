#!/usr/bin/env bash
# Soak: the real `lvsd` daemon (in-memory IPVS table, LVSD_TEST_FAKE_KERNEL=1,
# so no IPVS or root is needed) runs for SECONDS against hostile real
# servers on loopback (slowloris, endless body, 1-byte chunks with long
# chunk extensions, endless headers, a silent "database", a pgsql server
# claiming a 2 GiB message and sending it, one that accepts the login and never answers, an external check whose script starts
# `sleep 1000`, servers that die and return) beside healthy ones, checks
# every second, a reload every minute alternating two config variants, and
# status-page clients (a poller once a second, idle connections and
# slowloris clients against the metrics port). Every 5 s it samples the
# daemon (RSS, peak RSS, descriptors, threads, the `lvsd_tasks` gauge when
# /metrics has it, descendant and orphaned processes, connections the reals
# see open) and the table (`lvsd status` over the control socket).
#
# PASS when, after warm-up: every healthy real is up and in the table at its
# weight in EVERY sample, and the daemon's log never deletes, quiesces or
# fails one after the first convergence; no hostile real is ever admitted; the table is never
# unconverged (kernel != config + health) for 3 samples in a row and has
# converged at the end; RSS, descriptors, threads and tasks are flat (last
# third's max vs first third's max: RSS +20 % + 8 MiB, fds +16, threads +4,
# tasks +32); descendants <= 8, orphans <= 2, connections held at the reals
# <= 16, peak RSS <= 64 MiB. Prints a min/median/max table and PASS/FAIL
# (exit 1 on FAIL). Every process it starts is stopped on exit.
#
# Usage: scripts/soak-daemon.sh [SECONDS]   (default 180; the docs' run: 3600)
# Env: LVSD (binary; default: cargo build, target/debug/lvsd),
#      SOAK_PORT_BASE (21400: uses BASE..BASE+35 on 127.0.0.1-3),
#      SOAK_IDLE (idle status clients, 1100: more than the 1024 descriptors
#      a systemd service gets by default), SOAK_SLOW (slowloris status
#      clients, 20), SOAK_NOFILE (the daemon's descriptor limit, 1024),
#      SOAK_RATE (bytes/s of each endless stream, 2 MiB), SOAK_CHUNK_RATE
#      (bytes/s of the 1-byte-chunk and pgbig streams, 48 MiB), SOAK_FLAP
#      (seconds up, then down, of the flapping servers, 15),
#      SOAK_RELOAD (seconds between reloads, 60), SOAK_KEEP=1 (keep the
#      work directory with the daemon's log and the samples).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
DUR=${1:-180}
BASE=${SOAK_PORT_BASE:-21400}
IDLE=${SOAK_IDLE:-1100}
SLOW=${SOAK_SLOW:-20}
NOFILE=${SOAK_NOFILE:-1024}
RELOAD_EVERY=${SOAK_RELOAD:-60}
SAMPLE_EVERY=5
WARMUP=3 # samples after the first convergence before the clock starts
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
command -v curl >/dev/null || { echo "soak-daemon: needs curl"; exit 2; }

if [ -z "${LVSD:-}" ]; then
  cargo build -q --bin lvsd
  LVSD=$REPO/target/debug/lvsd
fi

tmp=$(mktemp -d /tmp/soak-daemon.XXXXXX)
# Every grandchild of the external check carries this in its command line:
# that is how orphans are told from other processes (unique per run).
MARKER="lvsd-soak-orphan-$$-${tmp##*.}"
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  # Grandchildren the daemon left behind (only this run's marker).
  for d in /proc/[0-9]*; do
    if grep -qF "$MARKER" "$d/cmdline" 2>/dev/null; then kill -9 "${d#/proc/}" 2>/dev/null || true; fi
  done
  if [ "${SOAK_KEEP:-0}" = 1 ]; then echo "soak-daemon: kept $tmp"; else rm -rf "$tmp"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

P() { echo $((BASE + $1)); }
MPORT=$(P 0)
H=127.0.0.2
HANG=$(P 17)

# The external check: RPORT $HANG hangs in `sleep 1000` (a grandchild of
# lvsd; the daemon must kill the whole process group at the timeout), any
# other port is up when it accepts a TCP connection.
cat >"$tmp/ext-check" <<EOF
#!/bin/bash
# args: VIP VPORT RIP RPORT (written by scripts/soak-daemon.sh)
if [ "\$4" = "$HANG" ]; then
  ( exec -a "$MARKER" sleep 1000 )
  exit 0
fi
exec 3<>"/dev/tcp/\$3/\$4" || exit 1
exit 0
EOF
chmod +x "$tmp/ext-check"

# write_config VARIANT: the config and its SPEC (see scripts/soak/judge.py).
# Variant b changes a scheduler and a check timeout (those checks restart)
# and adds a virtual, so
# every reload has real work to do; healthy reals keep their weights.
write_config() {
  local v=$1 cf=$tmp/cf.$1 spec=$tmp/spec.$1
  local sched=wrr pgto=2
  [ "$v" = b ] && sched=rr pgto=3
  cat >"$cf" <<EOF
# written by scripts/soak-daemon.sh (variant $v)
checkinterval=1
checktimeout=2
negotiatetimeout=2
failurecount=2
quiescent=no

# http: two healthy reals, hostile answers, a server that dies and returns
virtual=127.0.0.1:$(P 31)
	real=$H:$(P 10) masq 1
	real=127.0.0.3:$(P 10) masq 2
	real=$H:$(P 11) masq 1
	real=$H:$(P 12) masq 1
	real=$H:$(P 13) masq 1
	real=$H:$(P 14) masq 1
	real=$H:$(P 15) masq 1
	service=http
	checktype=negotiate
	request="/health"
	receive="OK"
	scheduler=wlc
	protocol=tcp

# connect: healthy, flapping, refused
virtual=127.0.0.1:$(P 32)
	real=$H:$(P 10) masq 3
	real=$H:$(P 16) masq 1
	real=$H:$(P 19) masq 1
	checktype=connect
	scheduler=$sched
	protocol=tcp

# external: a script that connects (healthy) and one that hangs in sleep
virtual=127.0.0.1:$(P 33)
	real=$H:$(P 10) masq 1
	real=$H:$HANG masq 1
	checktype=external
	checkcommand=$tmp/ext-check
	scheduler=rr
	protocol=tcp

# pgsql: a healthy (minimal) server, one that never answers, one claiming
# a 2 GiB message, one that accepts the login and never answers the query;
# quiescent, so the failing ones stay in the table at weight 0
virtual=127.0.0.1:$(P 34)
	real=$H:$(P 22) masq 4
	real=$H:$(P 20) masq 1
	real=$H:$(P 21) masq 1
	real=$H:$(P 23) masq 1
	service=pgsql
	checktype=negotiate
	login="soak"
	passwd="soak"
	database="soak"
	request="SELECT 1"
	negotiatetimeout=$pgto
	quiescent=yes
	scheduler=rr
	protocol=tcp
EOF
  cat >"$spec" <<EOF
127.0.0.1:$(P 31) $H:$(P 10) 1 healthy no
127.0.0.1:$(P 31) 127.0.0.3:$(P 10) 2 healthy no
127.0.0.1:$(P 31) $H:$(P 11) 1 hostile no
127.0.0.1:$(P 31) $H:$(P 12) 1 hostile no
127.0.0.1:$(P 31) $H:$(P 13) 1 hostile no
127.0.0.1:$(P 31) $H:$(P 14) 1 hostile no
127.0.0.1:$(P 31) $H:$(P 15) 1 any no
127.0.0.1:$(P 32) $H:$(P 10) 3 healthy no
127.0.0.1:$(P 32) $H:$(P 16) 1 any no
127.0.0.1:$(P 32) $H:$(P 19) 1 hostile no
127.0.0.1:$(P 33) $H:$(P 10) 1 healthy no
127.0.0.1:$(P 33) $H:$HANG 1 hostile no
127.0.0.1:$(P 34) $H:$(P 22) 4 healthy yes
127.0.0.1:$(P 34) $H:$(P 20) 1 hostile yes
127.0.0.1:$(P 34) $H:$(P 23) 1 hostile yes
127.0.0.1:$(P 34) $H:$(P 21) 1 hostile yes
EOF
  if [ "$v" = b ]; then
    cat >>"$cf" <<EOF

# added by variant b (a reload adds it, the next removes it)
virtual=127.0.0.1:$(P 35)
	real=127.0.0.3:$(P 10) masq 5
	checktype=connect
	scheduler=wrr
	protocol=tcp
EOF
    echo "127.0.0.1:$(P 35) 127.0.0.3:$(P 10) 5 any no" >>"$spec"
  fi
}
write_config a
write_config b
CF=$tmp/ldirectord.cf
cp "$tmp/cf.a" "$CF"
variant=a

"$PY" scripts/soak/hostile.py serve --stats "$tmp/reals.json" --duration $((DUR + 600)) \
  "healthy@$H:$(P 10)" "healthy@127.0.0.3:$(P 10)" "slowloris@$H:$(P 11)" \
  "endless@$H:$(P 12)" "chunked@$H:$(P 13)" "hugehdr@$H:$(P 14)" \
  "flap@$H:$(P 15)" "flap@$H:$(P 16)" "silent@$H:$(P 20)" "pgbig@$H:$(P 21)" \
  "pghealthy@$H:$(P 22)" "pghang@$H:$(P 23)" \
  >"$tmp/reals.log" 2>&1 &
pids+=("$!")

# The reals listen before lvsd starts (the stats file appears once every
# listener is bound), so the first checks do not see "connection refused".
for _ in $(seq 50); do
  [ -s "$tmp/reals.json" ] && break
  sleep 0.1
done
[ -s "$tmp/reals.json" ] || { echo "soak-daemon: hostile.py did not start"; cat "$tmp/reals.log"; exit 1; }

lvsd() { "$LVSD" --socket "$tmp/lvsd.sock" --pid-file "$tmp/lvsd.pid" --toml /dev/null "$@"; }
(
  ulimit -Sn "$NOFILE"
  LVSD_TEST_FAKE_KERNEL=1 exec "$LVSD" --socket "$tmp/lvsd.sock" --pid-file "$tmp/lvsd.pid" \
    --toml /dev/null --metrics "127.0.0.1:$MPORT" run "$CF"
) >"$tmp/lvsd.log" 2>&1 &
LPID=$!
pids+=("$LPID")

for _ in $(seq 100); do
  curl -sf --max-time 1 "http://127.0.0.1:$MPORT/status.json" >/dev/null 2>&1 && break
  kill -0 "$LPID" 2>/dev/null || { echo "soak-daemon: lvsd died at start"; tail -20 "$tmp/lvsd.log"; exit 1; }
  sleep 0.2
done

# First convergence (before the status clients start: the start itself
# must work; the attack is on a running daemon).
converged=0
for _ in $(seq 60); do
  if lvsd "$CF" status >"$tmp/status.txt" 2>/dev/null &&
    "$PY" scripts/soak/judge.py converged "$tmp/spec.$variant" "$tmp/status.txt" >"$tmp/conv.txt"; then
    converged=1
    break
  fi
  sleep 1
done
if [ $converged != 1 ]; then
  echo "soak-daemon: FAIL: the table did not converge within 60 s of the start"
  cat "$tmp/conv.txt"
  tail -20 "$tmp/lvsd.log"
  exit 1
fi
conv_line=$(wc -l <"$tmp/lvsd.log")
echo "soak-daemon: converged; ${DUR}s soak (pid $LPID, status port $MPORT, $IDLE idle + $SLOW slowloris status clients, nofile $NOFILE)"

# The clients need more descriptors than the daemon is given.
(
  ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
  exec "$PY" scripts/soak/hostile.py clients --host 127.0.0.1 --port "$MPORT" --idle "$IDLE" --slow "$SLOW" \
    --stats "$tmp/clients.json" --duration $((DUR + 600))
) >"$tmp/clients.log" 2>&1 &
pids+=("$!")

: >"$tmp/samples.jsonl"
t0=$SECONDS
next_reload=$((t0 + RELOAD_EVERY))
end=$((t0 + DUR + WARMUP * SAMPLE_EVERY))
reloads=0
reload_failed=0
i=0
# Bounded by time (every command in it has a timeout), not by count, so a
# daemon that stops answering cannot stretch the run.
while ((SECONDS < end)); do
  sleep "$SAMPLE_EVERY"
  i=$((i + 1))
  if ! kill -0 "$LPID" 2>/dev/null; then
    echo "soak-daemon: FAIL: lvsd died"
    tail -30 "$tmp/lvsd.log"
    exit 1
  fi
  if ((SECONDS >= next_reload)); then
    next_reload=$((SECONDS + RELOAD_EVERY))
    if [ $variant = a ]; then variant=b; else variant=a; fi
    cp "$tmp/cf.$variant" "$CF.new" && mv "$CF.new" "$CF"
    reloads=$((reloads + 1))
    rrc=0
    timeout 10 "$LVSD" --socket "$tmp/lvsd.sock" --pid-file "$tmp/lvsd.pid" --toml /dev/null \
      "$CF" reload >"$tmp/reload.txt" 2>&1 || rrc=$?
    if [ $rrc -ne 0 ]; then
      reload_failed=$((reload_failed + 1))
      [ $rrc -eq 124 ] && echo "no answer within 10 s" >>"$tmp/reload.txt"
      echo "soak-daemon: reload to variant $variant failed (exit $rrc): $(head -3 "$tmp/reload.txt" | tr '\n' ' ')"
    fi
  fi
  timeout 5 "$LVSD" --socket "$tmp/lvsd.sock" --pid-file "$tmp/lvsd.pid" --toml /dev/null \
    "$CF" status >"$tmp/status.txt" 2>/dev/null || : >"$tmp/status.txt"
  curl -s --max-time 2 "http://127.0.0.1:$MPORT/metrics" -o "$tmp/metrics.txt" 2>/dev/null || : >"$tmp/metrics.txt"
  "$PY" scripts/soak/judge.py sample "$LPID" "$tmp/spec.$variant" "$tmp/status.txt" "$tmp/metrics.txt" \
    "$tmp/reals.json" "$tmp/clients.json" "$MARKER" >>"$tmp/samples.jsonl" || true
  # One progress line a minute.
  if ((i % 12 == 0)); then
    tail -1 "$tmp/samples.jsonl" | "$PY" -c 'import json,sys; r=json.load(sys.stdin); print("soak-daemon: t=%ss rss=%s MiB fds=%s threads=%s tasks=%s desc=%s orphans=%s held=%s healthy_bad=%s" % (sys.argv[1], r["rss_mib"], r["fds"], r["threads"], r["tasks"], r["descendants"], r["orphans"], r["held_by_reals"], r["healthy_bad"]))' "$((SECONDS - t0))" || true
  fi
done

# The end: the table must converge (status view = config + health) within
# 20 s.
final=0
fend=$((SECONDS + 20))
while ((SECONDS < fend)); do
  src=0
  timeout 5 "$LVSD" --socket "$tmp/lvsd.sock" --pid-file "$tmp/lvsd.pid" --toml /dev/null \
    "$CF" status >"$tmp/status.txt" 2>/dev/null || src=$?
  if [ $src -ne 0 ]; then
    echo "lvsd status failed (exit $src; 124: no answer within 5 s)" >"$tmp/conv.txt"
  elif "$PY" scripts/soak/judge.py converged "$tmp/spec.$variant" "$tmp/status.txt" >"$tmp/conv.txt"; then
    final=1
    break
  fi
  sleep 1
done

echo "soak-daemon: $((SECONDS - t0)) s, $reloads reloads ($reload_failed failed), load average $(cut -d' ' -f1-3 /proc/loadavg)"
rc=0
"$PY" scripts/soak/judge.py verdict "$tmp/samples.jsonl" "$WARMUP" || rc=1
# Both variants name the same healthy reals; spec.a is the list.
"$PY" scripts/soak/judge.py logcheck "$tmp/spec.a" "$tmp/lvsd.log" "$conv_line" || rc=1
if [ $final != 1 ]; then
  echo "soak-daemon: FAIL: the table did not converge within 20 s at the end:"
  sed 's/^/  /' "$tmp/conv.txt"
  rc=1
fi
if [ $reload_failed -gt 0 ]; then
  echo "soak-daemon: FAIL: $reload_failed reloads failed"
  rc=1
fi
if [ $rc -ne 0 ]; then
  echo "--- lvsd log (last 15 lines)"
  tail -15 "$tmp/lvsd.log"
fi
if [ $rc -eq 0 ]; then echo "soak-daemon: PASS"; else echo "soak-daemon: FAIL"; fi
exit $rc
