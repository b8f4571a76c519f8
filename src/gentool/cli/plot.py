"""``gentool plot``: learning curves, training timelines, latent maps."""

from __future__ import annotations

from typing import Any

import click


@click.group()
def plot() -> None:
    """Pictures of training runs and models (PNG by default; SVG/PDF by extension)."""


@plot.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, path_type=str))
@click.option(
    "-o",
    "--output",
    default="curves.png",
    show_default=True,
    help="Image to write (.png, .svg, .pdf).",
)
@click.option(
    "--window",
    type=click.IntRange(1),
    default=20,
    show_default=True,
    help="Moving-average window in logged points.",
)
@click.pass_obj
def curves(app: Any, runs: tuple[str, ...], output: str, window: int) -> None:
    """Learning curves of one or more RUNS (folders with log.jsonl), overlaid."""
    from gentool.errors import GentoolError

    raise GentoolError("plotting is not available in this build yet.")
