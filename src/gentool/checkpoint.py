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

import io
import json
import math
import os
import random
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save as save_bytes

from gentool import __version__
from gentool.checkpoint_schema import FORMAT, SCHEMA_VERSION, CheckpointMeta
from gentool.errors import CheckpointError
from gentool.fileio import atomic_write_bytes
from gentool.run_folder import CHECKPOINT

METADATA_KEY = "gentool"
#: Largest JSON header accepted (real checkpoints are a few hundred kB at most).
MAX_HEADER_BYTES = 64 * 1024 * 1024
#: safetensors dtype names gentool reads, and their torch types.
SAFETENSORS_DTYPES: dict[str, torch.dtype] = {
    "BOOL": torch.bool,
    "U8": torch.uint8,
    "I8": torch.int8,
    "I16": torch.int16,
    "I32": torch.int32,
    "I64": torch.int64,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F32": torch.float32,
    "F64": torch.float64,
}


@dataclass
class Checkpoint:
    """The contents of a checkpoint file."""

    tensors: dict[str, torch.Tensor]
    #: The metadata as written (JSON); ``info`` is the same, checked and typed.
    meta: dict[str, Any]
    path: Path
    info: CheckpointMeta

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


def _refuse_special(path: Path, st: os.stat_result) -> None:
    """One line for anything that is not a regular file (read before anything is opened)."""
    mode = st.st_mode
    kinds = (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    for test, kind in kinds:
        if test(mode):
            raise CheckpointError(f"{path} is {kind}, not a checkpoint file.")
    if not stat.S_ISREG(mode):
        raise CheckpointError(f"{path} is not a regular file, so it is not a checkpoint.")


def _stat(path: Path) -> os.stat_result:
    try:
        return os.stat(path)  # follows symlinks: a link to /dev/zero is a device
    except FileNotFoundError:
        if path.is_symlink():
            raise CheckpointError(f"checkpoint {path} is a broken symbolic link.") from None
        raise CheckpointError(f"checkpoint {path} does not exist.") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}.") from None


def _resolve_file(path: Path) -> tuple[Path, os.stat_result]:
    """The checkpoint file ``path`` names (a run folder means ``DIR/ckpt.safetensors``)."""
    st = _stat(path)
    if stat.S_ISDIR(st.st_mode):
        candidate = path / CHECKPOINT
        if not os.path.lexists(candidate):
            raise CheckpointError(f"{path} is a folder without {CHECKPOINT}.")
        path, st = candidate, _stat(candidate)
        if stat.S_ISDIR(st.st_mode):
            raise CheckpointError(f"{path} is a folder, not a checkpoint file.")
    _refuse_special(path, st)
    return path, st


def _read_exactly(handle: io.BufferedReader, count: int, path: Path, what: str) -> bytes:
    data = handle.read(count)
    if len(data) != count:
        raise CheckpointError(
            f"{path} is truncated ({what}: expected {count} bytes, read {len(data)})."
        )
    return data


def _read_header(handle: io.BufferedReader, size: int, path: Path) -> tuple[dict[str, Any], int]:
    """Read the length prefix and the JSON header only; return the header and its length."""
    if size < 8:
        raise CheckpointError(f"{path} is not a safetensors file (only {size} bytes).")
    (header_len,) = struct.unpack("<Q", _read_exactly(handle, 8, path, "length prefix"))
    if header_len > MAX_HEADER_BYTES or header_len > size - 8:
        raise CheckpointError(
            f"{path} is not a valid safetensors file (header claims {header_len} bytes, "
            f"file has {size})."
        )
    raw = _read_exactly(handle, header_len, path, "header")
    if raw[:1] != b"{":
        raise CheckpointError(f"{path} is not a safetensors file (is it a pickle/.pt file?).")
    try:
        header = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise CheckpointError(f"{path} has a corrupt safetensors header ({reason}).") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path} has a corrupt safetensors header (not a JSON object).")
    return header, header_len


def checkpoint_header_meta(path: str | Path) -> dict[str, Any] | None:
    """The gentool metadata of the checkpoint at ``path``, reading only its header (not the
    tensors, not through a link); None when it is not a gentool checkpoint."""
    path = Path(path)
    try:
        info = os.stat(path, follow_symlinks=False)
        if not stat.S_ISREG(info.st_mode):
            return None
        with open(path, "rb") as handle:
            header, _ = _read_header(handle, info.st_size, path)
        return _gentool_meta(header, path)
    except (OSError, CheckpointError):
        return None


def is_gentool_checkpoint(path: str | Path) -> bool:
    """True when ``path`` is a regular file whose safetensors header carries gentool's
    metadata (only the header is read): the proof that gentool wrote it."""
    return checkpoint_header_meta(path) is not None


def _int_list(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
    )


@dataclass(frozen=True)
class _Entry:
    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]
    begin: int
    end: int


