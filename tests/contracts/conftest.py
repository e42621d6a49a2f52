"""The contract tests' recordings: --xcover-recordings DIR, else $XCOVER_RECORDINGS, else the copy in recorded/.

A directory that is missing or holds no calls stops the run with an error: the contract is never skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from portal.xcover.recording import Call, Recorded, load

F = TypeVar("F", bound=Callable[..., object])

RECORDED = Path(__file__).resolve().parent / "recorded"


def recordings_dir(config: pytest.Config) -> Path:
    """The directory of recordings this run checks."""
    given = config.getoption("--xcover-recordings") or os.environ.get("XCOVER_RECORDINGS", "").strip()
    return Path(given) if given else RECORDED


def recorded_calls(config: pytest.Config) -> list[Recorded]:
    """Every recorded call of this run (read once); a missing or empty directory is a usage error."""
    cached = getattr(config, "_xcover_recorded", None)
    if cached is None:
        try:
            cached = load(recordings_dir(config))
        except (FileNotFoundError, ValueError) as exc:
            raise pytest.UsageError(f"XCover contract recordings: {exc}") from None
        config._xcover_recorded = cached  # type: ignore[attr-defined]
    return cached


def where(predicate: Callable[[Call], bool]) -> Callable[[F], F]:
    """Run the decorated test only for the recorded calls the predicate accepts."""

    def mark(test: F) -> F:
        test.recorded_where = predicate  # type: ignore[attr-defined]
        return test

    return mark


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run a test taking `recorded` once per recorded call (of the kind its `where` accepts).

    When a directory holds no call of that kind the test runs once with None and must fail, never skip.
    """
    if "recorded" in metafunc.fixturenames:
        calls = recorded_calls(metafunc.config)
        keep = getattr(metafunc.function, "recorded_where", None)
        if keep is not None:
            calls = [c for c in calls if keep(c.call)]
        if not calls:
            metafunc.parametrize("recorded", [None], ids=["nothing-recorded"])
            return
        metafunc.parametrize("recorded", calls, ids=[c.name for c in calls])
