"""Writing image grids and single images from tensors in [-1, 1], and checking output paths.

Every file goes through :mod:`gentool.fileio` (a temporary file beside the target, renamed
over it), so a full disk or a kill leaves the old file or the new one, never half of one.
The format follows the file name's extension (:func:`image_format`).

The commands that write files (``sample``, ``reconstruct``, ``upscale``, ``evaluate``,
``plot``) check every target before any work with :func:`check_outputs`: an existing file is
refused unless ``--overwrite`` is given, a folder, an unknown extension or a place that
cannot be written (read-only, ``/proc``, no permission) is one line; and
:func:`refuse_collisions` refuses two inputs that would be written to one output name.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from PIL import Image
from torchvision.utils import make_grid

from gentool.data.base import to_uint8
from gentool.errors import GentoolError, OutputError
from gentool.fileio import atomic_write_with, check_new_output

#: Image formats gentool writes, by file name suffix.
IMAGE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}


def image_format(path: str | Path) -> str:
    """The Pillow format written for ``path``'s extension, or a one-line error."""
    path = Path(path)
    fmt = IMAGE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise GentoolError(
            f"cannot write '{path.name}': use an image file name ending in "
            f"{', '.join(IMAGE_FORMATS)}."
        )
    return fmt


def to_pil(image: torch.Tensor) -> Image.Image:
    """One image ``(C, H, W)`` in [-1, 1] -> PIL (L or RGB)."""
    array = to_uint8(image.cpu()).permute(1, 2, 0).numpy()
    if array.shape[2] == 1:
        return Image.fromarray(array[:, :, 0], mode="L")
    return Image.fromarray(array, mode="RGB")


def grid_image(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> Image.Image:
    """Tile ``(N, C, H, W)`` images in [-1, 1] into one picture, ``nrow`` per row (at most N)."""
    n = images.shape[0]
    nrow = min(nrow or max(1, math.ceil(math.sqrt(n))), max(n, 1))
    grid = make_grid(images.detach().float().cpu(), nrow=nrow, padding=padding, pad_value=1.0)
    if images.shape[1] == 1:
        grid = grid[:1]
    return to_pil(grid)


def save_pil(img: Image.Image, path: str | Path) -> Path:
    """Write a PIL image atomically, in the format of ``path``'s extension."""
    path = Path(path)
    fmt = image_format(path)
    try:
        return atomic_write_with(path, lambda handle: img.save(handle, format=fmt))
    except (ValueError, KeyError) as exc:  # a mode the format cannot hold
        raise OutputError(f"cannot write {path} as {fmt}: {exc}") from None


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None) -> Path:
    """Write ``images`` as one grid picture (atomically; PNG unless the extension says)."""
    return save_pil(grid_image(images, nrow), path)


def each_path(directory: str | Path, index: int, prefix: str = "sample") -> Path:
    """Where :func:`save_each` writes image ``index``."""
    return Path(directory) / f"{prefix}_{index:05d}.png"


def save_each(images: torch.Tensor, directory: str | Path, prefix: str = "sample") -> list[Path]:
    """Write one PNG per image, ``DIR/PREFIX_00000.png`` onwards, each atomically."""
    return [
        save_pil(to_pil(image), each_path(directory, i, prefix)) for i, image in enumerate(images)
    ]


# --- checking outputs before any work ------------------------------------------------------------


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def probe_writable(path: str | Path) -> None:
    """Refuse in one line, before any work, a file that could not be created where ``path`` is.

    ``os.access`` says yes to root everywhere (``/proc`` included), so a real (empty,
    removed at once) temporary file is created in the nearest existing folder.
    """
    path = Path(path)
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        fd, name = tempfile.mkstemp(prefix=".gentool-probe.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {folder}: {_reason(exc)}.") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)


def check_outputs(
    paths: Iterable[str | Path], overwrite: bool, *, images: bool = False
) -> list[Path]:
    """Check every output of a command before any work: existing files (unless
    ``overwrite``), folders, unwritable places and, with ``images``, unknown extensions."""
    checked: list[Path] = []
    probed: set[Path] = set()
    for given in paths:
        path = Path(given)
        if images:
            image_format(path)
        check_new_output(path, overwrite)
        if path.parent not in probed:
            probe_writable(path)
            probed.add(path.parent)
        checked.append(path)
    return checked


def refuse_collisions(jobs: Sequence[tuple[Path, Path]]) -> None:
    """Refuse, naming both, two inputs that would be written to one output, or an output
    that is one of the inputs."""
    sources = {os.path.realpath(source): source for source, _ in jobs}
    seen: dict[str, Path] = {}
    for source, target in jobs:
        key = os.path.realpath(target)
        if key in sources:
            raise GentoolError(
                f"the output for {source} would be {target}, which is an input "
                f"({sources[key]}); choose another output (-o / --out-dir)."
            )
        if key in seen:
            raise GentoolError(
                f"{seen[key]} and {source} would both be written to {target}; rename one of "
                "them or process them separately."
            )
        seen[key] = source
