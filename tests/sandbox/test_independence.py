"""The portal and the sandbox stay apart: neither package imports the other (read from the source with ast)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_packages(path: Path, depth: int) -> set[str]:
    """Top-level names a module `depth` packages deep imports: import statements, import_module(), __import__()."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level > depth:
                found.add("<outside the package>")  # a relative import that climbs out of the top-level package
            elif node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.add(node.args[0].value.split(".")[0])
    return found


@pytest.mark.parametrize("package,forbidden", [("portal", "xcover_sandbox"), ("xcover_sandbox", "portal")])
def test_packages_do_not_import_each_other(package: str, forbidden: str) -> None:
    sources = sorted((ROOT / package).rglob("*.py"))
    assert sources
    offenders = {
        str(path.relative_to(ROOT)): names
        for path in sources
        if (
            names := imported_packages(path, len(path.relative_to(ROOT).parent.parts))
            & {forbidden, "<outside the package>"}
        )
    }
    assert offenders == {}


def test_the_scanner_sees_every_kind_of_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import xcover_sandbox.views\nfrom xcover_sandbox import control\nfrom .. import portal\n"
        "import importlib\nimportlib.import_module('xcover_sandbox.cli')\n__import__('portal')\n"
    )
    assert imported_packages(module, 1) == {"xcover_sandbox", "<outside the package>", "importlib", "portal"}
    assert imported_packages(module, 2) == {"xcover_sandbox", "importlib", "portal"}
