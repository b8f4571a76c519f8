"""Which metrics apply to which model, and running them: what ``gentool evaluate`` calls.

Every metric compares uint8 images: the real split as loaded (at the model's resolution and
channels) and ``num_samples`` generated images, drawn in batches on the model's device from a
seeded generator. Metrics:

========  =====================================================  ==========================
name      what                                                   applies to
========  =====================================================  ==========================
fid       Fréchet Inception distance (Inception weights needed)  models that sample
kid       kernel Inception distance, mean and std               models that sample
is        Inception score of the generated images                models that sample
swd       sliced Wasserstein distance of Laplacian patches x1e3  models that sample
prdc      precision, recall, density, coverage (pixel space)     models that sample
diversity mean pairwise RMS distance, generated and real         models that sample
          (translation: outputs vs inputs, both ways)            and translation models
labels    condition accuracy of a classifier trained on labels   conditional models
recon     reconstruction MSE, PSNR, SSIM, LPIPS on the split     VAEs
cycle     A->B->A and B->A->B reconstruction MSE and PSNR        translation models
paired    MSE, PSNR, SSIM to known targets (--target-b/-a)       translation models
sr        PSNR-Y, SSIM-Y, MSE, LPIPS of the upscaled split,      image2image models
          shrunk as in training, and of bicubic
========  =====================================================  ==========================

Some metrics need several images (:data:`MIN_IMAGES`): asked for by name with too few
generated or real images they are refused in one line; chosen by default they are left out
with a note.

Translation models are evaluated by :func:`gentool.metrics.translation.evaluate_translation`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from gentool.data.base import DataSpec, ImageData, to_float, to_uint8
from gentool.errors import GentoolError
from gentool.loading import load_data

SAMPLING_FAMILIES = ("gan", "vae")
INCEPTION_METRICS = ("fid", "kid", "is")

#: name -> (description, families it applies to)
METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "fid": ("Fréchet Inception distance (lower is better)", SAMPLING_FAMILIES),
    "kid": ("kernel Inception distance, unbiased MMD^2 (lower is better)", SAMPLING_FAMILIES),
    "is": ("Inception score of generated images (higher is better)", SAMPLING_FAMILIES),
    "swd": ("sliced Wasserstein distance of Laplacian patches, x1e3 (lower)", SAMPLING_FAMILIES),
    "prdc": ("precision/recall/density/coverage in pixel space (higher)", SAMPLING_FAMILIES),
    "diversity": (
        "mean pairwise RMS pixel distance, generated vs real (translation: outputs vs inputs)",
        (*SAMPLING_FAMILIES, "translation"),
    ),
    "labels": ("classifier accuracy on the requested class (conditional)", ("gan", "vae")),
    "recon": ("reconstruction MSE, PSNR, SSIM (and LPIPS) on the split", ("vae",)),
    "cycle": ("cycle reconstruction MSE and PSNR, both ways", ("translation",)),
    "paired": ("MSE, PSNR, SSIM to known targets, and of the identity map", ("translation",)),
    "sr": (
        "upscaler on the split: PSNR-Y, SSIM-Y, MSE, LPIPS, and of bicubic",
        ("image2image",),
    ),
}


#: The fewest generated and real images each metric can be computed from.
MIN_IMAGES: dict[str, int] = {"fid": 2, "kid": 2, "is": 2, "prdc": 6, "diversity": 2}
#: Metrics that draw samples from the model (``-n`` applies to these).
SAMPLE_METRICS = ("fid", "kid", "is", "swd", "prdc", "diversity")


@dataclass
class EvaluationSettings:
    """What to compute and how."""

    metrics: list[str] | None = None
    num_samples: int = 2000
    batch_size: int = 100
    seed: int = 0
    inception_weights: str | None = None
    #: LPIPS backbone (torchvision AlexNet state dict); None looks in the torch hub cache.
    lpips_weights: str | None = None
    #: Retrain the condition classifier even when RUN/classifier.safetensors fits.
    train_classifier: bool = False
    classifier_steps: int = 600
    classifier_width: int = 32
    classifier_batch_size: int = 64


@dataclass
class EvaluationResult:
    metrics: dict[str, float]
    info: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """The JSON written by ``--json`` and appended to the run's log."""
        return {**self.info, "metrics": self.metrics, "notes": self.notes}


