"""``gentool plot``: learning curves, training timelines, latent maps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gentool.cli.options import (
    FiniteFloat,
    PathText,
    RunOrCheckpoint,
    data_options,
    device_option,
    seed_option,
)


def _output_option(default: str) -> Any:
    def decorate(f: Any) -> Any:
        f = click.option(
            "--overwrite", is_flag=True, help="Replace output files that already exist."
        )(f)
        return click.option(
            "-o",
            "--output",
            default=default,
            show_default=True,
            help="Image to write (.png, .svg, .pdf); an existing file needs --overwrite.",
        )(f)

    return decorate


def _check_output(output: str, overwrite: bool) -> None:
    """The figure's extension, an existing file, an unwritable place: before any work."""
    from gentool.images import check_outputs
    from gentool.plotting import figure_format

    check_outputs([output], overwrite)
    figure_format(output)


@click.group()
def plot() -> None:
    """Pictures of training runs and models (PNG by default; SVG/PDF by extension).

    The output is checked before any work: an existing file is refused unless --overwrite
    is given, and it is written atomically.
    """


@plot.command()
@click.argument("runs", nargs=-1, required=True, type=PathText(exists=True))
@_output_option("curves.png")
@click.option(
    "--keys",
    default=None,
    help="Comma list of logged values to draw, still in panels by what they measure "
    "[default: every logged value]. Example: --keys loss_d,loss_g",
)
@click.option(
    "--window",
    type=click.IntRange(1),
    default=20,
    help="Smoothing span in logged points: an exponential moving average, "
    "alpha = 2/(window+1), bias-corrected as in TensorBoard; 1 = no smoothing [default: 20, "
    "at most a tenth of a run's points; a window given is used as it is].",
)
@click.option("--stacked", is_flag=True, help="One panel per key instead of panels by group.")
@click.option("--title", default=None, help="Figure title.")
@click.option(
    "--x",
    "x_axis",
    type=click.Choice(["steps", "epochs", "images"]),
    default="steps",
    show_default=True,
    help="Horizontal axis: training steps, epochs, or images seen (step x the run's batch "
    "size); compare runs with different batch sizes by epochs or images.",
)
@click.pass_obj
def curves(
    app: Any,
    runs: tuple[str, ...],
    output: str,
    keys: str | None,
    window: int,
    stacked: bool,
    title: str | None,
    x_axis: str,
    overwrite: bool,
) -> None:
    """Learning curves of one or more RUNS (folders with log.jsonl), overlaid.

    Every logged value is drawn, in panels of one column by what it measures: losses,
    discriminator outputs, ELBO, reconstruction and KL, metrics (also the values 'gentool
    evaluate' appended, as dots), gradient norms, schedules, other. A value too small to
    read beside the others of its group (KL beside the reconstruction term) gets a panel of
    its own. Raw values are drawn faint under a bias-corrected exponential moving average;
    scheduled values (beta, lr_*) as set.

    Several runs get a colour each, named by the settings that differ in their config.json
    (loss=ls vs loss=bce, loss.a=-1 vs loss.a=0; settings of a feature a run has switched
    off, such as kl_warmup without KL annealing, are left out of its label). Lines of a
    log.jsonl that cannot be used (not UTF-8, not JSON, cut short by a crash) are skipped
    with one warning naming the file and the first such line; a log with no usable line is
    an error.

    \b
    Examples:
      gentool plot curves runs/vae -o curves.png
      gentool plot curves runs/dcgan-ls runs/dcgan-bce -o compare.svg
      gentool plot curves runs/dcgan-ls runs/dcgan-bce --keys loss_d,loss_g --stacked
      gentool plot curves runs/vae --keys recon,kl --window 50
      gentool plot curves runs/bs32 runs/bs128 --x images --keys loss_g
    """
    from gentool.cli.common import given_options
    from gentool.errors import GentoolError
    from gentool.plotting import ExactWindow, plot_curves, run_labels, save_figure

    _check_output(output, overwrite)
    chosen = None
    if keys is not None:
        chosen = list(dict.fromkeys(k.strip() for k in keys.split(",") if k.strip()))
        if not chosen:
            raise GentoolError(f"--keys {keys!r} names no logged value; e.g. --keys loss_d,loss_g.")
    if given_options(("window",)):  # the user's window is used as it is
        window = ExactWindow(window)
    figure = plot_curves(runs, chosen, window=window, stacked=stacked, title=title, x=x_axis)
    path = save_figure(figure, output)
    if len(runs) > 1:
        for run, label in zip(runs, run_labels(runs), strict=True):
            app.console.print(f"  {run}: {label}", markup=False)
    app.console.print(f"wrote {path}", markup=False)


