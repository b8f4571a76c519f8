"""A run folder, in one place: the names of what ``gentool train`` writes there and the one
reader and writer of its log.

::

    RUN/
      ckpt.safetensors      the checkpoint (weights, optimizers, random streams, settings)
      config.json           the resolved settings, as JSON
      run.toml              the same, as a file ``gentool train --config`` takes
      log.jsonl             one JSON record per log interval (and events, e.g. evaluations)
      samples/step_NNNNNN.png   the sample grid of each sample interval
      snapshots/step_NNNNNN.safetensors   weights only, every --keep-every steps
      tensorboard/          with --tensorboard
      .lock                 while a training writes the folder

Every command that takes ``RUN`` or a checkpoint file resolves it with
:func:`RunFolder.of`; the log is parsed by :func:`read_log_lines` alone. The rules for what
may be removed from a run folder live in :mod:`gentool.training.runfolder`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gentool.errors import GentoolError
from gentool.fileio import append_line

CHECKPOINT = "ckpt.safetensors"
CONFIG = "config.json"
RUN_FILE = "run.toml"
LOG = "log.jsonl"
SAMPLES = "samples"
SNAPSHOTS = "snapshots"
SNAPSHOT_NAME = re.compile(r"^step_(\d+)\.safetensors$")
TENSORBOARD = "tensorboard"
LOCK = ".lock"


@dataclass(frozen=True)
class RunFolder:
    """The folder of one training run (it need not exist yet)."""

    path: Path

    @classmethod
    def of(cls, run_or_checkpoint: str | Path) -> tuple[RunFolder, Path]:
        """``(run folder, checkpoint file)`` for what a user passed as ``RUN`` or as a
        checkpoint file (the folder it lies in). Whether the checkpoint is there and valid is
        :func:`gentool.checkpoint.load_checkpoint`'s to say."""
        path = Path(run_or_checkpoint)
        if path.is_dir():
            return cls(path), path / CHECKPOINT
        return cls(path.parent), path

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def run_file(self) -> Path:
        return self.path / RUN_FILE

    @property
    def log(self) -> Path:
        return self.path / LOG

    @property
    def samples(self) -> Path:
        return self.path / SAMPLES

    @property
    def snapshots(self) -> Path:
        return self.path / SNAPSHOTS

    @property
    def tensorboard(self) -> Path:
        return self.path / TENSORBOARD

    @property
    def lock(self) -> Path:
        return self.path / LOCK

    def sample_path(self, step: int) -> Path:
        """The grid a training writes at ``step``."""
        return self.samples / f"step_{step:06d}.png"

    def snapshot_path(self, step: int) -> Path:
        """The weights-only checkpoint ``--keep-every`` keeps of ``step``."""
        return self.snapshots / f"step_{step:06d}.safetensors"

    def snapshot_steps(self) -> dict[int, Path]:
        """The files named as snapshots, by step (none when the folder has no ``snapshots/``);
        :func:`gentool.training.runfolder.own_snapshots` keeps those this run kept."""
        folder = self.snapshots
        if folder.is_symlink() or not folder.is_dir():
            return {}
        found = {}
        for path in folder.iterdir():
            match = SNAPSHOT_NAME.match(path.name)
            if match and path.is_file() and not path.is_symlink():
                found[int(match.group(1))] = path
        return dict(sorted(found.items()))

    def weights_at(
        self, step: int, checkpoint_step: int | None, kept: dict[int, Path] | None = None
    ) -> Path:
        """The file holding the weights of ``step``: a kept snapshot (``kept``, default every
        file so named), or the checkpoint when it is of that step (``checkpoint_step``);
        otherwise one line listing what there is."""
        kept = self.snapshot_steps() if kept is None else kept
        if step in kept:
            return kept[step]
        if checkpoint_step == step:
            return self.checkpoint
        have = sorted({*kept, *([checkpoint_step] if checkpoint_step is not None else [])})
        shown = ", ".join(str(s) for s in have[:20]) + (" ..." if len(have) > 20 else "")
        hint = "" if kept else " (train with --keep-every N to keep the weights of earlier steps)"
        raise GentoolError(
            f"{self.path} has no weights of step {step}; it has step(s) {shown or 'none'}{hint}."
        )

    def disk_use(self) -> dict[str, tuple[int, int]]:
        """``{what: (files, bytes)}`` of what a run writes here (checkpoint, snapshots, sample
        grids, log and settings, TensorBoard), for the closing line of a training."""

        def sizes(paths: list[Path]) -> tuple[int, int]:
            total = 0
            counted = 0
            for path in paths:
                try:
                    if path.is_file() and not path.is_symlink():
                        total += path.stat().st_size
                        counted += 1
                except OSError:
                    continue
            return counted, total

        def files(folder: Path) -> list[Path]:
            if folder.is_symlink() or not folder.is_dir():
                return []
            return list(folder.iterdir())

        return {
            "checkpoint": sizes([self.checkpoint]),
            "snapshots": sizes(list(self.snapshot_steps().values())),
            "sample grids": sizes(files(self.samples)),
            "log and settings": sizes([self.log, self.config, self.run_file]),
            "tensorboard": sizes(files(self.tensorboard)),
        }

    def append_log(self, record: dict[str, Any]) -> None:
        """One record at the end of the log, whole or not at all."""
        append_line(self.log, json.dumps(record))

    def read_log(self) -> LogLines:
        return read_log_lines(self.log)


@dataclass
class LogLines:
    """What :func:`read_log_lines` found in a log: its JSON objects, in order, and the lines
    it could not use."""

    path: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    #: The 1-based line number of each record.
    numbers: list[int] = field(default_factory=list)
    #: (1-based line number, why it was skipped)
    bad: list[tuple[int, str]] = field(default_factory=list)
    #: Whether the file was there at all.
    exists: bool = True


def read_log_lines(path: Path) -> LogLines:
    """Parse a ``log.jsonl`` line by line: every JSON object, in order; a line that is not
    UTF-8, not JSON (the last one, without its newline, is "cut short": a kill mid-write) or
    not an object is listed in ``bad``. A missing file reads as empty (``exists`` False);
    one that is not a regular file is one line naming it."""
    log = LogLines(path)
    if path.exists() and not path.is_file():
        raise GentoolError(f"{path} is not a regular file (a FIFO or device?); remove it.")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        log.exists = False
        return log
    except OSError as exc:
        raise GentoolError(f"cannot read {path}: {exc.strerror or exc}.") from None
    lines = raw.split(b"\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            log.bad.append((number, "not UTF-8"))
            continue
        except (ValueError, RecursionError):
            cut = number == len(lines) and not raw.endswith(b"\n")
            log.bad.append((number, "cut short" if cut else "not JSON"))
            continue
        if isinstance(record, dict):
            log.records.append(record)
            log.numbers.append(number)
        else:
            log.bad.append((number, "not a JSON object"))
    return log
