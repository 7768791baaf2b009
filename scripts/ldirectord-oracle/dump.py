#!/usr/bin/env python3
# Print state.json (written by the fake ipvsadm) as `ipvsadm -Sn` lines.
import json, sys
st = json.load(open(sys.argv[1]))
for s in st["svcs"]:
    flag = {"TCP": "-t", "UDP": "-u", "FWM": "-f"}[s["proto"]]
    key = "%s %s%s" % (flag, s["addr"], " -6" if s["v6"] and s["proto"] == "FWM" else "")
    line = "-A %s -s %s" % (key, s["sched"])
    if s.get("p") is not None:
        line += " -p %s" % s["p"]
        if s.get("M") and s["M"] not in ("255.255.255.255", "128"):
            line += " -M %s" % s["M"]
    if s.get("o"):
        line += " -o"
    if s.get("b"):
        line += " -b %s" % s["b"]
    print(line)
    for r in s["reals"]:
        print("-a %s -r %s %s -w %s" % (key, r["r"], r["fwd"], r["w"]))
        if r.get("u", "0") != "0" or r.get("l", "0") != "0":
            print("# thresholds %s %s u=%s l=%s" % (key, r["r"], r["u"], r["l"]))
