#!/usr/bin/env bash
# Health checks side by side, lvsd vs keepalived, in ONE guest run
# (issue 15; docs/benchmarks.md, section "checks").
#
# Same reals, same interval, same server for both checkers: 200 reals
# (10.30.1.1 .. 10.30.1.200, port 22600, addresses of a dummy link in a
# network namespace) answered by one nginx (one worker) listening on the
# wildcard address, every check every 1 s. By default four phases, one
# checker at a time (so each one's CPU and checks are its own), alternating:
#   keepalived HTTP_GET  (url { path /ka-http status_code 200 }, delay_loop 1)
#   lvsd http negotiate  (request="/lvsd-http", receive="ok", checkinterval=1)
#   keepalived TCP_CHECK (delay_loop 1)
#   lvsd connect         (checktype=connect, checkinterval=1)
# and with BENCH_KINDS="http connect https" also, on a TLS port (22602) of
# the same nginx (TLS 1.3 and 1.2, a self-signed certificate, RSA 2048 or with
# BENCH_TLS_KEY=ec ECDSA P-256):
#   keepalived SSL_GET   (url { path /ka-https status_code 200 })
#   lvsd https negotiate (service=https, request="/lvsd-https", receive="ok")
# each phase BENCH_ROUNDS times (default 1). Each checker also programs
# IPVS (a NAT TCP virtual with the 200 reals) as it would in production.
# Per phase: warm-up (BENCH_WARMUP s, default 12) after the checker starts,
# then a window of BENCH_WINDOW s (default 30) in which
#   - CPU: utime+stime summed over the checker's whole process tree (all
#     /proc/PID/stat whose ancestry leads to the checker's first pid),
#     its utime printed as "user=", and each thread's share of the
#     first process (a "threads over the window" line);
#   - checks: http(s) ones counted in nginx's access log by their path (each
#     checker asks for its own path), connect ones as the namespace's
#     TCP PassiveOpens (only one checker runs at a time; for http phases
#     this count is printed too, as a cross-check);
# gives CPU microseconds per check, and lvsd/keepalived per kind.
# Timings are emulated CPU (TCG): compare only within one run.
#
# Usage (host): scripts/bench-checks-vs-keepalived.sh   -> boots one guest
# Env: BENCH_ROUNDS (1), BENCH_WARMUP (12), BENCH_WINDOW (30), BENCH_REALS (200),
#      BENCH_KINDS ("http connect"; add https for the TLS checks),
#      BENCH_TLS_KEY (rsa; ec for an ECDSA P-256 certificate),
#      LVSD_BENCH_BIN (a prebuilt lvsd), LVSD_BENCH_OUT (result dir),
#      LVSD_BENCH_BIN_B (a second lvsd build, measured as "lvsd-b" beside it),
#      BENCH_PROFILE=1 (after each window: system calls of the checker, strace).
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${BENCH_ROUNDS:-1}
WARMUP=${BENCH_WARMUP:-12}
WINDOW=${BENCH_WINDOW:-30}
NREALS=${BENCH_REALS:-200}
KINDS=${BENCH_KINDS:-http connect}

if [ "${1:-}" != --guest ]; then
  OUT=${LVSD_BENCH_OUT:-$REPO/target/bench-checks-vs-keepalived}
  rm -rf "$OUT"; mkdir -p "$OUT"
  BIN=${LVSD_BENCH_BIN:-$REPO/target/release/lvsd}
  if [ ! -x "$BIN" ]; then
    (cd "$REPO" && cargo build --release --bin lvsd) || exit 1
  fi
  # qemu, vng, the kernel and keepalived (scripts/setup-vm.sh), and nginx.
  "$REPO/scripts/setup-vm.sh" >/dev/null || exit 1
  if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null || exit 1
    systemctl disable --now nginx >/dev/null 2>&1 || true
  fi
  KDIR=${LVSD_KERNEL_DIR:-/var/cache/lvsd-test/kernel}
  # The guest's part is bounded (phases x (warm-up + window + stop)); the
  # timeout only catches a hung boot.
  # What else ran on the host: its load around the guest run.
  echo "host load before: $(uptime | sed 's/.*load average/load average/')" > "$OUT/host.txt"
  timeout 3600 vng -r "$KDIR/vmlinuz" --disable-kvm --force-9p -m 1G --cpus 2 \
    --rwdir "$OUT" --exec "env BENCH_ROUNDS=$ROUNDS BENCH_WARMUP=$WARMUP BENCH_WINDOW=$WINDOW \
      BENCH_REALS=$NREALS BENCH_KINDS='$KINDS' BENCH_TLS_KEY=${BENCH_TLS_KEY:-rsa} BENCH_PROFILE=${BENCH_PROFILE:-0} BENCH_OUT=$OUT LVSD_BENCH_BIN=$BIN LVSD_BENCH_BIN_B=${LVSD_BENCH_BIN_B:-} bash $REPO/scripts/bench-checks-vs-keepalived.sh --guest" \
    > "$OUT/vng.log" 2>&1
  if [ ! -s "$OUT/result.txt" ]; then
    echo "bench: no result"; tail -50 "$OUT/vng.log"; tail -50 "$OUT/guest.err" 2>/dev/null
    exit 1
  fi
  echo "host load after: $(uptime | sed 's/.*load average/load average/')" >> "$OUT/host.txt"
  cat "$OUT/result.txt" "$OUT/host.txt"
  grep -q '^bench: done$' "$OUT/result.txt"
  exit
