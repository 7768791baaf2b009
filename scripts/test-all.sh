#!/usr/bin/env bash
# The whole test suite: unit and host-integration tests (cargo test), then the
# kernel tier in one VM boot. Installs what it needs on a fresh Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."
# Real server daemons for tests/checks.rs (health checks), on loopback only.
if [ "$(id -u)" = 0 ]; then
    scripts/setup-checks.sh
    scripts/check-servers.sh start || echo "test-all: some check servers failed to start" >&2
    trap 'scripts/check-servers.sh stop' EXIT
fi
cargo test --all-targets 2>&1
