"""The built-in GAN losses, registered through the public hook like any third-party loss."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from gentool.errors import GentoolError
from gentool.hookspecs import hookimpl
from gentool.losses import functional as LF
from gentool.losses.base import GanLoss


@dataclass
class BceConfig:
    #: Use the non-saturating generator loss -log D(G(z)) instead of log(1 - D(G(z))).
    non_saturating: bool = True


class BceLoss(GanLoss):
    """The original GAN objective (Goodfellow et al., 2014, "Generative Adversarial Nets").

    D minimises ``-E[log D(x)] - E[log(1 - D(G(z)))]``. G minimises ``-E[log D(G(z))]``
    (non-saturating, default) or ``E[log(1 - D(G(z)))]`` (minimax, ``non_saturating=false``).
    """

    PLUGIN_NAME: ClassVar[str] = "bce"
    DESCRIPTION: ClassVar[str] = "original GAN log loss (minimax or non-saturating G)"
    Config: ClassVar[type] = BceConfig

    def discriminator_loss(
        self, real_scores: torch.Tensor, fake_scores: torch.Tensor
    ) -> torch.Tensor:
        return LF.bce_discriminator_loss(real_scores, fake_scores)

    def generator_loss(
        self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None
    ) -> torch.Tensor:
        return LF.bce_generator_loss(fake_scores, self.config.non_saturating)


@dataclass
class LeastSquaresConfig:
    #: Target of D for fake images.
    a: float = 0.0
    #: Target of D for real images.
    b: float = 1.0
    #: Value G wants D to give its samples.
    c: float = 1.0

    def validate(self) -> None:
        if self.a == self.b:
            raise GentoolError("least-squares loss needs a != b (fake and real targets).")


class LeastSquaresLoss(GanLoss):
    """Least-squares GAN (Mao et al., 2017, "Least Squares Generative Adversarial Networks").

    ``L_D = 1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2]``, ``L_G = 1/2 E[(D(G(z)) - c)^2]``.
    The default coding is a=0, b=1, c=1; the paper's Pearson chi-squared coding is
    a=-1, b=1, c=0 (``--loss-opt a=-1 --loss-opt c=0``). D has no sigmoid.
    """

    PLUGIN_NAME: ClassVar[str] = "ls"
    DESCRIPTION: ClassVar[str] = "least squares (LSGAN) with a-b-c coding, default 0-1-1"
    Config: ClassVar[type] = LeastSquaresConfig

    def discriminator_loss(
        self, real_scores: torch.Tensor, fake_scores: torch.Tensor
    ) -> torch.Tensor:
        return LF.least_squares_discriminator_loss(
            real_scores, fake_scores, self.config.a, self.config.b
        )

    def generator_loss(
        self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None
    ) -> torch.Tensor:
        return LF.least_squares_generator_loss(fake_scores, self.config.c)

    def probability(self, scores: torch.Tensor) -> torch.Tensor:
        # Map the score onto [0, 1] between the fake target a and the real target b.
        a, b = self.config.a, self.config.b
        return ((scores - a) / (b - a)).clamp(0, 1)


@dataclass
class WganGpConfig:
    #: Weight lambda of the gradient penalty.
    gp_weight: float = 10.0
    #: Target gradient norm.
    gp_target: float = 1.0

    def validate(self) -> None:
        if self.gp_weight < 0:
            raise GentoolError("gp_weight must be >= 0.")


class WganGpLoss(GanLoss):
    """Wasserstein GAN with gradient penalty (Gulrajani et al., 2017, "Improved Training of WGANs").

    ``L_D = E[D(G(z))] - E[D(x)] + lambda E[(||grad D(x_hat)||_2 - 1)^2]`` with
    ``x_hat = eps x + (1 - eps) G(z)``, one ``eps ~ U[0,1]`` per sample; ``L_G = -E[D(G(z))]``.
    Trains 5 critic steps per generator step by default; the critic must not use BatchNorm.
    """

    PLUGIN_NAME: ClassVar[str] = "wgan-gp"
    DESCRIPTION: ClassVar[str] = "Wasserstein loss with per-sample gradient penalty (n_critic 5)"
    Config: ClassVar[type] = WganGpConfig
    DEFAULT_D_STEPS: ClassVar[int] = 5
    ALLOWS_BATCHNORM: ClassVar[bool] = False
    #: Gulrajani et al. (2017), Algorithm 1: Adam(1e-4, 0, 0.9), five critic updates per G's.
    RECOMMENDED_SETTINGS: ClassVar[dict[str, Any]] = {
        "lr_g": 1e-4,
        "lr_d": 1e-4,
        "beta1": 0.0,
        "beta2": 0.9,
        "d_steps": 5,
    }
    NEEDS_DOUBLE_BACKWARD: ClassVar[bool] = True

    def discriminator_loss(
        self, real_scores: torch.Tensor, fake_scores: torch.Tensor
    ) -> torch.Tensor:
        return LF.wasserstein_discriminator_loss(real_scores, fake_scores)

    def generator_loss(
        self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None
    ) -> torch.Tensor:
        return LF.wasserstein_generator_loss(fake_scores)

    def regularizer(
        self,
        discriminator: Callable[[torch.Tensor], torch.Tensor],
        real: torch.Tensor,
        fake: torch.Tensor,
        *,
        step: int = 0,
    ) -> torch.Tensor | dict[str, torch.Tensor] | None:
        if self.config.gp_weight == 0:
            return None
        penalty = LF.gradient_penalty(discriminator, real, fake, self.config.gp_target)
        return self.config.gp_weight * penalty


class HingeLoss(GanLoss):
    """Hinge loss (Lim & Ye, 2017, "Geometric GAN"; used by SN-GAN and BigGAN).

    ``L_D = E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]``, ``L_G = -E[D(G(z))]``.
    """

    PLUGIN_NAME: ClassVar[str] = "hinge"
    DESCRIPTION: ClassVar[str] = "hinge loss (geometric GAN, SN-GAN)"

    def discriminator_loss(
        self, real_scores: torch.Tensor, fake_scores: torch.Tensor
    ) -> torch.Tensor:
        return LF.hinge_discriminator_loss(real_scores, fake_scores)

    def generator_loss(
        self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None
    ) -> torch.Tensor:
        return LF.hinge_generator_loss(fake_scores)


@hookimpl
def gentool_register_losses() -> list[type[GanLoss]]:
    return [BceLoss, LeastSquaresLoss, WganGpLoss, HingeLoss]
