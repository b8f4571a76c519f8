"""Loading by name: the helpers that need the plugin registry, kept beside it.

Models, losses and datasets are interfaces that import nothing above them; turning a name
(``--dataset folder``, the ``model`` field of a checkpoint) into a class is the registry's
job, so these two functions live here, above both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gentool.checkpoint import Checkpoint, load_checkpoint
from gentool.data.base import DataSpec, ImageData
from gentool.data.checks import load_from
from gentool.errors import CheckpointError, GentoolError
from gentool.fileio import file_sha256
from gentool.models.base import ModelPlugin, check_weights, declared_half_storage, rebuild_model
from gentool.plugins import distribution_of, get_dataset_class, get_recorded_class


def load_data(spec: DataSpec) -> ImageData:
    """Look the dataset up in the registry, load it and apply the requested split."""
    cls = get_dataset_class(spec.name)
    return load_from(cls, spec, distribution=distribution_of("dataset", cls))


def recorded_plugins(ckpt: Checkpoint) -> dict[str, object]:
    """The checkpoint's ``plugins`` provenance (kind -> name, distribution, version)."""
    return ckpt.info.plugins


def model_class_of(ckpt: Checkpoint) -> type[ModelPlugin]:
    """The model class a checkpoint needs, checked against the plugin it was made with."""
    from gentool.checkpoint_schema import check_model_meta

    name = ckpt.info.model
    cls: type[ModelPlugin] = get_recorded_class(
        "model", name, recorded_plugins(ckpt).get("model"), str(ckpt.path)
    )
    check_model_meta(ckpt.meta, ckpt.path, cls)
    return cls


def family_of(ckpt: Checkpoint) -> Any:
    """The registered :class:`~gentool.family.Family` of a checkpoint's model. A missing
    model or family plugin is one line naming the distribution to install."""
    from gentool.plugins import get_family, get_recorded_class, get_registry

    name = str(model_class_of(ckpt).FAMILY)
    recorded = recorded_plugins(ckpt).get("family")
    if recorded is not None or name not in get_registry().entries["trainer"]:
        get_recorded_class("family", name, recorded, str(ckpt.path))  # names what to install
    return get_family(name)


def refuse_no_ema_without_average(ckpt: Checkpoint) -> None:
    """``--no-ema`` (the trained weights, not their moving average) needs a checkpoint that
    holds both: refused by name for one that holds a single set."""
    if ckpt.section("ema"):
        return
    trained = ckpt.info.trained
    if trained is not None and trained.get("weights") == "ema":
        raise GentoolError(
            f"{ckpt.path} is an export holding only the moving average of its run's weights; "
            "--no-ema needs the run's own checkpoint."
        )
    raise GentoolError(
        f"{ckpt.path} holds one set of weights (its run trained without --ema); drop --no-ema."
    )


def model_from_checkpoint(ckpt: Checkpoint, *, use_ema: bool = True) -> ModelPlugin:
    """Rebuild a model from a checkpoint alone: its class by the checkpoint's ``model``
    name (refused, naming the distribution to install, when that plugin is missing), then
    :func:`gentool.models.base.rebuild_model`."""
    return rebuild_model(model_class_of(ckpt), ckpt, use_ema=use_ema)


def init_weights_from(model: ModelPlugin, path: str) -> dict[str, Any]:
    """``gentool train --init-from CKPT``: start ``model`` from the weights of a checkpoint of
    the same model (a training checkpoint, or an export such as the shipped upscalers).

    Every weight in the checkpoint must have a place of the same shape in ``model``; networks
    the checkpoint lacks entirely (the discriminator of an inference export) start fresh.
    Optimiser state, steps and random streams are not taken: this starts a new run (use
    ``--resume`` to continue one). Returns what the run records (path, sha256, step, and the
    networks that started fresh) and the model options that differ from the checkpoint's.
    """
    where = f"--init-from {path}"
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as exc:
        raise CheckpointError(f"{where}: {exc.message}") from None
    name = ckpt.info.model
    if name != model.PLUGIN_NAME:
        raise GentoolError(
            f"{where} holds model '{name}', not '{model.PLUGIN_NAME}'; start from a checkpoint "
            "of the same model."
        )
    state = ckpt.section("model")
    own = model.state_dict()
    saved_config = ckpt.info.model_config
    config = model.config_dict()
    differ = {k: (saved_config.get(k), v) for k, v in config.items() if saved_config.get(k) != v}
    shown = ", ".join(f"{k}={a} (this run {b})" for k, (a, b) in sorted(differ.items()))
    hint = f" It was trained with {shown}." if shown else ""
    extra = sorted(set(state) - set(own))
    if extra:
        raise GentoolError(
            f"{where}: its weight '{extra[0]}' has no place in this model.{hint} Pass the "
            "same --model-opt values it was made with."
        )
    present = {key.split(".", 1)[0] for key in state}
    fresh = sorted({key.split(".", 1)[0] for key in own} - present)
    partial = [k for k in own if k not in state and k.split(".", 1)[0] in present]
    if partial:
        raise GentoolError(f"{where} lacks weight '{partial[0]}' of this model.{hint}")
    subset = {k: v for k, v in own.items() if k in state}
    try:
        checked = check_weights(subset, state, where, allow_half=declared_half_storage(ckpt.info))
    except CheckpointError as exc:
        raise GentoolError(f"{exc.message}{hint}") from None
    model.load_state_dict(checked, strict=False)
    return {
        "path": str(Path(ckpt.path).resolve()),
        "sha256": file_sha256(ckpt.path),
        "step": ckpt.info.step,
        "fresh": fresh,
        "differs": {k: {"checkpoint": a, "run": b} for k, (a, b) in differ.items()},
    }
