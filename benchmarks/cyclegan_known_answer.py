"""CycleGAN on two domains where the right answer is known: faces and posterised faces.

Domain A is one set of anime faces as they are; domain B is a *different* set of faces,
posterised (PIL ``ImageOps.posterize``, ``--bits`` bits per channel). Training is unpaired,
but for held-out faces the correct A -> B translation is known exactly: ``posterize(face)``.
The script builds the folders (at the training resolution, so decoding changes nothing),
trains ``gentool train cyclegan`` on them, then reports on held-out faces:

* the cycle reconstruction error both ways (A -> B -> A and B -> A -> B);
* the error of ``G_AB(face)`` to ``posterize(face)``, beside the identity map (the face
  itself) as a baseline;
* the error of ``G_BA(posterize(face))`` to ``face``, beside the identity map (posterising
  throws information away, so this direction has no unique answer: reference only);
* the mode-collapse indicator: output diversity vs input diversity, both ways;
* the "style gap" of ``G_AB`` outputs: their mean distance to their own posterisation (0 for
  any posterised image, whatever its content), i.e. whether the style was learnt at all.

and writes grids to ``--img-dir``. Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/cyclegan_known_answer.py --steps 1800

The folders are built once under ``--work`` (delete it to rebuild); each generator trains
into ``--work/run-GENERATOR``. ``--skip-train`` evaluates an existing run again.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import time
from pathlib import Path

import torch
from PIL import Image, ImageOps

from gentool.checkpoint import load_checkpoint
from gentool.data.base import DataSpec, to_float, to_uint8
from gentool.images import save_grid
from gentool.loading import load_data, model_from_checkpoint
from gentool.metrics.translation import cycle_metrics, diversity_metrics, paired_metrics
from gentool.training.runner import train

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FACES = ROOT / ".." / "shared" / "data" / "anime-faces" / "images"


def build_domains(
    faces: Path, work: Path, size: int, bits: int, per_domain: int, held: int
) -> None:
    """Write trainA/, trainB/ (posterised), testA/ + testA_truth/, testB/ + testB_truth/."""
    files = sorted(p for p in faces.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    random.Random(0).shuffle(files)
    needed = 2 * per_domain + 2 * held
    if len(files) < needed:
        raise SystemExit(f"need {needed} faces in {faces}, found {len(files)}")
    groups = {
        "trainA": files[:per_domain],
        "trainB": files[per_domain : 2 * per_domain],
        "testA": files[2 * per_domain : 2 * per_domain + held],
        "testB": files[2 * per_domain + held : needed],
    }
    for name in ("trainA", "trainB", "testA", "testB", "testA_truth", "testB_truth"):
        shutil.rmtree(work / name, ignore_errors=True)
        (work / name).mkdir(parents=True)
    for name, paths in groups.items():
        for path in paths:
            face = Image.open(path).convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
            poster = ImageOps.posterize(face, bits)
            stem = path.stem + ".png"
            if name == "trainA":
                face.save(work / name / stem)
            elif name == "trainB":
                poster.save(work / name / stem)
            elif name == "testA":
                face.save(work / "testA" / stem)
                poster.save(work / "testA_truth" / stem)
            else:
                poster.save(work / "testB" / stem)
                face.save(work / "testB_truth" / stem)


def style_gap(images: torch.Tensor, bits: int) -> float:
    """Mean distance (pixels in [0, 1]) of uint8 images to their own ``bits``-bit posterisation."""
    step = 2 ** (8 - bits)
    return float((images.long() % step).float().mean() / 255.0)


def folder_images(folder: Path, size: int) -> tuple[torch.Tensor, list[str]]:
    data = load_data(DataSpec(name="folder", root=str(folder), image_size=size, split="all"))
    return data.images, [Path(f).name for f in data.files]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "cyclegan-known-answer")
    parser.add_argument("--img-dir", type=Path, default=ROOT / "docs" / "img" / "cyclegan")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--bits", type=int, default=2)
    parser.add_argument("--per-domain", type=int, default=2000)
    parser.add_argument("--held-out", type=int, default=200)
    parser.add_argument("--steps", type=int, default=1800)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--generator", default="resnet")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--blocks", type=int, default=6)
    parser.add_argument("--unet-depth", type=int, default=4)
    parser.add_argument("--d-width", type=int, default=32)
    parser.add_argument("--d-layers", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--skip-train", action="store_true")
    args = parser.parse_args()
    if not args.faces.is_dir():
        raise SystemExit(f"{args.faces} is not a folder of faces; pass --faces DIR")
    work = args.work
    run = work / f"run-{args.generator}"
    seconds = None
    if not args.skip_train:
        if not (work / "testB_truth").is_dir():
            build_domains(args.faces, work, args.size, args.bits, args.per_domain, args.held_out)
        start = time.perf_counter()
        train(
            "cyclegan",
            loss="ls",
            model_options={
                "generator": args.generator,
                "width": args.width,
                "n_res_blocks": args.blocks,
                "unet_depth": args.unet_depth,
                "d_width": args.d_width,
                "d_layers": args.d_layers,
            },
            data=DataSpec(name="folder", root=str(work / "trainA"), image_size=args.size),
            extra={"domain_a": str(work / "trainA"), "domain_b": str(work / "trainB")},
            steps=args.steps,
            batch_size=args.batch_size,
            log_every=50,
            sample_every=max(args.steps // 6, 1),
            checkpoint_every=500,
            device=args.device,
            out=str(run),
            overwrite=True,
        )
        seconds = time.perf_counter() - start

    ckpt = load_checkpoint(run)
    model = model_from_checkpoint(ckpt)
    test_a, names_a = folder_images(work / "testA", args.size)
    truth_a, names_ta = folder_images(work / "testA_truth", args.size)
    test_b, names_b = folder_images(work / "testB", args.size)
    truth_b, names_tb = folder_images(work / "testB_truth", args.size)
    assert names_a == names_ta and names_b == names_tb, "held-out pairs do not line up"
    results: dict[str, float] = {}
    results.update(cycle_metrics(model, test_a, test_b))
    results.update(paired_metrics(model, test_a, truth_a, "a2b"))
    results.update(paired_metrics(model, test_b, truth_b, "b2a"))
    results.update(diversity_metrics(model, test_a, test_b))
    diversity_truth = diversity_metrics(_Identity(), truth_a, truth_b)
    results["diversity_truth_b"] = diversity_truth["diversity_ab"]
    # How posterised do the outputs look, whatever their content? 0 for posterised images.
    with torch.no_grad():
        fake_b = to_uint8(model.translate(to_float(test_a), "a2b").clamp(-1, 1))
    results["a2b_style_gap"] = style_gap(fake_b, args.bits)
    results["identity_a2b_style_gap"] = style_gap(test_a, args.bits)
    results["truth_b_style_gap"] = style_gap(truth_a, args.bits)

    # Grids: input | translation | ground truth | reconstruction, 8 held-out faces each way.
    args.img_dir.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        for direction, inputs, truth in (("a2b", test_a, truth_a), ("b2a", test_b, truth_b)):
            back = "b2a" if direction == "a2b" else "a2b"
            x = to_float(inputs[:8])
            out = model.translate(x, direction).clamp(-1, 1)
            rec = model.translate(out, back).clamp(-1, 1)
            rows = torch.stack([x, out, to_float(truth[:8]), rec], 1).flatten(0, 1)
            save_grid(rows, args.img_dir / f"{args.generator}-heldout-{direction}.png", nrow=4)
    samples = sorted((run / "samples").glob("step_*.png"))
    if samples:
        shutil.copy(samples[-1], args.img_dir / f"{args.generator}-train-samples.png")
    meta = ckpt.meta
    info = {
        "step": meta.get("step"),
        "train_seconds": seconds,
        "omp_threads": os.environ.get("OMP_NUM_THREADS"),
        "model_config": meta["model_config"],
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    (work / f"results-{args.generator}.json").write_text(
        json.dumps({"info": info, "metrics": results}, indent=2)
    )
    print(f"step {info['step']}, trained in {seconds and round(seconds)} s")
    print("| measure | model | identity map |")
    print("| --- | --- | --- |")
    for direction in ("a2b", "b2a"):
        for key in ("mse", "psnr", "ssim"):
            print(
                f"| {direction} {key} to ground truth | {results[f'{direction}_{key}']:.4f} | "
                f"{results[f'identity_{direction}_{key}']:.4f} |"
            )
    print(
        f"| a2b style gap (distance to own posterisation) | {results['a2b_style_gap']:.4f} | "
        f"{results['identity_a2b_style_gap']:.4f} |"
    )
    for key in sorted(results):
        if key.startswith(("cycle_", "diversity")):
            print(f"| {key} | {results[key]:.4f} | |")


class _Identity(torch.nn.Module):
    """A translation model that returns its input (to measure the diversity of targets)."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))

    def translate(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        return images


if __name__ == "__main__":
    main()
