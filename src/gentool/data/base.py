"""The dataset plugin interface.

A dataset plugin turns a :class:`DataSpec` (what the user asked for on the command line)
into :class:`ImageData`: every image decoded once into one uint8 tensor ``(N, C, H, W)`` at
the requested resolution, with integer labels and named attributes when the source has them.
Training, evaluation and plotting all read this one structure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from gentool.errors import DataError

SPLITS = ("train", "test", "all")


@dataclass
class DataSpec:
    """Which data to load, as the user asked for it."""

    name: str = "digits"
    root: str | None = None
    image_size: int | None = None
    channels: int | None = None
    labels: str | None = None
    label_column: str | None = None
    split: str = "train"
    test_fraction: float = 0.1
    limit: int | None = None

    def validate(self) -> None:
        if self.split not in SPLITS:
            raise DataError(f"split must be one of {', '.join(SPLITS)}, not '{self.split}'.")
        if not 0.0 <= self.test_fraction < 1.0:
            raise DataError("test fraction must be in [0, 1).")
        if self.image_size is not None and not 1 <= self.image_size <= 4096:
            raise DataError(f"image size must be between 1 and 4096, not {self.image_size}.")
        if self.channels is not None and self.channels not in (1, 3):
            raise DataError(f"channels must be 1 or 3, not {self.channels}.")


@dataclass
class ImageData:
    """Decoded images and their annotations, all in memory.

    ``images`` is uint8 ``(N, C, H, W)``. ``labels`` is int64 ``(N,)`` with -1 where an image
    has no label. ``attributes`` maps an attribute name (e.g. ``hair``) to an int64 ``(N,)``
    tensor of indices into ``attribute_names[name]`` (-1 when unknown).
    """

    images: torch.Tensor
    name: str
    labels: torch.Tensor | None = None
    class_names: list[str] = field(default_factory=list)
    attributes: dict[str, torch.Tensor] = field(default_factory=dict)
    attribute_names: dict[str, list[str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    #: What to pass to give this data class labels, for a model or command that needs them
    #: when it has none (e.g. ``pass --label-column ATTRIBUTE``); "" when nothing can.
    #: :func:`gentool.data.checks.load_from` fills it from :meth:`DatasetPlugin.labels_hint` unless the dataset did.
    labels_hint: str = ""

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError("ImageData.images must be a uint8 tensor of shape (N, C, H, W)")
        if len(self.images) == 0:
            raise DataError(f"dataset '{self.name}' has no images.")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def subset(self, index: torch.Tensor) -> ImageData:
        return ImageData(
            images=self.images[index],
            name=self.name,
            labels=None if self.labels is None else self.labels[index],
            class_names=list(self.class_names),
            attributes={k: v[index] for k, v in self.attributes.items()},
            attribute_names=dict(self.attribute_names),
            files=[self.files[i] for i in index.tolist()] if self.files else [],
            skipped=list(self.skipped),
            labels_hint=self.labels_hint,
        )


def split_indices(n: int, split: str, test_fraction: float, seed: int = 0) -> torch.Tensor:
    """Deterministic train/test split: the same images are held out on every machine."""
    if split == "all" or test_fraction <= 0:
        return torch.arange(n)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = max(1, round(n * test_fraction))
    chosen = order[:n_test] if split == "test" else order[n_test:]
    return chosen.sort().values


def apply_split(data: ImageData, spec: DataSpec) -> ImageData:
    if spec.split == "test" and spec.test_fraction <= 0:
        raise DataError(
            "the test split is empty with --test-fraction 0 (every image is for training); "
            "use --split all, or a test fraction above 0."
        )
    index = split_indices(len(data), spec.split, spec.test_fraction)
    if len(index) == 0:
        raise DataError(
            f"dataset '{data.name}' has {len(data)} image(s): too few to hold out a "
            f"{spec.test_fraction:.0%} test split and keep a '{spec.split}' split; add images."
        )
    if spec.limit is not None:
        index = index[: spec.limit]
    return data.subset(index)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1], the range every gentool network works in."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255]."""
    return images.detach().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)


class DatasetPlugin:
    """Base class of dataset plugins: subclass it and return it from ``gentool_register_datasets``."""

    PLUGIN_NAME: ClassVar[str] = ""
    DESCRIPTION: ClassVar[str] = ""
    #: Resolution used when neither the user nor the model asks for one.
    DEFAULT_SIZE: ClassVar[int | None] = None
    #: Which of the options ``root`` (--data-root), ``labels`` (--labels) and
    #: ``label_column`` (--label-column) this dataset reads. Given to a dataset that does not
    #: read it, an option is refused by name instead of being ignored. ``None`` (the default
    #: for plugins that do not say) accepts them all.
    USES: ClassVar[frozenset[str] | None] = None

    def load(self, spec: DataSpec) -> ImageData:
        """Return the whole source (all splits) decoded at ``spec.image_size``."""
        raise NotImplementedError

    @classmethod
    def labels_hint(cls) -> str:
        """What a user passes to get class labels from this dataset ("" when nothing can).

        Read from :attr:`USES`, so a model asking for labels suggests options the dataset
        takes: a dataset that reads a labels CSV suggests ``--labels``, one that picks its
        label among its own attributes (``label_column`` without ``labels``) suggests
        ``--label-column``. Override it to say more (e.g. which attributes there are).
        """
        uses = cls.USES
        if uses is None or "labels" in uses:
            return "pass --labels CSV --label-column COLUMN"
        if "label_column" in uses:
            return "pass --label-column ATTRIBUTE"
        return ""


#: Options a dataset may or may not read, with their flags.
OPTIONAL_FIELDS = {"root": "--data-root", "labels": "--labels", "label_column": "--label-column"}


def check_options_used(plugin: type[DatasetPlugin], spec: DataSpec) -> None:
    """Refuse an option the dataset would ignore (e.g. --labels for the digits)."""
    uses = plugin.USES
    if uses is None:
        return
    for name, flag in OPTIONAL_FIELDS.items():
        if getattr(spec, name) is not None and name not in uses:
            hint = " (use --dataset folder for your own images)" if name == "root" else ""
            raise DataError(
                f"{flag} does not apply to dataset '{spec.name}': it does not read one{hint}."
            )


def check_decoded_fits(count: int, channels: int, size: int, what: str) -> None:
    """Refuse, before decoding, data whose pixels cannot fit in memory."""
    from gentool.runtime import available_memory, format_bytes

    need = count * channels * size * size
    have = available_memory()
    if have is not None and need > 0.8 * have:
        raise DataError(
            f"decoding {what} at {size}x{size} needs about {format_bytes(need)}, and this "
            f"machine has {format_bytes(have)} available; use a smaller --image-size."
        )
