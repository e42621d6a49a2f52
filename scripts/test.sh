#!/usr/bin/env bash
# Run the whole suite: find a Chromium for the browser tests and, unless TEST_DATABASE_URL is
# already set, start a throwaway PostgreSQL so the both_dbs tests run there too.
set -euo pipefail
cd "$(dirname "$0")/.."
python=".venv/bin/python"
# Lint and format first: a finding fails the run before any test starts (settings in pyproject.toml).
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# Security lint: no medium or high finding unless justified inline (`# nosec BXXX # reason`); settings in pyproject.toml.
.venv/bin/bandit -q -c pyproject.toml -r portal xcover_sandbox scripts stack.py app.py gunicorn.conf.py --severity-level medium
# Known vulnerabilities in the pinned requirements; says so and goes on when no advisory service answers.
"$python" scripts/dep_audit.py
export PLAYWRIGHT_CHROMIUM_EXECUTABLE="$(bash scripts/find-chromium.sh "$python")"
if [ -z "${TEST_DATABASE_URL:-}" ]; then
  if command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    source scripts/pg-start.sh
    trap pg_stop EXIT
  else
    echo "PostgreSQL not found: the both_dbs tests run on SQLite only (install postgresql to include it)." >&2
  fi
fi
if [ $# -gt 0 ]; then
  status=0
  "$python" -m pytest "$@" || status=$?
  exit "$status"
fi
# The whole suite in two processes at once: the browser and resilience tests spend most of their time waiting
# (on Chromium, on real gunicorns, on faults that last 12 s), the rest is busy on the CPU, so together they take
# little longer than the browser half alone. The browser half prints when it ends; the run fails if either fails.
browser_log="$(mktemp /tmp/portal-browser-tests.XXXXXX)"
# Each half names its 25 slowest tests at the end, to see where the suite's time goes.
"$python" -m pytest -m "e2e or resilience" --durations=25 >"$browser_log" 2>&1 &
browser=$!
status=0
"$python" -m pytest -m "not e2e and not resilience" --durations=25 || status=$?
browser_status=0
wait "$browser" || browser_status=$?
echo
echo "---- browser and resilience tests (tests/e2e, tests/resilience, the benchmarks' gunicorn runs) ----"
cat "$browser_log"
rm -f "$browser_log"
# pytest's 5 is "no tests collected": a run of one half only (a marker in PYTEST_ADDOPTS) is not a failure.
[ "$status" -eq 5 ] && status=0
[ "$browser_status" -eq 5 ] && browser_status=0
[ "$status" -ne 0 ] && exit "$status"
exit "$browser_status"
