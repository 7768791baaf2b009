#!/usr/bin/env bash
# Private instances of real server daemons on loopback test ports, for the
# health-check tests (tests/checks.rs). Needs root and scripts/setup-checks.sh.
#
#   check-servers.sh start [SERVICE...]   start (idempotent; default: all)
#   check-servers.sh stop                 stop everything this script started
#   check-servers.sh status               list what runs
#
# All state lives in $LVSD_CHECK_DIR (default /tmp/lvsd-check-servers); no
# system service is started or enabled. Test credentials: lvsdtest / lvsdpass.
#
# service   daemon (Debian package)        address (127.0.0.1 unless noted)
# http      nginx                          18080 (also [::1]:18080)
# https     nginx, self-signed cert        18443
# ftp       vsftpd (anonymous)             18021, passive 18100-18109
# smtp      exim4                          18025
# pop/pops  dovecot                        18110 / 18995
# imap/imaps dovecot                       18143 / 18993
# ldap/ldaps slapd                         18389 / 18636
# dns       dnsmasq (udp+tcp)              18053 (check.lvsd.test -> 10.9.8.7)
# mysql     mariadb                        13306 (db lvsd: tables t (1 row), empty)
# pgsql     postgresql                     15432 (db lvsd: tables t (1 row), empty)
# radius    freeradius, secret testing123  11812/udp
# sip       kamailio (udp+tcp)             15060 (OPTIONS: 200, 404 for user "down")
# nntp      fake banner via socat (no fitting package) 18119
# simpletcp socat + cat (inetd-style echo) 17007
set -uo pipefail

D=${LVSD_CHECK_DIR:-/tmp/lvsd-check-servers}
ALL=(http ftp smtp dovecot ldap dns mysql pgsql radius sip nntp simpletcp)

log() { echo "check-servers: $*" >&2; }

