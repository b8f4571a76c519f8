"""``gentool train``: train a model from the command line."""

from __future__ import annotations

from typing import Any

import click

from gentool.cli.options import data_options, data_spec_from, device_option, seed_option
from gentool.config import parse_key_values


@click.command(context_settings={"show_default": True})
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
    help="A model config field, repeatable. Example: --model-opt latent_dim=64 --model-opt spectral_norm=true",
)
@click.option(
    "--loss-opt",
    "loss_opts",
    multiple=True,
    metavar="KEY=VALUE",
    help="A loss config field, repeatable. Example: --loss ls --loss-opt a=-1 --loss-opt c=0",
)
@click.option(
    "--train-opt",
    "train_opts",
    multiple=True,
    metavar="KEY=VALUE",
    help="A family-specific training option, repeatable. Example: --train-opt augment=flip",
)
@data_options("digits")
@click.option(
    "--domain-a",
    type=click.Path(path_type=str),
    default=None,
    help="Translation models: folder of domain A images. Example: --domain-a photos/",
)
@click.option(
    "--domain-b",
    type=click.Path(path_type=str),
    default=None,
    help="Translation models: folder of domain B images. Example: --domain-b paintings/",
)
@click.option(
    "--steps",
    type=int,
    default=None,
    help="Generator updates to train for (default 2000 unless --epochs).",
)
@click.option(
    "--epochs",
    type=float,
    default=None,
    help="Passes over the data instead of --steps. Example: --epochs 5",
)
@click.option("--batch-size", type=int, default=64)
@click.option(
    "--lr-g",
    type=float,
    default=2e-4,
    help="Learning rate of the generator (or of the whole model).",
)
@click.option("--lr-d", type=float, default=2e-4, help="Learning rate of the discriminator.")
@click.option("--beta1", type=float, default=0.5, help="Adam beta1.")
@click.option("--beta2", type=float, default=0.999, help="Adam beta2.")
@click.option("--optimizer", type=click.Choice(["adam", "rmsprop"]), default="adam")
@click.option(
    "--d-steps",
    type=int,
    default=None,
    help="Discriminator updates per generator update [default: the loss's, 5 for wgan-gp].",
)
@click.option(
    "--ema",
    type=float,
    default=0.0,
    help="EMA decay of G's weights used for sampling (0 = off). Example: --ema 0.999",
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
@click.option("--log-every", type=int, default=50, help="Steps between log lines.")
@click.option("--sample-every", type=int, default=500, help="Steps between sample grids.")
@click.option("--checkpoint-every", type=int, default=1000, help="Steps between checkpoints.")
@device_option
@seed_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="Run folder [default: runs/MODEL-LOSS, numbered if taken].",
)
@click.option("--overwrite", is_flag=True, help="Write into --out even if it holds a run.")
@click.option(
    "--resume",
    type=click.Path(path_type=str),
    default=None,
    help="Continue the run in this folder. Example: --resume runs/dcgan-ls",
)
@click.pass_obj
def train(app: Any, model: str | None, **kwargs: Any) -> None:
    """Train MODEL and write a run folder (checkpoint, log.jsonl, sample grids).

    \b
    Examples:
      gentool train dcgan --loss ls                       # built-in digits, ~5 min on CPU
      gentool train dcgan --loss wgan-gp --dataset folder --data-root faces/ --image-size 64
      gentool train --resume runs/dcgan-ls --steps 4000  # continue a run
      gentool train cyclegan --domain-a photos/ --domain-b paintings/ --image-size 64
    """
    from gentool.errors import GentoolError
    from gentool.training.runner import resume
    from gentool.training.runner import train as run_training

    resume_from = kwargs.pop("resume")
    if resume_from:
        overrides = {
            k: kwargs.get(k)
            for k in ("steps", "epochs", "log_every", "sample_every", "checkpoint_every")
        }
        if kwargs.get("device") != "auto":
            overrides["device"] = kwargs["device"]
        ckpt = resume(resume_from, console=app.console, **overrides)
        _done(app, ckpt)
        return
    if not model:
        raise GentoolError(
            "name a model to train (e.g. 'gentool train dcgan'), or pass --resume RUN."
        )
    domains = (kwargs.pop("domain_a"), kwargs.pop("domain_b"))
    spec = data_spec_from(kwargs)
    model_options = parse_key_values(kwargs.pop("model_opts"), "--model-opt")
    loss_options = parse_key_values(kwargs.pop("loss_opts"), "--loss-opt")
    extra = parse_key_values(kwargs.pop("train_opts"), "--train-opt")
    _use_domains(model, domains, spec, extra)
    loss = kwargs.pop("loss")
    overwrite = kwargs.pop("overwrite")
    kwargs["compile"] = kwargs.pop("compile_")
    if kwargs["out"] is None:
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
        extra=extra,
        **kwargs,
    )
    _done(app, ckpt)


def _use_domains(
    model: str, domains: tuple[str | None, str | None], spec: Any, extra: dict[str, Any]
) -> None:
    """``--domain-a/--domain-b``: domain A becomes the run's folder dataset, B a train option."""
    from gentool.errors import GentoolError
    from gentool.plugins import get_model_class

    translation = get_model_class(model).FAMILY == "translation"
    domain_a, domain_b = domains
    if not translation:
        if domain_a or domain_b:
            raise GentoolError(
                f"--domain-a/--domain-b apply to translation models (cyclegan), not '{model}'."
            )
        return
    if not (domain_a and domain_b):
        raise GentoolError(
            f"'{model}' learns between two image folders; pass both --domain-a DIR and "
            "--domain-b DIR."
        )
    spec.name, spec.root = "folder", domain_a
    spec.labels = spec.label_column = None
    extra["domain_a"], extra["domain_b"] = domain_a, domain_b


def _done(app: Any, ckpt: Any) -> None:
    from gentool.distributed import current_world

    if current_world().is_main:
        app.console.print(f"[green]done:[/] {ckpt}")
