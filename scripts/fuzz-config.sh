#!/bin/bash
# Fuzz the ldirectord.cf parser and the ipvs-netlink reply decoder with
# libFuzzer, each for a bounded time (default 30 s): the cargo-fuzz targets
# fuzz/fuzz_targets/ldirectord_cf.rs (seeded with the corpus
# tests/data/ldirectord/{ok,bad}) and fuzz/fuzz_targets/netlink_replies.rs.
#
#   scripts/fuzz-config.sh [SECONDS]
#
# Installs cargo-fuzz from crates.io when it is missing. cargo-fuzz wants
# nightly; on the stable toolchain RUSTC_BOOTSTRAP=1 unlocks the flags it
# passes, and `-s none` skips the sanitizer (ASan needs nightly's runtime).
# `--dev` builds without optimisation: the build (every dependency with
# coverage instrumentation) is what costs here, not the run.
# Exit status: libFuzzer's (non-zero on a crash, with the input saved under
# fuzz/artifacts/ldirectord_cf/).
set -euo pipefail
secs=${1:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install --locked --quiet cargo-fuzz
fi
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
cp tests/data/ldirectord/ok/*.cf tests/data/ldirectord/bad/*.cf "$corpus/"
RUSTC_BOOTSTRAP=1 cargo fuzz run --dev -s none ldirectord_cf "$corpus" -- \
    -max_total_time="$secs" -max_len=4096 -print_final_stats=1
# The ipvs-netlink reply decoder (crates/ipvs-netlink), seeded with nothing:
# the target's first two bytes pick the family id, so libFuzzer reaches the
# IPVS attribute decoders on its own. Same time budget.
replies=$(mktemp -d)
trap 'rm -rf "$corpus" "$replies"' EXIT
RUSTC_BOOTSTRAP=1 cargo fuzz run --dev -s none netlink_replies "$replies" -- \
    -max_total_time="$secs" -max_len=8192 -print_final_stats=1
