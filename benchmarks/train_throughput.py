"""Training throughput: gentool's training step against plain eager reference loops.

For each model a reference iteration is written here in the style of the PyTorch examples
(DCGAN example: BCE, Adam, D on real then fake, G through D; VAE example: reparameterise,
binary cross-entropy + KL; super-resolution: L1 + a least-squares PatchGAN term), using fresh
copies of the same networks, so the table compares the training *step*, not the networks.
Both run in the same process on the same data, interleaved in blocks, after warm-up, with
device synchronisation; compile time (with --compile) is reported apart.

    python benchmarks/train_throughput.py                         # DCGAN-64 (64, 128), VAE, SR
    python benchmarks/train_throughput.py --models dcgan --device cuda --compile \\
        --precision bf16 --channels-last --profile                # + where the GPU time goes
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gentool.data.base import DataSpec, ImageData, to_float
from gentool.data.degrade import degrade
from gentool.losses.builtin import BceLoss, LeastSquaresLoss
from gentool.models.dcgan import Dcgan
from gentool.models.srunet import SrUnet
from gentool.models.vae import ConvVae
from gentool.training.base import Trainer, TrainSettings
from gentool.training.gan import GanTrainer
from gentool.training.image2image import Image2ImageTrainer
from gentool.training.vae import VaeTrainer

Step = Callable[[], None]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def adam(params: Any) -> torch.optim.Optimizer:
    """What the PyTorch examples use: default Adam (for-loop or foreach as torch picks)."""
    return torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999))


def random_batch(
    images: torch.Tensor, batch: int, device: torch.device, gen: torch.Generator
) -> torch.Tensor:
    idx = torch.randint(0, images.shape[0], (batch,), generator=gen)
    return to_float(images[idx].to(device))


# --- reference loops ---------------------------------------------------------------------------


def reference_dcgan(model: Dcgan, images: torch.Tensor, batch: int, device: torch.device) -> Step:
    generator, discriminator = model.generator, model.discriminator
    criterion = nn.BCEWithLogitsLoss()
    opt_d, opt_g = adam(discriminator.parameters()), adam(generator.parameters())
    ones = torch.ones(batch, device=device)
    zeros = torch.zeros(batch, device=device)
    gen = torch.Generator().manual_seed(0)
    latent = model.config.latent_dim

    def step() -> None:
        real = random_batch(images, batch, device, gen)
        discriminator.zero_grad()
        criterion(discriminator(real).flatten(), ones).backward()
        fake = generator(torch.randn(batch, latent, device=device))
        criterion(discriminator(fake.detach()).flatten(), zeros).backward()
        opt_d.step()
        generator.zero_grad()
        criterion(discriminator(fake).flatten(), ones).backward()
        opt_g.step()

    return step


def reference_vae(model: ConvVae, images: torch.Tensor, batch: int, device: torch.device) -> Step:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)

    def step() -> None:
        x = random_batch(images, batch, device, gen)
        opt.zero_grad()
        stats = model.encoder(x)
        mu, logvar = stats.chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        logits = model.decoder(z)
        bce = F.binary_cross_entropy_with_logits(logits, (x + 1) / 2, reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        ((bce + kld) / batch).backward()
        opt.step()

    return step


def reference_sr(
    model: SrUnet, images: torch.Tensor, batch: int, device: torch.device, patch: int
) -> Step:
    generator, discriminator = model.generator, model.discriminator
    assert discriminator is not None
    opt_d, opt_g = adam(discriminator.parameters()), adam(generator.parameters())
    gen = torch.Generator().manual_seed(0)
    size = images.shape[-1]

    def step() -> None:
        idx = torch.randint(0, images.shape[0], (batch,), generator=gen)
        y, x = torch.randint(0, size - patch + 1, (2,), generator=gen).tolist()
        hr = to_float(images[idx, :, y : y + patch, x : x + patch].to(device))
        low = degrade(hr, model.scale)
        cond = F.interpolate(low, scale_factor=model.scale, mode="bilinear", align_corners=False)
        out = generator(cond)
        opt_d.zero_grad()
        real_scores = discriminator(cond, hr)
        fake_scores = discriminator(cond, out.detach())
        d_loss = 0.5 * ((real_scores - 1).pow(2).mean() + fake_scores.pow(2).mean())
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        g_loss = F.l1_loss(out, hr) + 0.01 * 0.5 * (discriminator(cond, out) - 1).pow(2).mean()
        g_loss.backward()
        opt_g.step()

    return step


# --- the cases ---------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    batch: int
    trainer: Trainer
    reference: Step


def settings_for(args: argparse.Namespace, batch: int) -> TrainSettings:
    return TrainSettings(
        batch_size=batch,
        device=args.device,
        out="/tmp/gentool-bench",
        precision=args.precision,
        channels_last=args.channels_last,
        compile=args.compile,
        cuda_graphs=args.cuda_graphs,
    )


def build_case(kind: str, batch: int, args: argparse.Namespace) -> Case:
    torch.manual_seed(0)
    size = args.image_size if kind != "sr-unet" else args.sr_image_size
    count = max(1024, 2 * batch)
    images = torch.randint(0, 256, (count, 3, size, size), dtype=torch.uint8)
    data = ImageData(images=images, name="random")
    settings = settings_for(args, batch)
    spec = DataSpec(name="random")
    if kind == "dcgan":
        options = {"g_width": args.width, "d_width": args.width}
        loss = BceLoss()
        trainer_cls = GanTrainer
        trainer = trainer_cls(
            Dcgan(Dcgan.configure(options, data, loss=loss)),
            data,
            settings,
            data_spec=spec,
            loss=loss,
        )
        ref_model = Dcgan(Dcgan.configure(options, data, loss=loss)).to(trainer.device)
        reference = reference_dcgan(ref_model, images, batch, trainer.device)
        name = f"DCGAN-{size} (width {args.width})"
    elif kind == "vae":
        config = ConvVae.configure({}, data)
        trainer = VaeTrainer(ConvVae(config), data, settings, data_spec=spec)
        ref_model = ConvVae(ConvVae.configure({}, data)).to(trainer.device)
        reference = reference_vae(ref_model, images, batch, trainer.device)
        name = f"VAE-{size} (width {config.width}, latent {config.latent_dim})"
    elif kind == "sr-unet":
        loss = LeastSquaresLoss()
        config = SrUnet.configure({}, data, loss=loss)
        trainer = Image2ImageTrainer(SrUnet(config), data, settings, data_spec=spec, loss=loss)
        ref_model = SrUnet(SrUnet.configure({}, data, loss=loss)).to(trainer.device)
        patch = min(64, size)
        reference = reference_sr(ref_model, images, batch, trainer.device, patch)
        name = f"SR U-Net 4x ({patch}px crops)"
    else:
        raise SystemExit(f"unknown model {kind}; choose dcgan, vae, sr-unet")
    return Case(name, batch, trainer, reference)


def measure(step: Step, steps: int, device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return time.perf_counter() - start


KERNEL_GROUPS = (
    (
        "convolution / matmul",
        ("conv", "cudnn", "gemm", "xmma", "cutlass", "sm90", "sm80", "wgrad", "dgrad"),
    ),
    ("batch norm", ("batch_norm", "batchnorm", "bn_")),
    ("optimizer (Adam)", ("adam", "multi_tensor", "foreach")),
    ("copies and casts", ("copy", "cast", "memcpy", "memset", "fill")),
)


def _group(name: str) -> str:
    lowered = name.lower()
    for group, needles in KERNEL_GROUPS:
        if any(n in lowered for n in needles):
            return group
    return "elementwise, reductions, other"


def profile_summary(step: Step, device: torch.device, steps: int = 10, rows: int = 12) -> str:
    """Where a step's time goes: device kernel time by kind against wall time per step, and
    the top operators by self device (or CPU) time."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        wall = measure(step, steps, device)
    lines = [f"profile of {steps} steps: {1e3 * wall / steps:.3f} ms wall per step (profiler on)"]
    if device.type == "cuda":
        groups: dict[str, float] = {}
        launches = 0
        for event in prof.events():
            if event.device_type != DeviceType.CUDA:
                continue
            launches += 1
            duration = getattr(event, "device_time", None) or getattr(event, "cuda_time", 0.0)
            groups[_group(event.name)] = groups.get(_group(event.name), 0.0) + duration
        busy = sum(groups.values())
        lines.append(
            f"GPU busy {busy / 1e3 / steps:.3f} ms per step ({100 * busy / 1e6 / wall:.0f}% of "
            f"wall), {launches / steps:.0f} kernels and copies per step"
        )
        for group, duration in sorted(groups.items(), key=lambda kv: -kv[1]):
            lines.append(
                f"  {group:32} {duration / 1e3 / steps:7.3f} ms/step  {100 * duration / busy:5.1f}%"
            )
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    lines.append(str(prof.key_averages().table(sort_by=key, row_limit=rows)))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="dcgan,vae,sr-unet")
    parser.add_argument("--batch-sizes", default="64,128", help="DCGAN batch sizes")
    parser.add_argument("--vae-batch", type=int, default=128)
    parser.add_argument("--sr-batch", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--sr-image-size", type=int, default=96)
    parser.add_argument(
        "--width", type=int, default=128, help="DCGAN width (128 = the paper's table at 64x64)"
    )
    parser.add_argument("--steps", type=int, default=5, help="steps per timed block")
    parser.add_argument(
        "--blocks", type=int, default=3, help="timed blocks per implementation (interleaved)"
    )
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument(
        "--cuda-graphs", action="store_true", help="replay gentool's GAN step as a CUDA graph"
    )
    parser.add_argument(
        "--profile", action="store_true", help="print the top operators of gentool's step"
    )
    args = parser.parse_args()

    plan: list[tuple[str, int]] = []
    for kind in args.models.split(","):
        if kind == "dcgan":
            plan += [("dcgan", int(b)) for b in args.batch_sizes.split(",")]
        elif kind == "vae":
            plan.append(("vae", args.vae_batch))
        else:
            plan.append((kind, args.sr_batch))

    rows = []
    for kind, batch in plan:
        case = build_case(kind, batch, args)
        trainer, device = case.trainer, case.trainer.device

        def ours(trainer: Trainer = trainer) -> None:
            trainer.run_step(trainer.batch())

        compile_s = measure(ours, 1, device) if args.compile else 0.0
        # with --cuda-graphs: 3 eager warm-up steps, then the capture, before any timing
        measure(ours, args.warmup + (4 if args.cuda_graphs else 0), device)
        measure(case.reference, args.warmup, device)
        ref_times, our_times = [], []
        for _ in range(args.blocks):
            ref_times.append(measure(case.reference, args.steps, device))
            our_times.append(measure(ours, args.steps, device))
        ref_ips = batch * args.steps / statistics.median(ref_times)
        our_ips = batch * args.steps / statistics.median(our_times)
        rows.append((case.name, batch, str(device), ref_ips, our_ips, our_ips / ref_ips, compile_s))
        print(
            f"done: {case.name} batch {batch}: reference {ref_ips:.1f} img/s, gentool "
            f"{our_ips:.1f} img/s, ratio {our_ips / ref_ips:.2f}",
            flush=True,
        )
        if args.profile:
            print(f"--- reference step, {case.name} batch {batch}")
            print(profile_summary(case.reference, device))
            print(f"--- gentool step, {case.name} batch {batch}")
            print(profile_summary(ours, device))

    print(
        f"{args.precision}{', channels_last' if args.channels_last else ''}"
        f"{', compiled' if args.compile else ''}{', CUDA graphs' if args.cuda_graphs else ''}; median of {args.blocks} interleaved blocks of "
        f"{args.steps} steps; one step = a full training iteration (D + G, or one VAE update)"
    )
    print("| model | batch | device | reference img/s | gentool img/s | ratio | compile s |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
    for name, batch, device, ref_ips, our_ips, ratio, compile_s in rows:
        print(
            f"| {name} | {batch} | {device} | {ref_ips:.1f} | {our_ips:.1f} | {ratio:.2f} | {compile_s:.1f} |"
        )


if __name__ == "__main__":
    main()
