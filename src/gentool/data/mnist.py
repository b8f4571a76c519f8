"""MNIST: 70,000 handwritten digits, 28x28 grey, labels 0-9.

The files are read from ``ROOT/MNIST/raw`` where ROOT is ``--data-root``, else
``$GENTOOL_DATA_ROOT``, else ``~/.cache/gentool/mnist``. torchvision downloads them there
when they are missing; without internet that fails with a one-line :class:`DataError`.
A folder holding only some of the four files is refused, naming the missing ones.

The idx files are read here (:func:`read_idx_split`, shared with Fashion-MNIST), so a
corrupt one is named with what is wrong with it: another magic number, fewer or more bytes
than its header declares, images that are not 28x28, labels out of 0-9, or a labels file
whose count differs from its images file's.

torchvision's training set (60,000) comes first and its test set (10,000) last, as one
source: gentool's own deterministic split (``--split`` / ``test_fraction``) applies on top,
like for every dataset, so gentool's test split is not torchvision's.
"""

from __future__ import annotations

import contextlib
import math
import os
import struct
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from gentool.data.base import DatasetPlugin, DataSpec, ImageData, check_decoded_fits
from gentool.data.files import check_file, check_folder, check_release, open_regular, present
from gentool.errors import DataError

DATA_ROOT_ENV = "GENTOOL_DATA_ROOT"
NATIVE_SIZE = 28
_RESIZE_CHUNK = 4096
#: The uncompressed files torchvision reads from ``MNIST/raw``.
RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def mnist_root(spec: DataSpec) -> Path:
    """Where ``MNIST/raw`` lives; a path to ``MNIST`` or ``MNIST/raw`` itself also works."""
    configured = spec.root or os.environ.get(DATA_ROOT_ENV)
    root = Path(configured).expanduser() if configured else Path.home() / ".cache/gentool/mnist"
    if root.name == "raw" and root.parent.name == "MNIST":
        return root.parent.parent
    if root.name == "MNIST" and (root / "raw").is_dir():
        return root.parent
    return root


#: Split prefixes of the idx files, in the order they are returned (the test set last).
SPLIT_PREFIXES = ("train", "t10k")
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"


def _fault(path: Path, problem: str, remedy: str) -> DataError:
    return DataError(f"{path} {problem}; {remedy}.")


