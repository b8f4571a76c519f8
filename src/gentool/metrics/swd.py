"""Sliced Wasserstein distance on Laplacian-pyramid patches (Karras, Aila, Laine & Lehtinen,
2018, "Progressive Growing of GANs for Improved Quality, Stability, and Variation", appendix D).

For each image set, every image is decomposed into a Laplacian pyramid (5-tap binomial
filter, as ``cv2.pyrDown``/``pyrUp``) from full resolution down to 16x16. From every level,
``patches_per_image`` random 7x7 neighbourhoods are taken per image; within each set the
descriptors of a level are normalised per colour channel to zero mean and unit standard
deviation (over all descriptors and pixels). The distance between the real and fake
descriptor sets of a level is the sliced Wasserstein distance: project both on
``num_projections`` random unit directions, sort each projection, average the absolute
differences. Values are multiplied by 1e3 as in the paper.

Small at a level means the two sets have similar local structure at that scale: the finest
level reacts to edges and texture (blur, noise), the coarsest to the large-scale layout.
Because each set is normalised on its own, the metric ignores a global per-channel affine
change of intensity (brightness, contrast).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from gentool.metrics.base import EvaluationContext, Metric

#: The binomial 5x5 kernel of ``cv2.pyrDown`` (outer product of [1, 4, 6, 4, 1] / 16).
_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _blur(images: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """Separable binomial blur with mirrored edges, ``(N, C, H, W)`` -> same shape."""
    c = images.shape[1]
    kernel = (_BINOMIAL * gain**0.5).to(images)
    padded = F.pad(images, (2, 2, 2, 2), mode="reflect")
    out = F.conv2d(padded, kernel.view(1, 1, 1, 5).expand(c, 1, 1, 5), groups=c)
    return F.conv2d(out, kernel.view(1, 1, 5, 1).expand(c, 1, 5, 1), groups=c)


def _pyr_down(images: torch.Tensor) -> torch.Tensor:
    return _blur(images)[:, :, ::2, ::2]


def _pyr_up(images: torch.Tensor) -> torch.Tensor:
    n, c, h, w = images.shape
    up = images.new_zeros(n, c, h * 2, w * 2)
    up[:, :, ::2, ::2] = images
    return _blur(up, gain=4.0)  # x4 makes up for the zeros between samples


def laplacian_pyramid(images: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Laplacian pyramid: ``levels`` band-pass images, finest first, the last one low-pass."""
    pyramid = [images]
    for _ in range(1, levels):
        pyramid.append(_pyr_down(pyramid[-1]))
        pyramid[-2] = pyramid[-2] - _pyr_up(pyramid[-1])
    return pyramid


#: Side of the square patches compared (as in Karras et al.'s progressive-GAN SWD).
PATCH_SIZE = 7


def auto_levels(image_size: int, smallest: int = 16) -> int:
    """Pyramid levels from ``image_size`` halving down to ``smallest`` (at least 1)."""
    levels, size = 1, image_size
    while size // 2 >= smallest and size % 2 == 0:
        size //= 2
        levels += 1
    return levels


def _as_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] or float [-1, 1] -> float32 in [0, 255]."""
    if images.dtype == torch.uint8:
        return images.float()
    return (images.detach().float().clamp(-1, 1) + 1.0) * 127.5


def _patches(
    level: torch.Tensor, patch_size: int, per_image: int, generator: torch.Generator
) -> torch.Tensor:
    """``per_image`` random ``patch_size`` squares per image: ``(N * per_image, C, p, p)``."""
    n, c, h, w = level.shape
    ys = torch.randint(0, h - patch_size + 1, (n, per_image), generator=generator)
    xs = torch.randint(0, w - patch_size + 1, (n, per_image), generator=generator)
    offsets = torch.arange(patch_size)
    # positions come from the CPU generator, so every device cuts the same patches
    rows = (ys[..., None] + offsets).view(n, per_image, patch_size, 1).to(level.device)
    cols = (xs[..., None] + offsets).view(n, per_image, 1, patch_size).to(level.device)
    flat = level.permute(0, 2, 3, 1)  # (N, H, W, C)
    image_index = torch.arange(n, device=level.device).view(n, 1, 1, 1)
    patches = flat[image_index, rows, cols]  # (N, P, p, p, C)
    return patches.reshape(n * per_image, patch_size, patch_size, c).permute(0, 3, 1, 2)


def _normalise(descriptors: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit std per channel over all descriptors; flatten to ``(M, C*p*p)``."""
    mean = descriptors.mean(dim=(0, 2, 3), keepdim=True)
    std = descriptors.std(dim=(0, 2, 3), keepdim=True, unbiased=False).clamp_min(1e-8)
    return ((descriptors - mean) / std).flatten(1)


