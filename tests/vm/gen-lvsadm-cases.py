#!/usr/bin/env python3
"""Generate the command sequence of tests/vm/10-lvsadm-diff.sh.

Prints JSON lines: {"batch": N, "args": [...], "stdin": "..."|null}. The
sequence is deterministic (fixed seed) and covers every scheduler the
guest kernel has, every forwarding method, tcp/udp/sctp/fwmark, IPv4 and
IPv6, persistence, thresholds, tunnels, edits, deletes, daemons, -R and
deliberate errors. After each batch the runner lists the table in every
form.
"""
import json
import random
import sys

rng = random.Random(20191224)
SCHEDS = [s for s in sys.argv[1].split(",") if s] if len(sys.argv) > 1 else [
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo",
    "ovf", "mh"]

out = []
batch = 0


def cmd(*args, stdin=None):
    out.append({"batch": batch, "args": list(args), "stdin": stdin})


def next_batch():
    global batch
    batch += 1


def v4svc(i):
    return f"10.{i // 250}.{i % 250}.1"


def rs4(i, j):
    return f"192.168.{i % 250}.{j + 1}"


def rs6(i, j):
    return f"2001:db8:1:{i:x}::{j + 1:x}"


# --- batch 0: help, version, argument errors (no kernel change) ---
cmd("-h")
cmd("--version")
cmd("-v")
for bad in [
    ["-A", "-t", "10.0.0.1"],
    ["-A", "-t", "10.0.0.1:80", "-o"],
    ["-a", "-t", "10.0.0.1:80"],
    ["-a", "-t", "10.0.0.1:80", "-r", "192.168.1.1", "-w", "2147483648"],
    ["-a", "-t", "10.0.0.1:80", "-r", "192.168.1.1", "-w", "-1"],
    ["-A", "-L"],
    ["-A", "-t", "10.0.0.1:80", "-t", "10.0.0.2:80"],
    ["--foo"],
    ["-x", "5"],
    ["-A", "-t", "10.0.0.1:80", "-r", "1.1.1.1"],
    ["-L", "-c", "--stats"],
    ["-L", "--timeout", "--daemon"],
    ["--set", "10", "20"],
    ["--set", "0", "0", "99999999999"],
    ["-A", "-t", "10.0.0.1:80", "extra"],
    ["-A", "-t", "1.2.3.4:99999"],
    ["-A", "-t", "1.2.3.4:notaport"],
    ["-A", "-f", "0"],
    ["-A", "-f", "4294967296"],
    ["-A", "-t", "10.0.0.1:80", "-s", "rr", "-b", "sh-port"],
    ["-A", "-t", "10.0.0.1:80", "-b", "foo"],
    ["-a", "-t", "10.0.0.1:80", "-r", "192.168.1.1", "-g", "--tun-type", "gue"],
    ["-a", "-t", "10.0.0.1:80", "-r", "192.168.1.1", "-i", "--tun-type", "gue"],
    ["-a", "-t", "10.0.0.1:80", "-r", "192.168.1.1", "-i", "--tun-type", "gre", "--tun-remcsum"],
    ["-a", "-t", "10.0.0.1:80", "-r", "192.168.1.1", "-i", "--tun-type", "gue", "--tun-port", "6080", "--tun-csum", "--tun-nocsum"],
    ["-a", "-t", "10.0.0.1:80", "-r", "192.168.1.1", "-i", "--tun-type", "foo"],
    ["-a", "-t", "10.0.0.1:80", "-r", "[2001:db8::1]", "-m"],
    ["-a", "-t", "10.0.0.1:80", "-r", "2001:db8::1", "-m"],
    ["-A", "-t", "10.0.0.1:80", "-p", "0"],
    ["-A", "-t", "10.0.0.1:80", "-p", "2678401"],
    ["-A", "-6", "-f", "1"],
    ["-A", "-t", "[2001:db8::1]:80", "-p", "-M", "200"],
    ["--start-daemon", "foo"],
    ["--stop-daemon", "foo"],
    ["--start-daemon", "master", "--syncid", "300"],
    ["--start-daemon", "master", "--mcast-group", "10.0.0.1"],
    ["--start-daemon", "master", "--mcast-group", "ff02::zz"],
    ["-L", "-n", "-Z"],
    ["-L", "-n", "-t", "10.9.9.9:80"],
    ["-A", "-D"],
    ["-AD"],
    ["-Lnq"],
    ["-L", "--list"],
    ["--list=x"],
    ["-A", "-t"],
    ["-A", "--tcp-service"],
    ["-A", "-s", "rr"],
    ["-A", "-t", "10.0.0.1:80", "-w", "1"],
    ["-e", "-t", "10.0.0.1:80"],
    ["-d", "-t", "10.0.0.1:80", "-r", "1.2.3.4", "-w", "3"],
    ["-D", "-t", "10.0.0.1:80", "-s", "rr"],
    ["-C", "-n"],
    ["-S", "-c"],
    ["-Z", "-n"],
    ["-L", "-x", "3"],
    ["-R", "-n"],
    ["--set", "1", "2", "3", "4"],
    ["--set", "a", "2", "3"],
    ["-A", "-t", "10.0.0.1:80", "-M", "255.255.255.300"],
    ["-A", "-t", "10.0.0.1:80", "-s", "rr", "-s", "wrr"],
    ["-a", "-t", "10.0.0.1:80", "-r", "192.168.1.1", "-x", "abc"],
    ["-a", "-t", "10.0.0.1:80", "-r", "192.168.1.1", "-y", "-5"],
    ["-a", "-t", "10.0.0.1:80", "-r", "192.168.1.1", "-i", "--tun-type", "gue", "--tun-port", "0"],
    ["--start-daemon", "master", "--mcast-port", "0"],
    ["--start-daemon", "master", "--mcast-ttl", "256"],
    ["--start-daemon", "master", "--sync-maxlen", "70000"],
    ["-L", "-t", "10.0.0.1:80", "-f", "3"],
    ["-A", "-u", "10.0.0.1:53", "-6"],
    ["-A", "--sctp-service", "10.0.0.1"],
    ["-L", "--tun-info", "-c"],
    ["-L", "-c", "--persistent-conn", "--timeout"],
    ["-A", "-t", "10.0.0.1:80", "-b", ""],
    ["-A", "-t", "10.0.0.1:80", "--pe"],
    ["-"],
    ["foo"],
    ["-A", "--", "-t", "10.0.0.1:80"],
][::5]:
    cmd(*bad)
