"""Relativistic GAN losses for gentool (an example third-party plugin).

Jolicoeur-Martineau, 2018, "The relativistic discriminator: a key element missing from
standard GAN". With ``C`` the critic's raw score and ``sigma`` the logistic function:

* RSGAN: ``L_D = -E[log sigma(C(x_r) - C(x_f))]`` and ``L_G = -E[log sigma(C(x_f) - C(x_r))]``,
  pairing each real sample with a fake one.
* RaSGAN (relativistic average, the default): each score is compared with the mean score of
  the other kind,
  ``L_D = -E_r[log sigma(C(x_r) - E_f C(x_f))] - E_f[log(1 - sigma(C(x_f) - E_r C(x_r)))]``
  and ``L_G`` is the same with real and fake swapped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from gentool.hookspecs import hookimpl
from gentool.losses.base import GanLoss

#: The gentool hook-API version this plugin was written for.
GENTOOL_API_VERSION = 1


def relativistic_discriminator_loss(
    real_scores: torch.Tensor, fake_scores: torch.Tensor, average: bool = True
) -> torch.Tensor:
    """RaSGAN (``average``) or RSGAN discriminator loss from raw critic scores."""
    if average:
        real_rel = real_scores - fake_scores.mean()
        fake_rel = fake_scores - real_scores.mean()
        return F.binary_cross_entropy_with_logits(
            real_rel, torch.ones_like(real_rel)
        ) + F.binary_cross_entropy_with_logits(fake_rel, torch.zeros_like(fake_rel))
    diff = real_scores - fake_scores
    return F.binary_cross_entropy_with_logits(diff, torch.ones_like(diff))


def relativistic_generator_loss(
    fake_scores: torch.Tensor, real_scores: torch.Tensor, average: bool = True
) -> torch.Tensor:
    """The generator's side: the discriminator loss with real and fake swapped."""
    return relativistic_discriminator_loss(fake_scores, real_scores, average)


@dataclass
class RelativisticConfig:
    #: Compare with the mean score of the other kind (RaSGAN) instead of pairwise (RSGAN).
    average: bool = True


class RelativisticLoss(GanLoss):
    """Relativistic (average) standard GAN loss; see the module docstring for the formulas."""

    PLUGIN_NAME: ClassVar[str] = "relativistic"
    DESCRIPTION: ClassVar[str] = (
        "relativistic average GAN loss, RaSGAN/RSGAN (Jolicoeur-Martineau 2018)"
    )
    Config: ClassVar[type] = RelativisticConfig
    GENERATOR_NEEDS_REAL: ClassVar[bool] = True

    def discriminator_loss(
        self, real_scores: torch.Tensor, fake_scores: torch.Tensor
    ) -> torch.Tensor:
        return relativistic_discriminator_loss(real_scores, fake_scores, self.config.average)

    def generator_loss(
        self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None
    ) -> torch.Tensor:
        if real_scores is None:
            raise ValueError("the relativistic generator loss needs the scores of a real batch")
        return relativistic_generator_loss(fake_scores, real_scores.detach(), self.config.average)


@hookimpl
def gentool_register_losses() -> list[type[GanLoss]]:
    return [RelativisticLoss]
