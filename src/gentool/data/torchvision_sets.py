"""Fashion-MNIST and CIFAR-10 through torchvision, and what every downloadable dataset shares.

Files are read from ``ROOT`` = ``--data-root``, else ``$GENTOOL_DATA_ROOT``, else
``~/.cache/gentool/<dataset>``; one ROOT can hold every dataset, as the folders torchvision
uses do not collide (``MNIST/``, ``FashionMNIST/``, ``cifar-10-batches-py/``,
``stl10_binary/``, ``celeba/``). A path to the dataset's own folder also works.

When the files are missing, torchvision downloads them into ROOT (progress on stderr, so
stdout stays clean); without internet this is one :class:`DataError` line naming the file to
download and where to put it.

Each source is returned whole, torchvision's training set first and its test set last, with
the official partition as the attribute ``partition``; gentool's own deterministic split
(``--split``) applies on top, as for every dataset.

CIFAR-10 ships as Python pickles (``cifar-10-batches-py``), which torchvision unpickles. It
checks every file's md5 against the official archive first, so only the official bytes are
ever unpickled; anything else is refused before it is read. The pickle-free binary version
(``cifar-10-batches-bin``, fixed 3,073-byte records) is read directly with numpy and is
preferred when both are present.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar, TypeVar

import numpy as np
import torch

from gentool.data.base import DatasetPlugin, DataSpec, ImageData, check_decoded_fits
from gentool.data.files import (
    check_file,
    check_folder,
    check_release,
    file_problem,
    join_names,
    open_regular,
    present,
)
from gentool.data.mnist import (
    DATA_ROOT_ENV,
    idx_release_present,
    read_idx_release,
    resize_batch,
)
from gentool.errors import DataError

T = TypeVar("T")

#: The attribute holding the dataset's own partition of each image.
PARTITION = "partition"
TRAIN_TEST = ["train", "test"]


def dataset_root(spec: DataSpec, default_name: str, folders: Sequence[str]) -> Path:
    """ROOT for a dataset whose files live in ``ROOT/<folder>`` (any of ``folders``).

    ``--data-root`` may also name that folder itself (or, for a nested folder such as
    ``FashionMNIST/raw``, any level of it): ROOT is then the folder above it.
    """
    configured = spec.root or os.environ.get(DATA_ROOT_ENV)
    root = Path(configured).expanduser() if configured else Path.home() / ".cache/gentool"
    if not configured:
        root = root / default_name
    if any((root / folder).exists() for folder in folders):
        return root
    for folder in folders:
        parts = Path(folder).parts
        for depth in range(len(parts), 0, -1):
            if len(root.parts) > depth and root.parts[-depth:] == parts[:depth]:
                return Path(*root.parts[:-depth])
    return root


def _reason(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:200]


def read_or_download(
    read: Callable[[bool], T],
    *,
    what: str,
    root: Path,
    present: bool,
    fetch: str,
    layout: str,
) -> T:
    """``read(download=False)`` when the files are ``present``, else ``read(download=True)``.

    Any failure is one :class:`DataError` line: unreadable files say to delete them, a
    failed download says what to ``fetch`` and which ``layout`` ``--data-root`` must hold.
    """
    if present:
        try:
            return read(False)
        except DataError:
            raise
        except Exception as exc:
            raise DataError(
                f"{what} files under {root} are unreadable or not the official ones "
                f"({_reason(exc)}); delete them to download them again, or replace them "
                f"with {fetch}."
            ) from None
    try:
        # torchvision reports download progress on stdout; keep stdout for gentool's output.
        with contextlib.redirect_stdout(sys.stderr):
            return read(True)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(
            f"{what} not found under {root} and could not be downloaded ({_reason(exc)}); "
            f"on a machine with internet download {fetch}, then pass --data-root DIR "
            f"containing {layout}."
        ) from None


def to_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 ``(N, 1|3, H, W)`` -> ``channels``; colour to grey with ITU-R 601-2 luma.

    The luma uses Pillow's integer formula, so grey CIFAR matches a grey ``folder`` image.
    """
    have = images.shape[1]
    if have == channels:
        return images
    if channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    out = torch.empty((images.shape[0], 1, *images.shape[2:]), dtype=torch.uint8)
    for start in range(0, len(images), 4096):
        rgb = images[start : start + 4096].to(torch.int32)
        luma = rgb[:, 0] * 19595 + rgb[:, 1] * 38470 + rgb[:, 2] * 7471 + 0x8000
        out[start : start + 4096, 0] = (luma >> 16).to(torch.uint8)
    return out


