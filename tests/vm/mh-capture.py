#!/usr/bin/env python3
"""Capture the kernel mh scheduler's choices (run in a fresh netns in the VM).

For each scenario: build the service with ipvsadm, open non-blocking TCP
connections from many (address, port) pairs (freebind, so no address must be
configured), read /proc/net/ip_vs_conn and write one fixture file:

    service PROTO VIP:PORT flags FLAGS
    dest ADDR:PORT WEIGHT LAST_WEIGHT      (kernel list order, as ipvsadm -Ln)
    flow CLIENT:PORT REAL:PORT|none

Bounded: a fixed number of sockets per scenario, closed at the end.
"""
import ipaddress
import os
import socket
import subprocess
import sys
import time

OUT = sys.argv[1]


def sh(*args):
    subprocess.run(args, check=True)


def setup():
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "link", "add", "d0", "type", "dummy")
    sh("ip", "addr", "add", "10.9.0.254/16", "dev", "d0")
    sh("ip", "-6", "addr", "add", "fd00:9::fe/64", "dev", "d0", "nodad")
    sh("ip", "link", "set", "d0", "up")
    # Client sources: every address of these prefixes is local (AnyIP).
    sh("ip", "route", "add", "local", "10.8.0.0/16", "dev", "lo")
    for k in ("net.ipv4.ip_nonlocal_bind", "net.ipv6.ip_nonlocal_bind"):
        subprocess.run(["sysctl", "-qw", k + "=1"], check=False)


def fmt(af, addr, port):
    return f"[{addr}]:{port}" if af == socket.AF_INET6 else f"{addr}:{port}"


def conns(want=()):
    """Every connection entry of this netns, read until `want` are all seen
    (at most 5 reads, 0.2 s apart). The kernel walks its one, all-netns
    connection table by position on every read() of a page; an entry that
    expires elsewhere (a previous test's netns) in between shifts the
    position and one of ours is skipped, so a single read can miss a few."""
    rows = {}
    for attempt in range(5):
        if attempt:
            time.sleep(0.2)
        rows.update(conns_once())
        if all((str(ipaddress.ip_address(a)), p) in rows for a, p in want):
            break
    return rows


def conns_once():
    rows = {}
    with open("/proc/net/ip_vs_conn") as f:
        next(f)
        for line in f:
            p = line.split()
            if len(p) < 7:
                continue
            def a(x):
                if ":" in x:
                    return str(ipaddress.IPv6Address(x))
                return str(ipaddress.IPv4Address(int(x, 16)))
            rows[(a(p[1]), int(p[2], 16))] = (a(p[5]), int(p[6], 16))
    return rows


LVSD = os.path.join(os.environ.get("LVSD_BIN_DIR", ""), "lvsd")
EXPLAIN_FAILS = []


