#!/usr/bin/env python3
"""Traffic tools for tests/vm/50-scale-out.sh (runs inside the test VM).

  server NAME PORT[,PORT...] [--health PORT,...] [--drop-on-usr1 PORT]
      Line echo server for a real: answers each line with "NAME LINE", so a
      client sees which real serves its flow. Health ports accept and close;
      SIGUSR1 closes the --drop-on-usr1 listener (a health check that fails
      on the directors that use that port, and only there).
  client --vips A:P,B:Q --events FILE --stop FILE [--conns 200]
         [--interval 0.1] [--new-every 0.01]
      Holds --conns long-lived connections spread over the VIPs, each
      sending a line every --interval and checking the answer's real name;
      opens one short connection every --new-every. Writes one line per
      event to --events ("TS kind vip detail"): broken (reset, EOF, error:
      an established connection lost), moved (answer from another real),
      newfail (short connection refused, reset or unanswered in 5 s), stall
      (no answer for 3 s; not a failure by itself) and, once a second,
      "stat" lines. Ends when --stop exists; then a connection still
      unanswered after 20 s counts as broken.
  watch VIP... --out FILE
      Runs `ip -o monitor route` and writes "TS line" for each line naming a
      VIP (the router's route set changing).
  report --phases FILE --events FILE --routes FILE
      One row per phase: route change time, broken, newfail, moved, new ok.

Every loop is bounded by the stop file or a deadline; sockets are
non-blocking and capped in number.
"""
import asyncio
import os
import selectors
import signal
import socket
import subprocess
import sys
import time

STALL = 3.0
NEW_TIMEOUT = 5.0
BROKEN_AFTER = 20.0
MAX_SHORT = 400
MAX_LINE = 4096


def opt(args, name, default=None):
    if name in args:
        i = args.index(name)
        return args[i + 1]
    return default


