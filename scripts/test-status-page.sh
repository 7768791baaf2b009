#!/usr/bin/env bash
# Status-page test: a real lvsd daemon (in-memory IPVS table via the
# LVSD_TEST_FAKE_KERNEL=1 test hook, because this host has no IPVS) checks
# two real servers on loopback; headless Chromium shows the page; one real
# server is killed and the page must show it down within one refresh,
# without reloading. Saves target/artifacts/status-page.png.
# Installs chromium, python3-websocket and curl if absent (Debian).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
/usr/bin/python3 -c 'import websocket' >/dev/null 2>&1 || need+=(python3-websocket)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  echo "test-status-page: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

cargo build -q --bin lvsd
LVSD=${LVSD:-$REPO/target/debug/lvsd}
mkdir -p target/artifacts
SHOT=$REPO/target/artifacts/status-page.png
rm -f "$SHOT"

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  # chromium's helper processes (zygote, renderer) outlive its main one
  # for a moment; stop them (bounded) before their files are removed
  for _ in $(seq 50); do
    pkill -f -- "--user-data-dir=$tmp/chrome" 2>/dev/null || break
    sleep 0.1
  done
  rm -rf "$tmp" 2>/dev/null || { sleep 0.5; rm -rf "$tmp"; }
}
trap cleanup EXIT

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
RPORT=$(free_port)
MPORT=$(free_port)
REFRESH_MS=1000

cat >"$tmp/ldirectord.cf" <<EOF
# written by scripts/test-status-page.sh
checktimeout=1
checkinterval=1
quiescent=no
virtual=127.0.0.1:8080
	real=127.0.0.2:$RPORT gate 1
	real=127.0.0.3:$RPORT gate 2
	service=http
	checktype=connect
	scheduler=wrr
	protocol=tcp
EOF

mkdir -p "$tmp/www"
/usr/bin/python3 -m http.server --bind 127.0.0.2 --directory "$tmp/www" "$RPORT" >/dev/null 2>&1 &
RS1=$!; pids+=("$RS1")
/usr/bin/python3 -m http.server --bind 127.0.0.3 --directory "$tmp/www" "$RPORT" >/dev/null 2>&1 &
pids+=("$!")

LVSD_TEST_FAKE_KERNEL=1 "$LVSD" --socket "$tmp/lvsd.sock" --pid-file "$tmp/lvsd.pid" \
  --metrics "127.0.0.1:$MPORT" run "$tmp/ldirectord.cf" >"$tmp/lvsd.log" 2>&1 &
pids+=("$!")
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$MPORT/status.json" >/dev/null 2>&1 && break
  sleep 0.2
done
# Read the page whole first: `curl | grep -q` under pipefail fails when grep
# stops reading early and curl gets SIGPIPE.
page=$(curl -sf "http://127.0.0.1:$MPORT/" || true)
if ! grep -q 'status.json' <<<"$page"; then
  echo "test-status-page: FAIL: daemon does not serve the page"; cat "$tmp/lvsd.log"; exit 1
fi

# TMPDIR: chromium keeps its singleton socket in a directory of its own
# there (org.chromium.Chromium.*) and leaves it behind when killed.
TMPDIR="$tmp" chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --disable-extensions \
  --user-data-dir="$tmp/chrome" --remote-debugging-address=127.0.0.1 --remote-debugging-port=0 \
  about:blank >"$tmp/chrome.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do
  [ -s "$tmp/chrome/DevToolsActivePort" ] && break
  sleep 0.2
done
if [ ! -s "$tmp/chrome/DevToolsActivePort" ]; then
  echo "test-status-page: FAIL: chromium did not start"; cat "$tmp/chrome.log"; exit 1
fi
CPORT=$(head -1 "$tmp/chrome/DevToolsActivePort")
WS=""
for _ in $(seq 50); do
  WS=$(curl -sf "http://127.0.0.1:$CPORT/json/list" | /usr/bin/python3 -c \
    'import json,sys; print(next((t["webSocketDebuggerUrl"] for t in json.load(sys.stdin) if t["type"]=="page"), ""))' || true)
  [ -n "$WS" ] && break
  sleep 0.2
done
[ -n "$WS" ] || { echo "test-status-page: FAIL: no page target in chromium"; exit 1; }

rc=0
/usr/bin/python3 tests/ops/status_page_cdp.py "$WS" "http://127.0.0.1:$MPORT/?refresh=$REFRESH_MS" \
  "$RS1" "127.0.0.2:$RPORT" "$SHOT" "$REFRESH_MS" || rc=$?
if [ $rc -ne 0 ]; then
  echo "--- lvsd log"; tail -30 "$tmp/lvsd.log"
fi
[ -f "$SHOT" ] && echo "test-status-page: artifact $SHOT"
exit $rc