fi

# ------------------------------------------------------------ in the guest
# (also runs on a host without IPVS for a dry run of the nginx side:
# BENCH_NO_IPVS=1 skips modprobe and puts the reals on lo.)
export PATH="$PATH:/usr/sbin:/sbin"
OUT=${BENCH_OUT:?}
LVSD=${LVSD_BENCH_BIN:?}
LVSD_B=${LVSD_BENCH_BIN_B:-}   # optional second lvsd build, phases "lvsd-b"
NS=${BENCH_NS:-chkbench}
W=$(mktemp -d /tmp/chkbench.XXXXXX)
RES=$OUT/result.txt
: > "$RES"
exec 2>>"$OUT/guest.err"
say() { echo "$*" | tee -a "$RES"; }
HZ=$(getconf CLK_TCK)
RP=22600   # the reals' port (nginx)
VP=22601   # the virtual services' port (IPVS only)
SP=22602   # the reals' TLS port (nginx, for https checks)

NGINX_PID= CHECKER_PID=
cleanup() {
  for p in $CHECKER_PID $NGINX_PID; do
    kill "$p" 2>/dev/null
  done
  for p in $CHECKER_PID $NGINX_PID; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  ip netns del "$NS" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "${BENCH_NO_IPVS:-0}" != 1 ]; then
  for m in ip_vs ip_vs_wrr dummy; do modprobe "$m"; done
fi
ip netns del "$NS" 2>/dev/null
ip netns add "$NS"
ip -n "$NS" link set lo up
if ip -n "$NS" link add d0 type dummy 2>/dev/null; then
  DEV=d0
  ip -n "$NS" link set d0 up
  # a /16 route covering the reals (IPVS wants them unicast, not local-only)
  ip -n "$NS" addr add 10.30.0.254/16 dev d0
else
  DEV=lo   # host dry run (no dummy module): the reals are local addresses
fi
for i in $(seq 0 $((NREALS - 1))); do
  echo "addr add 10.30.$((i / 250 + 1)).$((i % 250 + 1))/32 dev $DEV"
done > "$W/addrs"
ip -n "$NS" -batch "$W/addrs"
REALS=$(sed 's#addr add \([0-9.]*\)/32.*#\1#' "$W/addrs")

# ------------------------------------------------------------ nginx
mkdir -p "$W/nginx/tmp"
# A throwaway self-signed certificate for the TLS port (neither checker
# verifies it, as neither does by default).
KEYOPT=(-newkey rsa:2048)
[ "${BENCH_TLS_KEY:-rsa}" = ec ] && KEYOPT=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1)
openssl req -x509 "${KEYOPT[@]}" -nodes -days 2 -subj /CN=chkbench \
  -keyout "$W/tls.key" -out "$W/tls.crt" >/dev/null 2>&1 || { say "bench: openssl req failed"; exit 1; }