def fit(images: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    """Native uint8 ``(N, C, h, w)`` at the requested ``size`` and ``channels``."""
    if images.shape[1] == 3 and channels == 1:
        images = to_channels(images, 1)  # grey first: a third of the resizing
    if images.shape[-1] != size or images.shape[-2] != size:
        images = resize_batch(images, size)
    return to_channels(images, channels)


def partition_of(counts: Sequence[int]) -> torch.Tensor:
    """int64 ``(sum(counts),)``: 0 for the first ``counts[0]`` images, 1 for the next, ..."""
    return torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(list(counts)))


# --- Fashion-MNIST ---------------------------------------------------------------------------

FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"


class FashionMnistDataset(DatasetPlugin):
    PLUGIN_NAME: ClassVar[str] = "fashion-mnist"
    DESCRIPTION: ClassVar[str] = (
        "70,000 Zalando clothing images in 10 classes, 28x28 grey (torchvision; downloaded "
        f"once into --data-root or ${DATA_ROOT_ENV})"
    )
    DEFAULT_SIZE: ClassVar[int | None] = 28
    USES: ClassVar[frozenset[str] | None] = frozenset({"root"})

    def load(self, spec: DataSpec) -> ImageData:
        size = spec.image_size or 28
        channels = spec.channels or 1
        check_decoded_fits(70_000, channels, size, "Fashion-MNIST")
        root = dataset_root(spec, self.PLUGIN_NAME, ["FashionMNIST/raw"])
        raw = root / "FashionMNIST" / "raw"
        for folder in (root, raw.parent):
            check_folder(folder, "Fashion-MNIST folder")

        def read(download: bool) -> list[tuple[torch.Tensor, torch.Tensor]]:
            if download:
                from torchvision.datasets import FashionMNIST

                for train in (True, False):
                    FashionMNIST(str(root), train=train, download=True)
            return read_idx_release(raw, "Fashion-MNIST", FASHION_URL)

        parts = read_or_download(
            read,
            what="Fashion-MNIST",
            root=root,
            present=idx_release_present(raw, "Fashion-MNIST", FASHION_URL),
            fetch=f"the four .gz files from {FASHION_URL} into DIR/FashionMNIST/raw",
            layout="FashionMNIST/raw",
        )
        images = torch.cat([images for images, _ in parts]).unsqueeze(1)  # (N, 1, 28, 28)
        return ImageData(
            images=fit(images, size, channels),
            name=self.PLUGIN_NAME,
            labels=torch.cat([labels for _, labels in parts]),
            class_names=list(FASHION_CLASSES),
            attributes={PARTITION: partition_of([len(images) for images, _ in parts])},
            attribute_names={PARTITION: list(TRAIN_TEST)},
        )


# --- CIFAR-10 --------------------------------------------------------------------------------

CIFAR_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
CIFAR_PY = "cifar-10-batches-py"
CIFAR_BIN = "cifar-10-batches-bin"
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR_BIN_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
#: The files each version is read from.
CIFAR_PY_FILES = [*CIFAR_BATCHES, "batches.meta"]
CIFAR_BIN_FILES = [f"{name}.bin" for name in CIFAR_BATCHES]
#: One record of the binary version: a label byte, then 32x32 red, green and blue planes.
CIFAR_RECORD = 1 + 3 * 32 * 32


def read_cifar_binary(folder: Path) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Images ``(N, 3, 32, 32)``, labels and the count per file of ``cifar-10-batches-bin``."""
    arrays, counts = [], []
    for name in CIFAR_BATCHES:
        path = folder / f"{name}.bin"
        size = check_file(path, "CIFAR-10 binary batch", hint=f"replace it with {CIFAR_BIN_URL}")
        if size == 0 or size % CIFAR_RECORD:
            raise DataError(
                f"{path} is not a CIFAR-10 binary batch ({size} bytes, not a multiple of "
                f"{CIFAR_RECORD}: truncated?); replace it with the file from {CIFAR_BIN_URL}."
            )
        try:
            with open_regular(path) as handle:
                raw = np.frombuffer(bytearray(handle.read(size)), dtype=np.uint8)
        except OSError as exc:
            raise DataError(f"cannot read {path}: {exc.strerror or exc}.") from None
        if raw.size != size:
            raise DataError(f"{path} changed while it was read; run again.")
        records = raw.reshape(-1, CIFAR_RECORD)
        if int(records[:, 0].max()) >= len(CIFAR_CLASSES):
            where = int(np.argmax(records[:, 0] >= len(CIFAR_CLASSES)))
            raise DataError(
                f"{path} has the label {int(records[where, 0])} in record {where + 1} of "
                f"{len(records)}; CIFAR-10 labels are 0-9: it is not a CIFAR-10 binary batch."
            )
        arrays.append(records)
        counts.append(len(records))
    records = np.concatenate(arrays)
    images = torch.from_numpy(np.ascontiguousarray(records[:, 1:])).view(-1, 3, 32, 32)
    return images, torch.from_numpy(records[:, 0].astype(np.int64)), counts


def _complete(folder: Path, names: list[str]) -> bool:
    """Every one of ``names`` is a regular file in ``folder``."""
    return all(file_problem(folder / name) is None for name in names)


def cifar_python_faults(folder: Path) -> list[str]:
    """The files of ``cifar-10-batches-py`` whose md5 is not the official archive's."""
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import check_integrity

    official = [*CIFAR10.train_list, *CIFAR10.test_list]
    official.append([CIFAR10.meta["filename"], CIFAR10.meta["md5"]])
    return [name for name, md5 in official if not check_integrity(str(folder / name), md5)]


