"""A residual super-resolution network that computes at the input resolution (``sr-resnet``).

Family ``image2image``, in the style of EDSR-baseline (Lim et al., 2017, "Enhanced Deep
Residual Networks for Single Image Super-Resolution") with the sub-pixel output of ESPCN
(Shi et al., 2016):

* a 3x3 **head** convolution maps the low-resolution image to ``width`` feature channels;
* ``blocks`` **residual blocks** (conv 3x3, ReLU, conv 3x3, the branch multiplied by
  ``res_scale``, no BatchNorm) and one more 3x3 convolution run at the **input resolution**,
  with a skip from the head's features over the whole body;
* the **tail** enlarges once, at the end: ``upsampler=shuffle`` (the default, ESPCN) is one
  3x3 convolution to ``channels * scale**2`` maps rearranged by ``PixelShuffle(scale)``;
  ``upsampler=progressive`` (EDSR) climbs by ``PixelShuffle(2)`` stages of ``width``
  features (``PixelShuffle(3)`` for 3x) and ends with a 3x3 convolution at the output size;
* a **global skip**: the tail predicts a correction of the bicubic (``skip=bicubic``, the
  default), bilinear (``skip=bilinear``) enlargement, or the whole image (``skip=none``).
  The output is clamped to [-1, 1]. The tail's last convolution starts at zero, so an
  untrained ``sr-resnet`` with a skip is exactly bicubic (or bilinear) upsampling.

Every convolution but the shuffle tail's last runs on ``h x w`` pixels, not ``h*s x w*s``: at
4x that is 16 times fewer pixels than ``sr-unet``, which works on a bilinearly enlarged input.
Cost per input pixel is about ``9 * width**2 * (2 * blocks + 1)`` multiply-adds (plus head and
tail); parameters are about the same number.

How it fits the ``image2image`` contract (:class:`~gentool.models.srunet.Image2ImageModel`):
``generator`` takes what :meth:`upsample_input` returns, which for this model is the
low-resolution image itself (the network enlarges it); ``upscale(low)`` is
``generator(low)``. The optional conditional PatchGAN (``with_discriminator=true``, off by
default, for ``--train-opt adv_weight>0``) sees the bicubic enlargement of that input next
to the real or generated image, as ``sr-unet``'s does.

Sizes (4x, ``upsampler=shuffle``): ``width=32, blocks=6`` 0.13 M parameters; ``width=48,
blocks=8`` 0.38 M; ``width=64, blocks=16`` (EDSR-baseline's body) 1.25 M, 1.52 M with
``upsampler=progressive`` (EDSR-baseline's tail).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from gentool.errors import GentoolError
from gentool.models.base import ModelConfig
from gentool.models.layers import dcgan_init
from gentool.models.srunet import Image2ImageModel, PatchDiscriminator

SKIPS = ("bicubic", "bilinear", "none")
UPSAMPLERS = ("shuffle", "progressive")


@dataclass
class SrResnetConfig(ModelConfig):
    #: Resolution of the training images (filled from the data; the network takes any size).
    image_size: int = 64
    channels: int = 3
    #: Upscaling factor: 2, 3, 4 or 8.
    scale: int = 4
    #: Feature channels of the head, the residual blocks and the progressive tail.
    width: int = 48
    #: Residual blocks at the input resolution.
    blocks: int = 8
    #: Factor on each block's residual branch (EDSR uses 0.1 for its wide models).
    res_scale: float = 1.0
    #: ``shuffle``: one convolution and PixelShuffle(scale); ``progressive``: EDSR's tail.
    upsampler: str = "shuffle"
    #: Global skip: the tail corrects a ``bicubic`` or ``bilinear`` enlargement, or ``none``.
    skip: str = "bicubic"
    #: Channels of the PatchGAN's first layer.
    d_width: int = 64
    #: Stride-2 layers of the PatchGAN.
    d_layers: int = 2
    #: Build the conditional PatchGAN (only for ``--train-opt adv_weight>0``).
    with_discriminator: bool = False
    #: Normalisation of the PatchGAN: ``auto`` (batch, or layer where the loss forbids
    #: BatchNorm, e.g. wgan-gp), or batch, instance, layer, none.
    d_norm: str = "auto"

    def validate(self) -> None:
        if self.scale not in (2, 3, 4, 8):
            raise GentoolError(f"sr-resnet scales by 2, 3, 4 or 8, not {self.scale}.")
        if self.channels not in (1, 3):
            raise GentoolError(f"channels must be 1 or 3, not {self.channels}.")
        if not 1 <= self.width <= 512:
            raise GentoolError(f"width must be between 1 and 512, not {self.width}.")
        if not 0 <= self.blocks <= 64:
            raise GentoolError(f"blocks must be between 0 and 64, not {self.blocks}.")
        if not 0 < self.res_scale <= 1:
            raise GentoolError(f"res_scale must be in (0, 1], not {self.res_scale}.")
        if self.upsampler not in UPSAMPLERS:
            raise GentoolError(
                f"upsampler must be {' or '.join(UPSAMPLERS)}, not '{self.upsampler}'."
            )
        if self.skip not in SKIPS:
            raise GentoolError(f"skip must be one of {', '.join(SKIPS)}, not '{self.skip}'.")
        if self.d_width < 1 or not 1 <= self.d_layers <= 5:
            raise GentoolError("d_width must be >= 1 and d_layers between 1 and 5.")


def _conv(in_ch: int, out_ch: int) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, 1, 1)


class ResidualBlock(nn.Module):
    """``x + res_scale * conv(relu(conv(x)))``, no normalisation."""

    def __init__(self, width: int, res_scale: float) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(width, width), nn.ReLU(True), _conv(width, width))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.body(x)
        return x + branch * self.res_scale if self.res_scale != 1 else x + branch


def _tail(config: SrResnetConfig) -> tuple[nn.Sequential, nn.Conv2d]:
    """The enlarging layers and, separately, their last convolution (zero-initialised)."""
    c, w, s = config.channels, config.width, config.scale
    if config.upsampler == "shuffle":
        last = _conv(w, c * s * s)
        return nn.Sequential(last, nn.PixelShuffle(s)), last
    layers: list[nn.Module] = []
    stages = [3] if s == 3 else [2] * {2: 1, 4: 2, 8: 3}[s]
    for factor in stages:
        layers += [_conv(w, w * factor * factor), nn.PixelShuffle(factor)]
    last = _conv(w, c)
    layers.append(last)
    return nn.Sequential(*layers), last


class SrResnetGenerator(nn.Module):
    """Low resolution ``(B, C, h, w)`` -> ``(B, C, h*scale, w*scale)``, both in [-1, 1]."""

    def __init__(self, config: SrResnetConfig) -> None:
        super().__init__()
        self.scale = config.scale
        self.skip = config.skip
        self.head = _conv(config.channels, config.width)
        self.body = nn.Sequential(
            *[ResidualBlock(config.width, config.res_scale) for _ in range(config.blocks)],
            _conv(config.width, config.width),
        )
        self.tail, self.last = _tail(config)

    def enlarge(self, low: torch.Tensor) -> torch.Tensor:
        """The global skip: plain interpolation by ``scale`` (as the evaluation baseline)."""
        mode = "bilinear" if self.skip == "bilinear" else "bicubic"
        return F.interpolate(low, scale_factor=self.scale, mode=mode, align_corners=False)

    def forward(self, low: torch.Tensor) -> torch.Tensor:
        features = self.head(low)
        out = self.tail(features + self.body(features))
        if self.skip == "none":
            return out.clamp(-1.0, 1.0)
        return (self.enlarge(low) + out).clamp(-1.0, 1.0)


class SrResnet(Image2ImageModel):
    PLUGIN_NAME: ClassVar[str] = "sr-resnet"
    DESCRIPTION: ClassVar[str] = (
        "super-resolution residual network at the input resolution + pixel shuffle "
        "(EDSR-baseline style), optional PatchGAN"
    )
    Config: ClassVar[type] = SrResnetConfig
    TEST_OPTIONS: ClassVar[dict[str, Any]] = {"width": 4, "blocks": 1, "d_width": 4}
    #: ``--train-opt`` defaults of this model (the user's options win): pixel loss only, and
    #: random crops of the photos at their own resolution (``training/sr_data.py``).
    DEFAULT_TRAIN_OPTIONS: ClassVar[dict[str, str]] = {"adv_weight": "0", "full_res": "true"}
    generator: SrResnetGenerator

    def __init__(self, config: SrResnetConfig) -> None:
        super().__init__(config)
        self.generator = SrResnetGenerator(config)
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
        if self.discriminator is not None:
            self.discriminator.apply(dcgan_init)
        if config.skip != "none":  # start as plain bicubic (bilinear) upsampling
            nn.init.zeros_(self.generator.last.weight)
            if self.generator.last.bias is not None:
                nn.init.zeros_(self.generator.last.bias)

    def upsample_input(self, low: torch.Tensor) -> torch.Tensor:
        """The generator's input: here the low-resolution image itself (it enlarges at the end)."""
        return low

    def upscale(self, low: torch.Tensor) -> torch.Tensor:
        """``(B, C, h, w)`` in [-1, 1] -> ``(B, C, h*scale, w*scale)`` in [-1, 1]."""
        return self.generator(low)

    def discriminate(
        self,
        upsampled: torch.Tensor,
        images: torch.Tensor,
        *,
        discriminator: nn.Module | None = None,
    ) -> torch.Tensor:
        """PatchGAN scores of ``images`` given the generator input (enlarged to their size).

        ``discriminator``: a training loop's handle on the network (e.g. DDP-wrapped).
        """
        network = self.discriminator if discriminator is None else discriminator
        if network is None:
            raise GentoolError(
                "this sr-resnet has no discriminator: adversarial training needs "
                "--model-opt with_discriminator=true (exported weights never have one)."
            )
        condition = upsampled
        if condition.shape[-2:] != images.shape[-2:]:
            condition = F.interpolate(
                condition, size=images.shape[-2:], mode="bicubic", align_corners=False
            )
        return network(condition, images)


