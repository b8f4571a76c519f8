"""A run folder, in one place: the names of what ``gentool train`` writes there and the one
reader and writer of its log.

::

    RUN/
      ckpt.safetensors      the checkpoint (weights, optimizers, random streams, settings)
      config.json           the resolved settings, as JSON
      run.toml              the same, as a file ``gentool train --config`` takes
      log.jsonl             one JSON record per log interval (and events, e.g. evaluations)
      samples/step_NNNNNN.png   the sample grid of each sample interval
      tensorboard/          with --tensorboard
      .lock                 while a training writes the folder

Every command that takes ``RUN`` or a checkpoint file resolves it with
:func:`RunFolder.of`; the log is parsed by :func:`read_log_lines` alone. The rules for what
may be removed from a run folder live in :mod:`gentool.training.runfolder`.
"""

from __future__ import annotations

import json
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
    def tensorboard(self) -> Path:
        return self.path / TENSORBOARD

    @property
    def lock(self) -> Path:
        return self.path / LOCK

    def sample_path(self, step: int) -> Path:
        """The grid a training writes at ``step``."""
        return self.samples / f"step_{step:06d}.png"

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
