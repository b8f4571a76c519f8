"""torchrun + DistributedDataParallel on CPU (gloo), two processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from gentool.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "train",
    "dcgan",
    "--loss",
    "ls",
    "--batch-size",
    "8",
    "--image-size",
    "16",
    "--device",
    "cpu",
    "--model-opt",
    "g_width=4",
    "--model-opt",
    "d_width=4",
    "--model-opt",
    "latent_dim=8",
    "--log-every",
    "1",
    "--sample-every",
    "2",
    "--overwrite",
]


def gentool(*args: str, cwd: Path, nproc: int = 1) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ, PYTHONPATH=str(ROOT / "src"), GENTOOL_PLUGINS="none", OMP_NUM_THREADS="1"
    )
    launcher = (
        ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc)]
        if nproc > 1
        else []
    )
    result = subprocess.run(
        [sys.executable, *launcher, "-m", "gentool", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result


pytestmark = pytest.mark.skipif(not dist.is_gloo_available(), reason="needs the gloo backend")


def test_two_ranks_match_one_process_with_the_same_global_batch(tmp_path: Path) -> None:
    # BatchNorm is switched off: per-rank batch statistics are the one thing that differs
    # by design between 2 x 4 images and 1 x 8 images (SyncBatchNorm needs CUDA).
    no_bn = ["--model-opt", "g_norm=none", "--model-opt", "d_norm=none", "--steps", "4"]
    two = gentool(*TINY, *no_bn, "--out", "two", cwd=tmp_path, nproc=2)
    gentool(*TINY, *no_bn, "--out", "one", cwd=tmp_path)
    assert two.stderr.count("done:") == 1  # rank 0 alone reports (and writes)
    a = load_checkpoint(tmp_path / "one").section("model")
    b = load_checkpoint(tmp_path / "two").section("model")
    assert a.keys() == b.keys()  # no DDP 'module.' prefixes in the checkpoint
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst < 1e-6
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir()
    )


def test_batchnorm_run_finishes_and_resumes_on_another_world_size(tmp_path: Path) -> None:
    gentool(*TINY, "--steps", "2", "--out", "bn", cwd=tmp_path, nproc=2)
    assert load_checkpoint(tmp_path / "bn").meta["step"] == 2
    gentool("train", "--resume", "bn", "--steps", "4", cwd=tmp_path)  # 2 ranks -> 1 process
    ckpt = load_checkpoint(tmp_path / "bn")
    assert ckpt.meta["step"] == 4
    assert all(
        torch.isfinite(t).all() for t in ckpt.section("model").values() if t.is_floating_point()
    )


def test_vae_and_upscaler_train_under_torchrun(tmp_path: Path) -> None:
    common = ["--batch-size", "8", "--image-size", "16", "--device", "cpu", "--steps", "3"]
    common += ["--log-every", "1", "--sample-every", "3", "--overwrite"]
    # A learned Gaussian sigma lives outside the DDP-wrapped encoder and decoder.
    vae = ["train", "vae", "--model-opt", "width=4", "--model-opt", "latent_dim=4"]
    vae += ["--model-opt", "likelihood=gaussian", "--model-opt", "gaussian_sigma=learned"]
    sr = ["train", "sr-unet", "--loss", "ls", "--model-opt", "width=4", "--model-opt"]
    sr += ["max_width=8", "--model-opt", "depth=2", "--model-opt", "d_width=4"]
    for name, args in (("vae", vae), ("sr", sr)):
        run = gentool(*args, *common, "--out", name, cwd=tmp_path, nproc=2)
        assert run.stderr.count("done:") == 1
        ckpt = load_checkpoint(tmp_path / name)
        assert ckpt.meta["step"] == 3
        assert not any(k.startswith("module.") for k in ckpt.section("model"))


def test_sync_batchnorm_on_cpu_is_one_clear_error(tmp_path: Path) -> None:
    env = dict(
        os.environ, PYTHONPATH=str(ROOT / "src"), GENTOOL_PLUGINS="none", OMP_NUM_THREADS="1"
    )
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    result = subprocess.run(
        [sys.executable, *launcher, "-m", "gentool", *TINY, "--steps", "2", "--sync-bn"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    # each rank stops with gentool's one-line error (torchrun then reports the failed ranks)
    assert "Error: --sync-bn needs CUDA devices" in result.stderr
