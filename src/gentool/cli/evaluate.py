"""``gentool evaluate``: metrics of a checkpoint against data."""

from __future__ import annotations

from typing import Any

import click

from gentool.cli.options import (
    PathText,
    RunOrCheckpoint,
    data_options,
    device_option,
    seed_option,
)


@click.command(context_settings={"show_default": True})
@click.argument(
    "checkpoints", nargs=-1, required=True, metavar="CHECKPOINT...", type=RunOrCheckpoint()
)
@data_options(default_dataset=None, split="test")
@click.option(
    "--metrics", default=None, help="Comma list of metrics [default: all that apply to the model]."
)
@click.option(
    "-n",
    "--num-samples",
    type=click.IntRange(1),
    default=2000,
    help="Generated images to evaluate.",
)
@click.option(
    "--json",
    "json_path",
    type=PathText(dir_okay=False),
    default=None,
    help="Also write the results as JSON (several runs: an object keyed by run folder name).",
)
@click.option(
    "--hr-dir",
    type=PathText(),
    default=None,
    help="High-resolution images to evaluate an upscaler on.",
)
@click.option(
    "--input-kind",
    default=None,
    metavar="KIND",
    help="With --hr-dir: how the low-resolution inputs are made from the images: clean "
    "(antialiased bicubic, the papers' protocol; the default), noaa (bicubic without "
    "antialiasing), jpeg75, jpeg50, noise5, blur-noise-jpeg (see docs/upscale.md).",
)
@click.option(
    "--domain-a",
    type=PathText(),
    default=None,
    help="Translation models: domain A folder [default: the run's].",
)
@click.option(
    "--domain-b",
    type=PathText(),
    default=None,
    help="Translation models: domain B folder [default: the run's].",
)
@click.option(
    "--target-b",
    type=PathText(),
    default=None,
    help="Translation models: known B for the domain A images, same file names (metric paired).",
)
@click.option(
    "--target-a",
    type=PathText(),
    default=None,
    help="Translation models: known A for the domain B images, same file names (metric paired).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    default=100,
    help="Images per batch for sampling and feature extraction.",
)
@click.option(
    "--inception-weights",
    type=PathText(dir_okay=False),
    envvar="GENTOOL_INCEPTION_WEIGHTS",
    default=None,
    help="Inception weights for FID/KID/IS (weights-inception-2015-12-05-6726825d.pth); "
    "env GENTOOL_INCEPTION_WEIGHTS.",
)
@click.option(
    "--lpips-weights",
    type=PathText(dir_okay=False),
    envvar="GENTOOL_LPIPS_WEIGHTS",
    default=None,
    help="LPIPS AlexNet backbone (alexnet-owt-7be5be79.pth) [default: the torch hub cache]; "
    "env GENTOOL_LPIPS_WEIGHTS.",
)
@click.option(
    "--train-classifier",
    is_flag=True,
    help="Retrain the condition classifier (RUN/classifier.safetensors) even if one fits.",
)
@click.option(
    "--classifier-steps",
    type=click.IntRange(1),
    default=600,
    help="Training steps of the condition classifier.",
)
@click.option("--no-log", is_flag=True, help="Do not append the results to the run's log.jsonl.")
@click.option("--overwrite", is_flag=True, help="Replace output files that already exist.")
@device_option
@seed_option
@click.pass_obj
def evaluate(app: Any, checkpoints: tuple[str, ...], **kwargs: Any) -> None:
    """Compute metrics for CHECKPOINT against a dataset split (or --hr-dir for upscalers).

    Several CHECKPOINTs make one table with a row per run (named by its folder) and a
    "real data" row for the metrics with a real-data reference (diversity, label accuracy),
    turned on its side (a column per run) when it is wider than the terminal;
    --json then holds {"RUN": {...}, ...}. Every run is evaluated with the same settings
    and seed; a metric asked for by name must apply to every run.

    The data defaults to the run's own (saved in the checkpoint), at the model's resolution.
    Metrics: fid, kid, is (need --inception-weights), swd, prdc, diversity, labels
    (conditional models), recon (VAEs: MSE, PSNR, SSIM, and LPIPS with its weights); for
    translation models (cyclegan): cycle, diversity (outputs vs inputs) and paired (with
    --target-b/--target-a, against the identity map); metrics installed by plugins run
    too (gentool plugins --kind metric). Results
    go to the terminal, to --json, and to a line {"event": "evaluate", ...} in the run's
    log.jsonl. Upscalers are measured with --hr-dir DIR against bicubic, on inputs made
    as --input-kind says (CHECKPOINT 'default' is the default 4x model shipped with gentool;
    a shipped model's name, e.g. sr-fast, picks that one).

    Before any work: --json is refused if it exists (unless --overwrite) or cannot be
    written, the run's log.jsonl must be writable (or pass --no-log) and metric names must
    be known. Then, before any metric runs, they must apply to the model, and a metric
    asked for by name needs enough images (-n 2 or more for diversity, fid, kid, is; 6 for
    prdc; chosen by default, one with too few is left out with a note). An option that does not apply to the
    model or the metrics run (-n without a sampling metric, --inception-weights without
    fid/kid/is, --lpips-weights without recon, --classifier-steps without labels, data
    options with --hr-dir) is refused by name. Results are written atomically.

    \b
    Examples:
      gentool evaluate runs/dcgan-ls --metrics swd,diversity
      gentool evaluate runs/vae runs/dcgan --metrics swd,diversity --json vae-vs-gan.json
      gentool evaluate runs/sr                            # its test split, vs bicubic
      gentool evaluate runs/dcgan-ls --metrics fid,kid --inception-weights weights.pth
      gentool evaluate runs/vae --dataset folder --data-root faces/ --split test --json m.json
      gentool evaluate default --hr-dir photos/ --json sr.json
      gentool evaluate sr-fast --hr-dir photos/ --input-kind jpeg75
      gentool evaluate runs/cyclegan --domain-a faces/ --target-b faces-posterised/ --split all
    """
    from pathlib import Path

    from gentool.cli.common import check_seed
    from gentool.errors import GentoolError
    from gentool.metrics.evaluate import (
        append_to_log,
        check_lpips_weights,
        check_metric_names,
        parse_metric_list,
    )

    check_seed(kwargs["seed"])
    metrics = parse_metric_list(kwargs.pop("metrics"))
    if metrics is not None:
        check_metric_names(metrics)
    check_lpips_weights(kwargs.get("lpips_weights"))
    for checkpoint in checkpoints:
        _check_outputs(checkpoint, kwargs)
    hr_dir, input_kind = kwargs.pop("hr_dir"), kwargs.pop("input_kind")
    if input_kind is not None and not hr_dir:
        raise GentoolError("--input-kind applies only with --hr-dir; drop it.")
    if hr_dir:
        if len(checkpoints) > 1:
            raise GentoolError(
                "--hr-dir measures one upscaler; pass a single CHECKPOINT (or evaluate the "
                "runs without --hr-dir, each on its own test split)."
            )
        _evaluate_upscaler(app, checkpoints[0], hr_dir, metrics, kwargs, input_kind or "clean")
        return
    names = run_keys(checkpoints)
    json_path, no_log = kwargs.pop("json_path"), kwargs.pop("no_log")
    results: dict[str, tuple[str, Any]] = {}
    for name, checkpoint in zip(names, checkpoints, strict=True):
        if len(checkpoints) > 1:
            app.console.print(f"evaluating [bold]{name}[/bold] ({checkpoint})")
        try:
            results[name] = (checkpoint, _evaluate_one(app, checkpoint, metrics, dict(kwargs)))
        except GentoolError as exc:
            if len(checkpoints) == 1:
                raise
            raise GentoolError(f"run '{name}' ({checkpoint}): {exc.message}") from None
    if len(results) == 1:
        checkpoint, result = next(iter(results.values()))
        app.console.print(results_table(result, str(checkpoint)))
        for note in result.notes:
            app.console.print(f"[dim]{note}[/dim]")
        _write_json(app, json_path, result.record())
    else:
        app.console.print(
            comparison_table({k: r for k, (_, r) in results.items()}, app.console.width)
        )
        for name, (_, result) in results.items():
            for note in result.notes:
                app.console.print(f"[dim]{name}: {note}[/dim]")
        _write_json(app, json_path, {k: r.record() for k, (_, r) in results.items()})
    if not no_log:
        for checkpoint, result in results.values():
            path = Path(checkpoint)
            log = append_to_log(path if path.is_dir() else path.parent, result)
            app.console.print(f"appended the results to {log}")


