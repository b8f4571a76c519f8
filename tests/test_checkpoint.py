from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import struct
import tracemalloc
from pathlib import Path
from typing import Any

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
from gentool.errors import CheckpointError, GentoolError, OutputError
from gentool.loading import model_from_checkpoint
from gentool.models.base import check_model_fits, load_weights
from gentool.models.dcgan import Dcgan, DcganConfig
from gentool.training.resume_state import validate_resume_state


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


# --- reading: the header first, bounded; special files refused at once ------------------------


def _header_only_file(path: Path, meta: dict[str, Any], data_bytes: int) -> Path:
    """A safetensors file whose one tensor covers ``data_bytes`` of a sparse (unwritten) file."""
    header = {
        "w": {"dtype": "U8", "shape": [data_bytes], "data_offsets": [0, data_bytes]},
        "__metadata__": {"gentool": json.dumps(meta)},
    }
    text = json.dumps(header).encode()
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(text)) + text)
        handle.truncate(8 + len(text) + data_bytes)
    return path


def test_bad_metadata_is_refused_before_the_tensor_bytes_are_read(tmp_path: Path) -> None:
    meta = {"format": "gentool-checkpoint", "schema_version": 1, "model": 5, "model_config": {}}
    path = _header_only_file(tmp_path / "big.safetensors", meta, 3 * 10**9)  # 3 GB, sparse
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match="which model"):
            load_checkpoint(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 10**6


def test_tensors_are_read_into_one_copy(tmp_path: Path) -> None:
    meta = {"format": "gentool-checkpoint", "schema_version": 1, "model": "x", "model_config": {}}
    size = 64 * 10**6
    path = _header_only_file(tmp_path / "c.safetensors", meta, size)
    tracemalloc.start()
    try:
        ckpt = load_checkpoint(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ckpt.tensors["w"].shape == (size,) and int(ckpt.tensors["w"][-1]) == 0
    assert peak < 1.3 * size  # the old reader held the whole file and a copy of every tensor


def test_tensors_larger_than_memory_are_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    meta = {"format": "gentool-checkpoint", "schema_version": 1, "model": "x", "model_config": {}}
    path = _header_only_file(tmp_path / "big.safetensors", meta, 3 * 10**9)
    monkeypatch.setattr("gentool.models.base.available_memory", lambda device=None: 10**9)
    with pytest.raises(
        CheckpointError, match=r"holds 3\.0 GB of tensors; this machine has 1\.0 GB"
    ):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: os.mkfifo(p), "FIFO"),
        (lambda p: p.symlink_to("/dev/zero"), "character device"),
        (lambda p: p.mkdir(), "folder without ckpt.safetensors"),
        (lambda p: p.symlink_to(p.parent / "missing"), "broken symbolic link"),
    ],
    ids=["fifo", "link-to-dev-zero", "folder", "broken-link"],
)
def test_special_files_are_refused_without_opening_them(
    tmp_path: Path, make: Any, match: str
) -> None:
    path = tmp_path / "x.safetensors"
    make(path)
    signal.alarm(20)  # a FIFO opened for reading would block forever
    try:
        with pytest.raises(CheckpointError, match=match):
            load_checkpoint(path)
    finally:
        signal.alarm(0)


def test_header_entries_are_checked_against_the_file(tmp_path: Path) -> None:
    path = _save_model(_dcgan(), tmp_path / "c.safetensors")
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    name = "model.generator.net.1.running_var"
    header[name]["data_offsets"] = header["model.generator.net.1.running_mean"]["data_offsets"]
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + length :])
    with pytest.raises(CheckpointError, match="overlaps"):
        load_checkpoint(path)


# --- weights: exact dtypes, finite values ------------------------------------------------------


