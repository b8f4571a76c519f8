"""Figures of training runs and models (matplotlib, Agg backend: no display needed).

* :func:`plot_curves`: learning curves from ``RUN/log.jsonl`` in panels by what they measure
  (:func:`curve_group`), raw values faint under a bias-corrected exponential moving average
  (:func:`smoothed`); several runs are overlaid and labelled by the settings that differ
  between their ``config.json`` files (``loss=ls`` vs ``loss=bce``, ``loss.a=-1``).
* :func:`plot_timeline`: the fixed-noise sample grids ``RUN/samples/step_*.png`` at chosen steps.
* :func:`plot_latent_tsne`: a t-SNE map of a VAE's latent means, coloured by label/attribute.

Every function returns the :class:`~matplotlib.figure.Figure`; :func:`save_figure` writes it
as PNG, SVG or PDF according to the file extension, atomically (a full disk leaves an existing
file as it was).

A ``log.jsonl`` line that cannot be used (not UTF-8, not JSON, not an object, a training record
without a numeric ``step``, or a last line cut short by a crash) is skipped; one
:class:`LogWarning` names the file, the count and the first such line. A log with no usable
training record is a one-line error.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import textwrap
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gentool.errors import GentoolError, OutputError
from gentool.fileio import atomic_write_with
from gentool.run_folder import CHECKPOINT, RunFolder

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
#: Log fields that are bookkeeping, not curves.
NOT_CURVES = {"step", "epoch", "time", "images_per_s", "event"}
#: Logged values that follow a schedule, not the data: drawn as they are, never smoothed
#: (the KL weight ``beta`` and the learning rates ``lr_*``).
SCHEDULED = ("beta", "kl_weight")
#: What ``plot curves --x`` can put on the horizontal axis.
X_AXES = ("steps", "epochs", "images")
#: Config fields that never explain a difference between runs.
IGNORED_SETTINGS = {"train.out", "train.device", "data.num_images", "gentool_version", "run_id"}
#: Record-keeping that is not a setting: resumes, provenance, the data's digest, and the
#: details of ``--init-from`` (its path is the setting, shown as ``init_from``).
IGNORED_PREFIXES = ("history", "plugins.", "data.fingerprint", "init_from.")


class LogWarning(UserWarning):
    """Some lines of a run's log.jsonl could not be used; the rest are plotted."""


def figure_format(path: str | Path) -> str:
    """The matplotlib format for ``path``'s extension, or a one-line error."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise GentoolError(
            f"cannot write '{path.name}': use a .png, .svg or .pdf file name for the figure."
        )
    return fmt


def save_figure(figure: Figure, path: str | Path, dpi: int = 150) -> Path:
    """Write ``figure`` as PNG, SVG or PDF (by extension), atomically, and close it."""
    path = Path(path)
    try:
        fmt = figure_format(path)
        return atomic_write_with(
            path, lambda handle: figure.savefig(handle, format=fmt, dpi=dpi, bbox_inches="tight")
        )
    except (ValueError, RuntimeError) as exc:  # matplotlib failing to render
        raise OutputError(f"could not draw {path}: {exc}") from None
    finally:
        plt.close(figure)


# --- run logs and configs -----------------------------------------------------------------------


@dataclass
class RunLog:
    """What :func:`read_run_log` found: training records and the lines it could not use."""

    path: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    #: (1-based line number, why it was skipped)
    bad: list[tuple[int, str]] = field(default_factory=list)

    def bad_summary(self) -> str:
        line, why = self.bad[0]
        more = f" and {len(self.bad) - 1} more" if len(self.bad) > 1 else ""
        return f"line {line} ({why}){more}"


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def read_run_log(run: str | Path) -> RunLog:
    """The training records of ``RUN/log.jsonl`` (events such as evaluations left out), and
    its unusable lines (:func:`gentool.run_folder.read_log_lines`)."""
    run = Path(run)
    if run.is_file():
        raise GentoolError(f"{run} is a file; pass the run folder that holds log.jsonl.")
    lines = RunFolder(run).read_log()
    if not lines.exists:
        raise GentoolError(f"{run} has no log.jsonl; pass a run folder written by 'gentool train'.")
    log = RunLog(lines.path)
    skipped = dict(lines.bad)
    for number, record in zip(lines.numbers, lines.records, strict=True):
        if "event" in record:
            continue
        if _is_number(record.get("step")):
            log.records.append(record)
        else:
            skipped[number] = "no numeric step"
    log.bad = sorted(skipped.items())
    return log


def read_log(run: str | Path) -> list[dict[str, Any]]:
    """The training records of ``RUN/log.jsonl``; unusable lines are skipped with one
    :class:`LogWarning` (and a log with none usable is an error)."""
    log = read_run_log(run)
    if not log.records:
        if log.bad:
            raise GentoolError(
                f"{log.path} holds no usable training record: {len(log.bad)} unreadable "
                f"line(s), first {log.bad_summary()}."
            )
        raise GentoolError(f"{log.path} has no training records yet.")
    if log.bad:
        warnings.warn(
            f"{log.path}: skipped {len(log.bad)} unusable line(s): {log.bad_summary()}.",
            LogWarning,
            stacklevel=2,
        )
    return log.records


def curve_keys(records: list[dict[str, Any]]) -> list[str]:
    """Numeric fields of the records worth plotting (all but :data:`NOT_CURVES`), in the
    order they first appear; a field that is never finite is listed (and refused as having
    no finite value when asked for)."""
    keys: dict[str, None] = {}
    for record in records:
        for key, value in record.items():
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            if numeric and key not in NOT_CURVES:
                keys[key] = None
    return list(keys)


def flatten_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"batch_size": 32}}`` -> ``{"train.batch_size": 32}``."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):  # nested settings by their own keys; {} adds none
            out.update(flatten_config(value, name + "."))
        else:
            out[name] = value
    return out


#: Settings that mean nothing while another setting switches their feature off:
#: last name -> (last name of the switch, values of the switch that make it inactive).
#: ``kl_warmup`` without KL annealing, the cyclical schedule's knobs without it, the Gaussian
#: sigma with a Bernoulli likelihood.
INACTIVE_WHEN: dict[str, tuple[str, tuple[Any, ...]]] = {
    "kl_warmup": ("kl_anneal", ("none", "cyclical", None)),
    "kl_cycles": ("kl_anneal", ("none", "linear", None)),
    "kl_ramp": ("kl_anneal", ("none", "linear", None)),
    "gaussian_sigma": ("likelihood", ("bernoulli", None)),
}
#: What a setting reads when it does not apply to a run.
INACTIVE = "<inactive>"
#: What a setting reads when the run's family has no use for it (it differs from nothing).
NOT_USED = "<not used>"


def _family(config: dict[str, Any]) -> Any:
    """The registered family a run's config names, or None (no family recorded, or its
    plugin is not installed: the plot then makes no family-specific choice)."""
    from gentool.plugins import get_family

    name = config.get("family")
    if not isinstance(name, str):
        return None
    try:
        return get_family(name)
    except GentoolError:
        return None


def not_used_by_family(config: dict[str, Any]) -> tuple[str, ...]:
    """Flattened config keys the run's family has no use for: its loop's unused training
    settings, and the GAN loss of a family that takes none (a VAE)."""
    family = _family(config)
    if family is None:
        return ()
    try:
        unused = tuple(f"train.{name}" for name in family.unused_settings())
    except Exception:  # a family plugin whose loop cannot be imported: nothing to grey out
        unused = ()
    return (() if family.TAKES_GAN_LOSS else ("loss",)) + unused


def drop_inactive(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` (flattened) with settings of switched-off features marked :data:`INACTIVE`.

    The switch is looked up beside the setting (``model_config.kl_anneal`` for
    ``model_config.kl_warmup``); a run without the switch keeps the setting as it is.
    Settings its family does not use (:func:`not_used_by_family`) read :data:`NOT_USED`."""
    out = dict(config)
    for key in not_used_by_family(config):
        out[key] = NOT_USED
    for key, value in config.items():
        prefix, _, last = key.rpartition(".")
        rule = INACTIVE_WHEN.get(last)
        if rule is None:
            continue
        switch = f"{prefix}.{rule[0]}" if prefix else rule[0]
        if switch in config and config[switch] in rule[1] and value is not None:
            out[key] = INACTIVE
    return out


