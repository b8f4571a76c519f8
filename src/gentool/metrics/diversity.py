"""Sample diversity: the mean distance between pairs of images of one set.

A generator that has collapsed to a few outputs scores near 0; real data sets the reference.
Compare a model's value with the value of real images at the same resolution.
"""

from __future__ import annotations

import torch


def _as_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] or float [-1, 1] -> float32 [0, 1], flattened per image."""
    if images.dtype == torch.uint8:
        out = images.float() / 255.0
    else:
        out = (images.detach().float().clamp(-1, 1) + 1.0) / 2.0
    return out.flatten(1)


def pairwise_diversity(
    images: torch.Tensor,
    max_pairs: int = 2000,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> float:
    """Mean pairwise root-mean-square pixel distance of ``images`` ``(N, C, H, W)``.

    The distance of a pair is ``sqrt(mean((x_i - x_j)^2))`` with pixels in [0, 1] (uint8
    input is divided by 255, float input is read as [-1, 1]), so it lies in [0, 1] and does
    not depend on the resolution. Averaged over ``max_pairs`` random pairs of distinct
    indices ``i != j`` (all pairs when there are fewer), drawn from ``seed``. Identical
    images give exactly 0. Needs no network weights. Computed on ``device`` (default: CPU).
    """
    n = images.shape[0]
    if n < 2:
        raise ValueError("diversity needs at least two images")
    where = torch.device(device or "cpu")
    flat = _as_unit(images.to(where))
    all_pairs = n * (n - 1) // 2
    if all_pairs <= max_pairs:
        i, j = torch.triu_indices(n, n, offset=1)
    else:
        generator = torch.Generator().manual_seed(seed)
        i = torch.randint(0, n, (max_pairs,), generator=generator)
        j = torch.randint(0, n - 1, (max_pairs,), generator=generator)
        j = j + (j >= i).long()  # uniform over indices != i
    i, j = i.to(where), j.to(where)
    distances = (flat[i] - flat[j]).pow(2).mean(dim=1).sqrt()
    return float(distances.mean())