def _tensor_entries(header: dict[str, Any], data_len: int, path: Path) -> list[_Entry]:
    """Check every tensor entry of a safetensors header against the spec and the file size."""
    entries: list[_Entry] = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        where = f"{path}: tensor '{name}'"
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise CheckpointError(f"{where} has a malformed header entry.")
        dtype = SAFETENSORS_DTYPES.get(info["dtype"]) if isinstance(info["dtype"], str) else None
        if dtype is None:
            raise CheckpointError(f"{where} has unsupported dtype {info['dtype']!r}.")
        shape, offsets = info["shape"], info["data_offsets"]
        if not _int_list(shape) or len(shape) > 16:
            raise CheckpointError(f"{where} has an invalid shape {shape!r}.")
        if not _int_list(offsets) or len(offsets) != 2 or offsets[0] > offsets[1]:
            raise CheckpointError(f"{where} has invalid data offsets {offsets!r}.")
        begin, end = offsets
        expected = math.prod(shape) * _itemsize(dtype)
        if end - begin != expected:
            raise CheckpointError(
                f"{where} has {end - begin} bytes of data but its shape {tuple(shape)} and dtype "
                f"{info['dtype']} need {expected}."
            )
        if end > data_len:
            raise CheckpointError(
                f"{where} lies beyond the end of the file (byte {end} of a {data_len}-byte "
                "data section): the file is truncated or corrupt."
            )
        entries.append(_Entry(name, dtype, tuple(shape), begin, end))
    entries.sort(key=lambda e: (e.begin, e.end))
    position = 0
    for entry in entries:
        if entry.begin < position:
            raise CheckpointError(
                f"{path}: tensor '{entry.name}' overlaps another tensor's data (corrupt header)."
            )
        if entry.begin > position:
            raise CheckpointError(
                f"{path}: tensor data has a gap before '{entry.name}' (corrupt header)."
            )
        position = entry.end
    if position != data_len:
        raise CheckpointError(
            f"{path}: the header describes {position} bytes of tensor data but the file holds "
            f"{data_len} (truncated or corrupt)."
        )
    return entries


def _itemsize(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def _gentool_meta(header: dict[str, Any], path: Path) -> dict[str, Any]:
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(
            f"{path} has a corrupt safetensors header (metadata is not a string map)."
        )
    text = metadata.get(METADATA_KEY)
    if text is None:
        raise CheckpointError(
            f"{path} is a safetensors file but not a gentool checkpoint (no '{METADATA_KEY}' "
            "metadata)."
        )
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError):
        raise CheckpointError(f"{path} has gentool metadata that is not valid JSON.") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} is not a gentool checkpoint (wrong format field).")
    return meta


def _read_tensors(
    handle: io.BufferedReader, entries: list[_Entry], path: Path
) -> dict[str, torch.Tensor]:
    """Read each tensor's bytes (in file order) into its own buffer: one copy in memory."""
    tensors: dict[str, torch.Tensor] = {}
    for entry in entries:
        count = entry.end - entry.begin
        if count == 0:
            tensors[entry.name] = torch.empty(entry.shape, dtype=entry.dtype)
            continue
        buffer = bytearray(count)
        if handle.readinto(buffer) != count:
            raise CheckpointError(f"{path} is truncated (tensor '{entry.name}').")
        if entry.dtype == torch.bool and any(b > 1 for b in set(buffer)):
            raise CheckpointError(
                f"{path}: boolean tensor '{entry.name}' holds values other than 0/1."
            )
        tensors[entry.name] = torch.frombuffer(buffer, dtype=entry.dtype).reshape(entry.shape)
    return tensors