def run_keys(checkpoints: tuple[str, ...]) -> list[str]:
    """Each run's name for tables and --json: its folder's name; runs whose folders share a
    name (two checkpoints of one run, runs/a/x and runs/b/x) are named by the path given."""
    from gentool.cli.common import run_name
    from gentool.errors import GentoolError

    names = [run_name(c) for c in checkpoints]
    keys = [n if names.count(n) == 1 else str(c) for n, c in zip(names, checkpoints, strict=True)]
    if len(set(keys)) != len(keys):
        twice = next(k for k in keys if keys.count(k) > 1)
        raise GentoolError(f"{twice} is given twice; name each run once.")
    return keys


def _evaluate_one(app: Any, checkpoint: str, metrics: Any, kwargs: dict[str, Any]) -> Any:
    """Evaluate one checkpoint (not an upscaler on --hr-dir) with the command's options."""
    from pathlib import Path

    from gentool.cli.common import load_model
    from gentool.errors import GentoolError
    from gentool.loading import load_data
    from gentool.metrics.evaluate import (
        EvaluationSettings,
        evaluate_model,
        evaluation_data_spec,
        family_of,
    )

    model, meta = load_model(checkpoint, kwargs.pop("device"))
    family = family_of(model)
    translates = family.can("translate")
    translation = {k: kwargs.pop(k) for k in ("domain_a", "domain_b", "target_b", "target_a")}
    data_root = kwargs.pop("data_root")
    if not translates and any(translation.values()):
        raise GentoolError(
            "--domain-a, --domain-b, --target-b and --target-a apply to translation models "
            f"(cyclegan), not '{model.PLUGIN_NAME}' ({family.PLUGIN_NAME})."
        )
    if translates:
        _refuse(
            (
                "num_samples",
                "inception_weights",
                "lpips_weights",
                "train_classifier",
                "classifier_steps",
                "labels",
                "label_column",
                "dataset",
            ),
            f"do(es) not apply to the translation model '{model.PLUGIN_NAME}' (its metrics "
            "run on the domain images); drop them.",
        )
        if data_root and translation["domain_a"]:
            raise GentoolError("pass --domain-a or --data-root, not both (they name the same).")
    overrides = {
        "name": kwargs.pop("dataset"),
        "root": translation["domain_a"] or data_root,
        "labels": kwargs.pop("labels"),
        "label_column": kwargs.pop("label_column"),
        "limit": kwargs.pop("limit"),
        "test_fraction": kwargs.pop("test_fraction"),
    }
    requested_size, requested_channels = kwargs.pop("image_size"), kwargs.pop("channels")
    spec = evaluation_data_spec(meta, overrides, model.config, kwargs.pop("split"))
    if requested_size and int(requested_size) != spec.image_size:
        raise GentoolError(
            f"the model makes {spec.image_size}x{spec.image_size} images; --image-size "
            f"{requested_size} cannot be compared with them."
        )
    if requested_channels and int(requested_channels) != spec.channels:
        raise GentoolError(
            f"the model makes {spec.channels}-channel images, not {requested_channels}."
        )
    settings = EvaluationSettings(
        metrics=metrics,
        num_samples=kwargs.pop("num_samples"),
        batch_size=kwargs.pop("batch_size"),
        seed=kwargs.pop("seed"),
        inception_weights=kwargs.pop("inception_weights"),
        lpips_weights=kwargs.pop("lpips_weights"),
        train_classifier=kwargs.pop("train_classifier"),
        classifier_steps=kwargs.pop("classifier_steps"),
        domain_b=translation["domain_b"],
        target_b=translation["target_b"],
        target_a=translation["target_a"],
    )
    path = Path(checkpoint)
    run_dir = path if path.is_dir() else path.parent
    data = None
    if not translates:  # a translation model's two domains are loaded by evaluate_model
        data = load_data(spec)
        _refuse_unused(model, data, settings)
    return evaluate_model(
        model, meta, spec, settings, run_dir=run_dir, console=app.console, data=data
    )


