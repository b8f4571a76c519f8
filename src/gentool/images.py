"""Writing image grids and single images (PNG) from tensors in [-1, 1]."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from PIL import Image
from torchvision.utils import make_grid

from gentool.data.base import to_uint8


def to_pil(image: torch.Tensor) -> Image.Image:
    """One image ``(C, H, W)`` in [-1, 1] -> PIL (L or RGB)."""
    array = to_uint8(image.cpu()).permute(1, 2, 0).numpy()
    if array.shape[2] == 1:
        return Image.fromarray(array[:, :, 0], mode="L")
    return Image.fromarray(array, mode="RGB")


def grid_image(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> Image.Image:
    """Tile ``(N, C, H, W)`` images in [-1, 1] into one picture, ``nrow`` per row."""
    n = images.shape[0]
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    grid = make_grid(images.detach().float().cpu(), nrow=nrow, padding=padding, pad_value=1.0)
    if images.shape[1] == 1:
        grid = grid[:1]
    return to_pil(grid)


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid_image(images, nrow).save(path)
    return path


def save_each(images: torch.Tensor, directory: str | Path, prefix: str = "sample") -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        path = directory / f"{prefix}_{i:05d}.png"
        to_pil(image).save(path)
        paths.append(path)
    return paths
