"""Super-resolution training data at the photos' own resolution (``--train-opt full_res=true``).

The ordinary datasets decode every image as a square at ``--image-size``, which for photos
larger than that throws away the detail an upscaler must learn. With ``full_res`` the
image2image loop instead keeps the training split's files **at their native resolution**
(a list of uint8 ``(C, H, W)`` tensors, so photos of different sizes share one folder) and
every step cuts one random ``patch x patch`` crop per sampled image, with a random flip and
90-degree rotation. The crops are cut where the images are held (on the GPU when they fit
in a quarter of its free memory) and the low-resolution inputs are made from them on the
training device by :func:`gentool.data.degrade.degrade`, the same antialiased bicubic
downscaling and 8-bit rounding as :func:`gentool.metrics.image_quality.evaluate_upscaler`.

Crop positions, flips and rotations come from a dedicated CPU ``torch.Generator`` seeded from
the run's seed; its state is saved in the checkpoint (``trainer.sr_crop.rng``), so a resumed
run draws exactly the crops a straight run would have.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gentool.errors import GentoolError

#: ``--train-opt`` keys handled here rather than by the image2image options.
KEYS = ("full_res",)
#: The checkpoint tensor (under ``trainer.``) holding the crop generator's state.
STATE_KEY = "sr_crop.rng"


@dataclass
class SrDataOptions:
    """``--train-opt`` fields of the full-resolution data path."""

    #: Crop the training photos at their own resolution instead of the decoded squares.
    full_res: bool = False


def split_options(extra: dict[str, Any], defaults: dict[str, Any]) -> tuple[dict, dict]:
    """``(image2image options, data options)`` from ``--train-opt`` over the model's defaults."""
    merged = {**defaults, **extra}
    data = {k: v for k, v in merged.items() if k in KEYS}
    rest = {k: v for k, v in merged.items() if k not in KEYS}
    return rest, data


def _decode(path: Path, channels: int) -> torch.Tensor:
    """One file as uint8 ``(C, H, W)`` at its own size (the evaluation's reader's rules)."""
    from gentool.upscale import colour_uint8, open_image

    array = colour_uint8(open_image(path), channels)
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def load_native(files: list[str], channels: int) -> list[torch.Tensor]:
    """Decode ``files`` at native resolution, refusing (one line) what does not fit in memory."""
    from PIL import Image

    from gentool.runtime import available_memory, format_bytes

    if not files:
        raise GentoolError(
            "--train-opt full_res=true needs the image files of a folder dataset; this "
            "dataset does not list its files (use full_res=false)."
        )
    need = 0
    for name in files:
        try:
            with Image.open(name) as img:
                need += img.width * img.height * channels
        except (OSError, ValueError) as exc:
            raise GentoolError(f"{name} could not be read for full_res training ({exc}).") from None
    have = available_memory()
    if have is not None and need > 0.5 * have:
        raise GentoolError(
            f"holding the {len(files)} training images at full resolution needs about "
            f"{format_bytes(need)}, and this machine has {format_bytes(have)} available; "
            "use --train-opt full_res=false (crops of --image-size squares)."
        )
    return [_decode(Path(name), channels) for name in files]


class PatchSampler:
    """Random crops (with flips and rotations) of images of any sizes; resumable exactly."""

    def __init__(
        self,
        images: list[torch.Tensor],
        patch: int,
        seed: int,
        augment: bool = True,
        files: list[str] | None = None,
    ) -> None:
        names = files or [f"image {i}" for i in range(len(images))]
        for image, name in zip(images, names, strict=False):
            height, width = image.shape[-2:]
            if height < patch or width < patch:
                raise GentoolError(
                    f"{name} is {width}x{height}, smaller than the {patch}-pixel training crops; "
                    "lower --train-opt patch or remove the image."
                )
        self.images = images
        self.patch = patch
        self.augment = augment
        self.generator = torch.Generator().manual_seed(int(seed) * 1_000_003 + 17)

    def to(self, device: torch.device) -> PatchSampler:
        """Hold the images on ``device`` (crops are then cut there)."""
        self.images = [image.to(device) for image in self.images]
        return self

    @property
    def nbytes(self) -> int:
        return sum(image.numel() * image.element_size() for image in self.images)

    def min_side(self) -> int:
        return min(min(image.shape[-2:]) for image in self.images)

    def crops(self, index: list[int]) -> torch.Tensor:
        """uint8 ``(B, C, patch, patch)`` crops of ``images[i]`` for ``i in index``."""
        p = self.patch
        draws = torch.rand(len(index), 4, generator=self.generator, dtype=torch.float64)
        out = []
        for i, (u_top, u_left, u_flip, u_turn) in zip(index, draws.tolist(), strict=True):
            image = self.images[i]
            height, width = image.shape[-2:]
            top = min(int(u_top * (height - p + 1)), height - p)
            left = min(int(u_left * (width - p + 1)), width - p)
            crop = image[:, top : top + p, left : left + p]
            if self.augment:
                if u_flip < 0.5:
                    crop = crop.flip(-1)
                crop = torch.rot90(crop, min(int(u_turn * 4), 3), (1, 2))
            out.append(crop)
        return torch.stack(out)

    def centre_crops(self, count: int, side: int) -> torch.Tensor:
        """uint8 centre crops of side ``side`` of the first ``count`` images (fixed samples)."""
        out = []
        for image in self.images[:count]:
            height, width = image.shape[-2:]
            top, left = (height - side) // 2, (width - side) // 2
            out.append(image[:, top : top + side, left : left + side])
        return torch.stack(out)

    def state(self) -> torch.Tensor:
        return self.generator.get_state()

    def load_state(self, state: torch.Tensor | None) -> None:
        from gentool.checkpoint_schema import check_generator_state
        from gentool.errors import CheckpointError

        if state is None:
            raise CheckpointError(
                f"the checkpoint has no trainer.{STATE_KEY} (the full-resolution crop stream); "
                "it was not written by a full_res run."
            )
        check_generator_state("the checkpoint", f"trainer.{STATE_KEY}", state)
        self.generator.set_state(state.clone())
