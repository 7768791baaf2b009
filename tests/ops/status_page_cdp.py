#!/usr/bin/python3
"""Drive the lvsd status page in headless Chromium over the DevTools protocol.

Usage: status_page_cdp.py DEVTOOLS_WS_URL PAGE_URL KILL_PID REAL SCREENSHOT REFRESH_MS

Loads PAGE_URL, waits until every real is shown "up", kills KILL_PID (the
process serving REAL), then measures how long after the daemon reports the
real down the page shows it, without a page reload. Fails (exit 1) when the
page lags by more than one refresh (plus scheduling slack), saves a
screenshot either way. Every wait is bounded.
"""
import base64
import json
import os
import signal
import sys
import time
import urllib.request

import websocket  # Debian: python3-websocket

ws_url, page_url, kill_pid, real, shot, refresh_ms = sys.argv[1:7]
refresh = int(refresh_ms) / 1000.0
json_url = page_url.split("?")[0].rstrip("/") + "/status.json"

ws = websocket.create_connection(ws_url, timeout=30)
next_id = [0]


def cdp(method, **params):
    next_id[0] += 1
    mid = next_id[0]
    ws.send(json.dumps({"id": mid, "method": method, "params": params}))
    deadline = time.time() + 30
    while time.time() < deadline:
        msg = json.loads(ws.recv())
        if msg.get("id") == mid:
            if "error" in msg:
                raise RuntimeError(f"{method}: {msg['error']}")
            return msg.get("result", {})
    raise RuntimeError(f"{method}: no answer")


def js(expr):
    r = cdp("Runtime.evaluate", expression=expr, returnByValue=True)
    return r.get("result", {}).get("value")


def page_health():
    return js(
        "JSON.stringify(Array.from(document.querySelectorAll('tr[data-real]'))"
        ".map(function(t){return [t.dataset.real, t.dataset.health]}))"
    )


def daemon_health():
    with urllib.request.urlopen(json_url, timeout=5) as r:
        d = json.load(r)
    return {r["addr"]: r["health"] for v in d["virtuals"] for r in v["reals"]}


def screenshot():
    data = cdp("Page.captureScreenshot", format="png")["data"]
    with open(shot, "wb") as f:
        f.write(base64.b64decode(data))
    print(f"status-page: screenshot saved to {shot}")


def fail(msg):
    print(f"status-page: FAIL: {msg}")
    try:
        screenshot()
    finally:
        sys.exit(1)


cdp("Page.enable")
cdp("Emulation.setDeviceMetricsOverride", width=1200, height=800, deviceScaleFactor=1, mobile=False)
cdp("Page.navigate", url=page_url)

# 1. Every real shown up (the first checks need a few seconds).
deadline = time.time() + 30
rows = None
while time.time() < deadline:
    try:
        rows = json.loads(page_health() or "[]")
    except Exception:
        rows = []
    if rows and all(h == "up" for _, h in rows):
        break
    time.sleep(0.2)
else:
    fail(f"reals never all shown up: {rows}")
print(f"status-page: page shows {len(rows)} reals up")
if real not in dict(rows):
    fail(f"{real} not on the page: {rows}")
js("window.__lvsdTestMark = 'same-document'")
refreshes_before = int(js("document.body.dataset.refreshes") or 0)

# 2. Kill the real server; wait for the daemon, then for the page.
os.kill(int(kill_pid), signal.SIGTERM)
t_kill = time.time()
deadline = t_kill + 30
while time.time() < deadline:
    if daemon_health().get(real) == "down":
        break
    time.sleep(0.05)
else:
    fail(f"daemon never reported {real} down")
t_daemon = time.time()
while time.time() < t_daemon + 10:
    if dict(json.loads(page_health() or "[]")).get(real) == "down":
        break
    time.sleep(0.05)
else:
    fail(f"page never showed {real} down")
t_page = time.time()
lag = t_page - t_daemon
print(
    f"status-page: daemon saw {real} down {t_daemon - t_kill:.2f}s after the kill; "
    f"page showed it {lag:.2f}s later (refresh {refresh:.1f}s)"
)
if js("window.__lvsdTestMark") != "same-document":
    fail("the page reloaded itself instead of updating in place")
if int(js("document.body.dataset.refreshes") or 0) <= refreshes_before:
    fail("refresh counter did not move")
# One refresh interval plus slack for a shared, loaded machine.
if lag > refresh + 1.0:
    fail(f"page lagged {lag:.2f}s, more than one refresh ({refresh:.1f}s)")
events = js("document.getElementById('events').textContent") or ""
if real not in events:
    fail(f"event list does not mention {real}: {events!r}")
reason = js(f"(document.querySelector('tr[data-real=\"{real}\"] .reason')||{{}}).textContent") or ""
if not reason:
    fail("no failure reason shown for the down real")
print(f"status-page: reason shown: {reason}")
screenshot()
print("status-page: ok")
