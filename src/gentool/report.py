"""``gentool report``: an experiment written up from its run folders.

One call writes ``report.md`` and ``report.html`` (static, no server) with the pictures beside
them in ``img/``:

* the settings of every run as one table, the settings that differ between runs first and
  marked;
* the learning curves, one figure per group of logged values (:func:`gentool.plotting.curve_group`
  where it exists: losses, D outputs, reconstruction and KL, schedules, metrics, ...), every
  run overlaid;
* per run, its last training sample grid (the family's own picture: samples, reconstructions,
  translations or upscales of fixed inputs), titled, and its timeline;
* one table of metrics: the results ``gentool evaluate`` logged at each run's checkpoint step
  are reused; what is missing is computed (and logged, so the next report reuses it), unless
  ``metrics=False``.

What takes time is the metrics (seconds to minutes per run, once); figures take about a second
each. Every file goes through an atomic write; ``img/`` files carry gentool's PNG mark and the
pages a first-line mark, so ``overwrite`` replaces and removes only a report gentool wrote.
"""

from __future__ import annotations

import html
import json
import math
import re
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from gentool.checkpoint import load_checkpoint
from gentool.checkpoint_schema import CheckpointMeta
from gentool.errors import GentoolError, OutputError
from gentool.fileio import atomic_write_text, remove_owned
from gentool.images import enlarge, save_pil, titled_panels
from gentool.images import written_by_gentool as png_is_gentools
from gentool.plotting import EVALUATION_INFO
from gentool.run_folder import RunFolder

#: The first line of ``report.md`` and ``report.html``: the proof that gentool wrote them.
MARK = "<!-- written by gentool report -->"
PAGES = ("report.md", "report.html")
IMG = "img"
#: Image names a report writes in ``img/``.
IMG_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*\.png$")
#: The shortest side a sample grid is shown at (small grids are enlarged, nearest neighbour).
MIN_GRID_SIDE = 360


@dataclass
class ReportRun:
    """One run of the report: its folder, checkpoint metadata, log and flattened settings."""

    path: Path
    name: str
    info: CheckpointMeta
    checkpoint: Path
    records: list[dict[str, Any]]
    settings: dict[str, Any]
    family: Any = None


@dataclass
class Report:
    """What goes on the pages, filled part by part."""

    runs: list[ReportRun]
    labels: list[str] = field(default_factory=list)
    curves: list[tuple[str, str]] = field(default_factory=list)  # (title, img name)
    constants: list[str] = field(default_factory=list)  # logged values that never changed
    missing: list[str] = field(default_factory=list)  # what could not be shown, and why
    grids: list[tuple[str, str, str]] = field(default_factory=list)  # run, caption, img
    timelines: list[tuple[str, str]] = field(default_factory=list)  # run, img
    metrics: dict[str, dict[str, float | None]] = field(default_factory=dict)
    metric_notes: list[tuple[str, str]] = field(default_factory=list)  # (run, note)
    key_help: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


# --- runs ------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "run"


def load_runs(paths: Sequence[str | Path]) -> list[ReportRun]:
    """The runs named by ``paths`` (run folders, or checkpoint files in them); one line for
    a path that is not a run, and for a run given twice."""
    from gentool.plotting import IGNORED_PREFIXES, IGNORED_SETTINGS, drop_inactive, flatten_config
    from gentool.plugins import get_family

    runs: list[ReportRun] = []
    seen: dict[Path, str] = {}
    for given in paths:
        folder, checkpoint = RunFolder.of(given)
        if not folder.path.is_dir():
            raise GentoolError(f"{given} is not a run folder.")
        key = folder.path.resolve()
        if key in seen:
            raise GentoolError(f"{given} is the same run as {seen[key]}; name each run once.")
        seen[key] = str(given)
        info = load_checkpoint(checkpoint).info
        records = folder.read_log().records
        config = _read_json(folder.config)
        settings = drop_inactive(flatten_config(config)) if config else {}
        settings = {
            k: v
            for k, v in settings.items()
            if k not in IGNORED_SETTINGS and not k.startswith(IGNORED_PREFIXES)
        }
        try:
            family = get_family(info.family) if info.family else None
        except GentoolError:
            family = None
        runs.append(
            ReportRun(folder.path, folder.path.name, info, checkpoint, records, settings, family)
        )
    names = [r.name for r in runs]
    for run in runs:  # two runs named alike (a/run, b/run): say where each is
        if names.count(run.name) > 1:
            run.name = str(run.path)
    return runs


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():  # missing, a folder, or a FIFO that would block the read
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _setting_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return "-" if value is None else str(value)


