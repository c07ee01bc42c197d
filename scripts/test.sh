#!/usr/bin/env bash
# The whole test suite: set-up, static checks (ruff, mypy --strict, import contracts), then pytest
# (unit, integration, lab and e2e tests). Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff";   ruff check kboot tests benchmarks
echo "== mypy";   mypy
echo "== import contracts"; lint-imports
echo "== pytest"
set +e
pytest --durations=40 "$@"
rc=$?
set -e
# pytest exits 5 when it collected no test: that is a failure here, never a pass.
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi
exit "$rc"
