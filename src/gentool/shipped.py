"""The upscalers shipped inside the package (``gentool/weights/``): what each is for and how
fast it is, in one table that ``gentool upscale --help``, :mod:`gentool.upscale` and the docs
read. Plain data (no torch), so the command line can show it without loading a model.

The numbers are measured by ``python benchmarks/sr_quality.py kinds`` (quality on the 30
held-out photos under six input kinds) and ``python benchmarks/sr_quality.py speed`` (CPU
seconds per output megapixel, two cores, idle machine); docs/upscale.md has both tables.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ShippedUpscaler:
    """One shipped model: its weights file, what to use it for, and its speed."""

    file: str
    use: str
    #: CPU seconds per output megapixel (two cores, idle machine).
    seconds_per_mp: float


#: Best first: with no ``--model`` the first one installed is used.
SHIPPED: dict[str, ShippedUpscaler] = {
    "sr-real": ShippedUpscaler(
        "sr-real-x4.safetensors",
        "real pictures (thumbnails, JPEGs, phone photos, scans): never worse than bicubic on "
        "aliased, compressed, noisy or blurred inputs",
        0.54,
    ),
    "sr-fast": ShippedUpscaler(
        "sr-fast-x4.safetensors",
        "folders of real pictures: the same training, a network 5x faster, about half the gain",
        0.10,
    ),
    "sr-resnet": ShippedUpscaler(
        "sr-resnet-x4.safetensors",
        "clean inputs made by an antialiased downscale (the benchmark protocol) only: the "
        "highest scores there, worse than bicubic on aliased inputs",
        0.55,
    ),
    "sr-unet": ShippedUpscaler(
        "sr-unet-x4.safetensors",
        "the first shipped model (a U-Net), kept for comparison",
        0.70,
    ),
}
#: Name -> weights file.
SHIPPED_MODELS: dict[str, str] = {name: model.file for name, model in SHIPPED.items()}


def shipped_help() -> str:
    """``upscale --model``'s help: each shipped model, what it is for, and its speed."""
    parts = [
        f"{name}: {model.use} ({model.seconds_per_mp:.2f} s per output megapixel on 2 CPU cores)"
        for name, model in SHIPPED.items()
    ]
    return (
        "A shipped upscaler, or a run folder or checkpoint of an image-to-image run "
        f"[default: {next(iter(SHIPPED))}]. " + "; ".join(parts) + "."
    )
