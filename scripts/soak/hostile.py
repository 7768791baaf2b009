#!/usr/bin/env python3
"""Hostile real servers and status-page clients for scripts/soak-daemon.sh.

Two sub-commands, each one asyncio process (cheap in CPU: every stream is
rate-limited, and everything ends when the process gets SIGTERM or its
--duration runs out):

  serve --stats FILE MODE@HOST:PORT ...
      real servers on loopback. Modes:
        healthy   answers GET with "200 OK" and body "OK" (connect checks:
                  accepts and closes); must never be removed by lvsd
        slowloris status line, then one header byte per second, forever
        endless   200 OK, no length, an endless body of 'x' (read to close)
        chunked   200 OK chunked, 1-byte chunks with 1000-byte chunk
                  extensions, at SOAK_CHUNK_RATE (48 MiB/s)
        hugehdr   200 OK, then header lines forever (8 KiB each)
        flap      healthy, but the listener (and its connections) die for
                  FLAP seconds every FLAP seconds (its removals are expected)
        silent    accepts, reads, never answers (pgsql-like hang)
        pgbig     reads the pgsql startup packet, answers a message header
                  claiming 2 GiB, then streams zeros at SOAK_CHUNK_RATE
        pghang    accepts the pgsql login, never answers the query
        pghealthy a minimal PostgreSQL: login without password, any simple
                  query returns one row
      The stats file (JSON, rewritten every 2 s) holds per listener the
      connections open now, the most open at once and the total accepted:
      a check that leaks its connections shows there.

  clients --host H --port P --idle N --slow M --stats FILE
      against lvsd's status/metrics listener: N idle connections that send
      nothing, M slowloris clients (a request header byte per second), each
      re-opened one second after the server closes it, and a poller that
      GETs /status.json, /metrics and / once a second.
"""

import argparse
import asyncio
import json
import os
import signal
import struct
import sys
import time

RATE = int(os.environ.get("SOAK_RATE", str(2 * 1024 * 1024)))  # bytes/s per stream
CHUNK_RATE = int(os.environ.get("SOAK_CHUNK_RATE", str(48 * 1024 * 1024)))
FLAP = float(os.environ.get("SOAK_FLAP", "15"))
HEALTHY_BODY = b"OK\n"


class Counter:
    def __init__(self, name):
        self.name = name
        self.open = 0
        self.peak = 0
        self.accepted = 0

    def enter(self):
        self.open += 1
        self.accepted += 1
        self.peak = max(self.peak, self.open)

    def leave(self):
        self.open -= 1

    def json(self):
        return {"open": self.open, "peak": self.peak, "accepted": self.accepted}


async def read_head(reader, limit=16384, timeout=5.0):
    """Read a request head (up to a blank line), bounded in size and time."""
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in buf and len(buf) < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            chunk = await asyncio.wait_for(reader.read(4096), left)
        except asyncio.TimeoutError:
            break
        if not chunk:
            break
        buf += chunk
    return buf


async def paced(writer, piece, seconds_each):
    """Write `piece` again and again, one per `seconds_each`, until the peer goes."""
    while True:
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(seconds_each)


def pace_for(n):
    return max(n / RATE, 0.001)


async def h_healthy(reader, writer):
    head = await read_head(reader)
    if head:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (len(HEALTHY_BODY), HEALTHY_BODY)
        )
        await writer.drain()


async def h_slowloris(reader, writer):
    await read_head(reader, timeout=1.0)
    writer.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    await paced(writer, b"a", 1.0)


async def h_endless(reader, writer):
    await read_head(reader, timeout=1.0)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
    piece = b"x" * 65536
    await paced(writer, piece, pace_for(len(piece)))


async def h_chunked(reader, writer):
    await read_head(reader, timeout=1.0)
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    # Each chunk-size line stays under the 1 KiB a check may allow for one,
    # so only a check that bounds the bytes it reads (not just the decoded
    # body) stops this stream; faster than the others so that a check which
    # keeps it all shows in the peak RSS.
    one = b"1;ext=" + b"e" * 1000 + b"\r\na\r\n"
    piece = one * 256
    await paced(writer, piece, max(len(piece) / CHUNK_RATE, 0.001))


