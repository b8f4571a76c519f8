"""Documentation that states code facts is checked against the code."""

from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gentool import hookspecs
from gentool.callback import Callback
from gentool.data.base import DatasetPlugin
from gentool.family import Family
from gentool.losses.base import GanLoss
from gentool.models.base import ModelPlugin
from gentool.training.base import Trainer

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DOC = DOCS / "writing-plugins.md"
CLASSES = {
    "GanLoss": GanLoss,
    "DatasetPlugin": DatasetPlugin,
    "ModelPlugin": ModelPlugin,
    "Family": Family,
    "Trainer": Trainer,
    "Callback": Callback,
}


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


def _blocks(language: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def test_the_docs_example_package_builds_installs_and_trains(tmp_path: Path) -> None:
    """Section 1's pyproject.toml and module, exactly as written, make a package that pip
    builds and installs, that gentool finds, and whose loss trains."""
    package = tmp_path / "gentool-myloss"
    pyproject = _blocks("toml")[0]
    module = _blocks("python")[0]
    first_line = module.splitlines()[0]
    assert first_line.startswith("# src/"), first_line
    (package / first_line[2:]).parent.mkdir(parents=True)
    (package / first_line[2:]).write_text(module)
    (package / "pyproject.toml").write_text(pyproject)
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index"]
    built = subprocess.run(
        [*pip, "--no-build-isolation", "--target", str(site), str(package)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(site), str(ROOT / "src")]),
        GENTOOL_PLUGINS="gentool-myloss",
        OMP_NUM_THREADS="1",
    )
    listed = subprocess.run(
        [sys.executable, "-m", "gentool", "plugins"], env=env, capture_output=True, text=True
    )
    assert listed.returncode == 0 and "myloss" in listed.stdout + listed.stderr, listed.stderr
    trained = subprocess.run(
        [
            sys.executable,
            "-m",
            "gentool",
            "train",
            "dcgan",
            "--loss",
            "myloss",
            "--loss-opt",
            "margin=0.5",
            "--steps",
            "2",
            "--batch-size",
            "8",
            "--image-size",
            "16",
            "--device",
            "cpu",
            "--model-opt",
            "g_width=4",
            "--model-opt",
            "d_width=4",
            "--out",
            str(tmp_path / "run"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert (tmp_path / "run" / "ckpt.safetensors").is_file()
