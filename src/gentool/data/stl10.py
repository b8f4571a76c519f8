"""STL-10 through torchvision: 96x96 colour images, 10 classes, and 100,000 unlabelled ones.

The binary files (``stl10_binary/*.bin``, as the official ``stl10_binary.tar.gz`` extracts)
are read from ``ROOT/stl10_binary`` (see :func:`gentool.data.torchvision_sets.dataset_root`
for ROOT); torchvision downloads the 2.6 GB archive there when they are missing.

Two datasets, so the user picks with ``--dataset``:

* ``stl10``: all 113,000 images as one source: the labelled training set (5,000), the
  unlabelled set (100,000, label -1: e.g. an ACGAN learns classes from the labelled ones and
  the adversarial game from all), then the labelled test set (8,000);
* ``stl10-labeled``: the 13,000 labelled images only (training set, then test set).

Either way the official partition is the attribute ``partition`` (``train``,
``unlabeled``, ``test``), and gentool's own ``--split`` applies on top, as for every
dataset. Reading means an md5 pass over 3 GB, so the resized images go through the
decoded-image cache (:mod:`gentool.data.cache`): a second run reads them back at once.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, ClassVar

import torch

from gentool.data.base import DatasetPlugin, DataSpec, ImageData, check_decoded_fits
from gentool.data.cache import file_signatures, load_or_build
from gentool.data.mnist import DATA_ROOT_ENV
from gentool.data.torchvision_sets import PARTITION, dataset_root, fit, read_or_download
from gentool.errors import DataError

FOLDER = "stl10_binary"
URL = "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz"
NATIVE_SIZE = 96
CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
#: The files each part needs, and its size in the official release.
PARTS = {
    "train": (("train_X.bin", "train_y.bin"), 5_000),
    "unlabeled": (("unlabeled_X.bin",), 100_000),
    "test": (("test_X.bin", "test_y.bin"), 8_000),
}
#: torchvision checks every file, whichever part is read.
FILES = sorted({name for files, _ in PARTS.values() for name in files})
#: Bump when the pixels this module produces change: it is part of the cache key.
VERSION = 1


def read_part(root: Path, part: str, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One torchvision split: images ``(N, 3, 96, 96)`` and labels (-1 when unlabelled)."""
    from torchvision.datasets import STL10

    data = STL10(str(root), split=part, download=download)
    images = torch.from_numpy(data.data)  # (N, 3, 96, 96), already transposed to rows
    labels = torch.from_numpy(data.labels.astype("int64"))
    if part != "unlabeled" and (len(labels) != len(images) or int(labels.max()) >= len(CLASSES)):
        raise DataError(
            f"{root / FOLDER} holds {len(images)} {part} images and {len(labels)} labels in "
            f"0..{int(labels.max())}: not the STL-10 release (labels 1-10, one per image)."
        )
    return images, labels


class Stl10Dataset(DatasetPlugin):
    PLUGIN_NAME: ClassVar[str] = "stl10"
    DESCRIPTION: ClassVar[str] = (
        "113,000 96x96 colour images: 13,000 in 10 classes and 100,000 unlabelled (label -1) "
        f"(torchvision; downloaded once into --data-root or ${DATA_ROOT_ENV})"
    )
    DEFAULT_SIZE: ClassVar[int | None] = 64
    USES: ClassVar[frozenset[str] | None] = frozenset({"root"})
    #: Which parts of the release, in order.
    PARTS: ClassVar[tuple[str, ...]] = ("train", "unlabeled", "test")

    def load(self, spec: DataSpec) -> ImageData:
        size = spec.image_size or self.DEFAULT_SIZE or NATIVE_SIZE
        channels = spec.channels or 3
        count = sum(PARTS[part][1] for part in self.PARTS)
        check_decoded_fits(count, channels, size, "STL-10")
        # The largest part is held at 96x96 while it is resized.
        check_decoded_fits(PARTS["unlabeled"][1], 3, NATIVE_SIZE, "STL-10's unlabelled set")
        root = dataset_root(spec, "stl10", [FOLDER])
        folder = root / FOLDER
        present = all((folder / name).is_file() for name in FILES)
        key_parts = {
            "files": file_signatures(folder, FILES) if present else [],
            "parts": list(self.PARTS),
            "size": size,
            "channels": channels,
            "version": VERSION,
        }

        def build() -> tuple[ImageData, dict[str, Any]]:
            return self._read(root, present, size, channels), {}

        if not present:  # nothing to key a cache entry on until the download is done
            return build()[0]
        data, _ = load_or_build(self.PLUGIN_NAME, key_parts, build)
        return data

    def _read(self, root: Path, present: bool, size: int, channels: int) -> ImageData:
        images, labels, counts = [], [], []
        for part in self.PARTS:
            native, part_labels = read_or_download(
                functools.partial(read_part, root, part),
                what="STL-10",
                root=root,
                present=present or all((root / FOLDER / n).is_file() for n in FILES),
                fetch=f"{URL} and extract it into DIR",
                layout=FOLDER,
            )
            images.append(fit(native, size, channels))
            labels.append(part_labels)
            counts.append(len(native))
            del native
        partition = torch.repeat_interleave(
            torch.tensor([list(PARTS).index(p) for p in self.PARTS]), torch.tensor(counts)
        )
        return ImageData(
            images=torch.cat(images),
            name=self.PLUGIN_NAME,
            labels=torch.cat(labels),
            class_names=list(CLASSES),
            attributes={PARTITION: partition},
            attribute_names={PARTITION: list(PARTS)},
        )


class Stl10LabeledDataset(Stl10Dataset):
    PLUGIN_NAME: ClassVar[str] = "stl10-labeled"
    DESCRIPTION: ClassVar[str] = (
        "STL-10's 13,000 labelled 96x96 colour images in 10 classes (the stl10 files, "
        "without the unlabelled set)"
    )
    PARTS: ClassVar[tuple[str, ...]] = ("train", "test")
