"""A run folder has one owner at a time, and what it holds stays consistent with its checkpoint.

* :class:`RunLock`: ``RUN/.lock`` (JSON: pid, host, process start time, start time) is created
  exclusively when a training starts and removed when it ends. A second training on the same
  folder is refused while the owner lives; a lock left by a process that died (kill -9, power
  loss) is detected on the same host and taken over with a notice.
* :func:`clean_run_folder`: ``--overwrite`` removes the files a previous run wrote (checkpoint,
  log, config, sample grids), never anything else, so the new run starts clean.
* :func:`cut_back`: on resume, log records and sample grids from steps after the checkpoint
  (written before a crash) are dropped, and temporary files of interrupted writes removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import time
from pathlib import Path
from typing import Any

from gentool.errors import GentoolError
from gentool.fileio import atomic_write_text, stale_temporaries

LOCK_NAME = ".lock"
#: Files a run writes at the top of its folder (``--overwrite`` removes exactly these).
RUN_FILES = ("ckpt.safetensors", "log.jsonl", "config.json", "run.toml")
SAMPLE_NAME = re.compile(r"^(?:[a-z]+_)?step_(\d+)\.png$")


def _process_start(pid: int) -> str | None:
    """The kernel's start time of process ``pid`` (guards against reused pids), if known."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[19] if len(fields) > 19 else None


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    now = _process_start(pid)
    return started is None or now is None or now == started


def is_run_folder(path: Path) -> bool:
    """True when ``path`` holds (part of) a gentool run."""
    return any((path / name).exists() for name in (*RUN_FILES, LOCK_NAME))


class RunLock:
    """Exclusive ownership of a run folder for the lifetime of one training process."""

    def __init__(self, folder: Path, notice: Any = None) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.notice = notice or (lambda text: None)
        self.held = False

    def _record(self) -> dict[str, Any]:
        pid = os.getpid()
        return {
            "pid": pid,
            "host": socket.gethostname(),
            "process_start": _process_start(pid),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        }

    def _read_owner(self) -> dict[str, Any] | None:
        try:
            owner = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return owner if isinstance(owner, dict) else None

    def acquire(self) -> None:
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._handle_existing()
                continue
            except OSError as exc:
                raise GentoolError(
                    f"cannot lock run folder {self.folder}: {exc.strerror or exc}; choose "
                    "another --out."
                ) from None
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self._record(), handle)
            self.held = True
            return
        raise GentoolError(f"could not take the lock {self.path}; try again.")

    def _handle_existing(self) -> None:
        if not self.path.is_file():
            raise GentoolError(
                f"{self.path} is not a lock file (a FIFO, folder or device?); remove it and try "
                "again."
            )
        owner = self._read_owner()
        if owner is None:
            # Half-written by a process killed at creation, or not ours: a lock without an
            # owner that is older than a few seconds is stale.
            try:
                age = time.time() - self.path.stat().st_mtime
            except OSError:
                return
            if age < 5:
                time.sleep(1)
                return
            self.notice(f"removed an unreadable stale lock {self.path}")
            with contextlib.suppress(OSError):
                self.path.unlink()
            return
        pid, host = owner.get("pid"), owner.get("host")
        since = owner.get("started", "?")
        if host == socket.gethostname() and isinstance(pid, int):
            if pid != os.getpid() and _alive(pid, owner.get("process_start")):
                raise GentoolError(
                    f"run folder {self.folder} is in use by another training (pid {pid}, since "
                    f"{since}); wait for it, stop it, or choose another --out."
                )
            self.notice(
                f"run folder {self.folder}: the training that held it (pid {pid}, since "
                f"{since}) is gone; taking it over"
            )
            with contextlib.suppress(OSError):
                self.path.unlink()
            return
        raise GentoolError(
            f"run folder {self.folder} is locked by pid {pid} on host {host} (since {since}); "
            f"if that training is over, delete {self.path} and try again."
        )

    def release(self) -> None:
        if self.held:
            with contextlib.suppress(OSError):
                if (self._read_owner() or {}).get("pid") == os.getpid():
                    self.path.unlink()
            self.held = False

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def locked_by_other(folder: Path) -> bool:
    """True when a live process on this host holds ``folder``'s lock."""
    lock = RunLock(folder)
    owner = lock._read_owner()
    if owner is None or owner.get("host") != socket.gethostname():
        return (folder / LOCK_NAME).exists()
    pid = owner.get("pid")
    return isinstance(pid, int) and pid != os.getpid() and _alive(pid, owner.get("process_start"))


def _sample_step(name: str) -> int | None:
    match = SAMPLE_NAME.match(name)
    return int(match.group(1)) if match else None


def clean_run_folder(folder: Path) -> list[Path]:
    """Remove what a previous run wrote in ``folder`` (``--overwrite``); return what went."""
    removed: list[Path] = []
    candidates = [folder / name for name in RUN_FILES]
    samples = folder / "samples"
    if samples.is_dir():
        candidates += [p for p in samples.iterdir() if _sample_step(p.name) is not None]
    candidates += stale_temporaries(folder) + stale_temporaries(samples)
    board = folder / "tensorboard"
    if board.is_dir():
        candidates += [p for p in board.iterdir() if p.name.startswith("events.out.tfevents.")]
    for path in candidates:
        if path.is_file():
            try:
                path.unlink()
            except OSError as exc:
                raise GentoolError(
                    f"--overwrite: cannot remove {path}: {exc.strerror or exc}."
                ) from None
            removed.append(path)
    for directory in (samples, board):
        with contextlib.suppress(OSError):
            directory.rmdir()  # only when nothing else is in it
    return removed


def read_log(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The JSON records of a ``log.jsonl`` and the number of unreadable lines skipped."""
    records: list[dict[str, Any]] = []
    bad = 0
    if path.exists() and not path.is_file():
        raise GentoolError(f"{path} is not a regular file (a FIFO or device?); remove it.")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return records, 0
    except OSError as exc:
        raise GentoolError(f"cannot read {path}: {exc.strerror or exc}.") from None
    for line in raw.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            bad += 1
            continue
        if isinstance(record, dict):
            records.append(record)
        else:
            bad += 1
    return records, bad


def _step_of(record: dict[str, Any]) -> int | None:
    step = record.get("step")
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def cut_back(folder: Path, step: int, *, log_from: Path | None = None) -> dict[str, int]:
    """Make ``folder`` agree with a checkpoint at ``step``: keep log records up to ``step``
    (read from ``log_from``, default the folder's own log), remove later sample grids and
    stale temporaries. Returns counts of what was dropped, for a notice."""
    source = log_from or folder / "log.jsonl"
    records, bad = read_log(source)
    kept = [r for r in records if (_step_of(r) or 0) <= step]
    dropped = {"log_records": len(records) - len(kept), "bad_log_lines": bad}
    rewrite = dropped["log_records"] or bad or source != folder / "log.jsonl"
    if (kept or source.exists()) and rewrite:
        atomic_write_text(folder / "log.jsonl", "".join(json.dumps(r) + "\n" for r in kept))
    samples = folder / "samples"
    later = 0
    if samples.is_dir() and log_from is None:
        for path in samples.iterdir():
            sample_step = _sample_step(path.name)
            if sample_step is not None and sample_step > step and path.is_file():
                with contextlib.suppress(OSError):
                    path.unlink()
                    later += 1
    dropped["samples"] = later
    stale = 0
    for path in stale_temporaries(folder) + stale_temporaries(samples):
        with contextlib.suppress(OSError):
            path.unlink()
            stale += 1
    dropped["temporaries"] = stale
    return dropped
