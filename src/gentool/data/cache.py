"""The decoded-image cache: decode a folder once, then load it in a fraction of a second.

An entry is one safetensors file holding an :class:`~gentool.data.base.ImageData`: tensors
``images`` (uint8 ``(N, C, H, W)``), ``labels`` and ``attribute.<name>`` when present, and
one JSON metadata string with the file list, the skipped files, class and attribute names
and whatever ``extra`` the dataset stores (e.g. why files were skipped).

The file name is ``<dataset>-<key>.safetensors``, where the key is the sha256 of everything
that decides the pixels (see :func:`cache_key`): for a folder, the sorted
``(relative path, size, mtime_ns)`` of every source file, the resolution, the channels and
:data:`~gentool.data.decode.DECODER_VERSION`. Changing, adding or removing a file therefore
misses the cache and decodes again; stale entries are never read, only left behind.

Where: ``$GENTOOL_CACHE_DIR`` or ``~/.cache/gentool/data``. Clear it by deleting that folder.
``GENTOOL_NO_CACHE=1`` turns the cache off. Writes are atomic (a temporary file renamed into
place), and an entry that cannot be read is ignored and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from safetensors import safe_open
from safetensors.torch import save_file

from gentool.data.base import ImageData
from gentool.data.decode import DataWarning
from gentool.fileio import atomic_path

CACHE_DIR_ENV = "GENTOOL_CACHE_DIR"
NO_CACHE_ENV = "GENTOOL_NO_CACHE"
#: Bump when the layout of a cache file changes.
CACHE_FORMAT = 1

_ATTRIBUTE_PREFIX = "attribute."
_METADATA_KEY = "gentool"


def cache_dir() -> Path:
    """``$GENTOOL_CACHE_DIR`` or ``~/.cache/gentool/data``."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "gentool" / "data"


def cache_enabled() -> bool:
    """False when ``GENTOOL_NO_CACHE`` is set to 1 / true / yes / on."""
    return os.environ.get(NO_CACHE_ENV, "").strip().lower() not in {"1", "true", "yes", "on"}


def file_signatures(base: Path, relative_paths: list[str]) -> list[tuple[str, int, int]]:
    """``(relative path, size, mtime_ns)`` for each file, in the given order.

    A file that cannot be stat'ed (a dangling link) gets ``(path, -1, -1)``: the decoder
    then reports it as unreadable.
    """
    signatures = []
    for relative in relative_paths:
        try:
            stat = (base / relative).stat()
        except OSError:
            signatures.append((relative, -1, -1))
            continue
        signatures.append((relative, stat.st_size, stat.st_mtime_ns))
    return signatures


def cache_key(parts: Mapping[str, Any]) -> str:
    """sha256 of ``parts`` as canonical JSON (sorted keys), plus :data:`CACHE_FORMAT`."""
    text = json.dumps({"cache_format": CACHE_FORMAT, **parts}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_path(dataset: str, key: str) -> Path:
    return cache_dir() / f"{dataset}-{key}.safetensors"


def save_image_data(
    data: ImageData, path: Path, key: str, extra: Mapping[str, Any] | None = None
) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file, then ``os.replace``)."""
    tensors = {"images": data.images.contiguous()}
    if data.labels is not None:
        tensors["labels"] = data.labels.contiguous()
    for name, values in data.attributes.items():
        tensors[_ATTRIBUTE_PREFIX + name] = values.contiguous()
    metadata = {
        "cache_format": CACHE_FORMAT,
        "key": key,
        "name": data.name,
        "files": data.files,
        "skipped": data.skipped,
        "class_names": data.class_names,
        "attribute_names": data.attribute_names,
        "extra": dict(extra or {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        save_file(tensors, str(temporary), metadata={_METADATA_KEY: json.dumps(metadata)})


def load_image_data(path: Path, key: str) -> tuple[ImageData, dict[str, Any]] | None:
    """Read an entry written by :func:`save_image_data`; None when missing or unusable."""
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = json.loads((handle.metadata() or {})[_METADATA_KEY])
            if metadata["cache_format"] != CACHE_FORMAT or metadata["key"] != key:
                return None
            # safe_open handles are not iterable, hence .keys().
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
        data = ImageData(
            images=tensors["images"],
            name=metadata["name"],
            labels=tensors.get("labels"),
            class_names=list(metadata["class_names"]),
            attributes={
                name[len(_ATTRIBUTE_PREFIX) :]: values
                for name, values in tensors.items()
                if name.startswith(_ATTRIBUTE_PREFIX)
            },
            attribute_names={k: list(v) for k, v in metadata["attribute_names"].items()},
            files=list(metadata["files"]),
            skipped=list(metadata["skipped"]),
        )
        if data.files and len(data.files) != len(data):
            return None
        return data, dict(metadata["extra"])
    except Exception:  # A truncated or foreign file is a cache miss, never an error.
        return None


def load_or_build(
    dataset: str,
    key_parts: Mapping[str, Any],
    build: Callable[[], tuple[ImageData, dict[str, Any]]],
) -> tuple[ImageData, dict[str, Any]]:
    """Return the cached entry for ``key_parts``, or ``build()`` it and store it.

    A cache that cannot be written (read-only or full disk) is reported once as a
    :class:`DataWarning`; the data is still returned.
    """
    if not cache_enabled():
        return build()
    key = cache_key(key_parts)
    path = cache_path(dataset, key)
    cached = load_image_data(path, key)
    if cached is not None:
        return cached
    data, extra = build()
    try:
        save_image_data(data, path, key, extra)
    except OSError as exc:
        warnings.warn(
            f"could not write the data cache {path} ({exc}); set {CACHE_DIR_ENV} to a "
            f"writable folder or {NO_CACHE_ENV}=1.",
            DataWarning,
            stacklevel=2,
        )
    return data, extra
