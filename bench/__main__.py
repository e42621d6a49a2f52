"""Run every benchmark: the audit log on SQLite, and on PostgreSQL when TEST_DATABASE_URL names a server."""
from __future__ import annotations

import sys

from . import audit


def main() -> int:
    """Run each benchmark module's main with the command-line arguments."""
    return audit.main(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
