"""Train ``ddpm`` and ``dcgan --loss ls`` on 16-px digits for the same wall-clock budget,
then compare them by SWD against the digits test split.

Each model trains alone, one after the other, through the gentool CLI with
``OMP_NUM_THREADS`` set (``--threads``, 2 by default): ``gentool train MODEL --steps
1000000 ...`` is interrupted with SIGINT (what Ctrl-C sends) once its budget is spent, which
makes gentool save the checkpoint of the step it reached. Then, for each run:

* ``gentool evaluate RUN --metrics swd -n N --json`` (sliced Wasserstein distance x1e3 on
  Laplacian-pyramid patches, Karras et al. 2018; lower is better), against the test split
  of the run's dataset;
* ``gentool sample RUN -n 64 --seed 0`` writes a grid, copied to ``--img-dir``.

Prints a markdown table (model, steps, seconds, images/s, SWD) and the load of the machine
before and after each run (``os.getloadavg``: another job on the cores slows both). The
commands it ran are printed as it goes, so any row can be rerun::

    python plugins/gentool-ddpm/benchmarks/ddpm_vs_dcgan.py --budget 180 \\
        --out runs/bench-ddpm --img-dir plugins/gentool-ddpm/docs

``seconds`` is the wall time of the training process, start-up and the save included;
``images/s`` is measured between the first and the last logged step (training alone).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: The models compared: name, and the options of ``gentool train`` beyond the shared ones.
MODELS: dict[str, list[str]] = {
    "ddpm": ["ddpm"],
    "dcgan-ls": ["dcgan", "--loss", "ls"],
}
#: The ddpm run's model options unless ``--ddpm-opt`` is given: a narrower U-Net than the
#: default (more steps in a CPU budget), the cosine schedule (Nichol & Dhariwal: better at
#: low resolution) and ancestral sampling over 100 of the 1000 steps for the evaluation.
DDPM_OPTIONS = ("width=16", "schedule=cosine", "sample_steps=100")
#: Enough steps that only the budget ends a run.
NEVER = "1000000"


def gentool(*args: str) -> list[str]:
    return [sys.executable, "-m", "gentool", *args]


def shown(command: list[str]) -> str:
    return "$ gentool " + " ".join(command[3:])


def child_env(threads: int) -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}/{five:.2f}/{fifteen:.2f}"


def train_for(command: list[str], budget: float, env: dict[str, str]) -> float:
    """Run ``command`` for ``budget`` seconds, then interrupt it and wait for its save;
    return the wall time of the whole process."""
    print(shown(command), f"  # interrupted after {budget:.0f} s", flush=True)
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env)
    try:
        process.wait(timeout=budget)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        process.wait()
    else:
        raise SystemExit(f"training ended by itself (exit code {process.returncode})")
    return time.perf_counter() - start


def training_rate(run: Path, batch_size: int) -> float:
    """Images per second between the first and the last logged training step."""
    log = run / "log.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    records = [json.loads(line) for line in lines]
    steps = [r for r in records if "images_per_s" in r]
    if len(steps) < 2:
        return float("nan")
    first, last = steps[0], steps[-1]
    return (last["step"] - first["step"]) * batch_size / max(last["time"] - first["time"], 1e-9)


def run_model(name: str, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    run = Path(args.out) / name
    options = DDPM_OPTIONS if args.ddpm_opt is None else args.ddpm_opt
    extra = [flag for option in options for flag in ("--model-opt", option)]
    command = gentool(
        "train", *MODELS[name],
        "--dataset", "digits",
        "--image-size", "16",
        "--batch-size", str(args.batch_size),
        "--steps", NEVER,
        "--log-every", "10",
        "--sample-every", NEVER,
        "--checkpoint-every", NEVER,
        "--device", args.device,
        "--seed", str(args.seed),
        "--out", str(run),
        "--overwrite",
        *(extra if name == "ddpm" else []),
    )  # fmt: skip
    before = load()
    seconds = train_for(command, args.budget, env)
    after = load()
    rate = training_rate(run, args.batch_size)
    metrics = run / "swd.json"
    evaluate = gentool(
        "evaluate", str(run),
        "--metrics", "swd",
        "-n", str(args.eval_images),
        "--device", args.device,
        "--json", str(metrics),
        "--no-log",
        "--overwrite",
    )  # fmt: skip
    print(shown(evaluate), flush=True)
    subprocess.run(evaluate, check=True, env=env)
    grid = run / f"{name}.png"
    sample = gentool(
        "sample", str(run), "-n", "64", "--seed", "0", "--upscale", "2",
        "--device", args.device, "-o", str(grid), "--overwrite",
    )  # fmt: skip
    print(shown(sample), flush=True)
    subprocess.run(sample, check=True, env=env)
    if args.img_dir:
        Path(args.img_dir).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(grid, Path(args.img_dir) / f"bench-{name}.png")
    result = json.loads(metrics.read_text())
    return {
        "model": f"ddpm ({', '.join(options)})" if name == "ddpm" else " ".join(MODELS[name]),
        "steps": result["step"],
        "seconds": seconds,
        "images_per_s": rate,
        "swd": result["metrics"]["swd_avg"],
        "load_before": before,
        "load_after": after,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=180.0, help="training seconds per model")
    parser.add_argument("--threads", type=int, default=2, help="OMP_NUM_THREADS of every run")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--eval-images", type=int, default=512, help="generated images for SWD")
    parser.add_argument(
        "--ddpm-opt",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help=f"a --model-opt of the ddpm run, repeatable [default: {' '.join(DDPM_OPTIONS)}]",
    )
    parser.add_argument("--models", default=",".join(MODELS), help="comma list of the models")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench-ddpm")
    parser.add_argument("--img-dir", default=None, help="also copy the sample grids here")
    args = parser.parse_args(argv)

    env = child_env(args.threads)
    rows = [run_model(name, args, env) for name in args.models.split(",")]
    Path(args.out, "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    print()
    print(
        f"digits 16x16, batch {args.batch_size}, {args.budget:.0f} s of training each, "
        f"OMP_NUM_THREADS={args.threads}, {os.cpu_count()} CPU cores; SWD x1e3 (mean of "
        f"levels) of {args.eval_images} samples against the test split (lower is better)"
    )
    print()
    print("| model | steps | seconds | images/s | SWD | load before -> after (1/5/15 min) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['steps']} | {r['seconds']:.0f} | {r['images_per_s']:.0f} | "
            f"{r['swd']:.1f} | {r['load_before']} -> {r['load_after']} |"
        )


if __name__ == "__main__":
    main()
