"""``gentool train``: train a model from the command line."""

from __future__ import annotations

import dataclasses
from typing import Any

import click

from gentool.cli.options import (
    FiniteFloat,
    PathText,
    RunOrCheckpoint,
    data_options,
    data_spec_from,
    device_option,
    key_values,
    seed_option,
)
from gentool.config import parse_key_values


def _read_config(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--config run.toml``: the file's values become the defaults the command line
    overrides (checked by click like typed options)."""
    if value is None:
        return None
    from gentool.config_file import read_run_file

    params = {p.name: p for p in ctx.command.params if p.name}
    ctx.default_map = {**(ctx.default_map or {}), **read_run_file(value, params)}
    return value


class TrainCommand(click.Command):
    """``gentool train MODEL --help`` also lists MODEL's options (``--model-opt``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        words = [a for a in args if not a.startswith("-")]
        if words and ("--help" in args or "-h" in args):
            ctx.meta["help_model"] = words[0]
        return super().parse_args(ctx, args)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        name = ctx.meta.get("help_model")
        if not name:
            return
        from gentool.cli.plugin_options import options_table
        from gentool.errors import GentoolError

        try:
            table = options_table("model", str(name))
        except GentoolError as exc:
            table = f"\b\n{exc.message}"
        if table:
            formatter.write_paragraph()
            for line in table.splitlines():
                if line != "\b":
                    formatter.write(line + "\n")


@click.command(cls=TrainCommand, context_settings={"show_default": True})
@click.option(
    "--config",
    type=PathText(dir_okay=False),
    default=None,
    is_eager=True,
    expose_value=False,
    callback=_read_config,
    help="A TOML file of settings (keys: these options' long names; tables [model-opt], "
    "[loss-opt], [train-opt]); options on the command line override it. Every run writes "
    "its own as RUN/run.toml. Example: --config runs/dcgan-ls/run.toml",
)
@click.argument("model", required=False)
@click.option(
    "--loss",
    default=None,
    help="GAN loss plugin: bce, ls, wgan-gp, hinge, ... [default: the model's]",
)
@click.option(
    "--model-opt",
    "model_opts",
    multiple=True,
    metavar="KEY=VALUE",
    callback=key_values,
    help="A model config field, repeatable. Example: --model-opt latent_dim=64 --model-opt spectral_norm=true",
)
@click.option(
    "--loss-opt",
    "loss_opts",
    multiple=True,
    metavar="KEY=VALUE",
    callback=key_values,
    help="A loss config field, repeatable. Example: --loss ls --loss-opt a=-1 --loss-opt c=0",
)
@click.option(
    "--train-opt",
    "train_opts",
    multiple=True,
    metavar="KEY=VALUE",
    callback=key_values,
    help="A family-specific training option, repeatable. Example: --train-opt augment=flip",
)
@click.option(
    "--callback",
    "callbacks",
    multiple=True,
    metavar="NAME",
    help="Switch on a training callback plugin (a logger, a periodic job), repeatable; "
    "'gentool plugins' lists them. Example: --callback csv-log",
)
@click.option(
    "--callback-opt",
    "callback_opts",
    multiple=True,
    metavar="NAME.KEY=VALUE",
    help="An option of a callback switched on with --callback, repeatable. "
    "Example: --callback-opt csv-log.every=10",
)
@data_options("digits")
@click.option(
    "--domain-a",
    type=PathText(),
    default=None,
    help="Translation models: folder of domain A images. Example: --domain-a photos/",
)
@click.option(
    "--domain-b",
    type=PathText(),
    default=None,
    help="Translation models: folder of domain B images. Example: --domain-b paintings/",
)
@click.option(
    "--steps",
    type=click.IntRange(1),
    default=None,
    help="Training steps (each: --d-steps D updates, then --g-steps G updates) [default: 2000 "
    "unless --epochs; not both].",
)
@click.option(
    "--epochs",
    type=FiniteFloat(0, low_open=True),
    default=None,
    help="Passes over the data instead of --steps. Example: --epochs 5",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    default=64,
    help="Images per step (at most the number of training images).",
)
@click.option(
    "--lr-g",
    type=FiniteFloat(0, low_open=True),
    default=2e-4,
    help="Learning rate of the generator (or of the whole model).",
)
@click.option(
    "--lr-d",
    type=FiniteFloat(0, low_open=True),
    default=2e-4,
    help="Learning rate of the discriminator.",
)
@click.option("--beta1", type=FiniteFloat(0, 1, high_open=True), default=0.5, help="Adam beta1.")
@click.option("--beta2", type=FiniteFloat(0, 1, high_open=True), default=0.999, help="Adam beta2.")
@click.option("--optimizer", type=click.Choice(["adam", "rmsprop"]), default="adam")
@click.option(
    "--d-steps",
    type=click.IntRange(1),
    default=None,
    help="Discriminator updates per step [default: the loss's, 5 for wgan-gp].",
)
@click.option(
    "--g-steps",
    type=click.IntRange(1),
    default=1,
    help="Generator updates per step, after D's. Example: --d-steps 1 --g-steps 2 (D:G = 1:2)",
)
@click.option(
    "--ema",
    type=FiniteFloat(0, 1, high_open=True),
    default=0.0,
    help="Keep a moving average of G's weights with this decay (0 = off); sample, upscale and "
    "evaluate use it. GANs and image2image. Example: --ema 0.999",
)
@click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16"]),
    default="fp32",
    help="bf16 autocasts forward passes (losses and gradient penalty stay fp32).",
)
@click.option(
    "--channels-last",
    is_flag=True,
    help="channels_last memory format (faster convolutions on GPUs).",
)
@click.option(
    "--compile",
    "compile_",
    is_flag=True,
    help="torch.compile each network separately (D stays eager with a gradient penalty).",
)
@click.option(
    "--cuda-graphs",
    is_flag=True,
    help="On CUDA: replay each whole GAN step (D + G updates) as one CUDA graph.",
)
@click.option(
    "--sync-bn",
    "sync_batchnorm",
    is_flag=True,
    help="Under torchrun on GPUs: BatchNorm statistics over the global batch (SyncBatchNorm).",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 4096),
    default=None,
    help="CPU threads for torch [default: one per core]; steadier on a shared machine.",
)
@click.option(
    "--tensorboard",
    is_flag=True,
    help="Also write scalars and sample grids for TensorBoard into RUN/tensorboard "
    "(needs: pip install 'gentool[tensorboard]').",
)
@click.option("--log-every", type=click.IntRange(1), default=50, help="Steps between log lines.")
@click.option(
    "--sample-every", type=click.IntRange(1), default=500, help="Steps between sample grids."
)
@click.option(
    "--checkpoint-every", type=click.IntRange(1), default=1000, help="Steps between checkpoints."
)
@click.option(
    "--keep-every",
    type=click.IntRange(1),
    default=None,
    help="Also keep the weights every N steps (RUN/snapshots/, weights only, at most 200 per "
    "run), so that 'sample RUN --step S' and 'plot timeline -n' can draw any kept step again.",
)
@click.option(
    "--samples",
    type=click.IntRange(1, 1024),
    default=64,
    show_default=True,
    help="Images in each training sample grid (GANs, VAEs; CycleGAN and upscalers take "
    "--train-opt sample_rows).",
)
@device_option
@seed_option
@click.option(
    "--out",
    type=PathText(file_okay=False),
    default=None,
    help="Run folder [default: runs/MODEL-LOSS, numbered (-2, -3, ...) if taken]. A folder "
    "that holds a run is refused unless --overwrite.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Start a clean run in --out: remove the checkpoint, log, config and sample grids of "
    "the run there (nothing else).",
)
@click.option(
    "--resume",
    type=RunOrCheckpoint(),
    default=None,
    help="Continue the run in this folder (or from this checkpoint file; any file but the "
    "folder's ckpt.safetensors needs --out NEW). Example: --resume runs/dcgan-ls",
)
@click.option(
    "--init-from",
    type=RunOrCheckpoint(),
    default=None,
    help="Start a new run from the weights of this checkpoint of the same model (fine-tuning; "
    "optimizer and steps start fresh). Example: --init-from runs/sr-resnet",
)
@click.option(
    "--accept-data-change",
    is_flag=True,
    help="With --resume: continue even though the training data changed (not exact).",
)
@click.pass_obj
def train(app: Any, model: str | None, **kwargs: Any) -> None:
    """Train MODEL and write a run folder (checkpoint, log.jsonl, sample grids).

    With --resume, --steps/--epochs, the intervals, --device, the learning rates and the
    acceleration flags may change (each change is announced and recorded in the run); every
    other option must match the run or is refused by name.

    \b
    Examples:
      gentool train dcgan --loss ls                       # built-in digits, ~5 min on CPU
      gentool train dcgan --loss wgan-gp --dataset folder --data-root faces/ --image-size 64
      gentool train --resume runs/dcgan-ls --steps 4000  # continue a run
      gentool train cyclegan --domain-a photos/ --domain-b paintings/ --image-size 64
    """
    from gentool.distributed import current_world
    from gentool.errors import GentoolError
    from gentool.training.callbacks import parse_callbacks
    from gentool.training.runner import train as run_training

    current_world()  # a broken torchrun environment is refused before any work
    given = _given_options()
    resume_from = kwargs.pop("resume")
    accept_data_change = kwargs.pop("accept_data_change")
    init_from = kwargs.pop("init_from")
    if resume_from and init_from:
        raise GentoolError(
            "--init-from starts a new run from a checkpoint's weights; a resumed run continues "
            "from its own checkpoint. Drop --init-from, or start a new run with --out."
        )
    if resume_from:
        _resume(app, resume_from, model, kwargs, given, accept_data_change)
        return
    if accept_data_change:
        raise GentoolError("--accept-data-change applies only with --resume.")
    if not model:
        raise GentoolError(
            "name a model to train (e.g. 'gentool train dcgan'), or pass --resume RUN."
        )
    if "data_root" in given and "dataset" not in given:
        kwargs["dataset"] = "folder"
        app.console.print("--data-root given without --dataset: using --dataset folder")
    domains = (kwargs.pop("domain_a"), kwargs.pop("domain_b"))
    spec = data_spec_from(kwargs)
    model_options = parse_key_values(kwargs.pop("model_opts"), "--model-opt")
    loss_options = parse_key_values(kwargs.pop("loss_opts"), "--loss-opt")
    extra = parse_key_values(kwargs.pop("train_opts"), "--train-opt")
    callbacks = parse_callbacks(kwargs.pop("callbacks"), kwargs.pop("callback_opts"))
    from gentool.plugins import family_of_model

    family_of_model(model).use_domains(model, domains, spec, extra, given)
    loss = kwargs.pop("loss")
    overwrite = kwargs.pop("overwrite")
    kwargs["compile"] = kwargs.pop("compile_")
    default_out = kwargs["out"] is None
    if default_out:
        kwargs["out"] = f"runs/{model}-{loss}" if loss else f"runs/{model}"
    if kwargs["steps"] is None and kwargs["epochs"] is None:
        kwargs["steps"] = 2000
    ckpt = run_training(
        model,
        loss=loss,
        model_options=model_options,
        loss_options=loss_options,
        data=spec,
        console=app.console,
        overwrite=overwrite,
        default_out=default_out,
        extra=extra,
        given=tuple(
            sorted(_SETTING_NAMES.get(name, name) for name in given if name != "init_from")
        ),
        init_from=init_from,
        callbacks=callbacks,
        **kwargs,
    )
    _done(app, ckpt)


