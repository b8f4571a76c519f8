"""``gentool sample``: draw images from a checkpoint."""

from __future__ import annotations

from typing import Any

import click

from gentool.cli.common import check_seed, chosen_titles, given_options, run_name, weights_of_step
from gentool.cli.options import (
    PathText,
    RunOrCheckpoint,
    device_option,
    seed_option,
)

#: Rows per direction of a translation figure when -n is not given.
FIGURE_ROWS = 8
#: Cells of a translation figure are enlarged (nearest) to at least this many pixels unless
#: --upscale is given, so that tiny images and their labels stay legible.
FIGURE_CELL = 64


@click.command(context_settings={"show_default": True})
@click.argument(
    "checkpoints", nargs=-1, required=True, metavar="CHECKPOINT...", type=RunOrCheckpoint()
)
@click.option(
    "-n",
    "--num",
    "n",
    type=click.IntRange(1, 100_000),
    default=64,
    help="Number of images (per run; per row with --label/--per-label, rows with --interpolate; "
    f"rows per direction of a translation figure, {FIGURE_ROWS} unless given).",
)
@click.option(
    "-o",
    "--output",
    type=PathText(dir_okay=False),
    default="samples.png",
    help="Grid image, or translation figure, to write (.png, .jpg, .webp, .bmp, .tif by "
    "extension).",
)
@click.option(
    "--out-dir",
    type=PathText(file_okay=False),
    default=None,
    help="Write one PNG per image (sample_00000.png, ...) into this folder instead of a grid "
    "(other files there are left alone).",
)
@click.option(
    "--nrow",
    type=click.IntRange(1),
    default=None,
    help="Images per grid row (more than the images: one row) [default: square, or the "
    "model's layout].",
)
@click.option(
    "--upscale",
    type=click.IntRange(1, 16),
    default=1,
    help="Enlarge the grid K times, nearest neighbour (e.g. 4 for 28 px digits).",
)
@click.option(
    "--titles",
    default=None,
    help="Panel titles, a comma list, one per run [default: each run's folder name].",
)
@click.option(
    "--title",
    default=None,
    help="Title above the figure of one run [default: none on a grid of one run's samples, "
    "kept bare; the run's folder name on a translation figure].",
)
@click.option(
    "--no-title",
    is_flag=True,
    help="No title: a bare grid, e.g. to tile it yourself (refused for several runs, whose "
    "panels are told apart by their titles).",
)
@click.option(
    "--label",
    "labels",
    multiple=True,
    help="Condition on a class (name or index), repeatable (conditional models). Example: --label 3",
)
@click.option(
    "--per-label", is_flag=True, help="One row per class from the same noise (conditional models)."
)
@click.option(
    "--vary-code",
    default=None,
    help="Sweep one latent code, one column per value (InfoGAN). Example: --vary-code c0",
)
@click.option(
    "--interpolate",
    type=click.IntRange(2),
    default=None,
    help="Walk between two latent draws in this many steps, one walk per row (VAE: straight "
    "line; GAN: great circle, --sample-opt path=lerp for a line; conditional GANs keep "
    "the class or codes fixed per row).",
)
@click.option(
    "--sample-opt",
    "sample_opts",
    multiple=True,
    metavar="KEY=VALUE",
    help="A model-specific sampling option, repeatable.",
)
@click.option(
    "--input",
    "input_path",
    type=PathText(),
    default=None,
    help="Translation models: an image or a folder to translate: with --out-dir, one PNG per "
    "input, same size; with -o, one figure of rows input | translated | translated back.",
)
@click.option(
    "--input-b",
    "input_b",
    type=PathText(),
    default=None,
    help="Translation figure (-o): images of domain B, drawn as rows B | B->A | B->A->B below "
    "those of --input (then domain A's) [default, without --input: the run's held-out "
    "images of both domains].",
)
@click.option(
    "--direction",
    type=click.Choice(["a2b", "b2a"]),
    default=None,
    help="Translation models: a2b (domain A to B) or b2a [default: a2b; a figure of the "
    "run's held-out images: both].",
)
@click.option(
    "--full-res",
    is_flag=True,
    help="Translation models: run at the input's own size instead of the training scale.",
)
@click.option(
    "--no-ema",
    is_flag=True,
    help="Use the trained generator weights, not the moving average the run kept with --ema "
    "(refused for a checkpoint without one).",
)
@click.option(
    "--step",
    type=click.IntRange(0),
    default=None,
    help="Draw from the weights the run kept at this step (train --keep-every N) instead of "
    "its last checkpoint; CHECKPOINT must then be a RUN folder. Example: --step 2000",
)
@click.option("--overwrite", is_flag=True, help="Replace output files that already exist.")
@device_option
@seed_option
@click.pass_obj
def sample(
    app: Any,
    checkpoints: tuple[str, ...],
    n: int,
    output: str,
    out_dir: str | None,
    nrow: int | None,
    upscale: int,
    titles: str | None,
    overwrite: bool,
    **kwargs: Any,
) -> None:
    """Draw N images from CHECKPOINT (a .safetensors file or a run folder), or from several.

    The model is rebuilt from the checkpoint alone: no training flag needs repeating.

    Several CHECKPOINTs (VAE vs GAN, latent 32 vs 128, ...) make one figure with a titled
    panel per run (its folder name, or --titles a,b). Every run is sampled with the same
    --seed, so runs whose latent sizes match start from the same noise (a VAE's prior draw
    and a GAN's z are the same numbers). Every option applies to every run: one a run's
    model does not take (--label on an unconditional model, --vary-code on a non-InfoGAN)
    is refused, naming the run.

    --label/--per-label rows carry the class names at the left and --vary-code columns the
    code values on top; --upscale K enlarges small images (nearest neighbour). One run's grid
    is titled with the run's name (--title TEXT to change it, --no-title for the bare grid).

    --step S draws from the weights a run kept at step S (train --keep-every N), or its
    checkpoint when that is of step S: any kept step, with any -n and seed.

    A translation model (cyclegan) draws nothing: --input DIR_OR_FILE --out-dir OUT
    translates files, one PNG each at the input's size; -o FIGURE.png instead draws one
    figure of rows input | translated | translated back under headers such as A (input) |
    A->B | A->B->A, each row labelled with its domain (the run's folder names), titled with
    the run's name (--title, --no-title). Its rows come from --input (in --direction) and
    --input-b (domain B), or without them from the run's held-out test images of both
    domains (--direction for one); -n rows per direction (8 unless given), at the training
    resolution, enlarged to at least 64 px a cell unless --upscale is given.

    Outputs are checked before the model is loaded: an existing grid, or sample_*.png files
    already in --out-dir, are refused unless --overwrite is given; every file is written
    atomically. With --input, two inputs that would be written to one name (a.png and a.jpg)
    are refused, naming both.

    \b
    Examples:
      gentool sample runs/dcgan-ls/ckpt.safetensors -n 36 -o grid.png
      gentool sample runs/dcgan-ls --seed 3 --out-dir samples/    # one PNG per image
      gentool sample runs/acgan --per-label -n 8                  # a row per class
      gentool sample runs/vae runs/dcgan --seed 1 -n 36 --upscale 3 -o vae-vs-gan.png
      gentool sample runs/dcgan --interpolate 8 -n 6              # 6 latent walks
      gentool sample runs/cyclegan --input photos/ --direction a2b --out-dir painted/
      gentool sample runs/cyclegan -o translations.png           # held-out images, A and B
      gentool sample runs/cyclegan --input photos/ --input-b paintings/ -n 4 -o both.png
      gentool sample runs/vae -n 36 --title "VAE, 16 latents" -o vae.png
      gentool sample runs/dcgan --step 2000 -n 36 -o step2000.png  # with --keep-every
    """
    from gentool.errors import GentoolError
    from gentool.images import check_outputs

    step = kwargs.pop("step")
    if step is not None:
        checkpoints = tuple(weights_of_step(path, step) for path in checkpoints)
    inputs = (kwargs.pop("input_path"), kwargs.pop("input_b"))
    direction, full_res = kwargs.pop("direction"), kwargs.pop("full_res")
    title, no_title = kwargs.pop("title"), kwargs.pop("no_title")
    device, use_ema = kwargs.pop("device"), not kwargs.pop("no_ema")
    chosen_titles(checkpoints, title, titles, no_title, default=False)  # one line if at odds

    def figure(model: Any, meta: Any, given: tuple[str | None, str | None]) -> None:
        """The labelled figure of a translation model (given images, or held-out ones)."""
        _translation_figure(
            app,
            model,
            meta,
            inputs=given,
            direction=direction,
            n=n,
            output=output,
            upscale=upscale,
            title=_one_title(checkpoints, title, titles, no_title),
        )

    if any(inputs):
        if len(checkpoints) > 1:
            raise GentoolError("--input translates with one CHECKPOINT; pass a single run.")
        if out_dir is not None:
            _refuse_given(
                SAMPLING_OPTIONS,
                "only shape drawn samples; a translation model writes one "
                "output per --input image, so drop them.",
            )
            _refuse_given(
                ("upscale", "titles", "title", "no_title"),
                "apply to a figure (-o FILE), not to --out-dir (one PNG per input).",
            )
            if inputs[1] is not None:
                raise GentoolError(
                    "--input-b draws domain B's rows of a figure (-o FILE); to translate files "
                    "of domain B, pass --input DIR --direction b2a --out-dir OUT."
                )
            _translate(
                app,
                checkpoints[0],
                device,
                use_ema,
                out_dir,
                inputs[0],
                direction,
                full_res,
                overwrite=overwrite,
            )
            return
        if not given_options(("output",)):
            raise GentoolError(
                "--input needs --out-dir OUT (one PNG per input, same size) or -o FILE (one "
                "figure of rows input | translated | translated back)."
            )
        if inputs[1] is not None and direction is not None:
            raise GentoolError(
                "--input-b gives domain B's images and --input domain A's; drop --direction."
            )
        _refuse_figure_options(full_res)
        check_outputs([output], overwrite, images=True)
        from gentool.images import refuse_replacing_inputs

        refuse_replacing_inputs(tuple(i for i in inputs if i is not None), [output])
        model, meta = _load_translator(checkpoints[0], device, use_ema)
        figure(model, meta, inputs)
        return
    if full_res:
        raise GentoolError("--full-res applies when translating files: pass --input and --out-dir.")
    seed = check_seed(kwargs.pop("seed"))
    if out_dir is not None:
        _refuse_given(
            ("output", "nrow", "upscale", "titles", "title", "no_title"),
            "only apply to a grid, not to --out-dir (one PNG per image).",
        )
        if len(checkpoints) > 1:
            raise GentoolError(
                f"--out-dir writes the images of one run; {len(checkpoints)} runs were given "
                "(drop --out-dir for one figure with a panel per run)."
            )
        check_sample_folder(out_dir, overwrite)
    else:
        check_outputs([output], overwrite, images=True)
    from gentool.config import parse_key_values

    options: dict[str, Any] = {
        "label": list(kwargs.pop("labels")),
        "per_label": kwargs.pop("per_label"),
        "vary_code": kwargs.pop("vary_code"),
        "interpolate": kwargs.pop("interpolate"),
    }
    options.update(parse_key_values(kwargs.pop("sample_opts"), "--sample-opt"))
    models = []
    for path in checkpoints:
        model, meta, family = _load_any(path, device, use_ema)
        if not family.can("generate") and family.can("translate") and len(checkpoints) == 1:
            # a translation model draws nothing: a figure of its held-out images instead
            _held_out_figure_options(model, out_dir)
            figure(model, meta, (None, None))
            return
        if not family.can("generate"):
            raise GentoolError(family.cannot("gentool sample", model.PLUGIN_NAME, path))
        models.append(model)
    if direction is not None:
        raise GentoolError(
            "--direction applies to translation models (cyclegan); drop it, or pass --input."
        )
    drawn = [
        _draw(model, n, seed, options, name=run_name(path) if len(checkpoints) > 1 else None)
        for model, path in zip(models, checkpoints, strict=True)
    ]
    if out_dir:
        from gentool.images import save_each

        paths = save_each(drawn[0].images, out_dir)
        app.console.print(f"wrote {len(paths)} images to {out_dir}", markup=False)
        if overwrite:
            _remove_older_samples(app, out_dir, paths)
        return
    from gentool.images import labelled_grid, save_pil, titled_panels

    # labels name the model's own rows and columns; another --nrow would misplace them
    pictures = [
        labelled_grid(
            d.images,
            nrow or d.columns,
            row_labels=d.row_labels if nrow in (None, d.columns) else None,
            column_labels=d.column_labels if nrow in (None, d.columns) else None,
            upscale=upscale,
        )
        for d in drawn
    ]
    panel_titles = chosen_titles(checkpoints, title, titles, no_title, default=True)
    if panel_titles is None:
        save_pil(pictures[0], output)
        app.console.print(
            f"wrote {drawn[0].images.shape[0]} images as a grid to {output}", markup=False
        )
        return
    save_pil(titled_panels(list(zip(panel_titles, pictures, strict=True))), output)
    app.console.print(
        f"wrote {len(pictures)} panel(s) ({', '.join(panel_titles)}; seed {seed}) to {output}",
        markup=False,
    )


