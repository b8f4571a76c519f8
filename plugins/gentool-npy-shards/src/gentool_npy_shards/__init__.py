"""A gentool dataset plugin: a folder of ``images-*.npy`` shards (an example for authors)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from gentool.data.base import DatasetPlugin, DataSpec, ImageData
from gentool.errors import DataError
from gentool.hookspecs import hookimpl

GENTOOL_API_VERSION = 1


def _read(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read shard {path}: {exc}") from None


class NpyShardsDataset(DatasetPlugin):
    PLUGIN_NAME: ClassVar[str] = "npy-shards"
    DESCRIPTION: ClassVar[str] = "folder of uint8 images-*.npy shards (+ labels-*.npy, classes.txt)"

    def load(self, spec: DataSpec) -> ImageData:
        if not spec.root:
            raise DataError("npy-shards needs --data-root DIR with images-*.npy shards.")
        root = Path(spec.root).expanduser()
        shards = sorted(root.glob("images-*.npy"))
        if not shards:
            raise DataError(f"no images-*.npy shards in {root}.")
        arrays, labels = [], []
        for shard in shards:
            images = _read(shard)
            if images.dtype != np.uint8 or images.ndim not in (3, 4):
                raise DataError(f"{shard} must hold uint8 (N, H, W[, C]) images.")
            if images.ndim == 3:
                images = images[..., None]
            arrays.append(torch.from_numpy(images).permute(0, 3, 1, 2))
            label_file = shard.with_name(shard.name.replace("images-", "labels-"))
            if label_file.exists():
                labels.append(torch.from_numpy(_read(label_file).astype(np.int64)))
        data = torch.cat(arrays)
        if spec.channels == 3 and data.shape[1] == 1:
            data = data.expand(-1, 3, -1, -1)
        elif spec.channels == 1 and data.shape[1] == 3:
            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            data = (data.float() * weights).sum(1, keepdim=True).round().to(torch.uint8)
        if spec.image_size and spec.image_size != data.shape[-1]:
            data = F.interpolate(data.float(), size=(spec.image_size, spec.image_size), mode="area")
            data = data.round().clamp(0, 255).to(torch.uint8)
        names_file = root / "classes.txt"
        label_tensor = torch.cat(labels) if len(labels) == len(shards) else None
        class_names: list[str] = []
        if label_tensor is not None:
            if names_file.exists():
                class_names = names_file.read_text().split()
            else:
                class_names = [str(i) for i in range(int(label_tensor.max()) + 1)]
        return ImageData(
            images=data.contiguous(),
            name=self.PLUGIN_NAME,
            labels=label_tensor,
            class_names=class_names,
        )


@hookimpl
def gentool_register_datasets() -> list[type[DatasetPlugin]]:
    return [NpyShardsDataset]
