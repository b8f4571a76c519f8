"""Documentation that states code facts is checked against the code."""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from pathlib import Path

import pytest

from gentool import hookspecs
from gentool.data.base import DatasetPlugin
from gentool.losses.base import GanLoss
from gentool.models.base import ModelPlugin

DOCS = Path(__file__).resolve().parents[1] / "docs"
CLASSES = {"GanLoss": GanLoss, "DatasetPlugin": DatasetPlugin, "ModelPlugin": ModelPlugin}


def _signature(node: ast.FunctionDef) -> str:
    returns = ast.unparse(node.returns) if node.returns else ""
    return f"({ast.unparse(node.args)}) -> {returns}"


def _code_signature(obj: object) -> str:
    source = textwrap.dedent(inspect.getsource(obj))  # type: ignore[arg-type]
    node = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef))
    return _signature(node)


def _documented() -> list[tuple[str, ast.FunctionDef]]:
    text = (DOCS / "writing-plugins.md").read_text()
    reference = text.split("## Reference", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", reference, flags=re.S)
    found: list[tuple[str, ast.FunctionDef]] = []
    for block in blocks:
        for node in ast.parse(block).body:
            if isinstance(node, ast.FunctionDef):
                found.append(("", node))
            elif isinstance(node, ast.ClassDef):
                found += [(node.name, f) for f in node.body if isinstance(f, ast.FunctionDef)]
    return found


def test_reference_covers_every_hook() -> None:
    documented = {node.name for owner, node in _documented() if not owner}
    hooks = {name for name in dir(hookspecs) if name.startswith("gentool_")}
    assert documented == hooks


@pytest.mark.parametrize("owner, node", _documented(), ids=lambda v: getattr(v, "name", v))
def test_documented_signature_matches_code(owner: str, node: ast.FunctionDef) -> None:
    obj = getattr(CLASSES[owner], node.name) if owner else getattr(hookspecs, node.name)
    assert _signature(node) == _code_signature(obj)
