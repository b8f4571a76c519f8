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
    help="Grid image to write.",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="Write one PNG per image into this folder instead of a grid.",
)
@click.option(
    "--nrow",
    type=click.IntRange(1),
    default=None,
    help="Images per grid row [default: square, or the model's layout].",
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
    **kwargs: Any,
) -> None:
    """Draw N images from CHECKPOINT (a .safetensors file or a run folder).

    The model is rebuilt from the checkpoint alone: no training flag needs repeating.

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
    from gentool.images import save_each, save_grid

    translation = (kwargs.pop("input_path"), kwargs.pop("direction"), kwargs.pop("full_res"))
    model, _ = load_model(checkpoint, kwargs.pop("device"), use_ema=not kwargs.pop("no_ema"))
    if model.FAMILY == "translation" or any(translation):
        _refuse_sampling_options(model)
        _translate(app, model, out_dir, *translation)
        return
    generator = seeded_generator(kwargs.pop("seed"))
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
)


def _refuse_sampling_options(model: Any) -> None:
    from click.core import ParameterSource

    from gentool.errors import GentoolError

    if model.FAMILY != "translation":
        return  # _translate names the real problem: not a translation checkpoint
    ctx = click.get_current_context()
    given = [
        max(param.opts, key=len)
        for param in ctx.command.params
        if param.name in SAMPLING_OPTIONS
        and ctx.get_parameter_source(param.name or "") == ParameterSource.COMMANDLINE
    ]
    if given:
        raise GentoolError(
            f"{', '.join(given)} shape(s) drawn samples; a translation model writes one output "
            "per --input image, so drop them."
        )


def _translate(
    app: Any,
    model: Any,
    out_dir: str | None,
    input_path: str | None,
    direction: str | None,
    full_res: bool,
) -> None:
    """``--input``: translate files with a translation model, one output per input."""
    from gentool.errors import GentoolError
    from gentool.translate import translate_files

    if model.FAMILY != "translation":
        raise GentoolError(
            f"--input, --direction and --full-res need a translation checkpoint (cyclegan); "
            f"this one holds '{model.PLUGIN_NAME}' ({model.FAMILY})."
        )
    if input_path is None:
        raise GentoolError(
            f"'{model.PLUGIN_NAME}' translates images; pass --input DIR_OR_FILE "
            "--direction a2b --out-dir OUT."
        )
    if out_dir is None:
        raise GentoolError("--input needs --out-dir OUT (one PNG per input is written there).")
    paths = translate_files(model, input_path, out_dir, direction or "a2b", full_res)
    app.console.print(f"translated {len(paths)} images ({direction or 'a2b'}) into {out_dir}")
