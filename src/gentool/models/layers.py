"""Small building blocks shared by the architectures."""

from __future__ import annotations

from torch import nn

NORMS = ("batch", "instance", "layer", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """A normalisation layer by name. ``layer`` normalises over (C, H, W) per sample."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm '{kind}'; choose from {', '.join(NORMS)}")


def maybe_spectral(module: nn.Module, enabled: bool) -> nn.Module:
    """Wrap a conv/linear layer in spectral normalisation (Miyato et al., 2018) if asked."""
    return nn.utils.parametrizations.spectral_norm(module) if enabled else module


def dcgan_init(module: nn.Module) -> None:
    """Weights from N(0, 0.02), norm scales from N(1, 0.02), as in Radford et al. (2016)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)):
        if module.weight is not None:
            nn.init.normal_(module.weight, 1.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def patchgan_layers(in_channels: int, width: int, layers: int, norm: str) -> list[nn.Module]:
    """The PatchGAN of pix2pix and CycleGAN (Isola et al., 2017; Zhu et al., 2017).

    ``layers`` stride-2 4x4 convolutions (no norm on the first, LeakyReLU 0.2, channels
    doubling from ``width`` up to ``8 * width``), then a stride-1 4x4 convolution and a
    one-channel stride-1 4x4 output: one raw real/fake score per overlapping patch. With
    ``layers=3`` each score sees a 70x70 patch.
    """
    modules: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]
    c = width
    for _ in range(layers - 1):
        modules += [
            nn.Conv2d(c, min(c * 2, 8 * width), 4, 2, 1, bias=False),
            norm_layer(norm, min(c * 2, 8 * width)),
            nn.LeakyReLU(0.2, True),
        ]
        c = min(c * 2, 8 * width)
    modules += [
        nn.Conv2d(c, c * 2, 4, 1, 1, bias=False),
        norm_layer(norm, c * 2),
        nn.LeakyReLU(0.2, True),
        nn.Conv2d(c * 2, 1, 4, 1, 1),
    ]
    return modules
