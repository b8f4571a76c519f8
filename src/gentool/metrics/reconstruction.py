"""How closely a model that reconstructs (a VAE) returns its input: the ``recon`` metric.

``gentool reconstruct`` reports the same MSE (:func:`squared_error_01`) for the same run and
split, so the two commands agree to the last digit.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from gentool.data.base import to_float, to_uint8
from gentool.metrics.base import EvaluationContext, Metric, Weights, model_device
from gentool.metrics.image_quality import LPIPS, MAX_PSNR, psnr, ssim


def squared_error_01(output: torch.Tensor, target: torch.Tensor) -> float:
    """Sum of squared errors between two batches in [-1, 1], measured on [0, 1] pixels.

    The one MSE scale gentool reports (``gentool reconstruct``'s ``mse_01`` and
    ``gentool evaluate``'s ``recon_mse_01``): outputs are clamped to the image range, both
    sides mapped to [0, 1], and the sum taken in float64 so batch sizes do not change it.
    """
    diff = (output.detach().double().clamp(-1, 1) - target.detach().double()) / 2
    return float(diff.pow(2).sum())


@torch.no_grad()
def reconstruction_mse(model: Any, images: torch.Tensor, batch_size: int = 100) -> float:
    """Mean squared reconstruction error over uint8 ``images``, pixels in [0, 1]."""
    return reconstruction_metrics(model, images, batch_size)["recon_mse_01"]


@torch.no_grad()
def reconstruction_metrics(
    model: Any, images: torch.Tensor, batch_size: int = 100, lpips: Any = None
) -> dict[str, float]:
    """How closely ``model.reconstruct`` returns the uint8 ``images``.

    ``recon_mse_01`` per pixel with pixels in [0, 1] (:func:`squared_error_01`, the scale
    ``gentool reconstruct`` reports too); ``recon_psnr`` (dB) and
    ``recon_ssim`` on the 8-bit outputs, averaged per image (SSIM needs 11x11 pixels or more);
    ``recon_lpips`` when an :class:`~gentool.metrics.image_quality.Lpips` is given.
    """
    device = model_device(model)
    total, count = 0.0, 0
    psnrs: list[torch.Tensor] = []
    ssims: list[torch.Tensor] = []
    distances: list[torch.Tensor] = []
    for start in range(0, len(images), batch_size):
        real = to_float(images[start : start + batch_size]).to(device)
        out = model.reconstruct(real).float()
        total += squared_error_01(out, real)
        count += real.numel()
        out8, real8 = to_uint8(out).cpu().double(), images[start : start + batch_size].double()
        psnrs.append(psnr(out8, real8).clamp(max=MAX_PSNR))  # identical images: +inf capped
        if min(real8.shape[-2:]) >= 11:
            ssims.append(ssim(out8, real8))
        if lpips is not None:
            distances.append(lpips(out8, real8))
    values = {"recon_mse_01": total / count, "recon_psnr": float(torch.cat(psnrs).mean())}
    if ssims:
        values["recon_ssim"] = float(torch.cat(ssims).mean())
    if distances:
        values["recon_lpips"] = float(torch.cat(distances).mean())
    return values


class Reconstruction(Metric):
    """``recon``: :func:`reconstruction_metrics` on the split, with LPIPS when its weights
    are there."""

    PLUGIN_NAME: ClassVar[str] = "recon"
    DESCRIPTION: ClassVar[str] = "reconstruction MSE, PSNR, SSIM (and LPIPS) on the split"
    NEEDS: ClassVar[frozenset[str]] = frozenset({"reconstruct"})
    OPTIONAL_WEIGHTS: ClassVar[Weights | None] = LPIPS
    KEYS: ClassVar[dict[str, str]] = {
        "recon_mse_01": "reconstruction mean squared error, pixels in [0, 1] (lower)",
        "recon_psnr": "reconstruction PSNR of 8-bit images, dB (higher)",
        "recon_ssim": "reconstruction SSIM, 11x11 Gaussian window (higher, max 1)",
        "recon_lpips": "reconstruction LPIPS, AlexNet (lower)",
    }

    def compute(self, ctx: EvaluationContext) -> dict[str, float]:
        lpips = ctx.optional_weights(LPIPS, "recon_lpips")
        return reconstruction_metrics(ctx.model, ctx.real, ctx.settings.batch_size, lpips)
