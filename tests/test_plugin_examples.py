"""The example third-party plugins in plugins/ work through the installed entry points."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("gentool_relativistic", reason="pip install -e plugins/gentool-relativistic")


def gentool(*args: str, plugins: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, GENTOOL_PLUGINS=plugins, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "gentool", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_plugins_command_names_the_distribution(tmp_path: Path) -> None:
    result = gentool("plugins", "--kind", "loss", plugins="all", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if " relativistic " in x)
    assert "gentool-relativistic" in line
    hidden = gentool("plugins", "--kind", "loss", plugins="none", cwd=tmp_path)
    assert " relativistic " not in hidden.stdout


def test_train_dcgan_with_third_party_loss_from_the_cli(tmp_path: Path) -> None:
    result = gentool(
        "train",
        "dcgan",
        "--loss",
        "relativistic",
        "--loss-opt",
        "average=false",
        "--steps",
        "3",
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
        "run",
        plugins="gentool-relativistic",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    sample = gentool(
        "sample", "run", "-n", "4", "-o", "s.png", plugins="gentool-relativistic", cwd=tmp_path
    )
    assert sample.returncode == 0, sample.stderr
    bad = gentool(
        "train",
        "dcgan",
        "--loss",
        "relativistic",
        "--loss-opt",
        "average=maybe",
        plugins="gentool-relativistic",
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "expects true or false" in bad.stderr
