"""The files a dataset reads, checked before they are opened.

Datasets read files the user names or lays out (``--data-root``, ``--labels``, the files
of a downloaded release). Anything that is not a regular file is refused from its
``stat``, never opened: reading a FIFO blocks until something writes to it, and ``/dev/zero``
never ends. A file that is present but wrong is named, with what is wrong with it, in one
:class:`~gentool.errors.DataError` line.

* :func:`file_problem` says what is wrong with a path that should be a regular file
  (``None``: nothing), from ``os.stat`` alone;
* :func:`check_file` raises that as one line naming the file, and refuses huge files;
* :func:`open_regular` opens a checked file without ever blocking, and checks again on
  the open descriptor (the path may have been swapped after the first check);
* :func:`check_release` refuses special files among a release's files at once, and names
  the missing ones when only some are there.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from gentool.errors import DataError

#: Text files a dataset reads (a labels CSV, CelebA's lists) are refused above this size:
#: the official ``list_attr_celeba.txt`` is 26 MB, and a CSV has one short row per image.
MAX_TEXT_BYTES = 512 * 2**20

#: ``O_NONBLOCK`` where the platform has it: opening a FIFO then returns at once.
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISREG, "a file"),
)


class NotARegularFile(OSError):
    """A path that is not a regular file; the message says what it is instead."""


def kind_of(mode: int) -> str:
    """``"a FIFO (named pipe)"``, ``"a folder"``, ``"a file"``...: what ``st_mode`` is."""
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return "not a regular file"


def _strerror(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def file_problem(path: Path) -> str | None:
    """What is wrong with ``path`` as a regular file to read, or ``None``: from ``stat`` only.

    A symbolic link is followed (a link to ``/dev/zero`` is a device); one that leads
    nowhere is "a broken symbolic link".
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "is a broken symbolic link" if os.path.islink(path) else "does not exist"
    except OSError as exc:
        return f"cannot be read ({_strerror(exc)})"
    if stat.S_ISREG(info.st_mode):
        return None
    kind = kind_of(info.st_mode)
    if kind == "not a regular file":
        return "is not a regular file"
    return f"is {kind}, not a regular file"


def check_file(path: Path, what: str, *, max_bytes: int | None = None, hint: str = "") -> int:
    """The size of ``path``, a regular file, or one :class:`DataError` line.

    The line reads ``<what> <path> <problem>[; <hint>]``, e.g. ``labels file x.csv is a
    FIFO (named pipe), not a regular file; pass a CSV file.``
    """
    problem = file_problem(path)
    tail = f"; {hint}" if hint else ""
    if problem is not None:
        raise DataError(f"{what} {path} {problem}{tail}.")
    size = os.stat(path).st_size
    if max_bytes is not None and size > max_bytes:
        raise DataError(
            f"{what} {path} is {size / 2**20:,.0f} MiB, more than the {max_bytes // 2**20} MiB "
            f"such a file can be{tail}."
        )
    return size


def open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for reading in binary, refusing anything but a regular file.

    Raises :class:`NotARegularFile` (an ``OSError``) with what the path is instead, or the
    ``OSError`` of the open itself. A FIFO is refused from its ``stat``, before any open; the
    open itself does not block either, and what it opened is checked again.
    """
    problem = file_problem(path)
    if problem is not None:
        raise NotARegularFile(problem)
    descriptor = os.open(path, os.O_RDONLY | _NONBLOCK)
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFile(f"is {kind_of(mode)}, not a regular file")
        if _NONBLOCK:
            os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_text(path: Path, what: str, *, hint: str = "") -> str:
    """The UTF-8 text of a small regular file, or one :class:`DataError` line naming it."""
    check_file(path, what, max_bytes=MAX_TEXT_BYTES, hint=hint)
    try:
        with open_regular(path) as handle:
            data = handle.read(MAX_TEXT_BYTES + 1)
    except OSError as exc:
        raise DataError(f"cannot read {what} {path}: {_strerror(exc)}.") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{what} {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}){'; ' + hint if hint else ''}."
        ) from None


def check_folder(path: Path, what: str) -> None:
    """Refuse ``path`` when it exists and is not a folder (a file, a FIFO, a device)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise DataError(f"{what} {path} is a broken symbolic link.") from None
        return
    except OSError as exc:
        raise DataError(f"cannot read {what} {path}: {_strerror(exc)}.") from None
    if not stat.S_ISDIR(info.st_mode):
        raise DataError(f"{what} {path} is {kind_of(info.st_mode)}, not a folder.")


def join_names(names: Sequence[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    if len(names) < 2:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def present(folder: Path, name: str) -> bool:
    """Whether ``folder/name`` exists in any form (a broken link or a FIFO included)."""
    return os.path.lexists(folder / name)


def check_release(
    folder: Path, names: Sequence[str], *, what: str, fetch: str, folders: Sequence[str] = ()
) -> bool:
    """Whether all of a release's ``names`` (files) and ``folders`` are in ``folder``.

    Refused at once, naming the entry: one that is there but is not a regular file (or not a
    folder, for ``folders``). Refused, naming the missing ones and where they were looked
    for: a release only partly there (nothing is downloaded over a user's partial copy).
    ``False``: none of it is there (the caller may download it).
    """
    for name in names:
        if present(folder, name):
            problem = file_problem(folder / name)
            if problem is not None:
                raise DataError(
                    f"{what} file {folder / name} {problem}; replace it with the one from {fetch}."
                )
    for name in folders:
        if present(folder, name):
            check_folder(folder / name, f"{what} folder")
    wanted = [*names, *(f"{name}/" for name in folders)]
    missing = [name for name in wanted if not present(folder, name.rstrip("/"))]
    if not missing:
        return True
    if len(missing) == len(wanted):
        return False
    others = len(wanted) - len(missing)
    raise DataError(
        f"{what} under {folder} lacks {join_names(missing)} (it has the other {others} of "
        f"{len(wanted)} files); restore {'it' if len(missing) == 1 else 'them'} from "
        f"{fetch}, or delete {folder} to download {what} again."
    )