@plot.command()
@click.argument("run", type=PathText(exists=True, file_okay=False))
@_output_option("timeline.png")
@click.option(
    "--steps",
    default=None,
    help="Comma list of steps to show [default: --count evenly spread]. "
    "Example: --steps 0,500,1000",
)
@click.option(
    "--count",
    type=click.IntRange(1),
    default=6,
    show_default=True,
    help="How many steps to show when --steps is not given.",
)
@click.option("--columns", type=click.IntRange(1), default=None, help="Panels per row.")
@click.option(
    "-n",
    "--num",
    "num",
    type=click.IntRange(1, 1024),
    default=None,
    help="Draw N new samples at each step from the weights the run kept (train --keep-every), "
    "the same noise at every step, instead of showing its training grids.",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**63 - 1),
    default=0,
    show_default=True,
    help="With -n: the seed of the noise drawn at every step.",
)
@click.option(
    "--row",
    type=click.IntRange(0),
    default=None,
    help="Only this row of the grids (0 = top): for an upscaler, input | output at each step "
    "| ground truth in one line. Example: --row 0 --count 5",
)
@click.pass_obj
def timeline(
    app: Any,
    run: str,
    output: str,
    steps: str | None,
    count: int,
    columns: int | None,
    row: int | None,
    overwrite: bool,
    num: int | None,
    seed: int,
) -> None:
    """The fixed-noise sample grids of RUN (samples/step_*.png) side by side, by step
    (image2image and translation runs: the outputs for their fixed inputs).

    With -n N, the grids are drawn again: N samples at each step the run kept weights of
    (train --keep-every, and its checkpoint), from the same noise (--seed) every time.

    Grids whose family names their rows and columns are labelled: for a translation run,
    the columns (input, translated, translated back) under each grid, each block of rows by
    its domain (A: horses, B: zebras) at the left, and one line under the figure saying what
    each block's columns are (A (input) | A→B | A→B→A). With --row, the panels are headed
    by that row's block (B (input) ... B→A→B).

    \b
    Examples:
      gentool plot timeline runs/dcgan-ls -o timeline.png
      gentool plot timeline runs/dcgan-ls --steps 0,500,1000,2000,4000,8000
      gentool plot timeline runs/sr-faces --row 0 --count 5   # one fixed input over training
      gentool plot timeline runs/cyclegan --count 4            # labelled A and B rows
      gentool plot timeline runs/dcgan-ls -n 36 --count 5       # kept steps, 36 samples each
    """
    from gentool.cli.common import given_options
    from gentool.errors import GentoolError
    from gentool.plotting import plot_timeline, save_figure
    from gentool.run_folder import RunFolder

    if Path(output).resolve().parent == RunFolder(Path(run)).samples.resolve():
        raise GentoolError(
            f"-o {output} is in {run}/samples, where the grids this timeline is drawn from "
            "live; write it elsewhere."
        )
    _check_output(output, overwrite)
    chosen = None
    if steps is not None:
        if given_options(("count",)):
            raise GentoolError("pass --steps or --count, not both.")
        try:
            chosen = sorted({int(s) for s in steps.split(",") if s.strip()})
        except ValueError:
            raise GentoolError(
                f"--steps must be integers separated by commas, not '{steps}'."
            ) from None
        if not chosen:
            raise GentoolError(f"--steps {steps!r} names no step; e.g. --steps 0,500,1000.")
    if row is not None and given_options(("columns",)):
        raise GentoolError("--columns lays out whole grids; with --row the layout is one line.")
    if num is None and given_options(("seed",)):
        raise GentoolError("--seed seeds the samples -n draws; pass -n N with it, or drop it.")
    redraw = (num, seed) if num is not None else None
    figure = plot_timeline(run, chosen, count=count, columns=columns, row=row, redraw=redraw)
    app.console.print(f"wrote {save_figure(figure, output)}", markup=False)


