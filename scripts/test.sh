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
"$python" -m pytest "$@"
