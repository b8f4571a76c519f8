"""Figures of training runs and models (matplotlib, Agg backend: no display needed).

* :func:`plot_curves`: learning curves from ``RUN/log.jsonl``, raw values faint and a moving
  average on top; several runs are overlaid and labelled by the settings that differ between
  their ``config.json`` files (``loss=ls`` vs ``loss=bce``).
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

import json
import math
import re
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

from gentool.errors import GentoolError, OutputError
from gentool.fileio import atomic_write_with
from gentool.run_folder import CHECKPOINT, RunFolder

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
#: Log fields that are bookkeeping, not curves.
NOT_CURVES = {"step", "epoch", "time", "images_per_s", "event"}
#: Parts of names of the values drawn when no keys are given (GAN losses; VAE terms).
DEFAULT_CURVES = ("loss", "recon", "kl", "elbo")
#: Logged values that follow a schedule, not the data: drawn as they are, never smoothed
#: (the KL weight ``beta`` and the learning rates ``lr_*``).
SCHEDULED = ("beta", "kl_weight")
#: What ``plot curves --x`` can put on the horizontal axis.
X_AXES = ("steps", "epochs", "images")
#: Config fields that never explain a difference between runs.
IGNORED_SETTINGS = {"train.out", "train.device", "data.num_images", "gentool_version"}
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
    """Numeric fields of the records that are worth plotting (losses and the like)."""
    keys: dict[str, None] = {}
    for record in records:
        for key, value in record.items():
            if (
                key not in NOT_CURVES
                and not key.startswith("lr_")
                and isinstance(value, (int, float))
                and not isinstance(value, bool)
            ):
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
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def run_labels(runs: Sequence[str | Path]) -> list[str]:
    """A legend label per run: the settings that differ between their ``config.json``.

    ``["loss=ls", "loss=bce"]``, ``["latent_dim=16", "latent_dim=64"]``, several joined by
    ", ". A setting is named by its last part (``batch_size``), or in full
    (``loss_config.margin``) when the last part is ambiguous. Runs whose settings do not
    differ are labelled by their folder name.
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
    keys = sorted(
        k
        for k in {k for c in configs for k in c} - IGNORED_SETTINGS
        if not k.startswith(IGNORED_PREFIXES)
    )
    differing = [
        k
        for k in keys
        if len(
            {
                json.dumps(c.get(k, "<unset>"), default=str, sort_keys=True)
                for c in configs
                if c.get(k) != NOT_USED
            }
        )
        > 1
    ]
    # Options of different plugins (loss_config.a of ls vs loss_config.non_saturating of bce)
    # follow from the plugin choice, which is already in the label.
    differing = [
        k
        for k in differing
        if not (
            k.split(".", 1)[0].endswith("_config")
            and k.split(".", 1)[0][: -len("_config")] in differing
            and any(k not in c for c in configs)
        )
    ]
    if "model" in differing:  # the family follows from the model
        differing = [k for k in differing if k != "family"]
    short = {k: k.rsplit(".", 1)[-1] for k in differing}
    counts: dict[str, int] = {}
    for s in short.values():
        counts[s] = counts.get(s, 0) + 1
    labels = []
    for config in configs:
        parts = [
            f"{short[k] if counts[short[k]] == 1 else k}={_format_value(config.get(k, 'unset'))}"
            for k in differing
            if config.get(k) not in (INACTIVE, NOT_USED)  # settings this run does not use
        ]
        labels.append(", ".join(parts) or "defaults")
    if not differing:
        return names
    # Identical settings (e.g. two seeds of one config): tell them apart by folder.
    for i, label in enumerate(labels):
        if labels.count(label) > 1:
            labels[i] = f"{label} ({names[i]})"
    return labels


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


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over up to ``window`` points (the first points average what exists)."""
    if window <= 1 or len(values) == 0:
        return values.astype(float)
    cumulative = np.cumsum(np.insert(values.astype(float), 0, 0.0))
    index = np.arange(1, len(values) + 1)
    start = np.maximum(index - window, 0)
    return (cumulative[index] - cumulative[start]) / (index - start)


def _scheduled_keys(records: list[dict[str, Any]]) -> list[str]:
    """Numeric scheduled fields (learning rates), which :func:`curve_keys` leaves out."""
    keys: dict[str, None] = {}
    for record in records:
        for key, value in record.items():
            if key.startswith("lr_") and _is_number(value):
                keys[key] = None
    return list(keys)


def _series(records: list[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    pairs = [
        (r["step"], r[key])
        for r in records
        if isinstance(r.get(key), (int, float)) and math.isfinite(float(r[key]))
    ]
    if not pairs:
        return np.array([]), np.array([])
    steps, values = zip(*pairs, strict=True)
    return np.asarray(steps, dtype=float), np.asarray(values, dtype=float)


# --- curves -------------------------------------------------------------------------------------


def plot_curves(
    runs: Sequence[str | Path],
    keys: Sequence[str] | None = None,
    *,
    window: int = 20,
    stacked: bool = False,
    title: str | None = None,
    x: str = "steps",
) -> Figure:
    """Learning curves of ``runs``: raw values faint, the moving average over ``window`` on top.

    Scheduled values (:func:`is_scheduled`: ``beta``, learning rates) are drawn as logged,
    unsmoothed. ``x`` puts steps, epochs or images seen on the horizontal axis
    (:func:`x_scale`), so runs with different batch sizes compare by data seen.

    ``keys`` default to the logged values whose names hold ``loss``, ``recon``, ``kl`` or
    ``elbo`` (all logged values if none do). Shared axes put all keys in one
    panel (colour per key for one run, per run for several, line style per key); ``stacked``
    gives each key its own panel, runs overlaid.
    """
    logs = [read_log(r) for r in runs]
    available: dict[str, None] = {}
    for records in logs:
        available.update(dict.fromkeys(curve_keys(records)))
    scales = [x_scale(r, x) for r in runs]
    if keys:
        for records in logs:  # learning rates are drawn when asked for by name
            available.update(dict.fromkeys(_scheduled_keys(records)))
        unknown = [k for k in keys if k not in available]
        if unknown:
            raise GentoolError(
                f"no run logs '{unknown[0]}'; the logs have: {', '.join(available) or 'nothing'}."
            )
        chosen = list(keys)
    else:
        chosen = [k for k in available if any(part in k for part in DEFAULT_CURVES)]
        chosen = chosen or list(available)
    if not chosen:
        raise GentoolError("the logs hold no numeric values to plot.")
    labels = run_labels(runs)
    several = len(runs) > 1
    panels = len(chosen) if stacked else 1
    figure, axes_grid = plt.subplots(
        panels, 1, sharex=True, figsize=(8, 2.6 * panels + 1.2 if stacked else 4.8), squeeze=False
    )
    axes = [row[0] for row in axes_grid]
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ["-", "--", ":", "-."]
    drawn: set[str] = set()
    for r, (records, label) in enumerate(zip(logs, labels, strict=True)):
        for k, key in enumerate(chosen):
            steps, values = _series(records, key)
            if len(steps) == 0:
                continue
            drawn.add(key)
            ax = axes[k] if stacked else axes[0]
            color = cycle[(r if (several or stacked) else k) % len(cycle)]
            style = "-" if stacked else styles[k % len(styles)] if several else "-"
            name = key if not several else label if stacked else f"{label}: {key}"
            steps = steps * scales[r][0]
            if is_scheduled(key):  # a schedule is exact: no faint raw line, no smoothing
                ax.plot(steps, values, color=color, linewidth=1.6, linestyle=style, label=name)
                continue
            ax.plot(steps, values, color=color, alpha=0.25, linewidth=0.8, linestyle=style)
            ax.plot(
                steps,
                moving_average(values, window),
                color=color,
                linewidth=1.6,
                linestyle=style,
                label=name,
            )
    if not drawn:
        plt.close(figure)
        raise GentoolError(
            f"nothing to plot: {', '.join(chosen)} has no finite logged value in these runs."
        )
    for k, ax in enumerate(axes):
        ax.set_ylabel(chosen[k] if stacked else "value (as logged)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", loc="best")
    axes[-1].set_xlabel(scales[0][1])
    scheduled = [k for k in chosen if is_scheduled(k)]
    figure.suptitle(
        title
        or f"Training curves (faint: raw; solid: moving average of {window} logged points"
        + (f"; {', '.join(scheduled)} as scheduled" if scheduled else "")
        + ")",
        fontsize="medium",
    )
    figure.tight_layout()
    return figure


# --- timeline -----------------------------------------------------------------------------------

_STEP_FILE = re.compile(r"step_(\d+)\.png$")


def sample_steps(run: str | Path) -> dict[int, Path]:
    """``{step: RUN/samples/step_XXXXXX.png}``, sorted by step."""
    folder = RunFolder(Path(run)).samples
    found = {}
    if folder.is_dir():
        for path in folder.iterdir():
            match = _STEP_FILE.search(path.name)
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
) -> Figure:
    """The run's fixed-noise sample grids at ``steps`` (or ``count`` evenly spread ones);
    for image2image and translation runs, the outputs for their fixed inputs.

    With ``row``, only that row of every grid: for image2image and translation runs one
    line ``input | output at each step | ground truth`` (the cycle's reconstruction for
    translation), for the others the row of fixed-noise samples at each step, one per line.
    """
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
    n = len(chosen)
    # More columns than panels is one full row, not a row padded with empty axes.
    columns = min(columns, n) if columns else (n if n <= 4 else 3 if n <= 6 else 4)
    rows = math.ceil(n / columns)
    figure, axes_grid = plt.subplots(
        rows, columns, figsize=(3.0 * columns, 3.2 * rows + 0.4), squeeze=False
    )
    for ax in axes_grid.flat:
        ax.axis("off")
    for ax, step in zip(axes_grid.flat, chosen, strict=False):
        try:
            array = _read_grid(files[step])
        except GentoolError:
            plt.close(figure)
            raise
        ax.imshow(array, interpolation="nearest")
        ax.set_title(f"step {step:,}", fontsize="medium")
    family = _family(_read_config(Path(run)))
    fixed_inputs = family is not None and family.GRID_COLUMNS is not None
    what = "outputs for fixed inputs" if fixed_inputs else "samples from fixed noise"
    figure.suptitle(f"{Path(run).resolve().name}: {what} during training")
    figure.tight_layout()
    return figure


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
        figure.suptitle(f"{name}: fixed input {row} during training")
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
