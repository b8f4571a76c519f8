"""The GPU training path: CUDA-graph replay of a whole GAN step, bf16, channels_last, resume.

Skipped without a CUDA device (CI has none); run on a GPU machine with
``python -m pytest tests/test_cuda.py``. The CPU half of the behaviour (the notice and eager
training when graphs cannot apply) is tested in ``test_cli.py``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from gentool.cli.main import cli
from gentool.data.base import DataSpec
from gentool.training.base import TrainSettings
from gentool.training.runner import build_trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

GPU_TINY = [
    "--batch-size",
    "32",
    "--image-size",
    "16",
    "--log-every",
    "4",
    "--sample-every",
    "8",
    "--checkpoint-every",
    "8",
    "--device",
    "cuda",
    "--model-opt",
    "g_width=8",
    "--model-opt",
    "d_width=8",
    "--model-opt",
    "latent_dim=8",
]


def _trained_weights(tmp_path: Path, name: str, graphs: bool, steps: int) -> dict:
    settings = TrainSettings(
        steps=steps,
        batch_size=32,
        device="cuda",
        out=str(tmp_path / name),
        cuda_graphs=graphs,
        log_every=1000,
        sample_every=1000,
        checkpoint_every=1000,
    )
    trainer = build_trainer(
        "dcgan",
        loss="ls",
        model_options={"g_width": 8, "d_width": 8, "latent_dim": 8},
        data=DataSpec(name="digits", image_size=16),
        settings=settings,
    )
    for _ in range(steps):
        trainer.run_step(trainer.batch())
        trainer.step += 1
    if graphs:
        assert trainer._step_graph is not None and trainer._step_graph.captured
    return {k: v.detach().float().cpu().clone() for k, v in trainer.model.state_dict().items()}


def test_graph_replay_learns_what_eager_training_learns(tmp_path: Path) -> None:
    # 3 eager warm-up steps, the captured step, then 8 replays: each replay must see a new
    # batch and new latents, and update every weight as the eager step does.
    torch.backends.cudnn.deterministic = True
    try:
        eager = _trained_weights(tmp_path, "eager", graphs=False, steps=12)
        graphed = _trained_weights(tmp_path, "graphed", graphs=True, steps=12)
        start = _trained_weights(tmp_path, "start", graphs=False, steps=4)
    finally:
        torch.backends.cudnn.deterministic = False
    params = [k for k in eager if "running" not in k and "num_batches" not in k]
    moved = max(float((eager[k] - start[k]).abs().max()) for k in params)
    worst = max(float((eager[k] - graphed[k]).abs().max()) for k in params)
    assert moved > 1e-3  # the last 8 steps changed the weights...
    assert worst < 1e-2 * moved  # ...and the replays changed them the same way


def test_train_and_resume_on_the_gpu_with_every_speed_option(tmp_path: Path) -> None:
    out = tmp_path / "fast"
    options = ["--precision", "bf16", "--channels-last", "--cuda-graphs"]
    args = ["train", "dcgan", "--loss", "hinge", "--out", str(out), "--steps", "16"]
    result = CliRunner().invoke(cli, [*args, *options, *GPU_TINY])
    assert result.exit_code == 0, result.output
    assert "running eagerly" not in result.output
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [4, 8, 12, 16]
    assert all(math.isfinite(r["loss_d"]) and math.isfinite(r["loss_g"]) for r in records)
    assert len({round(r["loss_d"], 6) for r in records}) > 1  # replays see new data
    result = CliRunner().invoke(
        cli, ["train", "--resume", str(out), "--steps", "24", "--log-every", "4"]
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 24


def test_a_gradient_penalty_with_several_critic_steps_runs_eagerly_with_a_notice(
    tmp_path: Path,
) -> None:
    out = tmp_path / "wgan"
    args = ["train", "dcgan", "--loss", "wgan-gp", "--out", str(out), "--steps", "4"]
    result = CliRunner().invoke(cli, [*args, "--cuda-graphs", *GPU_TINY])
    assert result.exit_code == 0, result.output
    assert "--cuda-graphs: 5 critic updates per step" in result.output
    assert (out / "ckpt.safetensors").exists()


def test_weight_free_metrics_give_the_cpu_values_on_the_gpu() -> None:
    from gentool.metrics.diversity import pairwise_diversity
    from gentool.metrics.prdc import pixel_features, precision_recall_density_coverage
    from gentool.metrics.swd import sliced_wasserstein_distance

    generator = torch.Generator().manual_seed(0)
    real = torch.randint(0, 256, (64, 3, 32, 32), generator=generator, dtype=torch.uint8)
    fake = (real.float() * 0.7 + 20).to(torch.uint8)
    options = {"patches_per_image": 16, "num_projections": 64}
    cpu = sliced_wasserstein_distance(real, fake, **options)
    gpu = sliced_wasserstein_distance(real, fake, device="cuda", **options)
    assert cpu["swd_avg"] > 1.0
    assert gpu == pytest.approx(cpu, rel=1e-3)
    features = [pixel_features(x) for x in (real, fake)]
    on_gpu = [pixel_features(x, device="cuda") for x in (real, fake)]
    assert on_gpu[0].device.type == "cuda"
    assert precision_recall_density_coverage(*on_gpu, k=3, device="cuda") == pytest.approx(
        precision_recall_density_coverage(*features, k=3), abs=1e-9
    )
    assert pairwise_diversity(fake, device="cuda") == pytest.approx(
        pairwise_diversity(fake), rel=1e-5
    )


def test_compiled_runs_train_and_their_checkpoints_sample(tmp_path: Path) -> None:
    # With channels_last, torch 2.11's compiler fails in the transposed convolutions' backward:
    # gentool must then undo that step and train eagerly; either way the run finishes and its
    # checkpoint (weight names unchanged by in-place compilation) rebuilds the model.
    out = tmp_path / "compiled"
    args = ["train", "dcgan", "--loss", "ls", "--out", str(out), "--steps", "8"]
    options = ["--compile", "--channels-last", "--precision", "bf16", "--cuda-graphs"]
    result = CliRunner().invoke(cli, [*args, *options, *GPU_TINY])
    assert result.exit_code == 0, result.output
    grid = tmp_path / "grid.png"
    result = CliRunner().invoke(cli, ["sample", str(out), "-n", "4", "-o", str(grid)])
    assert result.exit_code == 0, result.output
    assert grid.stat().st_size > 0


def test_torchrun_with_nccl_and_sync_batchnorm_on_the_gpu(tmp_path: Path) -> None:
    # One GPU here, so one rank: the NCCL process group, DDP on CUDA, SyncBatchNorm and the
    # rank-0 checkpoint, end to end (two ranks are tested on the CPU with gloo).
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root / "src"), GENTOOL_PLUGINS="none")
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1"]
    out = tmp_path / "ddp"
    args = ["train", "dcgan", "--loss", "ls", "--out", str(out), "--steps", "8", "--sync-bn"]
    result = subprocess.run(
        [sys.executable, *launcher, "-m", "gentool", *args, *GPU_TINY],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    from gentool.checkpoint import load_checkpoint

    ckpt = load_checkpoint(out)
    assert ckpt.meta["step"] == 8
    assert not any(k.startswith("model.module.") for k in ckpt.tensors)


def test_cyclegan_trains_resumes_and_translates_on_the_gpu(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from gentool.models.cyclegan import CycleGan

    rng = np.random.default_rng(0)
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir()
    b.mkdir()
    for i in range(12):
        pixels = rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(a / f"{i:02d}.png")
        Image.fromarray(255 - pixels).save(b / f"{i:02d}.png")
    out = tmp_path / "run"
    tiny = [arg for k, v in CycleGan.TEST_OPTIONS.items() for arg in ("--model-opt", f"{k}={v}")]
    args = ["train", "cyclegan", "--domain-a", str(a), "--domain-b", str(b), "--out", str(out)]
    common = ["--image-size", "16", "--batch-size", "4", "--device", "cuda", "--log-every", "2"]
    options = ["--precision", "bf16", "--channels-last"]
    result = CliRunner().invoke(cli, [*args, "--steps", "4", *common, *options, *tiny])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["train", "--resume", str(out), "--steps", "6"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 6 and math.isfinite(records[-1]["loss_g"])
    translated = tmp_path / "translated"
    result = CliRunner().invoke(
        cli,
        ["sample", str(out), "--input", str(a), "--direction", "a2b", "--out-dir", str(translated)],
    )
    assert result.exit_code == 0, result.output
    outputs = sorted(translated.glob("*.png"))
    assert len(outputs) == 12
    assert Image.open(outputs[0]).size == (20, 24)
