"""``gentool upscale``: enlarge images with a super-resolution model."""

from __future__ import annotations

from typing import Any

import click

from gentool.cli.options import device_option


@click.command(context_settings={"show_default": True})
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=str))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=str),
    default=None,
    help="Output file (one input) or folder (several) [default: NAME_x4.png beside each input].",
)
@click.option(
    "--ckpt",
    type=click.Path(path_type=str),
    default=None,
    help="An image2image checkpoint [default: the model shipped with gentool].",
)
@click.option(
    "--scale", type=click.IntRange(2, 8), default=4, help="Upscaling factor (must match the model)."
)
@click.option(
    "--tile",
    type=click.IntRange(16),
    default=256,
    help="Tile size in input pixels; bounds memory on large images.",
)
@click.option(
    "--overlap",
    type=click.IntRange(0),
    default=16,
    help="Overlap between tiles in input pixels, blended to hide seams.",
)
@device_option
@click.pass_obj
def upscale(
    app: Any,
    inputs: tuple[str, ...],
    output: str | None,
    ckpt: str | None,
    scale: int,
    tile: int,
    overlap: int,
    device: str,
) -> None:
    """Upscale images (files or folders) by --scale with a super-resolution model.

    \b
    Examples:
      gentool upscale photo.png                      # writes photo_x4.png
      gentool upscale photos/ -o big/                # a folder at once
      gentool upscale scan.tif --ckpt runs/sr/ckpt.safetensors --tile 128
    """
    from gentool.cli.common import load_model, require_family
    from gentool.errors import GentoolError

    if ckpt is None:
        raise GentoolError(
            "no default upscaler is installed yet; pass --ckpt of an image2image checkpoint."
        )
    model, _ = load_model(ckpt, device)
    require_family(model, ("image2image",), "gentool upscale")
    raise GentoolError(f"model '{model.PLUGIN_NAME}' does not support upscaling.")
