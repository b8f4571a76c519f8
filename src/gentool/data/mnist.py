"""MNIST through torchvision: 70,000 handwritten digits, 28x28 grey, labels 0-9.

The files are read from ``ROOT/MNIST/raw`` where ROOT is ``--data-root``, else
``$GENTOOL_DATA_ROOT``, else ``~/.cache/gentool/mnist``. torchvision downloads them there
when they are missing; without internet that fails with a one-line :class:`DataError`.

torchvision's training set (60,000) comes first and its test set (10,000) last, as one
source: gentool's own deterministic split (``--split`` / ``test_fraction``) applies on top,
like for every dataset, so gentool's test split is not torchvision's.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F

from gentool.data.base import DatasetPlugin, DataSpec, ImageData, check_decoded_fits
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


def _read_splits(root: Path, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import MNIST

    parts = [MNIST(str(root), train=train, download=download) for train in (True, False)]
    images = torch.cat([p.data for p in parts])  # (N, 28, 28) uint8, test set last
    labels = torch.cat([p.targets for p in parts]).long()
    return images, labels


def read_mnist(root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """All 70,000 images ``(N, 28, 28)`` and labels, downloading only when files are missing."""
    raw = root / "MNIST" / "raw"
    if all((raw / name).is_file() for name in RAW_FILES):
        try:
            return _read_splits(root, download=False)
        except Exception as exc:
            raise DataError(
                f"MNIST files under {raw} are unreadable ({type(exc).__name__}: {exc}); "
                "delete them to download them again."
            ) from None
    try:
        # torchvision reports download progress on stdout; keep stdout for gentool's output.
        with contextlib.redirect_stdout(sys.stderr):
            return _read_splits(root, download=True)
    except Exception as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise DataError(
            f"MNIST not found under {root} and could not be downloaded ({reason[:200]}); "
            "download it on a machine with internet or pass --data-root DIR containing "
            "MNIST/raw."
        ) from None


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
