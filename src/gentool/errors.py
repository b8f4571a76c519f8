"""Errors a user can cause.

Every such error is one line saying what is wrong and what to do. They subclass
:class:`click.ClickException` so the CLI prints ``Error: <message>`` and exits with code 2
without a traceback, and library users can still catch :class:`GentoolError`.
"""

from __future__ import annotations

import click


class GentoolError(click.ClickException):
    """A problem with the user's input: bad names, paths, checkpoints or options."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        # Keep it to one line: the CLI contract is a single-line error.
        super().__init__(" ".join(str(message).split()))


class CheckpointError(GentoolError):
    """A file that is not a valid gentool checkpoint, or one that does not fit the model."""


class PluginError(GentoolError):
    """An unknown plugin name, a duplicate registration, or an incompatible plugin."""


class DataError(GentoolError):
    """A missing or empty data source, or data that cannot be used."""


class OutputError(GentoolError):
    """A file could not be written (full disk, bad path), or would replace one unasked.

    ``reason`` is the operating system's word for a failed write ("No space left on
    device"), when there is one.
    """

    exit_code = 1

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class TrainingStopped(GentoolError):
    """Training stopped on purpose because continuing would be wrong (a non-finite loss)."""

    exit_code = 1


class Interrupted(GentoolError):
    """Training was interrupted (Ctrl-C, SIGTERM) after saving a checkpoint."""

    exit_code = 130


class InternalError(GentoolError):
    """A bug in gentool or a plugin, reported in one line (``GENTOOL_DEBUG=1`` shows the traceback)."""

    exit_code = 1