def _refuse(names: tuple[str, ...], why: str) -> None:
    from gentool.cli.common import given_options
    from gentool.errors import GentoolError

    given = given_options(names)
    if given:
        raise GentoolError(f"{', '.join(given)} {why}")


def _check_outputs(checkpoint: str, kwargs: dict[str, Any]) -> None:
    """--json and the run's log.jsonl, before any work."""
    from pathlib import Path

    from gentool.cli.common import refuse_writing_into_run
    from gentool.images import check_outputs
    from gentool.metrics.evaluate import check_log_writable

    json_path = kwargs.get("json_path")
    refuse_writing_into_run(checkpoint, {"--json": json_path})
    if json_path:
        check_outputs([json_path], kwargs["overwrite"])
    if kwargs.get("no_log") or checkpoint == "default":
        return
    path = Path(checkpoint)
    if not path.exists():
        return  # loading the checkpoint names the problem
    check_log_writable(path if path.is_dir() else path.parent)


def _refuse_unused(model: Any, data: Any, settings: Any) -> None:
    """Options that only some metrics read, refused by name when none of those run."""
    from gentool.metrics.evaluate import choose_metrics, unused_options

    chosen, _ = choose_metrics(settings.metrics, model, data, settings=settings)
    _refuse(
        tuple(unused_options(chosen, model)),
        f"do(es) not apply to the metrics run here ({', '.join(chosen)}); drop them or "
        "choose --metrics that use them.",
    )


