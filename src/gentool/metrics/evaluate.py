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
labels    condition accuracy of a classifier trained on labels   conditional models
recon     reconstruction MSE on the split                        VAEs
========  =====================================================  ==========================
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from gentool.data.base import DataSpec, ImageData, load_data, to_float, to_uint8
from gentool.errors import GentoolError

SAMPLING_FAMILIES = ("gan", "vae")
INCEPTION_METRICS = ("fid", "kid", "is")

#: name -> (description, families it applies to)
METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "fid": ("Fréchet Inception distance (lower is better)", SAMPLING_FAMILIES),
    "kid": ("kernel Inception distance, unbiased MMD^2 (lower is better)", SAMPLING_FAMILIES),
    "is": ("Inception score of generated images (higher is better)", SAMPLING_FAMILIES),
    "swd": ("sliced Wasserstein distance of Laplacian patches, x1e3 (lower)", SAMPLING_FAMILIES),
    "prdc": ("precision/recall/density/coverage in pixel space (higher)", SAMPLING_FAMILIES),
    "diversity": ("mean pairwise RMS pixel distance, generated vs real", SAMPLING_FAMILIES),
    "labels": ("classifier accuracy on the requested class (conditional)", ("gan", "vae")),
    "recon": ("reconstruction mean squared error on the split, [-1,1] pixels", ("vae",)),
}


@dataclass
class EvaluationSettings:
    """What to compute and how."""

    metrics: list[str] | None = None
    num_samples: int = 2000
    batch_size: int = 100
    seed: int = 0
    inception_weights: str | None = None
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


def choose_metrics(
    requested: list[str] | None, model: Any, data: ImageData, weights_available: bool
) -> tuple[list[str], list[str]]:
    """The metrics to run and notes for the user (what was left out, and why)."""
    usable = applicable(model, data)
    notes: list[str] = []
    if requested is None:
        chosen = list(usable)
        if not weights_available:
            chosen = [n for n in chosen if n not in INCEPTION_METRICS]
            notes.append(
                "fid, kid and is left out: no Inception weights (pass --inception-weights PATH "
                "or set GENTOOL_INCEPTION_WEIGHTS)."
            )
        if not chosen:
            raise GentoolError(
                f"no metric applies to '{model.PLUGIN_NAME}' ({model.FAMILY}) here; "
                "upscalers are evaluated with --hr-dir."
            )
        return chosen, notes
    unknown = [n for n in requested if n not in METRICS]
    if unknown:
        raise GentoolError(f"unknown metric '{unknown[0]}'; choose from {', '.join(METRICS)}.")
    not_here = [n for n in requested if n not in usable]
    if not_here:
        name = not_here[0]
        why = (
            "the model is not conditional or the data has no labels"
            if name == "labels"
            else f"it does not apply to {model.FAMILY} models"
        )
        raise GentoolError(f"metric '{name}' cannot be computed here: {why}.")
    return [n for n in METRICS if n in requested], notes


def parse_metric_list(text: str | None) -> list[str] | None:
    if text is None or not text.strip() or text.strip() == "all":
        return None
    return [part.strip().lower() for part in text.split(",") if part.strip()]


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


@torch.no_grad()
def reconstruction_mse(model: Any, images: torch.Tensor, batch_size: int = 100) -> float:
    device = model_device(model)
    total, count = 0.0, 0
    for start in range(0, len(images), batch_size):
        real = to_float(images[start : start + batch_size]).to(device)
        out = model.reconstruct(real)
        total += float((out.float() - real).pow(2).sum())
        count += real.numel()
    return total / count


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
) -> EvaluationResult:
    """Compute the chosen metrics of ``model`` against the images of ``spec``.

    ``inception`` replaces the Inception feature extractor (tests pass a tiny one).
    """
    from gentool.metrics.fid import (
        InceptionFeatures,
        extract_features,
        inception_metrics,
        reference_features,
    )

    data = load_data(spec)
    weights = inception is not None or bool(
        settings.inception_weights or os.environ.get("GENTOOL_INCEPTION_WEIGHTS")
    )
    chosen, notes = choose_metrics(settings.metrics, model, data, weights)
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
        values.update(sliced_wasserstein_distance(real, fake, seed=settings.seed))
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
                precision_recall_density_coverage(pixel_features(real), pixel_features(fake), k)
            )
            notes.append(f"precision/recall/density/coverage in {PIXEL_FEATURE_NAME} space, k={k}.")
        timings["prdc"] = time.perf_counter() - start
    if fake is not None and "diversity" in chosen:
        from gentool.metrics.diversity import pairwise_diversity

        start = time.perf_counter()
        values["diversity"] = pairwise_diversity(fake, seed=settings.seed)
        values["diversity_real"] = pairwise_diversity(real, seed=settings.seed)
        timings["diversity"] = time.perf_counter() - start
    if "labels" in chosen:
        start = time.perf_counter()
        values.update(_condition_metrics(model, data, spec, settings, run_dir, console))
        timings["labels"] = time.perf_counter() - start
    if "recon" in chosen:
        start = time.perf_counter()
        values["recon_mse"] = reconstruction_mse(model, real, settings.batch_size)
        timings["recon"] = time.perf_counter() - start

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
    record.update({k: (None if math.isnan(v) else v) for k, v in result.metrics.items()})
    path = run_dir / "log.jsonl"
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
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
    "recon_mse": "reconstruction mean squared error, pixels in [-1, 1] (lower)",
}


def describe(key: str) -> str:
    """One line saying what a result key means."""
    if key.startswith("swd_") and key.endswith("px"):
        return f"sliced Wasserstein distance x1e3 at {key[4:-2]}px (lower)"
    return _KEY_MEANINGS.get(key, "")
