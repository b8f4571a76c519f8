from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from gentool.cli.main import cli

TINY = [
    "--steps",
    "4",
    "--batch-size",
    "8",
    "--image-size",
    "16",
    "--log-every",
    "2",
    "--sample-every",
    "2",
    "--checkpoint-every",
    "2",
    "--device",
    "cpu",
    "--model-opt",
    "g_width=4",
    "--model-opt",
    "d_width=4",
    "--model-opt",
    "latent_dim=8",
]


def run(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "dcgan-ls"
    result = CliRunner().invoke(cli, ["train", "dcgan", "--loss", "ls", "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    return out


def test_train_writes_run_folder(trained: Path) -> None:
    assert (trained / "ckpt.safetensors").is_file()
    records = [json.loads(line) for line in (trained / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    for key in (
        "loss_d",
        "loss_g",
        "d_real",
        "d_fake",
        "lr_generator",
        "lr_discriminator",
        "images_per_s",
    ):
        assert key in records[-1]
    grids = sorted(p.name for p in (trained / "samples").iterdir())
    assert grids == ["step_000000.png", "step_000002.png", "step_000004.png"]
    config = json.loads((trained / "config.json").read_text())
    assert config["loss"] == "ls" and config["model_config"]["image_size"] == 16


def test_sample_grid_and_individual_files_are_reproducible(trained: Path, tmp_path: Path) -> None:
    ckpt = str(trained / "ckpt.safetensors")
    assert (
        run(
            "sample", ckpt, "-n", "36", "-o", str(tmp_path / "a.png"), "--seed", "5", "--no-title"
        ).exit_code
        == 0
    )
    assert (
        run(
            "sample", ckpt, "-n", "36", "-o", str(tmp_path / "b.png"), "--seed", "5", "--no-title"
        ).exit_code
        == 0
    )
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    grid = Image.open(tmp_path / "a.png")
    assert grid.size == (6 * 16 + 7 * 2, 6 * 16 + 7 * 2)  # 6x6 tiles with 2-pixel padding
    run("sample", ckpt, "-n", "3", "--out-dir", str(tmp_path / "each"))
    assert sorted(p.name for p in (tmp_path / "each").iterdir()) == [
        "sample_00000.png",
        "sample_00001.png",
        "sample_00002.png",
    ]
    # Folder form of the checkpoint argument works too.
    assert run("sample", str(trained), "-n", "4", "-o", str(tmp_path / "c.png")).exit_code == 0


def test_resume_continues_to_more_steps(trained: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    result = CliRunner().invoke(cli, ["train", "--resume", str(copy), "--steps", "6"])
    assert result.exit_code == 0, result.output
    steps = [json.loads(line)["step"] for line in (copy / "log.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6]


def test_plugins_lists_everything() -> None:
    result = CliRunner().invoke(cli, ["plugins"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in ("dcgan", "bce", "ls", "wgan-gp", "hinge", "digits"):
        assert name in result.output


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["train", "nosuchmodel"], "unknown model 'nosuchmodel'"),
        (["train", "dcgan", "--loss", "lsq"], "Did you mean 'ls'"),
        (["train", "dcgan", "--dataset", "nope"], "unknown dataset 'nope'"),
        (["train", "dcgan", "--batch-size", "-3"], "'--batch-size': -3 is not in the range x>=1"),
        (["train", "dcgan", "--device", "cuda:7"], "cuda:7"),
        (["train", "dcgan", "--model-opt", "widht=3"], "unknown model option 'widht'"),
        (["train", "dcgan", "--model-opt", "g_width=abc"], "expects an integer"),
        (["train", "dcgan", "--loss-opt", "nokey"], "key=value"),
        (["train"], "name a model"),
        (["sample", "missing.safetensors"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], fragment: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    error_lines = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(error_lines) == 1
    assert "Traceback" not in result.output


def test_non_checkpoint_file_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "model.safetensors"
    fake.write_bytes(b"\x80\x04\x95not a checkpoint at all")
    result = CliRunner().invoke(cli, ["sample", str(fake)])
    assert result.exit_code == 2
    assert "Error" in result.output and "Traceback" not in result.output


def test_bf16_autocast_and_channels_last_train_with_finite_losses(tmp_path: Path) -> None:
    out = tmp_path / "bf16"
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "dcgan",
            "--loss",
            "ls",
            "--out",
            str(out),
            "--precision",
            "bf16",
            "--channels-last",
            *TINY,
        ],
    )
    assert result.exit_code == 0, result.output
    import math

    last = json.loads((out / "log.jsonl").read_text().splitlines()[-1])
    assert math.isfinite(last["loss_d"]) and math.isfinite(last["loss_g"])


def test_channels_last_learns_the_same_weights(tmp_path: Path) -> None:
    from gentool.checkpoint import load_checkpoint

    for name, extra in (("plain", []), ("nhwc", ["--channels-last"])):
        args = ["train", "dcgan", "--loss", "ls", "--out", str(tmp_path / name), *TINY, *extra]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
    a = load_checkpoint(tmp_path / "plain").section("model")
    b = load_checkpoint(tmp_path / "nhwc").section("model")
    worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    assert worst < 1e-4  # the same arithmetic in another memory layout


def test_compile_failure_falls_back_to_eager_with_a_notice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    def broken(module: object, **kwargs: object) -> object:
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", broken)
    out = tmp_path / "compiled"
    result = CliRunner().invoke(
        cli, ["train", "dcgan", "--loss", "ls", "--out", str(out), "--compile", *TINY]
    )
    assert result.exit_code == 0, result.output
    assert "torch.compile unavailable (no compiler here); running eagerly" in result.output
    assert (out / "ckpt.safetensors").exists()


def test_cuda_graphs_on_the_cpu_train_eagerly_with_a_notice(tmp_path: Path) -> None:
    out = tmp_path / "graphs"
    result = CliRunner().invoke(
        cli, ["train", "dcgan", "--loss", "ls", "--out", str(out), "--cuda-graphs", *TINY]
    )
    assert result.exit_code == 0, result.output
    assert "--cuda-graphs: CUDA graphs need a CUDA device; running eagerly" in result.output
    assert (out / "ckpt.safetensors").exists()


def test_a_compiled_step_that_fails_is_undone_and_run_eagerly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # torch.compile compiles at the first call; make that call fail half-way through the step
    # (after the discriminator's update) and check the run learns exactly what eager training
    # learns: the failed step left nothing behind.
    import torch

    from gentool.checkpoint import load_checkpoint

    calls = {"n": 0}

    def fake_compile(self: torch.nn.Module, *args: object, **kwargs: object) -> None:
        original = self._call_impl

        def compiled(*a: object, **k: object) -> object:
            calls["n"] += 1
            if calls["n"] == 4:  # G(z), D(real), D(fake) and D's update ran; D(G(z)) for G fails
                raise RuntimeError("inductor: stride mismatch")
            return original(*a, **k)

        self._compiled_call_impl = compiled

    monkeypatch.setattr(torch.nn.Module, "compile", fake_compile)
    out = tmp_path / "compiled"
    result = CliRunner().invoke(
        cli, ["train", "dcgan", "--loss", "ls", "--out", str(out), "--compile", *TINY]
    )
    assert result.exit_code == 0, result.output
    shown = " ".join(result.output.split())
    assert "compiling the networks failed (RuntimeError: inductor: stride mismatch)" in shown
    monkeypatch.undo()
    eager = tmp_path / "eager"
    result = CliRunner().invoke(cli, ["train", "dcgan", "--loss", "ls", "--out", str(eager), *TINY])
    assert result.exit_code == 0, result.output
    a = load_checkpoint(out).section("model")
    b = load_checkpoint(eager).section("model")
    assert set(a) == set(b)  # in-place compilation keeps the weight names
    assert max(float((a[k].float() - b[k].float()).abs().max()) for k in a) < 1e-6
