#!/usr/bin/env bash
# The whole test suite: set-up, static checks (ruff, mypy --strict, import contracts), then pytest
# (unit, integration, lab and e2e tests). Run as root on Debian 12.
# Ends with the slowest tests (--durations=40) and the seconds of each phase, so every CI log
# says where the time went (docs/testing.md has the budget and how the suite is kept fast).
set -euo pipefail
cd "$(dirname "$0")/.."
phases=$(mktemp)
pytest_phases=$(mktemp)
trap 'rm -f "$phases" "$pytest_phases"' EXIT
t0=$(date +%s)
mark() {  # mark NAME START: one "name<TAB>-<TAB>seconds" line of the summary
  printf '%s\t-\t%s\n' "$1" "$(($(date +%s) - $2))" >>"$phases"
}
summary() {
  echo "== time per phase (seconds)"
  # the pytest line, then its parts (tests/unit, tests/integration, tests/integration/lab, tests/e2e)
  { cat "$phases"; sed 's/^/  /' "$pytest_phases"; } |
    awk -F'\t' '{ printf "%-20s %12s %7s\n", $1, ($2 == "-" ? "" : $2 " tests"), $3 }'
  printf '%-20s %12s %7s\n' "total" "" "$(($(date +%s) - t0))"
}

bash scripts/setup.sh
mark setup "$t0"
export PATH="$PWD/.venv/bin:$PATH"
t=$(date +%s)
echo "== ruff";   ruff check kboot tests benchmarks
echo "== mypy";   mypy
echo "== import contracts"; lint-imports
mark "static checks" "$t"
echo "== pytest"
t=$(date +%s)
set +e
KBOOT_TEST_PHASES_FILE="$pytest_phases" pytest --durations=40 "$@"
rc=$?
set -e
mark pytest "$t"
summary
# pytest exits 5 when it collected no test: that is a failure here, never a pass.
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi
exit "$rc"
