#!/usr/bin/env bash
# Install BIRD 2 for the anycast announcer test (tests/anycast.rs runs
# private `bird -c CONF -s SOCKET -P PIDFILE` instances inside its network
# namespaces). Idempotent, non-interactive; the package's own system
# service is not started and is left disabled.
set -euo pipefail

if ! dpkg-query -W -f='${Status}' bird2 2>/dev/null | grep -q "install ok installed"; then
    export DEBIAN_FRONTEND=noninteractive
    created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    trap '[ $created_policy = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
    apt-get -o Dpkg::Use-Pty=0 -qq install -y --no-install-recommends bird2 >/dev/null \
      || { apt-get -qq update && apt-get -o Dpkg::Use-Pty=0 -qq install -y --no-install-recommends bird2; }
fi
# BIRD must not run as a system service here: the test starts its own.
if command -v systemctl >/dev/null; then
    if [ -d /run/systemd/system ]; then systemctl stop bird >/dev/null 2>&1 || true; fi
    systemctl disable --quiet bird >/dev/null 2>&1 || true
fi
echo "setup-anycast: bird2 present"
