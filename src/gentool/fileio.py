"""Every file gentool writes goes through here: atomically, and never over a user's file unasked.

A write goes to a hidden temporary file beside the target (``.NAME.gentool-XXXXXXXX.tmp``, a
name no user picks, so a stale one is provably gentool's), is flushed and fsynced, and is renamed over the target in one step, so a reader (or a user after a crash, a
full disk or a kill -9) sees the old file or the new one, never half of one. A failure is one
line (:class:`~gentool.errors.OutputError`) naming the file and the reason, and the temporary
file is removed.

Commands that write to a path the user names refuse to replace an existing file unless asked
(``--overwrite``): :func:`check_new_output` says so in one line before any work is done. A
dangling symbolic link counts as an existing output, and a replaced link is replaced itself: its
target is never written.

The one rule for removal: :func:`remove_owned` deletes a file only when it lies inside a folder
gentool owns, is reached from that folder without passing through a symbolic link, is itself a
regular file (a link is never followed, nor removed), and a proof (an unmistakable name, or a
record inside the file) says gentool wrote it. Everything gentool cleans goes through it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from gentool.errors import OutputError

#: Prefix and suffix of the temporary files writes go through (so stale ones can be found).
TMP_PREFIX = "."
TMP_SUFFIX = ".tmp"
#: The mark in every temporary name: ``.NAME.gentool-XXXXXXXX.tmp``.
TMP_MARK = "gentool-"
#: A temporary gentool made (``tempfile`` draws the 8 characters from ``[a-z0-9_]``).
_OWN_TEMPORARY = re.compile(r"^\..+\.gentool-[a-z0-9_]{8}\.tmp$")


def _temporary_beside(folder: Path, name: str) -> str:
    """Create an empty temporary file in ``folder`` with gentool's mark; return its path."""
    fd, tmp_name = tempfile.mkstemp(
        prefix=f"{TMP_PREFIX}{name}.{TMP_MARK}", suffix=TMP_SUFFIX, dir=folder
    )
    os.close(fd)
    return tmp_name


def is_own_temporary(path: str | Path) -> bool:
    """True when ``path``'s name is one only gentool's writes make (``.NAME.gentool-XXXXXXXX.tmp``);
    a user's ``.notes.tmp`` is not."""
    return bool(_OWN_TEMPORARY.match(Path(path).name))


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
        tmp = Path(_temporary_beside(path.parent, path.name))
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {_reason(exc)}.", reason=_reason(exc)) from None
    try:
        # mkstemp makes the file private (0600); give it the mode a plain open() would, or
        # keep the mode of the file it replaces.
        # (of the file itself: a link being replaced lends no mode of its target)
        replaced = path.lstat() if os.path.lexists(path) else None
        mode = (
            replaced.st_mode & 0o7777
            if replaced is not None and stat.S_ISREG(replaced.st_mode)
            else 0o666 & ~_umask()
        )
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
        name = _temporary_beside(folder, "probe")
    except OSError as exc:
        reason = _reason(exc)
        if exc.errno == errno.ENOENT:  # the folder is there: it takes no new files (/proc)
            reason = "that folder does not take new files (a virtual file system such as /proc?)"
        raise OutputError(f"cannot write {path}: {folder}: {reason}.", reason=reason) from None
    with contextlib.suppress(OSError):
        os.unlink(name)


def check_new_output(path: str | Path, overwrite: bool, *, option: str = "--overwrite") -> Path:
    """Refuse, before any work, to replace an existing file the user did not ask to replace;
    refuse a folder or an unwritable location in one line too."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise OutputError(f"output {path} is a folder; name a file.")
    if path.is_symlink() and not overwrite:
        raise OutputError(
            f"output {path} already exists (a symbolic link); pass {option} to replace the link "
            "(its target is never written)."
        )
    if path.exists() and not overwrite:
        raise OutputError(f"output {path} already exists; pass {option} to replace it.")
    probe_writable(path)
    return path


def stale_temporaries(directory: str | Path) -> list[Path]:
    """Temporary files left in ``directory`` by gentool's writes that were killed part-way
    (only gentool's marked names; a link or a folder so named is not one)."""
    directory = Path(directory)
    if directory.is_symlink() or not directory.is_dir():
        return []
    return sorted(
        p for p in directory.iterdir() if is_own_temporary(p) and not p.is_symlink() and p.is_file()
    )


def link_below(owner: str | Path, path: str | Path) -> Path | None:
    """The first path from ``owner`` (exclusive) down to ``path`` (inclusive) that is a
    symbolic link, or None. ``path`` must be ``owner`` joined with a relative path."""
    owner, path = Path(owner), Path(path)
    relative = path.relative_to(owner)
    current = owner
    for part in relative.parts:
        current = current / part
        if current.is_symlink():
            return current
    return None


def _inside(owner: Path, path: Path) -> bool:
    try:
        relative = path.relative_to(owner)
    except ValueError:
        return False
    return ".." not in relative.parts and relative.parts != ()


def remove_owned(path: str | Path, owner: str | Path, proof: Callable[[Path], bool]) -> bool:
    """Remove the file ``path`` if, and only if, gentool provably wrote it; the one way gentool
    deletes anything.

    ``path`` must lie inside ``owner`` (a folder gentool owns, e.g. a run folder), be reached
    from it without passing through a symbolic link, be a regular file itself (a link is neither
    followed nor removed), and ``proof(path)`` must say gentool wrote it (an unmistakable name,
    or a record inside the file). Returns True when the file was removed, False when it is not
    there or not provably gentool's (it is then left as it is). Removing opens each folder
    below ``owner`` with ``O_NOFOLLOW``, so a link swapped in meanwhile is not followed either.
    """
    owner, path = Path(owner), Path(path)
    if not _inside(owner, path) or link_below(owner, path) is not None:
        return False
    try:
        info = path.lstat()
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode) or not proof(path):
        return False
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
    parts = path.relative_to(owner).parts
    try:
        fd = os.open(owner, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return False
    try:
        for part in parts[:-1]:
            try:
                inner = os.open(part, flags, dir_fd=fd)
            except OSError:
                return False
            os.close(fd)
            fd = inner
        try:
            again = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
        except OSError:
            return False
        if not stat.S_ISREG(again.st_mode) or (again.st_ino, again.st_dev) != (
            info.st_ino,
            info.st_dev,
        ):
            return False
        try:
            os.unlink(parts[-1], dir_fd=fd)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise OutputError(
                f"cannot remove {path}: {_reason(exc)}.", reason=_reason(exc)
            ) from None
    finally:
        os.close(fd)
    return True


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