def _read_config(run: Path) -> dict[str, Any]:
    path = RunFolder(run).config
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return {}
    return drop_inactive(flatten_config(data)) if isinstance(data, dict) else {}


def _format_value(value: Any) -> str:
    if value is None:  # a setting left at "none" (no --keep-every, no --threads, ...)
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _plugin_option(key: str) -> str | None:
    """The setting that chooses the plugin whose option ``key`` is (``loss`` for
    ``loss_config.a``, ``model`` for ``model_config.latent_dim``), else None."""
    section, dot, _ = key.partition(".")
    return section[: -len("_config")] if dot and section.endswith("_config") else None


def _setting_name(key: str) -> str:
    """How a label names a setting: by its last part (``batch_size``, ``latent_dim``), a loss
    option with its loss (``loss.a``: options of losses are the paper's letters)."""
    if _plugin_option(key) == "loss":
        return "loss." + key.split(".", 1)[1]
    return key.rsplit(".", 1)[-1]


def _full_setting_name(key: str) -> str:
    """A setting's whole name, ``model_config.width`` read as ``model.width``."""
    chooser = _plugin_option(key)
    return f"{chooser}.{key.split('.', 1)[1]}" if chooser else key


def run_labels(runs: Sequence[str | Path]) -> list[str]:
    """A legend label per run: the settings that differ between their ``config.json``.

    ``["loss=ls", "loss=bce"]``, ``["latent_dim=16", "latent_dim=64"]``,
    ``["loss.a=-1", "loss.a=0"]``, several joined by ", ". A setting is named by its last
    part (``batch_size``), a loss option with its loss (``loss.a``), or in full
    (``model.margin``) when the last part is ambiguous. Any setting counts (model, loss,
    data and training options) except :data:`IGNORED_SETTINGS`, record-keeping
    (:data:`IGNORED_PREFIXES`), settings a run does not use, and a setting one config lacks
    where the other holds null (a newer gentool recording an option an older one did not
    have). An option of a plugin (``loss_config.a``) that only some runs have is named
    where runs with the same plugin differ in it, and left out of the labels of runs
    without it. Runs whose settings do not differ are labelled by their folder name.
    """
    paths = [Path(r) for r in runs]
    names = [p.resolve().name for p in paths]
    if len(paths) < 2:
        return names
    configs = [_read_config(p) for p in paths]
    for config in configs:
        if "init_from.path" in config:  # a run's folder, or an export's file name
            start = Path(str(config["init_from.path"]))
            config["init_from"] = start.parent.name if start.name == CHECKPOINT else start.name
    every_key = {k for c in configs for k in c}
    for config in configs:  # options of a plugin the run does not use (a VAE's loss_config)
        for key in every_key:
            chooser = _plugin_option(key)
            if chooser is not None and config.get(chooser) == NOT_USED:
                config[key] = NOT_USED

    def values(key: str, chosen: Sequence[dict[str, Any]]) -> set[str]:
        return {
            json.dumps(c.get(key), default=str, sort_keys=True)
            for c in chosen
            if c.get(key) != NOT_USED
        }

    keys = sorted(k for k in every_key - IGNORED_SETTINGS if not k.startswith(IGNORED_PREFIXES))
    differing = [k for k in keys if len(values(k, configs)) > 1]

    def follows_from_plugin(key: str) -> bool:
        """An option of a plugin that only some runs have (``loss_config.a`` of ``ls`` beside
        ``bce``), and that no two runs with the same plugin disagree on: it follows from the
        plugin choice, which is already in the label."""
        chooser = _plugin_option(key)
        if chooser not in differing or all(key in c for c in configs):
            return False
        by_plugin: dict[str, list[dict[str, Any]]] = {}
        for c in configs:
            by_plugin.setdefault(json.dumps(c.get(chooser), default=str), []).append(c)
        return all(len(values(key, same)) < 2 for same in by_plugin.values())

    differing = [k for k in differing if not follows_from_plugin(k)]
    if "model" in differing:  # the family follows from the model
        differing = [k for k in differing if k != "family"]
    if not differing:
        return names
    short = {k: _setting_name(k) for k in differing}
    counts: dict[str, int] = {}
    for s in short.values():
        counts[s] = counts.get(s, 0) + 1
    labels = []
    for config in configs:
        parts = [
            f"{short[k] if counts[short[k]] == 1 else _full_setting_name(k)}="
            f"{_format_value(config.get(k, 'unset'))}"
            for k in differing
            if config.get(k) not in (INACTIVE, NOT_USED)  # settings this run does not use
            and not (_plugin_option(k) in differing and k not in config)  # another plugin's
        ]
        labels.append(", ".join(parts) or "defaults")
    # Identical settings (e.g. two seeds of one config): tell them apart by folder.
    repeated = {label for label in labels if labels.count(label) > 1}
    return [
        f"{label} ({name})" if label in repeated else label
        for label, name in zip(labels, names, strict=True)
    ]


def is_scheduled(key: str) -> bool:
    """Whether a logged value is set by a schedule (drawn unsmoothed)."""
    return key in SCHEDULED or key.startswith("lr_") or key == "lr"


