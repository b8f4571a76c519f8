"""Folders of image files: the ``folder`` dataset and the ``anime-faces`` dataset built on it.

``folder`` reads every ``.jpg``/``.jpeg``/``.png``/``.webp``/``.bmp`` file under
``--data-root`` (recursively, case-insensitive suffixes, hidden files and folders ignored,
sorted paths), decodes each once at the requested resolution (shorter side resized, centre
square cropped; see :mod:`gentool.data.decode`) and keeps the pixels in the decoded-image
cache (:mod:`gentool.data.cache`).

Labels come from one of two places:

* a CSV file (``DataSpec.labels``): the ``file`` column (or the first column) names each
  image by its path relative to the image folder, its path relative to the CSV's folder, or
  its bare file name. ``DataSpec.label_column`` (default: the first column after the file
  column) gives the class label; every column but the file column also becomes an
  attribute. Images without a row, or with an empty value, get -1;
* otherwise, sub-folders: ``root/cat/x.png`` is labelled ``cat`` (the first-level
  sub-folder), when images sit in at least two of them.

Labels are read fresh on every load, so editing the CSV never re-decodes the images.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

import torch

from gentool.data.base import DatasetPlugin, DataSpec, ImageData, check_decoded_fits
from gentool.data.cache import file_signatures, load_or_build
from gentool.data.decode import (
    DECODER_VERSION,
    IMAGE_SUFFIXES,
    DataWarning,
    decode_files,
    warn_animated,
    warn_skipped,
)
from gentool.data.files import MAX_TEXT_BYTES, check_file, kind_of, open_regular
from gentool.errors import DataError

ANIME_FACES_ENV = "GENTOOL_ANIME_FACES"


def list_images(folder: Path) -> list[str]:
    """Sorted POSIX paths, relative to ``folder``, of every image file below it.

    Names are listed, never opened: one that is not a regular file (a FIFO, a device, a
    broken link) is listed too, and the decoder skips it by name from its ``stat``. A
    sub-folder that cannot be listed is one :class:`DataError` line naming it.
    """
    found: list[str] = []

    def refuse(error: OSError) -> None:
        where = error.filename or folder
        raise DataError(f"cannot list the image folder {where}: {error.strerror or error}.")

    for directory, subdirectories, names in os.walk(folder, onerror=refuse):
        subdirectories[:] = [d for d in subdirectories if not d.startswith(".")]
        relative = Path(directory).relative_to(folder)
        for name in names:
            if not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES):
                found.append((relative / name).as_posix())
    return sorted(found)


def existing_folder(path: Path) -> Path:
    """``path`` resolved, or a one-line :class:`DataError` when it is not a directory."""
    path = path.expanduser()
    if os.path.islink(path) and not path.exists():
        raise DataError(f"data folder {path} is a broken symbolic link; pass --data-root DIR.")
    if not path.exists():
        raise DataError(f"data folder {path} does not exist; pass --data-root DIR with the images.")
    if not path.is_dir():
        kind = kind_of(path.stat().st_mode)
        raise DataError(f"data folder {path} is not a directory ({kind}); pass --data-root DIR.")
    return path.resolve()


def sorted_names(names: set[str]) -> list[str]:
    """Class names in order: numerically when all are integers ("2" before "10")."""
    if names and all(n.lstrip("-").isdigit() for n in names):
        return sorted(names, key=int)
    return sorted(names)


def encode_values(values: list[str]) -> tuple[torch.Tensor, list[str]]:
    """Strings -> int64 indices into the sorted distinct names; "" -> -1."""
    names = sorted_names({v for v in values if v})
    index = {name: i for i, name in enumerate(names)}
    return torch.tensor([index.get(v, -1) for v in values], dtype=torch.int64), names


def subfolder_labels(files: list[str]) -> tuple[torch.Tensor | None, list[str]]:
    """Label each file by its first-level sub-folder; None when fewer than two exist."""
    folders = [f.split("/", 1)[0] if "/" in f else "" for f in files]
    if len({f for f in folders if f}) < 2:
        return None, []
    return encode_values(folders)


def _normalise(key: str) -> str:
    key = key.strip().replace("\\", "/")
    while key.startswith("./"):
        key = key[2:]
    return key


@dataclass
class LabelTable:
    """A labels CSV: one row of values per image, keyed by the file column."""

    path: Path
    key_column: str
    columns: list[str]
    rows: dict[str, dict[str, str]]

    @classmethod
    def read(cls, path: Path) -> LabelTable:
        path = path.expanduser()
        hint = "pass a CSV file with a 'file' column"
        check_file(path, "labels file", max_bytes=MAX_TEXT_BYTES, hint=hint)
        try:
            with (
                open_regular(path) as raw,
                io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as handle,
            ):
                reader = csv.reader(handle)
                header = [name.strip() for name in next(reader, [])]
                if not header or not any(header):
                    raise DataError(f"labels file {path} has no header row (e.g. file,label).")
                key_column = "file" if "file" in header else header[0]
                key_at = header.index(key_column)
                rows: dict[str, dict[str, str]] = {}
                for record in reader:
                    if not record or key_at >= len(record) or not record[key_at].strip():
                        continue
                    values = {
                        name: (record[i].strip() if i < len(record) else "")
                        for i, name in enumerate(header)
                        if i != key_at and name
                    }
                    rows[_normalise(record[key_at])] = values
        except UnicodeDecodeError as exc:
            raise DataError(
                f"labels file {path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); "
                "save it as a UTF-8 CSV."
            ) from None
        except csv.Error as exc:
            raise DataError(f"labels file {path} is not a CSV file: {exc}.") from None
        except OSError as exc:
            raise DataError(f"cannot read labels file {path}: {exc.strerror or exc}.") from None
        if not rows:
            raise DataError(f"labels file {path} has a header but no rows naming images.")
        columns = [name for i, name in enumerate(header) if i != key_at and name]
        return cls(path=path, key_column=key_column, columns=columns, rows=rows)

    def match(self, folder: Path, files: list[str]) -> dict[str, dict[str, str]]:
        """Map each image (relative to ``folder``) that has a row to that row.

        A row is found by the image's path relative to ``folder``, then relative to the
        CSV's own folder, then by its bare file name. Rows naming no image are reported
        in one :class:`DataWarning`; a CSV that names none of them is an error.
        """
        try:
            prefix: PurePosixPath | None = PurePosixPath(
                folder.resolve().relative_to(self.path.parent.resolve()).as_posix()
            )
        except ValueError:
            prefix = None
        matched: dict[str, dict[str, str]] = {}
        used: set[str] = set()
        for file in files:
            candidates = [file, PurePosixPath(file).name]
            if prefix is not None:
                candidates.insert(1, (prefix / file).as_posix())
            for candidate in candidates:
                if candidate in self.rows:
                    matched[file] = self.rows[candidate]
                    used.add(candidate)
                    break
        unmatched = [key for key in self.rows if key not in used]
        if self.rows and len(unmatched) == len(self.rows):
            raise DataError(
                f"none of the {len(self.rows)} rows of {self.path} names an image under "
                f"{folder} (first: '{unmatched[0]}'); column '{self.key_column}' must hold "
                "file names or paths relative to that folder."
            )
        if unmatched:
            warnings.warn(
                f"{len(unmatched)} of {len(self.rows)} rows of {self.path.name} name no image "
                f"under {folder} (first: '{unmatched[0]}'); they are ignored.",
                DataWarning,
                stacklevel=3,
            )
        return matched


def table_labels(
    table: LabelTable, folder: Path, files: list[str], kept: list[str], label_column: str | None
) -> dict[str, Any]:
    """Labels and attributes of the ``kept`` files, as :class:`ImageData` keyword arguments.

    ``files`` are all the images found, decodable or not: rows naming a corrupt file are not
    reported as naming no image.
    """
    column = label_column or (table.columns[0] if table.columns else None)
    if label_column is not None and label_column not in table.columns:
        raise DataError(
            f"labels file {table.path} has no column '{label_column}'; its columns are "
            f"{', '.join([table.key_column, *table.columns])}."
        )
    rows = table.match(folder, files)
    attributes: dict[str, torch.Tensor] = {}
    attribute_names: dict[str, list[str]] = {}
    for name in table.columns:
        values = [rows[f].get(name, "") if f in rows else "" for f in kept]
        attributes[name], attribute_names[name] = encode_values(values)
    if column is None:
        return {"attributes": attributes, "attribute_names": attribute_names}
    return {
        "labels": attributes[column].clone(),
        "class_names": list(attribute_names[column]),
        "attributes": attributes,
        "attribute_names": attribute_names,
    }


class FolderDataset(DatasetPlugin):
    PLUGIN_NAME: ClassVar[str] = "folder"
    USES: ClassVar[frozenset[str] | None] = frozenset({"root", "labels", "label_column"})
    DESCRIPTION: ClassVar[str] = (
        "any folder of jpg/png/webp/bmp images (--data-root); labels from sub-folders or a CSV"
    )
    DEFAULT_SIZE: ClassVar[int | None] = 64

    @classmethod
    def labels_hint(cls) -> str:
        return (
            "put the images in one sub-folder per class, or pass --labels CSV --label-column COLUMN"
        )

    def root(self, spec: DataSpec) -> Path:
        """The folder the user pointed at."""
        if not spec.root:
            raise DataError("the folder dataset needs a folder of images; pass --data-root DIR.")
        return existing_folder(Path(spec.root))

    def image_folder(self, root: Path) -> Path:
        """Where the images are searched for, below ``root``."""
        return root

    def labels_file(self, spec: DataSpec, root: Path) -> Path | None:
        return Path(spec.labels) if spec.labels else None

    def label_column(self, spec: DataSpec) -> str | None:
        return spec.label_column

    def load(self, spec: DataSpec) -> ImageData:
        root = self.root(spec)
        folder = self.image_folder(root)
        size = spec.image_size or self.DEFAULT_SIZE or 64
        channels = spec.channels or 3
        files = list_images(folder)
        if not files:
            raise DataError(
                f"data folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}); "
                "pass --data-root DIR with the images."
            )
        labels_path = self.labels_file(spec, root)
        if labels_path is None and spec.label_column:
            raise DataError(
                f"--label-column {spec.label_column} names a column of a --labels CSV; pass "
                "--labels FILE too (without one, labels come from the sub-folders)."
            )
        check_decoded_fits(len(files), channels, size, f"the {len(files)} images under {folder}")
        table = LabelTable.read(labels_path) if labels_path is not None else None

        key_parts = {
            "files": file_signatures(folder, files),
            "size": size,
            "channels": channels,
            "decoder": DECODER_VERSION,
        }
        pixels, extra = load_or_build(
            self.PLUGIN_NAME, key_parts, lambda: _decode_folder(folder, files, size, channels)
        )
        reasons = list(extra.get("skipped_reasons", []))
        reasons += ["unreadable"] * (len(pixels.skipped) - len(reasons))
        warn_skipped(list(zip(pixels.skipped, reasons, strict=False)), len(files), str(folder))
        warn_animated(list(extra.get("animated", [])), str(folder))

        kept = pixels.files
        if table is not None:
            annotations = table_labels(table, folder, files, kept, self.label_column(spec))
        else:
            labels, class_names = subfolder_labels(kept)
            annotations = {"labels": labels, "class_names": class_names}
        return ImageData(
            images=pixels.images,
            name=self.PLUGIN_NAME,
            files=[str(folder / f) for f in kept],
            skipped=[str(folder / f) for f in pixels.skipped],
            **annotations,
        )


def _decode_folder(
    folder: Path, files: list[str], size: int, channels: int
) -> tuple[ImageData, dict[str, Any]]:
    decoded = decode_files([folder / f for f in files], size, channels)
    if not decoded.kept:
        first, reason = decoded.skipped[0]
        raise DataError(
            f"none of the {len(files)} images under {folder} could be decoded "
            f"(first: {files[first]}: {reason})."
        )
    pixels = ImageData(
        images=torch.from_numpy(decoded.images),
        name="folder",
        files=[files[i] for i in decoded.kept],
        skipped=[files[i] for i, _ in decoded.skipped],
    )
    return pixels, {
        "skipped_reasons": [reason for _, reason in decoded.skipped],
        "animated": [files[i] for i in decoded.animated],
    }


class AnimeFacesDataset(FolderDataset):
    PLUGIN_NAME: ClassVar[str] = "anime-faces"
    DESCRIPTION: ClassVar[str] = (
        "anime character faces from a local folder with images/ and tags.csv "
        f"(--data-root or ${ANIME_FACES_ENV}); labels: hair colour"
    )
    DEFAULT_SIZE: ClassVar[int | None] = 64
    DEFAULT_LABEL_COLUMN: ClassVar[str] = "hair"

    def root(self, spec: DataSpec) -> Path:
        configured = spec.root or os.environ.get(ANIME_FACES_ENV)
        if not configured:
            raise DataError(
                "the anime-faces dataset is not downloaded by gentool; pass --data-root DIR "
                f"(a folder with images/ and tags.csv) or set {ANIME_FACES_ENV}=DIR."
            )
        root = existing_folder(Path(configured))
        for part in ("images", "tags.csv"):
            if not (root / part).exists():
                raise DataError(
                    f"{root} has no {part}; the anime-faces dataset expects DIR/images/*.jpg "
                    "and DIR/tags.csv (pass that DIR as --data-root)."
                )
        return root

    def image_folder(self, root: Path) -> Path:
        return root / "images"

    def labels_file(self, spec: DataSpec, root: Path) -> Path | None:
        return Path(spec.labels) if spec.labels else root / "tags.csv"

    def label_column(self, spec: DataSpec) -> str | None:
        return spec.label_column or self.DEFAULT_LABEL_COLUMN
