#!/usr/bin/env bash
# Print the Chromium for the browser tests: $PLAYWRIGHT_CHROMIUM_EXECUTABLE, else the system
# Chromium, else one Playwright downloads (`python -m playwright install chromium`).
set -euo pipefail
python="${1:-python3}"
if [ -n "${PLAYWRIGHT_CHROMIUM_EXECUTABLE:-}" ] && [ -x "$PLAYWRIGHT_CHROMIUM_EXECUTABLE" ]; then
  echo "$PLAYWRIGHT_CHROMIUM_EXECUTABLE"; exit 0
fi
for candidate in /usr/bin/chromium /usr/bin/chromium-browser /usr/bin/google-chrome; do
  if [ -x "$candidate" ]; then echo "$candidate"; exit 0; fi
done
"$python" -m playwright install chromium >&2
"$python" - <<'PY'
from playwright.sync_api import sync_playwright
with sync_playwright() as p:
    print(p.chromium.executable_path)
PY