def settings_rows(runs: Sequence[ReportRun]) -> list[tuple[str, list[str], bool]]:
    """``(setting, value per run, differs)``: the settings that differ first, then the rest,
    each part in name order."""
    keys = sorted({k for r in runs for k in r.settings})
    rows = []
    for key in keys:
        values = [_setting_text(r.settings[key]) if key in r.settings else "-" for r in runs]
        rows.append((key, values, len(set(values)) > 1))
    return [r for r in rows if r[2]] + [r for r in rows if not r[2]]


# --- metrics ---------------------------------------------------------------------------------


def cached_metrics(run: ReportRun) -> dict[str, float | None]:
    """The values ``gentool evaluate`` logged at the checkpoint's step (later ones win)."""
    found: dict[str, float | None] = {}
    for record in run.records:
        if record.get("event") != "evaluate" or record.get("step") != run.info.step:
            continue
        for key, value in record.items():
            if key in EVALUATION_INFO:
                continue
            if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
                found[key] = None if value is None else float(value)
    return found


def _reported_by(name: str, keys: Sequence[str]) -> bool:
    from gentool.metrics.evaluate import get_metric

    metric = get_metric(name)
    return any(metric.describe(key) for key in keys)


def run_metrics(
    run: ReportRun,
    requested: list[str] | None,
    device: str,
    console: Console,
    *,
    every: bool = False,
    weights: dict[str, str | None] | None = None,
    num_samples: int | None = None,
) -> tuple[dict[str, float | None], list[str]]:
    """The run's metric values: cached ones reused, the rest computed and logged. ``requested``
    None: what ``evaluate`` would choose (cached results alone when there are any)."""
    from gentool.loading import model_from_checkpoint
    from gentool.metrics.evaluate import (
        EvaluationSettings,
        append_to_log,
        check_metric_names,
        evaluate_model,
        evaluation_data_spec,
    )
    from gentool.runtime import resolve_device

    cached = cached_metrics(run)
    reused = [f"logged by 'gentool evaluate' at step {run.info.step}, reused"]
    if requested is None and cached and not every:
        return cached, reused
    if requested is not None:
        check_metric_names(requested)
        missing = [name for name in requested if not _reported_by(name, list(cached))]
        if not missing:
            return cached, reused
    else:
        missing = None
    target = resolve_device(device)
    checkpoint = load_checkpoint(run.checkpoint)
    model = model_from_checkpoint(checkpoint).to(target).eval()
    spec = evaluation_data_spec(run.info, {}, model.config, "test")
    given = weights or {}
    settings = EvaluationSettings(
        metrics=missing,
        inception_weights=given.get("inception_weights"),
        lpips_weights=given.get("lpips_weights"),
    )
    if num_samples is not None:
        settings.num_samples = num_samples
    result = evaluate_model(model, run.info, spec, settings, run_dir=run.path, console=console)
    notes = list(result.notes)
    log = RunFolder(run.path).log
    if log.is_symlink():  # never written through a link out of the run
        notes.append(f"not logged: {log} is a symbolic link")
    else:
        append_to_log(run.path, result)
    values: dict[str, float | None] = dict(cached)
    values.update(
        {
            k: (float(v) if v is not None and math.isfinite(v) else None)
            for k, v in result.metrics.items()
        }
    )
    return values, notes


# --- the output folder -------------------------------------------------------------------------


def _is_report_page(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(MARK) + 1).decode("utf-8", "replace").startswith(MARK)
    except OSError:
        return False


def _shown_by(page: Path) -> set[str]:
    """The pictures a report page gentool wrote shows (``img/NAME``)."""
    if not page.is_file() or page.is_symlink() or not _is_report_page(page):
        return set()
    try:
        text = page.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    return {n for n in re.findall(r'src="img/([^"/]+)"', text) if IMG_NAME.match(n)}


def previous_report(out: Path) -> list[Path]:
    """The files an earlier report wrote in ``out`` that are there now: its pages (and any
    file at their names) and the pictures its HTML page shows."""
    found = [out / name for name in PAGES if (out / name).exists() or (out / name).is_symlink()]
    img = out / IMG
    if img.is_dir() and not img.is_symlink():
        found += sorted(img / n for n in _shown_by(out / "report.html") if (img / n).exists())
    return found