def _sliced_wasserstein(
    a: torch.Tensor, b: torch.Tensor, num_projections: int, generator: torch.Generator
) -> float:
    """Mean over random unit directions of the 1-D Wasserstein-1 distance of projections."""
    total, done = 0.0, 0
    while done < num_projections:
        chunk = min(128, num_projections - done)
        directions = torch.randn(a.shape[1], chunk, generator=generator, dtype=torch.float64)
        directions = (directions / directions.norm(dim=0, keepdim=True)).float().to(a.device)
        proj_a = torch.sort(a @ directions, dim=0).values
        proj_b = torch.sort(b @ directions, dim=0).values
        total += float((proj_a - proj_b).abs().mean(dim=0).sum())
        done += chunk
    return total / num_projections


def sliced_wasserstein_distance(
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    patch_size: int = PATCH_SIZE,
    patches_per_image: int = 128,
    num_projections: int = 512,
    levels: int | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """SWD (x1e3) between two image sets, per pyramid level and averaged.

    ``real`` and ``fake`` are ``(N, C, H, W)`` tensors, uint8 in [0, 255] or float in
    [-1, 1], of the same channels and size (the number of images may differ: the larger
    descriptor set is randomly subsampled to the smaller). ``levels`` defaults to halving from
    the image size down to 16 pixels. The work runs on ``device`` (default: the CPU); random
    patch positions and directions are drawn on the CPU, so devices agree to rounding. Returns ``{"swd_<size>px": ..., "swd_avg": ...}``,
    finest level first; 0 for identical sets (same seed, same patches).
    """
    if real.dim() != 4 or fake.dim() != 4 or real.shape[1:] != fake.shape[1:]:
        raise ValueError(
            f"real and fake must be (N, C, H, W) of the same C, H, W; got "
            f"{tuple(real.shape)} and {tuple(fake.shape)}"
        )
    size = int(real.shape[-1])
    levels = levels or auto_levels(min(real.shape[-2:]))
    smallest = min(real.shape[-2:]) // 2 ** (levels - 1)
    if smallest < patch_size:
        raise ValueError(
            f"{levels} pyramid levels of {size}px images end at {smallest}px, smaller than "
            f"the {patch_size}px patches; use fewer levels"
        )
    results: dict[str, float] = {}
    with torch.no_grad():
        where = torch.device(device or "cpu")
        pyramids = [
            laplacian_pyramid(_as_float(images.to(where)), levels) for images in (real, fake)
        ]
        for index, (level_real, level_fake) in enumerate(zip(*pyramids, strict=True)):
            generator = torch.Generator().manual_seed(seed + 1000 * index)
            a = _normalise(_patches(level_real, patch_size, patches_per_image, generator))
            generator = torch.Generator().manual_seed(seed + 1000 * index)
            b = _normalise(_patches(level_fake, patch_size, patches_per_image, generator))
            m = min(len(a), len(b))
            if len(a) > m:
                a = a[torch.randperm(len(a), generator=generator)[:m].to(where)]
            if len(b) > m:
                b = b[torch.randperm(len(b), generator=generator)[:m].to(where)]
            distance = _sliced_wasserstein(a, b, num_projections, generator)
            results[f"swd_{int(level_real.shape[-1])}px"] = 1e3 * distance
    results["swd_avg"] = sum(results.values()) / len(results)
    return results


class SlicedWasserstein(Metric):
    """``swd``: :func:`sliced_wasserstein_distance` of the generated images to the real ones."""

    PLUGIN_NAME: ClassVar[str] = "swd"
    DESCRIPTION: ClassVar[str] = "sliced Wasserstein distance of Laplacian patches, x1e3 (lower)"
    NEEDS: ClassVar[frozenset[str]] = frozenset({"generate"})
    DRAWS_SAMPLES: ClassVar[bool] = True
    KEYS: ClassVar[dict[str, str]] = {
        "swd_avg": "sliced Wasserstein distance x1e3, mean of levels (lower)"
    }

    @classmethod
    def describe(cls, key: str) -> str:
        if key.startswith("swd_") and key.endswith("px"):
            return f"sliced Wasserstein distance x1e3 at {key[4:-2]}px (lower)"
        return super().describe(key)

    @classmethod
    def left_out(cls, ctx: EvaluationContext, asked: bool) -> str | None:
        side = int(min(ctx.real.shape[-2:]))
        if side < PATCH_SIZE:
            return (
                f"its {PATCH_SIZE}x{PATCH_SIZE} patches need images of at least {PATCH_SIZE} "
                f"px a side and these have {side}"
            )
        return super().left_out(ctx, asked)

    def compute(self, ctx: EvaluationContext) -> dict[str, float]:
        return sliced_wasserstein_distance(
            ctx.real, ctx.generated, seed=ctx.settings.seed, device=ctx.device
        )
