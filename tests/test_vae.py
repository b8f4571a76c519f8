"""The VAE family: ELBO maths, annealing schedules, both models end to end through the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from gentool.checkpoint import load_checkpoint
from gentool.cli.main import cli
from gentool.errors import GentoolError
from gentool.loading import model_from_checkpoint
from gentool.losses.vae import (
    bernoulli_nll,
    bits_per_dim,
    cyclical_kl_weight,
    discrete_bits_per_dim,
    gaussian_kl,
    gaussian_nll,
    kl_weight,
    linear_kl_weight,
)
from gentool.models.vae import ConvVae, ConvVaeConfig, downsampling_plan
from gentool.plugins import get_model_class

TINY = [
    "--steps",
    "4",
    "--batch-size",
    "8",
    "--log-every",
    "2",
    "--sample-every",
    "2",
    "--checkpoint-every",
    "2",
    "--device",
    "cpu",
    "--lr-g",
    "1e-3",
]


def invoke(*args: str) -> object:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


# --- ELBO maths ------------------------------------------------------------------------------
def test_kl_is_zero_for_the_prior_itself() -> None:
    mu, logvar = torch.zeros(3, 5), torch.zeros(3, 5)
    assert torch.equal(gaussian_kl(mu, logvar), torch.zeros(3))


def test_kl_hand_computed() -> None:
    # One dimension, mu = 1, var = e: 0.5 * (1 + e - 1 - 1) = (e - 1) / 2.
    kl = gaussian_kl(torch.tensor([[1.0]]), torch.tensor([[1.0]]))
    assert kl.item() == pytest.approx((math.e - 1) / 2, rel=1e-6)


def test_kl_matches_torch_distributions() -> None:
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = torch.distributions.kl_divergence(q, p).sum(1)
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected)


def test_likelihoods_match_torch_distributions() -> None:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 1, 3, 3, generator=g)
    target = torch.rand(2, 1, 3, 3, generator=g).round()
    bern = torch.distributions.Bernoulli(logits=logits).log_prob(target).flatten(1).sum(1)
    torch.testing.assert_close(bernoulli_nll(logits, target), -bern)
    mean, sigma = torch.rand(2, 1, 3, 3, generator=g), 0.1
    normal = torch.distributions.Normal(mean, sigma).log_prob(target).flatten(1).sum(1)
    torch.testing.assert_close(gaussian_nll(mean, target, torch.tensor(math.log(sigma))), -normal)


def test_bits_per_dim() -> None:
    # A uniform Bernoulli costs exactly one bit per pixel.
    assert bits_per_dim(784 * math.log(2), 784) == pytest.approx(1.0)
    # A density of 1 on [0, 1] (0 nats) is a uniform distribution over 256 levels: 8 bits.
    assert discrete_bits_per_dim(0.0, 10) == pytest.approx(8.0)


# --- annealing ---------------------------------------------------------------------------------
def test_linear_schedule_end_points() -> None:
    assert linear_kl_weight(0, 100) == 0.0
    assert linear_kl_weight(50, 100) == pytest.approx(0.5)
    assert linear_kl_weight(100, 100) == 1.0
    assert linear_kl_weight(5000, 100) == 1.0
    assert linear_kl_weight(0, 0) == 1.0  # no warm-up


def test_cyclical_schedule_restarts_each_cycle() -> None:
    assert cyclical_kl_weight(0, 100, ramp=0.5) == 0.0
    assert cyclical_kl_weight(50, 100, ramp=0.5) == 1.0
    assert cyclical_kl_weight(99, 100, ramp=0.5) == 1.0
    assert cyclical_kl_weight(100, 100, ramp=0.5) == 0.0
    assert cyclical_kl_weight(125, 100, ramp=0.5) == pytest.approx(0.5)
    # 4 cycles over 400 steps: the same restarts through the dispatcher.
    weights = [kl_weight(s, "cyclical", total_steps=400, cycles=4) for s in (0, 100, 200, 300)]
    assert weights == [0.0, 0.0, 0.0, 0.0]
    assert kl_weight(10, "none") == 1.0


# --- architecture ------------------------------------------------------------------------------
@pytest.mark.parametrize(("size", "plan"), [(28, (2, 7)), (32, (3, 4)), (64, (4, 4)), (96, (5, 3))])
def test_conv_vae_handles_each_resolution(size: int, plan: tuple[int, int]) -> None:
    assert downsampling_plan(size) == plan
    model = ConvVae(ConvVaeConfig(image_size=size, channels=3, width=4, latent_dim=3)).eval()
    x = torch.rand(2, 3, size, size) * 2 - 1
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (2, 3)
    out = model.reconstruct(x)
    assert out.shape == x.shape
    assert out.min() >= -1 and out.max() <= 1


def test_bad_options_are_one_line_errors() -> None:
    cls = get_model_class("vae")
    with pytest.raises(GentoolError, match="divisible by 4"):
        cls.configure({"image_size": "30"})
    with pytest.raises(GentoolError, match="gaussian_sigma"):
        cls.configure({"likelihood": "gaussian", "gaussian_sigma": "-1"})
    with pytest.raises(GentoolError, match="kl_anneal"):
        cls.configure({"kl_anneal": "sigmoid"})


# --- end to end through the CLI ----------------------------------------------------------------
@pytest.fixture(scope="module")
def vae_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "vae"
    result = invoke(
        "train", "vae", "--out", str(out), "--image-size", "16", *TINY,
        "--model-opt", "width=4", "--model-opt", "latent_dim=3",
        "--model-opt", "likelihood=gaussian", "--model-opt", "gaussian_sigma=learned",
        "--model-opt", "kl_anneal=linear", "--model-opt", "kl_warmup=4",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def test_training_logs_finite_elbo_terms(vae_run: Path) -> None:
    records = [json.loads(line) for line in (vae_run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    for r in records:
        for key in ("loss", "recon", "kl", "elbo", "beta", "bits_per_dim", "mse", "sigma"):
            assert math.isfinite(r[key]), key
        assert r["elbo"] == pytest.approx(-(r["recon"] + r["kl"]), rel=1e-5)
        assert r["loss"] == pytest.approx(r["recon"] + r["beta"] * r["kl"], rel=1e-5)
    # Linear warm-up over 4 steps: the weight logged at step 2 was used for update 2 (t = 1).
    assert records[0]["beta"] == pytest.approx(0.25)
    assert (vae_run / "samples" / "step_000004.png").is_file()
    assert (vae_run / "samples" / "recon_step_000004.png").is_file()


def test_checkpoint_rebuilds_the_model(vae_run: Path) -> None:
    ckpt = load_checkpoint(vae_run)
    model = model_from_checkpoint(ckpt)
    assert ckpt.meta["model_config"]["likelihood"] == "gaussian"
    x = torch.rand(5, 1, 16, 16) * 2 - 1
    assert model.reconstruct(x).shape == (5, 1, 16, 16)
    assert model.sample(7, generator=torch.Generator().manual_seed(0)).shape == (7, 1, 16, 16)
    state = ckpt.section("model")
    assert "log_sigma" in state  # the learned sigma is a weight


def test_reconstruct_writes_grid_and_metrics(vae_run: Path, tmp_path: Path) -> None:
    grid, metrics = tmp_path / "recon.png", tmp_path / "m.json"
    result = invoke("reconstruct", str(vae_run), "-o", str(grid), "--json", str(metrics),
                    "--show", "4", "--device", "cpu", "--no-title")  # fmt: skip
    assert result.exit_code == 0, result.output
    values = json.loads(metrics.read_text())
    assert values["split"] == "test" and values["images"] == 180  # 10% of the 1797 digits
    assert 0 < values["mse_per_pixel"] < 1
    assert values["elbo_per_image"] == pytest.approx(
        -(values["recon_nll_per_image"] + values["kl_per_image"])
    )
    with Image.open(grid) as image:  # 2 rows (originals, reconstructions) of 4 images of 16 px
        assert image.size == (4 * 18 + 2, 2 * 18 + 2)


def test_reconstruct_takes_files_and_folders(vae_run: Path, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    for i, where in enumerate(["a.png", "sub/b.jpg", "c.png"]):
        Image.new("RGB", (20, 24), (40 * i, 90, 200)).save(folder / where)
    single = tmp_path / "single.png"
    Image.new("L", (16, 16), 30).save(single)
    metrics = tmp_path / "m.json"
    result = invoke("reconstruct", str(vae_run), str(folder), str(single), "--device", "cpu",
                    "-o", str(tmp_path / "r.png"), "--json", str(metrics))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(metrics.read_text())["images"] == 4
    result = CliRunner().invoke(cli, ["reconstruct", str(vae_run), str(folder / "sub"),
                                      "--dataset", "digits"])  # fmt: skip
    assert result.exit_code == 2 and "--dataset" in result.output


def test_sample_interpolates(vae_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "walk.png"
    result = invoke("sample", str(vae_run), "-n", "3", "--interpolate", "5", "-o", str(out),
                    "--no-title")  # fmt: skip
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:  # 3 rows x 5 columns of 16 px tiles
        assert image.size == (5 * 18 + 2, 3 * 18 + 2)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    Image.new("L", (16, 16), 0).save(a)
    Image.new("L", (16, 16), 255).save(b)
    result = invoke("sample", str(vae_run), "--sample-opt", f"from={a}",
                    "--sample-opt", f"to={b}", "--interpolate", "4", "-o", str(out),
                    "--overwrite", "--no-title")  # fmt: skip
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.size == (4 * 18 + 2, 18 + 2)
    result = CliRunner().invoke(cli, ["sample", str(vae_run), "--per-label"])
    assert result.exit_code == 2


def test_mlp_vae_trains_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "mlp"
    result = invoke("train", "vae-mlp", "--out", str(out), "--image-size", "28", *TINY,
                    "--model-opt", "hidden=16", "--model-opt", "latent_dim=2")  # fmt: skip
    assert result.exit_code == 0, result.output
    meta = load_checkpoint(out).meta
    assert meta["model_config"]["likelihood"] == "bernoulli"
    result = invoke("train", "--resume", str(out), "--steps", "6")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4, 6]
    assert all(math.isfinite(r["elbo"]) and r["elbo"] < 0 for r in records)
    model = model_from_checkpoint(load_checkpoint(out))
    mu, logvar = model.encode(torch.zeros(3, 1, 28, 28))
    assert mu.shape == logvar.shape == (3, 2)


def test_train_opt_points_to_model_opt(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["train", "vae-mlp", "--out", str(tmp_path / "x"), *TINY, "--train-opt", "beta=4"]
    )
    assert result.exit_code == 2
    assert "--model-opt beta" in result.output
