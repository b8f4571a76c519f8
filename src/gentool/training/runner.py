"""Start or resume a training run from names and options: what ``gentool train`` calls.

Library users and plugin tests can call :func:`train` directly::

    from gentool.training.runner import train
    ckpt = train("dcgan", loss="ls", steps=200, out="runs/try")
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from rich.console import Console

from gentool.checkpoint import load_checkpoint
from gentool.config import build_config
from gentool.data.base import DataSpec, load_data
from gentool.errors import GentoolError
from gentool.models.base import ModelPlugin
from gentool.plugins import get_loss_class, get_model_class
from gentool.runtime import seed_everything
from gentool.training.base import Trainer, TrainSettings


def _free_run_folder(base: Path) -> Path:
    if not (base / "ckpt.safetensors").exists() and not (base / "log.jsonl").exists():
        return base
    i = 2
    while True:
        candidate = base.with_name(f"{base.name}-{i}")
        if not (candidate / "ckpt.safetensors").exists() and not (candidate / "log.jsonl").exists():
            return candidate
        i += 1


def build_trainer(
    model_name: str,
    *,
    loss: str | None = None,
    model_options: dict[str, Any] | None = None,
    loss_options: dict[str, Any] | None = None,
    data: DataSpec | None = None,
    settings: TrainSettings | None = None,
    console: Console | None = None,
) -> Trainer:
    """Build model, loss, data and the family's training loop, ready for ``fit()``."""
    settings = settings or TrainSettings()
    settings.validate()
    spec = data or DataSpec()
    model_cls: type[ModelPlugin] = get_model_class(model_name)
    loss_obj = None
    if model_cls.FAMILY in ("gan", "image2image", "translation") or loss is not None:
        loss_name = str(loss or getattr(model_cls, "DEFAULT_LOSS", "bce"))
        loss_obj = get_loss_class(loss_name).from_options(loss_options or {})
    elif loss_options:
        raise GentoolError(f"model '{model_name}' takes no GAN loss, so --loss-opt does not apply.")
    seed_everything(settings.seed)
    image_data = load_data(spec)
    config = model_cls.configure(model_options or {}, image_data, loss=loss_obj)
    model = model_cls(config)
    trainer_cls = model_cls.trainer_class()
    return trainer_cls(model, image_data, settings, data_spec=spec, loss=loss_obj, console=console)


def train(
    model_name: str,
    *,
    loss: str | None = None,
    model_options: dict[str, Any] | None = None,
    loss_options: dict[str, Any] | None = None,
    data: DataSpec | None = None,
    console: Console | None = None,
    overwrite: bool = False,
    **settings: Any,
) -> Path:
    """Train a model and return the path of its checkpoint."""
    train_settings = build_config(TrainSettings, settings, what="training setting")
    out = Path(train_settings.out)
    if not overwrite:
        out = _free_run_folder(out)
    train_settings.out = str(out)
    trainer = build_trainer(
        model_name,
        loss=loss,
        model_options=model_options,
        loss_options=loss_options,
        data=data,
        settings=train_settings,
        console=console,
    )
    return trainer.fit()


def resume(run: str | Path, *, console: Console | None = None, **overrides: Any) -> Path:
    """Continue the run in folder (or checkpoint) ``run``; ``overrides`` may change
    ``steps``, ``epochs``, ``device``, ``log_every``, ``sample_every``, ``checkpoint_every``."""
    ckpt = load_checkpoint(run)
    meta = ckpt.meta
    allowed = {"steps", "epochs", "device", "log_every", "sample_every", "checkpoint_every"}
    bad = sorted(k for k, v in overrides.items() if v is not None and k not in allowed)
    if bad:
        raise GentoolError(
            f"--{bad[0].replace('_', '-')} cannot change when resuming; only "
            f"{', '.join(sorted(allowed))} can."
        )
    saved = dict(meta.get("train", {}))
    saved.update({k: v for k, v in overrides.items() if v is not None})
    saved["out"] = str(ckpt.path.parent)
    settings = build_config(TrainSettings, saved, what="training setting")
    spec_fields = {f.name for f in dataclasses.fields(DataSpec)}
    spec = DataSpec(**{k: v for k, v in meta.get("data", {}).items() if k in spec_fields})
    trainer = build_trainer(
        meta["model"],
        loss=meta.get("loss"),
        model_options=meta["model_config"],
        loss_options=meta.get("loss_config"),
        data=spec,
        settings=settings,
        console=console,
    )
    trainer.restore(ckpt)
    if trainer.step >= trainer.total_steps:
        raise GentoolError(
            f"run {ckpt.path.parent} already finished its {trainer.total_steps} steps; pass a "
            "larger --steps to continue."
        )
    return trainer.fit()
