"""pip-audit over the pinned requirements; says so, and passes, when no advisory service could be reached.

pip-audit asks PyPI's JSON API (pypi.org/pypi/NAME/VERSION/json) for each pinned version's known
vulnerabilities. Where that API cannot be reached (offline, or only a package mirror), pip-audit marks every
package "could not be audited" and would still print "No known vulnerabilities found": this wrapper reads the
JSON report instead and tells the three cases apart.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = ("requirements.txt", "requirements-dev.txt")


def main() -> int:
    """Run pip-audit; exit 1 on a known vulnerability, 0 when clean or when the service was out of reach."""
    command = [str(ROOT / ".venv/bin/pip-audit"), "--no-deps", "--disable-pip", "--progress-spinner", "off"]
    command += ["--format", "json", "--timeout", "15"]
    for name in FILES:
        command += ["-r", str(ROOT / name)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)  # nosec B603 # fixed argv
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"pip-audit: skipped, the advisory service could not be reached ({reason})")
        return 0
    packages = report.get("dependencies", [])
    skipped = [p for p in packages if p.get("skip_reason")]
    vulnerable = [p for p in packages if p.get("vulns")]
    for package in vulnerable:
        for vuln in package["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version"
            print(f"pip-audit: {package['name']} {package['version']}: {vuln['id']} (fixed in {fixed})")
    if vulnerable:
        return 1
    if packages and len(skipped) == len(packages):
        print(
            f"pip-audit: skipped, the advisory service could not be reached: none of the {len(packages)} pinned "
            f"packages could be looked up ({skipped[0]['skip_reason']})"
        )
        return 0
    audited = len(packages) - len(skipped)
    print(f"pip-audit: no known vulnerability in {audited} pinned packages", end="")
    print(f" ({len(skipped)} not found on the advisory service)" if skipped else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