#: Command-line parameter names that differ from the TrainSettings field they set.
_SETTING_NAMES = {"compile_": "compile"}
#: Data options, by parameter name -> DataSpec field.
_DATA_OPTIONS = {
    "dataset": "name",
    "labels": "labels",
    "label_column": "label_column",
    "image_size": "image_size",
    "channels": "channels",
    "limit": "limit",
    "test_fraction": "test_fraction",
}


def _given_options() -> set[str]:
    """Names of the parameters the user set (command line or environment), not defaults."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    return {
        name
        for name in ctx.params
        if ctx.get_parameter_source(name)
        in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT, ParameterSource.DEFAULT_MAP)
    }


def _resume(
    app: Any,
    resume_from: str,
    model: str | None,
    kwargs: dict[str, Any],
    given: set[str],
    accept_data_change: bool,
) -> None:
    """``--resume``: every option given is applied (the changeable ones) or checked against
    the run and refused by name when it differs; none is ignored."""
    from gentool.training.base import TrainSettings
    from gentool.training.callbacks import parse_callbacks
    from gentool.training.runner import CHANGEABLE_ON_RESUME, resume

    setting_fields = {f.name for f in dataclasses.fields(TrainSettings)}
    changes: dict[str, Any] = {}
    fixed: dict[str, Any] = {}
    fixed_data: dict[str, Any] = {}
    model_options = loss_options = None
    callbacks = None
    if "callbacks" in given or "callback_opts" in given:
        callbacks = parse_callbacks(
            tuple(kwargs.get("callbacks") or ()), tuple(kwargs.get("callback_opts") or ())
        )
    for name in sorted(given):
        value: Any = kwargs.get(name)
        field = _SETTING_NAMES.get(name, name)
        if name in ("out", "overwrite", "data_root", "callbacks", "callback_opts"):
            continue  # passed to resume() below
        if name in _DATA_OPTIONS:
            fixed_data[_DATA_OPTIONS[name]] = value
        elif name == "model_opts":
            model_options = parse_key_values(value, "--model-opt")
        elif name == "loss_opts":
            loss_options = parse_key_values(value, "--loss-opt")
        elif name == "train_opts":
            fixed["extra"] = parse_key_values(value, "--train-opt")
        elif name in ("domain_a", "domain_b"):
            fixed.setdefault("extra", {})[name] = value
        elif field in CHANGEABLE_ON_RESUME:
            changes[field] = value
        elif field in setting_fields:
            fixed[field] = value
    if "extra" in fixed:
        _check_extra_unchanged(resume_from, fixed.pop("extra"))
    ckpt = resume(
        resume_from,
        console=app.console,
        out=kwargs.get("out") if "out" in given else None,
        overwrite=bool(kwargs.get("overwrite")),
        accept_data_change=accept_data_change,
        model=model,
        loss=kwargs.get("loss") if "loss" in given else None,
        model_options=model_options,
        loss_options=loss_options,
        data_root=kwargs.get("data_root") if "data_root" in given else None,
        fixed=fixed,
        fixed_data=fixed_data,
        callbacks=callbacks,
        **changes,
    )
    _done(app, ckpt)


def _check_extra_unchanged(resume_from: str, given: dict[str, Any]) -> None:
    from gentool.checkpoint import load_checkpoint
    from gentool.errors import GentoolError

    train = load_checkpoint(resume_from).info.train
    saved: dict[str, Any] = train["extra"] if isinstance(train.get("extra"), dict) else {}
    for key, value in given.items():
        if str(saved.get(key)) != str(value):
            flag = {"domain_a": "--domain-a", "domain_b": "--domain-b"}.get(key)
            what = f"{flag} {value}" if flag else f"--train-opt {key}={value}"
            raise GentoolError(
                f"{what} cannot change when resuming (the run has {saved.get(key)}); start a "
                "new run to change it."
            )


def _done(app: Any, ckpt: Any) -> None:
    from gentool.distributed import current_world

    if current_world().is_main:
        app.console.print(f"[green]done:[/] {ckpt}")