class Drawn:
    """One run's samples and the labels of their grid."""

    def __init__(
        self,
        images: Any,
        columns: int | None,
        row_labels: list[str] | None,
        column_labels: list[str] | None,
    ) -> None:
        self.images = images
        self.columns = columns
        self.row_labels = row_labels
        self.column_labels = column_labels


def _one_title(
    checkpoints: tuple[str, ...], title: str | None, titles: str | None, no_title: bool
) -> str | None:
    """The title of a translation figure: the run's name unless ``--title``/``--no-title``."""
    chosen = chosen_titles(checkpoints, title, titles, no_title, default=True)
    return chosen[0] if chosen else None


def _load_any(path: str, device: str, use_ema: bool) -> tuple[Any, Any, Any]:
    """One checkpoint's model, metadata and family."""
    from gentool.cli.common import load_model
    from gentool.plugins import family_of_model

    model, meta = load_model(path, device, use_ema=use_ema)
    return model, meta, family_of_model(type(model))


def _load_translator(path: str, device: str, use_ema: bool) -> tuple[Any, Any]:
    """A translation model and its metadata, or one line naming what the checkpoint holds."""
    from gentool.errors import GentoolError

    model, meta, family = _load_any(path, device, use_ema)
    if not family.can("translate"):
        raise GentoolError(
            f"--input, --input-b, --direction and --full-res need a translation checkpoint "
            f"(cyclegan); this one holds '{model.PLUGIN_NAME}' ({model.FAMILY})."
        )
    return model, meta


