"""Super-resolution quality: the shipped upscaler vs bicubic, and the 16->64 face setting.

Sub-commands (run from the project root, ``PYTHONPATH=src`` when not installed)::

    python benchmarks/sr_quality.py train-default --out runs/sr-default   # the shipped model
    python benchmarks/sr_quality.py export runs/sr-default                # -> src/gentool/weights/
    python benchmarks/sr_quality.py photos [--ckpt CKPT] [--lpips-weights FILE]
    python benchmarks/sr_quality.py faces --out runs/sr-faces [--steps N]

``photos`` evaluates on the held-out 20% of ``../shared/data/sr-photos`` (the images the
default model never saw: the same seeded split as ``DataSpec(test_fraction=0.2)``) and prints
PSNR-Y (scale pixels shaved), SSIM-Y and LPIPS for the model and for bicubic upsampling.
``faces`` trains sr-unet 16->64 on the anime faces' train split (pixel + GAN loss) and
reports MSE and PSNR against bilinear upsampling on the test split, with a picture.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data"
PHOTOS = SHARED / "sr-photos"
FACES = SHARED / "anime-faces"
#: Fraction of sr-photos held out from the default model's training, for reporting.
PHOTO_TEST_FRACTION = 0.2
#: How the shipped default model is trained (see docs/upscale.md).
DEFAULT_MODEL_OPTIONS = {"scale": 4, "width": 16, "max_width": 128, "depth": 4}
DEFAULT_TRAIN = {
    "steps": 1200,
    "batch_size": 16,
    "lr_g": 5e-4,
    "beta1": 0.9,
    "log_every": 50,
    "sample_every": 250,
    "checkpoint_every": 250,
    "extra": {"adv_weight": "0", "pixel": "l1", "patch": "64"},
}


def held_out_photos() -> list[Path]:
    """The sr-photos files the default model was not trained on (sorted)."""
    from gentool.data.base import split_indices
    from gentool.data.folder import list_images

    files = list_images(PHOTOS.resolve())
    index = split_indices(len(files), "test", PHOTO_TEST_FRACTION)
    return [PHOTOS.resolve() / files[i] for i in index.tolist()]


def train_default(args: argparse.Namespace) -> None:
    from gentool.data.base import DataSpec
    from gentool.training.runner import resume, train

    if args.resume:
        start = time.perf_counter()
        ckpt = resume(args.out, steps=args.steps, device="cpu")
        print(f"resumed and trained {ckpt} in {time.perf_counter() - start:.0f} s")
        return

    spec = DataSpec(
        name="folder",
        root=str(PHOTOS.resolve()),
        image_size=320,
        split="train",
        test_fraction=PHOTO_TEST_FRACTION,
    )
    settings = dict(DEFAULT_TRAIN)
    settings["steps"] = args.steps or settings["steps"]
    start = time.perf_counter()
    ckpt = train(
        "sr-unet",
        model_options=dict(DEFAULT_MODEL_OPTIONS),
        data=spec,
        out=args.out,
        overwrite=True,
        device="cpu",
        **settings,
    )
    print(f"trained {ckpt} in {time.perf_counter() - start:.0f} s")


def export(args: argparse.Namespace) -> None:
    from gentool.upscale import export_upscaler

    dest = Path(args.dest)
    export_upscaler(args.run, dest)
    print(f"wrote {dest} ({dest.stat().st_size / 1e6:.2f} MB)")


def photos(args: argparse.Namespace) -> None:
    """The upscaler vs bicubic on the held-out photos: a table per set and overall."""
    from gentool.metrics.image_quality import evaluate_upscaler
    from gentool.upscale import load_upscaler

    model = load_upscaler(args.ckpt, "cpu")
    paths = held_out_photos()
    start = time.perf_counter()
    result = evaluate_upscaler(model, paths, scale=4, lpips_weights=args.lpips_weights)
    elapsed = time.perf_counter() - start
    metrics = list(result["mean"]["model"])
    groups = {"all": result["rows"]}
    for row in result["rows"]:
        groups.setdefault(Path(row["file"]).parent.name, []).append(row)
    print(f"held-out sr-photos, x4, {len(paths)} images ({elapsed:.0f} s)")
    print(f"{'set':<11} {'n':>3} {'method':<8} " + " ".join(f"{m:>9}" for m in metrics))
    for group, rows in groups.items():
        for name, label in (("baseline", "bicubic"), ("model", "sr-unet")):
            means = [sum(r[name][m] for r in rows) / len(rows) for m in metrics]
            print(f"{group:<11} {len(rows):>3} {label:<8} " + " ".join(f"{v:>9.4f}" for v in means))
    if result["lpips"]:
        print(f"LPIPS not measured: {result['lpips']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


def memory(args: argparse.Namespace) -> None:
    """Peak RSS and time of upscaling one large synthetic image on the CPU."""
    import resource

    import numpy as np
    from PIL import Image

    from gentool.upscale import load_upscaler, upscale_image

    if args.stub:
        # The same tiling, blending and file code around a near-free network of the same
        # scale: measures the pipeline's memory without hours of CPU convolutions.
        from gentool.models.srunet import SrUnet, SrUnetConfig

        model: Any = SrUnet(SrUnetConfig(width=1, max_width=1, depth=1, with_discriminator=False))
        model.eval()
    else:
        model = load_upscaler(None, "cpu")
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (args.height // 8, args.width // 8, 3), dtype=np.uint8)
    img = Image.fromarray(coarse).resize((args.width, args.height), Image.Resampling.BICUBIC)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    out = upscale_image(model, img, tile=args.tile, overlap=16)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    output_mb = out.width * out.height * 3 / 2**20
    print(
        f"{'stub' if args.stub else 'default'} model, "
        f"{args.width}x{args.height} -> {out.width}x{out.height}, tile {args.tile}: "
        f"{elapsed:.0f} s, peak RSS {peak:.0f} MiB (before {before:.0f} MiB; the output "
        f"picture alone is {output_mb:.0f} MiB)"
    )


def _face_data(split: str) -> Any:
    from gentool.data.base import DataSpec, load_data

    return load_data(
        DataSpec(name="anime-faces", root=str(FACES.resolve()), image_size=64, split=split)
    )


def faces(args: argparse.Namespace) -> None:
    """Train sr-unet 16->64 (L1 + LSGAN PatchGAN) and compare it with bilinear on the test split."""
    import torch.nn.functional as F

    from gentool.data.base import DataSpec, to_float
    from gentool.images import save_grid
    from gentool.metrics.image_quality import mse, psnr
    from gentool.training.image2image import degrade
    from gentool.training.runner import train
    from gentool.upscale import load_upscaler

    ckpt = Path(args.out) / "ckpt.safetensors"
    if not args.eval_only:
        start = time.perf_counter()
        ckpt = train(
            "sr-unet",
            loss="ls",
            model_options={"scale": 4},
            data=DataSpec(name="anime-faces", root=str(FACES.resolve()), image_size=64),
            out=args.out,
            overwrite=True,
            device="cpu",
            steps=args.steps,
            batch_size=16,
            lr_g=5e-4,
            lr_d=2e-4,
            log_every=25,
            sample_every=100,
            checkpoint_every=100,
            extra={"adv_weight": "0.01", "pixel": "l1"},
        )
        print(f"trained {ckpt} in {time.perf_counter() - start:.0f} s")
    model = load_upscaler(ckpt, "cpu")
    test = _face_data("test")
    images = test.images[: args.limit]
    results: dict[str, list[torch.Tensor]] = {"model": [], "bilinear": []}
    with torch.no_grad():
        for batch in images.split(50):
            target = to_float(batch)
            low = degrade(target, 4)
            outputs = {
                "model": model.upscale(low).clamp(-1, 1),
                "bilinear": F.interpolate(low, scale_factor=4, mode="bilinear").clamp(-1, 1),
            }
            for name, out in outputs.items():
                out255 = out.add(1).mul(127.5).round()
                tgt255 = target.add(1).mul(127.5).round()
                results[name].append(
                    torch.stack([mse(out255 / 255, tgt255 / 255), psnr(out255, tgt255)], 1)
                )
    print(f"anime faces test split: {len(images)} images, 16x16 -> 64x64")
    print(f"{'method':<10} {'MSE [0,1]':>10} {'PSNR dB':>8}")
    summary = {}
    for name, parts in results.items():
        values = torch.cat(parts).mean(0)
        summary[name] = {"mse": float(values[0]), "psnr_rgb": float(values[1])}
        print(f"{name:<10} {values[0]:>10.5f} {values[1]:>8.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    if args.picture:
        with torch.no_grad():
            target = to_float(images[:6])
            low = degrade(target, 4)
            shown = F.interpolate(low, scale_factor=4, mode="nearest")
            rows = torch.stack([shown, model.upscale(low).clamp(-1, 1), target], 1).flatten(0, 1)
        save_grid(rows, args.picture, nrow=3)
        print(f"wrote {args.picture} (rows: input | output | ground truth)")


def main() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train-default", help="train the shipped default upscaler")
    p.add_argument("--out", default="runs/sr-default")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.set_defaults(func=train_default)
    p = sub.add_parser("export", help="write a run's generator as the shipped weights")
    p.add_argument("run")
    p.add_argument("--dest", default=str(ROOT / "src/gentool/weights/sr-unet-x4.safetensors"))
    p.set_defaults(func=export)
    p = sub.add_parser("photos", help="default upscaler vs bicubic on held-out photos")
    p.add_argument("--ckpt", default=None, help="an image2image checkpoint [default: shipped]")
    p.add_argument("--lpips-weights", default=None, help="torchvision alexnet weights file")
    p.add_argument("--json", default=None)
    p.set_defaults(func=photos)
    p = sub.add_parser("memory", help="peak memory of upscaling a large image on the CPU")
    p.add_argument("--width", type=int, default=4000)
    p.add_argument("--height", type=int, default=3000)
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--stub", action="store_true", help="a near-free network of the same scale")
    p.set_defaults(func=memory)
    p = sub.add_parser("faces", help="16->64 anime faces: train briefly, compare with bilinear")
    p.add_argument("--out", default="runs/sr-faces")
    p.add_argument("--steps", type=int, default=250)
    p.add_argument("--limit", type=int, default=800, help="test images to measure")
    p.add_argument("--eval-only", action="store_true")
    p.add_argument("--json", default=None)
    p.add_argument("--picture", default=str(ROOT / "docs/img/sr/faces.png"))
    p.set_defaults(func=faces)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    args.func(args)


if __name__ == "__main__":
    main()
