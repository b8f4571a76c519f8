"""CycleGAN: unpaired translation between two image domains (family ``translation``).

Zhu, Park, Isola & Efros, 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks". Two generators, ``G_AB: A -> B`` and ``G_BA: B -> A``, and two
PatchGAN discriminators, ``D_A`` (real A vs ``G_BA(b)``) and ``D_B`` (real B vs ``G_AB(a)``),
trained with::

    L = L_GAN(G_AB, D_B) + L_GAN(G_BA, D_A)
        + lambda_cycle * (|G_BA(G_AB(a)) - a|_1 + |G_AB(G_BA(b)) - b|_1)
        + lambda_cycle * lambda_identity * (|G_AB(b) - b|_1 + |G_BA(a) - a|_1)

with ``L_GAN`` from any GAN loss plugin (least squares by default, as in the paper); see
:mod:`gentool.losses.cycle` and :mod:`gentool.training.cyclegan`.

Generators (``generator=``):

* ``resnet`` (the paper's, after Johnson et al. 2016): ``c7s1-w, d2w, d4w, R4w x n_res_blocks,
  u2w, uw, c7s1-C`` with reflection padding, ``norm`` after every convolution but the last,
  ReLU, and a tanh output. ``width=64``, 6 blocks at 128 px and 9 at 256 px in the paper.
* ``unet``: the pix2pix U-Net of :mod:`gentool.models.srunet` (``unet_depth`` stride-2
  levels, skips at every resolution, tanh output) with ``norm`` in its inner levels.

Both are fully convolutional: sizes that are not multiples of what they need (4, or
``2**unet_depth``) are padded reflectively and cropped back.

Discriminators: the 70x70 PatchGAN (``d_layers=3``) of :func:`gentool.models.layers.patchgan_layers`.
Instance normalisation everywhere by default, as in the paper. Weights start from
N(0, 0.02). The pool of past fakes (``pool_size``, Shrivastava et al. 2017) lives in the
training loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from gentool.errors import GentoolError
from gentool.models.base import ModelConfig, ModelPlugin
from gentool.models.layers import NORMS, dcgan_init, norm_layer, patchgan_layers
from gentool.models.srunet import SrUnetConfig, UnetGenerator, pad_to_multiple

GENERATORS = ("resnet", "unet")
DIRECTIONS = ("a2b", "b2a")


@dataclass
class CycleGanConfig(ModelConfig):
    #: Training resolution (filled from the data; the generators take any size).
    image_size: int = 64
    channels: int = 3
    #: ``resnet`` (the paper's) or ``unet`` (pix2pix's).
    generator: str = "resnet"
    #: Channels of the generators' first layer.
    width: int = 64
    #: Residual blocks of the ResNet generator (6 at 128 px, 9 at 256 px in the paper).
    n_res_blocks: int = 6
    #: Stride-2 levels of the U-Net generator.
    unet_depth: int = 4
    #: Channels of the discriminators' first layer.
    d_width: int = 64
    #: Stride-2 layers of the PatchGANs (3: 70x70 patches).
    d_layers: int = 3
    #: Normalisation of generators and discriminators: instance, batch, layer or none.
    norm: str = "instance"
    #: Normalisation of the discriminators: ``auto`` (the same as ``norm``, but ``layer`` where
    #: the loss forbids BatchNorm, e.g. wgan-gp), or instance, batch, layer, none.
    d_norm: str = "auto"
    #: Weight of the cycle-consistency L1 loss.
    lambda_cycle: float = 10.0
    #: Weight of the identity loss, relative to lambda_cycle (0: off).
    lambda_identity: float = 0.5
    #: Past generated images kept for each discriminator (0: D sees only the newest).
    pool_size: int = 50

    def validate(self) -> None:
        if self.generator not in GENERATORS:
            raise GentoolError(
                f"generator must be {' or '.join(GENERATORS)}, not '{self.generator}'."
            )
        if self.norm not in NORMS:
            raise GentoolError(f"norm must be one of {', '.join(NORMS)}, not '{self.norm}'.")
        if self.d_norm not in (*NORMS, "auto"):
            raise GentoolError(
                f"d_norm must be auto or one of {', '.join(NORMS)}, not '{self.d_norm}'."
            )
        if self.channels not in (1, 3):
            raise GentoolError(f"channels must be 1 or 3, not {self.channels}.")
        if self.width < 1 or self.d_width < 1 or self.n_res_blocks < 0:
            raise GentoolError("width and d_width must be >= 1 and n_res_blocks >= 0.")
        if not 1 <= self.unet_depth <= 8 or not 1 <= self.d_layers <= 5:
            raise GentoolError("unet_depth must be in 1..8 and d_layers in 1..5.")
        if self.lambda_cycle < 0 or self.lambda_identity < 0 or self.pool_size < 0:
            raise GentoolError("lambda_cycle, lambda_identity and pool_size must be >= 0.")
        if self.image_size < 4 * 2**self.d_layers:
            raise GentoolError(
                f"d_layers={self.d_layers} needs images of at least {4 * 2**self.d_layers} px, "
                f"not {self.image_size}; lower d_layers or raise --image-size."
            )
        if self.generator == "unet" and self.image_size < 2 ** (self.unet_depth + 1):
            raise GentoolError(
                f"unet_depth={self.unet_depth} needs images of at least "
                f"{2 ** (self.unet_depth + 1)} px, not {self.image_size}; lower unet_depth."
            )


class ResnetBlock(nn.Module):
    """``x + conv3(relu(norm(conv3(x))))`` with reflection padding; ``(B, C, H, W)`` both ways."""

    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            norm_layer(norm, channels),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=False),
            norm_layer(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """The CycleGAN generator: two stride-2 downsamplings, residual blocks, two upsamplings."""

    def __init__(self, channels: int, width: int, n_blocks: int, norm: str) -> None:
        super().__init__()
        w = width
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(channels, w, 7, bias=False),  # c7s1-w
            norm_layer(norm, w),
            nn.ReLU(True),
        ]
        for mult in (1, 2):  # d2w, d4w
            layers += [
                nn.Conv2d(w * mult, w * mult * 2, 3, 2, 1, bias=False),
                norm_layer(norm, w * mult * 2),
                nn.ReLU(True),
            ]
        layers += [ResnetBlock(4 * w, norm) for _ in range(n_blocks)]
        for mult in (4, 2):  # u2w, uw
            layers += [
                nn.ConvTranspose2d(w * mult, w * mult // 2, 3, 2, 1, output_padding=1, bias=False),
                norm_layer(norm, w * mult // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(w, channels, 7), nn.Tanh()]  # c7s1-C
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x, height, width = pad_to_multiple(images, 4)  # (B, C, H', W'), H' % 4 == 0
        return self.net(x)[..., :height, :width]


class PatchGan(nn.Module):
    """Unconditional PatchGAN: images ``(B, C, H, W)`` -> raw scores ``(B, 1, h, w)``."""

    def __init__(self, channels: int, width: int, layers: int, norm: str) -> None:
        super().__init__()
        self.net = nn.Sequential(*patchgan_layers(channels, width, layers, norm))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


def build_generator(config: CycleGanConfig) -> nn.Module:
    if config.generator == "unet":
        unet = SrUnetConfig(
            channels=config.channels,
            width=config.width,
            max_width=8 * config.width,
            depth=config.unet_depth,
            residual=False,
        )
        return UnetGenerator(unet, norm=config.norm)
    return ResnetGenerator(config.channels, config.width, config.n_res_blocks, config.norm)


class CycleGan(ModelPlugin):
    PLUGIN_NAME: ClassVar[str] = "cyclegan"
    DESCRIPTION: ClassVar[str] = (
        "unpaired translation between two folders (--domain-a/--domain-b): two ResNet or "
        "U-Net generators, two PatchGANs"
    )
    FAMILY: ClassVar[str] = "translation"
    Config: ClassVar[type] = CycleGanConfig
    #: GAN loss used when ``gentool train`` gets no ``--loss`` (least squares, as the paper).
    DEFAULT_LOSS: ClassVar[str] = "ls"
    TEST_OPTIONS: ClassVar[dict[str, Any]] = {
        "width": 4,
        "n_res_blocks": 1,
        "unet_depth": 2,
        "d_width": 4,
        "d_layers": 2,
        "pool_size": 4,
    }
    # Plain modules, or DistributedDataParallel wrappers under torchrun.
    generator_ab: nn.Module
    generator_ba: nn.Module
    discriminator_a: nn.Module
    discriminator_b: nn.Module

    def __init__(self, config: CycleGanConfig) -> None:
        super().__init__(config)
        c = config.channels
        d_norm = config.norm if config.d_norm == "auto" else config.d_norm
        self.generator_ab = build_generator(config)
        self.generator_ba = build_generator(config)
        self.discriminator_a = PatchGan(c, config.d_width, config.d_layers, d_norm)
        self.discriminator_b = PatchGan(c, config.d_width, config.d_layers, d_norm)
        self.apply(dcgan_init)

    @classmethod
    def configure(cls, options: dict[str, Any], data: Any = None, loss: Any = None) -> Any:
        config = super().configure(options, data)
        allows_batchnorm = getattr(loss, "ALLOWS_BATCHNORM", True)
        if config.d_norm == "auto":
            config.d_norm = (
                "layer" if config.norm == "batch" and not allows_batchnorm else config.norm
            )
        elif config.d_norm == "batch" and not allows_batchnorm:
            raise GentoolError(
                "this loss penalises per-sample gradients and cannot train BatchNorm "
                "discriminators; use --model-opt d_norm=layer (or instance, none)."
            )
        return config

    # --- use -----------------------------------------------------------------------------
    def generator(self, direction: str) -> nn.Module:
        """``generator_ab`` for ``a2b``, ``generator_ba`` for ``b2a``."""
        if direction not in DIRECTIONS:
            raise GentoolError(f"direction must be a2b or b2a, not '{direction}'.")
        return self.generator_ab if direction == "a2b" else self.generator_ba

    def main_pass(self, images: torch.Tensor) -> bool:
        self.translate(images)
        return True

    def translate(self, images: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        """``(B, C, H, W)`` in [-1, 1] from one domain -> the same shape in the other."""
        return self.generator(direction)(images)

    def generator_parameters(self) -> list[nn.Parameter]:
        return [*self.generator_ab.parameters(), *self.generator_ba.parameters()]

    def discriminator_parameters(self) -> list[nn.Parameter]:
        return [*self.discriminator_a.parameters(), *self.discriminator_b.parameters()]

    def sample(
        self, n: int, *, generator: torch.Generator | None = None, **conditions: Any
    ) -> torch.Tensor:
        raise GentoolError(
            f"'{self.PLUGIN_NAME}' translates images instead of sampling them; pass "
            "--input DIR_OR_FILE --direction a2b --out-dir OUT."
        )
