"""Devices, seeds and other facts about where code runs."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from gentool.errors import GentoolError


def resolve_device(name: str | None) -> torch.device:
    """``auto`` -> the first GPU if there is one, else CPU; ``cuda:N`` is checked to exist."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            local_rank = int(os.environ.get("LOCAL_RANK", "0"))
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise GentoolError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N.") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise GentoolError(
                f"device '{name}' asked for, but no CUDA GPU is available; use --device cpu."
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise GentoolError(
                f"device '{name}' does not exist: this machine has {count} GPU(s) (cuda:0..cuda:{count - 1})."
            )
    elif device.type not in ("cpu", "mps"):
        raise GentoolError(f"unsupported device '{name}'; use auto, cpu, cuda or cuda:N.")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