cat > "$W/nginx.conf" <<EOF
user root;
worker_processes 1;
pid $W/nginx.pid;
error_log $W/nginx-error.log warn;
events { worker_connections 4096; }
http {
  client_body_temp_path $W/nginx/tmp/body;
  proxy_temp_path $W/nginx/tmp/proxy;
  fastcgi_temp_path $W/nginx/tmp/fastcgi;
  uwsgi_temp_path $W/nginx/tmp/uwsgi;
  scgi_temp_path $W/nginx/tmp/scgi;
  log_format chk '\$request_uri \$server_addr';
  server {
    listen $RP default_server;
    access_log $W/access.log chk;
    location / { default_type text/plain; return 200 "ok\n"; }
  }
  server {
    listen $SP ssl default_server;
    ssl_certificate $W/tls.crt;
    ssl_certificate_key $W/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    access_log $W/access.log chk;
    location / { default_type text/plain; return 200 "ok\n"; }
  }
}
EOF
ip netns exec "$NS" nginx -p "$W/nginx" -c "$W/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
for _ in $(seq 100); do [ -s "$W/nginx.pid" ] && break; sleep 0.1; done
first=$(echo "$REALS" | head -1)
if ! ip netns exec "$NS" curl -sf -m 5 "http://$first:$RP/probe" >/dev/null; then
  say "bench: nginx does not answer on $first"; cat "$W/nginx-error.log" >> "$RES"; exit 1
fi

# ------------------------------------------------------------ configs
ka_conf() {  # ka_conf http|connect|https VIP
  {
    echo "global_defs { router_id chkbench }"
    printf 'virtual_server %s %s {\n  delay_loop 1\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n' "$2" "$VP"
    for r in $REALS; do
      if [ "$1" = https ]; then
        printf '  real_server %s %s {\n    weight 1\n    SSL_GET {\n      url {\n        path /ka-https\n        status_code 200\n      }\n      connect_timeout 5\n      retry 1\n      delay_before_retry 1\n    }\n  }\n' "$r" "$SP"
      elif [ "$1" = http ]; then
        printf '  real_server %s %s {\n    weight 1\n    HTTP_GET {\n      url {\n        path /ka-http\n        status_code 200\n      }\n      connect_timeout 5\n      retry 1\n      delay_before_retry 1\n    }\n  }\n' "$r" "$RP"
      else
        printf '  real_server %s %s {\n    weight 1\n    TCP_CHECK {\n      connect_timeout 5\n    }\n  }\n' "$r" "$RP"
      fi
    done
    echo "}"
  }
}
lvsd_cf() {  # lvsd_cf http|connect|https VIP
  {
    echo "checkinterval=1"
    echo "checktimeout=5"
    echo "negotiatetimeout=5"
    echo "failurecount=1"
    echo "quiescent=no"
    echo "autoreload=no"
    echo "virtual=$2:$VP"
    local port=$RP
    [ "$1" = https ] && port=$SP
    for r in $REALS; do printf '\treal=%s:%s masq 1\n' "$r" "$port"; done
    if [ "$1" = https ]; then
      printf '\tservice=https\n\tchecktype=negotiate\n\trequest="/lvsd-https"\n\treceive="ok"\n'
    elif [ "$1" = http ]; then
      printf '\tservice=http\n\tchecktype=negotiate\n\trequest="/lvsd-http"\n\treceive="ok"\n'
    else
      printf '\tchecktype=connect\n'
    fi
    printf '\tscheduler=wrr\n\tprotocol=tcp\n'
  }
}

