"""The super-resolution degradation: how a low-resolution input is made from a photo.

Training (``training/image2image.py``, ``training/sr_data.py``) and evaluation
(``metrics/image_quality.py``) use this one function, so a model is measured on exactly the
kind of input it learned from.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def degrade(images: torch.Tensor, scale: int) -> torch.Tensor:
    """High resolution ``(B, C, H, W)`` in [-1, 1] -> low resolution ``(B, C, H//s, W//s)``.

    Antialiased bicubic downsampling (as MATLAB's ``imresize``, the SR-paper convention),
    rounded to 8-bit levels so training sees what a saved low-resolution image holds.
    """
    height, width = images.shape[-2:]
    low = F.interpolate(
        images, size=(height // scale, width // scale), mode="bicubic", antialias=True
    )
    return low.clamp(-1, 1).add(1).mul(127.5).round().div(127.5).sub(1)
