"""``gentool evaluate``'s engine: which registered metrics run on a model, and running them.

A metric is a registered :class:`~gentool.metrics.base.Metric` (built-ins in
:mod:`gentool.metrics.builtin`, third parties through ``gentool_register_metrics``). It
applies to a model whose family serves one of the uses it ``NEEDS`` and that passes its own
conditions; ``--metrics`` picks some by name, else every one that applies runs, in
registration order. The built-in ones:

=========  =====================================================  ==========================
name       what                                                   needs the model to
=========  =====================================================  ==========================
fid        Fréchet Inception distance (Inception weights needed)  generate
kid        kernel Inception distance, mean and std                generate
is         Inception score of the generated images                generate
swd        sliced Wasserstein distance of Laplacian patches x1e3  generate
prdc       precision, recall, density, coverage (pixel space)     generate
diversity  mean pairwise RMS distance, generated and real         generate, or translate
           (translation: outputs vs inputs, both ways)
labels     condition accuracy of a classifier trained on labels   generate (conditional)
recon      reconstruction MSE, PSNR, SSIM, LPIPS on the split     reconstruct
cycle      A->B->A and B->A->B reconstruction MSE and PSNR        translate
paired     MSE, PSNR, SSIM to known targets (--target-b/-a)       translate
sr         PSNR-Y, SSIM-Y, MSE, LPIPS of the upscaled split,      upscale
           shrunk as in training, and of bicubic
=========  =====================================================  ==========================

Every metric compares uint8 images: the real split as loaded (at the model's resolution and
channels) and, for the metrics that draw samples, ``num_samples`` generated images, drawn
once in batches on the model's device from a seeded generator and shared. A model that
translates is evaluated on its two domains (the run's, or ``domain_b``).

Some metrics need several images (``MIN_IMAGES``) or pretrained weights: asked for by name
without them they are refused in one line before any work; chosen by default they are left
out with a note.
"""

from __future__ import annotations

import dataclasses
import difflib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gentool.data.base import DataSpec, ImageData
from gentool.errors import GentoolError, PluginError
from gentool.loading import load_data
from gentool.metrics.base import (
    EvaluationContext,
    EvaluationSettings,
    Metric,
    Weights,
    data_key,
    generate_images,
    model_device,
)
from gentool.metrics.classifier import is_conditional
from gentool.metrics.image_quality import check_lpips_weights
from gentool.metrics.inception import INCEPTION, inception_weights_given
from gentool.metrics.reconstruction import (
    reconstruction_metrics,
    reconstruction_mse,
    squared_error_01,
)
from gentool.metrics.sr import scored_natively, trained_full_res, upscaler_scores

if TYPE_CHECKING:
    from rich.console import Console

    from gentool.checkpoint_schema import CheckpointMeta
    from gentool.family import Family

__all__ = [  # what commands and plots use, wherever it is defined
    "EvaluationResult",
    "EvaluationSettings",
    "append_record",
    "append_to_log",
    "check_log_writable",
    "check_lpips_weights",
    "check_metric_names",
    "choose_metrics",
    "data_key",
    "describe",
    "evaluate_model",
    "evaluation_data_spec",
    "generate_images",
    "get_metric",
    "inception_weights_given",
    "is_conditional",
    "metric_names",
    "model_device",
    "parse_metric_list",
    "reconstruction_metrics",
    "reconstruction_mse",
    "scored_natively",
    "squared_error_01",
    "trained_full_res",
    "unused_options",
    "upscaler_scores",
]

#: The options of ``gentool evaluate`` that only some metrics read (``Metric.options``): one
#: given explicitly when no metric run reads it is refused by name.
METRIC_OPTIONS = (
    "num_samples",
    "inception_weights",
    "lpips_weights",
    "train_classifier",
    "classifier_steps",
)
#: Settings naming inputs that only some metrics read, and their flags: given when none of
#: those metrics runs, they are refused.
INPUT_OPTIONS = {"target_b": "--target-b", "target_a": "--target-a"}


