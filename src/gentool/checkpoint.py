"""Checkpoints in safetensors: weights, optimizer state, RNG states and the config.

A gentool checkpoint is one ``.safetensors`` file. Tensors are named ``model.<param>`` (the
model's state dict), ``optim.<network>.<index>.<key>`` (optimizer state), ``rng.<stream>``
and ``trainer.<name>``. The metadata holds one key, ``gentool``, whose value is JSON with the
schema version, the model name and config, the loss, the data and the training settings, so
that ``gentool sample ckpt.safetensors`` rebuilds the model with no flags. Nothing is ever
unpickled: safetensors stores raw tensor bytes and a JSON header.

Writes are atomic (temporary file, fsync, rename), so a crash while saving leaves the
previous checkpoint readable.
"""

from __future__ import annotations

import json
import random
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from gentool import __version__
from gentool.errors import CheckpointError
from gentool.fileio import atomic_write_bytes

SCHEMA_VERSION = 1
FORMAT = "gentool-checkpoint"
METADATA_KEY = "gentool"
#: Largest JSON header accepted (real checkpoints are a few hundred kB at most).
MAX_HEADER_BYTES = 64 * 1024 * 1024


@dataclass
class Checkpoint:
    """The contents of a checkpoint file."""

    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]
    path: Path

    def section(self, prefix: str) -> dict[str, torch.Tensor]:
        """Tensors whose names start with ``prefix.``, with the prefix removed."""
        start = prefix + "."
        return {k[len(start) :]: v for k, v in self.tensors.items() if k.startswith(start)}


def save_checkpoint(
    path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> Path:
    """Write a checkpoint atomically. ``meta`` must be JSON-serialisable."""
    header = {"format": FORMAT, "schema_version": SCHEMA_VERSION, "gentool_version": __version__}
    header.update(meta)
    # safetensors refuses shared or non-contiguous storage: give it private contiguous copies.
    plain = {name: t.detach().to("cpu").contiguous().clone() for name, t in tensors.items()}
    data = save_bytes(plain, metadata={METADATA_KEY: json.dumps(header)})
    path = Path(path)
    atomic_write_bytes(path, data)
    return path


def _read_header(raw: bytes, path: Path) -> None:
    if len(raw) < 8:
        raise CheckpointError(f"{path} is not a safetensors file (only {len(raw)} bytes).")
    (header_len,) = struct.unpack("<Q", raw[:8])
    if header_len > MAX_HEADER_BYTES or header_len > len(raw) - 8:
        raise CheckpointError(
            f"{path} is not a valid safetensors file (header claims {header_len} bytes, "
            f"file has {len(raw)})."
        )
    if raw[8:9] != b"{":
        raise CheckpointError(f"{path} is not a safetensors file (is it a pickle/.pt file?).")


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read and validate a gentool checkpoint; raise :class:`CheckpointError` otherwise."""
    path = Path(path)
    if path.is_dir():
        candidate = path / "ckpt.safetensors"
        if not candidate.exists():
            raise CheckpointError(f"{path} is a folder without ckpt.safetensors.")
        path = candidate
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist.")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}.") from None
    _read_header(raw, path)
    try:
        (header_len,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8 : 8 + header_len])
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
        metadata = header.get("__metadata__") or {}
        if not isinstance(metadata, dict):
            raise ValueError("metadata is not a JSON object")
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} has a corrupt safetensors header ({exc}).") from None
    text = metadata.get(METADATA_KEY)
    if not isinstance(text, str):
        raise CheckpointError(
            f"{path} is a safetensors file but not a gentool checkpoint (no '{METADATA_KEY}' "
            "metadata)."
        )
    try:
        meta = json.loads(text)
    except ValueError:
        raise CheckpointError(f"{path} has gentool metadata that is not valid JSON.") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gentool checkpoint (wrong format field).")
    version = meta.get("schema_version")
    if version != SCHEMA_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint schema version {version!r}; this gentool reads version "
            f"{SCHEMA_VERSION}."
        )
    if not isinstance(meta.get("model"), str) or not isinstance(meta.get("model_config"), dict):
        raise CheckpointError(f"{path} does not say which model it holds.")
    try:
        tensors = load_bytes(raw)
    except (SafetensorError, ValueError, RuntimeError, OverflowError, MemoryError) as exc:
        raise CheckpointError(f"{path} has corrupt tensor data ({exc}).") from None
    return Checkpoint(tensors=tensors, meta=meta, path=path)


# --- optimizer state ----------------------------------------------------------------------


def optimizer_to_tensors(
    optimizer: torch.optim.Optimizer, prefix: str
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state dict into tensors and JSON (param groups, scalar state)."""
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{index}.{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    groups = json.loads(json.dumps(state["param_groups"], default=str))
    return tensors, {"param_groups": groups, "scalars": scalars}


#: Optimizer options that choose kernels rather than change the arithmetic.
IMPLEMENTATION_FLAGS = ("foreach", "fused", "capturable", "differentiable")


def optimizer_from_tensors(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        index, _, key = name.partition(".")
        state.setdefault(int(index), {})[key] = value
    for index, values in meta.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(values)
    groups = meta["param_groups"]
    current = optimizer.state_dict()["param_groups"]
    if len(groups) != len(current):
        raise CheckpointError("optimizer state in the checkpoint does not match the model.")
    for saved, now in zip(groups, current, strict=True):
        saved["params"] = now["params"]
        # How the update is computed belongs to this machine, not to the run: a run saved on
        # a GPU (fused, capturable kernels) resumes on a CPU and the other way round.
        for key in IMPLEMENTATION_FLAGS:
            if key in now:
                saved[key] = now[key]
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"optimizer state does not fit the model ({exc}).") from None
    # Saved tensors are contiguous; fused and foreach kernels want each moment in the memory
    # layout of its parameter (channels_last weights keep channels_last moments).
    for group in optimizer.param_groups:
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                if (
                    isinstance(value, torch.Tensor)
                    and value.shape == param.shape
                    and value.stride() != param.stride()
                ):
                    optimizer.state[param][key] = torch.empty_like(param, dtype=value.dtype).copy_(
                        value
                    )


# --- random number generators ----------------------------------------------------------------


def rng_to_tensors() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Capture the torch, CUDA, numpy and Python RNG streams as tensors (+ small JSON)."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    name, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    version, internal, gauss_next = random.getstate()
    tensors["rng.python"] = torch.tensor(internal, dtype=torch.int64)
    meta = {
        "numpy": {"name": name, "pos": int(pos), "has_gauss": int(has_gauss), "cached": cached},
        "python": {"version": version, "gauss_next": gauss_next},
    }
    return tensors, meta


def rng_from_tensors(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    if "rng.torch" in tensors:
        torch.set_rng_state(tensors["rng.torch"].to(torch.uint8))
    cuda = sorted(k for k in tensors if k.startswith("rng.cuda."))
    if cuda and torch.cuda.is_available():
        states = [tensors[k].to(torch.uint8) for k in cuda][: torch.cuda.device_count()]
        for i, s in enumerate(states):
            torch.cuda.set_rng_state(s, i)
    if "rng.numpy" in tensors and "numpy" in meta:
        m = meta["numpy"]
        keys = tensors["rng.numpy"].numpy().astype(np.uint32)
        np.random.set_state((m["name"], keys, m["pos"], m["has_gauss"], m["cached"]))
    if "rng.python" in tensors and "python" in meta:
        m = meta["python"]
        internal = tuple(int(x) for x in tensors["rng.python"].tolist())
        random.setstate((m["version"], internal, m["gauss_next"]))