def deepen(model: SrResnet, blocks: int) -> SrResnet:
    """A copy of ``model`` with ``blocks`` residual blocks that computes the same function.

    The trained blocks keep their order and weights, the added ones follow them, and each
    added block's last convolution starts at zero, so its branch adds nothing until training
    moves it (as the tail's last convolution starts at zero over the bicubic skip). Head, the
    body's closing convolution and tail are copied. The discriminator, if any, is not kept.
    Used to start a deeper model from a trained one (``gentool train --init-from``).
    """
    old = int(model.config_dict()["blocks"])
    if blocks <= old:
        raise GentoolError(f"deepen: blocks must exceed the model's {old}, not {blocks}.")
    config = SrResnetConfig(
        **{**model.config_dict(), "blocks": blocks, "with_discriminator": False}
    )
    deeper = SrResnet(config)
    source, target = model.generator, deeper.generator
    target.head.load_state_dict(source.head.state_dict())
    target.tail.load_state_dict(source.tail.state_dict())
    for index in range(old):
        target.body[index].load_state_dict(source.body[index].state_dict())
    target.body[blocks].load_state_dict(source.body[old].state_dict())  # the closing conv
    for index in range(old, blocks):
        block = target.body[index]
        assert isinstance(block, ResidualBlock)
        last = block.body[2]
        assert isinstance(last, nn.Conv2d)
        nn.init.zeros_(last.weight)
        if last.bias is not None:
            nn.init.zeros_(last.bias)
    return deeper
