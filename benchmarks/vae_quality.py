"""Reconstruction quality of the convolutional VAE against latent size and batch size.

Trains ``vae`` once per (latent_dim, batch_size) pair through the gentool CLI, for the same
number of epochs each, then measures the held-out test split (gentool's fixed 10%) with
``gentool reconstruct RUN --split test --json``. Prints a table with the reference beside
it and writes it as JSON; the commands it ran are printed first, so any row can be rerun.

    python benchmarks/vae_quality.py --data-root ../shared/data/anime-faces/images \\
        --runs 32x32,128x32,128x128 --epochs 1 --out runs/bench-vae

Reference: a 512-d conv VAE on 64x64 CelebA reaches ~0.0052 test MSE per pixel (images in
[0, 1]); it trains for many more epochs than a CPU budget allows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REFERENCE_MSE = 0.0052
ROOT = Path(__file__).resolve().parents[1]


def gentool(*args: str) -> list[str]:
    return [sys.executable, "-m", "gentool", *args]


def run(command: list[str]) -> float:
    print("$ gentool", " ".join(command[3:]), flush=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data-root", default=str(ROOT / ".." / "shared" / "data" / "anime-faces" / "images")
    )
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument(
        "--runs",
        default="32x32,128x32,128x128",
        help="LATENTxBATCH pairs to train, comma separated",
    )
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--likelihood", default="gaussian")
    parser.add_argument("--sigma", default="0.1")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="runs/bench-vae")
    args = parser.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    pairs = [tuple(int(v) for v in pair.split("x")) for pair in args.runs.split(",")]
    for latent, batch in pairs:
        run_dir = out / f"z{latent}-b{batch}"
        seconds = run(
            gentool(
                "train", "vae",
                "--dataset", "folder",
                "--data-root", args.data_root,
                "--image-size", str(args.image_size),
                "--model-opt", f"latent_dim={latent}",
                "--model-opt", f"width={args.width}",
                "--model-opt", f"likelihood={args.likelihood}",
                "--model-opt", f"gaussian_sigma={args.sigma}",
                "--batch-size", str(batch),
                "--epochs", str(args.epochs),
                "--lr-g", str(args.lr),
                "--beta1", "0.9",
                "--log-every", "25",
                "--sample-every", "1000000",
                "--checkpoint-every", "1000000",
                "--device", args.device,
                "--out", str(run_dir),
                "--overwrite",
            )
        )  # fmt: skip
        metrics_path = run_dir / "test.json"
        run(
            gentool(
                "reconstruct", str(run_dir),
                "--split", "test",
                "--device", args.device,
                "--json", str(metrics_path),
                "-o", str(run_dir / "recon_test.png"),
            )
        )  # fmt: skip
        metrics = json.loads(metrics_path.read_text())
        log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
        rows.append(
            {
                "latent_dim": latent,
                "batch_size": batch,
                "epochs": args.epochs,
                "steps": log[-1]["step"],
                "train_seconds": round(seconds, 1),
                "test_mse": metrics["mse_per_pixel"],
                "test_elbo": metrics["elbo_per_image"],
                "test_kl": metrics["kl_per_image"],
                "test_bits_per_dim": metrics["bits_per_dim"],
                "train_elbo_last": log[-1]["elbo"],
            }
        )
        (out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")

    print()
    print(
        f"vae, {args.image_size}x{args.image_size}, width {args.width}, {args.likelihood} "
        f"likelihood (sigma {args.sigma}), {args.epochs} epochs each; test split"
    )
    header = (
        "| latent | batch | steps | train s | test MSE/px | reference "
        "| test ELBO (nats) | KL | bits/dim |"
    )
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for r in rows:
        print(
            f"| {r['latent_dim']} | {r['batch_size']} | {r['steps']} | {r['train_seconds']:.0f} | "
            f"{r['test_mse']:.5f} | {REFERENCE_MSE} | {r['test_elbo']:.0f} | {r['test_kl']:.0f} | "
            f"{r['test_bits_per_dim']:.3f} |"
        )


if __name__ == "__main__":
    main()