@plot.command()
@click.argument("checkpoint", type=RunOrCheckpoint())
@data_options(default_dataset=None, split="test")
@_output_option("tsne.png")
@click.option(
    "--color-by",
    default=None,
    help="Colour points by 'label' or an attribute of the labels CSV [default: label if any]. "
    "Example: --color-by hair",
)
@click.option(
    "--max-points",
    type=click.IntRange(5),
    default=2000,
    show_default=True,
    help="Encode at most this many images (a random, seeded subset).",
)
@click.option(
    "--perplexity",
    type=FiniteFloat(1.0),
    default=30.0,
    show_default=True,
    help="t-SNE perplexity.",
)
@click.option(
    "--drop-unknown/--keep-unknown",
    default=True,
    show_default=True,
    help="Leave out images with no value for --color-by (before sampling --max-points), or "
    "draw them as hollow grey circles.",
)
@device_option
@seed_option
@click.pass_obj
def tsne(app: Any, checkpoint: str, output: str, overwrite: bool, **kwargs: Any) -> None:
    """A t-SNE map of a VAE's latent means over a dataset split, coloured by label/attribute.

    The data defaults to the run's own (saved in the checkpoint), at the model's resolution
    and channels (a different --image-size or --channels is refused). With fewer images
    than the perplexity needs it is lowered, and a note says so. Groups named by colour
    words (hair blue, black, blond, ...) are drawn in those colours, others with a
    qualitative colormap; images without a value are left out unless --keep-unknown.

    \b
    Examples:
      gentool plot tsne runs/vae -o latent.png
      gentool plot tsne runs/vae-faces --color-by hair --max-points 1500
    """
    import torch

    from gentool.cli.common import check_seed, load_model
    from gentool.errors import GentoolError
    from gentool.loading import load_data
    from gentool.metrics.evaluate import evaluation_data_spec
    from gentool.plotting import latent_means, plot_latent_tsne, save_figure, tsne_embedding

    check_seed(kwargs["seed"])
    _check_output(output, overwrite)
    model, meta = load_model(checkpoint, kwargs.pop("device"))
    if not callable(getattr(model, "encode", None)):
        raise GentoolError(
            f"'plot tsne' needs a model with an encoder (a VAE); '{model.PLUGIN_NAME}' "
            f"({model.FAMILY}) has none."
        )
    overrides = {
        "name": kwargs.pop("dataset"),
        "root": kwargs.pop("data_root"),
        "labels": kwargs.pop("labels"),
        "label_column": kwargs.pop("label_column"),
        "limit": kwargs.pop("limit"),
        "test_fraction": kwargs.pop("test_fraction"),
    }
    spec = evaluation_data_spec(meta, overrides, model.config, kwargs.pop("split"))
    for name in ("image_size", "channels"):
        asked, built = kwargs.pop(name), getattr(spec, name)
        if asked is not None and int(asked) != built:
            raise GentoolError(
                f"the model was trained at {name.replace('_', ' ')} {built}, not {asked}; "
                f"drop --{name.replace('_', '-')}."
            )
    data = load_data(spec)
    seed = kwargs.pop("seed")
    color_by = kwargs.pop("color_by")
    max_points = kwargs.pop("max_points")
    groups, names, color_by = _grouping(data, color_by)
    candidates = torch.arange(len(data))
    if kwargs.pop("drop_unknown") and groups is not None and bool((groups < 0).any()):
        candidates = torch.nonzero(groups >= 0).flatten()
        app.console.print(
            f"left out {len(data) - len(candidates)} of {len(data)} images with no "
            f"{color_by} (--keep-unknown draws them)"
        )
        if len(candidates) < 5:
            raise GentoolError(
                f"only {len(candidates)} images have a {color_by}; t-SNE needs 5 "
                "(pass --keep-unknown or other data)."
            )
    index = candidates
    if len(candidates) > max_points:
        pick = torch.randperm(len(candidates), generator=torch.Generator().manual_seed(seed))
        index = candidates[pick[:max_points]].sort().values
        app.console.print(
            f"capped to {max_points} of {len(candidates)} images (random, seed {seed}); "
            "raise --max-points to show more"
        )
    latents = latent_means(model, data.images[index])
    perplexity = kwargs.pop("perplexity")
    usable = (len(index) - 1) / 3
    if perplexity > usable and len(index) >= 5:
        app.console.print(
            f"perplexity lowered from {perplexity:g} to {usable:g}: {len(index)} points allow "
            "at most (N - 1) / 3"
        )
    embedding = tsne_embedding(latents, seed=seed, perplexity=perplexity)
    figure = plot_latent_tsne(
        embedding,
        None if groups is None else groups[index].numpy(),
        names,
        color_by=color_by,
        title=f"t-SNE of {model.PLUGIN_NAME} latent means: {len(index)} {spec.name}/"
        f"{spec.split} images",
    )
    app.console.print(f"wrote {save_figure(figure, output)}", markup=False)


