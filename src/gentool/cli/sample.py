"""``gentool sample``: draw images from a checkpoint."""

from __future__ import annotations

from typing import Any

import click

from gentool.cli.options import device_option, seed_option


@click.command(context_settings={"show_default": True})
@click.argument("checkpoint", type=click.Path(path_type=str))
@click.option(
    "-n", "--num", "n", type=click.IntRange(1, 100_000), default=64, help="Number of images."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=str),
    default="samples.png",
    help="Grid image to write (.png, .jpg, .webp, .bmp, .tif by extension).",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=str),
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
    help="Walk the latent line between two points in this many steps (VAE, GAN).",
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
    type=click.Path(path_type=str),
    default=None,
    help="Translation models: an image or a folder to translate (one PNG per input, same "
    "size, into --out-dir).",
)
@click.option(
    "--direction",
    type=click.Choice(["a2b", "b2a"]),
    default=None,
    help="Translation models: a2b (domain A to B) or b2a [default: a2b].",
)
@click.option(
    "--full-res",
    is_flag=True,
    help="Translation models: run at the input's own size instead of the training scale.",
)
@click.option(
    "--no-ema", is_flag=True, help="Use the raw generator weights even if the run kept an EMA copy."
)
@click.option("--overwrite", is_flag=True, help="Replace output files that already exist.")
@device_option
@seed_option
@click.pass_obj
def sample(
    app: Any,
    checkpoint: str,
    n: int,
    output: str,
    out_dir: str | None,
    nrow: int | None,
    overwrite: bool,
    **kwargs: Any,
) -> None:
    """Draw N images from CHECKPOINT (a .safetensors file or a run folder).

    The model is rebuilt from the checkpoint alone: no training flag needs repeating.

    Outputs are checked before the model is loaded: an existing grid, or sample_*.png files
    already in --out-dir, are refused unless --overwrite is given; every file is written
    atomically. With --input, two inputs that would be written to one name (a.png and a.jpg)
    are refused, naming both.

    \b
    Examples:
      gentool sample runs/dcgan-ls/ckpt.safetensors -n 36 -o grid.png
      gentool sample runs/dcgan-ls --seed 3 --out-dir samples/    # one PNG per image
      gentool sample runs/acgan --per-label -n 8                  # a row per class
      gentool sample runs/cyclegan --input photos/ --direction a2b --out-dir painted/
    """
    import torch

    from gentool.cli.common import load_model, seeded_generator
    from gentool.config import parse_key_values
    from gentool.errors import GentoolError
    from gentool.images import check_outputs, save_each, save_grid

    translation = (kwargs.pop("input_path"), kwargs.pop("direction"), kwargs.pop("full_res"))
    device, use_ema = kwargs.pop("device"), not kwargs.pop("no_ema")
    if translation[0] is not None:
        _refuse_given(
            SAMPLING_OPTIONS,
            "shape(s) drawn samples; a translation model writes one "
            "output per --input image, so drop them.",
        )
        _translate(app, checkpoint, device, use_ema, out_dir, *translation, overwrite=overwrite)
        return
    if any(translation):
        raise GentoolError("--direction and --full-res apply when translating: pass --input.")
    seed = check_seed(kwargs.pop("seed"))
    if out_dir is not None:
        _refuse_given(("output", "nrow"), "apply to a grid, not to --out-dir (one PNG per image).")
        check_sample_folder(out_dir, overwrite)
    else:
        check_outputs([output], overwrite, images=True)
    model, _ = load_model(checkpoint, device, use_ema=use_ema)
    if model.FAMILY == "translation":
        raise GentoolError(
            f"'{model.PLUGIN_NAME}' translates images; pass --input DIR_OR_FILE "
            "--direction a2b --out-dir OUT."
        )
    generator = seeded_generator(seed)
    options: dict[str, Any] = {
        "label": list(kwargs.pop("labels")),
        "per_label": kwargs.pop("per_label"),
        "vary_code": kwargs.pop("vary_code"),
        "interpolate": kwargs.pop("interpolate"),
    }
    options.update(parse_key_values(kwargs.pop("sample_opts"), "--sample-opt"))
    with torch.no_grad():
        images, columns = model.sample_grid(n, generator=generator, options=options)
    if out_dir:
        paths = save_each(images, out_dir)
        app.console.print(f"wrote {len(paths)} images to {out_dir}")
    else:
        save_grid(images, output, nrow=nrow or columns)
        app.console.print(f"wrote {images.shape[0]} images as a grid to {output}")


#: Largest seed (torch generators take 64 bits; negative seeds would wrap around).
MAX_SEED = 2**63 - 1


def check_seed(seed: int) -> int:
    """``--seed`` in [0, 2**63-1], or one line naming it."""
    from gentool.errors import GentoolError

    if not 0 <= seed <= MAX_SEED:
        raise GentoolError(f"--seed must be between 0 and {MAX_SEED}, not {seed}.")
    return seed


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


def given_options(names: tuple[str, ...] | list[str]) -> list[str]:
    """The options among ``names`` (parameter names) that the user typed on the command line."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    return [
        max(param.opts, key=len)
        for param in ctx.command.params
        if param.name in names
        and ctx.get_parameter_source(param.name or "") == ParameterSource.COMMANDLINE
    ]


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
    out_dir: str | None,
    input_path: str,
    direction: str | None,
    full_res: bool,
    *,
    overwrite: bool,
) -> None:
    """``--input``: translate files with a translation model, one output per input."""
    from gentool.cli.common import load_model
    from gentool.errors import GentoolError
    from gentool.images import check_outputs
    from gentool.translate import plan_outputs, translate_files

    if out_dir is None:
        raise GentoolError("--input needs --out-dir OUT (one PNG per input is written there).")
    jobs = plan_outputs(input_path, out_dir)
    check_outputs([target for _, target in jobs], overwrite)
    model, _ = load_model(checkpoint, device, use_ema=use_ema)
    if model.FAMILY != "translation":
        raise GentoolError(
            f"--input, --direction and --full-res need a translation checkpoint (cyclegan); "
            f"this one holds '{model.PLUGIN_NAME}' ({model.FAMILY})."
        )
    translator: Any = model  # any translation-family plugin, not only CycleGan
    paths = translate_files(
        translator, input_path, out_dir, direction or "a2b", full_res, overwrite=overwrite
    )
    app.console.print(f"translated {len(paths)} images ({direction or 'a2b'}) into {out_dir}")