# ------------------------------------------------------------------ server
def server(args):
    name, ports = args[0], [int(p) for p in args[1].split(",")]
    health = [int(p) for p in (opt(args, "--health", "") or "").split(",") if p]
    drop = opt(args, "--drop-on-usr1")
    drop = int(drop) if drop else None

    async def echo(reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line or len(line) > MAX_LINE:
                    break
                writer.write(name.encode() + b" " + line)
                await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()

    async def hello(reader, writer):
        writer.close()

    async def main():
        servers = {}
        for p in ports:
            servers[p] = await asyncio.start_server(echo, "0.0.0.0", p, backlog=1024)
        for p in health:
            servers[p] = await asyncio.start_server(hello, "0.0.0.0", p)
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        if drop is not None:
            loop.add_signal_handler(signal.SIGUSR1, lambda: servers[drop].close())
        loop.add_signal_handler(signal.SIGTERM, lambda: done.done() or done.set_result(0))
        await done

    asyncio.run(main())


# ------------------------------------------------------------------ client
class Long:
    __slots__ = ("idx", "sock", "vip", "real", "buf", "due", "sent", "waiting", "stalled", "seq", "up")


def client(args):
    vips = []
    for v in opt(args, "--vips").split(","):
        h, p = v.rsplit(":", 1)
        vips.append((h, int(p)))
    events = open(opt(args, "--events"), "w", buffering=1)
    stop = opt(args, "--stop")
    nconns = int(opt(args, "--conns", "200"))
    interval = float(opt(args, "--interval", "0.1"))
    new_every = float(opt(args, "--new-every", "0.01"))
    deadline = time.time() + float(opt(args, "--max-seconds", "1200"))
    sel = selectors.DefaultSelector()
    counts = {"new_ok": 0, "newfail": 0, "broken": 0, "moved": 0, "msgs": 0}

    def ev(kind, vip, detail=""):
        events.write(f"{time.time():.3f} {kind} {vip[0]}:{vip[1]} {detail}\n")
        if kind in counts:
            counts[kind] += 1

    def open_long(i):
        c = Long()
        c.idx = i
        c.vip = vips[i % len(vips)]
        c.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.sock.setblocking(False)
        c.sock.connect_ex(c.vip)
        c.real, c.buf, c.waiting, c.stalled, c.seq, c.up = None, b"", False, False, 0, False
        c.due = time.time() + (i % 10) * interval / 10
        c.sent = time.time()
        sel.register(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, ("long", c))
        return c

    pending = []  # (when, idx): long connections to open again

    def drop_long(c, why):
        if c not in longs:
            return  # already dropped earlier in this select batch
        # Only an established connection can be broken; a long connection
        # that never came up is a failed new connection.
        ev("broken" if c.up else "newfail", c.vip, why)
        try:
            sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()
        longs.remove(c)
        # Replace it, not at once: a refusing VIP must not become a busy loop.
        pending.append((time.time() + 0.5, c.idx))

    shorts = {}

    def open_short(vip):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(vip)
        shorts[s] = (vip, time.time(), b"")
        sel.register(s, selectors.EVENT_WRITE, ("short", s))

    def end_short(s, ok, why=""):
        vip = shorts.pop(s)[0]
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()
        if ok:
            counts["new_ok"] += 1
        else:
            ev("newfail", vip, why)

    longs = []
    for i in range(nconns):
        longs.append(open_long(i))
    next_new = time.time() + 1.0
    next_stat = time.time() + 1.0
    nv = 0
    stopping = None
    while True:
        now = time.time()
        if stopping is None and (os.path.exists(stop) or now > deadline):
            stopping = now
        if stopping is not None:
            # Give every connection one last round trip, then judge.
            if all(not c.waiting for c in longs) or now - stopping > 5:
                break
        if stopping is None and now >= next_new and len(shorts) < MAX_SHORT:
            open_short(vips[nv % len(vips)])
            nv += 1
            next_new = max(next_new + new_every, now - 1.0)
        while pending and pending[0][0] <= now and stopping is None:
            longs.append(open_long(pending.pop(0)[1]))
        for c in list(longs):
            if c.up and not c.waiting and now >= c.due and stopping is None:
                c.seq += 1
                try:
                    c.sock.send(b"%d\n" % c.seq)
                    c.waiting, c.sent, c.stalled = True, now, False
                    c.due = now + interval
                except BlockingIOError:
                    c.due = now + interval
                except OSError as e:
                    drop_long(c, f"send:{e.errno}")
            elif c.waiting and not c.stalled and now - c.sent > STALL:
                c.stalled = True
                ev("stall", c.vip, f"real={c.real}")
        for s, (vip, t0, _) in list(shorts.items()):
            if now - t0 > NEW_TIMEOUT:
                end_short(s, False, "timeout")
        if now >= next_stat:
            ev("stat", ("-", 0), " ".join(f"{k}={v}" for k, v in counts.items()))
            next_stat += 1.0
        for key, mask in sel.select(timeout=0.01):
            kind, obj = key.data
            if kind == "long":
                c = obj
                if not c.up:
                    err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        drop_long(c, f"connect:{err}")
                        continue
                    c.up = True
                    sel.modify(c.sock, selectors.EVENT_READ, key.data)
                    continue
                try:
                    data = c.sock.recv(MAX_LINE)
                except BlockingIOError:
                    continue
                except OSError as e:
                    drop_long(c, f"recv:{e.errno}")
                    continue
                if not data:
                    drop_long(c, "eof")
                    continue
                c.buf += data
                while b"\n" in c.buf:
                    line, c.buf = c.buf.split(b"\n", 1)
                    real = line.split(b" ", 1)[0].decode(errors="replace")[:32]
                    counts["msgs"] += 1
                    if c.real is None:
                        c.real = real
                    elif real != c.real:
                        ev("moved", c.vip, f"{c.real}->{real}")
                        c.real = real
                    c.waiting = False
                if len(c.buf) > MAX_LINE:
                    drop_long(c, "garbage")
            else:
                s = obj
                vip, t0, buf = shorts[s]
                if mask & selectors.EVENT_WRITE:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        end_short(s, False, f"connect:{err}")
                        continue
                    try:
                        s.send(b"hi\n")
                    except OSError as e:
                        end_short(s, False, f"send:{e.errno}")
                        continue
                    sel.modify(s, selectors.EVENT_READ, key.data)
                    continue
                try:
                    data = s.recv(MAX_LINE)
                except BlockingIOError:
                    continue
                except OSError as e:
                    end_short(s, False, f"recv:{e.errno}")
                    continue
                if not data:
                    end_short(s, False, "eof")
                elif b"\n" in buf + data:
                    end_short(s, True)
                else:
                    shorts[s] = (vip, t0, (buf + data)[:MAX_LINE])
    now = time.time()
    for c in longs:
        if c.waiting and now - c.sent > BROKEN_AFTER:
            ev("broken", c.vip, "no answer at the end")
    ev("stat", ("-", 0), " ".join(f"{k}={v}" for k, v in counts.items()))
    reals = {}
    for c in longs:
        reals[c.real] = reals.get(c.real, 0) + 1
    ev("reals", ("-", 0), " ".join(f"{k}={v}" for k, v in sorted(reals.items(), key=str)))
    events.close()


# ------------------------------------------------------------------ watch
def watch(args):
    out = open(opt(args, "--out"), "w", buffering=1)
    vips = [a for a in args if not a.startswith("--") and a != opt(args, "--out")]
    p = subprocess.Popen(["ip", "-o", "monitor", "route"], stdout=subprocess.PIPE, text=True)
    signal.signal(signal.SIGTERM, lambda *_: (p.kill(), sys.exit(0)))
    for line in p.stdout:
        if any(v + " " in line or v + "/" in line for v in vips):
            out.write(f"{time.time():.3f} {line.strip()[:400]}\n")


# ------------------------------------------------------------------ report
def report(args):
    phases = [l.split(None, 2) for l in open(opt(args, "--phases")) if l.strip()]
    phases = [(float(p[0]), p[1], p[2].strip() if len(p) > 2 else "") for p in phases]
    evs = [l.split(None, 3) for l in open(opt(args, "--events")) if l.strip()]
    routes = [l.split(None, 1) for l in open(opt(args, "--routes")) if l.strip()]
    # A phase line: "TS name vip": vip whose route change is timed ("-" none).
    print(f"{'phase':<28} {'route change s':>14} {'broken':>7} {'newfail':>8} {'moved':>6} {'stalls':>7}")
    total_broken = 0
    for i, (t0, name, vip) in enumerate(phases):
        t1 = phases[i + 1][0] if i + 1 < len(phases) else float("inf")
        sel = [e for e in evs if t0 <= float(e[0]) < t1]
        n = {k: sum(1 for e in sel if e[1] == k) for k in ("broken", "newfail", "moved", "stall")}
        total_broken += n["broken"]
        rc = "-"
        if vip and vip != "-":
            hits = [float(r[0]) for r in routes if t0 <= float(r[0]) < t1 and vip in r[1]]
            rc = f"{hits[0] - t0:.2f}" if hits else "none"
        print(f"{name:<28} {rc:>14} {n['broken']:>7} {n['newfail']:>8} {n['moved']:>6} {n['stall']:>7}")
    for e in evs[-2:]:
        print(" ".join(e[1:]))
    shown = [e for e in evs if e[1] in ("broken", "newfail", "moved")]
    for e in shown[:40]:
        print("event:", " ".join(e))
    return 1 if total_broken else 0


if __name__ == "__main__":
    cmd, rest = sys.argv[1], sys.argv[2:]
    sys.exit({"server": server, "client": client, "watch": watch, "report": report}[cmd](rest) or 0)
