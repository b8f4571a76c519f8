"""The ddpm plugin: schedules, samplers, training, exact resume and every command on a run."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from gentool.checkpoint import load_checkpoint
from gentool.errors import GentoolError
from gentool.testing import assert_model_trains, plugin_registry

gentool_ddpm = pytest.importorskip("gentool_ddpm")

from gentool_ddpm.model import DdpmModel  # noqa: E402
from gentool_ddpm.schedule import (  # noqa: E402
    alpha_bar_of,
    cosine_alpha_bar,
    cosine_betas,
    diffuse,
    linear_betas,
    reverse_step,
    timestep_sequence,
)

TINY = {"width": "8", "groups": "4", "blocks": "1", "timesteps": "16", "schedule": "cosine"}
TINY_FLAGS = [flag for key, value in TINY.items() for flag in ("--model-opt", f"{key}={value}")]


@pytest.fixture(autouse=True)
def only_this_plugin() -> Iterator[None]:
    """gentool's built-ins and this plugin, whatever else is installed."""
    with plugin_registry("gentool-ddpm"):
        yield


def tiny_model(**options: Any) -> DdpmModel:
    torch.manual_seed(0)
    config = DdpmModel.configure({**TINY, "image_size": 16, "channels": 1, **options})
    return DdpmModel(config).eval()


# --- the schedule -----------------------------------------------------------------------------


def test_linear_betas_are_ho_et_al_scaled_to_the_chain_length() -> None:
    betas = linear_betas(1000)
    assert betas[0].item() == pytest.approx(1e-4) and betas[-1].item() == pytest.approx(0.02)
    # the 1000-step chain ends at alpha_bar = prod(1 - beta) ~ 4.04e-5: nearly pure noise
    assert alpha_bar_of(betas)[-1].item() == pytest.approx(4.036e-5, rel=1e-3)
    short = linear_betas(100)  # scaled by 1000 / 100
    assert short[0].item() == pytest.approx(1e-3) and short[-1].item() == pytest.approx(0.2)


def test_cosine_alpha_bar_falls_from_one_inside_the_unit_interval() -> None:
    curve = cosine_alpha_bar(1000)
    assert curve[0].item() == 1.0 and curve[-1].item() == pytest.approx(0.0, abs=1e-12)
    # Nichol & Dhariwal eq. 17 at t = T/2: cos^2((0.5 + s) / (1 + s) * pi / 2) / f(0)
    s = 0.008
    half = (
        math.cos((0.5 + s) / (1 + s) * math.pi / 2) ** 2 / math.cos(s / (1 + s) * math.pi / 2) ** 2
    )
    assert curve[500].item() == pytest.approx(half)
    alpha_bar = alpha_bar_of(cosine_betas(1000))
    assert alpha_bar[0].item() == pytest.approx(1.0, abs=1e-4)
    assert bool((alpha_bar > 0).all() and (alpha_bar <= 1).all())
    assert bool((alpha_bar[1:] < alpha_bar[:-1]).all()), "alpha_bar must fall at every step"
    assert float(cosine_betas(1000).max()) == pytest.approx(0.999)  # clipped at the end


def test_timestep_sequences_are_evenly_spaced_and_end_at_the_last_step() -> None:
    assert timestep_sequence(16, 16) == list(range(16))
    assert timestep_sequence(16, 1) == [15]
    assert timestep_sequence(1000, 4) == [249, 499, 749, 999]
    uneven = timestep_sequence(16, 5)
    assert len(set(uneven)) == 5 and uneven == sorted(uneven) and uneven[-1] == 15


def test_a_deterministic_step_with_the_true_noise_lands_on_the_forward_process() -> None:
    g = torch.Generator().manual_seed(1)
    clean = torch.rand(3, 1, 8, 8, generator=g) * 2 - 1
    noise = torch.randn(3, 1, 8, 8, generator=g)
    a_t, a_p = torch.tensor(0.3), torch.tensor(0.8)
    noisy = diffuse(clean, a_t, noise)
    # DDIM (eta 0) keeps the noise: from x_t it reaches exactly the x_p of the same draw ...
    step = reverse_step(noisy, noise, a_t, a_p, eta=0.0)
    torch.testing.assert_close(step, diffuse(clean, a_p, noise))
    # ... and the clean image itself on the last step
    torch.testing.assert_close(reverse_step(noisy, noise, a_t, torch.tensor(1.0), eta=0.0), clean)


