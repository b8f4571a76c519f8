"""``gentool evaluate``: metrics of a checkpoint against data."""

from __future__ import annotations

from typing import Any

import click

from gentool.cli.options import data_options, device_option, seed_option


@click.command(context_settings={"show_default": True})
@click.argument("checkpoint", type=click.Path(path_type=str))
@data_options(default_dataset=None, split="test")
@click.option(
    "--metrics", default=None, help="Comma list of metrics [default: all that apply to the model]."
)
@click.option(
    "-n",
    "--num-samples",
    type=click.IntRange(1),
    default=2000,
    help="Generated images to evaluate.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=str),
    default=None,
    help="Also write the results as JSON.",
)
@click.option(
    "--hr-dir",
    type=click.Path(path_type=str),
    default=None,
    help="High-resolution images to evaluate an upscaler on.",
)
@device_option
@seed_option
@click.pass_obj
def evaluate(app: Any, checkpoint: str, **kwargs: Any) -> None:
    """Compute metrics for CHECKPOINT against a dataset split (or --hr-dir for upscalers).

    \b
    Examples:
      gentool evaluate runs/dcgan-ls --metrics swd,diversity
      gentool evaluate runs/vae --dataset folder --data-root faces/ --split test --json m.json
    """
    from gentool.errors import GentoolError

    raise GentoolError("gentool evaluate has no metrics in this build yet.")
