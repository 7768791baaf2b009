#!/usr/bin/env bash
# Install the real server daemons the health-check tests (tests/checks.rs)
# talk to. Idempotent, non-interactive; package services are NOT started or
# left enabled: scripts/check-servers.sh runs private instances on loopback
# test ports instead.
#
#   nginx (http/https), vsftpd (ftp), exim4 (smtp/submission),
#   dovecot (pop/pops/imap/imaps), slapd + ldap-utils (ldap/ldaps),
#   dnsmasq-base (dns), mariadb-server (mysql), postgresql (pgsql),
#   freeradius (radius), kamailio (sip; sipp is not packaged in Debian 12),
#   socat (simpletcp echo and a fake NNTP greeting, inetd-style; leafnode,
#   Debian's small NNTP server, refuses loopback clients), openssl;
#   bird2 and frr for the anycast tests (tests/anycast/run.sh and
#   tests/scale-out/frr-netns.sh start their own instances in network
#   namespaces; a host zebra would change the host's routes).
set -euo pipefail

PKGS=(nginx-light vsftpd exim4-daemon-light dovecot-imapd dovecot-pop3d slapd ldap-utils
      dnsmasq-base mariadb-server postgresql freeradius kamailio socat openssl bird2 frr)
SERVICES=(nginx vsftpd exim4 dovecot slapd mariadb postgresql freeradius kamailio bird frr)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "setup-checks: all packages present"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# Keep maintainer scripts from starting services while installing.
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
fi
trap '[ $created_policy = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT

echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
apt-get -o Dpkg::Use-Pty=0 -qq install -y --no-install-recommends "${missing[@]}" >/dev/null \
  || { apt-get -qq update && apt-get -o Dpkg::Use-Pty=0 -qq install -y --no-install-recommends "${missing[@]}"; }

# Nothing of this is meant to run as a system service.
# (systemctl disable also works without a running systemd: it edits symlinks.)
for s in "${SERVICES[@]}"; do
    if command -v systemctl >/dev/null; then
        if [ -d /run/systemd/system ]; then systemctl stop "$s" >/dev/null 2>&1 || true; fi
        systemctl disable --quiet "$s" >/dev/null 2>&1 || true
    fi
    if [ -x "/etc/init.d/$s" ]; then
        "/etc/init.d/$s" stop >/dev/null 2>&1 || true
        update-rc.d "$s" disable >/dev/null 2>&1 || true
    fi
done
echo "setup-checks: installed ${missing[*]}"