# --- choosing data and metrics ----------------------------------------------------------------


def evaluation_data_spec(
    meta: dict[str, Any], overrides: dict[str, Any], model_config: Any, split: str = "test"
) -> DataSpec:
    """The data a checkpoint is compared with: the run's own, unless the user names another.

    With no ``--dataset``, the name, root, labels and label column come from the checkpoint
    (each overridable); with ``--dataset``, only what the user passes. Resolution and channels
    always follow the model, since real and generated images must match.
    """
    saved = dict(meta.get("data") or {})
    chosen = {k: v for k, v in overrides.items() if v is not None}
    base: dict[str, Any] = {}
    if chosen.get("name") is None:
        if not saved.get("name"):
            raise GentoolError(
                "the checkpoint does not say which data it was trained on; pass --dataset."
            )
        base = {
            k: saved.get(k) for k in ("name", "root", "labels", "label_column", "test_fraction")
        }
    base.update(chosen)
    base["split"] = split
    base["image_size"] = int(getattr(model_config, "image_size", 0)) or base.get("image_size")
    base["channels"] = int(getattr(model_config, "channels", 0)) or base.get("channels")
    names = {f.name for f in dataclasses.fields(DataSpec)}
    return DataSpec(**{k: v for k, v in base.items() if k in names and v is not None})


def data_key(spec: DataSpec) -> str:
    """A string naming the images of a spec (for caches): everything that decides them."""
    fields = ("name", "root", "labels", "label_column", "image_size", "channels", "split")
    values = {k: getattr(spec, k) for k in fields}
    values["test_fraction"] = spec.test_fraction
    values["limit"] = spec.limit
    if spec.root:
        values["root"] = str(Path(spec.root).expanduser().resolve())
    return json.dumps(values, sort_keys=True)


def is_conditional(model: Any) -> bool:
    return int(getattr(model.config, "num_classes", 0) or 0) > 0


def applicable(model: Any, data: ImageData) -> list[str]:
    """Metric names that apply to this model and data, in table order."""
    names = [n for n, (_, families) in METRICS.items() if model.FAMILY in families]
    if not (is_conditional(model) and data.labels is not None and data.num_classes > 1):
        names = [n for n in names if n != "labels"]
    return names


def _too_few(
    name: str, num_samples: int | None, num_real: int, side: int | None = None
) -> str | None:
    """Why ``name`` cannot be computed from these counts (or images of ``side`` pixels on
    their shorter side), or None."""
    if name == "swd" and side is not None:
        from gentool.metrics.swd import PATCH_SIZE

        if side < PATCH_SIZE:
            return (
                f"its {PATCH_SIZE}x{PATCH_SIZE} patches need images of at least {PATCH_SIZE} "
                f"px a side and these have {side}"
            )
    need = MIN_IMAGES.get(name, 1)
    if num_samples is not None and name in SAMPLE_METRICS and num_samples < need:
        return f"it needs at least {need} generated images and -n is {num_samples}"
    if num_real < need:
        return f"it needs at least {need} real images and the data has {num_real}"
    return None


def _side(data: ImageData) -> int | None:
    """The shorter side of the data's images (None for data without an image tensor)."""
    images = getattr(data, "images", None)
    return int(min(images.shape[-2:])) if isinstance(images, torch.Tensor) else None


def choose_metrics(
    requested: list[str] | None,
    model: Any,
    data: ImageData,
    weights_available: bool,
    num_samples: int | None = None,
) -> tuple[list[str], list[str]]:
    """The metrics to run and notes for the user (what was left out, and why).

    ``num_samples`` (``-n``), when given, is checked against :data:`MIN_IMAGES` like the
    number of real images: a requested metric with too few is an error, a default one is
    left out with a note.
    """
    usable = applicable(model, data)
    notes: list[str] = []
    if requested is None:
        chosen = list(usable)
        if not weights_available and any(n in chosen for n in INCEPTION_METRICS):
            chosen = [n for n in chosen if n not in INCEPTION_METRICS]
            notes.append(
                "fid, kid and is left out: no Inception weights (pass --inception-weights PATH "
                "or set GENTOOL_INCEPTION_WEIGHTS)."
            )
        for name in list(chosen):
            why = _too_few(name, num_samples, len(data), _side(data))
            if why is not None:
                chosen.remove(name)
                notes.append(f"{name} left out: {why}.")
        if not chosen:
            raise GentoolError(
                f"no metric applies to '{model.PLUGIN_NAME}' ({model.FAMILY}) here"
                + (f" ({notes[-1]})" if notes else "")
                + "; upscalers are evaluated with --hr-dir."
            )
        return chosen, notes
    check_metric_names(requested)
    not_here = [n for n in requested if n not in usable]
    if not_here:
        name = not_here[0]
        why = (
            "the model is not conditional or the data has no labels"
            if name == "labels"
            else f"it does not apply to {model.FAMILY} models"
        )
        raise GentoolError(f"metric '{name}' cannot be computed here: {why}.")
    for name in requested:
        reason = _too_few(name, num_samples, len(data), _side(data))
        if reason is not None:
            raise GentoolError(f"metric '{name}' cannot be computed here: {reason}.")
    return [n for n in METRICS if n in requested], notes


