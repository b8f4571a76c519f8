"""Translating image files with a ``translation`` model (CycleGAN): what
``gentool sample CKPT --input DIR_OR_FILE --direction a2b --out-dir OUT`` calls.

* **One output per input, same size.** Each input is written as ``OUT/<relative path>.png``
  with the width and height of the input.
* **At the training scale** (the default): the image is resized (antialiased bicubic) so
  its shorter side equals the model's ``image_size``, keeping the aspect ratio, since the
  training images were that shorter side; the fully convolutional generator runs on the
  whole, possibly non-square, image (padded reflectively to the multiple it needs and
  cropped back); the result is resized back to the input's size. With ``full_res=True`` the
  generator runs on the input at its own size instead: sharper on large images, but the
  textures are then the size they were at training resolution, i.e. relatively smaller.
* **Formats**: grey, palette and alpha images are converted as in :mod:`gentool.upscale`;
  alpha is put back unchanged.
* **Unreadable inputs** in a folder are skipped with one warning naming them; a single
  unreadable file, a missing input or a folder without images is a one-line error.
* **Outputs are checked before any work**: an existing output is refused unless
  ``overwrite``; two inputs that would be written to one name (``a.png`` and ``a.jpg``) or
  an output that would replace an input are refused, naming both. Files are written
  atomically.

``gentool sample CKPT -o FIGURE.png`` draws one labelled figure instead
(:func:`translation_figure`): rows of ``input | translated | translated back`` for each
direction, at the training resolution, under the headers the run's family gives its sample
grids (:meth:`gentool.family.Family.sample_grid_layout`), from ``--input``/``--input-b``
files (:func:`figure_inputs`) or from the run's held-out test images
(:func:`held_out_images`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gentool.data.base import to_float
from gentool.data.decode import decode_files, warn_skipped
from gentool.data.folder import list_images
from gentool.errors import GentoolError
from gentool.family import GridLayout
from gentool.images import check_outputs, labelled_sections, refuse_collisions
from gentool.models.cyclegan import CycleGan
from gentool.upscale import decode_input, open_image, save_image, with_channels

#: Smallest side translated at full resolution (the generators downsample 4x or more).
MIN_FULL_RES_SIDE = 16


def input_files(path: str | Path) -> tuple[Path, list[str]]:
    """The folder the outputs are named relative to, and the input files under it."""
    path = Path(path).expanduser()
    if not path.exists():
        raise GentoolError(f"input {path} does not exist; pass --input with an image or a folder.")
    if path.is_file():
        return path.parent, [path.name]
    files = list_images(path)
    if not files:
        raise GentoolError(f"input folder {path} holds no images (jpg, png, webp, bmp).")
    return path, files


def _resize(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    if tuple(images.shape[-2:]) == (height, width):
        return images
    return F.interpolate(images, size=(height, width), mode="bicubic", antialias=True)


@torch.no_grad()
def translate_image(
    model: CycleGan, img: Image.Image, direction: str = "a2b", full_res: bool = False
) -> Image.Image:
    """Translate one PIL image; the result has the input's size (L, RGB, LA or RGBA)."""
    decoded = decode_input(img)
    colour = with_channels(decoded.colour, int(model.config.channels))  # (H, W, C) in [0, 1]
    height, width = colour.shape[:2]
    device = next(model.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(colour)).permute(2, 0, 1)[None].to(device)
    x = x * 2 - 1  # (1, C, H, W) in [-1, 1]
    if full_res:
        if min(height, width) < MIN_FULL_RES_SIDE:
            raise GentoolError(
                f"{width}x{height} is too small to translate at full resolution (needs "
                f"{MIN_FULL_RES_SIDE} px a side); drop --full-res."
            )
        out = model.translate(x, direction)
    else:
        factor = int(model.config.image_size) / min(height, width)
        inner = (max(1, round(height * factor)), max(1, round(width * factor)))
        out = _resize(model.translate(_resize(x, *inner), direction), height, width)
    array = out[0].float().clamp(-1, 1).add(1).mul(127.5).round().byte().permute(1, 2, 0)
    result = array.cpu().numpy()
    if decoded.grey and result.shape[2] == 3:
        result = result.astype(np.float32).mean(2, keepdims=True).round().astype(np.uint8)
    if result.shape[2] == 1:
        output = Image.fromarray(np.ascontiguousarray(result[:, :, 0]))
    else:
        output = Image.fromarray(result)
    if decoded.alpha is not None:
        output.putalpha(decoded.alpha)
    return output


def plan_outputs(source: str | Path, out_dir: str | Path) -> list[tuple[Path, Path]]:
    """(input, output) per image: ``OUT/<relative path>.png``; collisions are refused."""
    folder, files = input_files(source)
    jobs = [(folder / name, (Path(out_dir) / name).with_suffix(".png")) for name in files]
    refuse_collisions(jobs, "--out-dir")
    return jobs


