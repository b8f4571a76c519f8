"""Decoding image files into uint8 arrays, robustly.

Every file is opened, fully decoded (so a truncated JPEG fails here, not in the middle of
training), converted to the requested channels and resized: the shorter side is scaled to
``size`` and the centre square is cropped, in one bicubic resize with antialiasing.

A file that cannot be decoded is never fatal: :func:`decode_files` returns it in
``skipped`` with the reason, and :func:`warn_skipped` names the count and the first few
files in one :class:`DataWarning` line. What counts as undecodable: unreadable or garbage
bytes, zero-byte files, truncated data, images that declare more than
:data:`MAX_PIXELS` pixels (decompression bombs), and names that are not regular files: a
FIFO, socket or device (or a link to one) is skipped from its ``stat``, never opened (a FIFO
would block the decoding), and so is a broken symbolic link.

Modes are mapped as follows:

* 16-bit grey (``I;16``, ``I``): scaled to 8 bits by keeping the high byte (``v >> 8``),
  so 65535 -> 255 and 32768 -> 128 (clipping would saturate everything above 255);
* transparency (``RGBA``, ``LA``, ``PA``, ``P`` with a transparent colour): composited
  on white;
* palette, CMYK, YCbCr, bilevel: converted to RGB or L;
* grey into 3 channels is replicated, colour into 1 channel uses ITU-R 601-2 luma.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from gentool.data.files import NotARegularFile, open_regular

#: Bump when decoding changes what pixels come out: it is part of the cache key.
DECODER_VERSION = 1

#: Images declaring more pixels than this (width x height) are refused unread.
MAX_PIXELS = 64_000_000

#: File name suffixes that are treated as images (compared case-insensitively).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")

#: How many skipped files a warning names before it says "and N more".
NAMED_IN_WARNING = 3

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


class DataWarning(UserWarning):
    """Some of the data could not be used (corrupt files, unmatched label rows); the rest is."""


class UndecodableImage(Exception):
    """One file that cannot be turned into an image; the message is the reason."""


@dataclass
class DecodedFiles:
    """The result of :func:`decode_files`.

    ``images`` is uint8 ``(len(kept), C, size, size)``; ``kept`` are the indices of the input
    paths that decoded, in order; ``skipped`` pairs each failed index with its reason.
    """

    images: np.ndarray
    kept: list[int]
    skipped: list[tuple[int, str]] = field(default_factory=list)
    #: Indices of kept files with several frames (animated WebP/PNG): the first frame is used.
    animated: list[int] = field(default_factory=list)


def _to_mode(img: Image.Image, channels: int) -> Image.Image:
    """Convert any PIL mode to ``L`` (1 channel) or ``RGB`` (3 channels)."""
    target = "L" if channels == 1 else "RGB"
    mode = img.mode
    if mode in _SIXTEEN_BIT_MODES:
        wide = np.asarray(img).astype(np.int64)
        img = Image.fromarray((np.clip(wide, 0, 65535) >> 8).astype(np.uint8), mode="L")
    elif mode == "F":
        img = Image.fromarray(np.clip(np.asarray(img), 0, 255).astype(np.uint8), mode="L")
    elif mode == "P" or mode == "PA":
        img = img.convert("RGBA" if "transparency" in img.info or mode == "PA" else "RGB")
    elif mode == "1":
        img = img.convert("L")
    if img.mode in ("RGBA", "LA"):
        base = "L" if img.mode == "LA" else "RGB"
        background = Image.new(base, img.size, "white")
        background.paste(img.convert(base), mask=img.getchannel("A"))
        img = background
    return img if img.mode == target else img.convert(target)


def _square_box(width: int, height: int) -> tuple[float, float, float, float]:
    """The centred square of side ``min(width, height)``."""
    side = min(width, height)
    left = (width - side) / 2
    top = (height - side) / 2
    return (left, top, left + side, top + side)


@contextlib.contextmanager
def open_image(path: str | os.PathLike[str]) -> Iterator[Image.Image]:
    """``Image.open`` of a regular file only.

    A FIFO, socket or device (or a link to one), a folder and a broken link raise
    :class:`~gentool.data.files.NotARegularFile` from their ``stat``: they are never opened,
    so a FIFO among the images cannot block the decoding.
    """
    with open_regular(Path(path)) as handle, Image.open(handle) as img:
        yield img


def decode_image(
    path: str | os.PathLike[str], size: int, channels: int, info: dict[str, int] | None = None
) -> np.ndarray:
    """Decode one file to uint8 ``(channels, size, size)``; raise :class:`UndecodableImage`.

    An animated file gives its first frame; ``info["frames"]`` (when ``info`` is given)
    receives the number of frames, so callers can say so.
    """
    try:
        with open_image(path) as img:
            if info is not None:
                info["frames"] = int(getattr(img, "n_frames", 1) or 1)
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise UndecodableImage(
                    f"declares {width}x{height} pixels, over the {MAX_PIXELS // 1_000_000} "
                    "megapixel limit"
                )
            # JPEG only: decode at 1/2, 1/4 or 1/8 scale when that still covers `size`.
            img.draft("L" if channels == 1 else "RGB", (size, size))
            img.load()
            converted = _to_mode(img, channels)
    except UndecodableImage:
        raise
    except Image.DecompressionBombError:
        raise UndecodableImage("decompression bomb: over Pillow's pixel limit") from None
    except UnidentifiedImageError:
        raise UndecodableImage("not an image Pillow can read") from None
    except NotARegularFile as exc:  # "is a FIFO (named pipe), not a regular file" -> "a FIFO ..."
        raise UndecodableImage(str(exc).removeprefix("is ")) from None
    except Exception as exc:  # Untrusted bytes: Pillow raises many types; each is reported.
        raise UndecodableImage(str(exc) or type(exc).__name__) from None
    if converted.size != (size, size):
        box = _square_box(*converted.size)
        converted = converted.resize(
            (size, size), Image.Resampling.BICUBIC, box=box, reducing_gap=3.0
        )
    array = np.asarray(converted, dtype=np.uint8)
    if array.ndim == 2:
        return array[None]  # (1, H, W)
    return array.transpose(2, 0, 1)  # (H, W, C) -> (C, H, W)


def _decode_or_reason(path: Path, size: int, channels: int) -> tuple[np.ndarray, int] | str:
    info: dict[str, int] = {}
    try:
        return decode_image(path, size, channels, info), info.get("frames", 1)
    except UndecodableImage as exc:
        return " ".join(str(exc).split()) or "unreadable"


def default_workers() -> int:
    """Threads for decoding: Pillow releases the GIL while it decodes and resizes."""
    return min(8, os.cpu_count() or 1)


def decode_files(
    paths: Sequence[Path], size: int, channels: int, workers: int | None = None
) -> DecodedFiles:
    """Decode every path (in parallel threads), keeping the input order."""
    workers = default_workers() if workers is None else max(1, workers)
    out = np.empty((len(paths), channels, size, size), dtype=np.uint8)
    kept: list[int] = []
    skipped: list[tuple[int, str]] = []
    animated: list[int] = []

    def decode(path: Path) -> tuple[np.ndarray, int] | str:
        return _decode_or_reason(path, size, channels)

    def collect(results: Iterable[tuple[np.ndarray, int] | str]) -> None:
        for index, result in enumerate(results):
            if isinstance(result, str):
                skipped.append((index, result))
            else:
                out[index], frames = result
                kept.append(index)
                if frames > 1:
                    animated.append(index)

    with warnings.catch_warnings():
        # Pillow warns about 89-178 megapixel images before MAX_PIXELS refuses them. The
        # filter is process-wide, so it also covers the decoding threads started here.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        if workers == 1 or len(paths) < 2 * workers:
            results: Iterable[tuple[np.ndarray, int] | str] = map(decode, paths)
            collect(results)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                collect(pool.map(decode, paths))
    images = out if len(kept) == len(paths) else out[kept]
    return DecodedFiles(images=images, kept=kept, skipped=skipped, animated=animated)


def skipped_message(skipped: Sequence[tuple[str, str]], total: int, where: str) -> str:
    """One line: how many files were skipped, and the first few with their reasons."""
    named = ", ".join(f"{name} ({reason})" for name, reason in skipped[:NAMED_IN_WARNING])
    more = len(skipped) - NAMED_IN_WARNING
    tail = f" and {more} more" if more > 0 else ""
    noun = "image" if total == 1 else "images"
    return (
        f"skipped {len(skipped)} of {total} {noun} under {where} that could not be decoded: "
        f"{named}{tail}."
    )


def warn_skipped(skipped: Sequence[tuple[str, str]], total: int, where: str) -> None:
    """Emit :func:`skipped_message` as one :class:`DataWarning` (nothing when none skipped)."""
    if skipped:
        warnings.warn(skipped_message(skipped, total, where), DataWarning, stacklevel=3)


def warn_animated(files: Sequence[str], where: str) -> None:
    """One :class:`DataWarning` naming animated files, of which only the first frame is used."""
    if not files:
        return
    shown = ", ".join(files[:NAMED_IN_WARNING])
    more = f" and {len(files) - NAMED_IN_WARNING} more" if len(files) > NAMED_IN_WARNING else ""
    warnings.warn(
        f"{len(files)} animated image(s) under {where}: only the first frame of each is used "
        f"({shown}{more}).",
        DataWarning,
        stacklevel=3,
    )
