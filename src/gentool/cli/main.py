"""The ``gentool`` click group.

Each command lives in its own module. One rich :class:`~rich.console.Console` (on stderr, so
stdout stays clean for data) is created here and passed to commands through ``ctx.obj``.
Plugins may add commands through the ``gentool_register_commands`` hook.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import click
from rich.console import Console

from gentool import __version__
from gentool.cli.evaluate import evaluate
from gentool.cli.plot import plot
from gentool.cli.plugins_cmd import plugins
from gentool.cli.reconstruct import reconstruct
from gentool.cli.report import report
from gentool.cli.sample import sample
from gentool.cli.train import train
from gentool.cli.upscale import upscale

DEBUG_ENV = "GENTOOL_DEBUG"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] + ("..." if len(text) > 300 else "")


#: What torch's CPU allocator says when ``malloc`` fails (it raises a plain RuntimeError).
_CPU_ALLOCATOR_FAILED = ("DefaultCPUAllocator: can't allocate memory", "not enough memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """A failed allocation: Python's MemoryError, CUDA's OutOfMemoryError, or torch's CPU
    allocator giving up (a RuntimeError naming it)."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    return isinstance(exc, RuntimeError) and any(s in str(exc) for s in _CPU_ALLOCATOR_FAILED)


def translate_unexpected(exc: Exception) -> click.ClickException:
    """The last line of defence: an exception no check turned into a message becomes one
    line (never a traceback) that says what happened and how to see more."""
    from gentool.errors import GentoolError, InternalError

    if is_out_of_memory(exc):
        return GentoolError(
            "out of memory: the model, data, batch or number of images is too large for this "
            "machine; ask for less (a smaller --batch-size or -n, --image-size or model width)."
        )
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        reason = exc.strerror or _one_line(exc) or type(exc).__name__
        return GentoolError(f"cannot use{where}: {reason}.")
    from gentool.plugins import plugin_at_fault

    culprit = plugin_at_fault(exc)
    if culprit is not None:
        from gentool.errors import PluginError

        return PluginError(
            f"{culprit.kind} '{culprit.name}' ({culprit.distribution}) failed "
            f"({type(exc).__name__}: {_one_line(exc)}); this is a bug in the plugin: rerun with "
            f"{DEBUG_ENV}=1 for the traceback and report it to its authors."
        )
    return InternalError(
        f"internal error ({type(exc).__name__}: {_one_line(exc)}); this is a bug in gentool or "
        f"a plugin: rerun with {DEBUG_ENV}=1 for the traceback and report it."
    )


class GentoolGroup(click.Group):
    """The top-level group: user errors are one line, and so is anything unforeseen."""

    def invoke(self, ctx: click.Context) -> Any:
        import os

        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if os.environ.get(DEBUG_ENV):
                raise
            raise translate_unexpected(exc) from None


class AppContext:
    """What every command receives as ``ctx.obj``."""

    def __init__(self, console: Console) -> None:
        self.console = console


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    from gentool.plugins import PluginWarning

    if issubclass(category, (PluginWarning, UserWarning)) and category.__module__.startswith(
        "gentool"
    ):
        click.echo(f"Warning: {message}", err=True)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


@click.group(
    cls=GentoolGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="gentool")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Train and use image generative models: VAEs, GANs and image-to-image networks.

    \b
    Examples:
      gentool train dcgan --loss ls          # DCGAN, least squares, on built-in digits
      gentool sample runs/dcgan-ls/ckpt.safetensors -n 36 -o grid.png
      gentool plugins                         # installed models, losses, datasets
    """
    warnings.showwarning = _show_warning
    # soft_wrap: a long line stays one line in a log file instead of being cut at 80 columns
    ctx.obj = AppContext(Console(stderr=True, soft_wrap=True))


for command in (train, sample, reconstruct, upscale, evaluate, plot, report, plugins):
    cli.add_command(command)


def register_plugin_commands(group: click.Group) -> None:
    """Let installed plugins add commands (the ``gentool_register_commands`` hook).

    Never fatal: a plugin whose hook fails, or whose command is invalid or takes a name
    already in use (a built-in's included), is one warning and the rest keeps working.
    """
    from gentool.plugins import register_commands

    try:
        register_commands(group)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a bug here must not stop `gentool --version`
        click.echo(
            f"Warning: plugin commands could not be added ({type(exc).__name__}: "
            f"{_one_line(exc)}).",
            err=True,
        )


def main() -> None:
    """Console-script entry point."""
    warnings.showwarning = _show_warning
    try:
        register_plugin_commands(cli)
    except KeyboardInterrupt:
        click.echo("Aborted!", err=True)
        sys.exit(130)
    cli.main(prog_name="gentool")


if __name__ == "__main__":
    main()
