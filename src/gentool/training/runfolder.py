"""A run folder has one owner at a time, and what it holds stays consistent with its checkpoint.

* :class:`RunLock`: ``RUN/.lock`` (JSON: pid, host, process start time, start time) is created
  exclusively when a training starts and removed when it ends. A second training on the same
  folder is refused while the owner lives; a lock left by a process that died (kill -9, power
  loss) is detected on the same host and taken over with a notice.
* :func:`clean_run_folder`: ``--overwrite`` removes the files a previous run wrote (checkpoint,
  log, config, sample grids, snapshots), never anything else, so the new run starts clean.
* :func:`cut_back`: on resume, log records, sample grids and snapshots from steps after the
  checkpoint (written before a crash) are dropped, and temporary files of interrupted writes
  removed.
* :func:`refuse_links`: a run folder whose entries gentool writes (``samples/``,
  ``ckpt.safetensors``, ``log.jsonl``, ...) are symbolic links is refused before anything is
  written, so nothing is ever written or removed through a link out of the folder.

Every removal goes through :func:`gentool.fileio.remove_owned` with :func:`written_by_gentool`
as the proof: a file is removed only when its name is one gentool gives and its content says
gentool wrote it (the checkpoint's gentool header, the run file's first line, the config's
fields, log records, the PNG mark of sample grids, the temporaries' ``gentool-`` mark).
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

from gentool.checkpoint import checkpoint_header_meta, is_gentool_checkpoint
from gentool.config_file import RUN_FILE_HEADER
from gentool.errors import GentoolError
from gentool.fileio import (
    atomic_write_text,
    is_own_temporary,
    remove_owned,
    stale_temporaries,
)
from gentool.images import written_by_gentool as png_written_by_gentool
from gentool.run_folder import (
    CHECKPOINT,
    CONFIG,
    LOCK,
    LOG,
    RUN_FILE,
    SAMPLES,
    SNAPSHOT_NAME,
    SNAPSHOTS,
    TENSORBOARD,
    RunFolder,
    read_log_lines,
)

LOCK_NAME = LOCK
#: Files a run writes at the top of its folder (``--overwrite`` removes exactly these).
RUN_FILES = (CHECKPOINT, LOG, CONFIG, RUN_FILE)
#: Folders a run writes into.
RUN_FOLDERS = (SAMPLES, SNAPSHOTS, TENSORBOARD)
SAMPLE_NAME = re.compile(r"^(?:[a-z]+_)?step_(\d+)\.png$")
TENSORBOARD_NAME = re.compile(r"^events\.out\.tfevents\.\d+\..+$")
#: The largest log or config read to prove it is gentool's.
_PROOF_BYTES = 256 * 1024 * 1024


def _json_records(path: Path) -> list[Any] | None:
    try:
        if path.stat().st_size > _PROOF_BYTES:
            return None
        raw = path.read_bytes()
    except OSError:
        return None
    records: list[Any] = []
    for line in raw.splitlines():
        if not line.strip():
            continue
        try:
            records.append(json.loads(line.decode("utf-8")))
        except (UnicodeDecodeError, ValueError, RecursionError):
            records.append(None)
    return records


def _is_run_log(path: Path) -> bool:
    """A log gentool wrote: JSON records, each with an integer ``step`` or an ``event`` name
    (a torn last line, as a kill leaves, is allowed after at least one whole record; an empty
    file holds nothing to lose)."""
    records = _json_records(path)
    if records is None:
        return False
    whole = records[:-1] if records and records[-1] is None else records
    if records and not whole:  # one torn line and nothing else: no record proves it ours
        return False
    return all(
        isinstance(r, dict) and (_step_of(r) is not None or isinstance(r.get("event"), str))
        for r in whole
    )


def _is_run_config(path: Path) -> bool:
    try:
        if path.stat().st_size > _PROOF_BYTES:
            return False
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(meta, dict) and {"model", "family", "model_config", "train"} <= set(meta)


def _is_run_file(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return (
                handle.read(len(RUN_FILE_HEADER) + 1)
                .decode("utf-8", "replace")
                .startswith(RUN_FILE_HEADER)
            )
    except OSError:
        return False


def run_id_of(folder: Path) -> str | None:
    """The identity of the run in ``folder`` (its checkpoint's ``run_id``), or None."""
    meta = checkpoint_header_meta(folder / CHECKPOINT)
    found = meta.get("run_id") if meta is not None else None
    return found if isinstance(found, str) else None


def is_snapshot_of(path: Path, run_id: str | None) -> bool:
    """``path`` is a snapshot the run ``run_id`` kept: a weights-only gentool checkpoint with
    that run's identity, of the step its name says. A copy of another run's checkpoint (or
    snapshot) at such a name is not the run's own."""
    match = SNAPSHOT_NAME.match(path.name)
    meta = checkpoint_header_meta(path) if match and not path.is_symlink() else None
    return (
        meta is not None
        and run_id is not None
        and meta.get("run_id") == run_id
        and meta.get("step") == int(match.group(1))  # type: ignore[union-attr]
        and "optim" not in meta
    )


def own_snapshots(folder: Path) -> dict[int, Path]:
    """The snapshots the run in ``folder`` kept, by step (:func:`is_snapshot_of`)."""
    run_id = run_id_of(folder)
    return {
        s: p for s, p in RunFolder(folder).snapshot_steps().items() if is_snapshot_of(p, run_id)
    }


def written_by_gentool(path: Path) -> bool:
    """The proof that a file in a run folder is gentool's: its name is one gentool gives
    there, and its content says gentool wrote it (a snapshot: that this run kept it)."""
    name = path.name
    if path.is_symlink():
        return False
    if is_own_temporary(path):
        return True
    if path.parent.name == SAMPLES:
        return SAMPLE_NAME.match(name) is not None and png_written_by_gentool(path)
    if path.parent.name == SNAPSHOTS:
        return is_snapshot_of(path, run_id_of(path.parent.parent))
    if path.parent.name == TENSORBOARD:
        return TENSORBOARD_NAME.match(name) is not None
    proofs = {
        CHECKPOINT: is_gentool_checkpoint,
        LOG: _is_run_log,
        CONFIG: _is_run_config,
        RUN_FILE: _is_run_file,
    }
    return name in proofs and proofs[name](path)


def refuse_links(folder: Path) -> None:
    """Refuse a run folder in which a name gentool writes is a symbolic link (or a folder it
    writes into is a file): gentool never writes or removes through a link."""
    for name in (*RUN_FILES, *RUN_FOLDERS, LOCK_NAME):
        path = folder / name
        if path.is_symlink():
            try:
                target = os.readlink(path)
            except OSError:
                target = "?"
            raise GentoolError(
                f"{path} is a symbolic link (to {target}); gentool never writes or removes "
                "through a link in its run folder: remove the link, or choose another --out."
            )
    for name in RUN_FOLDERS:
        path = folder / name
        if path.exists() and not path.is_dir():
            raise GentoolError(
                f"{path} is not a folder; gentool writes its {name} there: move it away, or "
                "choose another --out."
            )


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
            try:
                os.write(fd, json.dumps(self._record()).encode("utf-8"))
                os.fsync(fd)
            except OSError as exc:  # a full disk: leave no empty lock behind
                os.close(fd)
                with contextlib.suppress(OSError):
                    self.path.unlink()
                raise GentoolError(
                    f"cannot write the lock {self.path}: {exc.strerror or exc}; free some space "
                    "or choose another --out."
                ) from None
            os.close(fd)
            self.held = True
            return
        raise GentoolError(
            f"could not take the lock {self.path}: another training keeps taking it; check what "
            "else is training into this folder."
        )

    def _handle_existing(self) -> None:
        if self.path.is_symlink():
            raise GentoolError(
                f"{self.path} is a symbolic link, not gentool's lock; gentool never follows links "
                "in its run folder: remove the link, or choose another --out."
            )
        if not self.path.is_file():
            raise GentoolError(
                f"{self.path} is not a lock file (a FIFO, folder or device?); it is not "
                "gentool's: move it away, or choose another --out."
            )
        owner = self._read_owner()
        if owner is None:
            # Empty: created by a process killed before it wrote its record (gentool's lock is
            # created and filled at once); older than a few seconds, it is stale. Anything else
            # there is not provably gentool's, so it is left alone.
            try:
                info = self.path.stat()
            except OSError:
                return
            if info.st_size:
                raise GentoolError(
                    f"{self.path} is not a lock gentool wrote (no owner record in it); move it "
                    "away, or choose another --out."
                )
            if time.time() - info.st_mtime < 5:
                time.sleep(1)
                return
            self.notice(f"removed an empty stale lock {self.path}")
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


def _snapshot_step(name: str) -> int | None:
    match = SNAPSHOT_NAME.match(name)
    return int(match.group(1)) if match else None


def _stepped(folder: Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of the sample grids and snapshots a run wrote by name."""
    found = [(_sample_step(p.name), p) for p in _entries(folder / SAMPLES)]
    found += [(_snapshot_step(p.name), p) for p in _entries(folder / SNAPSHOTS)]
    return [(step, path) for step, path in found if step is not None]


def _entries(folder: Path) -> list[Path]:
    """The files of a folder gentool writes into, when it is a real folder (not a link)."""
    if folder.is_symlink() or not folder.is_dir():
        return []
    return sorted(folder.iterdir())


def _candidates(folder: Path) -> list[Path]:
    """What a run writes by name in ``folder`` and is there now (``--overwrite`` removes these
    when they are provably gentool's)."""
    board = folder / TENSORBOARD
    candidates = [folder / name for name in RUN_FILES]
    candidates += [path for _, path in _stepped(folder)]
    candidates += [p for p in _entries(board) if p.name.startswith("events.out.tfevents.")]
    candidates += _temporaries(folder)
    return [p for p in candidates if os.path.lexists(p)]


def _temporaries(folder: Path) -> list[Path]:
    """Temporaries of interrupted writes in the run folder and the folders it writes into."""
    return [p for d in (folder, folder / SAMPLES, folder / SNAPSHOTS) for p in stale_temporaries(d)]


def refuse_foreign(folder: Path, *, after_step: int | None = None) -> None:
    """Before a run writes or removes anything in ``folder``: refuse when a file at a name the
    run writes is not provably gentool's (a user's ``config.json``, a picture named
    ``step_000100.png``, a link): the run would replace it, and gentool removes or replaces
    only what it wrote. ``after_step`` (a resumed run): only sample grids and snapshots after
    that step, the ones the continued run writes again, are checked."""
    if after_step is None:
        candidates = _candidates(folder)
    else:
        candidates = [p for step, p in _stepped(folder) if step > after_step and os.path.lexists(p)]
    foreign = [p for p in candidates if not written_by_gentool(p)]
    if foreign:
        more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
        raise GentoolError(
            f"{foreign[0]}{more} is in the way: the run would replace it, and it is not a file "
            "gentool wrote (a link, or no gentool record in it); gentool replaces only its own "
            "files: move it away, or choose another --out."
        )


def clean_run_folder(folder: Path) -> list[Path]:
    """Remove what a previous run wrote in ``folder`` (``--overwrite``; call
    :func:`refuse_foreign` first); return what went. Only provably gentool's files go."""
    # proven before anything goes: a snapshot's proof reads the checkpoint, removed first
    owned = {p for p in _candidates(folder) if written_by_gentool(p)}
    removed = [p for p in _candidates(folder) if remove_owned(p, folder, owned.__contains__)]
    for directory in (folder / SAMPLES, folder / SNAPSHOTS, folder / TENSORBOARD):
        if not directory.is_symlink():
            with contextlib.suppress(OSError):
                directory.rmdir()  # only when nothing else is in it
    return removed


def read_log(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The JSON records of a ``log.jsonl`` and the number of unreadable lines skipped
    (:func:`gentool.run_folder.read_log_lines`)."""
    lines = read_log_lines(path)
    return lines.records, len(lines.bad)


def _step_of(record: dict[str, Any]) -> int | None:
    step = record.get("step")
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def cut_back(folder: Path, step: int, *, log_from: Path | None = None) -> dict[str, int]:
    """Make ``folder`` agree with a checkpoint at ``step``: keep log records up to ``step``
    (read from ``log_from``, default the folder's own log), remove later sample grids and
    stale temporaries. Returns counts of what was dropped, for a notice."""
    source = log_from or folder / LOG
    records, bad = read_log(source)
    kept = [r for r in records if (_step_of(r) or 0) <= step]
    dropped = {"log_records": len(records) - len(kept), "bad_log_lines": bad}
    rewrite = dropped["log_records"] or bad or source != folder / LOG
    if (kept or source.exists()) and rewrite:
        atomic_write_text(folder / LOG, "".join(json.dumps(r) + "\n" for r in kept))
    later = {"samples": 0, "snapshots": 0}
    if log_from is None:
        for kept_step, path in _stepped(folder):
            if kept_step > step and remove_owned(path, folder, written_by_gentool):
                later[path.parent.name] += 1
    dropped.update(later)
    stale = 0
    for path in _temporaries(folder):
        if remove_owned(path, folder, written_by_gentool):
            stale += 1
    dropped["temporaries"] = stale
    return dropped
