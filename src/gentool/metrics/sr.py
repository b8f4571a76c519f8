"""An upscaler on its run's own test split: the ``sr`` metric, and what ``gentool
reconstruct`` reports for an upscaler (:func:`upscaler_scores`).

The measures themselves (PSNR-Y, SSIM-Y, MSE, LPIPS, the training degradation) are in
:mod:`gentool.metrics.image_quality`; ``gentool evaluate --hr-dir`` reports the same measures
on a folder of photos, described by :meth:`SuperResolution.describe`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from gentool.data.base import ImageData
from gentool.metrics.base import EvaluationContext, Metric, Weights, model_device
from gentool.metrics.image_quality import LPIPS, evaluate_upscaler, evaluate_upscaler_split

if TYPE_CHECKING:
    from gentool.checkpoint_schema import CheckpointMeta

#: :func:`evaluate_upscaler`'s names for what the run's split reports under these names.
_NATIVE_KEYS = {"mse": "mse_01"}
#: The prefix of the baseline's keys.
BASELINE_PREFIX = "bicubic_"


def trained_full_res(model: Any, info: CheckpointMeta | None) -> bool:
    """Whether an image2image run trained on crops of its photos at their own resolution
    (``--train-opt full_res=true``, the default of ``sr-resnet``)."""
    saved = info.train.get("extra") if info is not None else None
    extra = dict(saved) if isinstance(saved, dict) else {}
    defaults = dict(getattr(model, "DEFAULT_TRAIN_OPTIONS", {}) or {})
    return str(extra.get("full_res", defaults.get("full_res", "false"))).lower() == "true"


def scored_natively(model: Any, info: CheckpointMeta | None, data: ImageData) -> bool:
    """Whether :func:`upscaler_scores` measures ``data`` at the photos' own resolution: an
    RGB run that trained there (:func:`trained_full_res`) on data that lists its files."""
    return trained_full_res(model, info) and bool(data.files) and int(model.config.channels) == 3


def upscaler_scores(
    model: Any,
    data: ImageData,
    info: CheckpointMeta | None,
    *,
    split: str,
    lpips: Any = None,
    lpips_weights: str | None = None,
    batch_size: int = 32,
) -> tuple[dict[str, float], list[str]]:
    """What ``gentool evaluate RUN`` and ``gentool reconstruct RUN`` report for an upscaler
    on ``data``: ``psnr_y``, ``ssim_y``, ``mse_01``, ``psnr_rgb`` (and ``lpips``), and the
    same prefixed ``bicubic_``, with notes saying how they were measured.

    A run that trained at the photos' own resolution (:func:`scored_natively`) is scored on
    the same files at their own resolution, as ``--hr-dir`` scores a folder (tiled, as
    ``gentool upscale``); any other run on ``data``'s images at the run's ``--image-size``.
    """
    scale = int(model.scale)
    how = (
        f"shrunk {scale}x as in training (antialiased bicubic, 8-bit), upscaled, {scale} "
        "pixels shaved at each border; bicubic_* is plain interpolation."
    )
    if scored_natively(model, info, data):
        result = evaluate_upscaler(
            model,
            [Path(f) for f in data.files],
            scale=scale,
            device=str(model_device(model)),
            lpips_weights=lpips_weights,
        )
        values = {_NATIVE_KEYS.get(k, k): v for k, v in result["mean"]["model"].items()}
        values.update(
            {
                f"{BASELINE_PREFIX}{_NATIVE_KEYS.get(k, k)}": v
                for k, v in result["mean"]["baseline"].items()
            }
        )
        notes = [
            f"sr: the {len(result['rows'])} {split} images at their own resolution (the run "
            f"trained on crops of them at that resolution), {how}"
        ]
        notes += [f"sr: skipped {s['file']}: {s['reason']}" for s in result["skipped"]]
        if result["lpips"]:
            notes.append(f"lpips left out: {result['lpips']}")
        return values, notes
    side = int(data.images.shape[-1])
    values = evaluate_upscaler_split(model, data.images, lpips=lpips, batch_size=batch_size)
    notes = [
        f"sr: the {split} images, decoded as {side}x{side} squares (the run's --image-size), " + how
    ]
    return values, notes


class SuperResolution(Metric):
    """``sr``: an upscaler on its split (:func:`upscaler_scores`), beside bicubic."""

    PLUGIN_NAME: ClassVar[str] = "sr"
    DESCRIPTION: ClassVar[str] = "upscaler on the split: PSNR-Y, SSIM-Y, MSE, LPIPS, and of bicubic"
    NEEDS: ClassVar[frozenset[str]] = frozenset({"upscale"})
    OPTIONAL_WEIGHTS: ClassVar[Weights | None] = LPIPS
    KEYS: ClassVar[dict[str, str]] = {
        "psnr_y": "upscaled split: PSNR of luma, dB, border shaved (higher)",
        "ssim_y": "upscaled split: SSIM of luma (higher, max 1)",
        "mse_01": "upscaled split: mean squared error, pixels in [0, 1] (lower)",
        "psnr_rgb": "upscaled split: PSNR over all channels, dB (higher)",
        "lpips": "upscaled split: LPIPS, AlexNet (lower)",
    }

    @classmethod
    def describe(cls, key: str) -> str:
        if key.startswith(BASELINE_PREFIX) and key[len(BASELINE_PREFIX) :] in cls.KEYS:
            return "bicubic interpolation (baseline): " + cls.measure(key[len(BASELINE_PREFIX) :])
        return super().describe(key)

    @classmethod
    def measure(cls, key: str) -> str:
        """What ``key`` measures, wherever the images come from (``--hr-dir`` too: its
        ``mse`` is the split's ``mse_01``)."""
        return cls.KEYS.get(_NATIVE_KEYS.get(key, key), "").split(": ", 1)[-1]

    def compute(self, ctx: EvaluationContext) -> dict[str, float]:
        lpips = None
        if not scored_natively(ctx.model, ctx.checkpoint, ctx.data):
            lpips = ctx.optional_weights(LPIPS, "lpips")
        split = ctx.spec.split if ctx.spec is not None else "test"
        scores, notes = upscaler_scores(
            ctx.model,
            ctx.data,
            ctx.checkpoint,
            split=split,
            lpips=lpips,
            lpips_weights=ctx.settings.lpips_weights,
            batch_size=ctx.settings.batch_size,
        )
        ctx.notes.extend(notes)
        return scores