def written_by_report(path: Path) -> bool:
    """The proof that a file in a report folder is gentool's: a page with the mark, or a
    marked PNG in ``img/`` that the earlier page shows (a user's own picture beside them, even
    one gentool drew, is not the report's)."""
    if path.is_symlink():
        return False
    if path.parent.name == IMG:
        shown = _shown_by(path.parent.parent / "report.html")
        return path.name in shown and png_is_gentools(path)
    return path.name in PAGES and _is_report_page(path)


def check_output(out: Path, overwrite: bool) -> None:
    """Before any work: ``out`` is a folder gentool may write the report into. An earlier
    report there is replaced only with ``overwrite``, and only when every file at a name the
    report writes is provably gentool's; nothing is written through a link."""
    for path in (out, out / IMG):
        if path.is_symlink():
            raise OutputError(
                f"{path} is a symbolic link; gentool writes a report only into a real folder: "
                "remove the link or choose another -o."
            )
        if path.exists() and not path.is_dir():
            raise OutputError(f"{path} is not a folder; choose another -o.")
    before = previous_report(out)
    if not before:
        return
    foreign = [p for p in before if not written_by_report(p)]
    if not overwrite and not foreign:
        raise OutputError(
            f"{out} already holds a report ({before[0].name}); pass --overwrite to replace it, "
            "or choose another -o."
        )
    if foreign:
        raise OutputError(
            f"{foreign[0]} is in the way and is not a file gentool's report wrote; gentool "
            "replaces only its own files: move it away, or choose another -o."
        )


# --- building ----------------------------------------------------------------------------------


@contextmanager
def _timed(report: Report, part: str, console: Console) -> Iterator[None]:
    console.print(f"report: {part} ...", highlight=False, markup=False)
    start = time.perf_counter()
    yield
    report.seconds[part] = report.seconds.get(part, 0.0) + time.perf_counter() - start


def constant_value(runs: Sequence[ReportRun], key: str) -> dict[str, float] | None:
    """``{run: value}`` when ``key`` never changed in any run that logs it (a fixed learning
    rate, beta without annealing): said in one line instead of drawn. None otherwise."""
    found: dict[str, float] = {}
    for run in runs:
        values = {
            r[key]
            for r in run.records
            if "event" not in r
            and isinstance(r.get(key), (int, float))
            and not isinstance(r.get(key), bool)
        }
        if len(values) > 1:
            return None
        if values:
            found[run.name] = float(values.pop())
    return found or None


def _constants(runs: Sequence[ReportRun]) -> list[str]:
    """``lr_generator 0.0002 (dcgan-ls, dcgan-bce)``: the logged values that never changed."""
    from gentool.plotting import curve_keys

    keys: dict[str, None] = {}
    for run in runs:
        keys.update(dict.fromkeys(curve_keys([r for r in run.records if "event" not in r])))
    lines = []
    for key in keys:
        values = constant_value(runs, key)
        if values is None or key in EVALUATION_INFO:
            continue
        by_value: dict[float, list[str]] = {}
        for name, value in values.items():
            by_value.setdefault(value, []).append(name)
        shown = "; ".join(f"{v:g} ({', '.join(names)})" for v, names in by_value.items())
        lines.append(f"{key}: {shown}")
    return lines


def _curve_groups(runs: Sequence[ReportRun]) -> list[tuple[str, list[str]]]:
    """``(group title, keys)`` of the logged curves, in the order ``plot curves`` draws its
    panels (:data:`gentool.plotting.CURVE_GROUPS`)."""
    from gentool.plotting import CURVE_GROUPS, curve_group, curve_keys

    keys: dict[str, None] = {}
    for run in runs:  # results of 'evaluate' are in the metrics table, not drawn as dots
        training = [r for r in run.records if "event" not in r]
        keys.update(dict.fromkeys(k for k in curve_keys(training) if k not in EVALUATION_INFO))
    groups: dict[str, list[str]] = {}
    for key in keys:
        if constant_value(runs, key) is None:
            groups.setdefault(curve_group(key), []).append(key)
    titles = {g.name: g.title for g in CURVE_GROUPS}
    order = [g.name for g in CURVE_GROUPS if g.name in groups]
    order += [g for g in groups if g not in order]
    return [(titles.get(g, g), groups[g]) for g in order]


