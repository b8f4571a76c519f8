"""Runs lose nothing and trust nothing: resume, interruption, crashes, hostile checkpoints."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gentool.checkpoint import load_checkpoint, save_checkpoint
from gentool.errors import CheckpointError, GentoolError, TrainingStopped
from gentool.loading import model_from_checkpoint
from gentool.training import runner

ROOT = Path(__file__).resolve().parents[1]
TINY_MODEL = {"g_width": 4, "d_width": 4, "latent_dim": 8}


def tiny_settings(out: Path, steps: int, **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(
        steps=steps,
        batch_size=8,
        log_every=1,
        sample_every=1000,
        checkpoint_every=1000,
        device="cpu",
        out=str(out),
        seed=3,
    )
    values.update(extra)
    return values


def tiny_train(out: Path, steps: int, loss: str = "ls", **extra: Any) -> Path:
    from gentool.data.base import DataSpec

    return runner.train(
        "dcgan",
        loss=loss,
        model_options=dict(TINY_MODEL),
        data=DataSpec(image_size=16),
        overwrite=True,
        **tiny_settings(out, steps, **extra),
    )


def state_of(path: Path) -> dict[str, torch.Tensor]:
    ckpt = load_checkpoint(path)
    return {
        k: v
        for k, v in ckpt.tensors.items()
        if k.startswith(("model.", "optim.", "rng.", "trainer."))
    }


@pytest.mark.parametrize("loss", ["ls", "wgan-gp"])
def test_resume_is_bit_identical_to_a_straight_run(tmp_path: Path, loss: str) -> None:
    straight = state_of(tiny_train(tmp_path / "straight", 6, loss=loss))
    tiny_train(tmp_path / "split", 3, loss=loss)
    runner.resume(tmp_path / "split", steps=6)
    resumed = state_of(tmp_path / "split" / "ckpt.safetensors")
    assert straight.keys() == resumed.keys()
    different = [k for k in straight if not torch.equal(straight[k], resumed[k])]
    assert different == []
    steps = [
        json.loads(x)["step"] for x in (tmp_path / "split" / "log.jsonl").read_text().splitlines()
    ]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    tiny_train(out, 2)
    good = (out / "ckpt.safetensors").read_bytes()
    from gentool.losses.builtin import LeastSquaresLoss

    original = LeastSquaresLoss.generator_loss
    calls = {"n": 0}

    def exploding(self: Any, fake_scores: torch.Tensor, real_scores: Any = None) -> torch.Tensor:
        calls["n"] += 1
        value = original(self, fake_scores)
        return value * float("nan") if calls["n"] >= 2 else value

    monkeypatch.setattr(LeastSquaresLoss, "generator_loss", exploding)
    with pytest.raises(TrainingStopped) as err:
        runner.resume(out, steps=10, checkpoint_every=1)
    assert "loss_g" in err.value.message and "step 4" in err.value.message
    assert "model 'dcgan', loss 'ls'" in err.value.message
    assert "last good checkpoint" in err.value.message
    # the checkpoint written at step 3 is the last good one; nothing after the NaN was written
    assert load_checkpoint(out / "ckpt.safetensors").meta["step"] == 3
    assert good != (out / "ckpt.safetensors").read_bytes()


def test_unwritable_output_fails_before_training(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(GentoolError, match="cannot write to run folder"):
        tiny_train(blocker / "run", 2)
    assert not (blocker.parent / "run").exists()


def test_disk_full_while_saving_keeps_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    tiny_train(out, 2)
    before = (out / "ckpt.safetensors").read_bytes()

    def full_disk(path: Path, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("gentool.checkpoint.atomic_write_bytes", full_disk)
    with pytest.raises(
        TrainingStopped, match=r"No space left on device.*previous checkpoint is intact"
    ):
        runner.resume(out, steps=4)
    assert (out / "ckpt.safetensors").read_bytes() == before


def _cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = dict(
        os.environ, PYTHONPATH=str(ROOT / "src"), GENTOOL_PLUGINS="none", OMP_NUM_THREADS="1"
    )
    return subprocess.Popen(
        [sys.executable, "-m", "gentool", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_steps(log: Path, proc: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and log.read_text().count("\n") >= 2:
            return
        if proc.poll() is not None:
            raise AssertionError(proc.communicate())
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("training did not start in time")


TRAIN_FOREVER = [
    "train",
    "dcgan",
    "--loss",
    "ls",
    "--steps",
    "100000",
    "--batch-size",
    "8",
    "--image-size",
    "16",
    "--log-every",
    "1",
    "--sample-every",
    "100000",
    "--checkpoint-every",
    "100000",
    "--device",
    "cpu",
    "--model-opt",
    "g_width=4",
    "--model-opt",
    "d_width=4",
    "--model-opt",
    "latent_dim=8",
]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_saves_a_checkpoint_and_says_how_to_resume(tmp_path: Path, sig: int) -> None:
    out = tmp_path / "run"
    proc = _cli(*TRAIN_FOREVER, "--out", str(out), cwd=tmp_path)
    _wait_for_steps(out / "log.jsonl", proc)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "resume with: gentool train --resume" in stderr
    assert "Traceback" not in stderr
    ckpt = load_checkpoint(out / "ckpt.safetensors")
    assert ckpt.meta["step"] >= 2


def test_second_ctrl_c_exits_at_once(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _cli(*TRAIN_FOREVER, "--out", str(out), "--checkpoint-every", "1", cwd=tmp_path)
    _wait_for_steps(out / "log.jsonl", proc)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    start = time.monotonic()
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert time.monotonic() - start < 30
    load_checkpoint(out / "ckpt.safetensors")  # whatever happened, the checkpoint is readable


SAVE_FOREVER = """
import sys, torch
from gentool.checkpoint import save_checkpoint
path = sys.argv[1]
i = 0
while True:
    i += 1
    big = torch.full((4_000_000,), float(i))
    save_checkpoint(path, {"model.w": big}, {"model": "x", "model_config": {}, "version_written": i})
    print(i, flush=True)
