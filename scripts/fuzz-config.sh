#!/bin/bash
# Fuzz the ldirectord.cf parser for a bounded time (default 30 s).
#
#   scripts/fuzz-config.sh [SECONDS]
#
# With cargo-fuzz installed (`cargo install cargo-fuzz`), runs the libFuzzer
# target fuzz/fuzz_targets/ldirectord_cf.rs. cargo-fuzz wants nightly; on a
# stable toolchain RUSTC_BOOTSTRAP=1 unlocks the flags it passes, and
# `-s none` skips the sanitizer (ASan needs nightly's -Zsanitizer runtime).
# The seed corpus is tests/data/ldirectord/{ok,bad}.
#
# Without cargo-fuzz (or if its build fails), runs the stable stand-in for
# the same time: the deterministic mutation loop and the proptest property
# in tests/config.rs.
set -euo pipefail
secs=${1:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if cargo fuzz --version >/dev/null 2>&1; then
    corpus=$(mktemp -d)
    trap 'rm -rf "$corpus"' EXIT
    cp tests/data/ldirectord/ok/*.cf tests/data/ldirectord/bad/*.cf "$corpus/"
    if RUSTC_BOOTSTRAP=1 cargo fuzz run -s none ldirectord_cf "$corpus" -- \
        -max_total_time="$secs" -max_len=4096; then
        exit 0
    fi
    status=$?
    # libFuzzer exits non-zero on a crash: report it, do not fall back.
    if [ -d fuzz/artifacts/ldirectord_cf ] && ls fuzz/artifacts/ldirectord_cf/crash-* >/dev/null 2>&1; then
        echo "fuzz: crash found, see fuzz/artifacts/ldirectord_cf/" >&2
        exit "$status"
    fi
    echo "fuzz: cargo-fuzz could not run; using the stable mutation loop" >&2
fi
LVSD_FUZZ_SECS="$secs" LVSD_FUZZ_ITERS=100000000 \
    cargo test --test config -- --exact mutated_corpus_never_panics \
    any_text_parses_or_errors_never_panics vocabulary_files_parse_or_error_with_lines
