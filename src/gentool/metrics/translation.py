"""Metrics of an unpaired translation model (CycleGAN): what ``gentool evaluate`` reports.

All take uint8 images ``(N, C, H, W)`` at the model's resolution and translate them in
batches on the model's device. Errors are measured on the 8-bit outputs:

* **cycle**: ``A -> B -> A`` (and ``B -> A -> B``) reconstruction; ``mse`` with pixels in
  [0, 1], ``psnr`` in dB (peak 255, identical images capped at 100 dB).
* **diversity**: the mode-collapse indicator, the mean pairwise RMS pixel distance among the
  outputs for different inputs, beside the same figure among the inputs; their ratio falls
  toward 0 when a generator maps many inputs to the same image (the ``diversity`` metric,
  :func:`gentool.metrics.diversity.diversity_metrics`).
* **paired**: where the right answer is known (a folder of targets with the same file
  names), MSE, PSNR and SSIM of the translation to it, and of the identity map (the input
  itself) as a baseline that any useful model must beat.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import ClassVar, Protocol

import torch

from gentool.data.decode import decode_files, warn_skipped
from gentool.data.folder import list_images
from gentool.errors import GentoolError
from gentool.metrics.base import EvaluationContext, Metric, translate_uint8
from gentool.metrics.diversity import diversity_metrics
from gentool.metrics.image_quality import MAX_PSNR, psnr, ssim

__all__ = [
    "Cycle",
    "Paired",
    "cycle_metrics",
    "diversity_metrics",
    "image_errors",
    "paired_metrics",
    "paired_targets",
    "translate_uint8",
]


class Translator(Protocol):
    """What the metrics need of a model: ``translate`` and parameters (for the device)."""

    def translate(self, images: torch.Tensor, direction: str) -> torch.Tensor: ...

    def parameters(self) -> Iterator[torch.nn.Parameter]: ...


def image_errors(output: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """``mse`` ([0, 1] pixels), ``psnr`` (dB, capped at 100) and ``ssim`` of uint8 images."""
    out, ref = output.double(), target.double()
    values = {
        "mse": float(((out - ref) / 255.0).pow(2).mean()),
        "psnr": float(psnr(out, ref).clamp(max=MAX_PSNR).mean()),
    }
    if min(out.shape[-2:]) >= 11:
        values["ssim"] = float(ssim(out, ref).mean())
    return values


def cycle_metrics(
    model: Translator, images_a: torch.Tensor, images_b: torch.Tensor, batch_size: int = 100
) -> dict[str, float]:
    """Cycle reconstruction error both ways: ``cycle_mse_a``, ``cycle_psnr_a``, ``..._b``."""
    values: dict[str, float] = {}
    for name, images, there, back in (("a", images_a, "a2b", "b2a"), ("b", images_b, "b2a", "a2b")):
        translated = translate_uint8(model, images, there, batch_size)
        returned = translate_uint8(model, translated, back, batch_size)
        errors = image_errors(returned, images)
        values[f"cycle_mse_{name}"] = errors["mse"]
        values[f"cycle_psnr_{name}"] = errors["psnr"]
    return values


def paired_metrics(
    model: Translator,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    direction: str,
    batch_size: int = 100,
) -> dict[str, float]:
    """Error of the translation of ``inputs`` to known ``targets``, and of the identity map.

    Keys ``{direction}_mse``, ``{direction}_psnr``, ``{direction}_ssim`` for the model and
    ``identity_{direction}_...`` for the input itself compared with the target.
    """
    outputs = translate_uint8(model, inputs, direction, batch_size)
    values = {f"{direction}_{k}": v for k, v in image_errors(outputs, targets).items()}
    values.update(
        {f"identity_{direction}_{k}": v for k, v in image_errors(inputs, targets).items()}
    )
    return values


# --- known answers ---------------------------------------------------------------------------------


def paired_targets(
    files: list[str], target_dir: str | Path, size: int, channels: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets for the images ``files`` from a folder holding files of the same names.

    A target's name is its path below ``target_dir`` without the extension (``x.jpg``
    matches ``x.png``); it matches an image whose path ends with it, the longest name
    winning, so ``T/day/0001.png`` pairs with ``A/day/0001.png`` and not ``A/night/0001.png``.
    Two targets of one name, or one target matched by two images, are refused by name.
    Returns the indices into ``files`` that found a decodable target and the targets, uint8
    at ``size``; none is an error.
    """
    folder = Path(target_dir).expanduser()
    if not folder.is_dir():
        raise GentoolError(f"target folder {folder} is not a folder of images.")
    by_key: dict[tuple[str, ...], str] = {}
    for name in list_images(folder):
        key = PurePosixPath(name).with_suffix("").parts
        if key in by_key:
            raise GentoolError(
                f"{folder / by_key[key]} and {folder / name} are both the target of "
                f"'{'/'.join(key)}'; keep one."
            )
        by_key[key] = name
    longest = max((len(key) for key in by_key), default=0)

    def target_of(file: str) -> str | None:
        parts = Path(file).with_suffix("").parts
        for n in range(min(longest, len(parts)), 0, -1):
            if parts[-n:] in by_key:
                return by_key[parts[-n:]]
        return None

    pairs: list[tuple[int, str]] = []
    matched: dict[str, int] = {}
    for i, file in enumerate(files):
        found = target_of(file)
        if found is None:
            continue
        name = found
        if name in matched:
            raise GentoolError(
                f"target {folder / name} matches both {files[matched[name]]} and {file}; "
                "give the targets the sub-folders of their inputs."
            )
        matched[name] = i
        pairs.append((i, name))
    if not pairs:
        raise GentoolError(
            f"no file in {folder} has the name of one of the {len(files)} evaluated images; "
            "targets must be named like their inputs."
        )
    decoded = decode_files([folder / name for _, name in pairs], size, channels)
    warn_skipped([(pairs[i][1], why) for i, why in decoded.skipped], len(pairs), str(folder))
    if not decoded.kept:
        first, why = decoded.skipped[0]
        raise GentoolError(
            f"none of the {len(pairs)} targets in {folder} named like evaluated images could "
            f"be decoded (first: {pairs[first][1]}: {why})."
        )
    index = torch.tensor([pairs[i][0] for i in decoded.kept], dtype=torch.long)
    return index, torch.from_numpy(decoded.images)


