#!/bin/bash
# Validation oracle (not a test; needs the Debian ldirectord package and
# root): what does the real ldirectord 4.12 do with FILE?
#   run.sh FILE  ->  "REJECTED" + ldirectord's error, or the IPVS table it
#                     programs once every real is up, as sorted -Sn lines.
# Checks are replaced by checktype=on (except off) and e-mail, execute,
# callback and fallbackcommand lines are dropped, so nothing leaves the host.
set -u
here=$(cd "$(dirname "$0")" && pwd)
f=$(readlink -f "$1")
out=$(ldirectord "$f" status 2>&1); rc=$?
if [ $rc -eq 2 ]; then echo "REJECTED"; echo "$out" | grep -v "^ldirectord is stopped"; exit 0; fi
tmp=$(mktemp -d)
cp "$here/ipvsadm" "$tmp/"
python3 - "$f" "$tmp/conf.cf" <<'PY'
import re, sys
out = []
for l in open(sys.argv[1]):
    if re.match(r'^\s*(emailalert|emailalertfrom|smtp|execute|callback|fallbackcommand)\s*=', l):
        continue
    m = re.match(r'^(\s+)checktype\s*=\s*(\S+)', l)
    if m and m.group(2) != "off":
        continue
    out.append(l)
    if re.match(r'^virtual6?\s*=', l):
        out.append("\tchecktype=on\n")
open(sys.argv[2], "w").write("".join(out))
PY
# A checktype=off later in the block wins over the inserted on.
(cd "$tmp" && exec ldirectord -d "$tmp/conf.cf" start >/dev/null 2>"$tmp/stderr") &
pid=$!
# Stop once ipvsadm has not been called for ${QUIET:-12} s (the first check
# pass is done; a loaded machine needs long pauses), at most ${MAXSECS:-180} s.
# SIGKILL: no cleanstop purge.
last=-1; same=0
for _ in $(seq $((2 * ${MAXSECS:-180}))); do
    sleep 0.5
    n=$(wc -l < "$tmp/log.txt" 2>/dev/null || echo 0)
    if [ "$n" = "$last" ] && [ "$n" != 0 ]; then same=$((same+1)); else same=0; fi
    last=$n
    [ $same -ge $((2 * ${QUIET:-12})) ] && break
done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
python3 "$here/dump.py" "$tmp/state.json" 2>/dev/null | sort
[ -n "${KEEP:-}" ] && echo "$tmp" || rm -rf "$tmp"