def _write_json(app: Any, json_path: str | None, record: Any) -> None:
    from gentool.fileio import atomic_write_text, json_text

    if json_path:
        atomic_write_text(json_path, json_text(record, indent=2) + "\n")
        app.console.print(f"wrote {json_path}")


def results_table(result: Any, title: str) -> Any:
    """A rich table: metric, value, what it means."""
    from rich.table import Table

    from gentool.metrics.evaluate import describe

    info = result.info
    if "num_a" in info:  # a translation model
        heading = (
            f"{title}: step {info.get('step')}, {info['num_a']} A and {info['num_b']} B "
            f"images ({info['split']}) at {info['image_size']}px"
        )
    elif not info.get("num_generated"):  # no sampling metric ran (recon, sr, labels)
        heading = (
            f"{title}: step {info.get('step')}, {info['num_real']} {info['dataset']}/"
            f"{info['split']} images at {info['image_size']}px"
        )
    else:
        heading = (
            f"{title}: step {info.get('step')}, {info['num_generated']} generated vs "
            f"{info['num_real']} {info['dataset']}/{info['split']} images at {info['image_size']}px"
        )
    table = Table(title=heading)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("meaning")
    for key, value in result.metrics.items():
        table.add_row(key, f"{value:.4g}", describe(key))
    return table


#: Result keys that are a reference for another key's column: (suffix or prefix, row name).
REFERENCE_SUFFIX = "_real"
BASELINE_PREFIX = "bicubic_"