# --- the metrics ------------------------------------------------------------------------------


class Cycle(Metric):
    """``cycle``: :func:`cycle_metrics` on the domain A and B images."""

    PLUGIN_NAME: ClassVar[str] = "cycle"
    DESCRIPTION: ClassVar[str] = "cycle reconstruction MSE and PSNR, both ways"
    NEEDS: ClassVar[frozenset[str]] = frozenset({"translate"})
    KEYS: ClassVar[dict[str, str]] = {
        "cycle_mse_a": "A->B->A reconstruction MSE, pixels in [0,1] (lower)",
        "cycle_psnr_a": "A->B->A reconstruction PSNR, dB (higher)",
        "cycle_mse_b": "B->A->B reconstruction MSE, pixels in [0,1] (lower)",
        "cycle_psnr_b": "B->A->B reconstruction PSNR, dB (higher)",
    }

    def compute(self, ctx: EvaluationContext) -> dict[str, float]:
        assert ctx.data_b is not None  # a model that translates has two domains
        return cycle_metrics(ctx.model, ctx.real, ctx.data_b.images, ctx.settings.batch_size)


_DIRECTIONS = ("a2b", "b2a")
_ERRORS = (("mse", "MSE, [0,1] pixels"), ("psnr", "PSNR, dB"), ("ssim", "SSIM"))


class Paired(Metric):
    """``paired``: :func:`paired_metrics` where known answers are given (``--target-b``
    for the domain A images, ``--target-a`` for the domain B images); the number of images
    paired each way goes to the record as ``num_paired``."""

    PLUGIN_NAME: ClassVar[str] = "paired"
    DESCRIPTION: ClassVar[str] = "MSE, PSNR, SSIM to known targets, and of the identity map"
    NEEDS: ClassVar[frozenset[str]] = frozenset({"translate"})
    OPTIONS: ClassVar[frozenset[str]] = frozenset({"target_b", "target_a"})
    KEYS: ClassVar[dict[str, str]] = {
        **{
            f"{direction}_{name}": f"{direction} translation vs its known target: {what}"
            for direction in _DIRECTIONS
            for name, what in _ERRORS
        },
        **{
            f"identity_{direction}_{name}": f"the input itself vs that target (baseline): {what}"
            for direction in _DIRECTIONS
            for name, what in _ERRORS
        },
    }

    @classmethod
    def left_out(cls, ctx: EvaluationContext, asked: bool) -> str | None:
        if not (ctx.settings.target_b or ctx.settings.target_a):
            if asked:
                raise GentoolError("metric 'paired' needs known targets; pass --target-b DIR.")
            return "pass --target-b DIR (and/or --target-a) with known answers"
        return super().left_out(ctx, asked)

    def compute(self, ctx: EvaluationContext) -> dict[str, float]:
        assert ctx.data_b is not None  # a model that translates has two domains
        settings = ctx.settings
        size, channels = ctx.data.image_size, ctx.data.channels
        counts = ctx.info.setdefault("num_paired", {})
        values: dict[str, float] = {}
        for direction, data, target in (
            ("a2b", ctx.data, settings.target_b),
            ("b2a", ctx.data_b, settings.target_a),
        ):
            if not target:
                continue
            index, targets = paired_targets(data.files, target, size, channels)
            values.update(
                paired_metrics(
                    ctx.model, data.images[index], targets, direction, settings.batch_size
                )
            )
            counts[direction] = len(index)
        return values
