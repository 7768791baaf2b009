#!/usr/bin/env python3
"""Record the real ipvsadm's answers to random command lines, on a machine
without IPVS, for tests/lvsadm_args.rs.

ipvsadm initialises IPVS before it reads its arguments, so it runs here
with an LD_PRELOAD shim (tests/data/ipvsadm/shim/ipvs-shim.c, built with
cc) that makes every netlink request succeed with an empty answer. Only
argument handling is recorded: help, version, and every message printed
before a kernel request. Needs: cc, /usr/sbin/ipvsadm (apt-get install
gcc ipvsadm). Writes tests/data/ipvsadm/args-corpus.jsonl.
"""
import json
import os
import random
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
rng = random.Random(int(os.environ.get("SEED", "131")))

ADDRS = ["10.0.0.1:80", "10.0.0.1", "10.1:80", "[2001:db8::1]:80", "2001:db8::1",
         "[2001:db8::1]", "1.2.3.4:99999", "localhost:http", "1.2.3.4:notaport",
         "0x0a000001:80", "300.1.1.1:80", "", "[1.2.3.4]:80", "10.0.0.1:0", "abc",
         "1234", "10.0.0.1:http", "[::1]:", "[2001:db8::1]:https", "127.0.0.1:-1",
         "10.0.0.1:+80", "10.0.0.1: 80", "1.2.3.4 :80", "10.0.0.2:53", "192.168.1.1:8080"]
NUMS = ["0", "1", "-1", "70000", "2147483647", "2147483648", "abc", "", "+5", " 5",
        "5 ", "99999999999", "300", "2678400", "2678401", "255", "256", "65535",
        "65536", "65507", "65508", "0x10", "010", "128", "129", "64"]
MARKS = ["1", "0", "-1", "4294967295", "4294967296", "abc", "100", " 7", "7x"]
SCHEDS = ["rr", "wrr", "sh", "mh", "", "averyveryverylongschedulername", "foo"]
FLAGS = ["sh-port", "sh-fallback", "mh-port", "mh-fallback", "flag-1", "flag-2,flag-3",
         "sh-port,sh-fallback", "foo", ",", "flag-1,", ",flag-2", ""]
MASKS = ["255.255.255.0", "64", "200", "0", "abc", "255.255.255.300", "1.2"]
TUNS = ["ipip", "gue", "gre", "foo", ""]
GROUPS = ["224.0.0.81", "10.0.0.1", "ff02::1", "2001:db8::1", "239.1.1.1", "abc", "ff02::zz"]
STATES = ["master", "backup", "foo", ""]
PES = ["sip", "", "averyveryverylongpename"]
CMDS = ["-A", "-E", "-D", "-C", "-R", "-S", "-a", "-e", "-d", "-L", "-l", "-Z", "--set",
        "--start-daemon", "--stop-daemon", "-h", "--help", "-v", "--version", "-Ln",
        "-Lnc", "-ln", "-Sn", "-nL", "--add-service", "--list", "--zero", "-x", "foo",
        "--bogus", "-AL", "-Lq", "--list=x", "-At10.0.0.1:80"]


