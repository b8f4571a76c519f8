"""Image augmentation for GAN training, on batches in [-1, 1], ``(B, C, H, W)``.

Two kinds, chosen with ``--train-opt``:

* ``augment=flip,crop,rotate,color``: classic augmentation of the *real* images only
  (horizontal flip, a random crop that shifts the image by up to 1/8 of its size with
  reflected borders, a rotation of up to 10 degrees, brightness/contrast/saturation jitter).
  It enlarges the real distribution, so G learns the augmented images too: use only
  transformations whose results are still plausible images (flips of faces, not of digits).
* ``diffaugment=color,translation,cutout``: DiffAugment (Zhao, Liu, Lin, Zhu & Han, 2020,
  "Differentiable Augmentation for Data-Efficient GAN Training"). The same random
  transformations are applied to real *and* fake images every time D sees them, in both
  D's and G's updates; they are differentiable, so G's gradient flows through them. D can
  no longer memorise the few real images, and G is not taught to produce augmented images.
  The three policies follow the paper's reference code: ``color`` (brightness +-0.5,
  saturation x[0, 2], contrast x[0.5, 1.5]), ``translation`` (shift by up to 1/8 with zero
  padding), ``cutout`` (one zeroed square of half the image size).

Randomness comes from the global torch generator (seeded and checkpointed by the trainer).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from gentool.errors import GentoolError

Augmentation = Callable[[torch.Tensor], torch.Tensor]


# --- classic augmentation of real images ----------------------------------------------------
def random_flip(x: torch.Tensor) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < 0.5
    return torch.where(flip, x.flip(3), x)


def random_crop(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Pad by ``ratio`` of the size with reflected borders and crop back at a random offset."""
    b, _, h, w = x.shape
    ph, pw = max(1, int(h * ratio)), max(1, int(w * ratio))
    padded = F.pad(x, (pw, pw, ph, ph), mode="reflect")
    dy = torch.randint(0, 2 * ph + 1, (b, 1, 1), device=x.device)
    dx = torch.randint(0, 2 * pw + 1, (b, 1, 1), device=x.device)
    rows = (torch.arange(h, device=x.device).view(1, h, 1) + dy).expand(b, h, w)
    cols = (torch.arange(w, device=x.device).view(1, 1, w) + dx).expand(b, h, w)
    index = torch.arange(b, device=x.device).view(b, 1, 1)
    return padded.permute(0, 2, 3, 1)[index, rows, cols].permute(0, 3, 1, 2)


def random_rotate(x: torch.Tensor, max_degrees: float = 10.0) -> torch.Tensor:
    """Rotate each image by a uniform angle in [-max_degrees, max_degrees], reflected borders."""
    b = x.shape[0]
    angle = (torch.rand(b, device=x.device) * 2 - 1) * math.radians(max_degrees)
    cos, sin, zero = angle.cos(), angle.sin(), torch.zeros_like(angle)
    theta = torch.stack([cos, -sin, zero, sin, cos, zero], dim=1).view(b, 2, 3).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def random_color_jitter(x: torch.Tensor, strength: float = 0.1) -> torch.Tensor:
    """Small brightness, contrast and (for RGB) saturation changes, clamped to [-1, 1]."""
    b = x.shape[0]
    scale = (torch.rand(b, 1, 1, 1, device=x.device) * 2 - 1) * strength
    x = x + 2 * scale  # brightness: +-strength of the [0, 1] range
    contrast = 1 + (torch.rand(b, 1, 1, 1, device=x.device) * 2 - 1) * strength * 2
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast + mean
    if x.shape[1] == 3:
        saturation = 1 + (torch.rand(b, 1, 1, 1, device=x.device) * 2 - 1) * strength * 3
        gray = x.mean(dim=1, keepdim=True)
        x = (x - gray) * saturation + gray
    return x.clamp(-1, 1)


CLASSIC: dict[str, Augmentation] = {
    "flip": random_flip,
    "crop": random_crop,
    "rotate": random_rotate,
    "color": random_color_jitter,
}


# --- DiffAugment (Zhao et al., 2020) ----------------------------------------------------------
def diff_color(x: torch.Tensor) -> torch.Tensor:
    """Brightness + U[-0.5, 0.5], saturation x U[0, 2], contrast x U[0.5, 1.5]."""
    b = x.shape[0]
    x = x + (torch.rand(b, 1, 1, 1, dtype=x.dtype, device=x.device) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (torch.rand(b, 1, 1, 1, dtype=x.dtype, device=x.device) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(b, 1, 1, 1, dtype=x.dtype, device=x.device) + 0.5) + mean


def diff_translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its size; uncovered pixels become 0."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)
    tx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    rows = (torch.arange(h, device=x.device).view(1, h, 1) + ty + 1).clamp(0, h + 1)
    cols = (torch.arange(w, device=x.device).view(1, 1, w) + tx + 1).clamp(0, w + 1)
    padded = F.pad(x, (1, 1, 1, 1)).permute(0, 2, 3, 1)  # (B, H+2, W+2, C), zero border
    index = torch.arange(b, device=x.device).view(b, 1, 1)
    return padded[index, rows.expand(b, h, w), cols.expand(b, h, w)].permute(0, 3, 1, 2)


def diff_cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of ``ratio`` of the image size at a random place per image."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    top, left = oy - ch // 2, ox - cw // 2  # the square may stick out of the image
    inside = (ys >= top) & (ys < top + ch) & (xs >= left) & (xs < left + cw)  # (B, H, W)
    return x * (~inside).unsqueeze(1).to(x.dtype)


DIFFAUGMENT: dict[str, Augmentation] = {
    "color": diff_color,
    "translation": diff_translation,
    "cutout": diff_cutout,
}


def _parse(spec: object, table: dict[str, Augmentation], option: str) -> list[Augmentation]:
    names = [n.strip() for n in str(spec or "").replace(";", ",").split(",") if n.strip()]
    unknown = [n for n in names if n not in table]
    if unknown:
        raise GentoolError(
            f"--train-opt {option}: unknown augmentation '{unknown[0]}'; choose from "
            f"{', '.join(table)} (comma-separated, e.g. {option}={','.join(list(table)[:2])})."
        )
    return [table[n] for n in names]


def chain(functions: list[Augmentation]) -> Augmentation | None:
    """One function applying ``functions`` in order (None when the list is empty)."""
    if not functions:
        return None

    def apply(x: torch.Tensor) -> torch.Tensor:
        for function in functions:
            x = function(x)
        return x

    return apply


def classic_augmentation(spec: object) -> Augmentation | None:
    """The real-image augmentation named by ``--train-opt augment=flip,crop`` (or None)."""
    return chain(_parse(spec, CLASSIC, "augment"))


def diff_augmentation(spec: object) -> Augmentation | None:
    """The DiffAugment policy named by ``--train-opt diffaugment=color,translation,cutout``."""
    return chain(_parse(spec, DIFFAUGMENT, "diffaugment"))