def check_metric_names(names: list[str]) -> None:
    """Refuse an unknown metric name in one line, listing the known ones."""
    import difflib

    for name in names:
        if name not in METRICS:
            close = difflib.get_close_matches(name, list(METRICS), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise GentoolError(f"unknown metric '{name}'{hint}; choose from {', '.join(METRICS)}.")


def parse_metric_list(text: str | None) -> list[str] | None:
    """``--metrics``: None (all that apply) for no value or ``all``; an empty list is refused."""
    if text is None or text.strip().lower() == "all":
        return None
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not names:
        raise GentoolError(
            f"--metrics {text!r} names no metric; pass a comma list (e.g. swd,diversity) or all."
        )
    return list(dict.fromkeys(names))


# --- running them --------------------------------------------------------------------------------


def model_device(model: torch.nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


@torch.no_grad()
def generate_images(
    model: Any, n: int, *, batch_size: int = 100, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``n`` samples as uint8 ``(n, C, H, W)`` on the CPU, drawn ``batch_size`` at a time."""
    parts = []
    for start in range(0, n, batch_size):
        count = min(batch_size, n - start)
        parts.append(to_uint8(model.sample(count, generator=generator)).cpu())
    return torch.cat(parts)


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
    from gentool.metrics.image_quality import MAX_PSNR, psnr, ssim

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


def _condition_metrics(
    model: Any,
    data: ImageData,
    spec: DataSpec,
    settings: EvaluationSettings,
    run_dir: Path | None,
    console: Console | None,
) -> dict[str, float]:
    from gentool.metrics.classifier import (
        CLASSIFIER_FILE,
        classifier_fits,
        condition_accuracy,
        load_classifier,
        save_classifier,
        train_classifier,
    )

    device = model_device(model)
    train_spec = dataclasses.replace(spec, split="train", limit=None)
    key = data_key(train_spec)
    path = run_dir / CLASSIFIER_FILE if run_dir is not None else None
    classifier = None
    if path is not None and path.exists() and not settings.train_classifier:
        classifier = load_classifier(path, device)
        if not classifier_fits(classifier, key, data):
            classifier = None
    if classifier is None:
        if console is not None:
            console.print(
                f"training the condition classifier ({settings.classifier_steps} steps) on "
                f"{spec.name} train labels"
            )
        classifier = train_classifier(
            load_data(train_spec),
            steps=settings.classifier_steps,
            width=settings.classifier_width,
            batch_size=settings.classifier_batch_size,
            seed=settings.seed,
            device=device,
        )
        classifier.meta["data"] = key
        if path is not None:
            save_classifier(classifier, path)
            if console is not None:
                console.print(f"kept the classifier in {path}")
    assert data.labels is not None
    real_accuracy = classifier.accuracy(data.images, data.labels)

    class Labelled:  # model.sample with labels on the model's device
        @staticmethod
        def sample(n: int, *, generator: Any = None, labels: torch.Tensor) -> torch.Tensor:
            return model.sample(n, generator=generator, labels=labels.to(device))

    generator = torch.Generator().manual_seed(settings.seed + 1)
    fake_accuracy = condition_accuracy(
        Labelled(),
        classifier,
        settings.num_samples,
        generator=generator,
        batch_size=settings.batch_size,
    )
    return {"label_accuracy": fake_accuracy, "label_accuracy_real": real_accuracy}


def evaluate_model(
    model: Any,
    meta: dict[str, Any],
    spec: DataSpec,
    settings: EvaluationSettings,
    *,
    run_dir: Path | None = None,
    console: Console | None = None,
    inception: Any = None,
    data: ImageData | None = None,
) -> EvaluationResult:
    """Compute the chosen metrics of ``model`` against the images of ``spec``.

    ``inception`` replaces the Inception feature extractor (tests pass a tiny one); ``data``
    the images of ``spec`` when the caller has loaded them already.
    """
    from gentool.metrics.fid import (
        InceptionFeatures,
        extract_features,
        inception_metrics,
        reference_features,
    )

    if data is None:
        data = load_data(spec)
    weights = inception is not None or inception_weights_given(settings)
    chosen, notes = choose_metrics(
        settings.metrics, model, data, weights, num_samples=settings.num_samples
    )
    if inception is None and any(n in chosen for n in INCEPTION_METRICS):
        # Fail on missing weights before spending time on sampling.
        inception = InceptionFeatures(settings.inception_weights, model_device(model))
    needs_samples = any(n in chosen for n in ("fid", "kid", "is", "swd", "prdc", "diversity"))
    values: dict[str, float] = {}
    timings: dict[str, float] = {}
    fake = None
    if needs_samples:
        start = time.perf_counter()
        generator = torch.Generator().manual_seed(settings.seed)
        fake = generate_images(
            model, settings.num_samples, batch_size=settings.batch_size, generator=generator
        )
        timings["sampling"] = time.perf_counter() - start
    real = data.images
    device = model_device(model)  # the weight-free metrics run where the model runs

    if fake is not None and any(n in chosen for n in INCEPTION_METRICS):
        start = time.perf_counter()
        real_features = reference_features(real, inception, data_key(spec), settings.batch_size)
        fake_features = extract_features(fake, inception, settings.batch_size)
        values.update(
            inception_metrics(real_features, fake_features, set(chosen), seed=settings.seed)
        )
        timings["inception"] = time.perf_counter() - start
    if fake is not None and "swd" in chosen:
        from gentool.metrics.swd import sliced_wasserstein_distance

        start = time.perf_counter()
        values.update(sliced_wasserstein_distance(real, fake, seed=settings.seed, device=device))
        timings["swd"] = time.perf_counter() - start
    if fake is not None and "prdc" in chosen:
        from gentool.metrics.prdc import (
            PIXEL_FEATURE_NAME,
            pixel_features,
            precision_recall_density_coverage,
        )

        start = time.perf_counter()
        k = 5
        if min(len(real), len(fake)) <= k:
            notes.append(f"prdc skipped: needs more than {k} real and generated images.")
        else:
            values.update(
                precision_recall_density_coverage(
                    pixel_features(real, device=device),
                    pixel_features(fake, device=device),
                    k,
                    device=device,
                )
            )
            notes.append(f"precision/recall/density/coverage in {PIXEL_FEATURE_NAME} space, k={k}.")
        timings["prdc"] = time.perf_counter() - start
    if fake is not None and "diversity" in chosen:
        from gentool.metrics.diversity import pairwise_diversity

        start = time.perf_counter()
        values["diversity"] = pairwise_diversity(fake, seed=settings.seed, device=device)
        values["diversity_real"] = pairwise_diversity(real, seed=settings.seed, device=device)
        timings["diversity"] = time.perf_counter() - start
    if "labels" in chosen:
        start = time.perf_counter()
        values.update(_condition_metrics(model, data, spec, settings, run_dir, console))
        timings["labels"] = time.perf_counter() - start
    if "recon" in chosen:
        start = time.perf_counter()
        lpips = _lpips_or_note(settings, model, notes, "recon_lpips")
        values.update(reconstruction_metrics(model, real, settings.batch_size, lpips))
        timings["recon"] = time.perf_counter() - start
    if "sr" in chosen:
        start = time.perf_counter()
        lpips = None
        if not scored_natively(model, meta, data):
            lpips = _lpips_or_note(settings, model, notes, "lpips")
        scores, sr_notes = upscaler_scores(
            model,
            data,
            meta,
            split=spec.split,
            lpips=lpips,
            lpips_weights=settings.lpips_weights,
            batch_size=settings.batch_size,
        )
        values.update(scores)
        notes.extend(sr_notes)
        timings["sr"] = time.perf_counter() - start

    info = {
        "model": meta.get("model"),
        "step": meta.get("step"),
        "dataset": spec.name,
        "split": spec.split,
        "image_size": data.image_size,
        "num_real": len(data),
        "num_generated": 0 if fake is None else len(fake),
        "seed": settings.seed,
        "metrics_run": chosen,
        "seconds": {k: round(v, 3) for k, v in timings.items()},
    }
    return EvaluationResult({k: float(v) for k, v in values.items()}, info, notes)


def trained_full_res(model: Any, meta: dict[str, Any]) -> bool:
    """Whether an image2image run trained on crops of its photos at their own resolution
    (``--train-opt full_res=true``, the default of ``sr-resnet``)."""
    extra = dict((meta.get("train") or {}).get("extra") or {})
    defaults = dict(getattr(model, "DEFAULT_TRAIN_OPTIONS", {}) or {})
    return str(extra.get("full_res", defaults.get("full_res", "false"))).lower() == "true"


def scored_natively(model: Any, meta: dict[str, Any], data: ImageData) -> bool:
    """Whether :func:`upscaler_scores` measures ``data`` at the photos' own resolution: an
    RGB run that trained there (:func:`trained_full_res`) on data that lists its files."""
    return trained_full_res(model, meta) and bool(data.files) and int(model.config.channels) == 3


#: ``evaluate_upscaler``'s names for what the run's split reports under these names.
_NATIVE_KEYS = {"mse": "mse_01"}


def upscaler_scores(
    model: Any,
    data: ImageData,
    meta: dict[str, Any],
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
    from gentool.metrics.image_quality import evaluate_upscaler, evaluate_upscaler_split

    scale = int(model.scale)
    how = (
        f"shrunk {scale}x as in training (antialiased bicubic, 8-bit), upscaled, {scale} "
        "pixels shaved at each border; bicubic_* is plain interpolation."
    )
    if scored_natively(model, meta, data):
        result = evaluate_upscaler(
            model,
            [Path(f) for f in data.files],
            scale=scale,
            device=str(model_device(model)),
            lpips_weights=lpips_weights,
        )
        values = {_NATIVE_KEYS.get(k, k): v for k, v in result["mean"]["model"].items()}
        values.update(
            {f"bicubic_{_NATIVE_KEYS.get(k, k)}": v for k, v in result["mean"]["baseline"].items()}
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


def check_lpips_weights(path: str | None) -> None:
    """A named LPIPS backbone must exist: one line naming it, before any work."""
    if path is None:
        return
    from gentool.data.files import file_problem

    problem = file_problem(Path(path).expanduser())
    if problem is not None:
        raise GentoolError(
            f"--lpips-weights {path} {problem}; pass the AlexNet state dict "
            "(alexnet-owt-7be5be79.pth) or unset GENTOOL_LPIPS_WEIGHTS."
        )


def _lpips_or_note(settings: EvaluationSettings, model: Any, notes: list[str], key: str) -> Any:
    """The LPIPS metric, or None with a note saying why ``key`` is left out (no weights in
    the torch hub cache). Named weights that cannot be used are an error."""
    from gentool.metrics.image_quality import Lpips, LpipsWeightsMissing

    check_lpips_weights(settings.lpips_weights)
    try:
        return Lpips(weights=settings.lpips_weights, device=model_device(model))
    except LpipsWeightsMissing as exc:
        if settings.lpips_weights is not None:
            raise
        notes.append(f"{key} left out: {exc.message}")
        return None


def inception_weights_given(settings: EvaluationSettings) -> bool:
    """Whether Inception weights were named (option or environment)."""
    return bool(settings.inception_weights or os.environ.get("GENTOOL_INCEPTION_WEIGHTS"))


def check_log_writable(run_dir: Path) -> Path:
    """Refuse in one line, before any work, a ``RUN/log.jsonl`` that cannot be appended to."""
    from gentool.errors import OutputError
    from gentool.images import probe_writable

    path = Path(run_dir) / "log.jsonl"
    if path.is_dir():
        raise OutputError(f"cannot append to {path}: it is a folder; pass --no-log.")
    if path.exists():
        try:
            with open(path, "ab"):
                pass
        except OSError as exc:
            raise OutputError(
                f"cannot append to {path} ({exc.strerror or exc}); pass --no-log."
            ) from None
    else:
        try:
            probe_writable(path)
        except OutputError as exc:
            raise OutputError(f"{exc.message} Pass --no-log to skip the run's log.") from None
    return path


def append_to_log(run_dir: Path, result: EvaluationResult) -> Path:
    """Add ``{"event": "evaluate", "step": ..., <metrics>}`` to ``RUN/log.jsonl``."""
    record: dict[str, Any] = {
        "event": "evaluate",
        "step": result.info.get("step"),
        "time": time.time(),
        "dataset": result.info.get("dataset"),
        "split": result.info.get("split"),
        "num_generated": result.info.get("num_generated"),
    }
    record.update(result.metrics)  # NaN and inf are written as null
    return append_record(run_dir, record)


def append_record(run_dir: Path, record: dict[str, Any]) -> Path:
    """Append one JSON line to ``RUN/log.jsonl`` (:func:`gentool.fileio.append_line`)."""
    from gentool.fileio import append_line, json_text

    path = Path(run_dir) / "log.jsonl"
    append_line(path, json_text(record))
    return path


_KEY_MEANINGS = {
    "fid": "Fréchet Inception distance (lower is better)",
    "kid": "kernel Inception distance, mean over subsets (lower)",
    "kid_std": "standard deviation of KID over subsets",
    "is": "Inception score (higher is better)",
    "is_std": "standard deviation of IS over splits",
    "swd_avg": "sliced Wasserstein distance x1e3, mean of levels (lower)",
    "precision": "share of generated images near real ones (fidelity)",
    "recall": "share of real images near generated ones (diversity)",
    "density": "real neighbourhoods per generated image (~1 matches data)",
    "coverage": "share of real neighbourhoods holding a generated image",
    "diversity": "mean pairwise RMS distance of generated images, [0,1]",
    "diversity_real": "the same among real images (collapse: generated << real)",
    "label_accuracy": "generated images classified as the requested class",
    "label_accuracy_real": "the classifier's accuracy on real images of the split",
    "recon_mse_01": "reconstruction mean squared error, pixels in [0, 1] (lower)",
    "recon_psnr": "reconstruction PSNR of 8-bit images, dB (higher)",
    "recon_ssim": "reconstruction SSIM, 11x11 Gaussian window (higher, max 1)",
    "recon_lpips": "reconstruction LPIPS, AlexNet (lower)",
    "psnr_y": "upscaled split: PSNR of luma, dB, border shaved (higher)",
    "ssim_y": "upscaled split: SSIM of luma (higher, max 1)",
    "mse_01": "upscaled split: mean squared error, pixels in [0, 1] (lower)",
    "psnr_rgb": "upscaled split: PSNR over all channels, dB (higher)",
    "lpips": "upscaled split: LPIPS, AlexNet (lower)",
    "cycle_mse_a": "A->B->A reconstruction MSE, pixels in [0,1] (lower)",
    "cycle_psnr_a": "A->B->A reconstruction PSNR, dB (higher)",
    "cycle_mse_b": "B->A->B reconstruction MSE, pixels in [0,1] (lower)",
    "cycle_psnr_b": "B->A->B reconstruction PSNR, dB (higher)",
    "diversity_ab": "mean pairwise RMS distance among G_AB outputs, [0,1]",
    "diversity_a": "the same among the A inputs",
    "diversity_ratio_ab": "outputs / inputs (collapse: near 0)",
    "diversity_ba": "mean pairwise RMS distance among G_BA outputs, [0,1]",
    "diversity_b": "the same among the B inputs",
    "diversity_ratio_ba": "outputs / inputs (collapse: near 0)",
}


def describe(key: str) -> str:
    """One line saying what a result key means."""
    for direction in ("a2b", "b2a"):
        for name, what in (("mse", "MSE, [0,1] pixels"), ("psnr", "PSNR, dB"), ("ssim", "SSIM")):
            if key == f"{direction}_{name}":
                return f"{direction} translation vs its known target: {what}"
            if key == f"identity_{direction}_{name}":
                return f"the input itself vs that target (baseline): {what}"
    if key.startswith("bicubic_") and key[8:] in _KEY_MEANINGS:
        return "bicubic interpolation (baseline): " + _KEY_MEANINGS[key[8:]].split(": ", 1)[-1]
    if key.startswith("swd_") and key.endswith("px"):
        return f"sliced Wasserstein distance x1e3 at {key[4:-2]}px (lower)"
    return _KEY_MEANINGS.get(key, "")