@dataclass
class EvaluationResult:
    metrics: dict[str, float]
    info: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """The JSON written by ``--json`` and appended to the run's log."""
        return {**self.info, "metrics": self.metrics, "notes": self.notes}


# --- the registered metrics ---------------------------------------------------------------


def metric_names() -> list[str]:
    """Every registered metric, built-ins first, in registration order."""
    from gentool.plugins import get_registry

    return list(get_registry().entries["metric"])


def get_metric(name: str) -> type[Metric]:
    """The metric registered as ``name`` (one line for a name claimed twice)."""
    from gentool.plugins import get_registry

    metric: type[Metric] = get_registry().get("metric", name)
    return metric


def family_of(model: Any) -> type[Family]:
    """The registered family of a model (instance or class)."""
    from gentool.plugins import family_of_model

    family: type[Family] = family_of_model(model if isinstance(model, type) else type(model))
    return family


# --- choosing data and metrics ----------------------------------------------------------------


def evaluation_data_spec(
    info: CheckpointMeta | None,
    overrides: dict[str, Any],
    model_config: Any,
    split: str = "test",
) -> DataSpec:
    """The data a checkpoint is compared with: the run's own, unless the user names another.

    With no ``--dataset``, the name, root, labels and label column come from the checkpoint
    (each overridable); with ``--dataset``, only what the user passes. Resolution and channels
    always follow the model, since real and generated images must match.
    """
    saved = dict(info.data) if info is not None else {}
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


