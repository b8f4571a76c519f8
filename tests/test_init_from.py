"""``gentool train --init-from CKPT``: a new run that starts from a checkpoint's weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from gentool.checkpoint import load_checkpoint
from gentool.cli.main import cli
from gentool.errors import GentoolError
from gentool.training.runner import build_trainer, resume, train
from gentool.training.settings import TrainSettings

TINY = ["--batch-size", "8", "--image-size", "16", "--device", "cpu", "--sample-every", "100"]
GAN = ["--model-opt", "g_width=4", "--model-opt", "d_width=4", "--model-opt", "latent_dim=8"]


def run(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _dcgan(out: Path, *extra: str) -> Path:
    result = run("train", "dcgan", "--loss", "ls", *TINY, *GAN, "--steps", "2",
                 "--out", str(out), *extra)  # fmt: skip
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    return out / "ckpt.safetensors"


def test_the_new_run_starts_from_the_checkpoints_weights(tmp_path: Path) -> None:
    from gentool.data.base import DataSpec

    source = _dcgan(tmp_path / "a", "--seed", "3")
    saved = load_checkpoint(source).section("model")
    settings = TrainSettings(batch_size=8, steps=1, device="cpu", out=str(tmp_path / "b"))
    options = {"g_width": 4, "d_width": 4, "latent_dim": 8}
    spec = DataSpec(image_size=16)
    fresh = build_trainer("dcgan", loss="ls", model_options=options, data=spec, settings=settings)
    started = build_trainer("dcgan", loss="ls", model_options=options, data=spec,
                            settings=settings, init_from=str(source))  # fmt: skip
    state = started.model.state_dict()
    assert all(torch.equal(state[k], saved[k]) for k in saved)
    assert any(not torch.equal(fresh.model.state_dict()[k], saved[k]) for k in saved)
    # the optimiser, steps and random streams are new: this is not a resume
    assert started.step == 0
    assert started.init_from is not None and started.init_from["step"] == 2


def test_the_run_records_where_it_started_and_keeps_it_across_resumes(tmp_path: Path) -> None:
    source = _dcgan(tmp_path / "a")
    ckpt = _dcgan(tmp_path / "b", "--init-from", str(tmp_path / "a"))
    meta = load_checkpoint(ckpt).meta
    assert meta["init_from"]["path"] == str(source.resolve())
    assert len(meta["init_from"]["sha256"]) == 64
    assert f'init-from = "{source.resolve()}"' in (tmp_path / "b" / "run.toml").read_text()
    resume(tmp_path / "b", steps=3)
    resume(tmp_path / "b", steps=4)
    meta = load_checkpoint(ckpt).meta
    assert meta["init_from"]["path"] == str(source.resolve())
    # every resume is kept, not only the last one
    assert [h["step"] for h in meta["history"]] == [2, 3]
    # the run file reproduces the run, starting point included
    again = run("train", "--config", str(tmp_path / "b" / "run.toml"), "--out",
                str(tmp_path / "c"), "--steps", "2")  # fmt: skip
    assert again.exit_code == 0, again.output  # type: ignore[attr-defined]
    assert load_checkpoint(tmp_path / "c").meta["init_from"]["path"] == str(source.resolve())
    # a legend tells the runs apart by where they started, not by digests or resumes
    from gentool.plotting import run_labels

    labels = run_labels([tmp_path / "a", tmp_path / "b"])
    assert labels == ["init_from=unset, steps=2", "init_from=a, steps=4"]


def test_an_export_without_discriminator_starts_only_the_discriminator_fresh(
    tmp_path: Path,
) -> None:
    from gentool.testing import _tiny_options, kit_data
    from gentool.upscale import export_upscaler

    data, extra = kit_data("sr-unet", tmp_path, 16)
    first = train("sr-unet", model_options=_tiny_options("sr-unet"), data=data, extra=extra,
                  steps=1, batch_size=4, device="cpu", out=str(tmp_path / "a"))  # fmt: skip
    export_upscaler(tmp_path / "a", tmp_path / "g.safetensors")
    ckpt = train("sr-unet", model_options=_tiny_options("sr-unet"), data=data, extra=extra,
                 steps=1, batch_size=4, device="cpu", out=str(tmp_path / "b"),
                 init_from=str(tmp_path / "g.safetensors"))  # fmt: skip
    meta = load_checkpoint(ckpt).meta
    assert meta["init_from"]["fresh"] == ["discriminator"]
    assert meta["init_from"]["step"] is None  # an export has no step
    assert "with_discriminator" in meta["init_from"]["differs"]
    assert first.exists()


def test_the_shipped_upscaler_can_be_fine_tuned(tmp_path: Path) -> None:
    from importlib import resources

    from gentool.testing import kit_data

    data, _ = kit_data("sr-resnet", tmp_path, 32)
    shipped = resources.files("gentool") / "weights" / "sr-resnet-x4.safetensors"
    saved = load_checkpoint(str(shipped))
    options = {
        k: v for k, v in saved.meta["model_config"].items() if k not in ("image_size", "channels")
    }
    settings = TrainSettings(batch_size=4, steps=1, device="cpu", out=str(tmp_path / "b"))
    trainer = build_trainer("sr-resnet", model_options=options, settings=settings,
                            data=data, init_from=str(shipped))  # fmt: skip
    state = trainer.model.state_dict()
    # float16 storage, widened to the model's float32
    assert all(torch.equal(state[k], v.float()) for k, v in saved.section("model").items())


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (("--model-opt", "g_width=8"), "trained with g_width=4"),
        (("--model-opt", "latent_dim=5"), "latent_dim=8"),
    ],
)
def test_a_different_architecture_is_refused_naming_the_option(
    tmp_path: Path, extra: tuple[str, ...], match: str
) -> None:
    _dcgan(tmp_path / "a")
    changed = extra[1].split("=")[0]  # replaces GAN's value (a key given twice is refused)
    gan = [a for i in range(0, len(GAN), 2) if not GAN[i + 1].startswith(f"{changed}=")
           for a in GAN[i : i + 2]]  # fmt: skip
    result = run("train", "dcgan", "--loss", "ls", *TINY, *gan, *extra, "--steps", "2",
                 "--out", str(tmp_path / "b"), "--init-from", str(tmp_path / "a"))  # fmt: skip
    assert result.exit_code != 0  # type: ignore[attr-defined]
    assert match in result.output  # type: ignore[attr-defined]
    assert not (tmp_path / "b").exists()


def test_another_model_is_refused(tmp_path: Path) -> None:
    from gentool.data.base import DataSpec

    source = _dcgan(tmp_path / "a")
    settings = TrainSettings(batch_size=8, steps=1, device="cpu", out=str(tmp_path / "b"))
    with pytest.raises(GentoolError, match="holds model 'dcgan', not 'vae'"):
        build_trainer("vae", model_options={"width": 4, "latent_dim": 4}, settings=settings,
                      data=DataSpec(image_size=16), init_from=str(source))  # fmt: skip