def test_weights_must_have_the_models_dtype_and_be_finite() -> None:
    model = _dcgan()
    name = "generator.net.0.weight"
    for change, match in [
        (lambda t: t.long(), "is int64 but the model uses float32"),
        (lambda t: t.half(), "is float16 but the model uses float32"),
        (lambda t: t.double(), "is float64"),
        (lambda t: t * float("nan"), f"weight '{name}' holds NaN/Inf"),
    ]:
        state = model.state_dict()
        state[name] = change(state[name])
        with pytest.raises(CheckpointError, match=match):
            load_weights(model, state, "ckpt")
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    load_weights(model, state, "ckpt", allow_half=True)  # a declared half-precision export
    assert model.generator.net[0].weight.dtype == torch.float32


def test_declared_half_checkpoint_loads_and_undeclared_one_is_refused(tmp_path: Path) -> None:
    model = _dcgan()
    tensors = {
        f"model.{k}": v.half() if v.is_floating_point() else v
        for k, v in model.state_dict().items()
    }
    meta = {"model": "dcgan", "model_config": model.config_dict()}
    plain = save_checkpoint(tmp_path / "a.safetensors", tensors, meta)
    with pytest.raises(CheckpointError, match="float16"):
        model_from_checkpoint(load_checkpoint(plain))
    declared = save_checkpoint(
        tmp_path / "b.safetensors", tensors, {**meta, "weights_dtype": "float16"}
    )
    rebuilt = model_from_checkpoint(load_checkpoint(declared))
    assert torch.equal(
        rebuilt.generator.net[0].weight, model.generator.net[0].weight.half().float()
    )


# --- memory before building --------------------------------------------------------------------


def test_check_model_fits_counts_weights_without_allocating() -> None:
    config = DcganConfig(image_size=16, channels=1, g_width=4, d_width=4, latent_dim=8)
    footprint = check_model_fits(Dcgan, config, where="here", batch_size=2)
    real = sum(t.numel() * t.element_size() for t in _dcgan().state_dict().values())
    assert footprint.weights == real
    assert footprint.activations is not None and footprint.activations > 0
    huge = DcganConfig(image_size=16, channels=1, g_width=4, d_width=4, latent_dim=10**12)
    with pytest.raises(
        GentoolError, match=r"here: model 'dcgan' with this config needs about .* TB"
    ):
        check_model_fits(Dcgan, huge, where="here")


def test_check_model_fits_stops_a_config_with_a_million_layers() -> None:
    from gentool.models.mlp_gan import MlpGan, MlpGanConfig

    config = MlpGanConfig(image_size=8, g_hidden=(1,) * 200_000, d_hidden=(1,))
    with pytest.raises(GentoolError, match="more than 10,000 layers"):
        check_model_fits(MlpGan, config, where="here")


def test_memory_check_compares_with_what_is_available(monkeypatch: pytest.MonkeyPatch) -> None:
    config = DcganConfig(image_size=16, channels=1, g_width=4, d_width=4, latent_dim=8)
    monkeypatch.setattr("gentool.models.base.available_memory", lambda device=None: 1000)
    with pytest.raises(GentoolError, match=r"this machine has 1\.0 kB available"):
        check_model_fits(Dcgan, config, where="here")


# --- optimizer and RNG state: whatever slips through is a CheckpointError ----------------------


def _adam_state() -> tuple[torch.optim.Optimizer, dict[str, torch.Tensor], dict[str, Any]]:
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    tensors, meta = optimizer_to_tensors(opt, "o")
    return opt, {k[2:]: v for k, v in tensors.items()}, json.loads(json.dumps(meta))


@pytest.mark.parametrize(
    "damage",
    [
        lambda t, m: m.pop("param_groups"),
        lambda t, m: m.update(param_groups="abc"),
        lambda t, m: m["param_groups"][0].update(lr="fast"),
        lambda t, m: m["param_groups"][0].update(betas=[1, 2, 3]),
        lambda t, m: m["param_groups"][0].update(params=[0, 0]),
        lambda t, m: m.update(scalars={"9": {"x": 1}}),
        lambda t, m: t.update({"0.exp_avg": torch.zeros(7)}),
        lambda t, m: t.update({"5.exp_avg": torch.zeros(2)}),
        lambda t, m: t.update({"x.exp_avg": torch.zeros(2)}),
    ],
)
def test_optimizer_state_that_does_not_fit_is_one_error(damage: Any) -> None:
    opt, tensors, meta = _adam_state()
    damage(tensors, meta)
    fresh = torch.optim.Adam(opt.param_groups[0]["params"], lr=0.5)
    with pytest.raises(CheckpointError):
        optimizer_from_tensors(fresh, tensors, meta)


