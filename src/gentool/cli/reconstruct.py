"""``gentool reconstruct``: encode and decode images with a VAE, or shrink and upscale
them with an image2image model, beside the originals."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gentool.cli.options import (
    PathText,
    RunOrCheckpoint,
    data_options,
    device_option,
)

if TYPE_CHECKING:
    from gentool.checkpoint_schema import CheckpointMeta


@click.command(context_settings={"show_default": True})
@click.argument("checkpoint", type=RunOrCheckpoint())
@click.argument("images", nargs=-1, type=PathText(exists=True))
@data_options(default_dataset=None, split="test")
@click.option(
    "-o",
    "--output",
    type=PathText(dir_okay=False),
    default="recon.png",
    help="Grid: originals above reconstructions; for an upscaler, rows of input | output | "
    "ground truth (.png, .jpg, ... by extension).",
)
@click.option(
    "--show",
    type=click.IntRange(1, 256),
    default=16,
    help="How many images the grid shows (pairs; for an upscaler, rows).",
)
@click.option(
    "--nrow",
    type=click.IntRange(1),
    default=None,
    help="Pairs per grid row (each row of originals has its reconstructions below) "
    "[default: up to 8]; for an upscaler, input|output|truth triplets per row [default: 1].",
)
@click.option(
    "--upscale",
    type=click.IntRange(1, 16),
    default=1,
    help="Enlarge the grid K times, nearest neighbour.",
)
@click.option(
    "--json",
    "json_path",
    type=PathText(dir_okay=False),
    default=None,
    help="Write the metrics as JSON here.",
)
@click.option(
    "--title",
    default=None,
    help="Title above the grid, whose rows (a VAE's) are labelled input and reconstruction "
    "[default: the run's name].",
)
@click.option(
    "--no-title",
    is_flag=True,
    help="No title and no row labels: the bare grid, e.g. to tile it yourself.",
)
@click.option("--batch-size", type=click.IntRange(1), default=256, help="Images per forward pass.")
@click.option("--overwrite", is_flag=True, help="Replace output files that already exist.")
@device_option
@click.pass_obj
def reconstruct(
    app: Any,
    checkpoint: str,
    images: tuple[str, ...],
    output: str,
    show: int,
    nrow: int | None,
    upscale: int,
    json_path: str | None,
    title: str | None,
    no_title: bool,
    batch_size: int,
    overwrite: bool,
    device: str,
    **kwargs: Any,
) -> None:
    """Reconstruct IMAGES (files or folders), or a dataset split, with a VAE checkpoint; or,
    with an image2image (upscaler) checkpoint, shrink each image as in training, upscale it
    and draw rows of input | output | ground truth under column headers, with PSNR-Y, SSIM-Y
    and MSE of the model and of bicubic (the numbers gentool evaluate gives for the run).

    Prints the mean squared error per pixel with pixels in [0, 1] (``mse_01``, the scale
    ``gentool evaluate`` reports as ``recon_mse_01``: the same number for the same run and
    split) over every image and writes a grid with originals above their reconstructions
    (--nrow pairs to a row, --upscale K to enlarge). Without IMAGES or --dataset, the
    split the model was trained on is used (its held-out test part by default; --data-root,
    --labels, --limit and --split adjust it). Images are decoded at the model's resolution:
    --image-size and --channels must match the model, and with IMAGES the dataset options
    are refused.

    --title TEXT puts TEXT above the grid and, for a VAE, labels its rows (input,
    reconstruction); without it the grid is bare, as it always was (--no-title says so).

    -o and --json are checked before the model is loaded: an existing file is refused unless
    --overwrite is given; both are written atomically.

    \b
    Examples:
      gentool reconstruct runs/vae/ckpt.safetensors -o recon.png          # test split
      gentool reconstruct runs/vae --dataset folder --data-root faces/ --split all
      gentool reconstruct runs/vae photo1.png photo2.png
      gentool reconstruct runs/sr-faces --show 8 --upscale 2 -o compare.png   # an upscaler
      gentool reconstruct runs/vae --show 8 --upscale 3 --title "VAE, 16 latents" -o r.png
    """
    import torch

    from gentool.cli.common import (
        chosen_titles,
        given_options,
        load_model,
        refuse_writing_into_run,
        require_use,
    )
    from gentool.data.base import ImageData, to_float
    from gentool.errors import GentoolError
    from gentool.fileio import atomic_write_text, json_text
    from gentool.images import (
        check_outputs,
        labelled_grid,
        refuse_replacing_inputs,
        save_pil,
        with_title,
    )
    from gentool.loading import load_data
    from gentool.metrics.evaluate import evaluation_data_spec, squared_error_01
    from gentool.models.vae import VaeModel

    if json_path and os.path.realpath(json_path) == os.path.realpath(output):
        raise GentoolError(f"-o and --json both name {output}; give them different files.")
    titled = chosen_titles((checkpoint,), title, None, no_title, default=True)
    refuse_writing_into_run(checkpoint, {"-o": output, "--json": json_path})
    check_outputs([output], overwrite, images=True)
    if json_path:
        check_outputs([json_path], overwrite)
    if images:
        refuse_replacing_inputs(images, [output, *([json_path] if json_path else [])])
        given = given_options(
            ("dataset", "data_root", "labels", "label_column", "limit", "split", "test_fraction")
        )
        if given:
            raise GentoolError(
                f"{', '.join(given)} choose a dataset; with IMAGES the files are used, so "
                "drop them (or drop IMAGES)."
            )
    model, meta = load_model(checkpoint, device)
    family = require_use(model, ("reconstruct", "upscale"), "gentool reconstruct")
    cfg = model.config
    # The model fixes the resolution and channels; a different value is refused by name.
    for name in ("image_size", "channels"):
        asked, built = kwargs.get(name), int(getattr(cfg, name))
        if asked is not None and int(asked) != built:
            raise GentoolError(
                f"the model was trained at {name.replace('_', ' ')} {built}, not {asked}; "
                f"drop --{name.replace('_', '-')}."
            )
    if images:
        data: ImageData = images_from_paths(images, cfg.image_size, cfg.channels)
        source, split = "files", "all"
    else:
        overrides = {
            "name": kwargs.pop("dataset"),
            "root": kwargs.pop("data_root"),
            "labels": kwargs.pop("labels"),
            "label_column": kwargs.pop("label_column"),
            "limit": kwargs.pop("limit"),
            "test_fraction": kwargs.pop("test_fraction"),
        }
        spec = evaluation_data_spec(meta, overrides, cfg, kwargs.pop("split"))
        data = load_data(spec)
        source, split = spec.name, spec.split
    if family.can("upscale"):
        _compare_upscaler(
            app,
            model,
            data,
            meta,
            checkpoint=checkpoint,
            split=split,
            source=source,
            output=output,
            json_path=json_path,
            show=show,
            nrow=nrow,
            upscale=upscale,
            batch_size=batch_size,
            title=titled[0] if titled else None,
        )
        return
    dev = next(model.parameters()).device
    # gentool's VAEs also report the ELBO; other VAE plugins get the MSE alone.
    vae = model if isinstance(model, VaeModel) else None
    noise = torch.Generator(device=dev).manual_seed(0)  # one fixed z per image for the ELBO
    total_sq, count = 0.0, 0
    sums = {"recon": 0.0, "kl": 0.0}
    shown_in: list[torch.Tensor] = []
    shown_out: list[torch.Tensor] = []
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            x = to_float(data.images[start : start + batch_size].to(dev))
            y = model.reconstruct(x).float().clamp(-1, 1)
            total_sq += squared_error_01(y, x)  # pixels in [0, 1], as gentool evaluate
            count += x.numel()
            if vae is not None:
                terms = vae.negative_elbo_terms(x, generator=noise)
                for key in sums:
                    sums[key] += float(terms[key].sum())
            if sum(t.shape[0] for t in shown_in) < show:
                shown_in.append(x.cpu())
                shown_out.append(y.cpu())
    mse = total_sq / count
    originals = torch.cat(shown_in)[:show]
    recons = torch.cat(shown_out)[:show]
    per_row = min(nrow or 8, originals.shape[0])
    rows = []
    for i in range(0, originals.shape[0], per_row):
        rows += [originals[i : i + per_row], recons[i : i + per_row]]
    grid = labelled_grid(
        torch.cat(rows),
        per_row,
        row_labels=["input", "reconstruction"] * (len(rows) // 2) if titled else None,
        upscale=upscale,
    )
    save_pil(with_title(grid, titled[0] if titled else None), output)
    result: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "dataset": source,
        "split": split,
        "images": len(data),
        "mse_01": mse,
        # the same number under its old name (kept for scripts written before mse_01)
        "mse_per_pixel": mse,
    }
    message = (
        f"reconstruction MSE per pixel (mse_01, pixels in [0, 1]) over {len(data)} images: "
        f"[bold]{mse:.6f}[/]"
    )
    if vae is not None:
        recon, kl = sums["recon"] / len(data), sums["kl"] / len(data)
        result.update(
            {
                "likelihood": cfg.likelihood,
                "recon_nll_per_image": recon,
                "kl_per_image": kl,
                "elbo_per_image": -(recon + kl),
                "bits_per_dim": float(vae.bits_per_dim(torch.tensor(recon + kl))),
            }
        )
        message += f", ELBO per image {-(recon + kl):.2f} nats"
    app.console.print(message)
    app.console.print(f"wrote {output}", markup=False)
    if json_path:
        atomic_write_text(json_path, json_text(result, indent=2) + "\n")
        app.console.print(f"wrote {json_path}", markup=False)


def _compare_upscaler(
    app: Any,
    model: Any,
    data: Any,
    info: CheckpointMeta,
    *,
    checkpoint: str,
    split: str,
    source: str,
    output: str,
    json_path: str | None,
    show: int,
    nrow: int | None,
    upscale: int,
    batch_size: int,
    title: str | None,
) -> None:
    """An image2image model on known images: each one shrunk as in training, upscaled, and
    shown as a row ``input | output | ground truth`` under column headers; the scores are
    those of ``gentool evaluate`` on the same images (model and bicubic)."""
    import torch
    import torch.nn.functional as F

    from gentool.data.base import to_float
    from gentool.data.degrade import degrade
    from gentool.fileio import atomic_write_text, json_text
    from gentool.images import labelled_grid, save_pil, with_title
    from gentool.metrics.evaluate import scored_natively, upscaler_scores

    scale = int(model.scale)
    scores, notes = upscaler_scores(model, data, info, split=split, batch_size=batch_size)
    dev = next(model.parameters()).device
    height, width = data.images.shape[-2:]
    # the truth cropped to a multiple of the scale, as the scores crop it
    shown = data.images[:show, :, : height // scale * scale, : width // scale * scale]
    crop = ""
    if scored_natively(model, info, data):
        # scored at the photos' own resolution: show a centre crop of each at that resolution
        shown, crop = _native_centre_crops(data.files[:show], height, scale), " (centre)"
    with torch.no_grad():
        target = to_float(shown.to(dev))
        low = degrade(target, scale)
        out = model.upscale(low).float().clamp(-1, 1)
        enlarged = F.interpolate(low, scale_factor=scale, mode="nearest")
    triplets = torch.stack([enlarged, out, target], 1).cpu()  # (N, 3, C, H, W)
    per_row = min(nrow or 1, triplets.shape[0])
    headers = [
        f"input {low.shape[-1]}x{low.shape[-2]}",
        "output",
        f"truth{crop} {target.shape[-1]}x{target.shape[-2]}",
    ]
    grid = labelled_grid(
        triplets.flatten(0, 1),
        nrow=3 * per_row,
        column_labels=headers * per_row,
        upscale=upscale,
    )
    save_pil(with_title(grid, title), output)
    result: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "dataset": source,
        "split": split,
        "images": len(data),
        "scale": scale,
        **scores,
    }
    for note in notes:
        app.console.print(f"[dim]{note}[/dim]")
    app.console.print(
        f"{len(data)} images shrunk {scale}x and upscaled: PSNR-Y {scores['psnr_y']:.2f} dB "
        f"(bicubic {scores['bicubic_psnr_y']:.2f}), SSIM-Y {scores['ssim_y']:.4f} "
        f"(bicubic {scores['bicubic_ssim_y']:.4f}), mse_01 {scores['mse_01']:.6f} "
        f"(bicubic {scores['bicubic_mse_01']:.6f})"
    )
    app.console.print(f"wrote {output}", markup=False)
    if json_path:
        atomic_write_text(json_path, json_text(result, indent=2) + "\n")
        app.console.print(f"wrote {json_path}", markup=False)


def _native_centre_crops(files: list[str], side: int, scale: int) -> Any:
    """``(N, C, S, S)`` uint8: the centre of each photo at its own resolution, ``S`` the run's
    image size (or the smallest photo side), a multiple of ``scale``."""
    import torch

    from gentool.training.sr_data import load_native

    photos = load_native(list(files), 3)
    size = min([side, *(min(p.shape[-2:]) for p in photos)]) // scale * scale
    crops = []
    for photo in photos:
        top, left = (photo.shape[-2] - size) // 2, (photo.shape[-1] - size) // 2
        crops.append(photo[:, top : top + size, left : left + size])
    return torch.stack(crops)


def images_from_paths(paths: tuple[str, ...], size: int, channels: int) -> Any:
    """Decode image files, and every image below folders, at the model's resolution."""
    import torch

    from gentool.data.base import ImageData
    from gentool.data.decode import IMAGE_SUFFIXES, decode_files, warn_skipped
    from gentool.data.folder import list_images
    from gentool.errors import GentoolError

    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files += [path / name for name in list_images(path)]
        else:
            files.append(path)
    if not files:
        raise GentoolError(
            f"no images ({', '.join(IMAGE_SUFFIXES)}) in {', '.join(paths)}; pass image files "
            "or folders."
        )
    decoded = decode_files(files, size, channels)
    warn_skipped(
        [(str(files[i]), reason) for i, reason in decoded.skipped], len(files), ", ".join(paths)
    )
    if not decoded.kept:
        raise GentoolError(f"none of the {len(files)} images could be decoded.")
    return ImageData(
        images=torch.from_numpy(decoded.images),
        name="files",
        files=[str(files[i]) for i in decoded.kept],
    )