#: What the extra grids a loop writes beside ``step_N.png`` show, by their prefix.
EXTRA_GRIDS = {"recon": "reconstructions (rows: input, then its reconstruction)"}


def _grid_caption(run: ReportRun) -> str:
    """What a run's training grid shows, as its family says (fixed noise, or the layout of
    its fixed inputs)."""
    from gentool.plotting import grid_layout

    family = run.family
    if family is None:
        return "the training's sample grid"
    layout = grid_layout(run.path, family)
    if layout is not None:
        blocks = "; ".join(f"{s.label}: {' | '.join(s.columns)}" for s in layout.sections)
        return f"fixed inputs, rows of {blocks}"
    if family.GRID_COLUMNS is not None:
        return f"fixed inputs, each row {' | '.join(family.GRID_COLUMNS)}"
    return "samples from the training's fixed noise"


def grid_steps(run: ReportRun) -> dict[int, Path]:
    """The run's training grids up to its checkpoint's step (none without ``samples/``)."""
    from gentool.plotting import sample_steps

    try:
        files = sample_steps(run.path)
    except GentoolError:  # no grids (trained with a sample interval past its last step)
        return {}
    return {k: v for k, v in files.items() if run.info.step is None or k <= run.info.step}


def _grid_picture(
    run: ReportRun, upto: dict[int, Path], img: Path, name: str, owned: set[Path]
) -> tuple[str, str]:
    """The run's last training sample grid of ``upto`` (and the grids its loop writes beside
    it, a VAE's reconstructions), titled, enlarged when small."""
    from PIL import Image

    step, path = max(upto.items())
    found = [("samples" if run.family is None or run.family.GRID_COLUMNS is None else "", path)]
    for prefix, what in EXTRA_GRIDS.items():
        beside = path.with_name(f"{prefix}_{path.name}")
        if beside.is_file() and not beside.is_symlink():
            found.append((what.split(" (")[0], beside))
    panels = []
    for title, grid_path in found:
        try:
            with Image.open(grid_path) as opened:
                grid = opened.convert("RGB" if opened.mode not in ("L", "RGB") else opened.mode)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise GentoolError(f"cannot read the sample grid {grid_path}: {exc}") from None
        factor = max(1, min(4, math.ceil(MIN_GRID_SIDE / max(1, min(grid.size)))))
        panels.append((title, enlarge(grid, factor)))
    heading = f"{run.name}: step {step}"
    if len(panels) == 1:
        picture = titled_panels([(heading, panels[0][1])], per_row=1)
    else:
        picture = titled_panels([(f"{heading}, {t}", g) for t, g in panels], per_row=len(panels))
    save_pil(picture, _free(img / name, owned))
    caption = f"{run.name}, step {step}: {_grid_caption(run)}"
    extra = [
        w for prefix, w in EXTRA_GRIDS.items() if any(p.name.startswith(prefix) for _, p in found)
    ]
    return caption + "".join(f"; {w}" for w in extra), name


def _save_figure(figure: Any, path: Path) -> Path:
    """A matplotlib figure as a PNG carrying gentool's mark (so ``overwrite`` may replace it),
    written atomically, the figure closed."""
    import matplotlib.pyplot as plt

    from gentool.fileio import atomic_write_with
    from gentool.images import PNG_MARK

    try:
        with warnings.catch_warnings():  # a name in a script the font lacks draws as a box
            warnings.filterwarnings("ignore", message="Glyph .* missing from")
            return atomic_write_with(
                path,
                lambda handle: figure.savefig(
                    handle, format="png", dpi=110, bbox_inches="tight", metadata=dict([PNG_MARK])
                ),
            )
    except (ValueError, RuntimeError) as exc:
        raise OutputError(f"could not draw {path}: {exc}") from None
    finally:
        plt.close(figure)


def _free(path: Path, owned: set[Path]) -> Path:
    """``path``, unless a file the report did not write is there: gentool replaces only its
    own files."""
    if (path.exists() or path.is_symlink()) and path not in owned:
        raise OutputError(
            f"{path} is in the way and is not a file gentool's report wrote; move it away, or "
            "choose another -o."
        )
    return path


