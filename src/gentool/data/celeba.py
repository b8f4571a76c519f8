"""CelebA, aligned and cropped: 202,599 celebrity faces with 40 binary attributes.

The layout is the official one, as torchvision's ``CelebA`` keeps it::

    ROOT/celeba/img_align_celeba/000001.jpg ...   (178x218 JPEGs)
    ROOT/celeba/list_attr_celeba.txt              (count, 40 names, then "file -1 1 ..." rows)
    ROOT/celeba/list_eval_partition.txt           ("file 0|1|2": train, valid, test)

ROOT is ``--data-root``, else ``$GENTOOL_DATA_ROOT``, else ``~/.cache/gentool/celeba``; the
three entries may also sit directly in ``--data-root``, and an ``img_align_celeba.zip`` next
to the text files is extracted. When they are missing, torchvision downloads them from
Google Drive (this needs the ``gdown`` package and often hits Drive's quota); the failure is
one line saying what to put where.

Faces: the centre 108x108 square of each 178x218 image (left 35, top 55) is resized to the
requested size (64 by default) in one bicubic, antialiased resize. This is the crop of the
DCGAN-tensorflow reference code (carpedm20, ``--input_height 108 --crop``) that most DCGAN
and WGAN work on 64x64 CelebA reuses: it keeps the face and drops most of the background.
The pixels go through the decoded-image cache, so only the first run decodes.

Labels: ``--label-column Smiling`` (any of the 40 names, case-insensitive) makes that
attribute the class label, with class names ``not Smiling`` (0) and ``Smiling`` (1); without
it there are no class labels. Every attribute is an :class:`ImageData` attribute under its
official name, as is ``partition`` (``train``, ``valid``, ``test``). Attributes are read
from the text files on every load, never from the cache.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from gentool.data.base import DatasetPlugin, DataSpec, ImageData, check_decoded_fits
from gentool.data.cache import file_signatures, load_or_build
from gentool.data.decode import MAX_PIXELS, default_workers, open_image, warn_skipped
from gentool.data.files import (
    NotARegularFile,
    check_file,
    check_folder,
    check_release,
    present,
    read_text,
)
from gentool.data.mnist import DATA_ROOT_ENV
from gentool.data.torchvision_sets import PARTITION, read_or_download
from gentool.errors import DataError

FOLDER = "celeba"
IMAGES = "img_align_celeba"
ATTRIBUTES_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
PARTITIONS = ["train", "valid", "test"]
#: Images in the official release.
OFFICIAL_COUNT = 202_599
#: Side of the centre square cropped from each 178x218 image before resizing.
CROP = 108
#: Bump when the pixels this module produces change: it is part of the cache key.
VERSION = 1
DRIVE = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Align&Cropped Images)"
#: The entries of the release, in the folder that holds them.
RELEASE = (IMAGES, ATTRIBUTES_FILE, PARTITION_FILE, f"{IMAGES}.zip")


@dataclass
class AttributeTable:
    """``list_attr_celeba.txt``: the image files in order and their 40 attributes (0/1)."""

    files: list[str]
    names: list[str]
    values: torch.Tensor  # int64 (N, 40), 0 or 1

    @classmethod
    def read(cls, path: Path) -> AttributeTable:
        text = read_text(path, "CelebA attribute file", hint=f"replace it from {DRIVE}")
        lines = text.split("\n")  # numbered as an editor shows them
        official = "is it the official list_attr_celeba.txt?"
        if len(lines) < 3:
            raise DataError(f"{path} is too short: expected a count, the names, then rows.")
        declared = lines[0].strip()
        if not declared.isdigit():
            raise DataError(
                f"{path} line 1 is {declared[:40]!r}, not the number of images; {official}"
            )
        names = lines[1].split()
        if len(set(names)) != len(names):
            twice = next(name for name in names if names.count(name) > 1)
            raise DataError(f"{path} line 2 names the attribute '{twice}' twice; {official}")
        files, rows = [], []
        first_seen: dict[str, int] = {}
        for number, line in enumerate(lines[2:], start=3):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != len(names) + 1 or any(v not in ("1", "-1") for v in fields[1:]):
                raise DataError(
                    f"{path} line {number} is not 'file' followed by {len(names)} values of "
                    f"1 or -1; {official}"
                )
            if fields[0] in first_seen:
                raise DataError(
                    f"{path} line {number} lists {fields[0]} again (first on line "
                    f"{first_seen[fields[0]]}); {official}"
                )
            first_seen[fields[0]] = number
            files.append(fields[0])
            rows.append([v == "1" for v in fields[1:]])
        if not files or not names:
            raise DataError(f"{path} names no images; {official}")
        if int(declared) != len(files):
            raise DataError(
                f"{path} declares {int(declared):,} images on line 1 but lists {len(files):,}: "
                f"truncated or edited; fix line 1 or replace it from {DRIVE}."
            )
        values = torch.tensor(np.asarray(rows, dtype=np.int64).reshape(len(files), len(names)))
        return cls(files=files, names=names, values=values)

    def column(self, requested: str) -> str:
        """The attribute name ``requested`` means (exact, then case-insensitive)."""
        if requested in self.names:
            return requested
        folded = {name.lower(): name for name in self.names}
        if requested.lower() in folded:
            return folded[requested.lower()]
        raise DataError(
            f"CelebA has no attribute '{requested}' for --label-column; its attributes are "
            f"{', '.join(self.names)}."
        )


def class_names(attribute: str) -> list[str]:
    """``["not Smiling", "Smiling"]``: readable in a figure legend."""
    readable = attribute.replace("_", " ")
    return [f"not {readable}", readable]


def read_partition(path: Path, files: list[str]) -> torch.Tensor:
    """``list_eval_partition.txt`` as int64 indices into :data:`PARTITIONS` (-1 when absent)."""
    found: dict[str, int] = {}
    text = read_text(path, "CelebA partition file", hint=f"replace it from {DRIVE}")
    lines = text.split("\n")  # numbered as an editor shows them
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise DataError(
                f"{path} line {number} is not 'file 0|1|2'; is it the official "
                "list_eval_partition.txt?"
            )
        found[fields[0]] = int(fields[1])
    return torch.tensor([found.get(f, -1) for f in files], dtype=torch.int64)


def crop_box(width: int, height: int, crop: int = CROP) -> tuple[float, float, float, float]:
    """The centred square of side ``min(crop, width, height)``."""
    side = min(crop, width, height)
    left, top = (width - side) / 2, (height - side) / 2
    return (left, top, left + side, top + side)


def decode_face(path: Path, size: int, channels: int) -> np.ndarray | str:
    """uint8 ``(channels, size, size)`` of the cropped face, or why it cannot be decoded."""
    try:
        with open_image(path) as img:
            width, height = img.size
            if width * height > MAX_PIXELS:
                return f"declares {width}x{height} pixels, over the limit"
            img.load()
            face = img.convert("L" if channels == 1 else "RGB").resize(
                (size, size), Image.Resampling.BICUBIC, box=crop_box(width, height)
            )
    except FileNotFoundError:
        return "missing"
    except NotARegularFile as exc:
        reason = str(exc).removeprefix("is ")
        return "missing" if reason == "does not exist" else reason
    except Exception as exc:  # untrusted bytes: Pillow raises many types
        return " ".join(str(exc).split()) or type(exc).__name__
    array = np.asarray(face, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def decode_faces(
    folder: Path, files: list[str], size: int, channels: int
) -> tuple[ImageData, dict[str, Any]]:
    """Decode every file in threads; the ones that fail are listed, with the reasons."""
    out = np.empty((len(files), channels, size, size), dtype=np.uint8)
    kept: list[int] = []
    reasons: list[tuple[str, str]] = []
    with ThreadPoolExecutor(max_workers=default_workers()) as pool:
        results = pool.map(lambda f: decode_face(folder / f, size, channels), files)
        for index, result in enumerate(results):
            if isinstance(result, str):
                reasons.append((files[index], result))
            else:
                out[index] = result
                kept.append(index)
    if not kept:
        first, why = reasons[0]
        raise DataError(
            f"none of the {len(files)} CelebA images could be decoded ({first}: {why})."
        )
    images = out if len(kept) == len(files) else out[kept]
    pixels = ImageData(
        images=torch.from_numpy(images),
        name="celeba",
        files=[files[i] for i in kept],
        skipped=[name for name, _ in reasons],
    )
    return pixels, {"skipped_reasons": [why for _, why in reasons]}


def celeba_folder(spec: DataSpec) -> Path:
    """The folder holding ``img_align_celeba`` and the text files."""
    configured = spec.root or os.environ.get(DATA_ROOT_ENV)
    root = Path(configured).expanduser() if configured else Path.home() / ".cache/gentool"
    if not configured:
        root = root / FOLDER
    check_folder(root, "CelebA folder")
    if any(present(root, name) for name in RELEASE):
        return root
    return root / FOLDER


def _complete(folder: Path) -> bool:
    """Whether the release is in ``folder`` (extracting the zip of images when it is there).

    A release only partly there is refused, naming what it lacks (nothing is downloaded over
    it), as is a FIFO or a folder in place of a file; ``False``: none of it is there.
    """
    check_folder(folder, "CelebA folder")
    zipped = folder / f"{IMAGES}.zip"
    if not present(folder, IMAGES) and present(folder, zipped.name):
        from torchvision.datasets.utils import extract_archive

        check_file(zipped, "CelebA archive", hint=f"replace it from {DRIVE}")
        try:
            extract_archive(str(zipped), str(folder))
        except Exception as exc:
            raise DataError(
                f"cannot extract {zipped} ({exc}); extract it yourself so "
                f"that {folder / IMAGES} holds the JPEGs."
            ) from None
    return check_release(
        folder, [ATTRIBUTES_FILE, PARTITION_FILE], what="CelebA", fetch=DRIVE, folders=[IMAGES]
    )


def _download(folder: Path) -> None:
    from torchvision.datasets import CelebA

    CelebA(str(folder.parent), split="all", target_type=[], download=True)


class CelebaDataset(DatasetPlugin):
    PLUGIN_NAME: ClassVar[str] = "celeba"
    DESCRIPTION: ClassVar[str] = (
        "202,599 aligned celebrity faces, centre 108 px crop, with 40 binary attributes "
        f"(--label-column Smiling); from --data-root or ${DATA_ROOT_ENV}"
    )
    DEFAULT_SIZE: ClassVar[int | None] = 64
    USES: ClassVar[frozenset[str] | None] = frozenset({"root", "label_column"})

    @classmethod
    def labels_hint(cls) -> str:
        return "pass --label-column ATTRIBUTE, one of its 40 attributes (e.g. Smiling)"

    def load(self, spec: DataSpec) -> ImageData:
        size = spec.image_size or self.DEFAULT_SIZE or 64
        channels = spec.channels or 3
        folder = celeba_folder(spec)
        if not _complete(folder):
            check_decoded_fits(OFFICIAL_COUNT, channels, size, "CelebA")
            read_or_download(
                lambda _: _download(folder if folder.name == FOLDER else folder / FOLDER),
                what="CelebA",
                root=folder,
                present=False,
                fetch=f"{IMAGES}.zip, {ATTRIBUTES_FILE} and {PARTITION_FILE} from {DRIVE}",
                layout=f"{FOLDER}/{IMAGES}/, {FOLDER}/{ATTRIBUTES_FILE} and "
                f"{FOLDER}/{PARTITION_FILE}",
            )
            folder = folder if folder.name == FOLDER else folder / FOLDER
        table = AttributeTable.read(folder / ATTRIBUTES_FILE)
        column = table.column(spec.label_column) if spec.label_column else None
        partition = read_partition(folder / PARTITION_FILE, table.files)
        images = folder / IMAGES
        check_decoded_fits(len(table.files), channels, size, f"the {len(table.files)} CelebA faces")

        key_parts = {
            "files": file_signatures(images, table.files),
            "size": size,
            "channels": channels,
            "crop": CROP,
            "version": VERSION,
        }
        pixels, extra = load_or_build(
            self.PLUGIN_NAME, key_parts, lambda: decode_faces(images, table.files, size, channels)
        )
        reasons = list(extra.get("skipped_reasons", []))
        reasons += ["unreadable"] * (len(pixels.skipped) - len(reasons))
        warn_skipped(
            list(zip(pixels.skipped, reasons, strict=False)), len(table.files), str(images)
        )

        row = {name: i for i, name in enumerate(table.files)}
        kept = torch.tensor([row[f] for f in pixels.files], dtype=torch.int64)
        attributes = {name: table.values[kept, i].clone() for i, name in enumerate(table.names)}
        attribute_names = {name: class_names(name) for name in table.names}
        attributes[PARTITION] = partition[kept]
        attribute_names[PARTITION] = list(PARTITIONS)
        return ImageData(
            images=pixels.images,
            name=self.PLUGIN_NAME,
            labels=None if column is None else attributes[column].clone(),
            class_names=[] if column is None else class_names(column),
            attributes=attributes,
            attribute_names=attribute_names,
            files=[str(images / f) for f in pixels.files],
            skipped=[str(images / f) for f in pixels.skipped],
        )
