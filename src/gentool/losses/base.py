"""The GAN loss plugin interface.

A loss receives the discriminator's raw scores (no sigmoid applied), float32 tensors of shape
``(B,)`` or ``(B, ...)`` (a PatchGAN gives one score per patch), and returns scalar losses
for the discriminator and the generator. A loss may add a regulariser that sees the
discriminator itself and the real and fake batches (WGAN-GP's gradient penalty does).

Options reach a loss as ``--loss-opt key=value`` on the command line; they are checked
against the loss's ``Config`` dataclass and saved in the checkpoint.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import torch

from gentool.config import build_config, config_to_dict


@dataclasses.dataclass
class NoOptions:
    """A loss without options."""


class GanLoss:
    """Base class of GAN losses: subclass it and return it from ``gentool_register_losses``."""

    PLUGIN_NAME: ClassVar[str] = ""
    DESCRIPTION: ClassVar[str] = ""
    Config: ClassVar[type] = NoOptions
    #: Discriminator updates per generator update that this loss needs by default.
    DEFAULT_D_STEPS: ClassVar[int] = 1
    #: False when the critic must not use BatchNorm (per-sample penalties, e.g. WGAN-GP).
    ALLOWS_BATCHNORM: ClassVar[bool] = True
    #: True when ``generator_loss`` needs the scores of a real batch too (relativistic losses);
    #: the training loop then scores a real batch during the generator step.
    GENERATOR_NEEDS_REAL: ClassVar[bool] = False
    #: True when ``regularizer`` differentiates through D twice (keeps D out of torch.compile).
    NEEDS_DOUBLE_BACKWARD: ClassVar[bool] = False

    def __init__(self, config: Any | None = None) -> None:
        self.config = config if config is not None else self.Config()

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> GanLoss:
        return cls(build_config(cls.Config, options, what="loss option"))

    def config_dict(self) -> dict[str, Any]:
        return config_to_dict(self.config)

    def discriminator_loss(
        self, real_scores: torch.Tensor, fake_scores: torch.Tensor
    ) -> torch.Tensor:
        raise NotImplementedError

    def generator_loss(
        self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None
    ) -> torch.Tensor:
        raise NotImplementedError

    def regularizer(
        self,
        discriminator: Callable[[torch.Tensor], torch.Tensor],
        real: torch.Tensor,
        fake: torch.Tensor,
    ) -> torch.Tensor | None:
        """An extra term for the discriminator's loss, or ``None``.

        ``discriminator`` maps images to scores (conditions already bound), ``real`` and
        ``fake`` are detached image batches of equal shape.
        """
        return None

    def probability(self, scores: torch.Tensor) -> torch.Tensor:
        """What to log as D(x): the discriminator's belief that images are real."""
        return torch.sigmoid(scores)