# ------------------------------------------------------------ measuring
tree_ticks() {  # "utime+stime utime" (clock ticks) of PID and every descendant
  python3 - "$1" <<'PY'
import os, sys
root = int(sys.argv[1])
parent, ticks = {}, {}
for d in os.listdir("/proc"):
    if not d.isdigit():
        continue
    try:
        with open(f"/proc/{d}/stat") as f:
            s = f.read()
    except OSError:
        continue
    rest = s[s.rindex(")") + 2:].split()
    parent[int(d)] = int(rest[1])
    ticks[int(d)] = (int(rest[11]) + int(rest[12]), int(rest[11]))
total = user = 0
for p, (t, u) in ticks.items():
    q, seen = p, 0
    while q and q != root and seen < 64:
        q, seen = parent.get(q, 0), seen + 1
    if q == root:
        total += t
        user += u
print(total, user)
PY
}
thread_ticks() {  # "tid:name:utime:stime" per thread of PID (clock ticks)
  for t in /proc/"$1"/task/*; do
    awk -v tid="${t##*/}" '{ n = $0; sub(/^[^(]*\(/, "", n); sub(/\).*/, "", n); gsub(/[ :]/, "_", n);
      sub(/^[^)]*\) /, ""); printf "%s:%s:%d:%d\n", tid, n, $12, $13 }' "$t/stat" 2>/dev/null
  done
}
thread_delta() {  # WHO KIND BEFORE AFTER: CPU per thread name over the window
  python3 - "$@" <<'PY'
import sys
who, kind, before, after = sys.argv[1:]
def rows(text):
    r = {}
    for line in text.split():
        tid, name, u, s = line.split(":")
        r[tid] = (name, int(u), int(s))
    return r
b, a = rows(before), rows(after)
per = {}
for tid, (name, u, s) in a.items():
    _, u0, s0 = b.get(tid, (name, 0, 0))
    pu, ps = per.get(name, (0, 0))
    per[name] = (pu + u - u0, ps + s - s0)
print(f"{who:<10} {kind:<7} threads over the window (user/system ticks): "
      + " ".join(f"{n}:{u}/{s}" for n, (u, s) in sorted(per.items())))
PY
}
passive_opens() {  # the namespace's TCP PassiveOpens
  ip netns exec "$NS" awk '$1 == "Tcp:" { if (!h) { for (i = 1; i <= NF; i++) if ($i == "PassiveOpens") c = i; h = 1 } else print $c }' /proc/net/snmp
}
path_count() { grep -c "^$1 " "$W/access.log"; }
reals_in() {  # reals with weight > 0 under VIP:VP in the kernel
  [ "${BENCH_NO_IPVS:-0}" = 1 ] && { echo n/a; return; }
  ip netns exec "$NS" ipvsadm -Ln -t "$1:$VP" 2>/dev/null | awk '$1 == "->" && $4 ~ /^[0-9]+$/ && $4 > 0 { n++ } END { print n + 0 }'
}

# profile WHO KIND (BENCH_PROFILE=1, after the measured window, so it does
# not disturb it): the clocksource (on hpet every clock read is a system
# call), the system calls of the checker's tree over 10 s (strace -c; the
# checks done meanwhile are counted, to get calls per check), its write()s
# over 3 s (a write per check would be a wake-up of another thread) and
# the tail of lvsd's log. No perf: its cpu-clock sampling in the TCG guest
# gave next to no samples.
profile() {
  local tag="$1-$2" pids
  pids=$(pgrep -d, -P "$CHECKER_PID"); pids="$CHECKER_PID${pids:+,$pids}"
  say "profile $tag: clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
  local p0; p0=$(passive_opens)
  timeout -s INT 10 strace -c -f -p "$pids" -o "$OUT/strace-$tag.txt" 2>/dev/null
  say "profile $tag: $(( $(passive_opens) - p0 )) checks under strace (see strace-$tag.txt)"
  timeout -s INT 3 strace -f -e trace=write -p "$pids" -o "$OUT/writes-$tag.txt" 2>/dev/null
  [ -f "$W/lvsd-$2.log" ] && tail -n 200 "$W/lvsd-$2.log" > "$OUT/log-$tag.txt"
}

