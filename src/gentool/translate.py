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
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gentool.data.decode import warn_skipped
from gentool.data.folder import list_images
from gentool.errors import GentoolError
from gentool.images import check_outputs, refuse_collisions
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
