#!/usr/bin/env bash
# Man pages and shell completions: drift checks against the real parsers,
# `man -l` rendering without groff warnings, bash completion behaviour and
# zsh syntax (tests/ops_docs.rs). Installs man-db, groff-base and zsh if absent.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v man >/dev/null 2>&1 || need+=(man-db)
command -v groff >/dev/null 2>&1 || need+=(groff-base)
command -v zsh >/dev/null 2>&1 || need+=(zsh)
if [ ${#need[@]} -gt 0 ]; then
  echo "test-docs: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
LVSD_REQUIRE_MAN=1 LVSD_REQUIRE_ZSH=1 cargo test -q --test ops_docs 2>&1