async def h_hugehdr(reader, writer):
    await read_head(reader, timeout=1.0)
    writer.write(b"HTTP/1.1 200 OK\r\n")
    piece = b"X-Big: " + b"h" * 8192 + b"\r\n"
    await paced(writer, piece, pace_for(len(piece)))


async def h_silent(reader, writer):
    # Read and drop until the client goes; never answer.
    while await reader.read(4096):
        pass


def pg_msg(kind, body):
    return kind + struct.pack("!I", len(body) + 4) + body


async def pg_startup(reader):
    """Read the startup packet; False if it is not one."""
    try:
        n = struct.unpack("!I", await reader.readexactly(4))[0]
        if not 8 <= n <= 10000:
            return False
        await reader.readexactly(n - 4)
        return True
    except (asyncio.IncompleteReadError, struct.error):
        return False


PG_READY = pg_msg(b"Z", b"I")
PG_LOGIN = pg_msg(b"R", struct.pack("!I", 0)) + PG_READY


async def h_pghealthy(reader, writer):
    if not await pg_startup(reader):
        return
    writer.write(PG_LOGIN)
    await writer.drain()
    while True:
        try:
            kind = await reader.readexactly(1)
            n = struct.unpack("!I", await reader.readexactly(4))[0]
            if not 4 <= n <= 65536:
                return
            await reader.readexactly(n - 4)
        except asyncio.IncompleteReadError:
            return
        if kind != b"Q":
            return
        field = b"c\0" + struct.pack("!IhIhih", 0, 0, 25, -1, -1, 0)
        writer.write(
            pg_msg(b"T", struct.pack("!h", 1) + field)
            + pg_msg(b"D", struct.pack("!hI", 1, 1) + b"1")
            + pg_msg(b"C", b"SELECT 1\0")
            + PG_READY
        )
        await writer.drain()


async def h_pghang(reader, writer):
    # Accepts the login, then never answers the query.
    if not await pg_startup(reader):
        return
    writer.write(PG_LOGIN)
    await writer.drain()
    while await reader.read(4096):
        pass


async def h_pgbig(reader, writer):
    try:
        n = struct.unpack("!I", await reader.readexactly(4))[0]
        if 8 <= n <= 10000:
            await reader.readexactly(n - 4)
    except (asyncio.IncompleteReadError, struct.error):
        return
    # An authentication message claiming 2 GiB, then a byte per second.
    writer.write(b"R" + struct.pack("!I", 0x7FFFFFF0))
    piece = b"\0" * 262144
    await paced(writer, piece, max(len(piece) / CHUNK_RATE, 0.001))


HANDLERS = {
    "healthy": h_healthy,
    "flap": h_healthy,
    "slowloris": h_slowloris,
    "endless": h_endless,
    "chunked": h_chunked,
    "hugehdr": h_hugehdr,
    "silent": h_silent,
    "pgbig": h_pgbig,
    "pghealthy": h_pghealthy,
    "pghang": h_pghang,
}


def make_handler(mode, counter, live):
    handler = HANDLERS[mode]

    async def run(reader, writer):
        counter.enter()
        task = asyncio.current_task()
        live.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            live.discard(task)
            counter.leave()
            try:
                writer.close()
            except Exception:
                pass

    return run


async def flapper(host, port, handler, live, index):
    """Serve FLAP seconds, die (listener and connections) FLAP seconds, repeat.
    `index` shifts the phase so two flapping servers do not move together."""
    await asyncio.sleep((index % 2) * FLAP / 2)
    while True:
        server = await asyncio.start_server(handler, host, port, reuse_address=True)
        await asyncio.sleep(FLAP)
        server.close()
        for t in list(live):
            t.cancel()
        await server.wait_closed()
        await asyncio.sleep(FLAP)


async def serve(args):
    counters = {}
    tasks = []
    servers = []
    for i, spec in enumerate(args.spec):
        mode, _, hp = spec.partition("@")
        host, _, port = hp.rpartition(":")
        if mode not in HANDLERS:
            sys.exit(f"hostile.py: unknown mode {mode!r}")
        c = counters.setdefault(f"{mode}@{hp}", Counter(mode))
        live = set()
        h = make_handler(mode, c, live)
        if mode == "flap":
            tasks.append(asyncio.create_task(flapper(host, int(port), h, live, i)))
        else:
            servers.append(await asyncio.start_server(h, host, int(port), reuse_address=True))

    async def write_stats():
        while True:
            tmp = args.stats + ".tmp"
            with open(tmp, "w") as f:
                json.dump({k: c.json() for k, c in counters.items()}, f)
            os.replace(tmp, args.stats)
            await asyncio.sleep(2)

    tasks.append(asyncio.create_task(write_stats()))
    await asyncio.sleep(args.duration)