def read_idx(path: Path, dims: int, remedy: str) -> np.ndarray:
    """The uint8 array of one idx file with ``dims`` dimensions (MNIST's format).

    The format is a magic number (``0x00 0x00``, ``0x08`` for unsigned bytes, then the
    number of dimensions), each dimension as a big-endian 32-bit integer, then the bytes.
    Anything else (another magic number, fewer or more bytes than the header declares) is
    one :class:`DataError` line naming the file; ``remedy`` says what to do about it.
    """
    size = check_file(path, "MNIST-format file", hint=remedy)
    expected_magic = 0x00000800 | dims
    try:
        with open_regular(path) as handle:
            header = handle.read(4 + 4 * dims)
            if len(header) < 4 + 4 * dims:
                raise _fault(
                    path,
                    f"is truncated: {size} bytes, shorter than the {4 + 4 * dims}-byte header "
                    "of an idx file",
                    remedy,
                )
            magic = int.from_bytes(header[:4], "big")
            if magic != expected_magic:
                raise _fault(
                    path,
                    f"is not an idx file of {'images' if dims == 3 else 'labels'}: its magic "
                    f"number is 0x{magic:08x}, not 0x{expected_magic:08x}",
                    remedy,
                )
            shape = struct.unpack(f">{dims}I", header[4:])
            count = math.prod(shape)
            declared = 4 + 4 * dims + count
            shown = "x".join(str(d) for d in shape)
            if size < declared:
                raise _fault(
                    path,
                    f"is truncated: {size:,} bytes, where its header declares {shown} values "
                    f"({declared:,} bytes)",
                    remedy,
                )
            if size > declared:
                raise _fault(
                    path,
                    f"has {size - declared:,} bytes more than the {shown} values its header "
                    "declares",
                    remedy,
                )
            data = bytearray(handle.read(count))
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}.") from None
    if len(data) != count:  # the file shrank while it was read
        raise _fault(path, "is truncated", remedy)
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def read_idx_split(
    raw: Path, prefix: str, remedy: str, classes: int = 10
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(N, 28, 28)`` and labels of one split (``train`` or ``t10k``) in ``raw``.

    Each file is checked alone (:func:`read_idx`), then against the other: one label per
    image, each in ``0..classes-1``.
    """
    images_path = raw / f"{prefix}-images-idx3-ubyte"
    labels_path = raw / f"{prefix}-labels-idx1-ubyte"
    images = read_idx(images_path, 3, remedy)
    if images.shape[1:] != (NATIVE_SIZE, NATIVE_SIZE):
        raise _fault(
            images_path,
            f"holds images of {images.shape[1]}x{images.shape[2]} pixels, not "
            f"{NATIVE_SIZE}x{NATIVE_SIZE}",
            remedy,
        )
    labels = read_idx(labels_path, 1, remedy)
    if len(labels) != len(images):
        raise _fault(
            labels_path,
            f"holds {len(labels):,} labels for the {len(images):,} images of {images_path.name}"
            " (one of the two files is truncated or from another release)",
            remedy,
        )
    if len(labels) and int(labels.max()) >= classes:
        where = int(np.argmax(labels >= classes))
        raise _fault(
            labels_path,
            f"holds the label {int(labels[where])} (label {where + 1:,} of {len(labels):,}); "
            f"labels must be 0-{classes - 1}",
            remedy,
        )
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


def unpack_gz(raw: Path, url: str) -> None:
    """Extract ``raw/<name>.gz`` next to itself for each idx file not there (nothing fetched).

    Only regular ``.gz`` files are read, and only into names nothing holds yet (a FIFO named
    like an idx file is refused by :func:`~gentool.data.files.check_release`, never written).
    """
    from torchvision.datasets.utils import extract_archive

    for name in RAW_FILES:
        packed = raw / f"{name}.gz"
        if present(raw, name) or not present(raw, packed.name):
            continue
        check_file(packed, "MNIST-format archive", hint=f"replace it with {url}{packed.name}")
        try:
            extract_archive(str(packed), str(raw))
        except Exception as exc:
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
            raise DataError(
                f"cannot extract {packed} ({reason}); replace it with the file from "
                f"{url}{packed.name}, or extract it yourself into {raw}."
            ) from None


def read_idx_release(raw: Path, what: str, url: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Both splits (train, then test) of an MNIST-format release whose files are in ``raw``."""
    remedy = f"replace it with the official {what} file from {url}"
    return [read_idx_split(raw, prefix, remedy) for prefix in SPLIT_PREFIXES]


def idx_release_present(raw: Path, what: str, url: str) -> bool:
    """Whether the four idx files are in ``raw`` (after unpacking any ``.gz``).

    A release only partly there, or with a FIFO or folder in place of a file, is refused by
    name (:func:`~gentool.data.files.check_release`); ``False``: none of it is there.
    """
    check_folder(raw, f"{what} folder")
    unpack_gz(raw, url)
    return check_release(raw, RAW_FILES, what=what, fetch=url)


def _download(root: Path) -> None:
    from torchvision.datasets import MNIST

    for train in (True, False):
        MNIST(str(root), train=train, download=True)


def read_mnist(root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """All 70,000 images ``(N, 28, 28)`` and labels, downloading only when files are missing."""
    raw = root / "MNIST" / "raw"
    for folder in (root, raw.parent):  # raw itself: idx_release_present
        check_folder(folder, "MNIST folder")
    if not idx_release_present(raw, "MNIST", MNIST_URL):
        try:
            # torchvision reports download progress on stdout; keep it for gentool's output.
            with contextlib.redirect_stdout(sys.stderr):
                _download(root)
        except Exception as exc:
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())
            raise DataError(
                f"MNIST not found under {root} and could not be downloaded ({reason[:200]}); "
                "download it on a machine with internet or pass --data-root DIR containing "
                "MNIST/raw."
            ) from None
    parts = read_idx_release(raw, "MNIST", MNIST_URL)
    images = torch.cat([images for images, _ in parts])  # (N, 28, 28) uint8, test set last
    labels = torch.cat([labels for _, labels in parts])
    return images, labels


def resize_batch(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 ``(N, C, H, W)`` -> uint8 ``(N, C, size, size)``, bicubic, antialiased."""
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for start in range(0, len(images), _RESIZE_CHUNK):
        chunk = images[start : start + _RESIZE_CHUNK].float()
        resized = F.interpolate(chunk, size=(size, size), mode="bicubic", antialias=True)
        out[start : start + _RESIZE_CHUNK] = resized.round_().clamp_(0, 255).to(torch.uint8)
    return out


class MnistDataset(DatasetPlugin):
    PLUGIN_NAME: ClassVar[str] = "mnist"
    DESCRIPTION: ClassVar[str] = (
        "70,000 handwritten digits 0-9, 28x28 grey (torchvision; downloaded once into "
        f"--data-root or ${DATA_ROOT_ENV})"
    )
    DEFAULT_SIZE: ClassVar[int | None] = NATIVE_SIZE
    USES: ClassVar[frozenset[str] | None] = frozenset({"root"})

    def load(self, spec: DataSpec) -> ImageData:
        size = spec.image_size or NATIVE_SIZE
        check_decoded_fits(70_000, spec.channels or 1, size, "MNIST")
        root = mnist_root(spec)
        images, labels = read_mnist(root)
        images = images.unsqueeze(1)  # (N, 1, 28, 28)
        if size != NATIVE_SIZE:
            images = resize_batch(images, size)
        if spec.channels == 3:
            images = images.expand(-1, 3, -1, -1).contiguous()
        return ImageData(
            images=images,
            name=self.PLUGIN_NAME,
            labels=labels,
            class_names=[str(digit) for digit in range(10)],
        )
