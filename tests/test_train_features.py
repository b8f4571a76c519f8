"""Training features a report relies on: D:G ratios, run files, TensorBoard, plain progress,
held-out VAE curves, recommended settings, plugin provenance, trainer plugins, PatchGAN
norms."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from gentool.checkpoint import load_checkpoint
from gentool.cli.main import cli
from gentool.errors import GentoolError, PluginError
from gentool.plugins import get_trainer_class
from gentool.training.gan import GanTrainer

TINY = ["--batch-size", "8", "--image-size", "16", "--device", "cpu", "--seed", "1"]
GAN = ["--model-opt", "g_width=4", "--model-opt", "d_width=4", "--model-opt", "latent_dim=8"]


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def optimizer_steps(ckpt: Path, network: str) -> int:
    tensors = load_file(str(ckpt))
    return int(tensors[f"optim.{network}.0.step"])


def test_g_steps_makes_two_generator_updates_per_discriminator_update(tmp_path: Path) -> None:
    out = tmp_path / "r"
    result = run("train", "dcgan", "--loss", "ls", *TINY, *GAN, "--steps", "3",
                 "--d-steps", "1", "--g-steps", "2", "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    ckpt = out / "ckpt.safetensors"
    assert optimizer_steps(ckpt, "discriminator") == 3
    assert optimizer_steps(ckpt, "generator") == 6
    assert load_checkpoint(ckpt).meta["train"]["g_steps"] == 2


@pytest.mark.parametrize("model", ["sr-unet", "cyclegan"])
def test_g_steps_in_image_to_image_and_translation(model: str, tmp_path: Path) -> None:
    from gentool.testing import _tiny_options, kit_data
    from gentool.training.runner import train

    data, extra = kit_data(model, tmp_path, 16)
    ckpt = train(model, model_options=_tiny_options(model), data=data, extra=extra, steps=2,
                 g_steps=2, batch_size=4, device="cpu", out=str(tmp_path / "r"))  # fmt: skip
    assert optimizer_steps(ckpt, "discriminator") == 2
    assert optimizer_steps(ckpt, "generator") == 4


def test_run_file_reproduces_the_run_and_the_command_line_wins(tmp_path: Path) -> None:
    first = tmp_path / "first"
    assert run("train", "dcgan", "--loss", "ls", *TINY, *GAN, "--steps", "2",
               "--lr-d", "3e-4", "--out", str(first)).exit_code == 0  # fmt: skip
    again = tmp_path / "again"
    result = run("train", "--config", str(first / "run.toml"), "--out", str(again),
                 "--steps", "3")  # fmt: skip
    assert result.exit_code == 0, result.output
    a, b = load_checkpoint(first).meta, load_checkpoint(again).meta
    assert a["model_config"] == b["model_config"] and a["loss_config"] == b["loss_config"]
    differ = {k for k in a["train"] if a["train"][k] != b["train"][k]}
    assert differ == {"steps", "out"}
    assert b["train"]["lr_d"] == 3e-4 and b["train"]["steps"] == 3


def test_run_file_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    for text, fragment in (
        ("model = 'dcgan'\nbatchsize = 3\n", "unknown key 'batchsize'"),
        ("model = [1, 2]\n", "'model' must be a string"),
        ("model = 'dcgan\n", "not valid TOML"),
        ("[model-opt]\nlatent_dim = {a = 1}\n", "'latent_dim' must be a number, a string"),
        ("model = 'dcgan'\nsteps = -2\n", "steps"),
    ):
        bad.write_text(text)
        result = CliRunner().invoke(cli, ["train", "--config", str(bad)])
        assert result.exit_code == 2, result.output
        assert fragment in result.output and "Traceback" not in result.output


@pytest.mark.skipif(
    importlib.util.find_spec("tensorboard") is None,
    reason="tensorboard is not installed (it comes with pip install -e '.[test]', as CI does)",
)
def test_tensorboard_event_files_hold_scalars_and_grids(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "r"
    result = run("train", "dcgan", "--loss", "ls", *TINY, *GAN, "--steps", "2", "--log-every",
                 "1", "--sample-every", "1", "--tensorboard", "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert {"loss_d", "loss_g", "d_real"} <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("loss_d")] == [1, 2]
    assert "samples" in events.Tags()["images"]


def test_progress_is_plain_lines_off_a_terminal_with_an_average_at_the_end(
    tmp_path: Path,
) -> None:
    result = run("train", "dcgan", "--loss", "ls", *TINY, *GAN, "--steps", "4", "--log-every",
                 "2", "--out", str(tmp_path / "r"))  # fmt: skip
    lines = result.output.splitlines()
    assert any(line.startswith("step 2/4 ") for line in lines), result.output
    assert any(line.startswith("step 4/4 ") and "loss_d=" in line for line in lines)
    assert any(line.startswith("trained 4 step(s) in ") and "on average" in line for line in lines)
    assert not any("…" in line for line in lines)  # nothing truncated


def test_vae_logs_held_out_elbo_and_uses_its_recommended_optimiser(tmp_path: Path) -> None:
    out = tmp_path / "vae"
    result = run("train", "vae", *TINY, "--model-opt", "width=4", "--steps", "2", "--log-every",
                 "1", "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "--lr-g 0.001" in result.output  # announced
    train = load_checkpoint(out).meta["train"]
    assert train["lr_g"] == 1e-3 and train["beta1"] == 0.9
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert all("test_elbo" in r and "test_mse" in r for r in records)
    assert records[0]["test_elbo"] < 0
    given = tmp_path / "given"
    result = run("train", "vae", *TINY, "--model-opt", "width=4", "--steps", "1", "--lr-g",
                 "5e-4", "--out", str(given))  # fmt: skip
    assert load_checkpoint(given).meta["train"]["lr_g"] == 5e-4


def test_wgan_gp_uses_the_papers_settings_unless_told(tmp_path: Path) -> None:
    out = tmp_path / "w"
    result = run("train", "dcgan", "--loss", "wgan-gp", *TINY, *GAN, "--steps", "1",
                 "--beta2", "0.99", "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    train = load_checkpoint(out).meta["train"]
    assert (train["lr_g"], train["lr_d"], train["beta1"], train["d_steps"]) == (1e-4, 1e-4, 0.0, 5)
    assert train["beta2"] == 0.99  # the user's choice wins


def _rewrite(path: Path, target: Path, change: Any) -> None:
    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata()
    meta = json.loads(metadata["gentool"])
    change(meta)
    save_file(load_file(str(path)), str(target), metadata={"gentool": json.dumps(meta)})


def test_checkpoints_record_plugins_and_a_missing_one_names_what_to_install(
    tmp_path: Path,
) -> None:
    out = tmp_path / "r"
    assert run("train", "dcgan", "--loss", "ls", *TINY, *GAN, "--steps", "1",
               "--out", str(out)).exit_code == 0  # fmt: skip
    recorded = load_checkpoint(out).meta["plugins"]
    assert recorded["model"]["distribution"] == "gentool"
    assert recorded["loss"]["name"] == "ls" and recorded["family"]["name"] == "gan"

    def foreign(meta: dict[str, Any]) -> None:
        meta["model"] = "fancy-gan"
        meta["plugins"]["model"] = {"name": "fancy-gan", "distribution": "gentool-fancy",
                                    "version": "1.2"}  # fmt: skip

    moved = tmp_path / "foreign.safetensors"
    _rewrite(out / "ckpt.safetensors", moved, foreign)
    for args in (["sample", str(moved), "-o", str(tmp_path / "g.png")],
                 ["train", "--resume", str(moved), "--out", str(tmp_path / "n")]):  # fmt: skip
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, result.output
        assert "pip install 'gentool-fancy==1.2'" in result.output


def test_trainers_are_plugins_found_by_family() -> None:
    assert get_trainer_class("gan") is GanTrainer
    with pytest.raises(PluginError, match="no model family 'nosuchfamily' is registered"):
        get_trainer_class("nosuchfamily")


def test_patchgan_norm_follows_the_loss() -> None:
    from gentool.models.srunet import SrUnet
    from gentool.plugins import get_loss_class

    wgan, ls = get_loss_class("wgan-gp")(), get_loss_class("ls")()
    assert SrUnet.configure({}, None, loss=wgan).d_norm == "layer"
    assert SrUnet.configure({}, None, loss=ls).d_norm == "batch"
    with pytest.raises(GentoolError, match="d_norm=layer"):
        SrUnet.configure({"d_norm": "batch"}, None, loss=wgan)
