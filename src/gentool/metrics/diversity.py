"""Sample diversity: the mean distance between pairs of images of one set.

A generator that has collapsed to a few outputs scores near 0; real data sets the reference.
Compare a model's value with the value of real images at the same resolution. The
``diversity`` metric reports it for generated images beside real ones, and for a translation
model for its outputs beside its inputs, both ways (:func:`diversity_metrics`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from gentool.metrics.base import EvaluationContext, Metric, translate_uint8


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


def diversity_metrics(
    model: Any,
    images_a: torch.Tensor,
    images_b: torch.Tensor,
    batch_size: int = 100,
    seed: int = 0,
) -> dict[str, float]:
    """The mode-collapse indicator of a translation model both ways: the diversity of its
    outputs, of its inputs, and their ratio (near 0 when it maps many inputs to one image)."""
    values: dict[str, float] = {}
    for direction, images in (("ab", images_a), ("ba", images_b)):
        if len(images) < 2:
            continue
        outputs = translate_uint8(model, images, f"{direction[0]}2{direction[1]}", batch_size)
        out_div = pairwise_diversity(outputs, seed=seed)
        in_div = pairwise_diversity(images, seed=seed)
        values[f"diversity_{direction}"] = out_div
        values[f"diversity_{direction[0]}"] = in_div
        if in_div > 0:
            values[f"diversity_ratio_{direction}"] = out_div / in_div
    return values


class Diversity(Metric):
    """``diversity``: generated images beside real ones, or (a model that translates but
    does not generate) outputs beside inputs."""

    PLUGIN_NAME: ClassVar[str] = "diversity"
    DESCRIPTION: ClassVar[str] = (
        "mean pairwise RMS pixel distance, generated vs real (translation: outputs vs inputs)"
    )
    NEEDS: ClassVar[frozenset[str]] = frozenset({"generate", "translate"})
    DRAWS_SAMPLES: ClassVar[bool] = True
    MIN_IMAGES: ClassVar[int] = 2
    KEYS: ClassVar[dict[str, str]] = {
        "diversity": "mean pairwise RMS distance of generated images, [0,1]",
        "diversity_real": "the same among real images (collapse: generated << real)",
        "diversity_ab": "mean pairwise RMS distance among G_AB outputs, [0,1]",
        "diversity_a": "the same among the A inputs",
        "diversity_ratio_ab": "outputs / inputs (collapse: near 0)",
        "diversity_ba": "mean pairwise RMS distance among G_BA outputs, [0,1]",
        "diversity_b": "the same among the B inputs",
        "diversity_ratio_ba": "outputs / inputs (collapse: near 0)",
    }

    def compute(self, ctx: EvaluationContext) -> dict[str, float]:
        seed = ctx.settings.seed
        if not ctx.family.can("generate"):
            assert ctx.data_b is not None  # a model that translates has two domains
            return diversity_metrics(
                ctx.model, ctx.real, ctx.data_b.images, ctx.settings.batch_size, seed
            )
        return {
            "diversity": pairwise_diversity(ctx.generated, seed=seed, device=ctx.device),
            "diversity_real": pairwise_diversity(ctx.real, seed=seed, device=ctx.device),
        }