def explain_check(name, vs, clients, seen, af):
    """`lvsd explain` (netlink read + user-space table) must name the real
    the kernel picked; a sample of flows, each one process (slow guest)."""
    if not os.access(LVSD, os.X_OK):
        print(f"mh-capture {name}: no lvsd binary, explain not checked")
        return
    for caddr, cport in clients[:: max(1, len(clients) // 12)]:
        real = seen.get((str(ipaddress.ip_address(caddr)), cport))
        want = f"real {fmt(af, real[0], real[1])} " if real else None
        r = subprocess.run([LVSD, "explain", "tcp", vs, fmt(af, caddr, cport)],
                           capture_output=True, text=True, timeout=60)
        ok = (want in r.stdout and r.returncode == 0) if want else r.returncode == 1
        if not ok:
            EXPLAIN_FAILS.append(f"{name} {caddr}:{cport}: kernel {want}, lvsd: {r.stdout!r} {r.stderr!r}")
    print(f"mh-capture {name}: lvsd explain checked")


def scenario(name, af, vip, vport, flags, dests, quiesce, clients):
    """dests: list of (addr, weight) in ADD order; quiesce: addrs set to 0 after."""
    fam = "-6" if af == socket.AF_INET6 else None
    vs = fmt(af, vip, vport)
    cmd = ["ipvsadm", "-A", "-t", vs, "-s", "mh"]
    if flags:
        cmd += ["-b", flags]
    sh(*cmd)
    last = {}
    for addr, w in dests:
        sh("ipvsadm", "-a", "-t", vs, "-r", fmt(af, addr, vport), "-g", "-w", str(w))
        last[addr] = w
    for addr in quiesce:
        sh("ipvsadm", "-e", "-t", vs, "-r", fmt(af, addr, vport), "-g", "-w", "0")
    # --nosort: the kernel's list order, which is the table's fill order.
    listing = subprocess.run(["ipvsadm", "-Ln", "--nosort", "-t", vs], check=True,
                             capture_output=True, text=True).stdout
    order = []
    for line in listing.splitlines():
        p = line.split()
        if len(p) >= 4 and p[0] == "->" and p[1] != "RemoteAddress:Port":
            order.append((p[1], int(p[3])))
    socks = []
    for caddr, cport in clients:
        s = socket.socket(af, socket.SOCK_STREAM)
        s.setblocking(False)
        if af == socket.AF_INET:
            # A non-local IPv4 source needs IP_TRANSPARENT (freebind alone
            # fails the route look-up with EINVAL); IPv6 takes nonlocal_bind.
            s.setsockopt(socket.SOL_IP, 19, 1)
        s.bind((caddr, cport))
        try:
            s.connect((vip, vport))
        except (BlockingIOError, OSError):
            pass
        socks.append(s)
    seen = conns(clients)
    for s in socks:
        s.close()
    with open(os.path.join(OUT, name + ".txt"), "w") as f:
        f.write(f"# captured from Linux {os.uname().release}: {name}\n")
        f.write(f"service tcp {vs} flags {flags or '-'}\n")
        for text, w in order:
            host = text.rsplit(":", 1)[0].strip("[]")
            canon = str(ipaddress.ip_address(host))
            lw = last[canon]
            f.write(f"dest {fmt(af, canon, vport)} {w} {lw}\n")
        got = 0
        for caddr, cport in clients:
            real = seen.get((str(ipaddress.ip_address(caddr)), cport))
            r = fmt(af, real[0], real[1]) if real else "none"
            got += real is not None
            f.write(f"flow {fmt(af, caddr, cport)} {r}\n")
    if got == 0:
        sys.exit(f"mh-capture {name}: the kernel scheduled no flow")
    if not quiesce:
        # explain cannot see a quiesced real's last weight (netlink does
        # not report it), so only tables without one are compared.
        explain_check(name, vs, clients, seen, af)
    print(f"mh-capture {name}: {len(order)} dests, {got}/{len(clients)} flows scheduled")
    sh("ipvsadm", "-D", "-t", vs)


def v4clients(n, port_base, ports):
    return [(f"10.8.{i // 250}.{i % 250 + 1}", port_base + j)
            for i in range(n) for j in range(ports)]


def v6clients(n, port_base, ports):
    return [(f"fd00:8::{i + 1:x}", port_base + j) for i in range(n) for j in range(ports)]


def main():
    setup()
    four = [("10.9.1.1", 1), ("10.9.1.2", 2), ("10.9.1.3", 3), ("10.9.1.4", 1)]
    scenario("v4-weights", socket.AF_INET, "10.9.0.1", 80, "",
             four, [], v4clients(300, 40000, 1))
    scenario("v4-port-fallback", socket.AF_INET, "10.9.0.2", 80,
             "mh-port,mh-fallback",
             four + [("10.9.1.5", 0)], ["10.9.1.2"], v4clients(60, 41000, 5))
    scenario("v4-quiesce-nofallback", socket.AF_INET, "10.9.0.3", 8080, "",
             [("10.9.1.9", 5), ("10.9.1.7", 5), ("10.9.1.8", 10)], ["10.9.1.7"],
             v4clients(300, 42000, 1))
    scenario("v4-bigweights", socket.AF_INET, "10.9.0.4", 443, "mh-port",
             [("10.9.1.10", 1000), ("10.9.1.11", 250), ("10.9.1.12", 64000)], [],
             v4clients(50, 43000, 6))
    scenario("v6-port", socket.AF_INET6, "fd00:9::1", 80, "mh-port",
             [("fd00:9::101", 1), ("fd00:9::102", 3), ("fd00:9::103", 0),
              ("fd00:9::104", 2)], [], v6clients(60, 44000, 5))
    scenario("v6-src", socket.AF_INET6, "fd00:9::2", 53, "mh-fallback",
             [("fd00:9::201", 2), ("fd00:9::202", 2), ("fd00:9::203", 4)],
             ["fd00:9::202"], v6clients(300, 45000, 1))
    if EXPLAIN_FAILS:
        sys.exit("lvsd explain disagrees with the kernel:\n" + "\n".join(EXPLAIN_FAILS))


main()