next_batch()

# --- batch 1: one service per scheduler, every protocol and family ---
for i, s in enumerate(SCHEDS):
    cmd("-A", "-t", f"{v4svc(i)}:80", "-s", s)
    cmd("-A", "-u", f"{v4svc(i)}:53", "-s", s)
    cmd("-A", "--sctp-service", f"{v4svc(i)}:9000", "-s", s)
    cmd("-A", "-t", f"[2001:db8:100::{i + 1:x}]:443", "-s", s)
    cmd("-A", "-f", str(i + 1), "-s", s)
    cmd("-A", "-f", str(i + 101), "-6", "-s", s)
cmd("-A", "-t", f"{v4svc(0)}:80", "-s", "rr")          # exists
cmd("-A", "-t", "10.99.0.1:80", "-s", "nosuchsched")   # ENOENT
cmd("-A", "-u", "10.99.0.2:53", "-o", "-s", "rr")
cmd("-A", "-t", "10.99.0.3:80", "-s", "sh", "-b", "sh-fallback,sh-port")
cmd("-A", "-t", "10.99.0.4:80", "-s", "mh", "-b", "mh-port")
cmd("-A", "-t", "10.99.0.5:80", "-s", "rr", "-b", "flag-1,flag-3")
cmd("-A", "-t", "10.99.0.6:0", "-p")
cmd("-A", "-t", "10.99.0.7:80", "-p", "600", "-M", "255.255.255.0")
cmd("-A", "-t", "[2001:db8:99::7]:80", "-p", "60", "-M", "64")
cmd("-A", "-u", "10.99.0.8:5060", "-p", "30", "--pe", "sip")
cmd("-A", "-t", "10.99.0.9:http", "-s", "wrr")
cmd("-A", "-t", "localhost:8080")
next_batch()

