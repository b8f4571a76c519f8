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
from gentool.data.files import check_file, check_folder, check_release, join_names
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
#: Bytes of one image in an ``*_X.bin`` file (3x96x96, one byte each).
IMAGE_BYTES = 3 * NATIVE_SIZE * NATIVE_SIZE


def check_sizes(folder: Path, parts: tuple[str, ...]) -> None:
    """Refuse, from their sizes alone, files that cannot be STL-10's: an ``*_X.bin`` that is
    not a whole number of 96x96 colour images, a ``*_y.bin`` without one label per image."""
    remedy = f"replace it with the file from {URL}"
    for part in parts:
        names = PARTS[part][0]
        images = folder / names[0]
        size = check_file(images, "STL-10 file", hint=remedy)
        if size == 0 or size % IMAGE_BYTES:
            raise DataError(
                f"{images} is {size:,} bytes, not a whole number of 96x96 colour images "
                f"({IMAGE_BYTES:,} bytes each): truncated or not STL-10's; {remedy}."
            )
        if len(names) > 1:
            labels = folder / names[1]
            count = check_file(labels, "STL-10 file", hint=remedy)
            if count != size // IMAGE_BYTES:
                raise DataError(
                    f"{labels} holds {count:,} labels for the {size // IMAGE_BYTES:,} images of "
                    f"{names[0]} (one of the two is truncated or from another release); "
                    f"{remedy}."
                )


def md5_faults(folder: Path) -> list[str]:
    """The files in ``folder`` whose md5 is not that of the official release."""
    from torchvision.datasets import STL10
    from torchvision.datasets.utils import check_integrity

    official = [*STL10.train_list, *STL10.test_list]
    return [name for name, md5 in official if not check_integrity(str(folder / name), md5)]


def read_part(root: Path, part: str, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One torchvision split: images ``(N, 3, 96, 96)`` and labels (-1 when unlabelled)."""
    from torchvision.datasets import STL10

    try:
        data = STL10(str(root), split=part, download=download)
    except Exception:
        faults = [] if download else md5_faults(root / FOLDER)
        if not faults or len(faults) == len(FILES):  # all of them: the generic line says it
            raise
        if len(faults) == 1:
            which = f"{root / FOLDER / faults[0]} is"
        else:
            which = f"{join_names(faults)} in {root / FOLDER} are"
        raise DataError(
            f"{which} not as in the official STL-10 release (the md5 differs: truncated, "
            f"corrupt or from another release); replace {'it' if len(faults) == 1 else 'them'} "
            f"from {URL}."
        ) from None
    images = torch.from_numpy(data.data)  # (N, 3, 96, 96), already transposed to rows
    labels = torch.from_numpy(data.labels.astype("int64"))
    labels_file = root / FOLDER / f"{part}_y.bin"
    if part != "unlabeled" and len(labels) != len(images):
        raise DataError(
            f"{labels_file} holds {len(labels)} labels for {len(images)} images: not the STL-10 "
            "release (labels 1-10, one per image)."
        )
    if part != "unlabeled" and len(labels) and int(labels.max()) >= len(CLASSES):
        where = int(torch.argmax((labels >= len(CLASSES)).to(torch.uint8)))
        raise DataError(
            f"{labels_file} holds the label {(int(labels[where]) + 1) % 256} (label {where + 1} "
            f"of {len(labels)}): not the STL-10 release (labels 1-10, one per image)."
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
        for where in (root, folder):
            check_folder(where, "STL-10 folder")
        # A FIFO in place of a file is refused at once, a release only partly there by name.
        present = check_release(folder, FILES, what="STL-10", fetch=URL)
        if present:
            check_sizes(folder, self.PARTS)
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
                present=present or check_release(root / FOLDER, FILES, what="STL-10", fetch=URL),
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
