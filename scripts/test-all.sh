#!/usr/bin/env bash
# The whole test suite: unit and host-integration tests (cargo test), then the
# kernel tier in one VM boot. Installs what it needs on a fresh Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --all-targets 2>&1
