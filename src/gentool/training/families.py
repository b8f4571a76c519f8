"""The built-in model families, registered through ``gentool_register_families`` like any
third party's (:mod:`gentool.family` says what a family declares)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from gentool.family import Family, GridLayout, GridSection

if TYPE_CHECKING:
    from gentool.training.base import Trainer


class GanFamily(Family):
    PLUGIN_NAME: ClassVar[str] = "gan"
    DESCRIPTION: ClassVar[str] = "generator and discriminator trained against each other"
    USES: ClassVar[frozenset[str]] = frozenset({"generate"})
    TAKES_GAN_LOSS: ClassVar[bool] = True

    @classmethod
    def trainer(cls) -> type[Trainer]:
        from gentool.training.gan import GanTrainer

        return GanTrainer


class VaeFamily(Family):
    PLUGIN_NAME: ClassVar[str] = "vae"
    DESCRIPTION: ClassVar[str] = "variational autoencoders trained on the ELBO"
    USES: ClassVar[frozenset[str]] = frozenset({"generate", "reconstruct"})

    @classmethod
    def trainer(cls) -> type[Trainer]:
        from gentool.training.vae import VaeTrainer

        return VaeTrainer


class Image2ImageFamily(Family):
    PLUGIN_NAME: ClassVar[str] = "image2image"
    DESCRIPTION: ClassVar[str] = "paired image-to-image models (super-resolution)"
    USES: ClassVar[frozenset[str]] = frozenset({"upscale"})
    TAKES_GAN_LOSS: ClassVar[bool] = True
    GRID_COLUMNS: ClassVar[tuple[str, str, str] | None] = ("input", "output", "ground truth")

    @classmethod
    def trainer(cls) -> type[Trainer]:
        from gentool.training.image2image import Image2ImageTrainer

        return Image2ImageTrainer

    @classmethod
    def cannot(cls, what: str, model: str, path: str | Path | None = None) -> str:
        where = f"{path}: " if path is not None else ""
        shown = path if path is not None else "CKPT"
        return (
            f"{where}'{model}' upscales images and draws none, so {what} does not apply; use "
            f"gentool upscale --ckpt {shown} IMAGE, or gentool reconstruct {shown} for rows of "
            "input | output | ground truth from its test split."
        )

    @classmethod
    def kit_settings(cls, folder: Path, image_size: int, loss: str | None) -> dict[str, Any]:
        # photos at twice the size: some SR data paths crop at full resolution
        from gentool.data.base import DataSpec
        from gentool.data.synthetic import random_image_folder

        photos = random_image_folder(folder / "photos", 10, 2 * image_size, seed=3)
        settings: dict[str, Any] = {
            "data": DataSpec(name="folder", root=str(photos), image_size=image_size)
        }
        if loss is not None:  # the adversarial term is off by default: the loss must be used
            settings["extra"] = {"adv_weight": "0.01"}
        return settings


class TranslationFamily(Family):
    PLUGIN_NAME: ClassVar[str] = "translation"
    DESCRIPTION: ClassVar[str] = "unpaired translation between two image domains (CycleGAN)"
    USES: ClassVar[frozenset[str]] = frozenset({"translate"})
    TAKES_GAN_LOSS: ClassVar[bool] = True
    DOMAINS: ClassVar[int] = 2
    GRID_COLUMNS: ClassVar[tuple[str, str, str] | None] = ("input", "output", "reconstruction")
    TARGET_IS_FIXED: ClassVar[bool] = False

    @classmethod
    def trainer(cls) -> type[Trainer]:
        from gentool.training.cyclegan import CycleGanTrainer

        return CycleGanTrainer

    @classmethod
    def sample_grid_layout(cls, run_config: Mapping[str, Any]) -> GridLayout | None:
        """Rows of domain A's fixed inputs, then as many of domain B's, each row
        ``input | translated | translated back`` (``CycleGanTrainer.write_samples``)."""
        name_a, name_b = cls.domain_names(run_config)

        def label(letter: str, name: str) -> str:
            return letter if name == letter else f"{letter}: {name}"

        return GridLayout(
            columns=("input", "translated", "translated back"),
            sections=(
                GridSection("a2b", label("A", name_a), ("A (input)", "A→B", "A→B→A")),
                GridSection("b2a", label("B", name_b), ("B (input)", "B→A", "B→A→B")),
            ),
        )

    @classmethod
    def cannot(cls, what: str, model: str, path: str | Path | None = None) -> str:
        where = f"{path}: " if path is not None else ""
        return (
            f"{where}'{model}' translates images, so {what} does not apply; pass "
            "--input DIR_OR_FILE --direction a2b --out-dir OUT to gentool sample."
        )

    @classmethod
    def kit_settings(cls, folder: Path, image_size: int, loss: str | None) -> dict[str, Any]:
        from gentool.data.base import DataSpec
        from gentool.data.synthetic import random_image_folder

        a = random_image_folder(folder / "domain-a", 10, image_size, seed=1)
        b = random_image_folder(folder / "domain-b", 10, image_size, seed=2)
        return {
            "data": DataSpec(name="folder", root=str(a), image_size=image_size),
            "extra": {"domain_a": str(a), "domain_b": str(b)},
        }


BUILTIN_FAMILIES: tuple[type[Family], ...] = (
    GanFamily,
    VaeFamily,
    Image2ImageFamily,
    TranslationFamily,
)
