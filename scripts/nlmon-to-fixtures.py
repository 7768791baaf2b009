#!/usr/bin/env python3
"""Turn the nlmon captures of tests/vm/09-capture-ipvsadm.sh into byte
fixtures: one text file per command under tests/data/nlmon/, headed by the
command, then one line per netlink message of the IPVS exchange:
`> HEX` for a request (NLM_F_REQUEST set), `< HEX` for a kernel reply.
nlctrl traffic other than the IPVS family lookup is dropped.

Usage: scripts/nlmon-to-fixtures.py CAPTURE_DIR [OUT_DIR]
"""
import os
import struct
import sys

GENL_ID_CTRL = 0x10


def records(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != 253:  # LINKTYPE_NETLINK
        raise SystemExit(f"{path}: link type {linktype}, not netlink")
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        yield data[off:off + incl]
        off += incl


def main():
    src = sys.argv[1]
    dst = sys.argv[2] if len(sys.argv) > 2 else "tests/data/nlmon"
    os.makedirs(dst, exist_ok=True)
    for name in sorted(os.listdir(src)):
        if not name.endswith(".pcap"):
            continue
        base = name[:-5]
        cmd = open(os.path.join(src, base + ".cmd")).read().strip()
        family = None
        lines = [f"# Setup: {cmd}"]
        for pkt in records(os.path.join(src, name)):
            off = 0
            while off + 16 <= len(pkt):
                ln, ty, flags = struct.unpack("<IHH", pkt[off:off + 8])
                if ln < 16:
                    break
                msg = pkt[off:off + ln]
                off += (ln + 3) & ~3
                if ty == GENL_ID_CTRL:
                    # The family lookup: learn the IPVS id from the reply.
                    if b"IPVS\x00" not in msg:
                        continue
                    a = 20
                    while a + 4 <= len(msg):
                        alen, atype = struct.unpack("<HH", msg[a:a + 4])
                        if alen < 4:
                            break
                        if atype == 1 and not flags & 1:  # CTRL_ATTR_FAMILY_ID
                            family = struct.unpack("<H", msg[a + 4:a + 6])[0]
                        a += (alen + 3) & ~3
                    continue
                if ty in (2, 3) or ty == family:
                    lines.append(("> " if flags & 1 else "< ") + msg.hex())
        with open(os.path.join(dst, base + ".txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
        print(f"{base}: {len(lines) - 1} messages")


if __name__ == "__main__":
    main()
