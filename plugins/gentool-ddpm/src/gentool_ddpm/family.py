"""The ``diffusion`` model family: what gentool's commands may do with its models."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from gentool.family import Family

if TYPE_CHECKING:
    from gentool.training.base import Trainer


class DiffusionFamily(Family):
    """Denoising diffusion models: they draw new images (``gentool sample``, and the metrics
    of generated images in ``gentool evaluate``) and train without a GAN loss."""

    PLUGIN_NAME: ClassVar[str] = "diffusion"
    DESCRIPTION: ClassVar[str] = "denoising diffusion models trained to predict the added noise"
    USES: ClassVar[frozenset[str]] = frozenset({"generate"})
    TAKES_GAN_LOSS: ClassVar[bool] = False

    @classmethod
    def trainer(cls) -> type[Trainer]:
        from gentool_ddpm.trainer import DiffusionTrainer

        return DiffusionTrainer
