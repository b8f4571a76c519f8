"""Helpers for commands that read checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from gentool.checkpoint import load_checkpoint
from gentool.checkpoint_schema import CheckpointMeta
from gentool.errors import GentoolError
from gentool.loading import model_from_checkpoint, refuse_no_ema_without_average
from gentool.models.base import ModelPlugin, available_memory, format_bytes
from gentool.runtime import resolve_device


def load_model(
    path: str | Path, device: str = "auto", *, use_ema: bool = True
) -> tuple[ModelPlugin, CheckpointMeta]:
    """Rebuild a model from a checkpoint file or run folder, on ``device``.

    What ``sample``, ``evaluate``, ``reconstruct`` and ``plot`` share. Everything is checked
    before it is used, each problem one line: the device, the file (only a regular file is
    opened; header and metadata are validated before tensor bytes are read), the model config
    and whether the model fits in memory (estimated on the meta device), and the weights
    (names, shapes, exact dtypes, finite values).
    """
    target = resolve_device(device)  # a bad --device fails before anything is read
    ckpt = load_checkpoint(path)
    if not use_ema:
        refuse_no_ema_without_average(ckpt)
    model = model_from_checkpoint(ckpt, use_ema=use_ema)
    if target.type != "cpu":
        weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
        free = available_memory(target)
        if free is not None and weights > free:
            raise GentoolError(
                f"{ckpt.path}: model '{model.PLUGIN_NAME}' needs about {format_bytes(weights)} "
                f"for its weights; {target} has {format_bytes(free)} free. Pass --device cpu."
            )
    try:
        model.to(target)
    except torch.cuda.OutOfMemoryError:
        raise GentoolError(
            f"{ckpt.path}: model '{model.PLUGIN_NAME}' does not fit in the memory of {target}; "
            "pass --device cpu."
        ) from None
    return model, ckpt.info


def refuse_writing_into_run(checkpoint: str, outputs: dict[str, str | None]) -> None:
    """An output (``{option: path}``) that is the checkpoint being read or one of the files
    training keeps in its run folder (log, config, ``run.toml``) is refused, ``--overwrite``
    or not: writing it would lose the run."""
    import os

    from gentool.training.runfolder import RUN_FILES

    path = Path(checkpoint)
    if checkpoint == "default" or not path.exists():
        return  # a shipped model, or loading names the problem
    run = path if path.is_dir() else path.parent
    kept = {os.path.realpath(run / name): name for name in RUN_FILES}
    kept[os.path.realpath(path)] = "checkpoint"
    for option, target in outputs.items():
        if not target:
            continue
        what = kept.get(os.path.realpath(target))
        if what is not None:
            noun = "the run's log" if what == "log.jsonl" else f"the run's {what}"
            raise GentoolError(f"{option} {target} is {noun} in {run}; name another file.")


def require_use(model: ModelPlugin, uses: tuple[str, ...], command: str) -> Any:
    """The model's family, which must serve one of ``uses`` (:data:`gentool.family.USES`),
    or one line saying what the model does instead."""
    from gentool.plugins import family_of_model

    family = family_of_model(type(model))
    if not family.can_any(uses):
        wanted = " or ".join(uses)
        raise GentoolError(
            family.cannot(f"'{command}' (for models that {wanted} images)", model.PLUGIN_NAME)
        )
    return family


def seeded_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
