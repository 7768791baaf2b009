#!/usr/bin/env python3
"""Runner and comparer for tests/vm/10-lvsadm-diff.sh (runs in the guest).

  lvsadm-diff.py run TOOL CASES OUT   run every case with TOOL (argv[0] is
                                      always "ipvsadm") in the current netns,
                                      listing the table in every form after
                                      each batch; write results as JSON lines
  lvsadm-diff.py compare REF GOT      exit 1 and print each difference
"""
import json
import subprocess
import sys

LISTINGS = [
    [], ["-L", "-n"], ["-l", "-n", "--stats"], ["-L", "-n", "--rate", "--exact"],
    ["-L", "-n", "--thresholds"], ["-L", "-n", "--persistent-conn"],
    ["-L", "-n", "--tun-info"], ["-Ln", "--nosort"], ["-Lnc", "--persistent-conn"],
    ["-L", "--timeout"], ["-L", "--daemon"], ["-S", "-n"], ["-S"],
    ["-L", "-n", "-t", "10.0.0.1:80"], ["-L", "-n", "-f", "101", "-6"],
]


def run(tool, cases_path, out_path):
    with open(cases_path) as f:
        cases = [json.loads(l) for l in f if l.strip()]
    results = []

    def one(kind, args, stdin):
        p = subprocess.run(["ipvsadm"] + args, executable=tool,
                           input=(stdin or "").encode(), capture_output=True,
                           timeout=120)
        results.append({"kind": kind, "args": args, "code": p.returncode,
                        "stdout": p.stdout.decode("utf-8", "replace"),
                        "stderr": p.stderr.decode("utf-8", "replace")})

    def listings(batch):
        for args in LISTINGS:
            one(f"list@{batch}", args, None)

    batch = None
    for n, c in enumerate(cases):
        if n % 50 == 0:
            print(f"lvsadm-diff: {tool}: {n}/{len(cases)}", file=sys.stderr, flush=True)
        if batch is not None and c["batch"] != batch:
            listings(batch)
        batch = c["batch"]
        one("cmd", c["args"], c["stdin"])
    listings(batch)
    with open(out_path, "w") as f:
        for r in results:
            f.write(json.dumps(r) + "\n")


def compare(ref_path, got_path):
    with open(ref_path) as f:
        ref = [json.loads(l) for l in f]
    with open(got_path) as f:
        got = [json.loads(l) for l in f]
    bad = 0
    if len(ref) != len(got):
        print(f"result counts differ: {len(ref)} vs {len(got)}")
        bad += 1
    for a, b in zip(ref, got):
        for key in ("code", "stdout", "stderr"):
            x, y = a[key], b[key]
            if key == "stdout" and "--nosort" in a["args"]:
                x, y = sorted(x.splitlines()), sorted(y.splitlines())
            if x != y:
                bad += 1
                print(f"DIFF {a['kind']} ipvsadm {' '.join(a['args'])} [{key}]")
                print(f"  ipvsadm: {a[key]!r}")
                print(f"  lvsadm:  {b[key]!r}")
    print(f"lvsadm-diff: {len(ref)} invocations compared, {bad} differences")
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3]))
