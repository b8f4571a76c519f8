"""The noise-predicting U-Net: ``eps_hat = unet(x_t, t)``.

A small version of the network of Ho et al., 2020 (itself after PixelCNN++): residual blocks
of GroupNorm + SiLU + 3x3 convolution, each told the timestep through a sinusoidal embedding
(Vaswani et al., 2017) passed through a two-layer MLP and added to its feature maps.
``levels`` resolutions on the way down (a stride-2 convolution between them), two blocks in
the middle, and the way up mirrors the way down, each level concatenating the features of
the same resolution on the way down. Channels: ``width`` at the full resolution, doubling
with each level down to at most ``4 * width``. No attention: at 16 to 32 px the deepest maps
are already only a few pixels wide.

The last convolution starts at zero, so the untrained network predicts no noise at all and
the first steps learn from a loss of exactly ``E[eps^2] = 1``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: Wavelengths of the sinusoidal timestep embedding range from 2 pi to 2 pi * this.
MAX_PERIOD = 10_000


def level_widths(width: int, levels: int) -> list[int]:
    """Channels at each resolution: ``width``, doubling per level, at most ``4 * width``."""
    return [width * min(2**level, 4) for level in range(levels)]


def timestep_embedding(timesteps: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding ``(B, dim)`` of integer timesteps ``(B,)``: ``sin`` and ``cos`` of
    ``t / MAX_PERIOD^(i / half)`` side by side (``dim`` even)."""
    half = dim // 2
    exponents = torch.arange(half, dtype=torch.float32, device=timesteps.device) / half
    frequencies = torch.exp(-math.log(MAX_PERIOD) * exponents)  # (half,)
    angles = timesteps.float()[:, None] * frequencies[None, :]  # (B, half)
    return torch.cat([angles.sin(), angles.cos()], dim=1)  # (B, dim)


class ResidualBlock(nn.Module):
    """``h = conv(silu(norm(x))) + time``, then ``shortcut(x) + conv(silu(norm(h)))``; the
    shortcut is a 1x1 convolution when the channels change, else ``x`` itself."""

    def __init__(self, in_channels: int, out_channels: int, time_dim: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.time = nn.Linear(time_dim, out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.shortcut: nn.Module = (
            nn.Conv2d(in_channels, out_channels, 1)
            if in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (B, out, H, W)
        h = h + self.time(F.silu(time))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        out: torch.Tensor = self.shortcut(x) + h
        return out


class Downsample(nn.Module):
    """Halve the resolution with a stride-2 3x3 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv(x)
        return out


class Upsample(nn.Module):
    """Double the resolution: nearest-neighbour, then a 3x3 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        return out


class Level(nn.Module):
    """The residual blocks of one resolution, then its resampling (none at the bottom of
    the way down and the top of the way up)."""

    def __init__(self, blocks: list[ResidualBlock], resample: nn.Module | None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.resample: nn.Module = nn.Identity() if resample is None else resample

    def forward(self, x: torch.Tensor, time: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The features at this resolution, and the same resampled for the next level."""
        for block in self.blocks:
            x = block(x, time)
        return x, self.resample(x)


class UNet(nn.Module):
    """``(x_t, t) -> eps_hat``: images ``(B, C, H, W)`` and integer timesteps ``(B,)`` to the
    predicted noise ``(B, C, H, W)``. ``H`` and ``W`` must divide by ``2**(levels - 1)``."""

    def __init__(self, channels: int, width: int, levels: int, blocks: int, groups: int) -> None:
        super().__init__()
        self.width = width
        time_dim = 4 * width
        widths = level_widths(width, levels)
        self.time_mlp = nn.Sequential(
            nn.Linear(width, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim)
        )
        self.stem = nn.Conv2d(channels, width, 3, padding=1)
        self.down = nn.ModuleList()
        current = width
        for level, out in enumerate(widths):
            stack = []
            for _ in range(blocks):
                stack.append(ResidualBlock(current, out, time_dim, groups))
                current = out
            last = level == levels - 1
            self.down.append(Level(stack, None if last else Downsample(out)))
        self.middle = nn.ModuleList(
            [
                ResidualBlock(current, current, time_dim, groups),
                ResidualBlock(current, current, time_dim, groups),
            ]
        )
        self.up = nn.ModuleList()
        for level in reversed(range(levels)):
            out = widths[level]
            stack = [ResidualBlock(current + out, out, time_dim, groups)]
            stack += [ResidualBlock(out, out, time_dim, groups) for _ in range(blocks - 1)]
            current = out
            self.up.append(Level(stack, Upsample(out) if level > 0 else None))
        output = nn.Conv2d(current, channels, 3, padding=1)
        for parameter in output.parameters():
            nn.init.zeros_(parameter)
        self.head = nn.Sequential(nn.GroupNorm(groups, current), nn.SiLU(), output)

    def forward(self, noisy: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        time = self.time_mlp(timestep_embedding(timesteps, self.width))  # (B, 4 * width)
        h = self.stem(noisy)  # (B, width, H, W)
        skips = []
        for level in self.down:
            features, h = level(h, time)
            skips.append(features)  # (B, widths[i], H / 2**i, W / 2**i)
        for block in self.middle:
            h = block(h, time)
        for level in self.up:
            _, h = level(torch.cat([h, skips.pop()], dim=1), time)
        out: torch.Tensor = self.head(h)  # (B, C, H, W)
        return out
