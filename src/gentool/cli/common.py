"""Helpers for commands that read checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from gentool.checkpoint import load_checkpoint
from gentool.errors import GentoolError
from gentool.models.base import ModelPlugin, model_from_checkpoint
from gentool.runtime import resolve_device


def load_model(
    path: str | Path, device: str = "auto", *, use_ema: bool = True
) -> tuple[ModelPlugin, dict[str, Any]]:
    """Rebuild a model from a checkpoint file or run folder, on ``device``."""
    ckpt = load_checkpoint(path)
    model = model_from_checkpoint(ckpt, use_ema=use_ema)
    model.to(resolve_device(device))
    return model, ckpt.meta


def require_family(model: ModelPlugin, families: tuple[str, ...], command: str) -> None:
    if model.FAMILY not in families:
        raise GentoolError(
            f"'{command}' needs a {' or '.join(families)} model, but this checkpoint holds "
            f"'{model.PLUGIN_NAME}' ({model.FAMILY})."
        )


def seeded_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
