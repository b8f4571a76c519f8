"""``gentool report``: an experiment written up from its runs (:mod:`gentool.report`)."""

from __future__ import annotations

from typing import Any

import click

from gentool.cli.options import PathText, RunOrCheckpoint, device_option


@click.command()
@click.argument("runs", nargs=-1, required=True, type=RunOrCheckpoint())
@click.option(
    "-o",
    "--out",
    type=PathText(file_okay=False),
    default="report",
    show_default=True,
    help="Folder to write report.md, report.html and img/ into; an earlier report there "
    "needs --overwrite.",
)
@click.option(
    "--metrics",
    default=None,
    help="Comma list of metrics to show (computed where the runs' logs lack them) "
    "[default: what 'gentool evaluate' logged at each run's step, else what it would compute].",
)
@click.option("--no-metrics", is_flag=True, help="Leave the metrics table out (nothing computed).")
@click.option(
    "-n",
    "--num-samples",
    type=click.IntRange(1),
    default=None,
    help="Images each generating run draws for the metrics it computes [default: 2000, as "
    "'gentool evaluate'; fewer is faster and noisier].",
)
@click.option("--title", default=None, help="Title of the report [default: the runs' names].")
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace an earlier report in --out (only files a gentool report wrote).",
)
@click.option(
    "--inception-weights",
    type=PathText(exists=True, dir_okay=False),
    default=None,
    help="Inception weights for FID, KID and IS (as 'gentool evaluate' takes them).",
)
@click.option(
    "--lpips-weights",
    type=PathText(exists=True, dir_okay=False),
    default=None,
    help="LPIPS backbone weights (as 'gentool evaluate' takes them).",
)
@device_option
@click.pass_obj
def report(
    app: Any,
    runs: tuple[str, ...],
    out: str,
    metrics: str | None,
    no_metrics: bool,
    title: str | None,
    overwrite: bool,
    inception_weights: str | None,
    lpips_weights: str | None,
    device: str,
    num_samples: int | None,
) -> None:
    """Write a report of one or more RUNS: settings, curves, samples, timelines, metrics.

    report.md and report.html (a static page; the pictures lie beside it in img/) hold the
    settings of every run in one table (those that differ first, highlighted), the learning
    curves grouped by what they measure (one figure per group, runs overlaid), each run's
    last training sample grid and its timeline, and one table of metrics. Runs of different
    families mix. Metrics 'gentool evaluate' logged at a run's checkpoint step are reused;
    the others are computed once and logged, so re-running the report after each training
    is quick.

    \b
    Examples:
      gentool report runs/dcgan-ls runs/dcgan-bce -o report/
      gentool report runs/vae-* --metrics swd --overwrite
      gentool report runs/cyclegan --no-metrics
    """
    from gentool.cli.common import one_line
    from gentool.errors import GentoolError
    from gentool.metrics.evaluate import parse_metric_list
    from gentool.report import build_report

    if no_metrics and metrics is not None:
        raise GentoolError("--metrics and --no-metrics contradict each other; pass one.")
    if title is not None:
        if not title.strip():
            raise GentoolError("--title is empty; pass some text, or leave it out.")
        title = one_line(title.strip(), "--title")
    weights = {"inception_weights": inception_weights, "lpips_weights": lpips_weights}
    if no_metrics and (any(weights.values()) or num_samples is not None):
        raise GentoolError(
            "-n, --inception-weights and --lpips-weights serve the metrics; drop them with "
            "--no-metrics."
        )
    page = build_report(
        runs,
        out,
        metrics=parse_metric_list(metrics),
        every_metric=metrics is not None and metrics.strip().lower() == "all",
        weights=weights,
        num_samples=num_samples,
        compute_metrics=not no_metrics,
        overwrite=overwrite,
        device=device,
        console=app.console,
        title=title,
    )
    app.console.print(f"wrote {page} (and report.md, img/)", markup=False)
