"""Super-resolution quality: the shipped upscalers vs bicubic, and the 16->64 face setting.

Sub-commands (run from the project root, ``PYTHONPATH=src`` when not installed)::

    python benchmarks/sr_quality.py train-default --out runs/sr-default   # the shipped model
    python benchmarks/sr_quality.py export runs/sr-default                # -> src/gentool/weights/
    python benchmarks/sr_quality.py train-resnet --out RUN [--resume] [--steps N]  # sr-resnet
    python benchmarks/sr_quality.py export RUN --dest src/gentool/weights/sr-resnet-x4.safetensors
    python benchmarks/sr_quality.py photos [--ckpt CKPT ...] [--lpips-weights FILE]
    python benchmarks/sr_quality.py kinds [--ckpt CKPT ...] [--pictures docs/img/sr]  # inputs
    python benchmarks/sr_quality.py faces-shipped          # shipped models on the test faces
    python benchmarks/sr_quality.py picture                # docs/img/sr/crops.png
    python benchmarks/sr_quality.py memory [--model sr-unet|sr-resnet]   # 4000x3000 on CPU
    python benchmarks/sr_quality.py faces --out runs/sr-faces [--steps N]

``photos`` evaluates on the held-out 20% of ``../shared/data/sr-photos`` (the images the
shipped models never saw: the same seeded split as ``DataSpec(test_fraction=0.2)``) and prints
PSNR-Y (scale pixels shaved), SSIM-Y and LPIPS for bicubic upsampling and, in the same run,
every shipped upscaler and each ``--ckpt``.
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
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared" / "data"
PHOTOS = SHARED / "sr-photos"
FACES = SHARED / "anime-faces"
#: Fraction of sr-photos held out from the default model's training, for reporting.
PHOTO_TEST_FRACTION = 0.2
#: How the shipped default model is trained (see docs/upscale.md).
DEFAULT_MODEL_OPTIONS = {"scale": 4, "width": 16, "max_width": 128, "depth": 4}
DEFAULT_TRAIN: dict[str, Any] = {
    "steps": 1200,
    "batch_size": 16,
    "lr_g": 5e-4,
    "beta1": 0.9,
    "log_every": 50,
    "sample_every": 250,
    "checkpoint_every": 250,
    "extra": {"adv_weight": "0", "pixel": "l1", "patch": "64"},
}


#: The shipped sr-resnet (see docs/upscale.md): 0.37 M parameters, computing at the input size.
RESNET_MODEL_OPTIONS = {"scale": 4, "width": 48, "blocks": 8}
RESNET_TRAIN: dict[str, Any] = {
    "steps": 8000,
    "batch_size": 16,
    "lr_g": 4e-4,
    "beta1": 0.9,
    "log_every": 50,
    "sample_every": 1000,
    "checkpoint_every": 250,
    "extra": {"adv_weight": "0", "pixel": "l1", "patch": "96", "full_res": "true"},
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


def train_resnet(args: argparse.Namespace) -> None:
    """sr-resnet on the 118 training photos at full resolution (random 96 px crops)."""
    from gentool.data.base import DataSpec
    from gentool.training.runner import resume, train

    start = time.perf_counter()
    if args.resume:
        ckpt = resume(args.out, steps=args.steps, device="cpu")
    else:
        spec = DataSpec(
            name="folder",
            root=str(PHOTOS.resolve()),
            image_size=64,  # only for the fingerprint: full_res crops the photos themselves
            split="train",
            test_fraction=PHOTO_TEST_FRACTION,
        )
        settings = dict(RESNET_TRAIN)
        settings["extra"] = dict(settings["extra"])
        settings["steps"] = args.steps or settings["steps"]
        if args.patch:
            settings["extra"]["patch"] = str(args.patch)
        if args.lr:
            settings["lr_g"] = args.lr
        if args.pixel:
            settings["extra"]["pixel"] = args.pixel
        if args.ema:
            settings["ema"] = args.ema
        if args.degradation:
            settings["extra"]["degradation"] = args.degradation
        if args.batch:
            settings["batch_size"] = args.batch
        for key in ("p_blur", "p_noise", "p_jpeg"):
            if getattr(args, key) is not None:
                settings["extra"][key] = str(getattr(args, key))
        width = args.width or RESNET_MODEL_OPTIONS["width"]
        ckpt = train(
            "sr-resnet",
            model_options=dict(RESNET_MODEL_OPTIONS, blocks=args.blocks, width=width),
            data=spec,
            out=args.out,
            overwrite=True,
            device="cpu",
            init_from=args.init_from,
            **settings,
        )
    print(f"trained {ckpt} in {time.perf_counter() - start:.0f} s")


def deepen(args: argparse.Namespace) -> None:
    """Write a deeper ``sr-resnet`` that computes what a trained one computes, to start a new
    stage from (``train-resnet --blocks N --init-from OUT``): see ``srresnet.deepen``."""
    from gentool.checkpoint import save_checkpoint
    from gentool.models.srresnet import SrResnet
    from gentool.models.srresnet import deepen as deepen_model
    from gentool.upscale import load_upscaler

    model = load_upscaler(args.ckpt, "cpu")
    if not isinstance(model, SrResnet):
        raise SystemExit(f"{args.ckpt} holds model '{model.PLUGIN_NAME}', not sr-resnet")
    torch.manual_seed(args.seed)
    deeper = deepen_model(model, args.blocks).eval()
    low = torch.rand(1, 3, 24, 24) * 2 - 1
    with torch.no_grad():
        gap = (deeper.upscale(low) - model.upscale(low)).abs().max().item()
    tensors = {f"model.{k}": v for k, v in deeper.state_dict().items()}
    meta = {
        "model": "sr-resnet",
        "family": "image2image",
        "model_config": deeper.config_dict(),
        "trained": {"deepened_from": str(Path(args.ckpt).resolve())},
    }
    save_checkpoint(args.out, tensors, meta)
    print(f"wrote {args.out}: {args.blocks} blocks, max output gap to {args.ckpt} {gap:.1e}")


def export(args: argparse.Namespace) -> None:
    from gentool.upscale import export_upscaler

    dest = Path(args.dest)
    export_upscaler(args.run, dest)
    print(f"wrote {dest} ({dest.stat().st_size / 1e6:.2f} MB)")


def _models(args: argparse.Namespace) -> dict[str, Any]:
    """``{label: model}``: every shipped upscaler installed (``--shipped``, the default), then
    each ``--ckpt`` (labelled by its model name and the file)."""
    from gentool.checkpoint import load_checkpoint
    from gentool.upscale import SHIPPED_MODELS, _shipped, load_upscaler

    models: dict[str, Any] = {}
    if args.shipped:
        for name in reversed(SHIPPED_MODELS):  # older model first
            if _shipped(name).is_file():
                models[f"{name} (shipped)"] = load_upscaler(None, "cpu", name)
    for ckpt in args.ckpt or []:
        model = load_upscaler(ckpt, "cpu")
        path = Path(ckpt)
        # a run's checkpoint by its folder (every run's file is ckpt.safetensors)
        where = path.parent.name if path.name == "ckpt.safetensors" else path.name
        where = path.name if path.is_dir() else where
        models[f"{model.PLUGIN_NAME} ({where})"] = model
        if getattr(args, "raw", False) and load_checkpoint(ckpt).section("ema"):
            raw = load_upscaler(ckpt, "cpu", use_ema=False)
            models[f"{model.PLUGIN_NAME} ({where}, no EMA)"] = raw
    return models


def photos(args: argparse.Namespace) -> None:
    """Bicubic and every upscaler on the held-out photos, in one run: a table per set."""
    from gentool.metrics.image_quality import evaluate_upscaler

    models = _models(args)
    paths = held_out_photos()
    results: dict[str, Any] = {}
    times: dict[str, float] = {}
    runs = [(label, model, False) for label, model in models.items()]
    if args.ensemble:  # each model again, averaged over the 8 flips and turns
        runs += [(f"{label} x8 ensemble", model, True) for label, model in models.items()]
    for label, model, ensemble in runs:
        start = time.perf_counter()
        results[label] = evaluate_upscaler(
            model, paths, scale=4, lpips_weights=args.lpips_weights, ensemble=ensemble
        )
        times[label] = time.perf_counter() - start
    first = next(iter(results.values()))
    metrics = list(first["mean"]["baseline"])
    load = os.getloadavg()
    print(
        f"held-out sr-photos, x4, {len(paths)} images; load average {load[0]:.1f} "
        f"{load[1]:.1f} {load[2]:.1f}; "
        + ", ".join(f"{label}: {t:.0f} s" for label, t in times.items())
    )
    print(f"{'set':<10} {'n':>3} {'method':<36} " + " ".join(f"{m:>9}" for m in metrics))
    groups: dict[str, list[int]] = {"all": list(range(len(first["rows"])))}
    for position, row in enumerate(first["rows"]):
        groups.setdefault(Path(row["file"]).parent.name, []).append(position)
    summary: dict[str, Any] = {}
    for group, index in groups.items():
        methods = [("bicubic", first, "baseline")]
        methods += [(label, result, "model") for label, result in results.items()]
        for label, result, key in methods:
            rows = [result["rows"][i] for i in index]
            means = {m: sum(r[key][m] for r in rows) / len(rows) for m in metrics}
            summary.setdefault(group, {})[label] = means
            values = " ".join(f"{v:>9.4f}" for v in means.values())
            print(f"{group:<10} {len(rows):>3} {label:<36} {values}")
    if first["lpips"]:
        print(f"LPIPS not measured: {first['lpips']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "results": results}, indent=2))


def shipped_faces(args: argparse.Namespace) -> None:
    """Bicubic and every upscaler on the anime faces' test split, 16x16 -> 64x64 (PSNR-Y and
    SSIM-Y with 4 pixels shaved, as on the photos)."""
    from gentool.data.base import to_float
    from gentool.data.degrade import degrade
    from gentool.metrics.image_quality import psnr_y, rgb_to_y, shave, ssim

    models = _models(args)
    images = _face_data("test").images[: args.limit]
    scores: dict[str, list[torch.Tensor]] = {"bicubic": []}
    scores.update({label: [] for label in models})
    with torch.no_grad():
        for batch in images.split(50):
            target = to_float(batch)
            low = degrade(target, 4)
            outputs = {"bicubic": F.interpolate(low, scale_factor=4, mode="bicubic")}
            outputs.update({label: m.upscale(low) for label, m in models.items()})
            truth = shave(target.add(1).mul(127.5).round(), 4)
            for label, out in outputs.items():
                image = shave(out.clamp(-1, 1).add(1).mul(127.5).round(), 4)
                scores[label].append(
                    torch.stack(
                        [psnr_y(image, truth), ssim(rgb_to_y(image), rgb_to_y(truth))], 1
                    ).double()
                )
    print(f"anime faces test split: {len(images)} faces, 16x16 -> 64x64, 4 px shaved")
    print(f"{'method':<36} {'PSNR-Y':>8} {'SSIM-Y':>8}")
    for label, parts in scores.items():
        values = torch.cat(parts).mean(0)
        print(f"{label:<36} {values[0]:>8.2f} {values[1]:>8.4f}")


def _photo_image(width: int, height: int) -> Any:
    """A ``width x height`` RGB picture made from a real held-out photo (its bicubic
    enlargement: real photo content, for timing; not for quality)."""
    from PIL import Image

    photo = Image.open(held_out_photos()[-1]).convert("RGB")
    return photo.resize((width, height), Image.Resampling.BICUBIC)


def memory(args: argparse.Namespace) -> None:
    """Time, seconds per input megapixel and peak RSS of upscaling one large image on the CPU
    (one model per process: peak RSS only grows)."""
    import resource

    import numpy as np
    from PIL import Image

    import gentool.upscale
    from gentool.upscale import count_tiles, load_upscaler, upscale_image

    layouts = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}
    gentool.upscale.CONV_LAYOUT = layouts[args.layout]  # contiguous: as before
    if args.stub:
        # The same tiling, blending and file code around a near-free network of the same
        # scale: measures the pipeline's memory without the convolutions.
        from gentool.models.srunet import SrUnet, SrUnetConfig

        model: Any = SrUnet(SrUnetConfig(width=1, max_width=1, depth=1, with_discriminator=False))
        model.eval()
        label = "stub"
    elif args.ckpt:
        model = load_upscaler(args.ckpt, "cpu")
        label = str(args.ckpt)
    else:
        model = load_upscaler(None, "cpu", args.model)
        label = f"{model.PLUGIN_NAME} (shipped)"
    if args.synthetic:
        rng = np.random.default_rng(0)
        coarse = rng.integers(0, 256, (args.height // 8, args.width // 8, 3), dtype=np.uint8)
        img = Image.fromarray(coarse).resize((args.width, args.height), Image.Resampling.BICUBIC)
    else:
        img = _photo_image(args.width, args.height)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    out = upscale_image(model, img, tile=args.tile, overlap=16)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    output_mb = out.width * out.height * 3 / 2**20
    load = os.getloadavg()
    tiles = count_tiles(args.height, args.width, args.tile, 16)
    megapixels = args.width * args.height / 1e6
    print(
        f"{label}, {args.width}x{args.height} -> {out.width}x{out.height}, tile {args.tile} "
        f"({tiles} tiles), {args.layout} tiles, {torch.get_num_threads()} threads: "
        f"{elapsed:.0f} s "
        f"({elapsed / megapixels:.1f} s per input megapixel), peak RSS {peak:.0f} MiB (before "
        f"{before:.0f} MiB; the output picture alone is {output_mb:.0f} MiB); load average "
        f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )


def speed(args: argparse.Namespace) -> None:
    """CPU seconds per output megapixel of every shipped model (and ``--ckpt``s), beside
    Pillow's bicubic resize as the reference, in one process: each model upscales the same
    real photo (``--width`` x ``--height`` input) through ``upscale_image`` as ``gentool
    upscale`` does (tiles, blending, 8-bit output), best of ``--repeat`` runs."""
    from PIL import Image

    from gentool.upscale import upscale_image

    models = _models(args)
    img = _photo_image(args.width, args.height)
    out_mp = args.width * args.height * 16 / 1e6

    def best(run: Any) -> float:
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return min(times)

    size = (args.width * 4, args.height * 4)
    ref = best(lambda: img.resize(size, Image.Resampling.BICUBIC)) / out_mp
    rows = [("bicubic (Pillow)", ref)]
    for label, model in models.items():
        rows.append((label, best(lambda m=model: upscale_image(m, img)) / out_mp))
    load = os.getloadavg()
    print(
        f"{args.width}x{args.height} -> x4 ({out_mp:.1f} output MP), "
        f"{torch.get_num_threads()} threads, best of {args.repeat}; load average after "
        f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    print("| method | parameters | s per output MP | vs bicubic |")
    print("| --- | ---: | ---: | ---: |")
    for label, seconds in rows:
        model = models.get(label)
        params = f"{sum(p.numel() for p in model.parameters()) / 1e3:.0f} K" if model else "-"
        print(f"| {label} | {params} | {seconds:.3f} | {seconds / ref:.0f}x |")


def _crop_columns(
    models: dict[str, Any], hr: torch.Tensor, low: torch.Tensor
) -> tuple[list[torch.Tensor], list[str]]:
    """The columns of a crop picture (bicubic | each model as ``gentool upscale`` runs it |
    ground truth) from the crop ``hr`` and its input ``low``, with their headers."""
    from gentool.upscale import upscale_array

    columns = [F.interpolate(low, scale_factor=4, mode="bicubic").clamp(-1, 1)]
    low_image = low[0].permute(1, 2, 0).add(1).div(2).numpy()
    for model in models.values():
        out = upscale_array(model, low_image)
        columns.append(torch.from_numpy(out).permute(2, 0, 1)[None].float() / 127.5 - 1)
    columns.append(hr)
    return columns, ["bicubic", *(label.split(" ")[0] for label in models), "ground truth"]


def picture(args: argparse.Namespace) -> None:
    """A crop of a held-out photo: bicubic | each shipped model | ground truth, with headers."""
    from gentool.data.degrade import degrade
    from gentool.images import save_grid
    from gentool.metrics.image_quality import _read_rgb

    models = _models(args)
    path = held_out_photos()[args.index]
    hr = _read_rgb(path)
    top, left, side = args.top, args.left, args.side
    hr = hr[:, top : top + side, left : left + side].unsqueeze(0) / 127.5 - 1
    columns, labels = _crop_columns(models, hr, degrade(hr, 4))
    save_grid(torch.cat(columns), args.out, nrow=len(columns), column_labels=labels)
    print(f"wrote {args.out} ({path.parent.name}/{path.name}, {side} px crop at {left},{top})")


def kinds(args: argparse.Namespace) -> None:
    """Every model on the held-out photos under each input kind, beside bicubic, in one run:
    one table of PSNR-Y / SSIM-Y (rows: input kinds; columns: methods), and with
    ``--pictures DIR`` a crop comparison per input kind."""
    from gentool.data.degrade import INPUT_KINDS, degrade_as
    from gentool.images import save_grid
    from gentool.metrics.image_quality import _read_rgb, evaluate_upscaler

    models = _models(args)
    paths = held_out_photos()
    chosen = args.kind or list(INPUT_KINDS)
    table: dict[str, dict[str, dict[str, float]]] = {}
    times: dict[str, float] = {label: 0.0 for label in models}
    for kind in chosen:
        first = None
        for label, model in models.items():
            start = time.perf_counter()
            result = evaluate_upscaler(model, paths, scale=4, input_kind=kind)
            times[label] += time.perf_counter() - start
            first = first or result
            table.setdefault(kind, {})[label] = result["mean"]["model"]
        if first is None:
            first = evaluate_upscaler(None, paths, scale=4, input_kind=kind)
        table[kind] = {"bicubic": first["mean"]["baseline"], **table.get(kind, {})}
    load = os.getloadavg()
    print(
        f"held-out sr-photos, x4, {len(paths)} images, PSNR-Y dB / SSIM-Y (4 px shaved); load "
        f"average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; "
        + ", ".join(f"{label}: {t:.0f} s" for label, t in times.items())
    )
    methods = list(next(iter(table.values())))
    print("| input kind | " + " | ".join(methods) + " |")
    print("| --- |" + " ---: |" * len(methods))
    for kind, row in table.items():
        base = row["bicubic"]["psnr_y"]
        cells = []
        for method in methods:
            scores = row[method]
            gain = "" if method == "bicubic" else f" ({scores['psnr_y'] - base:+.2f})"
            cells.append(f"{scores['psnr_y']:.2f}{gain} / {scores['ssim_y']:.4f}")
        print(f"| {kind} | " + " | ".join(cells) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=2))
    if args.pictures:
        folder = Path(args.pictures)
        folder.mkdir(parents=True, exist_ok=True)
        path = paths[args.index]
        hr = _read_rgb(path)
        top, left, side = args.top, args.left, args.side
        hr = hr[:, top : top + side, left : left + side].unsqueeze(0) / 127.5 - 1
        for kind in chosen:
            columns, labels = _crop_columns(models, hr, degrade_as(hr, 4, kind, seed=0))
            target = folder / f"crops-{kind}.png"
            save_grid(
                torch.cat(columns),
                target,
                nrow=len(columns),
                column_labels=labels,
                row_labels=[kind],
            )
            print(f"wrote {target}")


def _face_data(split: str) -> Any:
    from gentool.data.base import DataSpec
    from gentool.loading import load_data

    return load_data(
        DataSpec(name="anime-faces", root=str(FACES.resolve()), image_size=64, split=split)
    )


def faces(args: argparse.Namespace) -> None:
    """Train sr-unet 16->64 (L1 + LSGAN PatchGAN) and compare it with bilinear on the test split."""

    from gentool.data.base import DataSpec, to_float
    from gentool.data.degrade import degrade
    from gentool.images import save_grid
    from gentool.metrics.image_quality import mse, psnr
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
    p = sub.add_parser("train-resnet", help="train sr-resnet on full-resolution photo crops")
    p.add_argument("--out", default="runs/sr-resnet")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--patch", type=int, default=None, help="crop side [default: 96]")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate [default: 4e-4]")
    p.add_argument("--init-from", default=None, help="start from this checkpoint's weights")
    p.add_argument("--pixel", choices=["l1", "mse"], default=None, help="pixel loss [l1]")
    p.add_argument("--blocks", type=int, default=RESNET_MODEL_OPTIONS["blocks"])
    p.add_argument("--ema", type=float, default=0.0, help="EMA decay of the weights [off]")
    p.add_argument("--width", type=int, default=None, help="feature channels [48]")
    p.add_argument("--batch", type=int, default=None, help="batch size [16]")
    p.add_argument(
        "--degradation", choices=["clean", "real"], default=None, help="input model [clean]"
    )
    for key in ("p_blur", "p_noise", "p_jpeg"):
        p.add_argument(f"--{key.replace('_', '-')}", dest=key, type=float, default=None)
    p.set_defaults(func=train_resnet)
    p = sub.add_parser("deepen", help="an sr-resnet with more blocks and the same output")
    p.add_argument("ckpt")
    p.add_argument("--blocks", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=deepen)
    p = sub.add_parser("export", help="write a run's generator as the shipped weights")
    p.add_argument("run")
    p.add_argument("--dest", default=str(ROOT / "src/gentool/weights/sr-unet-x4.safetensors"))
    p.set_defaults(func=export)
    p = sub.add_parser("photos", help="bicubic and the upscalers on the held-out photos")
    p.add_argument("--ckpt", action="append", help="also an image2image checkpoint (repeatable)")
    p.add_argument("--no-shipped", dest="shipped", action="store_false", help="only --ckpt")
    p.add_argument("--lpips-weights", default=None, help="torchvision alexnet weights file")
    p.add_argument("--ensemble", action="store_true", help="also each model's x8 self-ensemble")
    p.add_argument("--raw", action="store_true", help="also a --ckpt run's weights without EMA")
    p.add_argument("--json", default=None)
    p.set_defaults(func=photos)
    p = sub.add_parser("kinds", help="every model under each input kind, beside bicubic")
    p.add_argument("--ckpt", action="append", help="also an image2image checkpoint (repeatable)")
    p.add_argument("--no-shipped", dest="shipped", action="store_false", help="only --ckpt")
    p.add_argument("--kind", action="append", help="only these input kinds (repeatable)")
    p.add_argument("--json", default=None)
    p.add_argument("--pictures", default=None, help="write crops-KIND.png here")
    p.add_argument("--index", type=int, default=0, help="which held-out photo for pictures")
    p.add_argument("--top", type=int, default=100)
    p.add_argument("--left", type=int, default=100)
    p.add_argument("--side", type=int, default=128)
    p.set_defaults(func=kinds)
    p = sub.add_parser("faces-shipped", help="bicubic and the upscalers on the test faces")
    p.add_argument("--ckpt", action="append", help="also an image2image checkpoint (repeatable)")
    p.add_argument("--no-shipped", dest="shipped", action="store_false", help="only --ckpt")
    p.add_argument("--limit", type=int, default=800, help="test images to measure")
    p.set_defaults(func=shipped_faces)
    p = sub.add_parser("picture", help="crop comparison: bicubic | models | ground truth")
    p.add_argument("--ckpt", action="append", help="also an image2image checkpoint (repeatable)")
    p.add_argument("--no-shipped", dest="shipped", action="store_false", help="only --ckpt")
    p.add_argument("--index", type=int, default=0, help="which held-out photo")
    p.add_argument("--top", type=int, default=100)
    p.add_argument("--left", type=int, default=100)
    p.add_argument("--side", type=int, default=128)
    p.add_argument("--out", default=str(ROOT / "docs/img/sr/crops.png"))
    p.set_defaults(func=picture)
    p = sub.add_parser("speed", help="s per output megapixel of each model, beside bicubic")
    p.add_argument("--ckpt", action="append", help="also an image2image checkpoint (repeatable)")
    p.add_argument("--no-shipped", dest="shipped", action="store_false", help="only --ckpt")
    p.add_argument("--width", type=int, default=800)
    p.add_argument("--height", type=int, default=600)
    p.add_argument("--repeat", type=int, default=3)
    p.set_defaults(func=speed)
    p = sub.add_parser("memory", help="time and peak memory of upscaling a large image (CPU)")
    p.add_argument("--width", type=int, default=4000)
    p.add_argument("--height", type=int, default=3000)
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--model", default=None, help="a shipped model [default: the best]")
    p.add_argument("--ckpt", default=None, help="an image2image checkpoint instead")
    p.add_argument("--stub", action="store_true", help="a near-free network of the same scale")
    p.add_argument("--synthetic", action="store_true", help="smooth noise instead of a photo")
    p.add_argument(
        "--layout",
        choices=["channels_last", "contiguous"],
        default="channels_last",
        help="memory layout of the tiles (contiguous: as gentool did before)",
    )
    p.set_defaults(func=memory)
    p = sub.add_parser("faces", help="16->64 anime faces: train briefly, compare with bilinear")
    p.add_argument("--out", default="runs/sr-faces")
    p.add_argument("--steps", type=int, default=250)
    p.add_argument("--limit", type=int, default=800, help="test images to measure")
    p.add_argument("--eval-only", action="store_true")
    p.add_argument("--json", default=None)
    p.add_argument("--picture", default=None, help="also write rows input | output | truth here")
    p.set_defaults(func=faces)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    args.func(args)


if __name__ == "__main__":
    main()
