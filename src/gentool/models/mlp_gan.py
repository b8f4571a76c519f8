"""The fully connected GAN of Goodfellow et al. (2014, "Generative Adversarial Nets").

Generator: ``z -> Linear -> [BatchNorm] -> LeakyReLU(0.2)`` for each hidden width, then a
linear layer to ``C*H*W`` pixels and tanh. Discriminator: the flattened image through
``Linear -> LeakyReLU(0.2)`` layers (no normalisation, so every loss including WGAN-GP can
train it) to one score. Works at any image size; meant for 28x28 / 32x32 single-channel
digits, where it trains in minutes on a CPU::

    gentool train mlp-gan --dataset mnist --loss bce --steps 5000
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from gentool.errors import GentoolError
from gentool.models.base import ModelConfig
from gentool.models.gan import GanModel
from gentool.models.layers import maybe_spectral


@dataclass
class MlpGanConfig(ModelConfig):
    image_size: int = 28
    channels: int = 1
    #: Length of the noise vector z.
    latent_dim: int = 100
    #: Widths of G's hidden layers, from z upwards (e.g. ``--model-opt g_hidden=256,512``).
    g_hidden: tuple[int, ...] = (256, 512, 1024)
    #: Widths of D's hidden layers, from the pixels downwards.
    d_hidden: tuple[int, ...] = (512, 256)
    #: BatchNorm in the generator's hidden layers.
    g_batchnorm: bool = True
    #: Spectral normalisation on every discriminator layer.
    spectral_norm: bool = False

    def validate(self) -> None:
        if self.latent_dim < 1:
            raise GentoolError("latent_dim must be >= 1.")
        for name in ("g_hidden", "d_hidden"):
            widths = getattr(self, name)
            if not widths or min(widths) < 1:
                raise GentoolError(f"{name} needs at least one width >= 1, e.g. {name}=256,512.")


class MlpGenerator(nn.Module):
    def __init__(self, config: MlpGanConfig) -> None:
        super().__init__()
        self.shape = (config.channels, config.image_size, config.image_size)
        layers: list[nn.Module] = []
        width = config.latent_dim
        for hidden in config.g_hidden:
            layers.append(nn.Linear(width, hidden))
            if config.g_batchnorm:
                layers.append(nn.BatchNorm1d(hidden))
            layers.append(nn.LeakyReLU(0.2, True))
            width = hidden
        layers += [nn.Linear(width, config.channels * config.image_size**2), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.flatten(1)).view(z.shape[0], *self.shape)  # (B, C, H, W)


class MlpDiscriminator(nn.Module):
    def __init__(self, config: MlpGanConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = config.channels * config.image_size**2
        for hidden in config.d_hidden:
            layers += [
                maybe_spectral(nn.Linear(width, hidden), config.spectral_norm),
                nn.LeakyReLU(0.2, True),
            ]
            width = hidden
        layers.append(maybe_spectral(nn.Linear(width, 1), config.spectral_norm))
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images.flatten(1)).squeeze(1)  # (B,)


class MlpGan(GanModel):
    PLUGIN_NAME: ClassVar[str] = "mlp-gan"
    DESCRIPTION: ClassVar[str] = "fully connected GAN (Goodfellow et al. 2014), any size"
    Config: ClassVar[type] = MlpGanConfig

    def __init__(self, config: MlpGanConfig) -> None:
        super().__init__(config)
        self.generator = MlpGenerator(config)
        self.discriminator = MlpDiscriminator(config)

    @classmethod
    def configure(cls, options: dict[str, Any], data: Any = None, loss: Any = None) -> Any:
        return super().configure(options, data)
