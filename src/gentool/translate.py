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
from gentool.models.cyclegan import CycleGan
from gentool.upscale import decode_input, open_image, save_image

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
    colour = decoded.colour  # (H, W, C) in [0, 1]
    channels = int(model.config.channels)
    if channels == 3 and colour.shape[2] == 1:
        colour = np.repeat(colour, 3, axis=2)
    elif channels == 1 and colour.shape[2] == 3:
        colour = colour @ np.array([[0.299], [0.587], [0.114]], dtype=np.float32)
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


def translate_files(
    model: CycleGan,
    source: str | Path,
    out_dir: str | Path,
    direction: str = "a2b",
    full_res: bool = False,
) -> list[Path]:
    """Translate an image file or every image under a folder; return the written paths."""
    model.generator(direction)  # an unknown direction fails before any work
    folder, files = input_files(source)
    out_dir = Path(out_dir)
    written: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for name in files:
        try:
            img = open_image(folder / name)
        except GentoolError as exc:
            if len(files) == 1:
                raise
            skipped.append((name, exc.message))
            continue
        target = (out_dir / name).with_suffix(".png")
        written.append(save_image(translate_image(model, img, direction, full_res), target))
    warn_skipped(skipped, len(files), str(folder))
    if not written:
        raise GentoolError(f"none of the {len(files)} images under {folder} could be read.")
    return written
