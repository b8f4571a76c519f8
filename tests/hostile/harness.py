"""The table-driven harness of the hostile-input suite.

Each case is a :class:`Case`: a command line (with placeholders for fixture files), what the
outcome must be (``refuse``: a non-zero exit with one ``Error:`` line; ``ok``: exit 0), an
optional pattern the message must match, and which files the command may change. For every
case :func:`run_case`:

* lays out the fixture files the command line names, in a fresh folder;
* hashes every file there, runs the command in-process, and hashes again;
* asserts the exit code, that no exception escaped (no traceback), that a refusal is exactly
  one ``Error:`` line and never gentool's "internal error" safety net, and that no file the
  case does not list in ``may_change`` was changed, created or removed.

Placeholders in arguments (``{name}``) are fixture files copied into the case's folder on
demand; ``{tmp}`` is the case's folder itself. See ``FIXTURES`` in ``conftest.py``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

#: A fixture maker: builds the named file or folder at the given path.
Maker = Callable[[Path], None]


@dataclass
class Case:
    """One hostile input and what gentool must do with it."""

    id: str
    args: list[str]
    #: "refuse" (non-zero exit, one Error: line) or "ok" (exit 0).
    expect: str = "refuse"
    #: A regular expression the output must contain (searched case-insensitively).
    match: str | None = None
    #: Exact exit code, when it matters.
    code: int | None = None
    #: Glob patterns (relative to the case folder) of files the command may create or change.
    may_change: tuple[str, ...] = ()
    #: Runs in the case folder before the command (after fixtures are laid out).
    setup: Callable[[Path], None] | None = None
    #: Extra assertions after the command: ``check(case_folder, result)``.
    check: Callable[[Path, Result], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    #: Text fed to standard input.
    input: str | None = None

    def __str__(self) -> str:
        return self.id


def file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every regular file under ``root``, by relative POSIX path."""
    out: dict[str, str] = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            if path.is_symlink() or not path.is_file():
                continue
            out[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def placeholders(args: list[str]) -> set[str]:
    names: set[str] = set()
    for arg in args:
        for _, name, _, _ in string.Formatter().parse(arg):
            if name:
                names.add(name)
    return names


def _allowed(rel: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(rel, p) for p in patterns)


def assert_one_line_error(output: str) -> str:
    """The output of a refusal: exactly one ``Error:`` line and no traceback."""
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, f"expected one 'Error:' line, got:\n{output}"
    assert "internal error" not in errors[0], errors[0]
    return errors[0]


def run_case(
    case: Case,
    folder: Path,
    fixtures: dict[str, Maker],
    invoke: Callable[..., Result],
) -> Result:
    """Run one case in ``folder`` and assert everything the harness promises."""
    folder.mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {"tmp": str(folder)}
    for name in sorted(placeholders(case.args) - {"tmp"}):
        if name not in fixtures:
            raise KeyError(f"case {case.id}: unknown fixture '{{{name}}}'")
        target = folder / name
        if not target.exists():
            fixtures[name](target)
        values[name] = str(target)
    if case.setup is not None:
        case.setup(folder)
    args = [arg.format(**values) for arg in case.args]
    before = file_hashes(folder)
    result = invoke(args, case)
    after = file_hashes(folder)
    output = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{case.id}: exception escaped: {result.exception!r}\n{output}"
    )
    assert "Traceback" not in output, f"{case.id}: traceback in output\n{output}"
    if case.expect == "ok":
        assert result.exit_code == 0, (
            f"{case.id}: expected success, got {result.exit_code}\n{output}"
        )
    else:
        assert result.exit_code != 0, f"{case.id}: expected a refusal, got exit 0\n{output}"
        assert_one_line_error(output)
    if case.code is not None:
        assert result.exit_code == case.code, f"{case.id}: exit {result.exit_code}\n{output}"
    if case.match is not None:
        assert re.search(case.match, output, re.IGNORECASE | re.DOTALL), (
            f"{case.id}: output does not match {case.match!r}\n{output}"
        )
    changed = sorted(
        rel
        for rel in set(before) | set(after)
        if before.get(rel) != after.get(rel) and not _allowed(rel, case.may_change)
    )
    assert not changed, f"{case.id}: files changed that must not: {changed}\n{output}"
    if case.check is not None:
        case.check(folder, result)
    return result


def cli_invoker(env: dict[str, str] | None = None) -> Callable[[list[str], Case], Result]:
    """Run the gentool CLI in-process, stderr and stdout together."""
    from gentool.cli.main import cli

    def invoke(args: list[str], case: Case) -> Result:
        runner = CliRunner()
        merged = dict(env or {})
        merged.update(case.env)
        return runner.invoke(cli, args, env=merged, input=case.input, catch_exceptions=True)

    return invoke
