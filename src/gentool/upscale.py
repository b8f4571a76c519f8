"""Upscaling image files with an image2image model: what ``gentool upscale`` calls.

* **The model**: a checkpoint of the ``image2image`` family, or one of the 4x upscalers
  shipped inside the package (:data:`gentool.shipped.SHIPPED`: what each is for and how
  fast; fp16 weights cast back to float32 when loaded); with neither named, the best shipped
  one (the first that is installed).
* **Any size, bounded memory**: the image is cut into ``tile x tile`` input tiles that
  overlap by ``overlap`` pixels; each tile is upscaled alone and the tiles are blended with
  weights that ramp linearly across the overlaps, so seams do not show. Tiles are processed
  one row of tiles at a time: besides the output picture itself, memory holds one row of
  float accumulators and one tile's activations.
* **Formats**: RGB, grey (``L``: fed as RGB, the output is converted back to grey),
  palette (converted to RGB or RGBA), alpha (``RGBA``/``LA``/``PA``: colour through the
  model, alpha upscaled separately with bicubic resampling), 16-bit grey (``I;16``/``I``:
  fed at full precision, written as a 16-bit PNG when the output format allows, else 8-bit),
  CMYK/YCbCr (converted to RGB). Pillow reads 16-bit-per-channel RGB PNGs as 8-bit, so those
  come out 8-bit.
* **Animated images** (GIF, APNG, WebP, multi-page TIFF): the first frame is used, and a
  warning says so, naming the file and its frame count.
* **Refused, one line each**: files Pillow cannot read, images declaring more than
  :data:`MAX_INPUT_PIXELS` pixels (decompression bombs), and checkpoints that are not
  upscalers.
* **Written atomically** (:func:`gentool.images.save_pil`): a full disk leaves an existing
  output as it was.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from gentool.checkpoint import load_checkpoint, save_checkpoint
from gentool.errors import GentoolError
from gentool.images import image_format, save_pil
from gentool.loading import family_of, model_from_checkpoint, refuse_no_ema_without_average
from gentool.models.srunet import Image2ImageModel
from gentool.runtime import resolve_device
from gentool.shipped import SHIPPED_MODELS

#: The older name of the sr-unet weights file (kept for callers that import it).
DEFAULT_WEIGHTS = SHIPPED_MODELS["sr-unet"]
#: Largest input accepted (pixels); larger declared sizes are refused before decoding.
MAX_INPUT_PIXELS = 64_000_000
#: Suffixes of output formats that keep 16-bit grey.
SIXTEEN_BIT_SUFFIXES = (".png", ".tif", ".tiff")
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


# --- the model -------------------------------------------------------------------------------
def _shipped(name: str) -> Any:
    return resources.files("gentool").joinpath("weights", SHIPPED_MODELS[name])


def default_model_name() -> str:
    """The best shipped upscaler that is installed (the first of :data:`SHIPPED_MODELS`)."""
    for name in SHIPPED_MODELS:
        if _shipped(name).is_file():
            return name
    raise GentoolError(
        "no shipped upscaler is installed with this gentool "
        f"({', '.join(SHIPPED_MODELS.values())} missing); reinstall gentool or pass --ckpt."
    )


@contextmanager
def default_weights_path(name: str | None = None) -> Iterator[Path]:
    """A shipped model's weights as a real file (``importlib.resources``); with no ``name``,
    the best one installed."""
    if name is None:
        name = default_model_name()
    elif name not in SHIPPED_MODELS:
        raise GentoolError(
            f"no shipped upscaler '{name}'; choose one of {', '.join(SHIPPED_MODELS)}."
        )
    ref = _shipped(name)
    if not ref.is_file():
        raise GentoolError(
            f"the shipped upscaler {SHIPPED_MODELS[name]} is missing from this gentool "
            "installation; reinstall gentool or pass --ckpt."
        )
    with resources.as_file(ref) as path:
        yield path


def load_upscaler(
    ckpt: str | Path | None = None,
    device: str = "auto",
    model_name: str | None = None,
    *,
    use_ema: bool = True,
) -> Image2ImageModel:
    """An image2image model from ``ckpt`` (file or run folder), or a shipped one: the one
    named by ``model_name`` (a key of :data:`SHIPPED_MODELS`), else the best installed.
    A run trained with ``--ema`` gives its averaged weights unless ``use_ema`` is false."""
    if ckpt is not None and model_name is not None:
        raise GentoolError("pass a checkpoint or a shipped model name, not both.")
    if ckpt is None:
        with default_weights_path(model_name) as path:
            checkpoint = load_checkpoint(path)
    else:
        checkpoint = load_checkpoint(ckpt)
    if not family_of(checkpoint).can("upscale"):
        raise GentoolError(
            f"{checkpoint.path} holds '{checkpoint.meta.get('model')}' "
            f"({checkpoint.meta.get('family')}), not an upscaler; pass the checkpoint of a "
            "model that upscales (e.g. from 'gentool train sr-resnet')."
        )
    if not use_ema:
        refuse_no_ema_without_average(checkpoint)
    model = model_from_checkpoint(checkpoint, use_ema=use_ema)
    if not isinstance(model, Image2ImageModel):
        raise GentoolError(f"{checkpoint.path}: model '{model.PLUGIN_NAME}' cannot upscale.")
    return model.to(resolve_device(device)).eval()


def export_upscaler(
    run: str | Path, dest: str | Path, half: bool = True, use_ema: bool = True
) -> Path:
    """Write the generator of a trained run as a small inference-only checkpoint.

    The discriminator is dropped (``with_discriminator=False``) and, with ``half``, the
    weights are stored as float16 (loading casts them back to float32). A run trained with
    ``--ema`` exports its averaged generator (what ``upscale --ckpt RUN`` uses) unless
    ``use_ema`` is false.
    """
    checkpoint = load_checkpoint(run)
    info = checkpoint.info
    if not family_of(checkpoint).can("upscale"):
        raise GentoolError(f"{checkpoint.path} does not hold an upscaler.")
    config = dict(info.model_config, with_discriminator=False)
    ema = checkpoint.section("ema") if use_ema else {}
    if ema:
        model = {f"generator.{k}": v for k, v in ema.items()}
    else:
        model = {k: v for k, v in checkpoint.section("model").items() if k.startswith("generator.")}
    dtype = torch.float16 if half else torch.float32
    tensors = {f"model.{k}": v.to(dtype) if v.is_floating_point() else v for k, v in model.items()}
    keep: dict[str, Any] = {"model": info.model, "family": info.family, "model_config": config}
    if half:
        keep["weights_dtype"] = "float16"  # declared, so loaders widen it instead of refusing
    keep["trained"] = {
        "step": info.step,
        "weights": "ema" if ema else "trained",
        "data": info.data or None,
        "train": info.train or None,
    }
    return save_checkpoint(dest, tensors, keep)


# --- tiles -----------------------------------------------------------------------------------
#: Memory layout of the tiles given to the network. Channels-last lets oneDNN (CPU) and cuDNN
#: pick their fast convolution kernels: on two CPU threads it took a 256 px tile from 0.73 s to
#: 0.37 s with sr-unet and from 0.61 s to 0.41 s with sr-resnet (width 48, 10 blocks), the same
#: output to float rounding (docs/upscale.md, "Tiles, memory and speed").
CONV_LAYOUT = torch.channels_last


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``length`` with at least ``overlap``."""
    if length <= tile:
        return [0]
    step = max(tile - overlap, 1)
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return sorted(set(starts))