"""


def test_kill_9_while_saving_leaves_previous_checkpoint_readable(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.safetensors"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    for delay in (0.05, 0.3, 0.7):
        proc = subprocess.Popen(
            [sys.executable, "-c", SAVE_FOREVER, str(path)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        proc.stdout.readline()  # at least one complete save
        time.sleep(delay)
        proc.kill()  # SIGKILL, possibly in the middle of a write
        proc.wait()
        ckpt = load_checkpoint(path)
        written = ckpt.meta["version_written"]
        assert torch.equal(ckpt.tensors["model.w"], torch.full((4_000_000,), float(written)))


@pytest.fixture(scope="module")
def valid_checkpoint_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from gentool.models.dcgan import Dcgan, DcganConfig

    model = Dcgan(DcganConfig(image_size=8, channels=1, g_width=2, d_width=2, latent_dim=2))
    path = tmp_path_factory.mktemp("fuzz") / "c.safetensors"
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    save_checkpoint(path, tensors, {"model": "dcgan", "model_config": model.config_dict()})
    return path.read_bytes()


def _read_and_rebuild(data: bytes, path: Path) -> None:
    path.write_bytes(data)
    # a clean, one-line refusal is the only acceptable failure
    with contextlib.suppress(GentoolError):
        model_from_checkpoint(load_checkpoint(path))


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzzed_checkpoints_only_raise_clean_errors(
    valid_checkpoint_bytes: bytes, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    raw = bytearray(valid_checkpoint_bytes)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    _read_and_rebuild(bytes(raw), tmp_path_factory.getbasetemp() / "fuzz.safetensors")


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(header=st.binary(max_size=200), body=st.binary(max_size=64))
def test_random_bytes_only_raise_clean_errors(
    tmp_path_factory: pytest.TempPathFactory, header: bytes, body: bytes
) -> None:
    import struct

    raw = struct.pack("<Q", len(header)) + header + body
    _read_and_rebuild(raw, tmp_path_factory.getbasetemp() / "random.safetensors")


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    meta=st.dictionaries(
        st.sampled_from(["format", "schema_version", "model", "model_config", "x"]),
        st.one_of(
            st.none(),
            st.integers(),
            st.text(max_size=5),
            st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        ),
        max_size=5,
    )
)
def test_hostile_metadata_only_raises_clean_errors(
    valid_checkpoint_bytes: bytes, tmp_path_factory: pytest.TempPathFactory, meta: dict[str, Any]
) -> None:
    from safetensors.torch import save

    raw = save({"model.x": torch.zeros(2)}, metadata={"gentool": json.dumps(meta)})
    path = tmp_path_factory.getbasetemp() / "meta.safetensors"
    path.write_bytes(raw)
    with pytest.raises(CheckpointError):
        model_from_checkpoint(load_checkpoint(path))


HOSTILE_JSON = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 10**6, 10**12, 2**31, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.integers(-2, 10**6), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    changes=st.dictionaries(
        st.sampled_from(
            [
                "image_size",
                "channels",
                "latent_dim",
                "g_width",
                "d_width",
                "d_norm",
                "g_norm",
                "spectral_norm",
                "family",
                "weights_dtype",
            ]
        ),
        HOSTILE_JSON,
        min_size=1,
        max_size=3,
    )
)
def test_hostile_model_config_only_raises_clean_errors(
    valid_checkpoint_bytes: bytes,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    changes: dict[str, Any],
) -> None:
    """Type confusion and huge sizes in the model config: refused in one line before building
    (memory is capped at 256 MB here so that no accepted config allocates much)."""
    from safetensors.torch import load

    monkeypatch.setattr("gentool.models.base.available_memory", lambda device=None: 256 * 10**6)
    tensors = load(valid_checkpoint_bytes)
    path = tmp_path_factory.getbasetemp() / "config.safetensors"
    path.write_bytes(valid_checkpoint_bytes)
    meta = load_checkpoint(path).meta
    for key, value in changes.items():
        if key in ("family", "weights_dtype"):
            meta[key] = value
        else:
            meta["model_config"][key] = value
    from safetensors.torch import save

    path.write_bytes(save(tensors, metadata={"gentool": json.dumps(meta)}))
    with contextlib.suppress(GentoolError):
        model_from_checkpoint(load_checkpoint(path))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    key=st.sampled_from(["dtype", "shape", "data_offsets"]),
    value=st.one_of(
        HOSTILE_JSON,
        st.sampled_from(["F32", "F16", "I64", "BOOL", "U8", "F8_E4M3", "x"]),
        st.lists(st.integers(-1, 2**40), max_size=4),
    ),
    which=st.integers(0, 100),
)
def test_hostile_header_entries_only_raise_clean_errors(
    valid_checkpoint_bytes: bytes,
    tmp_path_factory: pytest.TempPathFactory,
    key: str,
    value: Any,
    which: int,
) -> None:
    """Any dtype, shape or byte range in a header entry: a CheckpointError before the data is
    read, or a checkpoint whose tensors are exactly what the header says."""
    import struct

    (length,) = struct.unpack("<Q", valid_checkpoint_bytes[:8])
    header = json.loads(valid_checkpoint_bytes[8 : 8 + length])
    names = sorted(k for k in header if k != "__metadata__")
    header[names[which % len(names)]][key] = value
    text = json.dumps(header).encode()
    path = tmp_path_factory.getbasetemp() / "header.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + valid_checkpoint_bytes[8 + length :])
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError:
        return
    for name in names:
        info = header[name]
        assert list(ckpt.tensors[name].shape) == info["shape"]


ALLOCATOR_FAILED = (
    "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
    "you tried to allocate 102400000 bytes. Error code 12 (Cannot allocate memory)"
)


def test_cpu_allocator_failure_is_one_line_out_of_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch's CPU allocator raises a RuntimeError, not MemoryError, when malloc fails (as
    ``sample -n 100000`` under a memory limit): it is named as running out of memory."""
    from click.testing import CliRunner

    from gentool import images
    from gentool.cli.main import cli

    run = tiny_train(tmp_path / "run", steps=1)

    def no_memory(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(ALLOCATOR_FAILED)

    monkeypatch.setattr(images, "labelled_grid", no_memory)
    result = CliRunner().invoke(cli, ["sample", str(run), "-n", "9", "-o", str(tmp_path / "g.png")])
    assert result.exit_code not in (0, 1), result.output  # a user error, not internal
    assert "out of memory" in result.output and "-n" in result.output
    assert "internal error" not in result.output
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("model", ["vae", "vae-mlp"])
def test_a_vae_resume_is_bit_identical_with_kl_annealing(tmp_path: Path, model: str) -> None:
    from gentool.data.base import DataSpec

    def vae_train(out: Path, steps: int) -> Path:
        options: dict[str, Any] = {"latent_dim": 4, "kl_anneal": "linear", "kl_warmup": 5}
        options.update({"width": 4} if model == "vae" else {"hidden": 16})
        return runner.train(
            model,
            model_options=options,
            data=DataSpec(image_size=16),
            overwrite=True,
            **tiny_settings(out, steps),
        )

    straight = state_of(vae_train(tmp_path / "straight", 6))
    vae_train(tmp_path / "split", 3)
    runner.resume(tmp_path / "split", steps=6)
    resumed = state_of(tmp_path / "split" / "ckpt.safetensors")
    assert straight.keys() == resumed.keys()
    assert [k for k in straight if not torch.equal(straight[k], resumed[k])] == []
