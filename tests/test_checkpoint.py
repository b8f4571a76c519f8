from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from gentool.checkpoint import (
    SCHEMA_VERSION,
    load_checkpoint,
    optimizer_from_tensors,
    optimizer_to_tensors,
    rng_from_tensors,
    rng_to_tensors,
    save_checkpoint,
)
from gentool.errors import CheckpointError, OutputError
from gentool.models.base import model_from_checkpoint
from gentool.models.dcgan import Dcgan, DcganConfig


def _dcgan() -> Dcgan:
    return Dcgan(DcganConfig(image_size=16, channels=1, g_width=4, d_width=4, latent_dim=8))


def _save_model(model: Dcgan, path: Path) -> Path:
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    meta = {"model": "dcgan", "model_config": model.config_dict()}
    return save_checkpoint(path, tensors, meta)


def test_round_trip_rebuilds_model_from_config(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _dcgan()
    path = _save_model(model, tmp_path / "c.safetensors")
    ckpt = load_checkpoint(path)
    assert ckpt.meta["schema_version"] == SCHEMA_VERSION
    rebuilt = model_from_checkpoint(ckpt)
    for (k, a), (_, b) in zip(
        model.state_dict().items(), rebuilt.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), k
    assert rebuilt.config == model.config


def test_optimizer_and_rng_round_trip() -> None:
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    tensors, meta = optimizer_to_tensors(opt, "o")
    meta = json.loads(json.dumps(meta))
    fresh = torch.optim.Adam(model.parameters(), lr=0.5)
    optimizer_from_tensors(fresh, {k[2:]: v for k, v in tensors.items()}, meta)
    assert fresh.param_groups[0]["lr"] == 0.01
    for a, b in zip(opt.state.values(), fresh.state.values(), strict=True):
        assert torch.equal(a["exp_avg"], b["exp_avg"])

    rng_t, rng_meta = rng_to_tensors()
    expected = (torch.rand(3), __import__("random").random(), __import__("numpy").random.rand())
    rng_from_tensors(rng_t, json.loads(json.dumps(rng_meta)))
    again = (torch.rand(3), __import__("random").random(), __import__("numpy").random.rand())
    assert torch.equal(expected[0], again[0]) and expected[1:] == again[1:]


def test_atomic_save_keeps_old_file_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _dcgan()
    path = _save_model(model, tmp_path / "c.safetensors")
    before = path.read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("gentool.fileio.os.replace", broken_replace)
    with pytest.raises(OutputError, match="existing file is unchanged"):
        _save_model(_dcgan(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]  # no temporary left


@pytest.mark.parametrize(
    "content, match",
    [
        (pickle.dumps({"weights": [1, 2, 3]}), "not a safetensors|not a valid"),
        (b"", "not a safetensors"),
        (struct.pack("<Q", 10**12) + b"{}", "header claims"),
        (struct.pack("<Q", 2) + b"{}", "not a gentool checkpoint"),
    ],
)
def test_refuses_files_that_are_not_checkpoints(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(path)


def test_refuses_wrong_schema_and_bad_json_and_plain_safetensors(tmp_path: Path) -> None:
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, plain)
    with pytest.raises(CheckpointError, match="not a gentool checkpoint"):
        load_checkpoint(plain)
    bad_json = tmp_path / "badjson.safetensors"
    save_file({"w": torch.zeros(2)}, bad_json, metadata={"gentool": "{not json"})
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(bad_json)
    future = tmp_path / "future.safetensors"
    meta = {
        "format": "gentool-checkpoint",
        "schema_version": 99,
        "model": "dcgan",
        "model_config": {},
    }
    save_file({"w": torch.zeros(2)}, future, metadata={"gentool": json.dumps(meta)})
    with pytest.raises(CheckpointError, match="schema version 99"):
        load_checkpoint(future)


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    path = _save_model(_dcgan(), tmp_path / "c.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(CheckpointError):
        model_from_checkpoint(load_checkpoint(path))


def test_shape_mismatch_names_the_weight(tmp_path: Path) -> None:
    model = _dcgan()
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    config = model.config_dict()
    config["g_width"] = 8  # the config now builds different shapes than the weights
    path = save_checkpoint(
        tmp_path / "c.safetensors", tensors, {"model": "dcgan", "model_config": config}
    )
    with pytest.raises(CheckpointError, match="has shape"):
        model_from_checkpoint(load_checkpoint(path))


def test_unknown_config_field_is_refused(tmp_path: Path) -> None:
    model = _dcgan()
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    config = model.config_dict() | {"mystery": 1}
    path = save_checkpoint(
        tmp_path / "c.safetensors", tensors, {"model": "dcgan", "model_config": config}
    )
    with pytest.raises(CheckpointError, match="mystery"):
        model_from_checkpoint(load_checkpoint(path))


def test_optimizer_state_keeps_the_kernels_of_the_machine_that_loads_it() -> None:
    # A run saved with foreach (or fused/capturable GPU) kernels resumes with whatever the
    # resuming machine chose: only the arithmetic state comes from the checkpoint.
    import torch

    from gentool.checkpoint import optimizer_from_tensors, optimizer_to_tensors

    weight = torch.nn.Parameter(torch.randn(3))
    saved = torch.optim.Adam([weight], lr=0.1, foreach=True)
    weight.sum().backward()
    saved.step()
    tensors, meta = optimizer_to_tensors(saved, "optim.g")
    fresh = torch.optim.Adam([weight], lr=0.5, foreach=False)
    optimizer_from_tensors(fresh, {k[len("optim.g.") :]: v for k, v in tensors.items()}, meta)
    assert fresh.param_groups[0]["foreach"] is False
    assert fresh.param_groups[0]["lr"] == 0.1
    assert torch.equal(fresh.state[weight]["exp_avg"], saved.state[weight]["exp_avg"])


def test_optimizer_moments_take_the_memory_layout_of_their_parameters() -> None:
    # channels_last weights: the resumed Adam moments must be channels_last too, or the
    # fused/foreach kernels refuse them ("must have same dtype, device, and layout").
    import torch

    from gentool.checkpoint import optimizer_from_tensors, optimizer_to_tensors

    conv = torch.nn.Conv2d(3, 4, 3).to(memory_format=torch.channels_last)
    saved = torch.optim.Adam(conv.parameters(), foreach=True)
    conv(torch.randn(2, 3, 8, 8)).sum().backward()
    saved.step()
    tensors, meta = optimizer_to_tensors(saved, "o")
    contiguous = {k[2:]: v.contiguous() for k, v in tensors.items()}  # as safetensors stores
    fresh = torch.optim.Adam(conv.parameters(), foreach=True)
    optimizer_from_tensors(fresh, contiguous, meta)
    moment = fresh.state[conv.weight]["exp_avg"]
    assert moment.stride() == conv.weight.stride()
    assert torch.equal(moment, saved.state[conv.weight]["exp_avg"])
    fresh.step()  # the foreach kernel accepts the restored state
