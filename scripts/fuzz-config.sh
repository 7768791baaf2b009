#!/bin/bash
# Fuzz every decoder of outside bytes with libFuzzer, each target for a
# bounded time (default 25 s each; six targets):
#   ldirectord_cf  the ldirectord.cf parser (corpus tests/data/ldirectord/{ok,bad})
#   proc_ip_vs     /proc/net/ip_vs and /proc/net/ip_vs_conn readers (round trip)
#   heartbeat      the HA heartbeat decoder and authenticator, MAC path included
#   lvsadm_args    lvsadm's argv parser and its -R restore reader
#   check_replies  the health checks' LDAP, MySQL and RADIUS reply readers
#   netlink_replies the ipvs-netlink reply decoder (crates/ipvs-netlink)
#
#   scripts/fuzz-config.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Installs cargo-fuzz from crates.io when it is missing. cargo-fuzz wants
# nightly; on the stable toolchain RUSTC_BOOTSTRAP=1 unlocks the flags it
# passes, and `-s none` skips the sanitizer (ASan needs nightly's runtime).
# `--dev` builds without optimisation: the build (every dependency with
# coverage instrumentation) is what costs here, not the run.
# Exit status: non-zero when any target crashed (the input is saved under
# fuzz/artifacts/TARGET/) or failed to build; every target runs regardless,
# so one crash does not hide another.
set -euo pipefail
secs=${1:-25}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(ldirectord_cf proc_ip_vs heartbeat lvsadm_args check_replies netlink_replies)
fi
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install --locked --quiet cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1
# One build of every target first: `cargo fuzz run` then only runs.
cargo fuzz build --dev -s none
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
seed() { # TARGET -> a fresh corpus directory with its seeds
    local dir="$work/$1"
    mkdir -p "$dir"
    case $1 in
    ldirectord_cf) cp tests/data/ldirectord/ok/*.cf tests/data/ldirectord/bad/*.cf "$dir/" ;;
    proc_ip_vs) cp tests/data/proc/ip_vs.txt "$dir/" ;;
    lvsadm_args)
        # A few ipvsadm command lines, NUL-separated words.
        printf '%s\0' -A -t 10.0.0.1:80 -s rr >"$dir/add"
        printf '%s\0' -a -t 10.0.0.1:80 -r 10.0.0.2:80 -g -w 3 >"$dir/real"
        printf '%s\0' -L -n --stats --exact >"$dir/list"
        printf -- '-A -t 10.0.0.1:80 -s wlc -p 300\n-a -t 10.0.0.1:80 -r 10.0.0.2 -m\n' >"$dir/restore"
        ;;
    esac
    echo "$dir"
}
failed=()
for t in "${targets[@]}"; do
    echo "fuzz: $t for ${secs}s"
    if ! cargo fuzz run --dev -s none "$t" "$(seed "$t")" -- \
        -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=1024 \
        -print_final_stats=1; then
        failed+=("$t")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz: ${targets[*]}: no crash in ${secs}s each"