def x_scale(run: str | Path, x: str) -> tuple[float, str]:
    """What one training step is worth on the ``--x`` axis for ``run``, and the axis label:
    1 (steps), the batch size (images: step x batch size), or batch size / training images
    (epochs), both read from the run's config.json."""
    if x not in X_AXES:
        raise GentoolError(f"--x must be one of {', '.join(X_AXES)}, not '{x}'.")
    if x == "steps":
        return 1.0, "training step"
    config = _read_config(Path(run))
    batch: Any = config.get("train.batch_size")
    if not _is_number(batch) or batch <= 0:
        raise GentoolError(
            f"{run}: its config.json records no train.batch_size, so --x {x} cannot be drawn; "
            "use --x steps."
        )
    if x == "images":
        return float(batch), "images seen (step x batch size)"
    count: Any = config.get("data.num_images")
    if not _is_number(count) or count <= 0:
        raise GentoolError(
            f"{run}: its config.json records no data.num_images, so --x epochs cannot be "
            "drawn; use --x images or --x steps."
        )
    return float(batch) / float(count), "epochs (images seen / training images)"


class ExactWindow(int):
    """A smoothing window the user chose (``plot curves --window N``): used as it is, not
    shortened for a short run as the default is."""


def smoothing_span(window: int, points: int) -> int:
    """The span :func:`smoothed` uses for ``points`` logged values: ``window``, at most a
    tenth of the points (at least 1), so a short run is not flattened into its first values;
    an :class:`ExactWindow` as it is."""
    if isinstance(window, ExactWindow):
        return max(1, int(window))
    return max(1, min(int(window), points // 10))


def smoothed(values: np.ndarray, window: int) -> np.ndarray:
    """TensorBoard's smoothing: an exponential moving average, bias-corrected.

    With ``alpha = 2 / (span + 1)`` (the span from :func:`smoothing_span`; span 1 leaves the
    values as they are)::

        m_0 = 0,  m_t = (1 - alpha) m_(t-1) + alpha x_t,  s_t = m_t / (1 - (1 - alpha)^(t+1))

    Dividing by ``1 - (1 - alpha)^(t+1)`` (the weight the average has gathered so far) undoes
    the pull towards the zero it starts from: ``s_0 = x_0``, and a constant stays constant.
    """
    values = np.asarray(values, dtype=float)
    span = smoothing_span(window, len(values))
    if span <= 1:
        return values.copy()
    alpha = 2.0 / (span + 1)
    out = np.empty_like(values)
    average = weight = 0.0
    for index, value in enumerate(values):
        average = (1 - alpha) * average + alpha * value
        weight = (1 - alpha) * weight + alpha  # = 1 - (1 - alpha)^(index + 1)
        out[index] = average / weight
    return out


# --- which panel a curve goes in -----------------------------------------------------------------


@dataclass(frozen=True)
class CurveGroup:
    """What a panel of :func:`plot_curves` shows: its title, and whether curves of very
    different sizes in it get panels of their own (:func:`scale_panels`)."""

    name: str
    title: str
    split_by_scale: bool = True


#: The panels of ``plot curves``, top to bottom (see :func:`curve_group` for the rule).
CURVE_GROUPS = (
    CurveGroup("losses", "losses"),
    CurveGroup("d_outputs", "discriminator outputs: D(x) on real, D(G(z)) on generated", False),
    CurveGroup("elbo", "ELBO (higher is better)"),
    CurveGroup("recon_kl", "reconstruction and KL"),
    CurveGroup("metrics", "metrics"),
    CurveGroup("gradients", "gradient norms"),
    CurveGroup("schedules", "schedules (as set, not smoothed)"),
    CurveGroup("other", "other logged values"),
)
#: First words of held-out copies of a value (``test_recon`` goes where ``recon`` goes).
HELD_OUT_WORDS = ("test", "val", "valid", "eval", "heldout")
#: Words of losses and penalties (``loss_d``, ``loss_cycle``, ``penalty_g``).
LOSS_WORDS = frozenset({"loss", "losses", "penalty", "gp", "r1", "r2"})
#: Words of quality measures (``fid``, ``swd_avg``, ``psnr``, ``bits_per_dim``, ``mse``).
METRIC_WORDS = frozenset(
    {"fid", "kid", "is", "swd", "psnr", "ssim", "lpips", "precision", "recall", "density",
     "coverage", "diversity", "accuracy", "acc", "mse", "mae", "bits", "bpd"}
)  # fmt: skip
#: Words of a VAE's terms that are not the ELBO itself.
RECON_KL_WORDS = frozenset({"recon", "reconstruction", "kl", "nll"})
#: Fields of an ``evaluate`` record that describe the evaluation, not a measurement.
EVALUATION_INFO = NOT_CURVES | {"num_generated", "images", "dataset", "split", "input_kind"}
#: A value shares a panel only while its height is at least this fraction of the panel's
#: (:func:`scale_panels`).
MIN_PANEL_FRACTION = 0.2


def curve_group(key: str) -> str:
    """The :data:`CURVE_GROUPS` name of a logged value, by the words of its name (split at
    ``_`` and other non-alphanumerics, a held-out prefix such as ``test_`` dropped); the
    first rule that matches wins:

    1. schedules: :func:`is_scheduled` (``beta``, ``kl_weight``, ``lr``, ``lr_*``);
    2. discriminator outputs: ``d`` followed by ``real``, ``fake`` or ``gen`` (``d_real``,
       ``d_fake_b``, ``d_gen``), or a name starting ``D(`` (``D(x)``, ``D(G(z))``);
    3. gradient norms: a word ``grad``/``gradient`` (``grad_norm_d``);
    4. losses: a word of :data:`LOSS_WORDS` (``loss``, ``loss_d``, ``loss_cycle``, ``penalty``);
    5. metrics: a word of :data:`METRIC_WORDS` (``fid``, ``swd_avg``, ``psnr``, ``mse``);
    6. ELBO: a word ``elbo``;
    7. reconstruction and KL: a word of :data:`RECON_KL_WORDS` (``recon``, ``kl``);
    8. losses again: a last word ``d`` or ``g``, a term of D's or G's objective (``class_d``,
       ``info_cat_g``);
    9. anything else: other (a plugin's unknown value is drawn there, never dropped).
    """
    if is_scheduled(key):
        return "schedules"
    if key.startswith("D("):
        return "d_outputs"
    words = re.findall(r"[a-z0-9]+", key.lower())
    if len(words) > 1 and words[0] in HELD_OUT_WORDS:
        words = words[1:]
    if any(a == "d" and b in ("real", "fake", "gen") for a, b in itertools.pairwise(words)):
        return "d_outputs"
    found = set(words)
    if found & {"grad", "gradient", "gradients"}:
        return "gradients"
    if found & LOSS_WORDS:
        return "losses"
    if found & METRIC_WORDS:
        return "metrics"
    if "elbo" in found:
        return "elbo"
    if found & RECON_KL_WORDS:
        return "recon_kl"
    if words and words[-1] in ("d", "g"):
        return "losses"
    return "other"


def value_range(values: np.ndarray) -> tuple[float, float] | None:
    """The range a logged value covers, from its 1st to its 99th percentile (a rare spike
    left out); None for a value that never changes (a fixed learning rate)."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0 or (len(values) > 1 and np.ptp(values) == 0):
        return None
    low, high = np.percentile(values, [1, 99])
    return float(low), float(high)


def _height(extent: tuple[float, float]) -> float:
    """How much of an axis a value needs: its range, or for a value measured once (an
    evaluation) its distance from 0."""
    low, high = extent
    return high - low if high > low else abs(high)


def scale_panels(
    keys: Sequence[str],
    ranges: dict[str, tuple[float, float] | None],
    constants: dict[str, float] | None = None,
) -> list[list[str]]:
    """``keys`` (one group's, in order) split into panels in which every value stays readable.

    A panel's height is the range its values cover together; a value joins the first panel
    where it and the values already there each keep at least :data:`MIN_PANEL_FRACTION` of
    that height (its own height: :func:`value_range`, largest values placed first), else it
    starts a panel of its own. A KL between 0 and 7 beside a reconstruction term between 100
    and 180 would be a flat line along the bottom (4% of a shared panel), so it gets its own.
    Values that never change (``ranges`` None: a fixed learning rate, a constant) need no
    height: they join the panel nearest to their value (``constants``; of two panels whose
    range holds it, the narrower), else the first.
    Panels come in the order of their first key.
    """
    order = {k: i for i, k in enumerate(keys)}
    sized = {k: r for k, r in ranges.items() if k in order and r and _height(r) > 0}
    panels: list[list[str]] = []
    for key in sorted(sized, key=lambda k: -_height(sized[k])):
        for panel in panels:
            members = [*panel, key]
            span = max(sized[m][1] for m in members) - min(sized[m][0] for m in members)
            if all(_height(sized[m]) >= MIN_PANEL_FRACTION * span for m in members):
                panel.append(key)
                break
        else:
            panels.append([key])
    panels.sort(key=lambda panel: min(order[k] for k in panel))
    if not panels:
        return [list(keys)]
    for key in (k for k in keys if k not in sized):
        value = (constants or {}).get(key)
        if value is None:
            panels[0].append(key)
            continue

        def distance(panel: list[str], value: float = value) -> tuple[float, float]:
            """How far outside the panel's range, in panel heights; then the tighter panel."""
            low = min(sized[m][0] for m in panel if m in sized)
            high = max(sized[m][1] for m in panel if m in sized)
            span = max(high - low, 1e-300)
            return max(low - value, value - high, 0.0) / span, span

        min(panels, key=distance).append(key)
    return [sorted(panel, key=order.__getitem__) for panel in panels]


# --- curves -------------------------------------------------------------------------------------


@dataclass
class _Curve:
    """One logged value of one run, on the chosen x axis."""

    run: int
    key: str
    x: np.ndarray
    values: np.ndarray
    evaluation: bool = False  # from 'gentool evaluate' records: points, never smoothed


def _series(records: list[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    pairs = [(r["step"], r[key]) for r in records if _is_number(r.get(key))]
    if not pairs:
        return np.array([]), np.array([])
    steps, values = zip(*pairs, strict=True)
    return np.asarray(steps, dtype=float), np.asarray(values, dtype=float)


def read_evaluations(run: str | Path) -> list[dict[str, Any]]:
    """The ``{"event": "evaluate", "step": ...}`` records ``gentool evaluate`` appended to
    ``RUN/log.jsonl``, in order (those without a numeric step left out)."""
    lines = RunFolder(Path(run)).read_log()
    return [r for r in lines.records if r.get("event") == "evaluate" and _is_number(r.get("step"))]


def evaluation_keys(records: list[dict[str, Any]]) -> list[str]:
    """The measured values of ``evaluate`` records (their bookkeeping left out)."""
    keys: dict[str, None] = {}
    for record in records:
        for key, value in record.items():
            if key not in EVALUATION_INFO and _is_number(value):
                keys[key] = None
    return list(keys)


#: Line styles telling the values of one panel apart when colours tell runs apart.
LINE_STYLES: tuple[Any, ...] = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3)), (0, (8, 3)))


def _constant_note(curves: list[_Curve]) -> str:
    """`` (constant 0.0002)`` when every run logged one unchanging value, else ``""``."""
    unchanging = all(len(c.values) > 1 and np.ptp(c.values) == 0 for c in curves)
    if unchanging and len({float(c.values[0]) for c in curves}) == 1:
        return f" (constant {curves[0].values[0]:.3g})"
    return ""


def plot_curves(
    runs: Sequence[str | Path],
    keys: Sequence[str] | None = None,
    *,
    window: int = 20,
    stacked: bool = False,
    title: str | None = None,
    x: str = "steps",
    labels: Sequence[str] | None = None,
) -> Figure:
    """Learning curves of ``runs`` in panels of one column sharing the x axis.

    ``labels`` names the runs in the legend (default :func:`run_labels`: the settings that
    differ between them).

    Every logged value is drawn (``keys`` picks some): the raw values faint, smoothed by
    :func:`smoothed` (an exponential moving average over ``window`` logged points,
    bias-corrected as TensorBoard does; at most a tenth of a run's points) on top. Values
    go into panels by what they measure (:func:`curve_group`: losses, discriminator
    outputs, ELBO, reconstruction and KL, metrics, gradient norms, schedules, other), each
    titled by its group; a value that would fill less than :data:`MIN_PANEL_FRACTION` of a
    panel shared with the others of its group gets a panel of its own
    (:func:`scale_panels`). ``stacked``
    gives each key its own panel instead. Scheduled values (:func:`is_scheduled`: ``beta``,
    learning rates) are drawn as logged, unsmoothed; values measured by ``gentool evaluate``
    (records in the log) as points.

    One run: a colour per value in a panel. Several runs: a colour per run, a line style
    per value, legends naming the runs by the settings that differ (:func:`run_labels`).
    ``x`` puts steps, epochs or images seen on the horizontal axis (:func:`x_scale`).
    """
    logs = [read_log(r) for r in runs]
    evaluations = [read_evaluations(r) for r in runs]
    trained: dict[str, None] = {}
    for records in logs:
        trained.update(dict.fromkeys(curve_keys(records)))
    evaluated: dict[str, None] = {}
    for records in evaluations:
        evaluated.update(dict.fromkeys(evaluation_keys(records)))
    available = list(dict.fromkeys([*trained, *evaluated]))
    scales = [x_scale(r, x) for r in runs]
    if keys:
        unknown = [k for k in keys if k not in available]
        if unknown:
            raise GentoolError(
                f"no run logs '{unknown[0]}'; the logs have: {', '.join(available) or 'nothing'}."
            )
        chosen = list(keys)
    else:
        chosen = available
    if not chosen:
        raise GentoolError("the logs hold no numeric values to plot.")
    curves: list[_Curve] = []
    for r, (records, events) in enumerate(zip(logs, evaluations, strict=True)):
        for key in chosen:
            for source, evaluation in ((records, False), (events, True)):
                steps, values = _series(source, key)
                if len(steps):
                    curves.append(_Curve(r, key, steps * scales[r][0], values, evaluation))
    drawn = [k for k in chosen if any(c.key == k for c in curves)]
    if not drawn:
        raise GentoolError(
            f"nothing to plot: {', '.join(chosen)} has no finite logged value in these runs."
        )
    panels = _panels(drawn, curves, stacked=stacked, asked=bool(keys))
    if labels is not None and len(labels) != len(runs):
        raise GentoolError(f"{len(labels)} label(s) for {len(runs)} run(s).")
    figure = _draw_panels(
        runs, panels, curves, trained, window=window, stacked=stacked, labels=labels
    )
    figure.axes[-1].set_xlabel(scales[0][1])
    names = [Path(r).resolve().name for r in runs]
    heading = f"Training curves: {', '.join(names)}"
    if len(runs) > 3:
        heading = f"Training curves of {len(runs)} runs"
    figure.suptitle(title or f"{heading}\n{_drawing_note(curves, window)}", fontsize="medium")
    return figure


def _is_smoothed(curve: _Curve, window: int) -> bool:
    return (
        not curve.evaluation
        and not is_scheduled(curve.key)
        and smoothing_span(window, len(curve.values)) > 1
    )


def _drawing_note(curves: list[_Curve], window: int) -> str:
    """What the lines are, for the figure's title: the smoothing spans used, schedules,
    evaluations."""
    notes = []
    spans = sorted(
        {smoothing_span(window, len(c.values)) for c in curves if _is_smoothed(c, window)}
    )
    if spans:
        span = f"{spans[0]}" if len(spans) == 1 else f"{spans[0]} to {spans[-1]}"
        shorter = " (a tenth of a short run)" if spans[0] < window else ""
        notes.append(
            f"faint: raw; solid: exponential moving average over {span} logged points{shorter}"
        )
    elif any(not c.evaluation and not is_scheduled(c.key) for c in curves):
        notes.append("values as logged, unsmoothed")
    if any(is_scheduled(c.key) for c in curves):
        notes.append("schedules as set")
    if any(c.evaluation for c in curves):
        notes.append("dots: gentool evaluate")
    return textwrap.fill("; ".join(notes), 110)


def _panels(
    keys: list[str], curves: list[_Curve], *, stacked: bool, asked: bool
) -> list[tuple[str, list[str]]]:
    """``(title, keys)`` per panel, top to bottom.

    ``stacked``: one panel per key, in the order asked for (``asked``), else by group. Else
    the keys by group (:func:`curve_group`) in :data:`CURVE_GROUPS` order, each group split
    by scale (:func:`scale_panels`), keys in the order logged or asked for."""
    rank = {g.name: i for i, g in enumerate(CURVE_GROUPS)}
    by_group = sorted(keys, key=lambda k: rank[curve_group(k)])
    if stacked:
        return [("", [k]) for k in (keys if asked else by_group)]
    groups: dict[str, list[str]] = {}
    for key in by_group:
        groups.setdefault(curve_group(key), []).append(key)
    out: list[tuple[str, list[str]]] = []
    for name, members in groups.items():
        group = CURVE_GROUPS[rank[name]]
        if not group.split_by_scale:
            out.append((group.title, members))
            continue
        values = {k: np.concatenate([c.values for c in curves if c.key == k]) for k in members}
        ranges = {k: value_range(v) for k, v in values.items()}
        constants = {k: float(v[0]) for k, v in values.items() if len(v)}
        for index, panel in enumerate(scale_panels(members, ranges, constants)):
            suffix = " (another scale)" if index else ""
            out.append((group.title + suffix, panel))
    return out


def _draw_panels(
    runs: Sequence[str | Path],
    panels: list[tuple[str, list[str]]],
    curves: list[_Curve],
    trained: dict[str, None],
    *,
    window: int,
    stacked: bool,
    labels: Sequence[str] | None = None,
) -> Figure:
    """One panel per ``(title, keys)``, with a legend beside it. One run: a colour per value.
    Several runs: a colour per run (one legend above the panels, naming the runs by
    :func:`run_labels`) and a line style per value (the panel's legend)."""
    several = len(runs) > 1
    labels = (list(labels) if labels is not None else run_labels(runs)) if several else []
    # a panel of values that never change needs less height than one of curves
    flat = [
        all(len(c.values) > 1 and np.ptp(c.values) == 0 for c in curves if c.key in keys)
        for _, keys in panels
    ]
    heights = [0.55 if f else 1.0 for f in flat]
    figure, axes_grid = plt.subplots(
        len(panels),
        1,
        sharex=True,
        squeeze=False,
        figsize=(9.0, max(4.0, 2.3 * sum(heights) + 1.2 + 0.25 * several)),
        layout="constrained",
        gridspec_kw={"height_ratios": heights},
    )
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (panel_title, keys) in zip((row[0] for row in axes_grid), panels, strict=True):
        handles: list[Any] = []
        names: list[str] = []
        for k, key in enumerate(keys):
            style: Any = LINE_STYLES[k % len(LINE_STYLES)] if several else "-"
            for evaluation in (False, True):
                chosen = [c for c in curves if c.key == key and c.evaluation == evaluation]
                if not chosen:
                    continue
                also_trained = evaluation and key in trained
                name = key + " (evaluate)" * also_trained
                for curve in chosen:
                    color = cycle[(curve.run if several else k) % len(cycle)]
                    label = f"{labels[curve.run]}: {name}" if several else name
                    handle = _draw_curve(ax, curve, color, style, window, label)
                if several:  # the style stands for the value, whatever the run's colour
                    handle = Line2D(
                        [], [], color="0.3", linestyle=style, marker="o" if evaluation else ""
                    )
                handles.append(handle)
                names.append(name + _constant_note(chosen))
        if stacked:
            ax.set_ylabel(keys[0])
        else:
            ax.set_title(panel_title, fontsize="medium", loc="left")
        ax.grid(True, alpha=0.3)
        if not (stacked and several):  # beside the panel, never over its lines
            ax.legend(
                handles,
                names,
                fontsize="small",
                loc="upper left",
                bbox_to_anchor=(1.01, 1.0),
                borderaxespad=0.0,
                frameon=False,
            )
    if several:  # the runs with a line in this figure (a VAE has no D outputs)
        present = sorted({c.run for c in curves if any(c.key in keys for _, keys in panels)})
        runs_legend = [Line2D([], [], color=cycle[r % len(cycle)], linewidth=2.5) for r in present]
        figure.legend(
            runs_legend,
            [labels[r] for r in present],
            loc="outside lower center",
            fontsize="small",
            ncols=min(len(present), 3),
            frameon=False,
        )
    return figure


def _draw_curve(ax: Any, curve: _Curve, color: str, style: Any, window: int, label: str) -> Any:
    """Draw one run's value: evaluations as dots, schedules and short series as logged, the
    rest raw (faint) under their smoothed line, which gets ``label``. Returns that line."""
    line_style = {"color": color, "linestyle": style}
    if curve.evaluation:
        (line,) = ax.plot(
            curve.x,
            curve.values,
            **line_style,
            linewidth=0.8,
            marker="o",
            markersize=4,
            label=label,
        )
        return line
    if not _is_smoothed(curve, window):
        (line,) = ax.plot(curve.x, curve.values, **line_style, linewidth=1.6, label=label)
        return line
    ax.plot(curve.x, curve.values, **line_style, alpha=0.25, linewidth=0.8)
    (line,) = ax.plot(
        curve.x, smoothed(curve.values, window), **line_style, linewidth=1.6, label=label
    )
    return line


# --- timeline -----------------------------------------------------------------------------------

_STEP_FILE = re.compile(r"^step_(\d+)\.png$")


def sample_steps(run: str | Path) -> dict[int, Path]:
    """``{step: RUN/samples/step_XXXXXX.png}``, sorted by step."""
    folder = RunFolder(Path(run)).samples
    found = {}
    if folder.is_dir():
        for path in folder.iterdir():
            match = _STEP_FILE.match(path.name)
            if match and path.is_file():
                found[int(match.group(1))] = path
    if not found:
        raise GentoolError(f"{run} has no samples/step_*.png; train with --sample-every N.")
    return dict(sorted(found.items()))


def choose_steps(available: Sequence[int], count: int) -> list[int]:
    """``count`` steps spread evenly over ``available``, always the first and the last."""
    steps = sorted(available)
    if count >= len(steps):
        return steps
    if count == 1:
        return [steps[-1]]
    picks = np.linspace(0, len(steps) - 1, count).round().astype(int)
    return [steps[i] for i in dict.fromkeys(picks.tolist())]


def _read_grid(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise GentoolError(
            f"{path} could not be read ({exc}); delete it or pick other --steps."
        ) from None


def grid_row(
    grid: np.ndarray, row: int, cell: int, where: Path, padding: int = 2
) -> list[np.ndarray]:
    """The cells (``cell`` pixels square) of row ``row`` of a sample grid drawn with
    ``padding`` pixels between cells (as :func:`gentool.images.grid_image` draws them)."""
    height, width = grid.shape[:2]
    step = cell + padding
    if cell < 1 or (height - padding) % step or (width - padding) % step:
        raise GentoolError(
            f"{where} is {width}x{height} pixels, not a grid of {cell} px cells; it was not "
            "written by this run."
        )
    rows, columns = (height - padding) // step, (width - padding) // step
    if row >= rows:
        raise GentoolError(f"--row {row}: the sample grids of this run have rows 0 to {rows - 1}.")
    top = padding + row * step
    return [
        grid[top : top + cell, padding + c * step : padding + c * step + cell]
        for c in range(columns)
    ]


def plot_timeline(
    run: str | Path,
    steps: Sequence[int] | None = None,
    *,
    count: int = 6,
    columns: int | None = None,
    row: int | None = None,
    redraw: tuple[int, int] | None = None,
) -> Figure:
    """The run's fixed-noise sample grids at ``steps`` (or ``count`` evenly spread ones);
    for image2image and translation runs, the outputs for their fixed inputs.

    ``redraw=(n, seed)`` draws the grids again from the weights the run kept
    (:func:`redrawn_grids`: ``train --keep-every``) instead of reading its sample grids:
    ``n`` images from the same noise at every step.

    A family that describes its grids (:meth:`gentool.family.Family.sample_grid_layout`,
    e.g. translation: rows of A | A→B | A→B→A, then of B | B→A | B→A→B) gets them labelled:
    each panel names its columns below it, the panels on the left name each block of rows
    (``A: horses``), a line parts the blocks, and one line under the figure says what each
    block's columns are.

    With ``row``, only that row of every grid: for image2image and translation runs one
    line ``input | output at each step | ground truth`` (the cycle's reconstruction for
    translation), for the others the row of fixed-noise samples at each step, one per line.
    """
    if redraw is not None:
        if row is not None:
            raise GentoolError("--row picks a row of the training grids; -n draws new ones.")
        grids = redrawn_grids(run, steps, count, *redraw)
        return _grid_timeline(
            run,
            grids,
            columns,
            f"{redraw[0]} sample{'s' if redraw[0] != 1 else ''} from the same noise",
        )
    files = sample_steps(run)
    if steps:
        missing = [s for s in steps if s not in files]
        if missing:
            shown = ", ".join(str(s) for s in list(files)[:12])
            raise GentoolError(
                f"{run} has no sample grid at step {missing[0]}; it has steps {shown}"
                f"{' ...' if len(files) > 12 else ''}."
            )
        chosen = list(steps)
    else:
        chosen = choose_steps(list(files), count)
    if row is not None:
        return _row_timeline(Path(run), files, chosen, row)
    grids = {step: _read_grid(files[step]) for step in chosen}
    return _grid_timeline(run, grids, columns, None)


def _grid_timeline(
    run: str | Path, grids: dict[int, np.ndarray], columns: int | None, what: str | None
) -> Figure:
    """Grids by step, side by side (labelled where the family describes its grids)."""
    chosen = list(grids)
    family = _family(_read_config(Path(run)))
    layout = grid_layout(Path(run), family)
    shape = grids[chosen[0]].shape
    if layout is not None and _layout_rows(layout, shape) is None:
        layout = None  # not a grid of the layout's columns: drawn as it is, unlabelled
    n = len(chosen)
    # More columns than panels is one full row, not a row padded with empty axes.
    if layout is None:
        columns = min(columns, n) if columns else (n if n <= 4 else 3 if n <= 6 else 4)
        panel = (3.0, 3.2)
    else:  # tall grids of a few columns: up to six to a row, wide enough for column names
        columns = min(columns, n) if columns else min(n, 6)
        height = min(6.0, 2.2 * shape[0] / shape[1])
        panel = (max(1.2, height * shape[1] / shape[0]) + 0.3, height + 0.9)
    rows = math.ceil(n / columns)
    figure, axes_grid = plt.subplots(
        rows,
        columns,
        figsize=(panel[0] * columns + (1.0 if layout else 0), panel[1] * rows + 0.4),
        squeeze=False,
    )
    for ax in axes_grid.flat:
        ax.axis("off")
    for ax, step in zip(axes_grid.flat, chosen, strict=False):
        ax.imshow(grids[step], interpolation="nearest")
        ax.set_title(f"step {step:,}", fontsize="medium")
    fixed_inputs = family is not None and family.GRID_COLUMNS is not None
    if what is None:
        what = "outputs for fixed inputs" if fixed_inputs else "samples from fixed noise"
    figure.suptitle(f"{Path(run).resolve().name}: {what} during training")
    if layout is None:
        figure.tight_layout()
        return figure
    for index, ax in enumerate(axes_grid.flat[:n]):
        _label_panel(ax, layout, shape, left=index % columns == 0)
    legend = "      ".join(f"{s.label} rows: {' | '.join(s.columns)}" for s in layout.sections)
    inches = figure.get_size_inches()[1]
    figure.text(0.5, 0.08 / inches, legend, ha="center", va="bottom", fontsize="small")
    # room for the title above and the line of column names below (not counted by tight_layout)
    figure.tight_layout(rect=(0, 0.35 / inches, 1, 1 - 0.4 / inches))
    return figure


def kept_weights(run: str | Path) -> dict[int, Path]:
    """The files holding a run's weights, by step: its snapshots (``train --keep-every``) and
    its checkpoint."""
    from gentool.checkpoint import load_checkpoint
    from gentool.training.runfolder import own_snapshots

    folder = RunFolder(Path(run))
    kept = own_snapshots(folder.path)
    if folder.checkpoint.is_file():
        step = load_checkpoint(folder.checkpoint).info.step
        if step is not None and step not in kept:
            kept[step] = folder.checkpoint
    return dict(sorted(kept.items()))


def redrawn_grids(
    run: str | Path, steps: Sequence[int] | None, count: int, n: int, seed: int
) -> dict[int, np.ndarray]:
    """``n`` samples at each of ``steps`` (or ``count`` evenly spread kept steps), drawn from
    the weights the run kept at that step with the same noise (``seed``) every time."""
    import torch

    from gentool.checkpoint import load_checkpoint
    from gentool.images import grid_image
    from gentool.loading import family_of, model_from_checkpoint

    kept = kept_weights(run)
    shown = ", ".join(str(s) for s in list(kept)[:12]) + (" ..." if len(kept) > 12 else "")
    if steps:
        missing = [s for s in steps if s not in kept]
        if missing:
            raise GentoolError(
                f"{run} kept no weights of step {missing[0]}; it has step(s) {shown or 'none'}"
                " (train --keep-every N keeps them)."
            )
        chosen = list(steps)
    else:
        chosen = choose_steps(list(kept), count)
    if len(kept) < 2 and not steps:
        raise GentoolError(
            f"{run} kept the weights of step(s) {shown or 'none'} only; -n re-draws the steps "
            "a run kept with train --keep-every N (without -n the timeline shows its grids)."
        )
    grids: dict[int, np.ndarray] = {}
    for step in chosen:
        ckpt = load_checkpoint(kept[step])
        if not family_of(ckpt).can("generate"):
            raise GentoolError(
                f"-n draws new samples, and '{ckpt.info.model}' does not generate (its grids "
                "are of fixed inputs); drop -n to see them."
            )
        model = model_from_checkpoint(ckpt).eval()
        with torch.no_grad():
            images, columns = model.sample_grid(
                n, generator=torch.Generator().manual_seed(seed), options={}
            )
        grids[step] = np.asarray(grid_image(images.float().cpu(), nrow=columns).convert("RGB"))
    return grids


def grid_layout(run: Path, family: Any) -> Any:
    """What the run's family says its sample grids show (a :class:`gentool.family.GridLayout`,
    or None), from the run's ``config.json``."""
    if family is None:
        return None
    path = RunFolder(run).config
    try:
        config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        config = {}
    return family.sample_grid_layout(config if isinstance(config, dict) else {})


def _layout_rows(layout: Any, shape: Sequence[int], padding: int = 2) -> int | None:
    """The rows of a grid picture of ``shape`` drawn in ``layout``'s columns, or None when the
    picture is not such a grid (then nothing is labelled)."""
    height, width = shape[:2]
    columns = len(layout.columns)
    cell = (width - padding) // columns - padding
    step = cell + padding
    if cell < 1 or (width - padding) % step or (height - padding) % step:
        return None
    rows = (height - padding) // step
    return rows if rows % len(layout.sections) == 0 else None


def _label_panel(
    ax: Any, layout: Any, shape: Sequence[int], *, left: bool, padding: int = 2
) -> None:
    """Column names under one grid of the timeline; with ``left``, each block of rows named at
    its side; a line between the blocks."""
    rows = _layout_rows(layout, shape, padding) or 1
    step = (shape[1] - padding) // len(layout.columns)
    middle = padding + (step - padding) / 2
    ax.axis("on")
    ax.set_frame_on(False)
    ax.tick_params(length=0, labelsize="small")
    names = [name.replace(" ", "\n", 1) for name in layout.columns]
    ax.set_xticks([middle + c * step for c in range(len(layout.columns))], names)
    ax.tick_params(axis="x", labelsize="x-small")
    per_section = rows // len(layout.sections)
    centres = [(k + 0.5) * per_section * step + padding / 2 for k in range(len(layout.sections))]
    ax.set_yticks(centres, [s.label for s in layout.sections] if left else [])
    for k in range(1, len(layout.sections)):
        ax.axhline(k * per_section * step + padding / 2 - 0.5, color="0.15", linewidth=1.2)


def _row_timeline(run: Path, files: dict[int, Path], chosen: Sequence[int], row: int) -> Figure:
    config = _read_config(run)
    family = _family(config)
    grids = {step: _read_grid(files[step]) for step in chosen}
    name = run.resolve().name
    columns = family.GRID_COLUMNS if family is not None else None
    if columns is not None:
        # three columns per row: input | output | target (or what the family names them)
        width = next(iter(grids.values())).shape[1]
        cell = (width - 2) // 3 - 2
        cells = {step: grid_row(grid, row, cell, files[step]) for step, grid in grids.items()}
        layout = grid_layout(run, family)
        shape = next(iter(grids.values())).shape
        rows = _layout_rows(layout, shape) if layout is not None else None
        what = ""
        if layout is not None and rows is not None and len(layout.columns) == 3:
            # the block the row is in names its columns: A (input) | A→B | A→B→A
            section = layout.section_of(row, rows)
            columns = (section.columns[0], section.columns[1], section.columns[2])
            what = f" ({section.label}, {section.columns[1]})"
        first, last = cells[chosen[0]], cells[chosen[-1]]
        last_title = columns[2]
        if not family.TARGET_IS_FIXED:  # the target is made by the model: say when
            last_title += f"\n(step {chosen[-1]:,})"
        panels = [(columns[0], first[0])] + [(f"step {s:,}", cells[s][1]) for s in chosen]
        panels.append((last_title, last[2]))
        figure, axes = plt.subplots(1, len(panels), figsize=(1.9 * len(panels), 2.5), squeeze=False)
        for ax, (title, image) in zip(axes.flat, panels, strict=True):
            ax.imshow(image, interpolation="nearest")
            ax.set_title(title, fontsize="medium")
            ax.axis("off")
        figure.suptitle(f"{name}: fixed input {row}{what} during training")
        figure.tight_layout()
        return figure
    size = config.get("model_config.image_size")
    if not isinstance(size, int):
        raise GentoolError(f"{run}/config.json does not say the image size; --row needs it.")
    strips = {}
    for step, grid in grids.items():
        strips[step] = np.concatenate(grid_row(grid, row, size, files[step]), axis=1)
    cells_across = strips[chosen[0]].shape[1] / size
    figure, axes = plt.subplots(
        len(chosen), 1, figsize=(8, 0.6 + len(chosen) * (8 / cells_across + 0.15)), squeeze=False
    )
    for ax, step in zip(axes.flat, chosen, strict=True):
        ax.imshow(strips[step], interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(f"step {step:,}", rotation=0, ha="right", va="center")
    figure.suptitle(f"{name}: row {row} of the fixed-noise samples during training")
    figure.tight_layout()
    return figure


# --- latent t-SNE -------------------------------------------------------------------------------


#: Colour words of class names that matplotlib does not know, with the colour they name.
EXTRA_COLOUR_WORDS = {
    "blond": "#e2c46b",
    "blonde": "#e2c46b",
    "auburn": "#922724",
    "ginger": "#c46a29",
    "bald": "#f1c9a5",
    "grey": "grey",
    "silver": "silver",
}


def colour_of_name(name: str) -> str | None:
    """The colour a class name names (``blue``, ``black``, ``blond hair``, ``Gray_Hair``),
    or None when it is not a colour word."""
    from matplotlib.colors import is_color_like

    words = re.split(r"[\s_\-]+", str(name).strip().lower())
    words = [w for w in words if w and w not in ("hair", "colour", "color", "eyes", "eye")]
    if len(words) != 1:
        return None
    word = words[0]
    if word in EXTRA_COLOUR_WORDS:
        return EXTRA_COLOUR_WORDS[word]
    # single letters (b, g, r) and numbers are colours to matplotlib, not colour words
    if len(word) > 2 and not word[0].isdigit() and is_color_like(word):
        return word
    return None


def group_colours(group_names: Sequence[str]) -> list[Any]:
    """One colour per group: the colours the names say when every name is a colour word
    (hair ``blue`` drawn blue), else a qualitative colormap (tab10, tab20 above 10)."""
    named = [colour_of_name(n) for n in group_names]
    if group_names and all(c is not None for c in named):
        return list(named)
    cmap = plt.get_cmap("tab10" if len(group_names) <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(len(group_names))]


def plot_latent_tsne(
    embedding: np.ndarray,
    groups: np.ndarray | None,
    group_names: Sequence[str],
    *,
    color_by: str = "",
    title: str = "",
) -> Figure:
    """Scatter of a 2-D ``embedding`` ``(N, 2)``; ``groups`` index ``group_names`` (-1 unknown).

    Colours follow :func:`group_colours`; points of unknown group (-1), when present, are
    drawn as small hollow grey circles below the others."""
    figure, ax = plt.subplots(figsize=(7.5, 6.5))
    if groups is None:
        ax.scatter(embedding[:, 0], embedding[:, 1], s=8, alpha=0.7)
    else:
        colours = group_colours(group_names)
        named = all(colour_of_name(n) is not None for n in group_names)
        if (groups < 0).any():
            unknown = groups < 0
            ax.scatter(
                embedding[unknown, 0],
                embedding[unknown, 1],
                s=8,
                facecolors="none",
                edgecolors="0.7",
                linewidths=0.5,
                label="unknown",
            )
        for index, name in enumerate(group_names):
            chosen = groups == index
            if chosen.any():
                ax.scatter(
                    embedding[chosen, 0],
                    embedding[chosen, 1],
                    s=10 if named else 8,
                    alpha=0.85,
                    color=colours[index],
                    # light colours (white, blond) stay visible on white with a dark rim
                    edgecolors="0.25" if named else "none",
                    linewidths=0.3 if named else 0.0,
                    label=str(name),
                )
        ax.legend(
            title=color_by or None,
            fontsize="small",
            markerscale=2,
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
        )
    ax.set_xlabel("t-SNE dimension 1 (arbitrary units)")
    ax.set_ylabel("t-SNE dimension 2 (arbitrary units)")
    ax.set_title(title or "t-SNE of latent means")
    figure.tight_layout()
    return figure


def tsne_embedding(latents: np.ndarray, *, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """scikit-learn t-SNE of ``latents`` ``(N, D)`` to 2-D (perplexity capped for small N).

    Up to 500 points use the exact gradient (Barnes-Hut's tree costs more than it saves there).
    """
    from sklearn.manifold import TSNE

    n = len(latents)
    if n < 5:
        raise GentoolError(f"t-SNE needs at least 5 points, got {n}.")
    perplexity = min(perplexity, (n - 1) / 3)
    method = "exact" if n <= 500 else "barnes_hut"
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, method=method)
    return np.asarray(tsne.fit_transform(latents.astype(np.float32)))


def latent_means(model: Any, images: Any, batch_size: int = 256) -> np.ndarray:
    """``model.encode`` means of uint8 ``images`` ``(N, C, H, W)``, batched, as ``(N, D)``."""
    import torch

    from gentool.data.base import to_float

    device = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = to_float(images[start : start + batch_size]).to(device)
            mu, _ = model.encode(batch)
            out.append(mu.flatten(1).float().cpu().numpy())
    return np.concatenate(out)
