"""Run the benchmarks: `python -m bench` runs them all; `python -m bench <name> [args]` runs one (see BENCHMARKS)."""

from __future__ import annotations

import sys

from . import audit, http, reports, scale, signin

BENCHMARKS = {
    "audit": audit.main,
    "signin": signin.main,
    "http": http.main,
    "scale": scale.main,
    "reports": reports.main,
}


def main() -> int:
    """Run one benchmark with its arguments, or every one (audit with any arguments given, the rest with defaults)."""
    args = sys.argv[1:]
    if args and args[0] in BENCHMARKS:
        return BENCHMARKS[args[0]](args[1:])
    return max(audit.main(args), signin.main([]), http.main([]), scale.main([]), reports.main([]))


if __name__ == "__main__":
    raise SystemExit(main())
