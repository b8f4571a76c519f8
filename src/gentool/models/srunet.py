"""A U-Net super-resolution generator with a PatchGAN discriminator (family ``image2image``).

The generator follows the pix2pix U-Net (Isola et al., 2017, "Image-to-Image Translation with
Conditional Adversarial Networks") applied to super-resolution as in SRGAN-style training
(Ledig et al., 2017): the low-resolution image is first upsampled bilinearly to the target
size, then

* an encoder of stride-2 4x4 convolutions (BatchNorm except on the first, LeakyReLU 0.2)
  halves the resolution ``depth`` times, ``width`` channels doubling up to ``max_width``;
* a decoder of stride-2 4x4 transposed convolutions (BatchNorm, ReLU) climbs back, with a
  skip connection (channel concatenation) from the encoder at every resolution;
* the upsampled input is concatenated once more before the last layer, a 3x3 convolution.

With ``residual=True`` (the default) the last layer predicts a correction that is added to
the bilinear input and the sum is clamped to [-1, 1]: ``y = clamp(up(x) + f(up(x)), -1, 1)``.
Its weights start at zero, so an untrained model is exactly bilinear upsampling. With
``residual=False`` the output is ``tanh(f(up(x)))`` as in pix2pix.

Sizes that are not multiples of ``2**depth`` are padded reflectively and cropped back, so the
network takes any image size (tiny ones are padded by replication).

The discriminator is a PatchGAN (pix2pix): stride-2 4x4 convolutions then two stride-1
layers, one real/fake score per overlapping patch. It is conditional: it sees the bilinear
input concatenated with the real or generated image.

At 4x with the defaults (``width=16``, ``depth=4``, ``max_width=128``) the generator has
0.40 M parameters and costs ~7 k multiply-adds per output pixel: light enough to train and
run on a CPU.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from gentool.errors import GentoolError
from gentool.models.base import ModelConfig, ModelPlugin
from gentool.models.layers import NORMS, dcgan_init, norm_layer, patchgan_layers


@dataclass
class SrUnetConfig(ModelConfig):
    #: Resolution of the training images (filled from the data; the network takes any size).
    image_size: int = 64
    channels: int = 3
    #: Upscaling factor.
    scale: int = 4
    #: Channels of the first encoder level, doubled at each lower resolution.
    width: int = 16
    #: Cap on the channel count of the deepest levels.
    max_width: int = 128
    #: Number of stride-2 levels (the image is padded to a multiple of 2**depth).
    depth: int = 4
    #: Predict a correction of the bilinear input (clamped) instead of a tanh image.
    residual: bool = True
    #: Channels of the PatchGAN's first layer.
    d_width: int = 64
    #: Stride-2 layers of the PatchGAN.
    d_layers: int = 2
    #: Normalisation of the PatchGAN: ``auto`` (batch, or layer where the loss forbids
    #: BatchNorm, e.g. wgan-gp or R1-style penalties), or batch, instance, layer, none.
    d_norm: str = "auto"
    #: Build the discriminator (False in exported inference-only weights).
    with_discriminator: bool = True

    def validate(self) -> None:
        if not 2 <= self.scale <= 8:
            raise GentoolError(f"scale must be between 2 and 8, not {self.scale}.")
        if self.channels not in (1, 3):
            raise GentoolError(f"channels must be 1 or 3, not {self.channels}.")
        if not 1 <= self.depth <= 6:
            raise GentoolError(f"depth must be between 1 and 6, not {self.depth}.")
        if self.width < 1 or self.max_width < self.width:
            raise GentoolError("width must be >= 1 and max_width >= width.")
        if self.d_width < 1 or not 1 <= self.d_layers <= 5:
            raise GentoolError("d_width must be >= 1 and d_layers between 1 and 5.")
        if self.d_norm not in (*NORMS, "auto"):
            raise GentoolError(
                f"d_norm must be auto or one of {', '.join(NORMS)}, not '{self.d_norm}'."
            )


def pad_to_multiple(images: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    """Pad ``(B, C, H, W)`` on the bottom/right to multiples of ``multiple``.

    Reflection where the image is large enough, replication otherwise. Returns the padded
    batch and the original height and width.
    """
    height, width = images.shape[-2:]
    pad_h = (-height) % multiple
    pad_w = (-width) % multiple
    if pad_h == 0 and pad_w == 0:
        return images, height, width
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(images, (0, pad_w, 0, pad_h), mode=mode), height, width


class UnetGenerator(nn.Module):
    """Encoder-decoder with skips at every resolution; input and output ``(B, C, H, W)``.

    ``norm`` names the normalisation of the inner levels (:func:`~gentool.models.layers.norm_layer`):
    BatchNorm for super-resolution, instance norm in CycleGAN.
    """

    def __init__(self, config: SrUnetConfig, norm: str = "batch") -> None:
        super().__init__()
        c = config.channels
        widths = [min(config.width * 2**i, config.max_width) for i in range(config.depth)]
        self.residual = config.residual
        self.multiple = 2**config.depth
        self.down = nn.ModuleList()
        previous = c
        for i, w in enumerate(widths):
            layers: list[nn.Module] = [nn.Conv2d(previous, w, 4, 2, 1, bias=i == 0)]
            if i > 0:
                layers.append(norm_layer(norm, w))
            layers.append(nn.LeakyReLU(0.2, True))
            self.down.append(nn.Sequential(*layers))
            previous = w
        # Decoder level i maps to the resolution of encoder level i-1 (level 0: full size).
        self.up = nn.ModuleList()
        for i in reversed(range(config.depth)):
            in_ch = widths[i] * (1 if i == config.depth - 1 else 2)
            out_ch = widths[i - 1] if i > 0 else widths[0]
            self.up.append(
                nn.Sequential(
                    nn.ConvTranspose2d(in_ch, out_ch, 4, 2, 1, bias=False),
                    norm_layer(norm, out_ch),
                    nn.ReLU(True),
                )
            )
        self.head = nn.Conv2d(widths[0] + c, c, 3, 1, 1)

    def forward(self, upsampled: torch.Tensor) -> torch.Tensor:
        x, height, width = pad_to_multiple(upsampled, self.multiple)
        skips = []
        h = x
        for layer in self.down:
            h = layer(h)
            skips.append(h)
        skips.pop()  # the deepest level feeds the decoder directly
        for layer in self.up:
            h = layer(h)
            h = torch.cat([h, skips.pop()], 1) if skips else h
        out = self.head(torch.cat([h, x], 1))  # (B, C, H, W)
        out = (x + out).clamp(-1.0, 1.0) if self.residual else torch.tanh(out)
        return out[..., :height, :width]


class PatchDiscriminator(nn.Module):
    """PatchGAN: one score per overlapping patch, ``(B, 1, h, w)``; sees input and image."""

    def __init__(self, channels: int, width: int, layers: int, norm: str = "batch") -> None:
        super().__init__()
        self.net = nn.Sequential(*patchgan_layers(2 * channels, width, layers, norm))

    def forward(self, condition: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([condition, images], 1))


class Image2ImageModel(ModelPlugin):
    """What the image2image loop and ``gentool upscale`` use: a generator from an upsampled
    low-resolution image, a conditional discriminator, and the degradation that makes pairs."""

    FAMILY: ClassVar[str] = "image2image"
    #: GAN loss used when ``gentool train`` gets no ``--loss``.
    DEFAULT_LOSS: ClassVar[str] = "ls"
    generator: nn.Module
    discriminator: nn.Module | None

    #: Model options that shape only the conditional PatchGAN.
    DISCRIMINATOR_OPTIONS: ClassVar[tuple[str, ...]] = ("d_width", "d_layers", "d_norm")

    @classmethod
    def configure(cls, options: dict[str, Any], data: Any = None, loss: Any = None) -> Any:
        """The config, with ``d_norm=auto`` resolved for ``loss``: BatchNorm unless the loss
        forbids it (e.g. WGAN-GP's per-sample gradient penalty), then layer norm. PatchGAN
        options for a model built without one (``with_discriminator=false``) are refused
        when they differ from what the model would have anyway (a ``run.toml`` lists every
        field, so the defaults must still pass)."""
        config = super().configure(options, data)
        if not hasattr(config, "d_norm"):  # an image2image model without a PatchGAN
            return config
        allows_batchnorm = getattr(loss, "ALLOWS_BATCHNORM", True)
        auto_norm = "batch" if allows_batchnorm else "layer"
        if not getattr(config, "with_discriminator", True):
            defaults = {f.name: f.default for f in dataclasses.fields(config)}
            for key in cls.DISCRIMINATOR_OPTIONS:
                harmless = {defaults.get(key)} | ({auto_norm} if key == "d_norm" else set())
                if key in options and getattr(config, key, None) not in harmless:
                    raise GentoolError(
                        f"--model-opt {key}={getattr(config, key)} shapes the PatchGAN, which "
                        f"'{cls.PLUGIN_NAME}' builds only with --model-opt "
                        "with_discriminator=true (for --train-opt adv_weight>0); add that or "
                        "drop it."
                    )
        if config.d_norm == "auto":
            config.d_norm = auto_norm
        elif config.d_norm == "batch" and not allows_batchnorm and config.with_discriminator:
            raise GentoolError(
                "this loss penalises per-sample gradients and cannot train a BatchNorm "
                "PatchGAN; use --model-opt d_norm=layer (or instance, none)."
            )
        return config

    @property
    def scale(self) -> int:
        return int(self.config.scale)

    def upsample_input(self, low: torch.Tensor) -> torch.Tensor:
        """Bilinear upsampling by ``scale``: the generator's input and the D condition."""
        return F.interpolate(low, scale_factor=self.scale, mode="bilinear", align_corners=False)

    def main_pass(self, images: torch.Tensor) -> bool:
        scale = int(getattr(self.config, "scale", 1)) or 1
        low = max(images.shape[-1] // scale, 1)
        self.upscale(images[:, :, :low, :low])
        return True

    def upscale(self, low: torch.Tensor) -> torch.Tensor:
        """``(B, C, h, w)`` in [-1, 1] -> ``(B, C, h*scale, w*scale)`` in [-1, 1]."""
        return self.generator(self.upsample_input(low))

    def discriminate(
        self,
        upsampled: torch.Tensor,
        images: torch.Tensor,
        *,
        discriminator: nn.Module | None = None,
    ) -> torch.Tensor:
        """Raw PatchGAN scores ``(B, 1, h, w)`` of ``images`` given the upsampled input.

        ``discriminator``: a training loop's handle on the network (e.g. DDP-wrapped), used
        instead of ``self.discriminator``.
        """
        network = self.discriminator if discriminator is None else discriminator
        if network is None:
            raise GentoolError(
                f"this '{self.PLUGIN_NAME}' model was exported without its discriminator."
            )
        return network(upsampled, images)

    def generator_parameters(self) -> list[nn.Parameter]:
        return list(self.generator.parameters())

    def discriminator_parameters(self) -> list[nn.Parameter]:
        return [] if self.discriminator is None else list(self.discriminator.parameters())


class SrUnet(Image2ImageModel):
    PLUGIN_NAME: ClassVar[str] = "sr-unet"
    DESCRIPTION: ClassVar[str] = (
        "super-resolution U-Net (skips at every scale) + conditional PatchGAN, any image size"
    )
    Config: ClassVar[type] = SrUnetConfig

    def __init__(self, config: SrUnetConfig) -> None:
        super().__init__(config)
        self.generator = UnetGenerator(config)
        self.discriminator = (
            PatchDiscriminator(
                config.channels,
                config.d_width,
                config.d_layers,
                "batch" if config.d_norm == "auto" else config.d_norm,
            )
            if config.with_discriminator
            else None
        )
        self.apply(dcgan_init)
        if config.residual:  # start as plain bilinear upsampling
            head = self.generator.head
            nn.init.zeros_(head.weight)
            if head.bias is not None:
                nn.init.zeros_(head.bias)