def opt():
    k = rng.randrange(0, 40)
    if k < 4:
        return [rng.choice(["-t", "-u", "--sctp-service", "--tcp-service"]), rng.choice(ADDRS)]
    if k < 6:
        return ["-f", rng.choice(MARKS)]
    if k < 8:
        return ["-r", rng.choice(ADDRS)]
    if k < 9:
        return ["-s", rng.choice(SCHEDS)]
    if k < 10:
        return ["-p"] + ([rng.choice(NUMS)] if rng.random() < 0.6 else [])
    if k < 11:
        return ["-M", rng.choice(MASKS)]
    if k < 14:
        return [rng.choice(["-w", "-x", "-y", "--syncid", "--mcast-port", "--mcast-ttl",
                            "--sync-maxlen", "--tun-port", "--weight"]), rng.choice(NUMS)]
    if k < 15:
        return ["-b", rng.choice(FLAGS)]
    if k < 16:
        return ["--tun-type", rng.choice(TUNS)]
    if k < 17:
        return ["--mcast-group", rng.choice(GROUPS)]
    if k < 18:
        return ["--pe", rng.choice(PES)]
    if k < 19:
        return ["--mcast-interface", rng.choice(["eth0", "d0", "averyveryverylongifname"])]
    if k < 33:
        return [rng.choice(["-g", "-i", "-m", "-n", "-c", "-6", "-o", "--stats", "--rate",
                            "--exact", "--thresholds", "--persistent-conn", "--nosort",
                            "--sort", "--tun-info", "--timeout", "--daemon", "--tun-nocsum",
                            "--tun-csum", "--tun-remcsum", "-X", "-gn", "-mw", "-w5"])]
    return [rng.choice(["extra", "--", "-", "--bogus", "-q", "--scheduler=rr", "-t10.0.0.1:80",
                        "-Z", "-L", "-h", "--weight=3", "--numeric=1", "1", "2", "3"])]


def argv():
    if rng.random() < 0.1:
        return ["-R"]
    c = rng.choice(CMDS)
    a = [c]
    if c in ("--start-daemon", "--stop-daemon") and rng.random() < 0.9:
        a.append(rng.choice(STATES))
    if c == "--set":
        a += [rng.choice(NUMS) for _ in range(rng.randrange(0, 5))]
    for _ in range(rng.randrange(0, 7)):
        a += opt()
    return a


def restore_input():
    """A -R input mixing good lines, argument errors and odd layout."""
    pool = ["-C", "--set 1 2 3", "-Z", "ipvsadm -C", "", "   ", "# comment", "-R", "-h",
            "-A -t 10.0.0.1", "-A -x 1", "--bogus", "-a -t 10.0.0.1:80", "-C extra",
            "\t-C\t", "-C\r", "ipvsadm", "-L --timeout --daemon", "-Z -n"]
    lines = [rng.choice(pool) for _ in range(rng.randrange(0, 6))]
    text = "\n".join(lines)
    if rng.random() < 0.7:
        text += "\n"
    elif rng.random() < 0.5:
        text += "  "
    return text


WARN = ("Warning: IPVS version mismatch: \n  Kernel compiled with IPVS version 0.0.0\n"
        "  ipvsadm v1.31  requires minimum IPVS version 1.1.4\n\n")

with tempfile.TemporaryDirectory() as d:
    so = os.path.join(d, "shim.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", so,
                    os.path.join(REPO, "tests/data/ipvsadm/shim/ipvs-shim.c")], check=True)
    env = dict(os.environ, LD_PRELOAD=so)
    seen = set()
    out = []
    while len(out) < N:
        a = argv()
        if a[0] != "-R" and tuple(a) in seen:
            continue
        seen.add(tuple(a))
        stdin = None
        if a[0] == "-R":
            if len(a) > 1:
                continue
            stdin = restore_input()
            if tuple(a + [stdin]) in seen:
                continue
            seen.add(tuple(a + [stdin]))
        p = subprocess.run(["ipvsadm"] + a, executable="/usr/sbin/ipvsadm", env=env,
                           capture_output=True, input=(stdin or "").encode(), timeout=10)
        err = p.stderr.decode("utf-8", "replace")
        if err.startswith(WARN):
            err = err[len(WARN):]
        if stdin is not None and "IPVS version" in p.stdout.decode("utf-8", "replace"):
            continue
        out.append({"argv": a, "stdin": stdin, "code": p.returncode,
                    "stdout": p.stdout.decode("utf-8", "replace"), "stderr": err})
    path = os.path.join(REPO, "tests/data/ipvsadm/args-corpus.jsonl")
    with open(path, "w") as f:
        for r in out:
            f.write(json.dumps(r) + "\n")
    codes = {}
    for r in out:
        codes[r["code"]] = codes.get(r["code"], 0) + 1
    print(f"recorded {len(out)} command lines into {path}: exit codes {codes}")
