#!/usr/bin/env bash
# Install BIRD 2 and FRR for the anycast announcer test (tests/anycast.rs runs
# private `bird -c CONF -s SOCKET -P PIDFILE` instances inside its network
# namespaces) and for tests/scale-out/frr-netns.sh (FRR's zebra + bgpd in a
# namespace, checking examples/scale-out/frr-director.conf). Idempotent, non-interactive; the package's own system
# service is not started and is left disabled.
set -euo pipefail

missing=()
for pkg in bird2 frr; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    trap '[ $created_policy = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
    apt-get -o Dpkg::Use-Pty=0 -qq install -y --no-install-recommends "${missing[@]}" >/dev/null \
      || { apt-get -qq update && apt-get -o Dpkg::Use-Pty=0 -qq install -y --no-install-recommends "${missing[@]}"; }
fi
# BIRD and FRR must not run as system services here: the tests start
# their own, inside namespaces (a host zebra would change host routes).
if command -v systemctl >/dev/null; then
    for svc in bird frr; do
        if [ -d /run/systemd/system ]; then systemctl stop "$svc" >/dev/null 2>&1 || true; fi
        systemctl disable --quiet "$svc" >/dev/null 2>&1 || true
    done
fi
echo "setup-anycast: bird2 and frr present"
