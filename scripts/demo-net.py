#!/usr/bin/env python3
"""Traffic helpers for the demo (scripts/demo-guest.sh), run inside the guest.

  demo-net.py server NAME PORT DOWNFILE   HTTP real server; /health says OK
                                          unless DOWNFILE exists (then 503)
  demo-net.py client URL LOG              steady traffic until killed:
                                          a new connection every 100 ms plus one
                                          kept-alive connection (a request every
                                          200 ms); one line per request in LOG
  demo-net.py stats LOG FROM [TO]         summary of LOG between two epochs
  demo-net.py page HOST:PORT              lvsd's status.json, in short
"""
import http.client
import http.server
import os
import sys
import threading
import time


def server(name, port, downfile):
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            if self.path.startswith("/health"):
                ok = not os.path.exists(downfile)
                body = b"OK\n" if ok else b"FAILING\n"
                self.send_response(200 if ok else 503)
                self.send_header("Connection", "close")
                self.close_connection = True
            else:
                body = f"served by {name}\n".encode()
                self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    http.server.ThreadingHTTPServer.daemon_threads = True
    http.server.ThreadingHTTPServer(("0.0.0.0", int(port)), H).serve_forever()


def client(url, log):
    host = url.split("//", 1)[1].split("/", 1)[0]
    h, _, p = host.partition(":")
    port = int(p or 80)
    out = open(log, "a", buffering=1)
    lock = threading.Lock()

    def rec(kind, ok, what):
        with lock:
            out.write(f"{time.time():.3f} {kind} {'ok' if ok else 'fail'} {what}\n")

    def fresh():
        while True:
            t = time.time()
            try:
                c = http.client.HTTPConnection(h, port, timeout=2.0)
                c.request("GET", "/", headers={"Connection": "close"})
                body = c.getresponse().read().decode().strip()
                c.close()
                rec("new", True, body.rsplit(" ", 1)[-1])
            except Exception as e:  # any failure is what we count
                rec("new", False, type(e).__name__)
            time.sleep(max(0.0, 0.1 - (time.time() - t)))

    def kept():
        c = None
        while True:
            t = time.time()
            try:
                if c is None:
                    c = http.client.HTTPConnection(h, port, timeout=2.0)
                c.request("GET", "/")
                body = c.getresponse().read().decode().strip()
                rec("kept", True, body.rsplit(" ", 1)[-1])
            except Exception as e:
                rec("kept", False, type(e).__name__)
                try:
                    c.close()
                except Exception:
                    pass
                c = None
            time.sleep(max(0.0, 0.2 - (time.time() - t)))

    threading.Thread(target=kept, daemon=True).start()
    fresh()


def stats(log, t_from, t_to=None):
    t_from = float(t_from)
    t_to = float(t_to) if t_to else float("inf")
    rows = []
    with open(log) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 4 and t_from <= float(parts[0]) <= t_to:
                rows.append((float(parts[0]), parts[1], parts[2] == "ok", parts[3]))
    for kind in ("new", "kept"):
        r = [x for x in rows if x[1] == kind]
        ok = sum(1 for x in r if x[2])
        bad = len(r) - ok
        reals = {}
        for x in r:
            if x[2]:
                reals[x[3]] = reals.get(x[3], 0) + 1
        spread = ", ".join(f"{k} {v}" for k, v in sorted(reals.items()))
        # Longest stretch without a successful request: what a user feels.
        gap, last = 0.0, t_from
        for x in r:
            if x[2]:
                gap = max(gap, x[0] - last)
                last = x[0]
        if r:  # failures up to the end of the window count too
            gap = max(gap, r[-1][0] - last)
        label = "new connections " if kind == "new" else "kept-alive conn."
        print(f"{label}: {len(r):4d} requests, {bad:3d} failed, longest gap {gap:.2f}s  [{spread}]")
        if kind == "kept":
            switched = sorted({x[3] for x in r if x[2]})
            print(f"KEPT_REALS={','.join(switched)}")
        print(f"{kind.upper()}_FAILED={bad}")
        print(f"{kind.upper()}_GAP={gap:.2f}")


def page(hostport):
    import json
    import urllib.request

    d = json.load(urllib.request.urlopen(f"http://{hostport}/status.json", timeout=10))
    h = d.get("ha")
    if h:
        print(f"pair: node {h['node']} role {h['role']}, peer {h['peer']} alive={h['peer_alive']}, transitions {h['transitions']}")
    for v in d["virtuals"]:
        for r in v["reals"]:
            k = r["kernel"] or {}
            print(f"{v['key']} -> {r['addr']}: {r['health']}, weight {k.get('weight', '-')}, active {k.get('active', '-')}")
    for e in d["events"][:6]:
        print("event:", e["text"])


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"server": server, "client": client, "stats": stats, "page": page}[cmd](*args)
