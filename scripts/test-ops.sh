#!/usr/bin/env bash
# Operator-experience tests, each installing what it needs:
#   test-docs.sh         man pages + completions vs the real parsers, man -l
#   test-deb.sh          build the .deb, dpkg -i, check files and unit, remove
#   test-status-page.sh  headless Chromium against a running lvsd
# Runs all three; exit non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
rc=0
for t in test-docs test-deb test-status-page; do
  echo "--- $t"
  if bash "scripts/$t.sh"; then echo "--- $t: ok"; else echo "--- $t: FAILED"; rc=1; fi
done
exit $rc