def _check_memory_for_tensors(count: int, path: Path) -> None:
    from gentool.models.base import available_memory, format_bytes

    available = available_memory()
    if available is not None and count > available:
        raise CheckpointError(
            f"{path} holds {format_bytes(count)} of tensors; this machine has "
            f"{format_bytes(available)} available."
        )


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read and validate a gentool checkpoint; raise :class:`CheckpointError` otherwise.

    Nothing but regular files is opened (folders mean ``DIR/ckpt.safetensors``; FIFOs,
    sockets and devices are refused, also behind symbolic links). The length prefix and the
    JSON header are read first and checked (every tensor's dtype, shape and byte range against
    the file size) together with the gentool metadata (:mod:`gentool.checkpoint_schema`);
    only then are the tensor bytes read, each once.
    """
    path, st = _resolve_file(Path(path))
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}.") from None
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(handle.fileno())  # what was opened, not what was named a moment ago
        _refuse_special(path, st)
        try:
            header, header_len = _read_header(handle, st.st_size, path)
            entries = _tensor_entries(header, st.st_size - 8 - header_len, path)
            meta = _gentool_meta(header, path)
            info = CheckpointMeta.parse(meta, path)
            _check_memory_for_tensors(st.st_size - 8 - header_len, path)
            tensors = _read_tensors(handle, entries, path)
        except OSError as exc:
            raise CheckpointError(
                f"cannot read checkpoint {path}: {exc.strerror or exc}."
            ) from None
        except MemoryError:
            raise CheckpointError(
                f"{path}: not enough memory to read its {st.st_size} bytes of tensors."
            ) from None
    return Checkpoint(tensors=tensors, meta=meta, path=path, info=info)


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
    optimizer: torch.optim.Optimizer,
    tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
    *,
    where: str = "the checkpoint",
) -> None:
    """Load optimizer state saved by :func:`optimizer_to_tensors`.

    Anything that does not fit the optimizer (a malformed JSON part, a tensor for a parameter
    it does not have, a moment of the wrong shape) is one :class:`CheckpointError`.
    """
    from gentool.checkpoint_schema import check_optimizer_meta

    check_optimizer_meta(where, "optim", meta)
    current = optimizer.state_dict()["param_groups"]
    groups = json.loads(json.dumps(meta["param_groups"]))
    if len(groups) != len(current) or any(
        len(saved["params"]) != len(now["params"])
        for saved, now in zip(groups, current, strict=True)
    ):
        raise CheckpointError(
            f"optimizer state in {where} does not match the model (different parameter groups)."
        )
    params = [p for group in optimizer.param_groups for p in group["params"]]
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        index, _, key = name.partition(".")
        if not index.isdigit() or int(index) >= len(params) or not key:
            raise CheckpointError(f"optimizer tensor '{name}' in {where} names no parameter.")
        param = params[int(index)]
        if value.numel() != 1 and tuple(value.shape) != tuple(param.shape):
            raise CheckpointError(
                f"optimizer tensor '{name}' in {where} has shape {tuple(value.shape)} but its "
                f"parameter has {tuple(param.shape)}."
            )
        state.setdefault(int(index), {})[key] = value
    for index, values in meta.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(values)
    for saved, now in zip(groups, current, strict=True):
        saved["params"] = now["params"]
        # How the update is computed belongs to this machine, not to the run: a run saved on
        # a GPU (fused, capturable kernels) resumes on a CPU and the other way round.
        for key in IMPLEMENTATION_FLAGS:
            if key in now:
                saved[key] = now[key]
        if "betas" in saved:
            saved["betas"] = tuple(saved["betas"])
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, RuntimeError, TypeError, IndexError) as exc:
        raise CheckpointError(
            f"optimizer state in {where} does not fit the model ({exc})."
        ) from None
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


def rng_from_tensors(
    tensors: dict[str, torch.Tensor], meta: dict[str, Any], *, where: str = "the checkpoint"
) -> None:
    """Restore the streams :func:`rng_to_tensors` captured; a bad state is a
    :class:`CheckpointError` and leaves every stream as it was."""
    from gentool.checkpoint_schema import check_generator_state

    try:
        torch_state = tensors.get("rng.torch")
        if torch_state is not None:
            check_generator_state(where, "rng.torch", torch_state)
        numpy_state = None
        if "rng.numpy" in tensors and "numpy" in meta:
            m = meta["numpy"]
            keys = tensors["rng.numpy"]
            if keys.dtype.is_floating_point or keys.shape != (624,):
                raise ValueError("numpy keys must be 624 integers")
            if bool((keys.long() < 0).any()) or bool((keys.long() >= 2**32).any()):
                raise ValueError("numpy keys outside the uint32 range")
            numpy_state = (
                str(m["name"]),
                keys.numpy().astype(np.uint32),
                int(m["pos"]),
                int(m["has_gauss"]),
                float(m["cached"]),
            )
            np.random.RandomState().set_state(numpy_state)  # a dry run on a throw-away generator
        python_state = None
        if "rng.python" in tensors and "python" in meta:
            m = meta["python"]
            internal = tuple(int(x) for x in tensors["rng.python"].reshape(-1).tolist())
            gauss = m["gauss_next"]
            python_state = (int(m["version"]), internal, None if gauss is None else float(gauss))
            random.Random().setstate(python_state)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, OverflowError, RuntimeError) as exc:
        raise CheckpointError(f"the random number state in {where} is invalid ({exc}).") from None
    if torch_state is not None:
        torch.set_rng_state(torch_state.to(torch.uint8))
    cuda = sorted(k for k in tensors if k.startswith("rng.cuda."))
    if cuda and torch.cuda.is_available():
        states = [tensors[k].to(torch.uint8) for k in cuda][: torch.cuda.device_count()]
        try:
            for i, s in enumerate(states):
                torch.cuda.set_rng_state(s, i)
        except (RuntimeError, ValueError) as exc:
            raise CheckpointError(f"the CUDA random state in {where} is invalid ({exc}).") from None
    if numpy_state is not None:
        np.random.set_state(numpy_state)
    if python_state is not None:
        random.setstate(python_state)