def _draw(model: Any, n: int, seed: int, options: dict[str, Any], name: str | None) -> Drawn:
    """Sample one model with a fresh generator seeded ``seed`` (the same noise for every run
    whose latent size matches); an option the model does not take names the run."""
    import torch

    from gentool.cli.common import seeded_generator
    from gentool.errors import GentoolError

    try:
        with torch.no_grad():
            images, columns = model.sample_grid(
                n, generator=seeded_generator(seed), options=dict(options)
            )
        row_labels, column_labels = None, None
        labels_of = getattr(model, "grid_labels", None)
        if callable(labels_of):
            row_labels, column_labels = labels_of(n, dict(options))
    except GentoolError as exc:
        if name is None:
            raise
        raise GentoolError(f"run '{name}' ({model.PLUGIN_NAME}): {exc.message}") from None
    return Drawn(images, columns, row_labels, column_labels)


#: Largest seed (torch generators take 64 bits; negative seeds would wrap around).
def _remove_older_samples(app: Any, out_dir: str, written: list[Any]) -> None:
    """``--overwrite`` replaces the folder's set of samples: numbered ``sample_NNNNN.png``
    files of an earlier, larger draw would otherwise sit beside the new ones as if one set."""
    import re
    from pathlib import Path

    from gentool.fileio import remove_owned
    from gentool.images import written_by_gentool

    folder = Path(out_dir)
    kept = {Path(p).name for p in written}
    older = [
        p
        for p in sorted(folder.glob("sample_*.png"))
        if re.fullmatch(r"sample_\d{5,}\.png", p.name) and p.name not in kept
    ]
    removed = [p for p in older if remove_owned(p, folder, written_by_gentool)]
    left = [p for p in older if p not in removed]
    if removed:
        app.console.print(
            f"removed {len(removed)} older sample file(s) ({removed[0].name}, ...) that the new "
            f"{len(written)} did not replace"
        )
    if left:
        app.console.print(
            f"kept {len(left)} file(s) named like samples ({left[0].name}, ...) that gentool "
            "cannot prove it wrote (a link, or no gentool mark in the PNG)"
        )


