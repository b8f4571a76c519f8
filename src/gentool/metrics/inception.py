"""FID, KID and IS as metrics: three metrics over one Inception feature extraction.

The maths and the network are in :mod:`gentool.metrics.fid`. The three metrics name the same
:data:`INCEPTION` weights, so the network is loaded once (before any image is drawn, so
missing weights fail fast), and read the same features (:func:`inception_features`): the
real images' come from the cache when they are there, the generated images' are extracted
once, whichever of the three asks first.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import torch

from gentool.metrics.base import EvaluationContext, EvaluationSettings, Metric, Weights
from gentool.metrics.fid import (
    INCEPTION_ENV,
    InceptionFeatures,
    extract_features,
    fid_from_features,
    inception_score,
    kernel_inception_distance,
    reference_features,
)


class InceptionWeights(Weights):
    """torch-fidelity's ``inception-v3-compat`` weights (``--inception-weights``)."""

    NAME: ClassVar[str] = "Inception"
    OPTION: ClassVar[str] = "inception_weights"

    def given(self, settings: EvaluationSettings) -> bool:
        return inception_weights_given(settings)

    def missing(self) -> str:
        return f"no Inception weights (pass --inception-weights PATH or set {INCEPTION_ENV})"

    def load(self, settings: EvaluationSettings, device: torch.device) -> Any:
        return InceptionFeatures(settings.inception_weights, device)


INCEPTION = InceptionWeights()


def inception_weights_given(settings: EvaluationSettings) -> bool:
    """Whether Inception weights were named (option or environment)."""
    return bool(settings.inception_weights or os.environ.get(INCEPTION_ENV))


def inception_features(
    ctx: EvaluationContext,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``(real, generated)`` Inception features (``pool`` and ``logits``), computed once per
    evaluation and reported as ``inception`` in the timings."""
    generated = ctx.generated

    def extract() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        extractor = ctx.weights(INCEPTION)
        batch = ctx.settings.batch_size
        real = reference_features(ctx.real, extractor, ctx.data_key, batch)
        return real, extract_features(generated, extractor, batch)

    return ctx.once("inception", extract)


class _InceptionMetric(Metric):
    NEEDS: ClassVar[frozenset[str]] = frozenset({"generate"})
    MIN_IMAGES: ClassVar[int] = 2
    DRAWS_SAMPLES: ClassVar[bool] = True
    WEIGHTS: ClassVar[Weights | None] = INCEPTION


class Fid(_InceptionMetric):
    PLUGIN_NAME: ClassVar[str] = "fid"
    DESCRIPTION: ClassVar[str] = "Fréchet Inception distance (lower is better)"
    KEYS: ClassVar[dict[str, str]] = {"fid": "Fréchet Inception distance (lower is better)"}

    def compute(self, ctx: EvaluationContext) -> dict[str, float]:
        real, generated = inception_features(ctx)
        return {"fid": fid_from_features(real["pool"], generated["pool"])}


class Kid(_InceptionMetric):
    PLUGIN_NAME: ClassVar[str] = "kid"
    DESCRIPTION: ClassVar[str] = "kernel Inception distance, unbiased MMD^2 (lower is better)"
    KEYS: ClassVar[dict[str, str]] = {
        "kid": "kernel Inception distance, mean over subsets (lower)",
        "kid_std": "standard deviation of KID over subsets",
    }

    def compute(self, ctx: EvaluationContext) -> dict[str, float]:
        real, generated = inception_features(ctx)
        mean, std = kernel_inception_distance(
            real["pool"], generated["pool"], seed=ctx.settings.seed
        )
        return {"kid": mean, "kid_std": std}


class InceptionScore(_InceptionMetric):
    PLUGIN_NAME: ClassVar[str] = "is"
    DESCRIPTION: ClassVar[str] = "Inception score of generated images (higher is better)"
    KEYS: ClassVar[dict[str, str]] = {
        "is": "Inception score (higher is better)",
        "is_std": "standard deviation of IS over splits",
    }

    def compute(self, ctx: EvaluationContext) -> dict[str, float]:
        _, generated = inception_features(ctx)
        mean, std = inception_score(generated["logits"])
        return {"is": mean, "is_std": std}