@pytest.mark.parametrize(
    "damage",
    [
        lambda t, m: t.update({"rng.torch": torch.zeros(10, dtype=torch.uint8)}),
        lambda t, m: t.update({"rng.torch": torch.zeros(5056)}),
        lambda t, m: t.update({"rng.numpy": torch.zeros(3, dtype=torch.int64)}),
        lambda t, m: t.update({"rng.numpy": torch.full((624,), -1, dtype=torch.int64)}),
        lambda t, m: t.update({"rng.python": torch.zeros(3, dtype=torch.int64)}),
        lambda t, m: m["numpy"].update(name="PCG64"),
        lambda t, m: m["numpy"].pop("pos"),
        lambda t, m: m["python"].update(version="x"),
    ],
)
def test_bad_rng_state_is_one_error_and_changes_no_stream(damage: Any) -> None:
    tensors, meta = rng_to_tensors()
    meta = json.loads(json.dumps(meta))
    damage(tensors, meta)
    before = torch.get_rng_state()
    with pytest.raises(CheckpointError):
        rng_from_tensors(tensors, meta)
    assert torch.equal(torch.get_rng_state(), before)


# --- what --resume reads -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gentool.data.base import DataSpec
    from gentool.training import runner

    out = tmp_path_factory.mktemp("resume") / "run"
    runner.train(
        "dcgan",
        loss="ls",
        model_options={"g_width": 4, "d_width": 4, "latent_dim": 8},
        data=DataSpec(image_size=16, limit=40),
        steps=2,
        batch_size=8,
        log_every=1,
        sample_every=1000,
        checkpoint_every=1000,
        device="cpu",
        out=str(out),
        seed=3,
        ema=0.5,
        overwrite=True,
    )
    return out / "ckpt.safetensors"


def _damaged(source: Path, tmp_path: Path, edit: Any) -> Path:
    from safetensors import safe_open
    from safetensors.torch import load_file

    tensors = load_file(source)
    with safe_open(source, "pt") as handle:
        meta = json.loads(handle.metadata()["gentool"])
    edit(meta, tensors)
    path = tmp_path / "ckpt.safetensors"
    save_file(tensors, path, metadata={"gentool": json.dumps(meta)})
    return path


def test_a_fresh_checkpoint_passes_the_resume_checks(trained_run: Path) -> None:
    ckpt = load_checkpoint(trained_run)
    validate_resume_state(ckpt, 40, networks=("generator", "discriminator"))
    validate_resume_state(ckpt)  # before the data is loaded: the saved image count


