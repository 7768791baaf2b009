#!/usr/bin/env python3
"""One long-lived TCP connection through a VIP, for tests/vm/40-ha-sync.sh
(runs inside the test VM).

  echo PORT
      Line echo server on 0.0.0.0:PORT (one thread per connection).
  client IP:PORT SECONDS [INTERVAL_MS]
      Connects once, sends "line N" every INTERVAL_MS (default 100) for
      SECONDS and checks each echo. Exits 1 if the connection breaks: a
      reset, EOF, a wrong echo, or no echo for 30 s (a failover with TCP
      retransmit backoff can stall several seconds; that is not a break).
      Prints "lines=N longest_stall_ms=M".

Every loop is bounded by SECONDS or the 30 s read timeout.
"""
import socket
import sys
import threading
import time


def echo(port):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(16)

    def serve(c):
        with c:
            while True:
                try:
                    data = c.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                try:
                    c.sendall(data)
                except OSError:
                    return

    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def client(to, seconds, interval_ms):
    host, port = to.rsplit(":", 1)
    c = socket.create_connection((host, int(port)), timeout=5)
    c.settimeout(30)
    f = c.makefile("rb")
    end = time.monotonic() + seconds
    i, worst = 0, 0.0
    while time.monotonic() < end:
        t = time.monotonic()
        want = b"line %d\n" % i
        try:
            c.sendall(want)
            got = f.readline()
        except OSError as e:
            print("line %d: %s (after %d lines)" % (i, e, i))
            return 1
        if got != want:
            print("line %d: echo was %r (after %d lines)" % (i, got, i))
            return 1
        worst = max(worst, time.monotonic() - t)
        i += 1
        time.sleep(interval_ms / 1000.0)
    print("lines=%d longest_stall_ms=%d" % (i, worst * 1000))
    return 0


def main(argv):
    if len(argv) >= 2 and argv[0] == "echo":
        echo(int(argv[1]))
        return 0
    if len(argv) >= 3 and argv[0] == "client":
        interval = int(argv[3]) if len(argv) > 3 else 100
        return client(argv[1], float(argv[2]), interval)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
