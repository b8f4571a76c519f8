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


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, *, type_only: bool = True) -> list[tuple[int, str]]:
    """``(line, module)`` for every import in ``path``: at the top or inside a function,
    absolute or relative (resolved against the file's package); ``from a import b`` gives
    ``a.b`` when that is a module. ``type_only=False`` leaves out imports under
    ``if TYPE_CHECKING:`` (they are never executed)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    if not type_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped |= {id(inner) for inner in ast.walk(node)}
    own = _module_of(path) if path.is_relative_to(SRC) else "gentool.x"
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                candidate = f"{module}.{alias.name}"
                sub = SRC.parent.joinpath(*candidate.split("."))
                is_module = sub.with_suffix(".py").is_file() or (sub / "__init__.py").is_file()
                found.append((node.lineno, candidate if is_module else module))
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


# --- the layers: each imports only from its own layer and those below ------------------------

#: Lowest first. A module belongs to the layer of its longest matching prefix.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("gentool",),  # foundation: errors, config, runtime, fileio, distributed, the version
    (  # interfaces and formats: what plugins implement, and the checkpoint format
        "gentool.models",
        "gentool.losses",
        "gentool.data",
        "gentool.family",
        "gentool.metrics.base",
        "gentool.images",
        "gentool.checkpoint",
        "gentool.checkpoint_schema",
        "gentool.hookspecs",
    ),
    ("gentool.plugins", "gentool.loading"),  # the registry, and loading through it
    (  # engines: training, metrics, plots, upscaling, translation, the testing kit
        "gentool.training",
        "gentool.metrics",
        "gentool.upscale",
        "gentool.translate",
        "gentool.plotting",
        "gentool.report",
        "gentool.testing",
        "gentool.config_file",
    ),
    ("gentool.cli", "gentool.__main__"),  # commands
)


def layer_of(module: str) -> int:
    best = (-1, -1)
    for level, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best[1]:
                best = (level, len(prefix))
    return best[0]


def runtime_graph() -> dict[str, set[str]]:
    """Module -> the gentool modules it imports when it runs (TYPE_CHECKING left out)."""
    modules = {_module_of(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for _, imported in imported_modules(path, type_only=False):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def test_every_module_imports_only_its_layer_and_below() -> None:
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in runtime_graph().items()
        for target in targets
        if layer_of(target) > layer_of(module)
    )
    assert upward == [], f"imports reaching up a layer: {upward}"


def test_there_are_no_import_circles() -> None:
    graph = runtime_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            part = []
            while True:
                top = stack.pop()
                part.append(top)
                if top == node:
                    break
            if len(part) > 1:
                circles.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert circles == [], f"modules importing each other: {circles}"


def test_the_import_reader_resolves_relative_and_skips_type_only(tmp_path: Path) -> None:
    sample = SRC / "training" / "base.py"
    runtime = {m for _, m in imported_modules(sample, type_only=False)}
    assert "gentool.family" in runtime
    fake = tmp_path / "x.py"
    fake.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from gentool import cli\n"
    )
    assert (3, "gentool.cli") in imported_modules(fake)
    assert imported_modules(fake, type_only=False) == [(1, "typing")]


#: Command modules share helpers through these, never through another command's module.
CLI_SHARED = ("gentool.cli.common", "gentool.cli.options", "gentool.cli.plugin_options")


def test_a_command_imports_no_other_command() -> None:
    """``cli/report.py`` may use ``cli/common.py``; it may not reach into ``cli/sample.py``
    (only ``cli/main.py`` gathers the commands)."""
    offending = []
    for path in sorted((SRC / "cli").glob("*.py")):
        own = _module_of(path)
        if own in ("gentool.cli.main", "gentool.cli", *CLI_SHARED):
            continue
        for line, module in imported_modules(path):
            if module.startswith("gentool.cli.") and module not in CLI_SHARED and module != own:
                offending.append(f"{path.name}:{line} imports {module}")
    assert not offending, offending