def build_report(
    paths: Sequence[str | Path],
    out: str | Path,
    *,
    metrics: list[str] | None = None,
    every_metric: bool = False,
    compute_metrics: bool = True,
    overwrite: bool = False,
    device: str = "cpu",
    console: Console | None = None,
    title: str | None = None,
    weights: dict[str, str | None] | None = None,
    num_samples: int | None = None,
) -> Path:
    """Write the report of the runs at ``paths`` into ``out``; return ``out/report.html``.

    Everything that can refuse (the output folder, the runs, the metrics) does so before a
    file is written in ``out``."""
    from gentool.metrics.evaluate import check_metric_names, describe
    from gentool.plotting import choose_steps, plot_curves, plot_timeline, run_labels

    console = console or Console(stderr=True)
    out = Path(out)
    if metrics is not None:
        check_metric_names(metrics)
    check_output(out, overwrite)
    runs = load_runs(paths)
    report = Report(runs)
    if compute_metrics:
        with _timed(report, "metrics", console):
            for run in runs:
                try:
                    console.print(f"report: metrics of {run.name} ...", markup=False)
                    values, notes = run_metrics(
                        run,
                        metrics,
                        device,
                        console,
                        every=every_metric,
                        weights=weights,
                        num_samples=num_samples,
                    )
                except GentoolError as exc:
                    if metrics is not None:  # asked for by name: it runs or the report stops
                        raise GentoolError(f"{run.name}: {exc.message}") from None
                    values, notes = {}, [f"not measured: {exc.message}"]
                report.metrics[run.name] = values
                report.metric_notes += [(run.name, note) for note in notes]
            for key in {k for values in report.metrics.values() for k in values}:
                report.key_help[key] = describe(key)
    owned = {p for p in previous_report(out) if written_by_report(p)}
    out.mkdir(parents=True, exist_ok=True)
    img = out / IMG
    img.mkdir(exist_ok=True)
    written: set[Path] = set()
    report.labels = run_labels([r.path for r in runs]) if len(runs) > 1 else [runs[0].name]
    for run in runs:
        if not run.settings:
            report.missing.append(f"{run.name}: no readable config.json, so no settings shown")

    names = [r.name for r in runs]  # the legends name runs; the table of runs says what differs
    with _timed(report, "learning curves", console):
        for group, keys in _curve_groups(runs):
            name = f"curves-{_slug(group.split(':')[0].split('(')[0])}.png"
            # the panels carry the group's title; the figure's says how the lines are drawn
            figure = plot_curves([r.path for r in runs], keys, labels=names)
            written.add(_save_figure(figure, _free(img / name, owned)))
            report.curves.append((group, name))
        report.constants = _constants(runs)
        if not report.curves:
            report.missing.append("no learning curves: the runs' logs hold no changing value")
    with _timed(report, "sample grids and timelines", console):
        for index, run in enumerate(runs, start=1):
            slug = f"{index}-{_slug(run.name)}"
            upto = grid_steps(run)
            if not upto:
                report.missing.append(f"{run.name}: no sample grid in samples/")
                continue
            shown = _grid_picture(run, upto, img, f"grid-{slug}.png", owned)
            written.add(img / shown[1])
            report.grids.append((run.name, *shown))
            figure = plot_timeline(run.path, choose_steps(list(upto), 5))
            written.add(_save_figure(figure, _free(img / f"timeline-{slug}.png", owned)))
            report.timelines.append((run.name, f"timeline-{slug}.png"))
    with _timed(report, "pages", console):
        page = out / "report.html"
        md = _free(out / "report.md", owned)
        written.add(atomic_write_text(md, render_markdown(report, title)))
        written.add(atomic_write_text(_free(page, owned), render_html(report, title)))
    for stale in owned - written:  # pictures of an earlier report that this one has not
        remove_owned(stale, out, owned.__contains__)
    spent = ", ".join(f"{part} {seconds:.1f} s" for part, seconds in report.seconds.items())
    console.print(f"report: {spent}", highlight=False)
    return page


# --- pages -------------------------------------------------------------------------------------


def _title(report: Report, title: str | None) -> str:
    if title:
        return title
    names = [r.name for r in report.runs]
    return "Report: " + (", ".join(names) if len(names) <= 4 else f"{len(names)} runs")


def _number(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4g}"


def _grouped_notes(report: Report) -> list[str]:
    """Each note of the metrics once, naming the runs it is about ("a, b: fid left out ...")."""
    runs_of: dict[str, list[str]] = {}
    for run, note in report.metric_notes:
        runs_of.setdefault(note, []).append(run)
    every = len(report.runs) > 1
    return [
        note if every and len(runs) == len(report.runs) else f"{', '.join(runs)}: {note}"
        for note, runs in runs_of.items()
    ]


