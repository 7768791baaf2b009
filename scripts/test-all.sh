#!/usr/bin/env bash
# The whole lvsd test suite, as the README and CI run it:
#   1. installs what the tests need (Debian packages, virtme-ng, a kernel);
#   2. unit and host-integration tests (`cargo test`): parsers, formatters,
#      netlink byte fixtures, state machines, checks against real daemons on
#      loopback, HA between network namespaces;
#   3. the kernel tier: every tests/vm/NN-*.sh in ONE boot of a real Debian
#      kernel with IPVS (virtme-ng under qemu);
#   4. operator checks (man pages, completions, package, status page) and a
#      3-minute soak of the daemon against hostile reals, when their scripts
#      exist.
# Each stage runs even if an earlier one failed; the exit code is non-zero if
# any failed, and the last line counts the stages.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
failed_names=()

stage() {
  local name=$1
  shift
  echo
  echo "==== stage: $name"
  local t0=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    echo "==== stage $name: ok ($((SECONDS - t0)) s)"
  else
    failed=$((failed + 1))
    failed_names+=("$name")
    echo "==== stage $name: FAILED ($((SECONDS - t0)) s)"
  fi
}

# A stage whose test is known not to pass yet (it names its open issue): it
# runs and its output is shown, but it does not fail the suite.
known=()
known_stage() {
  local name=$1 issue=$2
  shift 2
  echo
  echo "==== stage: $name (known failure, $issue)"
  if "$@"; then
    echo "==== stage $name: ok (listed as a known failure of $issue: now passing)"
  else
    known+=("$name")
    echo "==== stage $name: KNOWN FAILURE ($issue), not counted"
  fi
}

# Optional stages run only when their script is in the tree.
maybe() {
  local name=$1 script=$2
  shift 2
  if [ -f "$script" ]; then
    stage "$name" bash "$script" "$@"
  fi
}

stage setup-vm bash scripts/setup-vm.sh
maybe setup-checks scripts/setup-checks.sh
# Real server daemons for tests/checks.rs, on loopback only; stopped on exit.
if [ -f scripts/check-servers.sh ]; then
  stage check-servers bash scripts/check-servers.sh start
  trap 'bash scripts/check-servers.sh stop >/dev/null 2>&1' EXIT
fi
stage build cargo build --all-targets
stage cargo-test cargo test --workspace --all-targets --no-fail-fast
# Soak of the real lvsd (in-memory table) against hostile reals and status
# clients, 3 minutes (docs/benchmarks.md "soak (daemon)").
maybe soak-daemon scripts/soak-daemon.sh 180
maybe fuzz-config scripts/fuzz-config.sh 20
# The ipvs-netlink crate as a publisher checks it: MSRV toolchain build and
# tests, `cargo package`, cargo-semver-checks against its baseline.
maybe crate-checks scripts/check-crate.sh
stage ha-netns cargo test --test ha -- --ignored
# Anycast announcer with real BIRD 2 between namespaces, and the FRR example
# (both installed by scripts/setup-checks.sh).
stage anycast-netns cargo test --test anycast -- --ignored
maybe frr-netns tests/scale-out/frr-netns.sh
maybe vm-tests scripts/vm-test.sh
maybe ops-tests scripts/test-ops.sh

echo
if [ "$failed" -gt 0 ]; then
  echo "failed stages: ${failed_names[*]}"
fi
if [ ${#known[@]} -gt 0 ]; then
  echo "known failures (open issues, not counted): ${known[*]}"
fi
echo "stages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
