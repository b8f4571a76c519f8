"""Metrics of an unpaired translation model (CycleGAN): what ``gentool evaluate`` reports.

All take uint8 images ``(N, C, H, W)`` at the model's resolution and translate them in
batches on the model's device. Errors are measured on the 8-bit outputs:

* **cycle**: ``A -> B -> A`` (and ``B -> A -> B``) reconstruction; ``mse`` with pixels in
  [0, 1], ``psnr`` in dB (peak 255, identical images capped at 100 dB).
* **diversity**: the mode-collapse indicator, the mean pairwise RMS pixel distance
  (:func:`gentool.metrics.diversity.pairwise_diversity`) among the outputs for different
  inputs, beside the same figure among the inputs; their ratio falls toward 0 when a
  generator maps many inputs to the same image.
* **paired**: where the right answer is known (a folder of targets with the same file
  names), MSE, PSNR and SSIM of the translation to it, and of the identity map (the input
  itself) as a baseline that any useful model must beat.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import torch

from gentool.data.base import DataSpec, to_float, to_uint8
from gentool.data.decode import decode_files, warn_skipped
from gentool.data.folder import list_images
from gentool.errors import GentoolError
from gentool.loading import load_data
from gentool.metrics.diversity import pairwise_diversity
from gentool.metrics.evaluate import EvaluationResult
from gentool.metrics.image_quality import MAX_PSNR, psnr, ssim


class Translator(Protocol):
    """What the metrics need of a model: ``translate`` and parameters (for the device)."""

    def translate(self, images: torch.Tensor, direction: str) -> torch.Tensor: ...

    def parameters(self) -> Iterator[torch.nn.Parameter]: ...


def _device(model: Translator) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def translate_uint8(
    model: Translator, images: torch.Tensor, direction: str, batch_size: int = 100
) -> torch.Tensor:
    """Translate uint8 ``images`` with ``model.translate``; uint8 on the CPU, same shape."""
    device = _device(model)
    parts = []
    for start in range(0, len(images), batch_size):
        batch = to_float(images[start : start + batch_size]).to(device)
        parts.append(to_uint8(model.translate(batch, direction).float().clamp(-1, 1)).cpu())
    return torch.cat(parts)


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


def diversity_metrics(
    model: Translator,
    images_a: torch.Tensor,
    images_b: torch.Tensor,
    batch_size: int = 100,
    seed: int = 0,
) -> dict[str, float]:
    """The mode-collapse indicator both ways (outputs vs inputs, and their ratio)."""
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


# --- what ``gentool evaluate`` runs ---------------------------------------------------------------


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


def evaluate_translation(
    model: Any,
    meta: dict[str, Any],
    spec_a: DataSpec,
    domain_b: str | None,
    *,
    metrics: list[str] | None = None,
    target_b: str | None = None,
    target_a: str | None = None,
    batch_size: int = 100,
    seed: int = 0,
) -> EvaluationResult:
    """Cycle error, the diversity indicator and (with targets) paired errors of ``model``.

    ``spec_a`` is domain A (the run's data unless overridden); domain B is the folder
    ``domain_b``, or the run's ``--domain-b``, loaded with the same split and limit.
    ``target_b`` pairs ground-truth B images with the domain-A images by file name (and
    ``target_a`` ground-truth A images with the domain-B images).
    """
    from gentool.metrics.evaluate import choose_metrics

    domain_b = domain_b or dict(meta.get("train", {}).get("extra", {})).get("domain_b")
    if not domain_b:
        raise GentoolError("the checkpoint does not name its domain B folder; pass --domain-b DIR.")
    data_a = load_data(spec_a)
    spec_b = dataclasses.replace(
        spec_a, name="folder", root=domain_b, labels=None, label_column=None
    )
    data_b = load_data(spec_b)
    chosen, notes = choose_metrics(metrics, model, data_a, weights_available=True)
    has_targets = bool(target_b or target_a)
    if "paired" in chosen and not has_targets:
        if metrics is not None:
            raise GentoolError("metric 'paired' needs known targets; pass --target-b DIR.")
        chosen.remove("paired")
        notes.append("paired left out: pass --target-b DIR (and/or --target-a) with known answers.")
    if has_targets and "paired" not in chosen:
        raise GentoolError("--target-b/--target-a are only used by metric 'paired'.")
    values: dict[str, float] = {}
    timings: dict[str, float] = {}
    if "cycle" in chosen:
        start = time.perf_counter()
        values.update(cycle_metrics(model, data_a.images, data_b.images, batch_size))
        timings["cycle"] = time.perf_counter() - start
    if "diversity" in chosen:
        start = time.perf_counter()
        values.update(diversity_metrics(model, data_a.images, data_b.images, batch_size, seed))
        timings["diversity"] = time.perf_counter() - start
    paired_counts: dict[str, int] = {}
    if "paired" in chosen:
        start = time.perf_counter()
        size, channels = data_a.image_size, data_a.channels
        for direction, data, target in (("a2b", data_a, target_b), ("b2a", data_b, target_a)):
            if not target:
                continue
            index, targets = paired_targets(data.files, target, size, channels)
            values.update(paired_metrics(model, data.images[index], targets, direction, batch_size))
            paired_counts[direction] = len(index)
        timings["paired"] = time.perf_counter() - start
    info = {
        "model": meta.get("model"),
        "step": meta.get("step"),
        "dataset": spec_a.name,
        "split": spec_a.split,
        "image_size": data_a.image_size,
        "domain_a": spec_a.root,
        "domain_b": domain_b,
        "num_a": len(data_a),
        "num_b": len(data_b),
        "num_paired": paired_counts,
        "seed": seed,
        "metrics_run": chosen,
        "seconds": {k: round(v, 3) for k, v in timings.items()},
    }
    return EvaluationResult({k: float(v) for k, v in values.items()}, info, notes)
