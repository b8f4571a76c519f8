"""scikit-learn's handwritten digits: the embedded default dataset.

1,797 grayscale 8x8 digits (UCI optdigits, 16 grey levels) ship inside scikit-learn, so
``gentool train`` works on a fresh machine with no download. They are upsampled to the
requested resolution (32x32 by default) with bilinear interpolation.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from gentool.data.base import DatasetPlugin, DataSpec, ImageData, check_decoded_fits


class DigitsDataset(DatasetPlugin):
    PLUGIN_NAME: ClassVar[str] = "digits"
    DESCRIPTION: ClassVar[str] = (
        "1,797 handwritten digits 0-9 shipped inside scikit-learn (embedded default, no download)"
    )
    DEFAULT_SIZE: ClassVar[int | None] = 32
    USES: ClassVar[frozenset[str] | None] = frozenset()
    COUNT: ClassVar[int] = 1797

    def load(self, spec: DataSpec) -> ImageData:
        from sklearn.datasets import load_digits

        size = spec.image_size or self.DEFAULT_SIZE or 32
        # Upsampled in float32 before the uint8 copy: about 5 bytes per pixel at the peak.
        check_decoded_fits(self.COUNT, 5 * (spec.channels or 1), size, "the digits")
        bunch = load_digits()
        images = torch.from_numpy(bunch.images).float().div_(16.0).unsqueeze(1)  # (N, 1, 8, 8)
        if size != 8:
            images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
        images = images.clamp_(0, 1).mul_(255).round_().to(torch.uint8)
        if spec.channels == 3:
            images = images.expand(-1, 3, -1, -1).contiguous()
        return ImageData(
            images=images,
            name=self.PLUGIN_NAME,
            labels=torch.from_numpy(bunch.target).long(),
            class_names=[str(i) for i in range(10)],
        )
