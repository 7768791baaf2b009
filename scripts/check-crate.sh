#!/usr/bin/env bash
# The ipvs-netlink crate (crates/ipvs-netlink) checked as its publisher
# would before a release:
#   1. MSRV: built and tested with exactly the toolchain its Cargo.toml
#      states as rust-version, installed with rustup (minimal profile) when
#      missing;
#   2. `cargo package`: the packaged sources build on their own (verify);
#   3. cargo-semver-checks (installed from crates.io when missing) against
#      the commit of the last version, BASELINE_REV below: a change that
#      breaks the public API without a version bump fails.
#
#   scripts/check-crate.sh [msrv|package|semver]...   (default: all three)
#
# Each part runs even if an earlier one failed; the exit status is non-zero
# if any failed. Builds go to target/check-crate so the main target
# directory keeps its toolchain's artefacts.
set -uo pipefail
cd "$(dirname "$0")/.."
CRATE=ipvs-netlink
DIR=crates/ipvs-netlink
# The commit whose crates/ipvs-netlink is the API of the newest version
# (0.1.0: the crate as first split out of lvsd). Move it when the version
# in crates/ipvs-netlink/Cargo.toml is bumped for a release.
BASELINE_REV=${CHECK_CRATE_BASELINE:-39a7e1997c741affaacc0f1bd020916b863599ab}
export CARGO_TARGET_DIR=$PWD/target/check-crate

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(msrv package semver)
failed=()

msrv() {
  local want
  want=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' "$DIR/Cargo.toml")
  [ -n "$want" ] || { echo "check-crate: no rust-version in $DIR/Cargo.toml"; return 1; }
  # rustup names toolchains by full version: 1.85 -> 1.85.0.
  [[ $want == *.*.* ]] || want=$want.0
  if ! rustup run "$want" rustc --version >/dev/null 2>&1; then
    echo "check-crate: installing Rust $want (minimal) for the MSRV build"
    rustup toolchain install "$want" --profile minimal --no-self-update || return 1
  fi
  echo "check-crate: MSRV $want: $(rustup run "$want" rustc --version)"
  cargo "+$want" test -p "$CRATE" --all-targets --locked
}

package() {
  cargo package -p "$CRATE" --locked --allow-dirty
}

semver() {
  if ! cargo semver-checks --version >/dev/null 2>&1; then
    echo "check-crate: installing cargo-semver-checks from crates.io"
    cargo install cargo-semver-checks --locked || return 1
  fi
  cargo semver-checks --version
  cargo semver-checks -p "$CRATE" --baseline-rev "$BASELINE_REV"
}

for p in "${parts[@]}"; do
  echo "==== check-crate: $p"
  if "$p"; then echo "==== check-crate: $p ok"; else failed+=("$p"); echo "==== check-crate: $p FAILED"; fi
done
[ ${#failed[@]} -eq 0 ] || { echo "check-crate: failed: ${failed[*]}"; exit 1; }