def comparison_table(results: dict[str, Any], width: int | None = None) -> Any:
    """One rich table for several runs: a row per run, a column per metric, and a row per
    reference (the real data of each dataset/split for ``*_real`` keys, bicubic for
    ``bicubic_*``) under the column of the metric it is the reference for.

    When that table is wider than ``width`` (the terminal), it is turned on its side (a row
    per metric, a column per run and reference), so no number is cut."""
    from rich.table import Table

    columns: list[str] = []
    references: dict[str, dict[str, float]] = {}
    for result in results.values():
        info = result.info
        real_row = (
            f"real data ({info.get('dataset')}/{info.get('split')}, {info.get('image_size')}px)"
        )
        for key, value in result.metrics.items():
            if key.endswith(REFERENCE_SUFFIX):
                references.setdefault(real_row, {}).setdefault(key[: -len(REFERENCE_SUFFIX)], value)
            elif key.startswith(BASELINE_PREFIX):
                references.setdefault("bicubic (baseline)", {}).setdefault(
                    key[len(BASELINE_PREFIX) :], value
                )
            elif key not in columns:
                columns.append(key)
    steps = {name: r.info.get("step") for name, r in results.items()}
    rows = {name: [_cell(r.metrics.get(key)) for key in columns] for name, r in results.items()}
    rows.update({name: [_cell(v.get(key)) for key in columns] for name, v in references.items()})
    needed = (
        max(len(n) for n in rows)
        + 4
        + sum(
            max(len(key), *(len(cells[i]) for cells in rows.values())) + 3
            for i, key in enumerate(columns)
        )
    )
    if width is not None and needed > width:
        sideways = Table(
            title=f"{len(results)} runs: " + ", ".join(f"{n} (step {s})" for n, s in steps.items())
        )
        sideways.add_column("metric")
        for name in rows:
            sideways.add_column(name if name in results else f"[dim]{name}[/dim]", justify="right")
        for i, key in enumerate(columns):
            sideways.add_row(key, *(cells[i] for cells in rows.values()))
        return sideways
    table = Table(
        title=f"{len(results)} runs: " + ", ".join(f"{n} (step {s})" for n, s in steps.items())
    )
    table.add_column("run")
    for key in columns:
        table.add_column(key, justify="right")
    for name, result in results.items():
        table.add_row(name, *(_cell(result.metrics.get(key)) for key in columns))
    for name, values in references.items():
        table.add_row(f"[dim]{name}[/dim]", *(_cell(values.get(key)) for key in columns))
    return table


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _evaluate_upscaler(
    app: Any,
    checkpoint: str,
    hr_dir: str,
    metrics: Any,
    kwargs: dict[str, Any],
    input_kind: str = "clean",
) -> None:
    """``--hr-dir``: PSNR-Y, SSIM-Y, MSE, LPIPS of an upscaler and of bicubic on HR images
    made into inputs of ``input_kind``. CHECKPOINT may be ``default`` or a shipped name."""
    from pathlib import Path

    from rich.table import Table

    from gentool.data.degrade import INPUT_KINDS, check_input_kind
    from gentool.data.folder import list_images
    from gentool.errors import GentoolError
    from gentool.metrics.evaluate import append_record
    from gentool.metrics.image_quality import evaluate_upscaler
    from gentool.metrics.sr import SuperResolution
    from gentool.shipped import SHIPPED_MODELS
    from gentool.upscale import load_upscaler

    check_input_kind(input_kind)
    if metrics is not None:
        raise GentoolError("--metrics does not apply with --hr-dir (all image metrics run).")
    _refuse(
        (
            "dataset",
            "data_root",
            "labels",
            "label_column",
            "image_size",
            "channels",
            "limit",
            "split",
            "test_fraction",
            "num_samples",
            "batch_size",
            "seed",
            "inception_weights",
            "train_classifier",
            "classifier_steps",
            "domain_a",
            "domain_b",
            "target_a",
            "target_b",
        ),
        "do(es) not apply with --hr-dir (the upscaler is measured on the --hr-dir images); "
        "drop them.",
    )
    if not Path(hr_dir).is_dir():
        raise GentoolError(f"--hr-dir {hr_dir} is not a folder of high-resolution images.")
    folder = Path(hr_dir).resolve()
    paths = [folder / name for name in list_images(folder)]
    if not paths:
        raise GentoolError(f"no images in {hr_dir}.")
    shipped = checkpoint == "default" or checkpoint in SHIPPED_MODELS
    model = load_upscaler(
        None if shipped else checkpoint,
        kwargs["device"],
        checkpoint if checkpoint in SHIPPED_MODELS else None,
    )
    device = str(next(model.parameters()).device)
    result = evaluate_upscaler(
        model,
        paths,
        scale=model.scale,
        device=device,
        lpips_weights=kwargs["lpips_weights"],
        input_kind=input_kind,
    )
    means = result["mean"]
    table = Table(
        title=f"{checkpoint}: {len(result['rows'])} images from {hr_dir}, {result['scale']}x "
        f"(input: {INPUT_KINDS[input_kind][0]}, then upscaled)"
    )
    table.add_column("metric")
    table.add_column("model", justify="right")
    table.add_column(result["baseline"], justify="right")
    table.add_column("meaning")
    for key, value in means["model"].items():
        table.add_row(
            key, f"{value:.4g}", f"{means['baseline'][key]:.4g}", SuperResolution.measure(key)
        )
    app.console.print(table)
    for skipped in result["skipped"]:
        app.console.print(f"[yellow]skipped {skipped['file']}: {skipped['reason']}[/yellow]")
    if result["lpips"]:
        app.console.print(f"[dim]lpips left out: {result['lpips']}[/dim]")
    _write_json(app, kwargs.get("json_path"), result)
    path = Path(checkpoint)
    if not shipped and not kwargs.get("no_log"):
        run_dir = path if path.is_dir() else path.parent
        record = {"event": "evaluate", "hr_dir": str(hr_dir), "images": len(result["rows"])}
        record["input_kind"] = input_kind
        record.update({f"{k}": v for k, v in means["model"].items()})
        record.update({f"{result['baseline']}_{k}": v for k, v in means["baseline"].items()})
        log = append_record(run_dir, record)
        app.console.print(f"appended the results to {log}")
