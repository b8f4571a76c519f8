"""Dependencies point one way: models, losses and data are interfaces that import nothing
from the training loops, the plugin registry, the loaders or the commands (not even inside a
function); loops, commands and registries sit above them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "gentool"
LEAVES = ("models", "losses", "data")
ABOVE = (
    "gentool.training",
    "gentool.plugins",
    "gentool.loading",
    "gentool.cli",
    "gentool.metrics",
    "gentool.upscale",
    "gentool.translate",
    "gentool.testing",
)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def leaf_files() -> list[Path]:
    return sorted(p for leaf in LEAVES for p in (SRC / leaf).glob("*.py"))


@pytest.mark.parametrize("path", leaf_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_interfaces_import_nothing_above_them(path: Path) -> None:
    upward = [
        f"line {line}: {module}"
        for line, module in imported_modules(path)
        if any(module == above or module.startswith(above + ".") for above in ABOVE)
    ]
    assert upward == [], f"{path.relative_to(SRC)} reaches up: {upward}"


def test_the_check_sees_function_level_imports(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("def f():\n    from gentool.plugins import get_registry\n")
    assert (2, "gentool.plugins") in imported_modules(sample)


def test_there_are_leaves_to_check() -> None:
    assert len(leaf_files()) > 20