# --- batch 2: real servers with every forwarding method ---
fwds = ["-m", "-g", "-i"]
for i, s in enumerate(SCHEDS):
    for j in range(3):
        f = fwds[(i + j) % 3]
        w = rng.randrange(0, 10)
        cmd("-a", "-t", f"{v4svc(i)}:80", "-r", f"{rs4(i, j)}:8080", f, "-w", str(w))
        cmd("-a", "-u", f"{v4svc(i)}:53", "-r", rs4(i, j + 10), f)
        cmd("-a", "-t", f"[2001:db8:100::{i + 1:x}]:443", "-r", f"[{rs6(i, j)}]:8443", f,
            "-x", str(rng.randrange(0, 500)), "-y", str(rng.randrange(0, 50)))
    cmd("-a", "--sctp-service", f"{v4svc(i)}:9000", "-r", rs4(i, 20), "-m", "-w", "5")
    cmd("-a", "-f", str(i + 1), "-r", rs4(i, 30), "-g")
    cmd("-a", "-f", str(i + 101), "-6", "-r", f"[{rs6(i, 30)}]", "-m")
cmd("-a", "-t", f"{v4svc(0)}:80", "-r", f"{rs4(0, 0)}:8080", "-m")    # exists
cmd("-a", "-t", "10.98.0.1:80", "-r", "192.168.7.7", "-m")            # no service
cmd("-a", "-t", f"{v4svc(1)}:80", "-r", "255.255.255.255", "-m")     # not unicast
cmd("-a", "-f", "1", "-r", "192.168.50.1", "-i", "--tun-type", "gue", "--tun-port", "6080", "--tun-csum")
cmd("-a", "-f", "1", "-r", "192.168.50.2", "-i", "--tun-type", "gue", "--tun-port", "6081", "--tun-remcsum")
cmd("-a", "-f", "1", "-r", "192.168.50.3", "-i", "--tun-type", "gre", "--tun-csum")
cmd("-a", "-f", "1", "-r", "192.168.50.4", "-i", "--tun-type", "gre")
cmd("-a", "-f", "1", "-r", "192.168.50.5", "-i", "--tun-type", "ipip")
cmd("-a", "-f", "1", "-r", "2001:db8:1:50::6", "-i")
cmd("-a", "-t", "10.99.0.7:80", "-r", "192.168.60.1", "-w", "70000")
cmd("-a", "-t", "10.99.0.9:80", "-r", "192.168.61.1:ssh", "-m")
cmd("-a", "-t", "10.99.0.9:80", "-r", "192.168.61.2:0", "-m")
next_batch()

# --- batch 3: edits and errors on edits ---
for i, s in enumerate(SCHEDS):
    if i % 2 == 0:
        cmd("-E", "-t", f"{v4svc(i)}:80", "-s", SCHEDS[(i + 1) % len(SCHEDS)])
    else:
        cmd("-E", "-t", f"{v4svc(i)}:80", "-p", str(100 + i))
    cmd("-e", "-t", f"{v4svc(i)}:80", "-r", f"{rs4(i, 0)}:8080", "-m", "-w", str(rng.randrange(0, 100)),
        "-x", "1000", "-y", "100")
cmd("-E", "-t", "10.97.0.1:80", "-s", "rr")
cmd("-E", "-t", f"{v4svc(0)}:80", "-s", "nosuch")
cmd("-e", "-t", "10.97.0.1:80", "-r", "192.168.1.1")
cmd("-e", "-t", f"{v4svc(0)}:80", "-r", "192.168.200.200")
cmd("-E", "-f", "1", "-s", "rr", "-p", "900")
cmd("-E", "-u", "10.99.0.2:53", "-s", "wrr")
cmd("-e", "-f", "1", "-r", "192.168.50.1", "-i", "--tun-type", "gue", "--tun-port", "7000", "--tun-nocsum")
cmd("--set", "1000", "100", "200")
cmd("-L", "--timeout")
cmd("--set", "0", "0", "0")
cmd("--start-daemon", "master", "--mcast-interface", "d0", "--syncid", "7")
cmd("--start-daemon", "master", "--mcast-interface", "d0")
cmd("--start-daemon", "backup", "--mcast-interface", "d0", "--syncid", "9", "--sync-maxlen", "1200",
    "--mcast-group", "239.1.2.3", "--mcast-port", "9999", "--mcast-ttl", "3")