# phase CHECKER KIND VIP: start the checker, warm up, measure, stop it.
phase() {
  local who=$1 kind=$2 vip=$3 path
  if [ "$who" = keepalived ]; then
    path=/ka-$kind
    ka_conf "$kind" "$vip" > "$W/k.conf"
    ip netns exec "$NS" keepalived -C -n -l -f "$W/k.conf" -p "$W/k.pid" -c "$W/kc.pid" \
      > "$W/keepalived-$kind.log" 2>&1 &
  else
    path=/lvsd-$kind
    lvsd_cf "$kind" "$vip" > "$W/lvsd.cf"
    local bin=$LVSD
    [ "$who" = lvsd-b ] && bin=$LVSD_B
    ip netns exec "$NS" "$bin" --socket "$W/l.sock" --pid-file "$W/l.pid" \
      --log-file "$W/lvsd-$kind.log" --metrics off run "$W/lvsd.cf" > "$W/lvsd-$kind.out" 2>&1 &
  fi
  CHECKER_PID=$!
  sleep "$WARMUP"
  if ! kill -0 "$CHECKER_PID" 2>/dev/null; then
    say "bench: $who ($kind) exited during warm-up"
    for f in "$W/keepalived-$kind.log" "$W/lvsd-$kind.log" "$W/lvsd-$kind.out"; do
      [ -f "$f" ] && tail -20 "$f" >> "$RES"
    done
    CHECKER_PID=; return 1
  fi
  local c0 c1 u0 u1 p0 p1 l0 l1 t0 t1 up th0 th1
  th0=$(thread_ticks "$CHECKER_PID")
  t0=$(date +%s.%N); read -r c0 u0 < <(tree_ticks "$CHECKER_PID"); p0=$(passive_opens); l0=$(path_count "$path")
  sleep "$WINDOW"
  t1=$(date +%s.%N); read -r c1 u1 < <(tree_ticks "$CHECKER_PID"); p1=$(passive_opens); l1=$(path_count "$path")
  th1=$(thread_ticks "$CHECKER_PID")
  thread_delta "$who" "$kind" "$th0" "$th1" | tee -a "$RES"
  up=$(reals_in "$vip")
  [ "${BENCH_PROFILE:-0}" = 1 ] && profile "$who" "$kind"
  kill "$CHECKER_PID"
  for _ in $(seq 100); do kill -0 "$CHECKER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$CHECKER_PID" 2>/dev/null
  wait "$CHECKER_PID" 2>/dev/null
  CHECKER_PID=
  [ "${BENCH_NO_IPVS:-0}" = 1 ] || ip netns exec "$NS" ipvsadm -C
  local checks=$((p1 - p0)) logged=$((l1 - l0))
  [ "$kind" = connect ] || checks=$logged
  awk -v who="$who" -v kind="$kind" -v c=$((c1 - c0)) -v u=$((u1 - u0)) -v hz="$HZ" -v t0="$t0" -v t1="$t1" \
      -v n="$checks" -v opens=$((p1 - p0)) -v logged="$logged" -v up="$up" -v nr="$NREALS" 'BEGIN {
    s = t1 - t0; cpu = c / hz
    printf "%-10s %-7s window=%.1fs checks=%d (%.1f/s) passive_opens=%d logged=%d reals_up=%s/%d cpu=%.2fs (%.1f%% of one core) user=%.2fs us_per_check=%.0f\n",
      who, kind, s, n, n / s, opens, logged, up, nr, cpu, cpu / s * 100, u / hz, (n > 0 ? cpu * 1e6 / n : 0)
  }' | tee -a "$RES"
}

say "bench-checks-vs-keepalived: $NREALS http reals, interval 1 s, warm-up ${WARMUP}s, window ${WINDOW}s, rounds $ROUNDS"
say "kernel $(uname -r), $(nproc) vCPUs, $(keepalived --version 2>&1 | head -1), $(nginx -v 2>&1), lvsd $("$LVSD" --version 2>&1 | head -1)"
say "lvsd binary: $LVSD"
for r in $(seq "$ROUNDS"); do
  for kind in $KINDS; do
    phase keepalived "$kind" 10.40.0.1 || exit 1
    phase lvsd "$kind" 10.40.0.2 || exit 1
    if [ -n "$LVSD_B" ]; then phase lvsd-b "$kind" 10.40.0.3 || exit 1; fi
  done
done
# Per kind: each checker's CPU over all its windows / all its checks, and the ratio.
awk -v kinds="$KINDS" '$3 ~ /^window=/ {
    for (i = 3; i <= NF; i++) {
      split($i, f, "=")
      if (f[1] == "cpu") cpu[$1 " " $2] += f[2] + 0
      if (f[1] == "checks") n[$1 " " $2] += f[2]
    }
  }
  END {
    print ""
    print "| kind | keepalived us/check | lvsd us/check | lvsd / keepalived | goal <= 0.8x |"
    print "|---|---|---|---|---|"
    nk = split(kinds, ks, " ")
    for (j = 1; j <= nk; j++) {
      k = ks[j]; a = cpu["keepalived " k] * 1e6 / n["keepalived " k]; b = cpu["lvsd " k] * 1e6 / n["lvsd " k]
      # issue 15 sets the 0.8x goal for http and connect checks only
      g = (k == "https") ? "no goal" : (b / a <= 0.8 ? "met" : "NOT met")
      printf "| %s | %.0f | %.0f | %.2fx | %s |\n", k, a, b, b / a, g
      if (n["lvsd-b " k] > 0) {
        c = cpu["lvsd-b " k] * 1e6 / n["lvsd-b " k]
        printf "| %s (lvsd-b) | %.0f | %.0f | %.2fx | %s |\n", k, a, c, c / a, (c / a <= 0.8 ? "met" : "NOT met")
      }
    }
  }' "$RES" | tee -a "$RES.table"
cat "$RES.table" >> "$RES"; rm -f "$RES.table"
say "bench: done"
