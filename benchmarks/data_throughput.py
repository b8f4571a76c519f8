"""Images per second of training epochs over a folder of images: torchvision vs gentool.

Reference (the usual PyTorch recipe, decoding every file in every epoch): a Dataset over the
files with torchvision's ``Resize(size)``, ``CenterCrop(size)``, ``ToTensor()`` and
``Normalize`` to [-1, 1], read through ``DataLoader(batch_size, shuffle=True, num_workers=2)``.

gentool: the ``folder`` dataset decodes every file once into the decoded-image cache (timed
on its own: a cold first load, then a warm load that reads the cache), and each epoch then
draws shuffled batches from the uint8 tensor and converts them with ``to_float``. Epochs of
the two pipelines alternate, so that both see the same machine load.

Both produce float32 batches ``(B, 3, size, size)`` in [-1, 1] at the same resolution.

    python benchmarks/data_throughput.py --epochs 3
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from gentool.data.base import DataSpec, to_float
from gentool.data.folder import FolderDataset, list_images

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT / ".." / "shared" / "data" / "anime-faces" / "images"


class FileDataset(Dataset[torch.Tensor]):
    """torchvision's ImageFolder without the class sub-folder: a list of files + transforms."""

    def __init__(self, files: list[Path], size: int) -> None:
        self.files = files
        self.transform = transforms.Compose(
            [
                transforms.Resize(size),
                transforms.CenterCrop(size),
                transforms.ToTensor(),
                transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
            ]
        )

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        with Image.open(self.files[index]) as image:
            return self.transform(image.convert("RGB"))


def consume(batch: torch.Tensor) -> float:
    """Touch the batch the way a training step would start: read every value once."""
    return float(batch.sum())


def make_loader(files: list[Path], args: argparse.Namespace) -> DataLoader[torch.Tensor]:
    return DataLoader(
        FileDataset(files, args.size),
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=args.workers,
    )


def torchvision_epoch(loader: DataLoader[torch.Tensor]) -> float:
    start = time.perf_counter()
    for batch in loader:
        consume(batch)
    return time.perf_counter() - start


def gentool_epoch(images: torch.Tensor, batch_size: int, generator: torch.Generator) -> float:
    start = time.perf_counter()
    order = torch.randperm(len(images), generator=generator)
    for first in range(0, len(images), batch_size):
        consume(to_float(images[order[first : first + batch_size]]))
    return time.perf_counter() - start


def timed_load(folder: Path, size: int) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    data = FolderDataset().load(DataSpec(name="folder", root=str(folder), image_size=size))
    return time.perf_counter() - start, data.images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (reference)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads in this process (default: torch's)"
    )
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    data_dir = args.data_dir.resolve()
    if not data_dir.is_dir():
        sys.exit(f"error: {data_dir} is not a folder of images; pass --data-dir DIR.")
    relative = list_images(data_dir)[: args.limit]

    with tempfile.TemporaryDirectory(prefix="gentool-bench-") as scratch:
        # A private cache, so the first load is really cold, and (with --limit) a folder of
        # links to the chosen files, so both pipelines read exactly the same images.
        os.environ["GENTOOL_CACHE_DIR"] = str(Path(scratch) / "cache")
        os.environ.pop("GENTOOL_NO_CACHE", None)
        folder = data_dir
        if args.limit is not None:
            folder = Path(scratch) / "images"
            for name in relative:
                link = folder / name
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(data_dir / name)
        files = [folder / name for name in relative]

        cold, images = timed_load(folder, args.size)
        warm, images = timed_load(folder, args.size)
        loader = make_loader(files, args)
        generator = torch.Generator().manual_seed(0)
        reference: list[float] = []
        ours: list[float] = []
        for _ in range(args.epochs):  # interleaved, so both see the same machine load
            reference.append(torchvision_epoch(loader))
            ours.append(gentool_epoch(images, args.batch_size, generator))

    n = len(files)
    ref_epoch = statistics.median(reference)
    our_epoch = statistics.median(ours)
    ref_total = sum(reference)
    our_total = cold + sum(ours)
    print(
        f"{n} images from {data_dir}, {args.size}x{args.size}, batch {args.batch_size}, "
        f"{args.epochs} epochs; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.2f} at the end), "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"Python {platform.python_version()}"
    )
    print()
    print("| pipeline | one-time load (s) | epoch, median (s) | images/s per epoch | total (s) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(
        f"| torchvision Dataset + DataLoader({args.workers} workers) | - | {ref_epoch:.2f} | "
        f"{n / ref_epoch:,.0f} | {ref_total:.2f} |"
    )
    print(
        f"| gentool folder, cold cache (decode + write) | {cold:.2f} | {our_epoch:.3f} | "
        f"{n / our_epoch:,.0f} | {our_total:.2f} |"
    )
    print(
        f"| gentool folder, warm cache (read) | {warm:.2f} | {our_epoch:.3f} | "
        f"{n / our_epoch:,.0f} | {warm + sum(ours):.2f} |"
    )
    print()
    print(
        f"per epoch gentool is {ref_epoch / our_epoch:,.1f}x faster; over "
        f"{args.epochs} epoch(s) including the cold decode, {ref_total / our_total:.1f}x."
    )


if __name__ == "__main__":
    main()