@pytest.mark.parametrize(
    "edit, match",
    [
        (
            lambda m, t: m.update(step="abc"),
            "field 'step' must be a non-negative integer, not 'abc'",
        ),
        (lambda m, t: m.update(step=-100), "field 'step'"),
        (lambda m, t: m.update(step=False), "field 'step'"),
        (lambda m, t: m.pop("rng"), "no field 'rng'"),
        (lambda m, t: m["train"].update(batch_size="8"), "train.batch_size"),
        (lambda m, t: m["train"].update(beta1=1.5), "field 'train'.*betas"),
        (lambda m, t: m["data"].update(num_images=41), "saved with 41 training images"),
        (lambda m, t: m["data"].update(split=3), "data.split"),
        (lambda m, t: m.update(loss="nosuch"), "field 'loss'"),
        (lambda m, t: m.update(loss_config={"nosuch": 1}), "loss_config.nosuch"),
        (lambda m, t: m.update(optim="abc"), "field 'optim'"),
        (lambda m, t: m["optim"].pop("generator"), "this model trains"),
        (lambda m, t: m["optim"]["generator"]["param_groups"][0].update(lr=None), "lr"),
        (
            lambda m, t: t.update(
                {"optim.generator.0.exp_avg": t["optim.generator.0.exp_avg"].long()}
            ),
            "floating",
        ),
        (lambda m, t: m["rng"]["numpy"].update(has_gauss=1.0), "has_gauss"),
        (lambda m, t: t.update({"rng.numpy": t["rng.numpy"] + 2**32}), "uint32"),
        (lambda m, t: t.update({"rng.python": t["rng.python"][:-1]}), "625"),
        (lambda m, t: t.update({"rng.cuda.x": torch.zeros(16, dtype=torch.uint8)}), "CUDA"),
        (lambda m, t: m["sampler"].update(position=41), "sampler.position"),
        (lambda m, t: m["sampler"].update(extra=1), "sampler.extra"),
        (
            lambda m, t: t.update(
                {"trainer.sampler.order": t["trainer.sampler.order"].flip(0)[:-1]}
            ),
            "orders 39",
        ),
        (
            lambda m, t: t.update({"trainer.sampler.rng": t["rng.torch"][:100].clone()}),
            "trainer.sampler.rng",
        ),
        (
            lambda m, t: t.update({"ema.net.0.weight": t["ema.net.0.weight"].half()}),
            "ema.net.0.weight",
        ),
        (lambda m, t: t.pop("ema.net.0.weight"), "lacks weight 'ema.net.0.weight'"),
    ],
)
def test_resume_state_is_validated_field_by_field(
    trained_run: Path, tmp_path: Path, edit: Any, match: str
) -> None:
    path = _damaged(trained_run, tmp_path, edit)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=match) as caught:
        validate_resume_state(load_checkpoint(path), 40, networks=("generator", "discriminator"))
    assert str(path) in caught.value.message and "\n" not in caught.value.message
    assert path.read_bytes() == before


def test_resume_through_the_runner_refuses_a_damaged_field(
    trained_run: Path, tmp_path: Path
) -> None:
    from gentool.training import runner

    run = tmp_path / "run"
    shutil.copytree(trained_run.parent, run)
    _damaged(trained_run, run, lambda m, t: m["sampler"].update(position=10**6))
    with pytest.raises(CheckpointError, match=r"sampler\.position"):
        runner.resume(run, steps=4)


# --- the typed metadata --------------------------------------------------------------------
def test_metadata_is_parsed_once_into_typed_fields(tmp_path: Path) -> None:
    from gentool.checkpoint import save_checkpoint

    meta = {
        "model": "dcgan",
        "family": "gan",
        "model_config": {"latent_dim": 8},
        "step": 12,
        "loss": "ls",
        "loss_config": {"a": -1.0},
        "data": {"name": "digits", "num_images": 10},
        "callbacks": {"csv-log": {"every": 2}},
    }
    info = load_checkpoint(save_checkpoint(tmp_path / "a.safetensors", {}, meta)).info
    assert (info.model, info.family, info.step, info.loss) == ("dcgan", "gan", 12, "ls")
    assert info.model_config == {"latent_dim": 8} and info.loss_config == {"a": -1.0}
    assert info.data["num_images"] == 10 and info.train == {} and info.plugins == {}
    assert info.callbacks == {"csv-log": {"every": 2}} and info.weights_dtype is None
    assert info.trained is None and info.raw["step"] == 12


@pytest.mark.parametrize(
    "field, value",
    [
        ("step", "12"),
        ("step", -1),
        ("step", True),
        ("loss", 3),
        ("loss", " "),
        ("data", ["digits"]),
        ("train", "steps=3"),
        ("loss_config", [1]),
        ("plugins", 0),
        ("callbacks", {"csv-log": "every=2"}),
    ],
)
def test_a_malformed_training_field_is_refused_by_every_reader(
    tmp_path: Path, field: str, value: Any
) -> None:
    from gentool.checkpoint import save_checkpoint

    meta = {"model": "dcgan", "family": "gan", "model_config": {}, field: value}
    path = save_checkpoint(tmp_path / "bad.safetensors", {}, meta)
    with pytest.raises(CheckpointError, match=f"field '{field}"):
        load_checkpoint(path)
