"""``gentool upscale``: enlarge images with a super-resolution model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gentool.cli.options import PathText, RunOrCheckpoint, UpscalerChoice, device_option
from gentool.shipped import shipped_help


@click.command(context_settings={"show_default": True})
@click.argument("inputs", nargs=-1, required=True, type=PathText(exists=True))
@click.option(
    "-o",
    "--output",
    type=PathText(),
    default=None,
    help="Output file (one input) or folder (several, or a folder input) "
    "[default: NAME_x4.png beside each input; DIR_x4/ for a folder].",
)
@click.option(
    "--model",
    "model_name",
    type=UpscalerChoice(),
    default=None,
    help=shipped_help(),
)
@click.option(
    "--ckpt",
    type=RunOrCheckpoint(),
    default=None,
    help="A run folder or checkpoint of an image-to-image run (the same as --model RUN|CKPT).",
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
@click.option(
    "--ensemble",
    is_flag=True,
    help="Average the model over the 8 flips and quarter turns of each tile (geometric "
    "self-ensemble, as EDSR+): 8 times the time, usually a little sharper and more accurate.",
)
@click.option(
    "--no-ema",
    is_flag=True,
    help="With --ckpt of a run trained with --ema: use the trained weights, not their "
    "moving average (refused for a checkpoint without one).",
)
@click.option("--overwrite", is_flag=True, help="Replace output files that already exist.")
@device_option
@click.pass_obj
def upscale(
    app: Any,
    inputs: tuple[str, ...],
    output: str | None,
    ckpt: str | None,
    model_name: str | None,
    scale: int,
    tile: int,
    overlap: int,
    ensemble: bool,
    no_ema: bool,
    overwrite: bool,
    device: str,
) -> None:
    """Upscale images (files or folders) by --scale with a super-resolution model.

    Grey, RGBA (alpha resized with bicubic) and 16-bit grey images are kept in their kind
    where the output format holds it (JPEG drops alpha and 16 bits, and says so); palette
    images come out RGB or RGBA, float images 16-bit; inputs over 64 megapixels and files that are not images are refused. An
    animated image (GIF, APNG, WebP) is upscaled from its first frame only, with a warning.
    Large inputs and several files show a progress bar over tiles and files.

    Outputs are PNG named NAME_x4.png (folders keep their sub-folders), or take the format
    of the -o file name's extension. Every output is checked before any work: an existing
    file is refused unless --overwrite is given, and two inputs that would be written to the
    same name (a.png and a.jpg in one folder; x/a.png and y/a.png with -o DIR) are refused,
    naming both; so is an output that would replace an input. Files are written atomically.

    \b
    Examples:
      gentool upscale photo.png                      # writes photo_x4.png
      gentool upscale photos/ -o big/                # a folder at once
      gentool upscale thumbs/ --model sr-fast        # a folder of pictures, 5x faster
      gentool upscale render.png --model sr-resnet   # an antialiased downscale only
      gentool upscale scan.tif --model runs/sr --tile 128   # your run (or --ckpt RUN)
      gentool upscale photo.png --ensemble           # 8 passes averaged: slower, a bit better
    """
    from gentool.errors import GentoolError
    from gentool.images import check_outputs, refuse_collisions
    from gentool.shipped import SHIPPED_MODELS
    from gentool.upscale import check_image, load_upscaler

    if ckpt is not None and model_name is not None:
        raise GentoolError("--model and --ckpt both choose the model; pass one of them.")
    if model_name is not None and model_name not in SHIPPED_MODELS:
        ckpt, model_name = model_name, None  # a run folder or checkpoint file
    if no_ema and ckpt is None:
        raise GentoolError(
            "--no-ema needs a run's checkpoint: a shipped upscaler holds one set of weights."
        )
    if overlap >= tile:
        raise GentoolError(f"--overlap ({overlap}) must be smaller than --tile ({tile}).")
    jobs = plan_jobs(inputs, output, scale)
    refuse_collisions(jobs)
    check_outputs([target for _, target in jobs], overwrite, images=True)
    for source, _ in jobs:
        check_image(source)
    model = load_upscaler(ckpt, device, model_name, use_ema=not no_ema)
    if model.scale != scale:
        raise GentoolError(
            f"this model upscales by {model.scale}, not {scale}; pass --scale {model.scale} "
            "or another model."
        )
    run_jobs(app.console, model, jobs, tile, overlap, ensemble=ensemble)


#: Inputs of at least this many tiles get a progress bar even when they are alone.
PROGRESS_MIN_TILES = 4


def run_jobs(
    console: Any,
    model: Any,
    jobs: list[tuple[Path, Path]],
    tile: int,
    overlap: int,
    *,
    ensemble: bool = False,
) -> None:
    """Upscale and save every job, with a rich progress bar over files and tiles when the
    work is large (several files, or an image of :data:`PROGRESS_MIN_TILES` tiles or more)."""
    from PIL import Image
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from gentool.images import save_pil
    from gentool.upscale import count_tiles, fit_format, format_losses, open_image, upscale_image

    sizes = []
    for source, _ in jobs:
        with Image.open(source) as header:  # already checked by check_image
            sizes.append(header.size)
    tiles = [count_tiles(h, w, tile, overlap) for w, h in sizes]
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=len(jobs) == 1 and tiles[0] < PROGRESS_MIN_TILES,
        transient=False,
    )
    with progress:
        files_task = progress.add_task("files", total=len(jobs)) if len(jobs) > 1 else None
        for (source, target), count in zip(jobs, tiles, strict=True):
            tiles_task = progress.add_task(f"tiles of {source.name}", total=count)

            def advance(n: int, task: Any = tiles_task) -> None:
                progress.advance(task, n)

            img = open_image(source)
            result = upscale_image(
                model,
                img,
                tile=tile,
                overlap=overlap,
                progress=advance,
                ensemble=ensemble,
            )
            written = fit_format(result, target)
            save_pil(written, target)
            progress.remove_task(tiles_task)
            if files_task is not None:
                progress.advance(files_task)
            lost = format_losses(result, written)
            held = "it" if len(lost) == 1 else "them"
            note = f"; {', '.join(lost)}: {target.suffix} cannot hold {held}" if lost else ""
            progress.console.print(
                f"{source} ({img.width}x{img.height} {img.mode}) -> {target} "
                f"({written.width}x{written.height} {written.mode}{note})"
            )


def plan_jobs(inputs: tuple[str, ...], output: str | None, scale: int) -> list[tuple[Path, Path]]:
    """(input file, output file) for every image: NAME_xS.png beside a file, DIR_xS/ for a
    folder, or under -o (a file for one input file, else a folder)."""
    from gentool.data.folder import list_images
    from gentool.errors import GentoolError

    many = len(inputs) > 1 or any(Path(i).is_dir() for i in inputs)
    if output is not None and many and Path(output).is_file():
        raise GentoolError(f"-o {output} is a file, but several images are written; name a folder.")
    if output is not None and many and not Path(output).is_dir():
        from gentool.images import IMAGE_FORMATS

        if Path(output).suffix.lower() in IMAGE_FORMATS:
            raise GentoolError(
                f"-o {output} reads as an image file name, but several images are written "
                "into a folder; name the folder without an image extension (or make it first)."
            )
    jobs: list[tuple[Path, Path]] = []
    for name in inputs:
        source = Path(name)
        if source.is_dir():
            if output:
                target = Path(output)
            else:
                whole = source if source.name not in ("", "..") else source.resolve()
                if not whole.name:
                    raise GentoolError(f"name an output folder for {source} with -o DIR.")
                target = whole.with_name(f"{whole.name}_x{scale}")
            files = list_images(source)
            if not files:
                raise GentoolError(f"folder {source} holds no images.")
            for rel in files:
                stem = Path(rel).with_suffix("")
                jobs.append((source / rel, target / f"{stem}_x{scale}.png"))
        elif output is None:
            jobs.append((source, source.with_name(f"{source.stem}_x{scale}.png")))
        elif many or Path(output).is_dir() or output.endswith(("/", "\\")):
            jobs.append((source, Path(output) / f"{source.stem}_x{scale}.png"))
        else:
            jobs.append((source, Path(output)))
    return jobs
