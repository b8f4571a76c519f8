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
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch

from gentool.data.base import DataSpec, load_data, to_uint8
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


def timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num", type=int, default=10_000, help="generated images to evaluate")
    parser.add_argument("--sample-count", type=int, default=None, help="images actually sampled")
    parser.add_argument("--inception-count", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--skip", default="", help="comma list of rows to skip")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    torch.manual_seed(0)
    rows: list[tuple[str, int, float, float, str]] = []  # name, images, seconds, per --num, note

    model = Dcgan(Dcgan.configure({"image_size": args.size, "channels": 3})).eval()
    sample_count = min(args.sample_count or args.num, args.num)
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    fakes = []
    with torch.no_grad():
        for begin in range(0, sample_count, args.batch_size):
            count = min(args.batch_size, sample_count - begin)
            fakes.append(to_uint8(model.sample(count, generator=generator)))
    seconds = time.perf_counter() - start
    note = "" if sample_count == args.num else f"extrapolated from {sample_count}"
    rows.append(
        ("sampling (DCGAN-64)", sample_count, seconds, seconds * args.num / sample_count, note)
    )
    fake = torch.cat(fakes)
    if len(fake) < args.num:  # tile the drawn images up to --num for the metrics
        fake = fake.repeat((args.num + len(fake) - 1) // len(fake), 1, 1, 1)[: args.num]
    real, real_what = real_images(args.size, args.num)

    if "swd" not in skip:
        out, seconds = timed(sliced_wasserstein_distance, real, fake)
        rows.append(("swd", len(fake), seconds, seconds, f"swd_avg={out['swd_avg']:.1f}"))
    if "prdc" not in skip:
        (f_real, f_fake), seconds_f = timed(lambda: (pixel_features(real), pixel_features(fake)))
        out, seconds = timed(precision_recall_density_coverage, f_real, f_fake, 5)
        total = seconds_f + seconds
        rows.append(
            (
                "prdc (features + k-NN)",
                len(fake),
                total,
                total,
                f"P={out['precision']:.4f} R={out['recall']:.4f} D={out['density']:.3f} "
                f"C={out['coverage']:.4f}",
            )
        )
        from torch_fidelity.metric_prc import calculate_precision_recall_part

        (p, r), seconds = timed(
            calculate_precision_recall_part, f_fake, f_real, neighborhood=5, batch_size=1024
        )
        rows.append(
            (
                "  reference: torch-fidelity P/R",
                len(fake),
                seconds,
                seconds,
                f"P={p:.4f} R={r:.4f} (same features, k=5)",
            )
        )
    if "diversity" not in skip:
        out_g, seconds = timed(pairwise_diversity, fake)
        out_r, seconds_r = timed(pairwise_diversity, real)
        rows.append(
            (
                "diversity (gen + real)",
                len(fake),
                seconds + seconds_r,
                seconds + seconds_r,
                f"gen={out_g:.4f} real={out_r:.4f}",
            )
        )
    if "inception" not in skip:
        network = build_inception(None)  # RANDOM weights: timing only, never a metric value

        def extractor(images: torch.Tensor) -> dict[str, torch.Tensor]:
            with torch.no_grad():
                pool, logits = network(images)
            return {"pool": pool, "logits": logits}

        count = min(args.inception_count, len(fake))
        _, seconds = timed(extract_features, fake[:count], extractor, min(32, count))
        rows.append(
            (
                "inception forward",
                count,
                seconds,
                seconds * args.num / count,
                f"RANDOM weights, timing only; extrapolated from {count}",
            )
        )

    print(
        f"# gentool evaluation speed: {args.num} generated {args.size}x{args.size} images vs "
        f"{real_what}"
    )
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads, load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    print(f"| {'step':32} | {'images':>7} | {'seconds':>8} | {f's per {args.num}':>12} | note |")
    print(f"|{'-' * 34}|{'-' * 9}|{'-' * 10}|{'-' * 14}|------|")
    for name, count, seconds, per, note in rows:
        print(f"| {name:32} | {count:7d} | {seconds:8.1f} | {per:12.1f} | {note} |")
    weight_free = sum(r[3] for r in rows if not r[0].startswith(("inception", "  ")))
    print(f"\nsampling + swd + prdc + diversity for {args.num} images: {weight_free:.0f} s")


if __name__ == "__main__":
    main()
