"""Every file gentool writes goes through here: atomically, and never over a user's file unasked.

A write goes to a hidden temporary file beside the target (``.NAME.XXXX.tmp``), is flushed and
fsynced, and is renamed over the target in one step, so a reader (or a user after a crash, a
full disk or a kill -9) sees the old file or the new one, never half of one. A failure is one
line (:class:`~gentool.errors.OutputError`) naming the file and the reason, and the temporary
file is removed.

Commands that write to a path the user names refuse to replace an existing file unless asked
(``--overwrite``): :func:`check_new_output` says so in one line before any work is done.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from gentool.errors import OutputError

#: Prefix and suffix of the temporary files writes go through (so stale ones can be found).
TMP_PREFIX = "."
TMP_SUFFIX = ".tmp"


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def ensure_parent(path: Path) -> None:
    """Create ``path``'s folder, or fail in one line."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot create folder {path.parent}: {_reason(exc)}.", reason=_reason(exc)
        ) from None
    if not path.parent.is_dir():
        raise OutputError(f"cannot write {path}: {path.parent} is not a folder.")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    Whatever the body writes to the yielded path becomes ``path`` only if the body returns
    normally; on any exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder.")
    ensure_parent(path)
    try:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f"{TMP_PREFIX}{path.name}.", suffix=TMP_SUFFIX, dir=path.parent
        )
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {_reason(exc)}.", reason=_reason(exc)) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        # mkstemp makes the file private (0600); give it the mode a plain open() would, or
        # keep the mode of the file it replaces.
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask()
        os.chmod(tmp, mode)
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputError(
            f"could not write {path} ({_reason(exc)}); "
            + ("the existing file is unchanged." if path.exists() else "nothing was written."),
            reason=_reason(exc),
        ) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def json_text(value: Any, indent: int | None = None) -> str:
    """``value`` as standard JSON: NaN and infinities (which ``json.dumps`` writes as the
    non-standard ``NaN``/``Infinity``) become ``null``."""
    return json.dumps(_finite(value), indent=indent, allow_nan=False)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_with(path: str | Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(handle)`` on a binary handle whose contents become ``path`` atomically
    (for writers such as ``PIL.Image.save`` or ``Figure.savefig`` that take a file object)."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        write(handle)
        handle.flush()
    return path


def _append_bytes(fd: int, data: bytes) -> int:
    """One ``write`` of a whole log line (the seam tests use to fill the disk)."""
    return os.write(fd, data)


def append_line(path: str | Path, line: str) -> None:
    """Append one whole line to a log file, or nothing: a write that fails part-way (a full
    disk) is cut back to the old end, so the log never ends in a torn line."""
    path = Path(path)
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    if path.exists() and not path.is_file():
        raise OutputError(f"cannot append to {path}: it is not a regular file.")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o666)
    except OSError as exc:
        raise OutputError(
            f"could not append to {path} ({_reason(exc)}).", reason=_reason(exc)
        ) from None
    try:
        end = os.fstat(fd).st_size
        try:
            written = _append_bytes(fd, data)
            if written != len(data):
                raise OSError(28, "No space left on device")
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, end)
            raise OutputError(
                f"could not append to {path} ({_reason(exc)}).", reason=_reason(exc)
            ) from None
    finally:
        os.close(fd)


def probe_writable(path: str | Path) -> None:
    """Refuse in one line, before any work, a file that could not be created at ``path``.

    ``os.access`` says yes to root everywhere (``/proc`` included), so an empty temporary
    file is created (and removed at once) in the nearest existing folder.
    """
    path = Path(path)
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write {path}: {folder} is not a folder.")
    try:
        fd, name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}probe.", suffix=TMP_SUFFIX, dir=folder)
    except OSError as exc:
        raise OutputError(
            f"cannot write {path}: {folder}: {_reason(exc)}.", reason=_reason(exc)
        ) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)


def check_new_output(path: str | Path, overwrite: bool, *, option: str = "--overwrite") -> Path:
    """Refuse, before any work, to replace an existing file the user did not ask to replace;
    refuse a folder or an unwritable location in one line too."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"output {path} is a folder; name a file.")
    if path.exists() and not overwrite:
        raise OutputError(f"output {path} already exists; pass {option} to replace it.")
    probe_writable(path)
    return path


def stale_temporaries(directory: str | Path) -> list[Path]:
    """Temporary files left in ``directory`` by writes that were killed part-way."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(
        p
        for p in directory.iterdir()
        if p.name.startswith(TMP_PREFIX) and p.name.endswith(TMP_SUFFIX) and p.is_file()
    )


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
