"""Precision, recall, density and coverage in a feature space that needs no downloaded weights.

* Precision / recall (Kynkäänniemi et al., 2019, "Improved Precision and Recall Metric for
  Assessing Generative Models"): a real sample ``x_i`` owns the ball of radius
  ``r_i`` = distance to its k-th nearest real neighbour. Precision is the fraction of generated
  samples inside at least one real ball (fidelity); recall is the fraction of real samples inside
  at least one generated ball (built the same way from the generated set).
* Density / coverage (Naeem et al., 2020, "Reliable Fidelity and Diversity Metrics for
  Generative Models"): density ``= 1/(kM) sum_j sum_i 1[|y_j - x_i| <= r_i]`` counts how many
  real balls hold each generated sample (about 1 for a model that matches the data, above 1
  when samples crowd dense regions); coverage ``= 1/N sum_i 1[min_j |x_i - y_j| <= r_i]`` is
  the fraction of real balls that hold at least one generated sample (mode dropping lowers it).

The feature space (:func:`pixel_features`): images resized to 32x32 (area averaging), scaled to
[-1, 1], flattened, and multiplied by a fixed Gaussian random projection (seed 0) to 256
dimensions. Random projections preserve Euclidean distances (Johnson-Lindenstrauss), so this is
"downsampled pixel distance", the same on every machine. It judges layout and colour, not
semantics: compare runs on one dataset with it, not across datasets.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from gentool.metrics.base import EvaluationContext, Metric

PIXEL_FEATURE_SIZE = 32
PIXEL_FEATURE_DIM = 256
PIXEL_FEATURE_SEED = 0
#: Name of the feature space, reported next to the values.
PIXEL_FEATURE_NAME = f"pixels{PIXEL_FEATURE_SIZE}-rp{PIXEL_FEATURE_DIM}-seed{PIXEL_FEATURE_SEED}"


def pixel_features(
    images: torch.Tensor, batch_size: int = 1024, device: torch.device | str | None = None
) -> torch.Tensor:
    """uint8 or [-1, 1] images ``(N, C, H, W)`` -> ``(N, 256)`` projections of 32x32 pixels.

    Computed on ``device`` (default: the CPU) and returned there.
    """
    where = torch.device(device or "cpu")
    n, c = images.shape[:2]
    generator = torch.Generator().manual_seed(PIXEL_FEATURE_SEED)
    inputs = c * PIXEL_FEATURE_SIZE * PIXEL_FEATURE_SIZE
    projection = (
        torch.randn(inputs, PIXEL_FEATURE_DIM, generator=generator) / PIXEL_FEATURE_DIM**0.5
    ).to(where)
    out = []
    for start in range(0, n, batch_size):
        chunk = images[start : start + batch_size].to(where)
        chunk = chunk.float() / 127.5 - 1.0 if chunk.dtype == torch.uint8 else chunk.float()
        if chunk.shape[-1] != PIXEL_FEATURE_SIZE or chunk.shape[-2] != PIXEL_FEATURE_SIZE:
            chunk = F.interpolate(chunk, size=(PIXEL_FEATURE_SIZE,) * 2, mode="area")
        out.append(chunk.flatten(1) @ projection)  # (B, 256)
    return torch.cat(out)


CHUNK = 1024


def knn_radii(features: torch.Tensor, k: int) -> torch.Tensor:
    """Distance of each sample to its k-th nearest other sample of the same set."""
    if len(features) <= k:
        raise ValueError(
            f"k={k} nearest neighbours need more than {k} samples, got {len(features)}"
        )
    radii = []
    for start in range(0, len(features), CHUNK):
        distances = torch.cdist(features[start : start + CHUNK], features)
        # The smallest distance is the sample to itself (0): the k-th neighbour is k+1-th.
        radii.append(distances.kthvalue(k + 1, dim=1).values)
    return torch.cat(radii)


def precision_recall_density_coverage(
    real: torch.Tensor, fake: torch.Tensor, k: int = 5, device: torch.device | str | None = None
) -> dict[str, float]:
    """The four metrics between feature sets ``real`` ``(N, D)`` and ``fake`` ``(M, D)``.

    Distances are computed in float64 on ``device`` (default: the CPU), a block of generated
    samples at a time, so 10,000 x 10,000 needs no more than a few hundred MB.
    """
    where = torch.device(device or "cpu")
    real = real.to(where, torch.float64)
    fake = fake.to(where, torch.float64)
    real_radii = knn_radii(real, k)  # (N,)
    fake_radii = knn_radii(fake, k)  # (M,)
    in_some_real_ball = 0
    balls_holding = 0.0
    real_covered = torch.zeros(len(real), dtype=torch.bool, device=where)
    real_in_fake_ball = torch.zeros(len(real), dtype=torch.bool, device=where)
    for start in range(0, len(fake), CHUNK):
        d = torch.cdist(fake[start : start + CHUNK], real)  # (m, N)
        inside = d <= real_radii.unsqueeze(0)  # fake j inside real ball i
        in_some_real_ball += int(inside.any(dim=1).sum())
        balls_holding += float(inside.sum())
        real_covered |= inside.any(dim=0)
        real_in_fake_ball |= (d <= fake_radii[start : start + CHUNK].unsqueeze(1)).any(dim=0)
    return {
        "precision": in_some_real_ball / len(fake),
        "recall": float(real_in_fake_ball.double().mean()),
        "density": balls_holding / (k * len(fake)),
        "coverage": float(real_covered.double().mean()),
    }


class Prdc(Metric):
    """``prdc``: precision, recall, density and coverage of the generated images against
    the real ones, k = 5, in the :func:`pixel_features` space."""

    PLUGIN_NAME: ClassVar[str] = "prdc"
    DESCRIPTION: ClassVar[str] = "precision/recall/density/coverage in pixel space (higher)"
    NEEDS: ClassVar[frozenset[str]] = frozenset({"generate"})
    DRAWS_SAMPLES: ClassVar[bool] = True
    MIN_IMAGES: ClassVar[int] = 6
    KEYS: ClassVar[dict[str, str]] = {
        "precision": "share of generated images near real ones (fidelity)",
        "recall": "share of real images near generated ones (diversity)",
        "density": "real neighbourhoods per generated image (~1 matches data)",
        "coverage": "share of real neighbourhoods holding a generated image",
    }
    K: ClassVar[int] = 5

    def compute(self, ctx: EvaluationContext) -> dict[str, float]:
        real, generated, k = ctx.real, ctx.generated, self.K
        if min(len(real), len(generated)) <= k:
            ctx.notes.append(f"prdc skipped: needs more than {k} real and generated images.")
            return {}
        values = precision_recall_density_coverage(
            pixel_features(real, device=ctx.device),
            pixel_features(generated, device=ctx.device),
            k,
            device=ctx.device,
        )
        ctx.notes.append(f"precision/recall/density/coverage in {PIXEL_FEATURE_NAME} space, k={k}.")
        return values
