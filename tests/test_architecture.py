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


# --- the core asks a family what it can do; it never compares the family's name ---------------

#: Where a family's name may be compared: the family classes themselves.
FAMILY_CLASSES = {"training/families.py", "family.py"}


def _family_names() -> set[str]:
    from gentool.plugins import family_names

    return set(family_names())


def family_literal_comparisons(path: Path, names: set[str]) -> list[str]:
    """``x == "gan"``, ``family in ("vae", "image2image")``, ``FAMILY != 'translation'``...:
    a comparison with a registered family's name as a string constant."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        constants = [
            item
            for side in (node.left, *node.comparators)
            for item in (side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side])
        ]
        if any(isinstance(c, ast.Constant) and c.value in names for c in constants):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_compares_a_family_name() -> None:
    names = _family_names()
    assert {"gan", "vae", "image2image", "translation"} <= names
    offenders = {
        str(path.relative_to(SRC)): hits
        for path in sorted(SRC.rglob("*.py"))
        if str(path.relative_to(SRC)) not in FAMILY_CLASSES
        and (hits := family_literal_comparisons(path, names))
    }
    assert offenders == {}, f"ask the family instead of comparing its name: {offenders}"


def test_the_family_check_finds_comparisons(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text(
        "if model.FAMILY == 'gan':\n    pass\n"
        "ok = meta.get('family') in ('vae', 'image2image')\n"
        "table = {'translation': 1}\n"
    )
    hits = family_literal_comparisons(sample, {"gan", "vae", "image2image", "translation"})
    assert [hit.split(":")[0] for hit in hits] == ["line 1", "line 3"]