class Cifar10Dataset(DatasetPlugin):
    PLUGIN_NAME: ClassVar[str] = "cifar10"
    DESCRIPTION: ClassVar[str] = (
        "60,000 32x32 colour images in 10 classes (torchvision; downloaded once into "
        f"--data-root or ${DATA_ROOT_ENV})"
    )
    DEFAULT_SIZE: ClassVar[int | None] = 32
    USES: ClassVar[frozenset[str] | None] = frozenset({"root"})

    def load(self, spec: DataSpec) -> ImageData:
        size = spec.image_size or 32
        channels = spec.channels or 3
        check_decoded_fits(60_000, max(channels, 3), max(size, 32), "CIFAR-10")
        root = dataset_root(spec, self.PLUGIN_NAME, [CIFAR_PY, CIFAR_BIN])
        binary, python = root / CIFAR_BIN, root / CIFAR_PY
        for folder in (root, binary, python):
            check_folder(folder, "CIFAR-10 folder")
        if _complete(binary, CIFAR_BIN_FILES):
            images, labels, counts = read_cifar_binary(binary)
            counts = [sum(counts[:5]), counts[5]]
        elif _complete(python, CIFAR_PY_FILES):
            images, labels, counts = self._read_python(root, present=True)
        else:
            # Neither version whole: a folder only partly there is named with what it lacks
            # (or a FIFO in place of a file, at once); when neither is there, download.
            if present(root, CIFAR_BIN):
                check_release(binary, CIFAR_BIN_FILES, what="CIFAR-10", fetch=CIFAR_BIN_URL)
            if present(root, CIFAR_PY):
                check_release(python, CIFAR_PY_FILES, what="CIFAR-10", fetch=CIFAR_URL)
            images, labels, counts = self._read_python(root, present=False)
        return ImageData(
            images=fit(images, size, channels),
            name=self.PLUGIN_NAME,
            labels=labels,
            class_names=list(CIFAR_CLASSES),
            attributes={PARTITION: partition_of(counts)},
            attribute_names={PARTITION: list(TRAIN_TEST)},
        )

    def _read_python(
        self, root: Path, present: bool
    ) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """The pickled version through torchvision, which checks md5s before unpickling."""
        from torchvision.datasets import CIFAR10

        folder = root / CIFAR_PY

        def read(download: bool) -> list[CIFAR10]:
            try:
                return [CIFAR10(str(root), train=t, download=download) for t in (True, False)]
            except Exception:
                faults = [] if download else cifar_python_faults(folder)
                if not faults or len(faults) == len(CIFAR_PY_FILES):  # the generic line
                    raise
                if len(faults) == 1:
                    which = f"{folder / faults[0]} is not the official CIFAR-10 file"
                else:
                    which = f"{join_names(faults)} in {folder} are not the official CIFAR-10 files"
                raise DataError(
                    f"{which} (the md5 differs: truncated, corrupt or from another release), "
                    "and gentool unpickles only the official files; replace "
                    f"{'it' if len(faults) == 1 else 'them'} from {CIFAR_URL}, or use the "
                    f"pickle-free {CIFAR_BIN} ({CIFAR_BIN_URL})."
                ) from None

        parts = read_or_download(
            read,
            what="CIFAR-10",
            root=root,
            present=present,
            fetch=f"{CIFAR_URL} and extract it into DIR",
            layout=CIFAR_PY,
        )
        # (N, 32, 32, 3) -> (N, 3, 32, 32), test set last
        images = torch.cat([torch.from_numpy(p.data).permute(0, 3, 1, 2) for p in parts])
        labels = torch.tensor([t for p in parts for t in p.targets], dtype=torch.int64)
        return images.contiguous(), labels, [len(p.data) for p in parts]
