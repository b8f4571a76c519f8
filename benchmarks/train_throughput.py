"""Training throughput: gentool's GAN step against a plain eager reference loop.

The reference is written here in the style of the PyTorch DCGAN example (BCE, Adam, one
generator pass per iteration, D on real then fake, G through D), using the same generator and
discriminator modules, so the table compares the training *step*, not the networks. Both run
in the same process on the same data, interleaved in blocks, after warm-up, with device
synchronisation; compile time (with --compile) is reported apart.

    python benchmarks/train_throughput.py                         # DCGAN-64, batch 64 and 128
    python benchmarks/train_throughput.py --device cuda --compile --precision bf16 --channels-last
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from gentool.data.base import DataSpec, ImageData, to_float
from gentool.losses.builtin import BceLoss
from gentool.models.dcgan import Dcgan
from gentool.training.base import TrainSettings
from gentool.training.gan import GanTrainer


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reference_step_fn(
    generator: nn.Module, discriminator: nn.Module, images: torch.Tensor, batch: int, device: torch.device
) -> Callable[[], None]:
    """A plain eager DCGAN iteration, PyTorch-example style."""
    criterion = nn.BCEWithLogitsLoss()
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ones = torch.ones(batch, device=device)
    zeros = torch.zeros(batch, device=device)
    data_gen = torch.Generator().manual_seed(0)

    def step() -> None:
        idx = torch.randint(0, images.shape[0], (batch,), generator=data_gen)
        real = to_float(images[idx].to(device))
        discriminator.zero_grad()
        loss_real = criterion(discriminator(real), ones)
        loss_real.backward()
        noise = torch.randn(batch, 100, device=device)
        fake = generator(noise)
        loss_fake = criterion(discriminator(fake.detach()), zeros)
        loss_fake.backward()
        opt_d.step()
        generator.zero_grad()
        loss_g = criterion(discriminator(fake), ones)
        loss_g.backward()
        opt_g.step()

    return step


def gentool_step_fn(trainer: GanTrainer) -> Callable[[], None]:
    def step() -> None:
        trainer.train_step(trainer.batch())

    return step


def measure(step: Callable[[], None], steps: int, device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", default="64,128")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--width", type=int, default=128, help="DCGAN width (128 = the paper's table at 64x64)")
    parser.add_argument("--steps", type=int, default=5, help="steps per timed block")
    parser.add_argument("--blocks", type=int, default=3, help="timed blocks per implementation (interleaved)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()

    rows = []
    for batch in [int(b) for b in args.batch_sizes.split(",")]:
        torch.manual_seed(0)
        images = torch.randint(0, 256, (max(1024, 2 * batch), 3, args.image_size, args.image_size), dtype=torch.uint8)
        data = ImageData(images=images, name="random")
        settings = TrainSettings(
            batch_size=batch, device=args.device, out="/tmp/gentool-bench", precision=args.precision,
            channels_last=args.channels_last, compile=args.compile,
        )
        loss = BceLoss()
        config = Dcgan.configure({"g_width": args.width, "d_width": args.width}, data, loss=loss)
        trainer = GanTrainer(Dcgan(config), data, settings, data_spec=DataSpec(name="random"), loss=loss)
        device = trainer.device
        ref_config = Dcgan.configure({"g_width": args.width, "d_width": args.width}, data, loss=loss)
        ref_model = Dcgan(ref_config).to(device)
        reference = reference_step_fn(ref_model.generator, ref_model.discriminator, images, batch, device)
        ours = gentool_step_fn(trainer)

        compile_s = measure(ours, 1, device) if args.compile else 0.0
        measure(ours, args.warmup, device)
        measure(reference, args.warmup, device)
        ref_times, our_times = [], []
        for _ in range(args.blocks):
            ref_times.append(measure(reference, args.steps, device))
            our_times.append(measure(ours, args.steps, device))
        ref_ips = batch * args.steps / statistics.median(ref_times)
        our_ips = batch * args.steps / statistics.median(our_times)
        rows.append((batch, str(device), ref_ips, our_ips, our_ips / ref_ips, compile_s))

    print(f"DCGAN-{args.image_size} width {args.width}, {args.precision}"
          f"{', channels_last' if args.channels_last else ''}{', compiled' if args.compile else ''}; "
          f"median of {args.blocks} interleaved blocks of {args.steps} steps (D step + G step)")
    print("| batch | device | reference img/s | gentool img/s | ratio | compile s |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for batch, device, ref_ips, our_ips, ratio, compile_s in rows:
        print(f"| {batch} | {device} | {ref_ips:.1f} | {our_ips:.1f} | {ratio:.2f} | {compile_s:.1f} |")


if __name__ == "__main__":
    main()
