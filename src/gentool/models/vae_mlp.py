"""The fully connected VAE of Kingma & Welling (2014), "Auto-Encoding Variational Bayes".

The image is flattened and passed through one hidden layer to the mean and log-variance;
the decoder mirrors it and ends in a sigmoid. The defaults are the MNIST setting popularised
by the PyTorch example: 784-400-(20, 20)-400-784 on 28x28 grey images with a Bernoulli
likelihood. Any size and channel count works (``--image-size``, ``--channels``), and the
objective options are those of :class:`gentool.models.vae.VaeConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from gentool.errors import GentoolError
from gentool.models.vae import VaeConfig, VaeModel


@dataclass
class MlpVaeConfig(VaeConfig):
    image_size: int = 28
    channels: int = 1
    latent_dim: int = 20
    #: Units of the hidden layer of encoder and decoder.
    hidden: int = 400

    def validate(self) -> None:
        super().validate()
        if self.hidden < 1:
            raise GentoolError("hidden must be >= 1.")
        if self.image_size < 1:
            raise GentoolError("image_size must be >= 1.")


class MlpDecoder(nn.Module):
    def __init__(self, latent_dim: int, hidden: int, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.shape = shape
        dims = shape[0] * shape[1] * shape[2]
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(True), nn.Linear(hidden, dims)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.shape)  # logits (B, C, H, W)


class MlpVae(VaeModel):
    PLUGIN_NAME: ClassVar[str] = "vae-mlp"
    DESCRIPTION: ClassVar[str] = (
        "fully connected VAE (Kingma & Welling 2014), 784-400-20-400-784 on 28x28 by default"
    )
    Config: ClassVar[type] = MlpVaeConfig

    def __init__(self, config: MlpVaeConfig) -> None:
        super().__init__(config)
        self.encoder = nn.Sequential(
            nn.Flatten(),  # (B, C * H * W)
            nn.Linear(self.dims, config.hidden),
            nn.ReLU(True),
            nn.Linear(config.hidden, 2 * config.latent_dim),  # mean and log-variance
        )
        shape = (config.channels, config.image_size, config.image_size)
        self.decoder = MlpDecoder(config.latent_dim, config.hidden, shape)