def _metric_columns(report: Report) -> list[str]:
    keys: dict[str, None] = {}
    for values in report.metrics.values():
        keys.update(dict.fromkeys(values))
    return list(keys)


def _runs_lines(report: Report) -> list[tuple[str, str, str]]:
    """``(run, what it is, label)`` for the table of runs."""
    rows = []
    for run, label in zip(report.runs, report.labels, strict=True):
        info = run.info
        what = info.model + (f" + {info.loss}" if info.loss else "")
        what += f" ({info.family or '?'}), step {info.step if info.step is not None else '?'}"
        rows.append((run.name, what, label))
    return rows


#: Characters Markdown would read as markup (links, emphasis, HTML, table cells, code).
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")


def _md_cell(text: str) -> str:
    """``text`` as literal Markdown, on one line (run names and settings may hold ``|``,
    ``<not used>``, ``[x](y)``, ...)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def render_markdown(report: Report, title: str | None = None) -> str:
    """``report.md``: the same content as the HTML page, for a README or a notebook."""
    lines = [MARK, f"# {_md_cell(_title(report, title))}", "", "## Runs", ""]
    lines += ["| run | model | label |", "| --- | --- | --- |"]
    lines += [
        f"| {_md_cell(a)} | {_md_cell(b)} | {_md_cell(c)} |" for a, b, c in _runs_lines(report)
    ]
    lines += ["", "## Settings", ""]
    rows = settings_rows(report.runs)
    if len(report.runs) > 1 and any(r[2] for r in rows):
        lines.append("Settings that differ between the runs come first, in **bold**.")
        lines.append("")
    head = ["| setting | " + " | ".join(_md_cell(r.name) for r in report.runs) + " |"]
    head.append("| --- |" + " --- |" * len(report.runs))

    def table(chosen: list[tuple[str, list[str], bool]]) -> list[str]:
        return head + [
            f"| {f'**{_md_cell(key)}**' if differs else _md_cell(key)} | "
            + " | ".join(_md_cell(v) for v in values)
            + " |"
            for key, values, differs in chosen
        ]

    differing = [r for r in rows if r[2]]
    shared = [r for r in rows if not r[2]]
    if differing:
        lines += table(differing)
    if shared:
        what = "settings shared by every run" if len(report.runs) > 1 else "settings"
        lines += ["", f"<details><summary>{len(shared)} {what}</summary>", ""]
        lines += [*table(shared), "", "</details>"]
    if report.metrics:
        lines += ["", "## Metrics", ""]
        runs = list(report.metrics)
        columns = _metric_columns(report)
        if columns:
            lines.append("| metric | " + " | ".join(_md_cell(r) for r in runs) + " | meaning |")
            lines.append("| --- |" + " ---: |" * len(runs) + " --- |")
            for key in columns:
                cells = [_number(report.metrics[r].get(key)) for r in runs]
                meaning = _md_cell(report.key_help.get(key, ""))
                lines.append(f"| `{key}` | " + " | ".join(cells) + f" | {meaning} |")
            lines.append("")
        lines += [f"* {_md_cell(note)}" for note in _grouped_notes(report)]
    if report.curves:
        lines += ["", "## Learning curves", ""]
        lines += [f"![{_md_cell(group)}]({IMG}/{name})" for group, name in report.curves]
    if report.constants:
        lines += ["", "Constant throughout (not drawn):", ""]
        lines += [
            f"* {_md_cell(line.split(':')[0])}: {_md_cell(line.split(':', 1)[1])}"
            for line in report.constants
        ]
    if report.grids:
        lines += ["", "## Samples", ""]
        for _, caption, name in report.grids:
            lines += [f"![{_md_cell(caption)}]({IMG}/{name})", "", f"*{_md_cell(caption)}*", ""]
    if report.timelines:
        lines += ["", "## Timelines", ""]
        lines += [f"![timeline of {_md_cell(run)}]({IMG}/{name})" for run, name in report.timelines]
    if report.missing:
        lines += ["", "## Not shown", ""]
        lines += [f"* {_md_cell(line)}" for line in report.missing]
    return "\n".join(lines).rstrip() + "\n"


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap;
         overflow-wrap: normal; }
tr.differs td, tr.differs th { background: #fff4cc; font-weight: 600; }
figure { margin: 1em 0; } figcaption { color: #555; font-size: 0.9em; }
.gallery { display: flex; flex-wrap: wrap; gap: 0 1.5em; align-items: flex-start; }
.gallery figure { max-width: 100%; } .gallery figcaption { max-width: 28em; }
img { max-width: 100%; height: auto; display: block; }
ul.notes { color: #555; font-size: 0.9em; }
summary { cursor: pointer; color: #444; margin: 0.6em 0; }
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def render_html(report: Report, title: str | None = None) -> str:
    """``report.html``: one static page, the pictures beside it in ``img/``."""
    heading = _title(report, title)
    parts = [
        MARK,
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(heading)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(heading)}</h1>",
        "<h2>Runs</h2>",
        '<div class="scroll"><table><tr><th>run</th><th>model</th><th>label</th></tr>',
    ]
    parts += [
        f"<tr><td>{_e(a)}</td><td>{_e(b)}</td><td>{_e(c)}</td></tr>"
        for a, b, c in _runs_lines(report)
    ]
    parts += ["</table></div>", "<h2>Settings</h2>"]
    if len(report.runs) > 1 and any(r[2] for r in settings_rows(report.runs)):
        parts.append("<p>Settings that differ between the runs come first, highlighted.</p>")
    rows = settings_rows(report.runs)
    header = "<tr><th>setting</th>" + "".join(f"<th>{_e(r.name)}</th>" for r in report.runs)
    differing = [r for r in rows if r[2]]
    shared = [r for r in rows if not r[2]]

    def table(chosen: list[tuple[str, list[str], bool]]) -> str:
        body = "".join(
            f"<tr{' class=differs' if differs else ''}><th>{_e(key)}</th>"
            + "".join(f"<td>{_e(v)}</td>" for v in values)
            + "</tr>"
            for key, values, differs in chosen
        )
        return f'<div class="scroll"><table>{header}</tr>{body}</table></div>'

    if differing:
        parts.append(table(differing))
    if shared:
        what = "settings shared by every run" if len(report.runs) > 1 else "settings"
        parts.append(
            f"<details{'' if differing else ' open'}><summary>{len(shared)} {what}</summary>"
            f"{table(shared)}</details>"
        )
    if report.metrics:
        parts.append("<h2>Metrics</h2>")
        runs = list(report.metrics)
        columns = _metric_columns(report)
        if columns:
            parts.append('<div class="scroll"><table class="metrics"><tr><th>metric</th>')
            parts += [f"<th>{_e(r)}</th>" for r in runs]
            parts.append("<th>meaning</th></tr>")
            for key in columns:
                cells = "".join(
                    f'<td class="num">{_number(report.metrics[r].get(key))}</td>' for r in runs
                )
                meaning = _e(report.key_help.get(key, ""))
                parts.append(f"<tr><th><code>{_e(key)}</code></th>{cells}<td>{meaning}</td></tr>")
            parts.append("</table></div>")
        notes = [f"<li>{_e(note)}</li>" for note in _grouped_notes(report)]
        if notes:
            parts.append('<ul class="notes">' + "".join(notes) + "</ul>")
    if report.curves:
        parts.append("<h2>Learning curves</h2>")
        parts += [
            f'<figure><img src="{IMG}/{_e(name)}" alt="{_e(group)}"></figure>'
            for group, name in report.curves
        ]
    if report.constants:
        items = "".join(
            f"<li><code>{_e(line.split(':')[0])}</code>:{_e(line.split(':', 1)[1])}</li>"
            for line in report.constants
        )
        parts.append(f'<p>Constant throughout (not drawn):</p><ul class="notes">{items}</ul>')
    if report.grids:
        parts.append('<h2>Samples</h2><div class="gallery">')
        parts += [
            f'<figure><img src="{IMG}/{_e(name)}" alt="{_e(caption)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>"
            for _, caption, name in report.grids
        ]
        parts.append("</div>")
    if report.timelines:
        parts.append("<h2>Timelines</h2>")
        parts += [
            f'<figure><img src="{IMG}/{_e(name)}" alt="timeline of {_e(run)}">'
            f"<figcaption>{_e(run)}: sample grids through training</figcaption></figure>"
            for run, name in report.timelines
        ]
    if report.missing:
        parts.append("<h2>Not shown</h2>")
        parts.append('<ul class="notes">' + "".join(f"<li>{_e(m)}</li>" for m in report.missing))
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
