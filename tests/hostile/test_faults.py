"""Faults during training: kill -9 at random moments, a full disk, two trainings at once.

What must hold after each: the last checkpoint loads and resumes, the log agrees with it (no
records after its step, no duplicates once resumed), no temporary files pile up, and a second
training never writes into a folder another one owns.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from gentool import fileio
from gentool.checkpoint import load_checkpoint
from gentool.cli.main import cli
from hostile.harness import assert_one_line_error, file_hashes

TINY = [
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
    "--model-opt",
    "latent_dim=8",
    "--log-every",
    "1",
    "--sample-every",
    "3",
    "--checkpoint-every",
    "1",
]


def gentool_process(*args: str, cwd: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, OMP_NUM_THREADS="1", GENTOOL_PLUGINS="none")
    return subprocess.Popen(
        [sys.executable, "-m", "gentool", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"process ended early: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.05)


def invoke(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=True)


def log_steps(run: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]


def test_kill_9_at_random_moments_then_resume_exactly_once(tmp_path: Path) -> None:
    """Kill training (checkpointing every step) at random moments, 3 times; each time the
    checkpoint loads; after the last resume the log holds every step once, in order."""
    rng = random.Random(1234)
    run = tmp_path / "run"
    total = 150
    for round_ in range(3):
        if round_ == 0:
            args = ["train", "dcgan", "--loss", "ls", *TINY, "--steps", str(total), "--out", "run"]
        else:
            args = ["train", "--resume", "run"]
        proc = gentool_process(*args, cwd=tmp_path)
        wait_for(run / "ckpt.safetensors", proc)
        time.sleep(rng.uniform(0.1, 1.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        ckpt = load_checkpoint(run)  # never half-written
        assert int(ckpt.meta["step"]) >= 1
    result = invoke("train", "--resume", str(run), "--steps", str(total))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert log_steps(run) == list(range(1, total + 1))
    assert fileio.stale_temporaries(run) == []
    assert fileio.stale_temporaries(run / "samples") == []
    assert not (run / ".lock").exists()


def test_second_training_on_a_live_run_folder_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = gentool_process(
        "train", "dcgan", "--loss", "ls", *TINY, "--steps", "100000", "--out", "run", cwd=tmp_path
    )
    try:
        wait_for(run / "ckpt.safetensors", first)
        for args in (
            ["train", "dcgan", "--loss", "ls", *TINY, "--out", str(run), "--overwrite"],
            ["train", "--resume", str(run), "--steps", "200000"],
        ):
            result = invoke(*args)
            assert result.exit_code != 0  # type: ignore[attr-defined]
            line = assert_one_line_error(result.output)  # type: ignore[attr-defined]
            assert "in use by another training" in line
        assert first.poll() is None, "the first training must keep running"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    # The owner is gone: its lock is stale and the run continues, with a notice.
    result = invoke(
        "train", "--resume", str(run), "--steps", str(load_checkpoint(run).meta["step"] + 2)
    )
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "taking it over" in result.output  # type: ignore[attr-defined]
    steps = log_steps(run)
    assert steps == sorted(set(steps))


@contextlib.contextmanager
def full_disk_for(suffix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Writes of files ending in ``suffix`` fail as on a full disk, half-way through."""
    original = fileio.atomic_path

    @contextlib.contextmanager
    def failing(path: str | Path) -> Iterator[Path]:
        with original(path) as tmp:
            if str(path).endswith(suffix):
                tmp.write_bytes(b"half a file")
                raise OSError(errno.ENOSPC, "No space left on device")
            yield tmp

    with monkeypatch.context() as patch:
        patch.setattr(fileio, "atomic_path", failing)
        yield


@pytest.mark.parametrize("suffix", [".png", ".json", "ckpt.safetensors"])
def test_disk_full_while_training_is_one_line_and_keeps_the_last_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    run = tmp_path / "run"
    result = invoke("train", "dcgan", "--loss", "ls", *TINY, "--steps", "2", "--out", str(run))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    before = file_hashes(run)
    with full_disk_for(suffix, monkeypatch):
        result = invoke("train", "--resume", str(run), "--steps", "6")
    assert result.exit_code != 0  # type: ignore[attr-defined]
    line = assert_one_line_error(result.output)  # type: ignore[attr-defined]
    assert "No space left on device" in line
    after = file_hashes(run)
    # Nothing that existed was replaced by a partial file, and no temporary is left.
    assert fileio.stale_temporaries(run) == [] and fileio.stale_temporaries(run / "samples") == []
    load_checkpoint(run)
    for name, digest in before.items():
        if name != "ckpt.safetensors" and not name.startswith(("log", "config", "run.toml")):
            assert after.get(name) == digest, name
    # The run continues once there is space again.
    result = invoke("train", "--resume", str(run), "--steps", "6")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert log_steps(run) == [1, 2, 3, 4, 5, 6]


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 160 kB tmpfs (room for about two tiny checkpoints), where mounting is allowed."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_real_full_disk_stops_with_one_line_and_a_readable_checkpoint(small_tmpfs: Path) -> None:
    run = small_tmpfs / "run"
    result = invoke(
        "train",
        "dcgan",
        "--loss",
        "ls",
        *TINY,
        "--sample-every",
        "1",
        "--steps",
        "50",
        "--out",
        str(run),
    )
    assert result.exit_code != 0  # type: ignore[attr-defined]
    line = assert_one_line_error(result.output)  # type: ignore[attr-defined]
    assert "No space left on device" in line
    if (run / "ckpt.safetensors").exists():
        step = int(load_checkpoint(run).meta["step"])
        assert all(s <= step + 1 for s in log_steps(run))
    assert fileio.stale_temporaries(run) == []
    assert fileio.stale_temporaries(run / "samples") == []
    for png in (run / "samples").glob("*.png"):
        from PIL import Image

        with Image.open(png) as img:
            img.load()  # every grid that exists is whole