def _ramp(length: int, ramp_in: int, ramp_out: int) -> torch.Tensor:
    """1 in the middle, rising linearly over ``ramp_in`` and falling over ``ramp_out``."""
    weights = torch.ones(length)
    if ramp_in > 0:
        weights[:ramp_in] = (torch.arange(ramp_in) + 0.5) / ramp_in
    if ramp_out > 0:
        weights[length - ramp_out :] = torch.minimum(
            weights[length - ramp_out :], (torch.arange(ramp_out).flip(0) + 0.5) / ramp_out
        )
    return weights


@torch.no_grad()
def self_ensemble(model: Image2ImageModel, low: torch.Tensor) -> torch.Tensor:
    """The model's output averaged over the eight flips and quarter turns of ``low``, each
    turned back (the geometric self-ensemble of Lim et al. 2017, "EDSR+"): eight passes,
    usually a little more accurate than one."""
    total: torch.Tensor | None = None
    for turns in range(4):
        for flip in (False, True):
            x = torch.rot90(low, turns, dims=(2, 3))
            x = (x.flip(3) if flip else x).contiguous(memory_format=CONV_LAYOUT)
            y = model.upscale(x).float()
            y = y.flip(3) if flip else y
            y = torch.rot90(y, -turns, dims=(2, 3))
            total = y if total is None else total + y
    assert total is not None
    return total / 8