def translate_files(
    model: CycleGan,
    source: str | Path,
    out_dir: str | Path,
    direction: str = "a2b",
    full_res: bool = False,
    *,
    overwrite: bool = False,
) -> list[Path]:
    """Translate an image file or every image under a folder; return the written paths.

    Every output is checked first (:func:`plan_outputs`, then existing files unless
    ``overwrite``), so nothing is written when one of them would be refused.
    """
    model.generator(direction)  # an unknown direction fails before any work
    jobs = plan_outputs(source, out_dir)
    check_outputs([target for _, target in jobs], overwrite)
    written: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for path, target in jobs:
        try:
            img = open_image(path)
        except GentoolError as exc:
            if len(jobs) == 1:
                raise
            skipped.append((str(path), exc.message))
            continue
        written.append(save_image(translate_image(model, img, direction, full_res), target))
    folder = str(jobs[0][0].parent if len(jobs) == 1 else Path(source))
    warn_skipped(skipped, len(jobs), folder)
    if not written:
        raise GentoolError(f"none of the {len(jobs)} images under {source} could be read.")
    return written


# --- one labelled figure ----------------------------------------------------------------------

#: The direction that takes a translation back (the cycle of the figure's third column).
REVERSE = {"a2b": "b2a", "b2a": "a2b"}


def figure_inputs(source: str | Path, size: int, channels: int, limit: int) -> torch.Tensor:
    """The first ``limit`` images of a file or folder (in the order outputs are named),
    decoded as the training images were (shorter side to ``size``, centre crop): uint8
    ``(N, C, size, size)``. Unreadable ones are skipped with one warning."""
    folder, names = input_files(source)
    paths = [folder / name for name in names[:limit]]
    decoded = decode_files(paths, size, channels)
    warn_skipped(
        [(str(paths[i]), reason) for i, reason in decoded.skipped], len(paths), str(source)
    )
    if not decoded.kept:
        raise GentoolError(f"none of the {len(paths)} images under {source} could be read.")
    return torch.from_numpy(np.ascontiguousarray(decoded.images))


def held_out_images(meta: Any, model_config: Any, direction: str) -> torch.Tensor:
    """The held-out test images of the domain ``direction`` starts from (A for ``a2b``), as
    ``gentool evaluate`` reads them: uint8 ``(N, C, H, W)``."""
    import dataclasses

    from gentool.loading import load_data
    from gentool.metrics.evaluate import evaluation_data_spec

    spec = evaluation_data_spec(meta, {}, model_config, "test")
    if direction == "b2a":
        extra = meta.train.get("extra") if meta is not None else None
        folder = extra.get("domain_b") if isinstance(extra, dict) else None
        if not folder:
            raise GentoolError(
                "the checkpoint does not name its domain B folder; pass --input-b DIR."
            )
        spec = dataclasses.replace(spec, name="folder", root=folder, labels=None, label_column=None)
    root = Path(str(spec.root or ""))
    if spec.root and not root.is_dir():
        flag = "--input-b" if direction == "b2a" else "--input"
        raise GentoolError(
            f"the run's domain {direction[0].upper()} folder {root} is not there any more; "
            f"pass {flag} DIR with images to translate."
        )
    return load_data(spec).images


def figure_parts(
    model: CycleGan,
    meta: Any,
    layout: GridLayout,
    inputs: tuple[str | Path | None, str | Path | None],
    direction: str | None,
    rows: int,
) -> list[tuple[str, torch.Tensor]]:
    """The blocks of a translation figure, ``(direction, uint8 images)``, at most ``rows``
    images each: the first input (``--input``) in ``direction`` (A to B by default) and the
    second (``--input-b``) from B to A; without inputs, the held-out test images of each
    direction the layout names, or of ``direction`` alone."""
    size, channels = int(model.config.image_size), int(model.config.channels)
    if any(inputs):
        wanted = [(direction or "a2b", inputs[0]), ("b2a", inputs[1])]
        return [(d, figure_inputs(src, size, channels, rows)) for d, src in wanted if src]
    directions = [direction] if direction else [s.direction for s in layout.sections]
    return [(d, held_out_images(meta, model.config, d)[:rows]) for d in directions]


@torch.no_grad()
def cycle_rows(model: CycleGan, images: torch.Tensor, direction: str) -> torch.Tensor:
    """``(3N, C, H, W)`` in [-1, 1]: for each uint8 image, itself, its translation in
    ``direction`` and that translation taken back (as the training grids show them)."""
    device = next(model.parameters()).device
    x = to_float(images.to(device))  # (N, C, H, W) in [-1, 1]
    translated = model.translate(x, direction).float().clamp(-1, 1)
    back = model.translate(translated, REVERSE[direction]).float().clamp(-1, 1)
    return torch.stack([x.float(), translated, back], 1).flatten(0, 1).cpu()


def translation_figure(
    model: CycleGan,
    layout: GridLayout,
    parts: Sequence[tuple[str, torch.Tensor]],
    *,
    upscale: int = 1,
) -> Image.Image:
    """One picture: for each ``(direction, uint8 images)`` of ``parts``, rows of ``input |
    translated | translated back`` under the headers and beside the row label that
    ``layout`` gives that direction (:class:`gentool.family.GridSection`)."""
    sections = {section.direction: section for section in layout.sections}
    blocks = []
    for direction, images in parts:
        section = sections.get(direction)
        if section is None:
            raise GentoolError(
                f"the model's grid layout names no rows for direction {direction}; it has "
                f"{', '.join(sections)}."
            )
        rows = cycle_rows(model, images, direction)
        columns = len(section.columns)
        blocks.append((rows, [section.label] * (len(rows) // columns), list(section.columns)))
    return labelled_sections(blocks, nrow=len(layout.columns), upscale=upscale)
