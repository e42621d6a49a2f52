"""Describe the machine a benchmark ran on, for the results file."""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path


def _cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo, where there is one."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> str:
    """Return total memory in GiB from /proc/meminfo, where there is one."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as info:
            kib = int(info.readline().split()[1])
        return f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        return "unknown"


def load() -> str:
    """Return the load average over 1, 5 and 15 minutes (the machine may be shared)."""
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def speed() -> str:
    """Time a fixed piece of Python (a 16-key dict from zip): several times its usual figure means a busy machine."""
    runs = timeit.repeat("dict(zip(keys, values))", "keys = 'abcdefghijklmnop'; values = range(16)", number=20000)
    return f"{min(runs) / 20000 * 1e6:.2f} µs per 16-key dict (lower is faster; compare runs)"


def describe(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Return the facts that make a timing comparable."""
    facts = {
        "date (UTC)": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "CPU": _cpu_model(),
        "usable cores": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()),
        "memory": _memory_gib(),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "load average at start (1/5/15 min)": load(),
        "Python speed check": speed(),
    }
    facts.update(extra or {})
    return facts


def add_backend_options(parser: argparse.ArgumentParser, results: Path, default: str = "all") -> None:
    """--backend sqlite|postgresql|all and --out DIR, as every benchmark takes them."""
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default=default)
    parser.add_argument("--out", type=Path, default=results)


def run_backends(parser: argparse.ArgumentParser, choice: str, run: Callable[[str], Path]) -> int:
    """Run a benchmark on each chosen backend (PostgreSQL where TEST_DATABASE_URL names a server); print results."""
    backends = ["sqlite", "postgresql"] if choice == "all" else [choice]
    if "postgresql" in backends and not os.environ.get("TEST_DATABASE_URL"):
        if choice == "postgresql":
            parser.error("PostgreSQL needs TEST_DATABASE_URL (source scripts/pg-start.sh)")
        backends.remove("postgresql")
        print("PostgreSQL skipped: TEST_DATABASE_URL is not set.")
    for backend in backends:
        path = run(backend)
        print(f"{backend}: results in {path}")
        print(path.read_text(encoding="utf-8"))
    return 0