@torch.no_grad()
def upscale_array(
    model: Image2ImageModel,
    image: np.ndarray,
    tile: int = 256,
    overlap: int = 16,
    out_dtype: Any = np.uint8,
    progress: Callable[[int], None] | None = None,
    ensemble: bool = False,
) -> np.ndarray:
    """Upscale ``(H, W, C)`` float32 in [0, 1] to ``(H*s, W*s, C)`` of ``out_dtype``.

    ``C`` must be the model's channel count. Tiles of ``tile`` input pixels overlapping by
    ``overlap`` are blended with linear ramps; one row of tiles is in flight at a time.
    ``progress(1)`` is called after every tile (:func:`count_tiles` tells how many).
    ``ensemble`` averages each tile over its eight flips and turns (:func:`self_ensemble`).
    """
    if tile < 1 or overlap < 0:
        raise GentoolError("tile must be >= 1 and overlap >= 0.")
    if overlap >= tile:
        raise GentoolError(f"overlap ({overlap}) must be smaller than the tile ({tile}).")
    s = model.scale
    device = next(model.parameters()).device
    height, width, channels = image.shape
    top_peak = float(np.iinfo(out_dtype).max)
    output = np.empty((height * s, width * s, channels), dtype=out_dtype)
    ys, xs = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    # Accumulators are (rows, columns, value channels + weight): the layout the network's
    # channels-last output and the numpy picture share, so blending and the final copy run
    # over contiguous memory.
    carry: torch.Tensor | None = None  # accumulated (value * weight, weight) below this band
    for row, y0 in enumerate(ys):
        th = min(tile, height)
        band = torch.zeros(th * s, width * s, channels + 1)
        if carry is not None:
            band[: carry.shape[0]] += carry
        ramp_y = _ramp(
            th * s,
            (ys[row - 1] + th - y0) * s if row > 0 else 0,
            (y0 + th - ys[row + 1]) * s if row + 1 < len(ys) else 0,
        )
        for col, x0 in enumerate(xs):
            tw = min(tile, width)
            piece = torch.from_numpy(np.ascontiguousarray(image[y0 : y0 + th, x0 : x0 + tw]))
            low = piece.permute(2, 0, 1).unsqueeze(0).to(device) * 2 - 1  # (1, C, th, tw)
            low = low.contiguous(memory_format=CONV_LAYOUT)
            high = self_ensemble(model, low) if ensemble else model.upscale(low)
            high = high.clamp(-1, 1).add(1).div(2).float().cpu()[0]
            high = high.permute(1, 2, 0).contiguous()  # (th*s, tw*s, C); no copy if NHWC
            ramp_x = _ramp(
                tw * s,
                (xs[col - 1] + tw - x0) * s if col > 0 else 0,
                (x0 + tw - xs[col + 1]) * s if col + 1 < len(xs) else 0,
            )
            weight = (ramp_y[:, None] * ramp_x[None, :]).unsqueeze(2)  # (th*s, tw*s, 1)
            region = band[:, x0 * s : (x0 + tw) * s]
            region[:, :, :channels] += high * weight
            region[:, :, channels:] += weight
            if progress is not None:
                progress(1)
        # Rows above the next band's top are final; the rest is carried into the next band.
        done = (ys[row + 1] - y0) * s if row + 1 < len(ys) else th * s
        values = band[:done, :, :channels]  # normalised and quantised in place
        values.div_(band[:done, :, channels:].clamp_min(1e-8)).mul_(top_peak).round_()
        values.clamp_(0, top_peak)
        output[y0 * s : y0 * s + done] = values.numpy().astype(out_dtype)
        carry = band[done:].clone() if row + 1 < len(ys) else None
        del band
    return output


def count_tiles(height: int, width: int, tile: int = 256, overlap: int = 16) -> int:
    """How many tiles :func:`upscale_array` cuts an ``height x width`` image into."""
    return len(tile_starts(height, tile, overlap)) * len(tile_starts(width, tile, overlap))


# --- files -----------------------------------------------------------------------------------
class AnimatedImageWarning(UserWarning):
    """An animated input (GIF, APNG, WebP, multi-page TIFF): only its first frame is used."""


