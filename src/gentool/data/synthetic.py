"""Small folders of random pictures, for the testing kit and for tests: data made on the spot,
so nothing is downloaded or shipped."""

from __future__ import annotations

from pathlib import Path

import torch


def random_image_folder(folder: Path, count: int, size: int, *, seed: int) -> Path:
    """``count`` random ``size`` x ``size`` RGB PNGs in ``folder`` (made if needed), the same
    for the same ``seed``."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    for i in range(count):
        pixels = torch.randint(0, 256, (size, size, 3), generator=g, dtype=torch.uint8)
        Image.fromarray(pixels.numpy(), "RGB").save(folder / f"{i:03d}.png")
    return folder