def _and(names: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _not_here(metric: type[Metric], ctx: EvaluationContext) -> str | None:
    """Why ``metric`` does not apply to the model and data of ``ctx``, or None."""
    if not ctx.family.can_any(metric.NEEDS):
        return f"it does not apply to {ctx.family.PLUGIN_NAME} models"
    return metric.not_applicable(ctx)


def _choose(
    ctx: EvaluationContext,
    requested: list[str] | None,
    has_weights: Callable[[Weights], bool] | None = None,
) -> tuple[list[type[Metric]], list[str]]:
    """The metrics to run, in registration order, and notes saying what was left out.
    ``has_weights`` says whether pretrained weights can be had (default: loaded or named)."""
    has_weights = has_weights or ctx.has_weights
    notes: list[str] = []
    if requested is not None:
        check_metric_names(requested)
        asked = {name: get_metric(name) for name in requested}
        not_here = [(n, why) for n, m in asked.items() if (why := _not_here(m, ctx)) is not None]
        if not_here:
            name, why = not_here[0]
            raise GentoolError(f"metric '{name}' cannot be computed here: {why}.")
        for name, metric in asked.items():
            reason = metric.left_out(ctx, asked=True)
            if reason is not None:
                raise GentoolError(f"metric '{name}' cannot be computed here: {reason}.")
        return [asked[n] for n in metric_names() if n in asked], notes
    chosen = [m for m in map(get_metric, metric_names()) if _not_here(m, ctx) is None]
    unweighted: dict[str, tuple[Weights, list[str]]] = {}
    for metric in chosen:
        if metric.WEIGHTS is not None and not has_weights(metric.WEIGHTS):
            entry = unweighted.setdefault(metric.WEIGHTS.NAME, (metric.WEIGHTS, []))
            entry[1].append(metric.PLUGIN_NAME)
    for weights, names in unweighted.values():
        chosen = [m for m in chosen if m.PLUGIN_NAME not in names]
        notes.append(f"{_and(names)} left out: {weights.missing()}.")
    for metric in list(chosen):
        why = metric.left_out(ctx, asked=False)
        if why is not None:
            chosen.remove(metric)
            notes.append(f"{metric.PLUGIN_NAME} left out: {why}.")
    if not chosen:
        raise GentoolError(
            f"no metric applies to '{ctx.model.PLUGIN_NAME}' ({ctx.family.PLUGIN_NAME}) here"
            + (f" ({notes[-1]})" if notes else "")
            + (
                "; an upscaler is also measured with --hr-dir DIR"
                if ctx.family.can("upscale")
                else ""
            )
            + "."
        )
    return chosen, notes


def choose_metrics(
    requested: list[str] | None,
    model: Any,
    data: ImageData,
    weights_available: bool | None = None,
    num_samples: int | None = None,
    *,
    settings: EvaluationSettings | None = None,
) -> tuple[list[str], list[str]]:
    """The names of the metrics to run on ``model`` and ``data`` and notes for the user (what
    was left out, and why).

    ``requested`` None chooses every metric that applies: one whose pretrained weights are
    not available (``weights_available``; None asks each metric's weights whether the
    ``settings`` name them) or that has too few images (``num_samples``, the real images) is
    left out with a note. A requested metric that cannot run is an error.
    """
    settings = dataclasses.replace(settings or EvaluationSettings(), metrics=requested)
    if num_samples is not None:
        settings.num_samples = num_samples
    ctx = EvaluationContext(model=model, family=family_of(model), data=data, settings=settings)
    available = None if weights_available is None else (lambda _: weights_available)
    chosen, notes = _choose(ctx, requested, available)
    return [m.PLUGIN_NAME for m in chosen], notes


def check_metric_names(names: list[str]) -> None:
    """Refuse an unknown metric name in one line, with a close match and the known ones."""
    known = metric_names()
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise GentoolError(f"unknown metric '{name}'{hint}; choose from {', '.join(known)}.")


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


def unused_options(names: list[str], model: Any) -> list[str]:
    """The :data:`METRIC_OPTIONS` that none of the metrics ``names`` reads for ``model``."""
    family = family_of(model)
    used = set().union(*(get_metric(n).options(family) for n in names))
    return [option for option in METRIC_OPTIONS if option not in used]


def _refuse_unread_inputs(settings: EvaluationSettings, chosen: list[type[Metric]]) -> None:
    """Known answers (``--target-b``...) given when no metric that reads them runs."""
    given = {o for o in INPUT_OPTIONS if getattr(settings, o)}
    if not given or any(given & m.OPTIONS for m in chosen):
        return
    readers = [n for n in metric_names() if given & get_metric(n).OPTIONS]
    flags = "/".join(INPUT_OPTIONS.values())
    raise GentoolError(f"{flags} are only used by metric {' or '.join(repr(n) for n in readers)}.")


# --- running them --------------------------------------------------------------------------------


def _domain_b(info: CheckpointMeta | None, spec: DataSpec, folder: str | None) -> DataSpec:
    """The domain B images of a model that translates: ``folder``, or the run's own."""
    extra = info.train.get("extra") if info is not None else None
    folder = folder or (extra.get("domain_b") if isinstance(extra, dict) else None)
    if not folder:
        raise GentoolError("the checkpoint does not name its domain B folder; pass --domain-b DIR.")
    return dataclasses.replace(spec, name="folder", root=folder, labels=None, label_column=None)


def _values(metric: type[Metric], returned: object) -> dict[str, float]:
    """A metric's result as ``{str: float}``, or one line naming the metric."""
    from gentool.plugins import distribution_of

    try:
        if not isinstance(returned, dict):
            raise TypeError(f"it returned {type(returned).__name__}")
        for key in returned:
            if not isinstance(key, str):
                raise TypeError(f"key {key!r} is not a string")
        return {key: float(value) for key, value in returned.items()}
    except (TypeError, ValueError, RuntimeError) as exc:
        where = distribution_of("metric", metric) or "unknown"
        raise PluginError(
            f"metric '{metric.PLUGIN_NAME}' ({where}) must return a dict of names to numbers "
            f"from compute ({exc}); this is a bug in the metric."
        ) from None


def evaluate_model(
    model: Any,
    checkpoint: CheckpointMeta | None,
    spec: DataSpec,
    settings: EvaluationSettings,
    *,
    run_dir: Path | None = None,
    console: Console | None = None,
    inception: Any = None,
    data: ImageData | None = None,
) -> EvaluationResult:
    """Compute the chosen metrics of ``model`` against the images of ``spec`` (for a model
    that translates, domain A; domain B is ``settings.domain_b`` or the run's own).

    ``inception`` replaces the Inception feature extractor (tests pass a tiny one); ``data``
    the images of ``spec`` when the caller has loaded them already.
    """
    family = family_of(model)
    translates = family.can("translate")
    spec_b = _domain_b(checkpoint, spec, settings.domain_b) if translates else None
    if data is None:
        data = load_data(spec)
    ctx = EvaluationContext(
        model=model,
        family=family,
        data=data,
        settings=settings,
        spec=spec,
        meta=checkpoint.raw if checkpoint is not None else {},
        checkpoint=checkpoint,
        data_b=load_data(spec_b) if spec_b is not None else None,
        run_dir=run_dir,
        console=console,
    )
    if translates:  # a translation record says how many images had known answers, if none
        ctx.info["num_paired"] = {}
    if inception is not None:
        ctx.use_weights(INCEPTION, inception)
    chosen, notes = _choose(ctx, settings.metrics)
    ctx.notes.extend(notes)
    _refuse_unread_inputs(settings, chosen)
    for metric in chosen:  # missing weights fail before any image is drawn
        if metric.WEIGHTS is not None:
            ctx.weights(metric.WEIGHTS)
    values: dict[str, float] = {}
    timings = ctx.timings
    for metric in chosen:
        shared_before = ctx.shared_seconds
        start = time.perf_counter()
        values.update(_values(metric, metric().compute(ctx)))
        elapsed = time.perf_counter() - start
        timings[metric.PLUGIN_NAME] = elapsed - (ctx.shared_seconds - shared_before)

    info: dict[str, Any] = {
        "model": checkpoint.model if checkpoint is not None else None,
        "step": checkpoint.step if checkpoint is not None else None,
        "dataset": spec.name,
        "split": spec.split,
        "image_size": data.image_size,
    }
    if ctx.data_b is not None and spec_b is not None:
        info.update(
            domain_a=spec.root, domain_b=spec_b.root, num_a=len(data), num_b=len(ctx.data_b)
        )
    else:
        info.update(num_real=len(data), num_generated=ctx.num_generated)
    info.update(ctx.info)
    info.update(
        seed=settings.seed,
        metrics_run=[m.PLUGIN_NAME for m in chosen],
        seconds={k: round(v, 3) for k, v in timings.items()},
    )
    return EvaluationResult(values, info, ctx.notes)


# --- the run's log --------------------------------------------------------------------------------


def check_log_writable(run_dir: Path) -> Path:
    """Refuse in one line, before any work, a ``RUN/log.jsonl`` that cannot be appended to."""
    from gentool.errors import OutputError
    from gentool.images import probe_writable

    path = Path(run_dir) / "log.jsonl"
    if path.is_symlink():
        raise OutputError(
            f"{path} is a symbolic link; gentool does not write through a link out of a run "
            "folder: pass --no-log, or replace the link with the file."
        )
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
    if path.is_symlink():  # checked before any work by check_log_writable; never followed
        from gentool.errors import OutputError

        raise OutputError(f"{path} is a symbolic link; not written through.")
    append_line(path, json_text(record))
    return path


def describe(key: str) -> str:
    """One line saying what a result key means, as the metric that reports it says."""
    from gentool.plugins import get_registry

    for info in get_registry().entries["metric"].values():
        metric: type[Metric] = info.cls
        meaning = metric.describe(key)
        if meaning:
            return meaning
    return ""
