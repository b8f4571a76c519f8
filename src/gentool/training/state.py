"""What a training checkpoint holds, written and read in one place.

:func:`run_meta` is what rebuilds the run (model, loss, data and training settings, the
run's record, the plugins' provenance); :func:`training_state` adds what continues it exactly
(weights, optimizers, random streams, the sampler's position, the loop's, the loss's and the
callbacks' state); :func:`restore_state` reads all of it back, each field validated first
(:func:`gentool.training.resume_state.validate_resume_state`).
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

import torch

from gentool.checkpoint import (
    Checkpoint,
    optimizer_from_tensors,
    optimizer_to_tensors,
    rng_from_tensors,
    rng_to_tensors,
)
from gentool.config import config_to_dict
from gentool.errors import GentoolError
from gentool.models.base import load_weights
from gentool.training.resume_state import validate_resume_state


def run_meta(trainer: Any) -> dict[str, Any]:
    """The settings that rebuild ``trainer``'s run, as a checkpoint's metadata."""
    data_info = config_to_dict(trainer.data_spec)
    data_info.update(
        {
            "num_images": len(trainer.data),
            "fingerprint": trainer.data_fingerprint,
            "class_names": trainer.data.class_names,
            "attribute_names": trainer.data.attribute_names,
        }
    )
    meta: dict[str, Any] = {
        "run_id": trainer.run_id,
        "model": trainer.model.PLUGIN_NAME,
        "family": trainer.model.FAMILY,
        "model_config": trainer.model.config_dict(),
        "data": data_info,
        "train": config_to_dict(trainer.settings),
    }
    if trainer.loss is not None:
        meta["loss"] = trainer.loss.PLUGIN_NAME
        meta["loss_config"] = trainer.loss.config_dict()
    if trainer.history:
        meta["history"] = trainer.history
    if trainer.init_from is not None:
        meta["init_from"] = trainer.init_from
    if trainer.callbacks:
        meta["callbacks"] = {cb.PLUGIN_NAME: cb.config_dict() for cb in trainer.callbacks}
    meta["plugins"] = trainer.provenance()
    return meta


def provenance(trainer: Any) -> dict[str, Any]:
    """Which distribution (and version) provided the model, loss, dataset and family (or,
    for a loop registered alone through the version-2 hook, the loop)."""
    from gentool.plugins import get_dataset_class, get_registry
    from gentool.plugins import provenance as of

    out: dict[str, Any] = {"model": of("model", type(trainer.model))}
    if trainer.loss is not None:
        out["loss"] = of("loss", type(trainer.loss))
    with suppress(GentoolError):
        out["dataset"] = of("dataset", get_dataset_class(trainer.data_spec.name))
    family = str(trainer.model.FAMILY)
    if family in get_registry().entries["family"]:
        out["family"] = of("family", get_registry().get("family", family))
    else:
        out["trainer"] = of("trainer", type(trainer))
    if trainer.callbacks:
        out["callbacks"] = {cb.PLUGIN_NAME: of("callback", type(cb)) for cb in trainer.callbacks}
    return out


def training_state(trainer: Any) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(tensors, metadata)`` of a checkpoint that continues ``trainer`` exactly."""
    # Loops keep DDP/compiled handles beside the model, so its state dict is the plain one.
    tensors = {f"model.{k}": v for k, v in trainer.model.state_dict().items()}
    optim_meta: dict[str, Any] = {}
    for name, opt in trainer.optimizers.items():
        t, m = optimizer_to_tensors(opt, f"optim.{name}")
        tensors.update(t)
        optim_meta[name] = m
    rng_t, rng_meta = rng_to_tensors()
    tensors.update(rng_t)
    sampler_t, sampler_meta = trainer.sampler.state()
    tensors.update({f"trainer.{k}": v for k, v in sampler_t.items()})
    tensors.update({f"trainer.{k}": v for k, v in trainer.extra_state().items()})
    for section, values in trainer.checkpoint_sections().items():
        tensors.update({f"{section}.{k}": v for k, v in values.items()})
    for callback in trainer.callbacks:  # a callback's state, resumed exactly
        prefix = f"callback.{callback.PLUGIN_NAME}"
        tensors.update({f"{prefix}.{k}": v for k, v in callback.state_dict().items()})
    if trainer.loss is not None:  # loss API v2: a loss's own state (step counters, ...)
        tensors.update({f"loss.{k}": v for k, v in trainer.loss.state_dict().items()})
    meta = trainer.run_meta()
    meta.update(
        {"step": trainer.step, "optim": optim_meta, "rng": rng_meta, "sampler": sampler_meta}
    )
    return tensors, meta


def restore_state(trainer: Any, ckpt: Checkpoint) -> None:
    """Continue ``trainer`` from a checkpoint :func:`training_state` wrote (same model and
    config). Every field it reads is validated first (types, ranges, shapes), so a damaged or
    hand-edited checkpoint is one line naming the field, never a crash."""
    saved_count = ckpt.info.data.get("num_images")
    count = saved_count if trainer.data_changed and isinstance(saved_count, int) else None
    validate_resume_state(
        ckpt, count if count is not None else len(trainer.data), networks=trainer.optimizers
    )
    load_weights(trainer.model, ckpt.section("model"), str(ckpt.path))
    trainer.model.to(trainer.device)
    optim_meta = ckpt.meta.get("optim", {})
    for name, opt in trainer.optimizers.items():
        if name in optim_meta:
            optimizer_from_tensors(opt, ckpt.section(f"optim.{name}"), optim_meta[name])
    loop = ckpt.section("trainer")
    trainer.sampler.load_state(loop, ckpt.meta.get("sampler", {"epoch": 0, "position": 0}))
    trainer.load_extra_state(loop)
    if trainer.loss is not None:
        trainer.loss.load_state_dict(ckpt.section("loss"))
    if trainer.ema is not None:
        trainer.ema.restore(ckpt)
    for callback in trainer.callbacks:
        callback.load_state_dict(ckpt.section(f"callback.{callback.PLUGIN_NAME}"))
    rng_from_tensors(ckpt.tensors, ckpt.meta.get("rng", {}))
    trainer.step = ckpt.info.step or 0
