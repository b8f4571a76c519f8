"""Helpers for commands that read checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from gentool.checkpoint import load_checkpoint
from gentool.errors import GentoolError
from gentool.loading import model_from_checkpoint
from gentool.models.base import ModelPlugin, available_memory, format_bytes
from gentool.runtime import resolve_device


def load_model(
    path: str | Path, device: str = "auto", *, use_ema: bool = True
) -> tuple[ModelPlugin, dict[str, Any]]:
    """Rebuild a model from a checkpoint file or run folder, on ``device``.

    What ``sample``, ``evaluate``, ``reconstruct`` and ``plot`` share. Everything is checked
    before it is used, each problem one line: the device, the file (only a regular file is
    opened; header and metadata are validated before tensor bytes are read), the model config
    and whether the model fits in memory (estimated on the meta device), and the weights
    (names, shapes, exact dtypes, finite values).
    """
    target = resolve_device(device)  # a bad --device fails before anything is read
    ckpt = load_checkpoint(path)
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
    return model, ckpt.meta


def require_family(model: ModelPlugin, families: tuple[str, ...], command: str) -> None:
    if model.FAMILY not in families:
        raise GentoolError(
            f"'{command}' needs a {' or '.join(families)} model, but this checkpoint holds "
            f"'{model.PLUGIN_NAME}' ({model.FAMILY})."
        )


def seeded_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
