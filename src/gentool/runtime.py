"""Devices, seeds and other facts about where code runs."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from gentool.errors import GentoolError

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"
#: Largest seed: every random stream of a run is seeded from the seed plus a small offset,
#: and torch generators take 64-bit seeds.
MAX_SEED = 2**63 - 1


def resolve_device(name: str | None) -> torch.device:
    """``auto`` -> the first GPU if there is one, else CPU; ``cuda:N`` is checked to exist.

    Only devices gentool's loops run on are accepted: ``cpu`` (``cpu:0`` is the same), CUDA
    GPUs, and Apple's ``mps`` where this machine has it. Anything else is one line.
    """
    text = "auto" if name is None else str(name).strip().lower()
    if not text:
        raise GentoolError(f"empty device name; use {DEVICE_CHOICES}.")
    if text == "auto":
        if torch.cuda.is_available():
            local_rank = int(os.environ.get("LOCAL_RANK", "0"))
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        return torch.device("cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        raise GentoolError(f"unknown device '{name}'; use {DEVICE_CHOICES}.") from None
    if device.type == "cpu":
        if device.index not in (None, 0):
            raise GentoolError(f"device '{name}' does not exist; this machine has one 'cpu'.")
        return torch.device("cpu")
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
        return device
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise GentoolError(
                f"device '{name}' (Apple GPU) is not available on this machine; use {DEVICE_CHOICES}."
            )
        return device
    raise GentoolError(f"unsupported device '{name}'; use {DEVICE_CHOICES}.")


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def format_bytes(count: float) -> str:
    """``3.7 TB``, ``21 GB``, ``512 kB`` (decimal units, two significant digits)."""
    for unit, size in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            value = count / size
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{int(count)} bytes"


def available_memory(device: torch.device | str | None = None) -> int | None:
    """Bytes that can still be allocated: free GPU memory on a CUDA device, else the host's
    ``MemAvailable`` (``/proc/meminfo``; ``os.sysconf`` as a fallback). None if unknown."""
    import os

    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cuda":
        try:
            free, _ = torch.cuda.mem_get_info(dev)
            return int(free)
        except (RuntimeError, AssertionError, ValueError):
            return None
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None