cmd("-L", "--daemon")
cmd("--stop-daemon", "backup")
cmd("--stop-daemon", "backup")
cmd("-Z")
cmd("-Z", "-t", f"{v4svc(0)}:80")
cmd("-Z", "-t", "10.97.0.1:80")
next_batch()

# --- batch 4: deletes ---
for i, s in enumerate(SCHEDS):
    if i % 3 == 0:
        cmd("-d", "-t", f"{v4svc(i)}:80", "-r", f"{rs4(i, 1)}:8080")
    if i % 3 == 1:
        cmd("-D", "-u", f"{v4svc(i)}:53")
    if i % 4 == 2:
        cmd("-D", "-f", str(i + 101), "-6")
cmd("-d", "-t", f"{v4svc(0)}:80", "-r", "192.168.201.1:8080")
cmd("-d", "-t", "10.97.0.1:80", "-r", "192.168.1.1")
cmd("-D", "-t", "10.97.0.1:80")
cmd("-d", "-f", "1", "-r", "192.168.50.3")
cmd("--stop-daemon", "master")
next_batch()

# --- batch 5: restore (good, mixed and malformed input) ---
rs = ["-A -t 10.50.0.1:80 -s rr",
      "-a -t 10.50.0.1:80 -r 192.168.70.1:80 -m -w 3",
      "",
      "ipvsadm -a -t 10.50.0.1:80 -r 192.168.70.2:80 -m -w 4",
      "   -A   -u 10.50.0.2:53\t-s wlc  ",
      "-a -t 10.50.0.1:80 -r 192.168.70.1:80 -m",
      "-A -t 10.50.0.3:443 -s sh -b sh-port -p 20",
      "-a -t 10.50.0.9:80 -r 192.168.70.9"]
cmd("-R", stdin="\n".join(rs) + "\n")
cmd("-R", stdin="-A -f 777 -s rr\n-a -f 777 -r 192.168.71.1 -g -w 0\n-L -n -f 777\n-A -f 777")
cmd("-R", stdin="-A -t 10.50.1.1:80\n-A -t 10.50.1.2:80 -x 3\n-A -t 10.50.1.3:80\n")
cmd("-R", stdin="# a comment\n-A -t 10.50.2.1:80\n")
cmd("-R", stdin="-A -t 10.50.3.1:80\n-R\n-A -t 10.50.3.2:80\n")
cmd("-R", stdin="-A -t 10.50.4.1:80\n   ")
cmd("-R", stdin="")
next_batch()

# --- batch 6: random churn ---
live = []
for k in range(60):
    i = rng.randrange(0, 40)
    vip = f"10.60.{i}.1:80"
    op = rng.choice(["A", "A", "a", "a", "e", "d", "D", "E"])
    if op == "A":
        cmd("-A", "-t", vip, "-s", rng.choice(SCHEDS))
    elif op == "E":
        cmd("-E", "-t", vip, "-s", rng.choice(SCHEDS), "-p", str(rng.randrange(1, 1000)))
    elif op == "D":
        cmd("-D", "-t", vip)
    else:
        r = f"192.168.{100 + i}.{rng.randrange(1, 5)}:80"
        args = ["-" + op, "-t", vip, "-r", r]
        if op != "d":
            args += [rng.choice(fwds[:2]), "-w", str(rng.randrange(0, 20))]
        cmd(*args)
next_batch()

# --- batch 7: flush ---
cmd("-C")
cmd("-L", "-n")
cmd("-D", "-t", f"{v4svc(0)}:80")
next_batch()

for c in out:
    print(json.dumps(c))