@dataclass
class DecodedInput:
    """An input image as the model sees it, plus what is put back afterwards."""

    colour: np.ndarray  # (H, W, C) float32 in [0, 1], C = 1 or 3
    alpha: Image.Image | None  # 8-bit alpha band, upscaled separately
    grey: bool
    sixteen_bit: bool


def check_image(path: str | Path) -> None:
    """Read only the header of ``path``: refuse non-images and bombs cheaply, before any work."""
    open_image(path, decode=False).close()


def open_image(path: str | Path, *, decode: bool = True) -> Image.Image:
    """Open and fully decode ``path``, refusing non-images and decompression bombs.

    With ``decode=False`` only the header is read (:func:`check_image`). An animated image
    keeps its first frame, with an :class:`AnimatedImageWarning`.
    """
    path = Path(path)
    if not path.is_file():
        raise GentoolError(f"{path} is not a file; pass image files or folders of images.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(path)
            width, height = img.size
            if width * height > MAX_INPUT_PIXELS:
                raise GentoolError(
                    f"{path} declares {width}x{height} pixels, over the "
                    f"{MAX_INPUT_PIXELS // 1_000_000} megapixel input limit; crop or shrink "
                    "it first."
                )
            if not decode:
                return img
            frames = int(getattr(img, "n_frames", 1) or 1)
            img.load()
    except GentoolError:
        raise
    except Image.DecompressionBombError:
        raise GentoolError(f"{path} is a decompression bomb (declared size too large).") from None
    except OSError as exc:
        raise GentoolError(f"{path} is not an image Pillow can read ({exc}).") from None
    except Exception as exc:  # untrusted bytes: Pillow raises many types
        raise GentoolError(f"{path} could not be decoded ({type(exc).__name__}: {exc}).") from None
    if frames > 1:
        first = img.copy()  # the open file of a multi-frame image is kept for seeking
        img.close()
        img = first
        warnings.warn(
            f"{path} is animated ({frames} frames); only the first frame is used.",
            AnimatedImageWarning,
            stacklevel=2,
        )
    return img


def decode_input(img: Image.Image) -> DecodedInput:
    """Split a PIL image into float colour in [0, 1] and an optional alpha band."""
    mode = img.mode
    if mode in _SIXTEEN_BIT_MODES:
        wide = np.asarray(img).astype(np.float32)
        peak = 65535.0 if mode != "I" or wide.max(initial=0) > 255 else 255.0
        colour = np.clip(wide / peak, 0, 1)[:, :, None]
        return DecodedInput(colour, None, grey=True, sixteen_bit=peak > 255)
    if mode == "F":
        return DecodedInput(_float_grey(img), None, grey=True, sixteen_bit=True)
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode == "PA":
        img = img.convert("RGBA")
    elif mode == "1":
        img = img.convert("L")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in mode else "RGB")
    alpha = img.getchannel("A") if img.mode in ("RGBA", "LA") else None
    grey = img.mode in ("L", "LA")
    base = img.convert("L" if grey else "RGB") if alpha is not None else img
    colour = np.asarray(base, dtype=np.float32) / 255.0
    if colour.ndim == 2:
        colour = colour[:, :, None]
    return DecodedInput(colour, alpha, grey=grey, sixteen_bit=False)


def _float_grey(img: Image.Image) -> np.ndarray:
    """A 32-bit float grey image (mode ``F``) as ``(H, W, 1)`` in [0, 1]. Float files carry no
    range: values within [0, 1] are taken as they are, values within [0, 255] as 8-bit levels;
    anything else (negative, above 255, NaN or infinite) is refused rather than guessed."""
    values = np.asarray(img, dtype=np.float32)
    name = getattr(img, "filename", "") or "the image"
    if not np.isfinite(values).all():
        raise GentoolError(f"{name} is a float image with NaN or infinite values.")
    low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
    if low < 0 or high > 255:
        raise GentoolError(
            f"{name} is a float image with values from {low:g} to {high:g}; gentool reads "
            "float images in [0, 1] or [0, 255]: rescale it first."
        )
    peak = 1.0 if high <= 1.0 else 255.0
    return (values / peak)[:, :, None]