# Wait until TCP port $1 (on 127.0.0.1) accepts, at most $2 seconds.
wait_port() {
    local port=$1 max=${2:-20} i
    for ((i = 0; i < max * 10; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

alive() { [ -s "$D/$1.pid" ] && kill -0 "$(cat "$D/$1.pid")" 2>/dev/null; }

# Run "$@" in the background in its own session, remember its pid as $name.
spawn() {
    local name=$1; shift
    setsid "$@" >>"$D/$name.log" 2>&1 </dev/null &
    echo $! >"$D/$name.pid"
}

common() {
    mkdir -p "$D"
    chmod 755 "$D"
    if [ ! -s "$D/cert.pem" ]; then
        openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=vip.lvsd.test" \
            -keyout "$D/key.pem" -out "$D/cert.pem" >/dev/null 2>&1
        chmod 644 "$D/cert.pem" "$D/key.pem"
    fi
}

start_http() {
    alive nginx && return 0
    mkdir -p "$D/www" "$D/nginx-tmp"
    echo "lvsd http ok" >"$D/www/ok.html"
    echo "nothing to see" >"$D/www/other.html"
    cat >"$D/nginx.conf" <<EOF
worker_processes 1;
pid $D/nginx.pid;
error_log $D/nginx.err;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $D/nginx-tmp/body;
    proxy_temp_path $D/nginx-tmp/proxy;
    fastcgi_temp_path $D/nginx-tmp/fcgi;
    uwsgi_temp_path $D/nginx-tmp/uwsgi;
    scgi_temp_path $D/nginx-tmp/scgi;
    server {
        listen 127.0.0.1:18080;
        listen [::1]:18080;
        listen 127.0.0.1:18443 ssl;
        ssl_certificate $D/cert.pem;
        ssl_certificate_key $D/key.pem;
        root $D/www;
        location = /redirect { return 302 /ok.html; }
        location = /vhost { if (\$host = "www.lvsd.test") { return 200 "vhost ok\n"; } return 404; }
    }
}
EOF
    nginx -c "$D/nginx.conf" -g "daemon on;" >>"$D/nginx.log" 2>&1
    wait_port 18080 && wait_port 18443
}

start_ftp() {
    alive vsftpd && return 0
    mkdir -p "$D/ftp" "$D/vsftpd-empty"
    echo "lvsd ftp ok" >"$D/ftp/check.txt"
    chown -R root:root "$D/ftp"
    chmod 755 "$D/ftp"
    cat >"$D/vsftpd.conf" <<EOF
listen=YES
listen_address=127.0.0.1
listen_port=18021
background=NO
anonymous_enable=YES
no_anon_password=YES
local_enable=NO
write_enable=NO
anon_root=$D/ftp
secure_chroot_dir=$D/vsftpd-empty
pasv_enable=YES
pasv_min_port=18100
pasv_max_port=18109
pasv_address=127.0.0.1
seccomp_sandbox=NO
xferlog_enable=NO
vsftpd_log_file=$D/vsftpd.xfer
EOF
    spawn vsftpd vsftpd "$D/vsftpd.conf"
    wait_port 18021
}

start_smtp() {
    alive exim && return 0
    # Debian's generated exim configuration; -oX moves it to the test port.
    spawn exim exim4 -bdf -oX 18025 -oP "$D/exim-own.pid"
    wait_port 18025
}

start_dovecot() {
    alive dovecot && return 0
    mkdir -p "$D/dovecot-run" "$D/dovecot-state" "$D/mail"
    chmod 1777 "$D/mail"
    echo "lvsdtest:{PLAIN}lvsdpass" >"$D/dovecot.passwd"
    cat >"$D/dovecot.conf" <<EOF
base_dir = $D/dovecot-run
state_dir = $D/dovecot-state
protocols = imap pop3
listen = 127.0.0.1
log_path = $D/dovecot.err
ssl = yes
ssl_cert = <$D/cert.pem
ssl_key = <$D/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
# answer failed logins at once (the default 2 s delay would look like a hang)
auth_failure_delay = 0
# no auth penalty for the test client on loopback
login_trusted_networks = 127.0.0.0/8
passdb {
  driver = passwd-file
  args = scheme=PLAIN $D/dovecot.passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$D/mail/%u
}
mail_location = maildir:$D/mail/%u
pop3_uidl_format = %08Xu%08Xv
service imap-login {
  # pre-forked login processes: no exec + TLS setup on the first connection
  process_min_avail = 2
  inet_listener imap {
    port = 18143
  }
  inet_listener imaps {
    port = 18993
    ssl = yes
  }
}
service pop3-login {
  process_min_avail = 2
  inet_listener pop3 {
    port = 18110
  }
  inet_listener pop3s {
    port = 18995
    ssl = yes
  }
}
EOF
    spawn dovecot dovecot -F -c "$D/dovecot.conf"
    wait_port 18143 && wait_port 18110 && wait_port 18993 && wait_port 18995
}

start_ldap() {
    alive slapd && return 0
    rm -rf "$D/ldap-db"
    mkdir -p "$D/ldap-db"
    cat >"$D/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCertificateFile $D/cert.pem
TLSCertificateKeyFile $D/key.pem
database mdb
maxsize 16777216
directory $D/ldap-db
suffix "dc=lvsd,dc=test"
rootdn "cn=admin,dc=lvsd,dc=test"
rootpw lvsdpass
EOF
    cat >"$D/base.ldif" <<EOF
dn: dc=lvsd,dc=test
objectClass: dcObject
objectClass: organization
o: lvsd
dc: lvsd

dn: cn=check,dc=lvsd,dc=test
objectClass: organizationalRole
cn: check
EOF
    slapadd -f "$D/slapd.conf" -l "$D/base.ldif" >>"$D/slapd.log" 2>&1
    spawn slapd slapd -d 0 -f "$D/slapd.conf" -h "ldap://127.0.0.1:18389/ ldaps://127.0.0.1:18636/"
    wait_port 18389 && wait_port 18636
}

start_dns() {
    alive dnsmasq && return 0
    spawn dnsmasq dnsmasq -k --conf-file=/dev/null --port=18053 --listen-address=127.0.0.1 \
        --bind-interfaces --no-resolv --no-hosts --user=nobody --group=nogroup \
        --host-record=check.lvsd.test,10.9.8.7 --pid-file=
    wait_port 18053
}

start_mysql() {
    alive mysql && return 0
    if [ ! -d "$D/mysql/mysql" ]; then
        mkdir -p "$D/mysql"
        chown mysql:mysql "$D/mysql"
        mariadb-install-db --no-defaults --user=mysql --datadir="$D/mysql" \
            --auth-root-authentication-method=socket >>"$D/mysql.log" 2>&1
    fi
    mkdir -p "$D/mysql-run"
    chown mysql:mysql "$D/mysql-run"
    spawn mysql mariadbd --no-defaults --user=mysql --datadir="$D/mysql" \
        --socket="$D/mysql-run/mysql.sock" --port=13306 --bind-address=127.0.0.1 \
        --skip-log-bin --innodb-buffer-pool-size=16M --performance-schema=OFF \
        --pid-file="$D/mysql-run/mysqld.pid"
    wait_port 13306 60 || return 1
    # The anonymous ''@localhost accounts would shadow lvsdtest@% on loopback.
    mariadb --no-defaults -S "$D/mysql-run/mysql.sock" -u root <<EOF
DROP USER IF EXISTS ''@'localhost';
DROP USER IF EXISTS ''@'$(hostname)';
CREATE USER IF NOT EXISTS 'lvsdtest'@'%' IDENTIFIED BY 'lvsdpass';
CREATE DATABASE IF NOT EXISTS lvsd;
CREATE TABLE IF NOT EXISTS lvsd.t (x INT);
DELETE FROM lvsd.t;
INSERT INTO lvsd.t VALUES (1);
CREATE TABLE IF NOT EXISTS lvsd.empty (x INT);
GRANT ALL ON lvsd.* TO 'lvsdtest'@'%';
FLUSH PRIVILEGES;
EOF
}

start_pgsql() {
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    if [ -s "$D/pg/postmaster.pid" ] && kill -0 "$(head -1 "$D/pg/postmaster.pid")" 2>/dev/null; then
        return 0
    fi
    mkdir -p "$D/pgsock"
    chown postgres "$D/pgsock"
    touch "$D/pg.log" && chown postgres "$D/pg.log"
    if [ ! -s "$D/pg/PG_VERSION" ]; then
        rm -rf "$D/pg"
        mkdir -p "$D/pg"
        chown postgres "$D/pg"
        runuser -u postgres -- "$bin/initdb" -D "$D/pg" -U postgres --auth-local=trust \
            --auth-host=scram-sha-256 >>"$D/pg.log" 2>&1
        local fresh=1
    fi
    runuser -u postgres -- "$bin/pg_ctl" -D "$D/pg" -l "$D/pg.log" -w \
        -o "-p 15432 -k $D/pgsock -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
    if [ "${fresh:-0}" = 1 ]; then
        runuser -u postgres -- psql -q -h "$D/pgsock" -p 15432 -U postgres \
            -c "CREATE ROLE lvsdtest LOGIN PASSWORD 'lvsdpass'" \
            -c "CREATE DATABASE lvsd OWNER lvsdtest" >>"$D/pg.log" 2>&1
        runuser -u postgres -- psql -q -h "$D/pgsock" -p 15432 -U lvsdtest -d lvsd \
            -c "CREATE TABLE t (x int)" -c "INSERT INTO t VALUES (1)" \
            -c "CREATE TABLE empty (x int)" >>"$D/pg.log" 2>&1
    fi
}

start_radius() {
    alive radius && return 0
    rm -rf "$D/raddb" && cp -a /etc/freeradius/3.0 "$D/raddb"
    mkdir -p "$D/radius-run" && chown freerad:freerad "$D/radius-run"
    sed -i "s|^\s*run_dir = .*|run_dir = $D/radius-run|" "$D/raddb/radiusd.conf"
    # The test user goes first in the files module's authorize list.
    { echo 'lvsdtest Cleartext-Password := "lvsdpass"'; cat "$D/raddb/mods-config/files/authorize"; } \
        >"$D/raddb/authorize.new" && mv "$D/raddb/authorize.new" "$D/raddb/mods-config/files/authorize"
    sed -i "s|^\(\s*reject_delay\) = .*|\1 = 0|" "$D/raddb/radiusd.conf"
    # One small virtual server on the test port instead of Debian's sites.
    rm -f "$D/raddb/sites-enabled/"* "$D/raddb/mods-enabled/eap"
    cat >"$D/raddb/sites-enabled/lvsd-test" <<EOF
server default {
    listen {
        type = auth
        ipaddr = 127.0.0.1
        port = 11812
    }
    authorize {
        files
        pap
    }
    authenticate {
        Auth-Type PAP {
            pap
        }
    }
}
EOF
    chown -R freerad:freerad "$D/raddb"
    spawn radius freeradius -f -d "$D/raddb" -l stdout
    sleep 1
    alive radius
}

start_sip() {
    alive kamailio && return 0
    local mods
    mods=$(ls -d /usr/lib/*/kamailio/modules | head -1)
    cat >"$D/kamailio.cfg" <<EOF
#!KAMAILIO
debug=1
log_stderror=yes
children=1
listen=udp:127.0.0.1:15060
listen=tcp:127.0.0.1:15060
mpath="$mods"
loadmodule "sl.so"
request_route {
    if (method=="OPTIONS") {
        if (uri=~"^sip:down@") { sl_send_reply("404", "Not Here"); exit; }
        sl_send_reply("200", "OK");
        exit;
    }
    sl_send_reply("405", "Method Not Allowed");
}
EOF
    spawn kamailio kamailio -DD -E -f "$D/kamailio.cfg" -P "$D/kamailio-own.pid" -w "$D"
    wait_port 15060
}

start_nntp() {
    alive nntp && return 0
    # Debian's small NNTP server (leafnode 1.12) refuses loopback clients
    # ("502 Remote access denied") even with allowSTRANGERS, and inn2 is far
    # too heavy: this is a tiny inetd-style fake that greets like a server.
    printf '#!/bin/sh\nprintf "200 lvsd-test NNTP service ready - posting allowed\\r\\n"\nread -r _ || true\n' >"$D/nntp-fake.sh"
    chmod 755 "$D/nntp-fake.sh"
    spawn nntp socat TCP-LISTEN:18119,bind=127.0.0.1,reuseaddr,fork "EXEC:$D/nntp-fake.sh"
    wait_port 18119
}

start_simpletcp() {
    alive echo && return 0
    spawn echo socat TCP-LISTEN:17007,bind=127.0.0.1,reuseaddr,fork EXEC:cat
    spawn echo-udp socat UDP-RECVFROM:17007,bind=127.0.0.1,fork EXEC:cat
    wait_port 17007
}

do_start() {
    common
    local rc=0 s
    local list=("$@")
    [ ${#list[@]} -eq 0 ] && list=("${ALL[@]}")
    for s in "${list[@]}"; do
        if ! "start_$s"; then
            log "$s failed to start (see $D/*.log)"
            rc=1
        fi
    done
    return $rc
}

do_stop() {
    local f pid bin
    [ -d "$D" ] || return 0
    [ -s "$D/nginx.pid" ] && nginx -c "$D/nginx.conf" -s stop >/dev/null 2>&1
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -s "$D/pg/postmaster.pid" ] && runuser -u postgres -- "$bin/pg_ctl" -D "$D/pg" -m fast stop >/dev/null 2>&1
    for f in "$D"/*.pid; do
        [ -s "$f" ] || continue
        pid=$(cat "$f")
        # Each daemon was started in its own session: end the whole group.
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
        rm -f "$f"
    done
    sleep 1
    return 0
}

case "${1:-}" in
start) shift; do_start "$@" ;;
stop) do_stop ;;
status)
    for f in "$D"/*.pid; do [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && echo "running: $(basename "$f" .pid)"; done
    ;;
*) echo "usage: $0 start [service...]|stop|status" >&2; exit 2 ;;
esac
