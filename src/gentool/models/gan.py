"""What every GAN model offers the GAN training loop.

A GAN model owns a ``generator`` and a ``discriminator``. The loop asks it for latent inputs
(``sample_latent``), images (``generate``) and discriminator scores (``discriminate``); models
with auxiliary objectives (ACGAN's classifier, InfoGAN's Q head) add terms through
``discriminator_aux_loss`` and ``generator_aux_loss``. The loop owns the alternation, the
optimizers and the GAN loss.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from gentool.models.base import ModelPlugin

if TYPE_CHECKING:
    from gentool.training.base import Trainer

Latent = dict[str, torch.Tensor]


def draw_device(generator: torch.Generator | None, device: torch.device | str) -> torch.device:
    """Where to draw random latents: on ``generator``'s device when one is given (so a seeded
    sample is the same on every machine), else on the model's device (so a training step
    neither waits for a host-to-device copy nor leaves a CUDA graph)."""
    return generator.device if generator is not None else torch.device(device)


class GanModel(ModelPlugin):
    FAMILY: ClassVar[str] = "gan"
    generator: nn.Module
    discriminator: nn.Module

    @classmethod
    def trainer_class(cls) -> type[Trainer]:
        from gentool.training.gan import GanTrainer

        return GanTrainer

    @property
    def latent_dim(self) -> int:
        return int(self.config.latent_dim)

    def sample_latent(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        batch: dict[str, torch.Tensor] | None = None,
        **conditions: Any,
    ) -> Latent:
        """Inputs of the generator for ``n`` samples. ``batch`` is the real batch, if any."""
        device = device or next(self.parameters()).device
        z = torch.randn(
            n, self.latent_dim, generator=generator, device=draw_device(generator, device)
        )
        return {"z": z.to(device)}

    def generate(self, latent: Latent) -> torch.Tensor:
        """Images in [-1, 1] from latent inputs."""
        images: torch.Tensor = self.generator(latent["z"])
        return images

    def discriminate(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Real/fake scores ``(B,)`` and any auxiliary outputs of the discriminator."""
        scores = self.discriminator(images)
        return (scores.flatten(1).mean(1) if scores.dim() > 1 else scores), {}

    def discriminator_aux_loss(
        self,
        real_aux: dict[str, torch.Tensor],
        batch: dict[str, torch.Tensor],
        fake_aux: dict[str, torch.Tensor],
        latent: Latent,
    ) -> dict[str, torch.Tensor]:
        """Extra named loss terms for D (weighted already). None by default."""
        return {}

    def generator_aux_loss(
        self, fake_aux: dict[str, torch.Tensor], latent: Latent
    ) -> dict[str, torch.Tensor]:
        """Extra named loss terms for G (weighted already). None by default."""
        return {}

    def generator_parameters(self) -> list[nn.Parameter]:
        return list(self.generator.parameters())

    def discriminator_parameters(self) -> list[nn.Parameter]:
        return list(self.discriminator.parameters())

    def load_ema_state(self, state: dict[str, torch.Tensor]) -> None:
        """Sample with the moving-average generator weights saved by the trainer."""
        from gentool.models.base import load_weights

        load_weights(self.generator, state, "ema generator")

    @torch.no_grad()
    def sample(
        self, n: int, *, generator: torch.Generator | None = None, **conditions: Any
    ) -> torch.Tensor:
        latent = self.sample_latent(n, generator=generator, **conditions)
        return self.generate(latent).clamp(-1, 1)