# --- the model --------------------------------------------------------------------------------


def test_model_trains_with_the_testing_kit(tmp_path: Path) -> None:
    ckpt = assert_model_trains("ddpm", tmp_path)
    meta = load_checkpoint(ckpt).meta
    assert meta["family"] == "diffusion" and meta["model_config"]["timesteps"] == 16
    assert meta["plugins"]["family"]["distribution"] == "gentool-ddpm"


@pytest.mark.parametrize(
    "options", [{"sampler": "ddim", "steps": "16"}, {"sampler": "ddpm"}, {"steps": "5"}]
)
def test_samplers_draw_images_in_range_deterministically(options: dict[str, str]) -> None:
    model = tiny_model()

    def draw(seed: int) -> torch.Tensor:
        grid_options = {"label": [], "per_label": False, **options}
        with torch.no_grad():
            images, columns = model.sample_grid(
                5, generator=torch.Generator().manual_seed(seed), options=grid_options
            )
        assert columns is None
        return images

    images = draw(0)
    assert images.shape == (5, 1, 16, 16)
    assert images.min() >= -1 and images.max() <= 1 and torch.isfinite(images).all()
    assert torch.equal(images, draw(0)), "a seed must give the same images"
    assert not torch.equal(images, draw(1))


def test_ddim_needs_no_noise_but_the_first_and_ancestral_does() -> None:
    model = tiny_model()
    x_t = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))

    def run(sampler: str, seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return model.denoise(x_t, sampler=sampler, steps=8, generator=g)

    assert torch.equal(run("ddim", 0), run("ddim", 1))
    assert not torch.equal(run("ddpm", 0), run("ddpm", 1))


def test_sample_uses_the_configured_sampler() -> None:
    model = tiny_model(sampler="ddim", sample_steps="4")
    g = torch.Generator().manual_seed(3)
    expected = model.denoise(model.initial_noise(2, g), sampler="ddim", steps=4)
    torch.testing.assert_close(
        model.sample(2, generator=torch.Generator().manual_seed(3)), expected
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"eta": "0.5"}, "does not take --sample-opt eta; it takes --sample-opt sampler"),
        ({"per_label": True}, "does not take --per-label"),
        ({"sampler": "euler"}, "sampler must be one of ddpm, ddim, not 'euler'"),
        ({"steps": "17"}, "between 1 and the model's 16 timesteps, not 17"),
        ({"steps": "many"}, "expects a whole number of steps, got 'many'"),
    ],
)
def test_unknown_sample_options_are_refused_in_one_line(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(GentoolError, match=message):
        tiny_model().sample_grid(2, options=options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"schedule": "linear", "timesteps": "10"}, "use timesteps >= 21 or schedule=cosine"),
        ({"groups": "3"}, r"groups \(3\) must divide width \(8\)"),
        ({"levels": "4", "image_size": "20"}, "needs an image size divisible by 8, not 20"),
        ({"schedule": "sigmoid"}, "schedule must be one of linear, cosine"),
        ({"sample_steps": "0"}, "sample_steps must be between 1 and the model's 16 timesteps"),
    ],
)
def test_impossible_configs_are_refused_in_one_line(options: dict[str, str], message: str) -> None:
    with pytest.raises(GentoolError, match=message):
        DdpmModel.configure({**TINY, "image_size": "16", **options})


# --- exact resume -----------------------------------------------------------------------------


def _train(out: Path, steps: int) -> Path:
    from gentool.data.base import DataSpec
    from gentool.training import runner

    return runner.train(
        "ddpm",
        model_options=dict(TINY),
        data=DataSpec(image_size=16),
        steps=steps,
        batch_size=8,
        ema=0.9,
        log_every=1,
        sample_every=1000,
        checkpoint_every=1000,
        samples=4,
        device="cpu",
        out=str(out),
        seed=3,
        overwrite=True,
    )