def check_sample_folder(out_dir: str, overwrite: bool) -> None:
    """``--out-dir``: refuse sample_*.png files already there unless ``overwrite``."""
    from pathlib import Path

    from gentool.errors import OutputError
    from gentool.images import check_outputs, each_path

    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"--out-dir {folder} is a file; name a folder.")
    if folder.is_dir() and not overwrite:
        taken = sorted(folder.glob("sample_*.png"))
        if taken:
            raise OutputError(
                f"--out-dir {folder} already holds {len(taken)} sample_*.png file(s) "
                f"({taken[0].name}, ...); pass --overwrite to replace them or choose another "
                "folder."
            )
    check_outputs([each_path(folder, 0)], overwrite=True)


def _refuse_given(names: tuple[str, ...], why: str) -> None:
    from gentool.errors import GentoolError

    given = given_options(names)
    if given:
        raise GentoolError(f"{', '.join(given)} {why}")


#: Options that shape drawn samples and mean nothing when translating files.
SAMPLING_OPTIONS = (
    "n",
    "output",
    "nrow",
    "labels",
    "per_label",
    "vary_code",
    "interpolate",
    "sample_opts",
    "seed",
)


def _translate(
    app: Any,
    checkpoint: str,
    device: str,
    use_ema: bool,
    out_dir: str,
    input_path: str,
    direction: str | None,
    full_res: bool,
    *,
    overwrite: bool,
) -> None:
    """``--input``: translate files with a translation model, one output per input."""
    from gentool.images import check_outputs
    from gentool.translate import plan_outputs, translate_files

    jobs = plan_outputs(input_path, out_dir)
    check_outputs([target for _, target in jobs], overwrite)
    model, _ = _load_translator(checkpoint, device, use_ema)
    translator: Any = model  # any translation-family plugin, not only CycleGan
    paths = translate_files(
        translator, input_path, out_dir, direction or "a2b", full_res, overwrite=overwrite
    )
    app.console.print(
        f"translated {len(paths)} images ({direction or 'a2b'}) into {out_dir}", markup=False
    )