def with_channels(colour: np.ndarray, channels: int) -> np.ndarray:
    """``(H, W, 1 or 3)`` colour as ``channels`` channels: grey repeated to RGB, RGB to grey
    with the ITU-R 601 luma weights (Pillow's ``L``)."""
    if channels == 3 and colour.shape[2] == 1:
        return np.repeat(colour, 3, axis=2)
    if channels == 1 and colour.shape[2] == 3:
        return colour @ np.array([[0.299], [0.587], [0.114]], dtype=np.float32)
    return colour


def colour_uint8(img: Image.Image, channels: int = 3) -> np.ndarray:
    """Any image as 8-bit ``(H, W, channels)`` colour, read by :func:`decode_input`'s rules
    (16-bit and float images scaled to 8 bits, not clipped as Pillow's ``convert`` does; alpha
    dropped; grey repeated to RGB, RGB to grey with the ITU-R 601 weights)."""
    colour = with_channels(decode_input(img).colour, channels)
    return np.clip(np.rint(colour * 255.0), 0, 255).astype(np.uint8)


def upscale_image(
    model: Image2ImageModel,
    img: Image.Image,
    tile: int = 256,
    overlap: int = 16,
    sixteen: bool = True,
    progress: Callable[[int], None] | None = None,
    ensemble: bool = False,
) -> Image.Image:
    """Upscale a PIL image of any mode; returns L, I;16, LA, RGB or RGBA.

    ``progress(1)`` is called after every tile (:func:`count_tiles` of the image's size);
    ``ensemble``: see :func:`upscale_array`."""
    decoded = decode_input(img)
    colour = with_channels(decoded.colour, int(model.config.channels))
    wide = decoded.sixteen_bit and sixteen
    out_dtype = np.uint16 if wide else np.uint8
    result = upscale_array(
        model,
        colour,
        tile=tile,
        overlap=overlap,
        out_dtype=out_dtype,
        progress=progress,
        ensemble=ensemble,
    )
    if decoded.grey and result.shape[2] == 3:
        # The model saw a grey image as RGB; its three outputs agree closely: average them.
        result = result.astype(np.float32).mean(2, keepdims=True).round().astype(out_dtype)
    if result.shape[2] == 1:
        out = Image.fromarray(np.ascontiguousarray(result[:, :, 0]))  # L, or I;16 for uint16
    else:
        out = Image.fromarray(result)  # RGB
    if decoded.alpha is not None:
        alpha = decoded.alpha.resize(out.size, Image.Resampling.BICUBIC)
        out.putalpha(alpha)
    return out


def save_image(img: Image.Image, path: Path) -> Path:
    """Save atomically, converting what the format cannot hold (alpha or 16 bits in JPEG)."""
    return save_pil(fit_format(img, path), Path(path))


def format_losses(before: Image.Image, after: Image.Image) -> list[str]:
    """What :func:`fit_format` had to drop, in words (``[]`` when nothing was)."""
    lost = []
    if before.mode in ("RGBA", "LA") and after.mode not in ("RGBA", "LA"):
        lost.append("alpha dropped")
    if before.mode == "I;16" and after.mode != "I;16":
        lost.append("16 bits reduced to 8")
    return lost


#: Output formats whose files do not keep an alpha channel (Pillow writes BMP's RGBA as
#: 32-bit pixels that read back as RGB).
NO_ALPHA_SUFFIXES = (".jpg", ".jpeg", ".bmp")
#: Output formats without a grey mode (WebP stores grey as RGB).
NO_GREY_SUFFIXES = (".webp",)


def fit_format(img: Image.Image, path: Path) -> Image.Image:
    """``img`` as the format of ``path``'s extension holds it, so that the mode returned is
    the mode the file reads back as: 16 bits only where :data:`SIXTEEN_BIT_SUFFIXES` allow
    (else the top 8 bits), no alpha in :data:`NO_ALPHA_SUFFIXES`, grey as RGB in
    :data:`NO_GREY_SUFFIXES`."""
    path = Path(path)
    image_format(path)
    suffix = path.suffix.lower()
    if img.mode == "I;16" and suffix not in SIXTEEN_BIT_SUFFIXES:
        img = Image.fromarray((np.asarray(img) >> 8).astype(np.uint8))
    if img.mode in ("RGBA", "LA") and suffix in NO_ALPHA_SUFFIXES:
        img = img.convert("RGB" if img.mode == "RGBA" else "L")
    if img.mode in ("L", "LA") and suffix in NO_GREY_SUFFIXES:
        img = img.convert("RGB" if img.mode == "L" else "RGBA")
    return img