def test_resume_is_bit_identical_to_a_straight_run(tmp_path: Path) -> None:
    from gentool.training import runner

    def state(path: Path) -> dict[str, torch.Tensor]:
        tensors = load_checkpoint(path).tensors
        return {
            k: v
            for k, v in tensors.items()
            if k.split(".")[0] in ("model", "optim", "rng", "trainer", "ema")
        }

    straight = state(_train(tmp_path / "straight", 4))
    _train(tmp_path / "split", 2)
    runner.resume(tmp_path / "split", steps=4)
    resumed = state(tmp_path / "split" / "ckpt.safetensors")
    assert straight.keys() == resumed.keys() and any(k.startswith("ema.") for k in straight)
    assert [k for k in straight if not torch.equal(straight[k], resumed[k])] == []
    log = (tmp_path / "split" / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == [1, 2, 3, 4]


# --- the commands -----------------------------------------------------------------------------


def gentool(*args: str) -> str:
    from gentool.cli.main import cli

    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, f"gentool {' '.join(args)}:\n{result.output}"
    return result.output


def refused(*args: str) -> str:
    from gentool.cli.main import cli

    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code != 0 and result.exception is not None
    return result.output


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-step run of the tiny ddpm on 16-px digits, trained through the CLI."""
    out = tmp_path_factory.mktemp("cli") / "RUN"
    with plugin_registry("gentool-ddpm"):
        gentool(
            "train", "ddpm", "--dataset", "digits", "--image-size", "16", *TINY_FLAGS,
            "--steps", "4", "--batch-size", "8", "--log-every", "1",
            "--device", "cpu", "--out", str(out),
        )  # fmt: skip
    return out


def test_cli_train_writes_a_diffusion_run(run: Path) -> None:
    assert (run / "samples" / "step_000004.png").exists()
    assert "lr-d" not in (run / "run.toml").read_text()  # a setting the loop never uses


def test_cli_samples_with_either_sampler(run: Path, tmp_path: Path) -> None:
    gentool("sample", str(run), "-n", "4", "-o", str(tmp_path / "g.png"), "--device", "cpu")
    gentool("sample", str(run), "-n", "4", "-o", str(tmp_path / "ddim.png"), "--device", "cpu",
            "--sample-opt", "sampler=ddim", "--sample-opt", "steps=5")  # fmt: skip
    assert (tmp_path / "g.png").stat().st_size > 0 and (tmp_path / "ddim.png").stat().st_size > 0
    out = refused("sample", str(run), "-n", "2", "-o", str(tmp_path / "x.png"),
                  "--sample-opt", "eta=1")  # fmt: skip
    assert "does not take --sample-opt eta" in out


def test_cli_evaluates_swd_against_the_test_split(run: Path, tmp_path: Path) -> None:
    report = tmp_path / "metrics.json"
    gentool("evaluate", str(run), "--metrics", "swd", "-n", "64", "--device", "cpu",
            "--json", str(report))  # fmt: skip
    values = json.loads(report.read_text())
    assert values["model"] == "ddpm" and values["num_generated"] == 64
    assert 0 < values["metrics"]["swd_avg"] < math.inf


def test_cli_plots_curves(run: Path, tmp_path: Path) -> None:
    gentool("plot", "curves", str(run), "-o", str(tmp_path / "c.png"))
    assert (tmp_path / "c.png").stat().st_size > 0


def test_cli_refuses_what_the_loop_does_not_use(run: Path, tmp_path: Path) -> None:
    base = ["train", "ddpm", "--image-size", "16", *TINY_FLAGS, "--steps", "1",
            "--device", "cpu", "--out", str(tmp_path / "r")]  # fmt: skip
    assert "--lr-d does not apply to 'ddpm' (diffusion)" in refused(*base, "--lr-d", "1e-3")
    assert "drop --loss ls" in refused(*base, "--loss", "ls")
    assert "takes no --train-opt, got 'augment'" in refused(*base, "--train-opt", "augment=flip")


def test_cli_resumes_the_run(run: Path) -> None:
    gentool("train", "--resume", str(run), "--steps", "6")
    assert load_checkpoint(run / "ckpt.safetensors").meta["step"] == 6