def _refuse_figure_options(full_res: bool) -> None:
    """Options of drawn samples, and --full-res, mean nothing in a translation figure."""
    from gentool.errors import GentoolError

    _refuse_given(
        tuple(name for name in SAMPLING_OPTIONS if name not in ("n", "output")),
        "only shape drawn samples; a translation figure shows images given or held out, so "
        "drop them.",
    )
    if full_res:
        raise GentoolError(
            "--full-res translates files at their own size (--out-dir); a figure shows the "
            "training resolution, so drop it."
        )


def _held_out_figure_options(model: Any, out_dir: str | None) -> None:
    """``gentool sample CKPT`` of a translation model: a figure of the run's held-out images,
    written only where -o names it; options of drawn samples are refused by name."""
    from gentool.errors import GentoolError

    if out_dir is not None:
        raise GentoolError(
            f"'{model.PLUGIN_NAME}' translates images: --out-dir writes one PNG per --input "
            "image, so pass --input DIR_OR_FILE (or -o FILE for one figure)."
        )
    if not given_options(("output",)):
        raise GentoolError(
            f"'{model.PLUGIN_NAME}' translates images instead of drawing them: pass -o FILE for "
            "a figure of its held-out images (input | translated | translated back), or "
            "--input DIR_OR_FILE --direction a2b --out-dir OUT to translate files."
        )
    _refuse_figure_options(False)


def _translation_figure(
    app: Any,
    model: Any,
    meta: Any,
    *,
    inputs: tuple[str | None, str | None],
    direction: str | None,
    n: int,
    output: str,
    upscale: int,
    title: str | None,
) -> None:
    """One figure of rows ``input | translated | translated back``: of ``--input`` (in
    ``--direction``) and ``--input-b`` (B to A) files, or of the run's held-out test images
    of each direction the family's grid layout names (or of ``--direction`` alone)."""
    import math

    from gentool.errors import GentoolError
    from gentool.images import save_pil, with_title
    from gentool.plugins import family_of_model
    from gentool.translate import figure_parts, translation_figure

    family = family_of_model(type(model))
    layout = family.sample_grid_layout(meta.raw if meta is not None else {})
    if layout is None:
        raise GentoolError(
            f"'{model.PLUGIN_NAME}' (family {family.PLUGIN_NAME}) does not say how its rows are "
            "laid out; pass --input DIR --out-dir OUT for one PNG per input."
        )
    rows = n if given_options(("n",)) else FIGURE_ROWS
    parts = figure_parts(model, meta, layout, inputs, direction, rows)
    if not given_options(("upscale",)):
        upscale = max(1, math.ceil(FIGURE_CELL / int(model.config.image_size)))
    picture = translation_figure(model, layout, parts, upscale=upscale)
    save_pil(with_title(picture, title), output)
    counts = ", ".join(f"{len(x)} row{'s' * (len(x) != 1)} {d}" for d, x in parts)
    where = "given" if any(inputs) else "held-out"
    app.console.print(f"wrote a figure of {where} images ({counts}) to {output}", markup=False)
