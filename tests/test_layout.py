"""Modules with one job: no module under portal/ or xcover_sandbox/ runs past MAX_LINES lines."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("portal", "xcover_sandbox")
# Past this a module almost always holds two jobs: split it by responsibility, not into arbitrary halves.
MAX_LINES = 400
# Each entry says why the module may be longer for now. An entry back under the limit fails the second test,
# so the list only shrinks.
ALLOWED: dict[str, str] = {}


def too_long(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, int]:
    """Return every module under the packages longer than MAX_LINES, with its number of lines."""
    found: dict[str, int] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            count = len(path.read_text(encoding="utf-8").splitlines())
            if count > MAX_LINES:
                found[path.relative_to(root).as_posix()] = count
    return found


def test_no_module_is_longer_than_the_limit() -> None:
    assert all((ROOT / package).is_dir() for package in PACKAGES)
    offenders = {name: count for name, count in too_long(ROOT).items() if name not in ALLOWED}
    assert offenders == {}, f"split these by responsibility (at most {MAX_LINES} lines each): {offenders}"


def test_the_allow_list_names_only_modules_still_too_long() -> None:
    long_now = too_long(ROOT)
    stale = sorted(name for name in ALLOWED if name not in long_now)
    assert stale == [], f"back under {MAX_LINES} lines: take them off ALLOWED: {stale}"


def test_the_count_sees_a_long_module_anywhere_in_a_package(tmp_path: Path) -> None:
    nested = tmp_path / "portal" / "area"
    nested.mkdir(parents=True)
    (nested / "long.py").write_text("x = 1\n" * (MAX_LINES + 1), encoding="utf-8")
    (nested / "fits.py").write_text("x = 1\n" * MAX_LINES, encoding="utf-8")
    assert too_long(tmp_path, ("portal",)) == {"portal/area/long.py": MAX_LINES + 1}
