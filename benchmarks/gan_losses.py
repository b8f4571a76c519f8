"""Train gentool's DCGAN with each GAN loss and a plain PyTorch-examples DCGAN, same budget.

For every loss (bce, ls, wgan-gp, hinge) this runs ``gentool train dcgan --loss LOSS`` (through
:func:`gentool.training.runner.train`, the function the CLI calls) on the anime-faces training
split, then draws ``--eval-images`` samples and measures, against the held-out test split:

* SWD: sliced Wasserstein distance on Laplacian-pyramid patches (x1e3, Karras et al. 2018),
  per level and averaged; lower is better. The "real (train)" row is the noise floor: real
  training images against the same held-out images.
* diversity: mean pairwise RMS pixel distance of the samples (real images give the reference;
  a collapsed generator gives about 0).
* wall time of the training run.

The reference row is ``benchmarks/reference_dcgan.py``, a plain loop in the style of the
PyTorch examples (own modules, BCELoss) with the same architecture, width, batch and steps.
Sample grids are written to ``--img-dir`` (one PNG per row of the table).

Example (the budget used in docs/gan.md; on a shared 2-core CPU one thread per process is
much faster than two, which fight over the cores)::

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/gan_losses.py \
        --data-root /work/shared/data/anime-faces --image-size 32 --width 16 \
        --batch-size 64 --steps 500 --eval-images 256 --out runs/bench-gan \
        --img-dir docs/img/gan
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference_dcgan

from gentool.checkpoint import load_checkpoint
from gentool.data.base import DataSpec
from gentool.images import save_grid
from gentool.loading import load_data, model_from_checkpoint
from gentool.metrics import pairwise_diversity, sliced_wasserstein_distance
from gentool.plugins import get_loss_class
from gentool.training.runner import train

LOSSES = ("bce", "ls", "wgan-gp", "hinge")


def evaluate(fake: torch.Tensor, real: torch.Tensor, seed: int) -> dict[str, float]:
    result = sliced_wasserstein_distance(real, fake, seed=seed)
    result["diversity"] = pairwise_diversity(fake, seed=seed)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", required=True, help="anime-faces folder (images/, tags.csv)")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=300, help="generator updates per run")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--width", type=int, default=32, help="g_width = d_width")
    parser.add_argument("--losses", default=",".join(LOSSES))
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--eval-images", type=int, default=512)
    parser.add_argument("--out", default="runs/bench-gan")
    parser.add_argument("--img-dir", default=None, help="where to save the sample grids")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    img_dir = Path(args.img_dir) if args.img_dir else out
    spec = {"name": "anime-faces", "root": args.data_root, "image_size": args.image_size}
    train_images = load_data(DataSpec(**spec, split="train")).images
    test_images = load_data(DataSpec(**spec, split="test")).images
    n_eval = min(args.eval_images, len(test_images))
    real = test_images[:n_eval]
    pick = torch.randperm(len(train_images), generator=torch.Generator().manual_seed(1))
    rows: list[dict[str, Any]] = []

    def record(name: str, fake: torch.Tensor, seconds: float, extra: str = "") -> None:
        metrics = evaluate(fake, real, args.seed)
        rows.append({"run": name, "seconds": seconds, "note": extra, **metrics})
        grid = fake[:64].float() / 127.5 - 1 if fake.dtype == torch.uint8 else fake[:64]
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")  # "real (train)" -> real-train
        save_grid(grid, img_dir / f"{slug}.png", nrow=8)
        print(json.dumps(rows[-1]), flush=True)
        (out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")

    record("real (train)", train_images[pick[:n_eval]], 0.0, "noise floor")
    for loss in [name for name in args.losses.split(",") if name]:
        run = out / f"dcgan-{loss}"
        start = time.perf_counter()
        ckpt_path = train(
            "dcgan",
            loss=loss,
            model_options={"g_width": args.width, "d_width": args.width},
            data=DataSpec(**spec, split="train"),
            steps=args.steps,
            batch_size=args.batch_size,
            log_every=25,
            sample_every=args.steps,
            checkpoint_every=args.steps,
            seed=args.seed,
            device="cpu",
            out=str(run),
            overwrite=True,
        )
        seconds = time.perf_counter() - start
        model = model_from_checkpoint(load_checkpoint(ckpt_path))
        fake = model.sample(n_eval, generator=torch.Generator().manual_seed(args.seed))
        d_steps = get_loss_class(loss).DEFAULT_D_STEPS
        record(f"dcgan-{loss}", fake, seconds, f"{d_steps} D step(s) per G step")
    if not args.no_reference:
        start = time.perf_counter()
        netG, log = reference_dcgan.train(
            train_images,
            steps=args.steps,
            batch_size=args.batch_size,
            ngf=args.width,
            ndf=args.width,
            seed=args.seed,
        )
        seconds = time.perf_counter() - start
        (out / "reference-log.json").write_text(json.dumps(log) + "\n")
        fake = reference_dcgan.sample(netG, n_eval, seed=args.seed)
        record("reference-dcgan", fake, seconds, "PyTorch-examples loop, BCE")

    levels = [k for k in rows[0] if k.startswith("swd_") and k != "swd_avg"]
    header = ["run", *levels, "swd_avg", "diversity", "seconds", "note"]
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        cells = [row["run"]]
        cells += [f"{row[k]:.1f}" for k in [*levels, "swd_avg"]]
        cells += [f"{row['diversity']:.3f}", f"{row['seconds']:.0f}", row["note"]]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
