#!/usr/bin/env python3
"""Turn the nlmon capture of tests/vm/09-capture-ipvsadm.sh into byte
fixtures: one text file per command under crates/ipvs-netlink/tests/data/nlmon/, headed by the
command, then one line per netlink message of its IPVS exchange:
`> HEX` for a request (NLM_F_REQUEST set), `< HEX` for the kernel's answer
to one of those requests (ack, error, dump part). The session capture
(session.pcap) is split by the time window recorded around each command
(NN-name.window); nlctrl traffic is dropped once the IPVS family id is known.

Usage: scripts/nlmon-to-fixtures.py CAPTURE_DIR [OUT_DIR] [--check]
  --check: fail if a command has no IPVS request (used inside the VM).
"""
import os
import struct
import sys

GENL_ID_CTRL = 0x10
NETLINK_GENERIC = 16


def records(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nanos = magic in (0xA1B23C4D, 0x4D3CB2A1)
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != 253:  # LINKTYPE_NETLINK
        raise SystemExit(f"{path}: link type {linktype}, not netlink")
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        ts = sec + frac / (1e9 if nanos else 1e6)
        yield ts, data[off:off + incl]
        off += incl


def messages(raw):
    # nlmon frames start with a 16-byte cooked header (SLL-like: packet
    # type, ARPHRD_NETLINK, ..., netlink protocol in big-endian).
    if len(raw) < 16 or struct.unpack(">H", raw[14:16])[0] != NETLINK_GENERIC:
        return
    pkt = raw[16:]
    off = 0
    while off + 16 <= len(pkt):
        ln = struct.unpack("<I", pkt[off:off + 4])[0]
        if ln < 16:
            return
        yield pkt[off:off + ln]
        off += (ln + 3) & ~3


def family_id(msg):
    """CTRL_ATTR_FAMILY_ID of an nlctrl reply about IPVS, or None."""
    if b"IPVS\x00" not in msg or struct.unpack("<H", msg[6:8])[0] & 1:
        return None
    a = 20
    while a + 4 <= len(msg):
        alen, atype = struct.unpack("<HH", msg[a:a + 4])
        if alen < 4:
            return None
        if atype == 1:
            return struct.unpack("<H", msg[a + 4:a + 6])[0]
        a += (alen + 3) & ~3
    return None


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    check = "--check" in sys.argv
    src = args[0]
    dst = args[1] if len(args) > 1 else "crates/ipvs-netlink/tests/data/nlmon"
    os.makedirs(dst, exist_ok=True)
    pkts = list(records(os.path.join(src, "session.pcap")))
    family = None
    for _, raw in pkts:
        for m in messages(raw):
            if struct.unpack("<H", m[4:6])[0] == GENL_ID_CTRL:
                family = family or family_id(m)
    if family is None:
        raise SystemExit("no IPVS family lookup in the capture")
    bad = []
    for name in sorted(os.listdir(src)):
        if not name.endswith(".window"):
            continue
        base = name[:-7]
        t0, t1 = (float(x) for x in open(os.path.join(src, name)).read().split())
        cmd = open(os.path.join(src, base + ".cmd")).read().strip()
        lines = [f"# Setup: {cmd}"]
        seqs = set()
        for ts, raw in pkts:
            if not t0 <= ts <= t1:
                continue
            for m in messages(raw):
                ty, flags, seq = struct.unpack("<HHI", m[4:12])
                if ty == family and flags & 1:
                    seqs.add(seq)
                    lines.append("> " + m.hex())
                elif ty in (2, 3, family) and seq in seqs:
                    lines.append("< " + m.hex())
        if not seqs:
            bad.append(base)
        with open(os.path.join(dst, base + ".txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
        print(f"{base}: {len(lines) - 1} messages")
    if check and bad:
        raise SystemExit(f"no IPVS request captured for: {' '.join(bad)}")


if __name__ == "__main__":
    main()