@plot.command()
@data_options(default_dataset="digits", split="train")
@click.option(
    "-o",
    "--output",
    default="augment.png",
    show_default=True,
    help="Grid image to write (.png, .jpg, ... by extension); an existing file needs --overwrite.",
)
@click.option("--overwrite", is_flag=True, help="Replace output files that already exist.")
@click.option(
    "--train-opt",
    "train_opts",
    multiple=True,
    metavar="KEY=VALUE",
    help="The augmentation as given to gentool train: augment=flip,crop,rotate,color and/or "
    "diffaugment=color,translation,cutout. Repeatable.",
)
@click.option(
    "-n",
    "--num",
    "n",
    type=click.IntRange(1, 256),
    default=8,
    show_default=True,
    help="Real images to show (one column each).",
)
@click.option(
    "--repeats",
    type=click.IntRange(1, 32),
    default=3,
    show_default=True,
    help="Augmented draws of the same images (one row each, below the originals).",
)
@click.option(
    "--upscale",
    type=click.IntRange(1, 16),
    default=1,
    show_default=True,
    help="Enlarge the grid K times, nearest neighbour.",
)
@seed_option
@click.pass_obj
def augment(app: Any, output: str, overwrite: bool, **kwargs: Any) -> None:
    """Real images of a dataset as the GAN training loop sees them with an augmentation.

    The first row holds -n images of the split as loaded (at --image-size); each further row
    the same images after the chosen augmentation (gentool.training.augment, the functions
    the loop calls), a fresh random draw per row. augment= is applied to real images;
    diffaugment= to real and generated images each time D sees them (shown here on the
    real ones), after augment= when both are given.

    \b
    Examples:
      gentool plot augment --dataset digits --train-opt augment=crop,rotate -o aug.png
      gentool plot augment --dataset folder --data-root faces/ --train-opt augment=flip,crop
      gentool plot augment --train-opt diffaugment=translation,cutout --upscale 3
    """
    import torch

    from gentool.cli.common import check_seed
    from gentool.cli.options import data_spec_from
    from gentool.config import parse_key_values
    from gentool.data.base import to_float
    from gentool.errors import GentoolError
    from gentool.images import check_outputs, save_grid
    from gentool.loading import load_data
    from gentool.training.augment import classic_augmentation, diff_augmentation

    seed = check_seed(kwargs.pop("seed"))
    check_outputs([output], overwrite, images=True)
    options = parse_key_values(kwargs.pop("train_opts"), "--train-opt")
    unknown = sorted(set(options) - {"augment", "diffaugment"})
    if unknown:
        raise GentoolError(
            f"--train-opt {unknown[0]} is not an augmentation; plot augment takes "
            "augment=... and diffaugment=...."
        )
    if not options:
        raise GentoolError(
            "name the augmentation to show: --train-opt augment=flip,crop (or diffaugment=...)."
        )
    steps = []
    classic = classic_augmentation(options.get("augment"))
    diff = diff_augmentation(options.get("diffaugment"))
    if classic is not None:
        steps.append(classic)
    if diff is not None:
        steps.append(diff)
    if not steps:
        raise GentoolError("the --train-opt values name no augmentation; e.g. augment=flip,crop.")
    n, repeats, upscale = kwargs.pop("n"), kwargs.pop("repeats"), kwargs.pop("upscale")
    data = load_data(data_spec_from(kwargs, split="train"))
    if len(data) == 0:
        raise GentoolError("the split holds no images.")
    pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    real = to_float(data.images[pick.sort().values])
    torch.manual_seed(seed)  # the augmentations draw from the global generator, as in training
    rows = [real]
    with torch.no_grad():
        for _ in range(repeats):
            x = real
            for function in steps:
                x = function(x)
            rows.append(x.clamp(-1, 1))
    described = ", ".join(f"{k}={v}" for k, v in options.items())
    labels = ["original"] + [f"draw {i + 1}" for i in range(repeats)]
    save_grid(torch.cat(rows), output, nrow=len(real), row_labels=labels, upscale=upscale)
    app.console.print(
        f"wrote {len(real)} {data.name} images and {repeats} augmented draws ({described}) "
        f"to {output}"
    )


def _grouping(data: Any, color_by: str | None) -> tuple[Any, list[str], str]:
    """The per-image group indices, group names and their title for ``--color-by``."""
    from gentool.errors import GentoolError

    if color_by in (None, "label") and data.labels is not None and data.class_names:
        return data.labels, list(data.class_names), "label"
    if color_by is None:
        if data.attributes:
            name = next(iter(data.attributes))
            return data.attributes[name], list(data.attribute_names[name]), name
        return None, [], ""
    if color_by in data.attributes:
        return data.attributes[color_by], list(data.attribute_names[color_by]), color_by
    known = ["label"] * (data.labels is not None) + list(data.attributes)
    raise GentoolError(
        f"cannot colour by '{color_by}': this data has {', '.join(known) or 'no labels'}; "
        "pass --labels CSV for attributes."
    )
