"""Time to evaluate 10,000 generated 64x64 images: sampling plus each metric, on this machine.

What is timed, one row each:

* sampling: a DCGAN with the paper's 64x64 widths (random weights: speed does not depend on
  training) drawing ``--num`` images in batches of ``--batch-size``. ``--sample-count`` draws
  fewer and extrapolates linearly (the row says so).
* swd, prdc, diversity: gentool's weight-free metrics on ``--num`` generated images against the
  real set (anime-faces at 64x64 from ../shared/data when present, else random images of the
  same size; content does not change the cost).
* reference beside prdc: torch-fidelity's own precision/recall
  (``calculate_precision_recall_part``) on the same features with the same k, so the values
  can be compared and the time too.
* inception: the FID Inception forward pass (299x299 resize included) on ``--inception-count``
  images, extrapolated to ``--num``. Its weights are RANDOM here (no download is possible):
  the row is a timing only and no FID value is computed from it.

    OMP_NUM_THREADS=2 python benchmarks/eval_speed.py --num 10000 --sample-count 1000
    python benchmarks/eval_speed.py --num 10000 --device cuda --inception-count 10000

``--device`` runs sampling, the metrics and the Inception forward there (as ``gentool evaluate
--device`` does); each timed row ends with a device synchronisation.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch

from gentool.data.base import DataSpec, to_uint8
from gentool.loading import load_data
from gentool.metrics.diversity import pairwise_diversity
from gentool.metrics.fid import build_inception, extract_features
from gentool.metrics.prdc import pixel_features, precision_recall_density_coverage
from gentool.metrics.swd import sliced_wasserstein_distance
from gentool.models.dcgan import Dcgan

REPO_ROOT = Path(__file__).resolve().parents[1]
ANIME = REPO_ROOT / ".." / "shared" / "data" / "anime-faces"


def real_images(size: int, n: int) -> tuple[torch.Tensor, str]:
    if ANIME.is_dir():
        data = load_data(
            DataSpec(name="anime-faces", root=str(ANIME), image_size=size, split="all")
        )
        return data.images[:n], f"anime-faces ({min(n, len(data))} images)"
    generator = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (n, 3, size, size), generator=generator, dtype=torch.uint8), (
        "random images (anime-faces absent)"
    )


class Row:
    """One timed step: wall and CPU seconds, scaled to ``--num`` images when extrapolated."""

    def __init__(self, name: str, images: int, scale: float = 1.0) -> None:
        self.name, self.images, self.scale, self.note = name, images, scale, ""
        self.wall = self.cpu = 0.0

    def __enter__(self) -> Row:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num", type=int, default=10_000, help="generated images to evaluate")
    parser.add_argument("--sample-count", type=int, default=None, help="images actually sampled")
    parser.add_argument("--inception-count", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--skip", default="", help="comma list of rows to skip")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    args = parser.parse_args()
    device = torch.device(args.device)
    skip = set(filter(None, args.skip.split(",")))
    torch.manual_seed(0)
    rows: list[Row] = []

    model = Dcgan(Dcgan.configure({"image_size": args.size, "channels": 3})).eval().to(device)
    sample_count = min(args.sample_count or args.num, args.num)
    generator = torch.Generator().manual_seed(0)
    fakes = []
    scale = args.num / sample_count
    with Row("sampling (DCGAN-64, paper widths)", sample_count, scale) as row, torch.no_grad():
        for begin in range(0, sample_count, args.batch_size):
            count = min(args.batch_size, sample_count - begin)
            fakes.append(to_uint8(model.sample(count, generator=generator)).cpu())
    if sample_count != args.num:
        row.note = f"extrapolated from {sample_count}"
    rows.append(row)
    fake = torch.cat(fakes)
    if len(fake) < args.num:  # tile the drawn images up to --num for the metrics
        fake = fake.repeat((args.num + len(fake) - 1) // len(fake), 1, 1, 1)[: args.num]
    # Distinct images for the weight-free metrics: the untrained DCGAN draws near-constant
    # images, and tiled copies would make k-NN balls degenerate. Cost does not depend on content.
    fake = torch.randint(0, 256, fake.shape, generator=generator, dtype=torch.uint8)
    real, real_what = real_images(args.size, args.num)

    if "swd" not in skip:
        with Row("swd", len(fake)) as row:
            out = sliced_wasserstein_distance(real, fake, device=device)
        row.note = f"swd_avg={out['swd_avg']:.1f}"
        rows.append(row)
    if "prdc" not in skip:
        with Row("prdc (features + k-NN, k=5)", len(fake)) as row:
            f_real = pixel_features(real, device=device)
            f_fake = pixel_features(fake, device=device)
            out = precision_recall_density_coverage(f_real, f_fake, 5, device=device)
        row.note = (
            f"P={out['precision']:.4f} R={out['recall']:.4f} D={out['density']:.3f} "
            f"C={out['coverage']:.4f}"
        )
        rows.append(row)
        from torch_fidelity.metric_prc import calculate_precision_recall_part

        with Row("  reference: torch-fidelity P/R", len(fake)) as row:
            p, r = calculate_precision_recall_part(
                f_fake.float(), f_real.float(), neighborhood=5, batch_size=1024
            )
        row.note = f"P={p:.4f} R={r:.4f} (same features, k=5)"
        rows.append(row)
    if "diversity" not in skip:
        with Row("diversity (generated + real)", len(fake)) as row:
            out_g = pairwise_diversity(fake, device=device)
            out_r = pairwise_diversity(real, device=device)
        row.note = f"generated={out_g:.4f} real={out_r:.4f}"
        rows.append(row)
    if "inception" not in skip:
        # RANDOM weights: timing only, never a metric value
        network = build_inception(None).eval().to(device)

        def extractor(images: torch.Tensor) -> dict[str, torch.Tensor]:
            with torch.no_grad():
                pool, logits = network(images.to(device))
            return {"pool": pool.cpu(), "logits": logits.cpu()}

        count = min(args.inception_count, len(fake))
        with Row("inception forward (299x299)", count, args.num / count) as row:
            extract_features(fake[:count], extractor, min(args.batch_size, count))
        row.note = f"RANDOM weights, timing only; extrapolated from {count}"
        rows.append(row)

    print(
        f"# gentool evaluation speed: {args.num} generated {args.size}x{args.size} images vs "
        f"{real_what}"
    )
    print(
        f"# {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"device {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'}, "
        f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f} at the end"
    )
    per = f"wall s / {args.num}"
    print(f"| {'step':34} | {'images':>6} | {'wall s':>7} | {'CPU s':>7} | {per:>14} | note |")
    print(f"|{'-' * 36}|{'-' * 8}|{'-' * 9}|{'-' * 9}|{'-' * 16}|------|")
    for r in rows:
        print(
            f"| {r.name:34} | {r.images:6d} | {r.wall:7.1f} | {r.cpu:7.1f} | "
            f"{r.wall * r.scale:14.1f} | {r.note} |"
        )
    main_rows = [r for r in rows if not r.name.startswith(("inception", "  "))]
    wall = sum(r.wall * r.scale for r in main_rows)
    cpu = sum(r.cpu * r.scale for r in main_rows)
    print(
        f"\nsampling + swd + prdc + diversity for {args.num} images: {wall:.0f} s wall, "
        f"{cpu:.0f} s CPU"
    )


if __name__ == "__main__":
    main()
