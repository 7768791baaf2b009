#!/usr/bin/env python3
"""Hostile heartbeat sender for the HA netns suite (tests/ha/netns.sh).

  replay.py capture LISTEN_IP:PORT FILE COUNT
      receive COUNT heartbeats (10 s at most per packet) and store them
  replay.py replay FILE TO_IP:PORT INTERVAL_MS
      send the stored heartbeats, in order, one every INTERVAL_MS
  replay.py attack LISTEN_IP:PORT TO_IP:PORT COUNT
      for each of COUNT heartbeats received: replay it at once, and send
      two forgeries (state byte flipped; tag altered)

Only the addresses given are used (the suite's namespaces). Bounded in
packets and time.
"""
import socket
import struct
import sys
import time


def addr(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


def recv_n(listen, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(addr(listen))
    s.settimeout(10)
    for _ in range(count):
        pkt, _ = s.recvfrom(2048)
        yield s, pkt


def main():
    cmd = sys.argv[1]
    if cmd == "capture":
        listen, path, count = sys.argv[2], sys.argv[3], int(sys.argv[4])
        with open(path, "wb") as f:
            for _, pkt in recv_n(listen, count):
                f.write(struct.pack("!H", len(pkt)) + pkt)
        print(f"captured={count}")
    elif cmd == "replay":
        path, to, interval = sys.argv[2], addr(sys.argv[3]), int(sys.argv[4]) / 1000
        data = open(path, "rb").read()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        n, i = 0, 0
        while i + 2 <= len(data) and n < 10000:
            (ln,) = struct.unpack("!H", data[i : i + 2])
            s.sendto(data[i + 2 : i + 2 + ln], to)
            i += 2 + ln
            n += 1
            time.sleep(interval)
        print(f"replayed={n}")
    elif cmd == "attack":
        listen, to, count = sys.argv[2], addr(sys.argv[3]), int(sys.argv[4])
        replayed = forged = 0
        for s, pkt in recv_n(listen, count):
            s.sendto(pkt, to)
            replayed += 1
            bad = bytearray(pkt)
            bad[5] ^= 3  # standby <-> active
            s.sendto(bytes(bad), to)
            bad = bytearray(pkt)
            bad[-1] ^= 0xFF  # tag
            s.sendto(bytes(bad), to)
            forged += 2
        print(f"replayed={replayed} forged={forged}")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