async def http_get(host, port, path, timeout=3.0, cap=8 << 20):
    r, w = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        w.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
        )
        await w.drain()
        data = b""
        deadline = time.monotonic() + timeout
        while len(data) < cap:
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError()
            chunk = await asyncio.wait_for(r.read(65536), left)
            if not chunk:
                break
            data += chunk
        return data.startswith(b"HTTP/1.1 200")
    finally:
        w.close()


async def clients(args):
    st = {
        "idle_open": 0,
        "idle_closed_by_server": 0,
        "idle_connect_failed": 0,
        "slow_open": 0,
        "slow_closed_by_server": 0,
        "slow_connect_failed": 0,
        "poll_ok": 0,
        "poll_failed": 0,
        "poll_max_ms": 0,
    }

    async def idle_one():
        while True:
            try:
                r, w = await asyncio.wait_for(
                    asyncio.open_connection(args.host, args.port), 5
                )
            except (OSError, asyncio.TimeoutError):
                st["idle_connect_failed"] += 1
                await asyncio.sleep(1)
                continue
            st["idle_open"] += 1
            try:
                while await r.read(4096):
                    pass
            except OSError:
                pass
            st["idle_open"] -= 1
            st["idle_closed_by_server"] += 1
            w.close()
            await asyncio.sleep(1)

    async def slow_one():
        req = f"GET / HTTP/1.1\r\nHost: {args.host}:{args.port}\r\nX-Slow: ".encode()
        while True:
            try:
                r, w = await asyncio.wait_for(
                    asyncio.open_connection(args.host, args.port), 5
                )
            except (OSError, asyncio.TimeoutError):
                st["slow_connect_failed"] += 1
                await asyncio.sleep(1)
                continue
            st["slow_open"] += 1
            try:
                w.write(req)
                await w.drain()
                while True:
                    # One byte a second; a read that returns means the
                    # server answered (an error page) or closed.
                    try:
                        data = await asyncio.wait_for(r.read(4096), 1.0)
                        if not data:
                            break
                    except asyncio.TimeoutError:
                        w.write(b"a")
                        await w.drain()
            except OSError:
                pass
            st["slow_open"] -= 1
            st["slow_closed_by_server"] += 1
            w.close()
            await asyncio.sleep(1)

    async def poller():
        while True:
            for path in ("/status.json", "/metrics", "/"):
                t0 = time.monotonic()
                try:
                    ok = await http_get(args.host, args.port, path)
                except (OSError, asyncio.TimeoutError):
                    ok = False
                st["poll_ok" if ok else "poll_failed"] += 1
                st["poll_max_ms"] = max(st["poll_max_ms"], int((time.monotonic() - t0) * 1000))
            await asyncio.sleep(1)

    async def write_stats():
        while True:
            tmp = args.stats + ".tmp"
            with open(tmp, "w") as f:
                json.dump(st, f)
            os.replace(tmp, args.stats)
            await asyncio.sleep(2)

    tasks = [asyncio.create_task(write_stats()), asyncio.create_task(poller())]
    for i in range(args.idle):
        tasks.append(asyncio.create_task(idle_one()))
        if i % 50 == 49:
            await asyncio.sleep(0.05)  # a ramp, not a SYN flood
    for _ in range(args.slow):
        tasks.append(asyncio.create_task(slow_one()))
    await asyncio.sleep(args.duration)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--stats", required=True)
    s.add_argument("--duration", type=float, default=4000)
    s.add_argument("spec", nargs="+")
    c = sub.add_parser("clients")
    c.add_argument("--host", default="127.0.0.1")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--idle", type=int, default=200)
    c.add_argument("--slow", type=int, default=20)
    c.add_argument("--stats", required=True)
    c.add_argument("--duration", type=float, default=4000)
    args = p.parse_args()
    # SIGTERM ends the process at once (the soak's cleanup sends it).
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    asyncio.run(serve(args) if args.cmd == "serve" else clients(args))


if __name__ == "__main__":
    main()
