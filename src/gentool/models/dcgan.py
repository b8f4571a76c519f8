"""DCGAN (Radford, Metz & Chintala, 2016, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks").

Generator: project z to a 4x4 map with a 4x4 transposed conv, then stride-2 transposed convs
that halve the width and double the resolution (BatchNorm + ReLU), then a transposed conv to
the image channels and tanh. At 64x64 with ``width=128`` this is the paper's table:
100 -> 1024 (4x4) -> 512 (8x8) -> 256 (16x16) -> 128 (32x32) -> 3 (64x64).

Discriminator: the mirror image with stride-2 convs and LeakyReLU(0.2), no norm on the first
layer, and a final 4x4 conv to one score. Its normalisation is chosen by ``d_norm`` (BatchNorm
by default; layer norm for WGAN-GP critics, as in Gulrajani et al.) and it can use spectral normalisation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import nn

from gentool.errors import GentoolError
from gentool.models.base import ModelConfig
from gentool.models.gan import GanModel
from gentool.models.layers import NORMS, dcgan_init, maybe_spectral, norm_layer


@dataclass
class DcganConfig(ModelConfig):
    image_size: int = 64
    channels: int = 3
    #: Length of the noise vector z.
    latent_dim: int = 100
    #: Channels of G's last hidden layer, doubled at each lower resolution. 0 = auto: 128 at
    #: 64x64 (the paper's 1024-512-256-128 table), 64 above, 32 below (digits need far less).
    g_width: int = 0
    #: Channels of D's first layer, doubled at each lower resolution (0 = auto, as g_width).
    d_width: int = 0
    #: Discriminator normalisation: batch, instance, layer, none, or auto (batch; none with
    #: spectral norm; layer with a loss that forbids BatchNorm, such as WGAN-GP).
    d_norm: str = "auto"
    #: Spectral normalisation on every discriminator layer.
    spectral_norm: bool = False
    #: Generator normalisation: batch (the paper), instance, layer or none.
    g_norm: str = "batch"

    def validate(self) -> None:
        if self.image_size < 8 or self.image_size & (self.image_size - 1):
            raise GentoolError(
                f"dcgan needs a power-of-two image size >= 8 (e.g. 32, 64, 128), not "
                f"{self.image_size}; pass --image-size."
            )
        if self.d_norm not in (*NORMS, "auto"):
            raise GentoolError(f"d_norm must be one of {', '.join(NORMS)} or auto.")
        if self.g_norm not in NORMS:
            raise GentoolError(f"g_norm must be one of {', '.join(NORMS)}.")
        if self.latent_dim < 1:
            raise GentoolError("latent_dim must be >= 1.")
        for name in ("g_width", "d_width"):
            if getattr(self, name) < 0:
                raise GentoolError(f"{name} must be >= 1 (or 0 for auto).")
            if getattr(self, name) == 0:
                setattr(self, name, auto_width(self.image_size))


def auto_width(image_size: int) -> int:
    """Default width for a resolution: the paper's table at 64, lighter elsewhere."""
    if image_size == 64:
        return 128
    return 64 if image_size > 64 else 32


def resolve_d_norm(config: Any, loss_allows_batchnorm: bool) -> None:
    """Turn ``d_norm='auto'`` into a concrete choice, given the loss."""
    if config.d_norm == "auto":
        # Spectral norm already bounds D: no normalisation. A per-sample penalty (WGAN-GP)
        # forbids BatchNorm: layer norm, as Gulrajani et al. (2017) use (measured on anime
        # faces, 64 px, width 16, 100 G steps: penalty 6-20 with it vs 43-46 without).
        if config.spectral_norm:
            config.d_norm = "none"
        else:
            config.d_norm = "batch" if loss_allows_batchnorm else "layer"
    elif config.d_norm == "batch" and not loss_allows_batchnorm:
        raise GentoolError(
            "this loss penalises per-sample gradients and cannot train a BatchNorm critic; "
            "use --model-opt d_norm=layer (or none)."
        )


class DcganGenerator(nn.Module):
    def __init__(
        self, latent_dim: int, channels: int, image_size: int, width: int, norm: str = "batch"
    ) -> None:
        super().__init__()
        n_up = int(math.log2(image_size)) - 2  # 4x4 -> image_size in stride-2 steps
        top = width * 2 ** (n_up - 1)
        bias = norm == "none"
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, top, 4, 1, 0, bias=bias),  # (B, top, 4, 4)
            norm_layer(norm, top),
            nn.ReLU(True),
        ]
        c = top
        for _ in range(n_up - 1):
            layers += [
                nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=bias),
                norm_layer(norm, c // 2),
                nn.ReLU(True),
            ]
            c //= 2
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Any) -> Any:
        return self.net(z.view(z.shape[0], -1, 1, 1))  # (B, C, H, W)


class DcganDiscriminator(nn.Module):
    def __init__(
        self,
        channels: int,
        image_size: int,
        width: int,
        norm: str,
        spectral: bool,
        outputs: int = 1,
    ) -> None:
        super().__init__()
        n_down = int(math.log2(image_size)) - 2
        layers: list[nn.Module] = [
            maybe_spectral(nn.Conv2d(channels, width, 4, 2, 1), spectral),
            nn.LeakyReLU(0.2, True),
        ]
        c = width
        for _ in range(n_down - 1):
            layers += [
                maybe_spectral(nn.Conv2d(c, c * 2, 4, 2, 1, bias=norm == "none"), spectral),
                norm_layer(norm, c * 2),
                nn.LeakyReLU(0.2, True),
            ]
            c *= 2
        self.features = nn.Sequential(*layers)  # (B, c, 4, 4)
        self.feature_channels = c
        self.head = maybe_spectral(nn.Conv2d(c, outputs, 4, 1, 0), spectral)  # (B, outputs, 1, 1)

    def forward(self, images: Any) -> Any:
        return self.head(self.features(images)).flatten(1).squeeze(1)


class Dcgan(GanModel):
    PLUGIN_NAME: ClassVar[str] = "dcgan"
    DESCRIPTION: ClassVar[str] = (
        "deep convolutional GAN (Radford et al. 2016), any power-of-two size"
    )
    Config: ClassVar[type] = DcganConfig
    TEST_OPTIONS: ClassVar[dict[str, Any]] = {"g_width": 4, "d_width": 4, "latent_dim": 8}

    def __init__(self, config: DcganConfig) -> None:
        super().__init__(config)
        norm = config.d_norm if config.d_norm != "auto" else "batch"
        self.generator = DcganGenerator(
            config.latent_dim, config.channels, config.image_size, config.g_width, config.g_norm
        )
        self.discriminator = DcganDiscriminator(
            config.channels, config.image_size, config.d_width, norm, config.spectral_norm
        )
        self.apply(dcgan_init)

    @classmethod
    def configure(cls, options: dict[str, Any], data: Any = None, loss: Any = None) -> Any:
        config = super().configure(options, data)
        resolve_d_norm(config, getattr(loss, "ALLOWS_BATCHNORM", True))
        return config
