"""The VAE's two loss formulations (model option ``reduction``): ``sum`` is today's objective
bit for bit, ``mean`` is the per-pixel form of course notes, and ``beta_sum = lambda * D / d``
makes them the same objective up to the factor ``1 / D``."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from gentool.checkpoint import load_checkpoint, save_checkpoint
from gentool.cli.main import cli
from gentool.errors import GentoolError
from gentool.loading import model_from_checkpoint
from gentool.losses.vae import reparameterize
from gentool.models.vae import VaeModel
from gentool.plugins import get_model_class

#: sigma with 2 sigma^2 = 1: the Gaussian recon per pixel is the plain MSE plus 1/2 ln(pi).
UNIT_SIGMA = str(math.sqrt(0.5))
LIKELIHOODS = [
    {"likelihood": "bernoulli"},
    {"likelihood": "gaussian", "gaussian_sigma": "0.1"},
    {"likelihood": "gaussian", "gaussian_sigma": "learned"},
]
#: Tiny networks on 3-channel images, so that D = C*H*W differs from H*W and from d.
TINY_MODELS = {
    "vae": {"image_size": 16, "channels": 3, "width": 4, "latent_dim": 5},
    "vae-mlp": {"image_size": 8, "channels": 3, "hidden": 16, "latent_dim": 5},
}
LAMBDA = 2.0


def build(name: str, **options: Any) -> VaeModel:
    torch.manual_seed(0)
    cls = get_model_class(name)
    model: VaeModel = cls(cls.configure({**TINY_MODELS[name], **options}))
    return model


def images(model: VaeModel, n: int = 6) -> torch.Tensor:
    c = model.config
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, c.channels, c.image_size, c.image_size, generator=g) * 2 - 1


def loss_of(model: VaeModel, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The training step's loss, recon and kl for one fixed draw of the noise."""
    terms = model.negative_elbo_terms(x, generator=torch.Generator().manual_seed(2))
    return model.objective(terms, model.config.beta)


def gradient(model: VaeModel, x: torch.Tensor) -> torch.Tensor:
    model.zero_grad(set_to_none=True)
    loss_of(model, x)[0].backward()
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


# --- sum: today's objective, unchanged ----------------------------------------------------
@pytest.mark.parametrize("likelihood", LIKELIHOODS, ids=lambda o: "-".join(o.values()))
def test_sum_is_the_per_image_objective_bit_for_bit(likelihood: dict[str, str]) -> None:
    model = build("vae-mlp", beta=0.7, **likelihood)
    assert model.config.reduction == "sum"  # the default
    x = images(model)
    terms = model.negative_elbo_terms(x, generator=torch.Generator().manual_seed(2))
    loss, recon, kl = model.objective(terms, 0.7)
    # What the loop computed before the option existed: batch means of the per-image sums.
    assert torch.equal(recon, terms["recon"].mean())
    assert torch.equal(kl, terms["kl"].mean())
    assert torch.equal(loss, terms["recon"].mean() + 0.7 * terms["kl"].mean())


# --- mean: the per-pixel form, by hand ------------------------------------------------------
@pytest.mark.parametrize("name", sorted(TINY_MODELS))
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_mean_is_per_pixel_recon_plus_lambda_per_dimension_kl(name: str, likelihood: str) -> None:
    model = build(name, likelihood=likelihood, gaussian_sigma=UNIT_SIGMA, reduction="mean",
                  beta=LAMBDA)  # fmt: skip
    x = images(model)
    loss, recon, kl = loss_of(model, x)
    # The assignment's formula with torch's own mean reductions, same noise draw.
    mu, logvar = model.encode(x)
    z = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(2))
    logits = model.decode_logits(z)
    target = (x + 1) / 2
    if likelihood == "bernoulli":
        expected_recon = F.binary_cross_entropy_with_logits(logits, target)
    else:  # sigma = 1/sqrt(2): MSE + log(sigma) + log(2 pi)/2 = MSE + ln(pi)/2
        expected_recon = F.mse_loss(torch.sigmoid(logits), target) + 0.5 * math.log(math.pi)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    prior = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected_kl = torch.distributions.kl_divergence(q, prior).mean()  # over batch and latent
    torch.testing.assert_close(recon, expected_recon)
    torch.testing.assert_close(kl, expected_kl)
    torch.testing.assert_close(loss, expected_recon + LAMBDA * expected_kl)


# --- the conversion: same optimum -----------------------------------------------------------
@pytest.mark.parametrize("name", sorted(TINY_MODELS))
@pytest.mark.parametrize("likelihood", LIKELIHOODS, ids=lambda o: "-".join(o.values()))
def test_matching_beta_scales_the_gradients_by_one_over_pixel_values(
    name: str, likelihood: dict[str, str]
) -> None:
    mean = build(name, reduction="mean", beta=LAMBDA, **likelihood)
    dims, latent = mean.dims, mean.config.latent_dim
    assert dims == 3 * mean.config.image_size**2 and latent == 5
    matching = build(name, reduction="sum", beta=LAMBDA * dims / latent, **likelihood)
    naive = build(name, reduction="sum", beta=LAMBDA, **likelihood)  # lambda carried over as is
    for other in (matching, naive):
        other.load_state_dict(mean.state_dict())
    x = images(mean)
    g_mean, g_matching, g_naive = (gradient(m, x) for m in (mean, matching, naive))
    assert g_mean.norm() > 0
    # mean loss = sum loss / D, parameter by parameter (learned sigma included).
    torch.testing.assert_close(
        g_mean * dims, g_matching, rtol=1e-4, atol=1e-6 * g_matching.abs().max().item()
    )
    # Carrying lambda over unchanged (or dividing the KL by D instead of d) is another objective.
    cosine = F.cosine_similarity(g_mean, g_naive, dim=0)
    relative = (g_mean * dims - g_naive).norm() / g_naive.norm()
    assert relative > 0.1, (cosine, relative)


def test_sgd_with_lr_scaled_by_d_follows_the_same_path() -> None:
    lr_sum, steps = 2e-4, 5
    mean = build("vae-mlp", reduction="mean", beta=LAMBDA)
    dims, latent = mean.dims, mean.config.latent_dim
    matching = build("vae-mlp", beta=LAMBDA * dims / latent)
    naive = build("vae-mlp", beta=LAMBDA)
    start = {k: v.clone() for k, v in mean.state_dict().items()}
    for model, lr in ((mean, lr_sum * dims), (matching, lr_sum), (naive, lr_sum)):
        model.load_state_dict(start)
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        for step in range(steps):
            x = images(model) if step % 2 else -images(model)
            opt.zero_grad()
            loss_of(model, x)[0].backward()
            opt.step()
    final = {name: torch.cat([p.flatten() for p in m.parameters()])
             for name, m in (("mean", mean), ("matching", matching), ("naive", naive))}  # fmt: skip
    moved = (final["mean"] - torch.cat([v.flatten() for v in start.values()])).abs().max()
    assert moved > 1e-3
    torch.testing.assert_close(final["mean"], final["matching"], rtol=1e-4, atol=1e-6)
    assert (final["mean"] - final["naive"]).abs().max() > 10 * 1e-6


# --- options and errors ------------------------------------------------------------------------
def test_an_unknown_reduction_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(GentoolError, match="reduction must be one of sum, mean, not 'avg'"):
        get_model_class("vae").configure({"reduction": "avg"})
    result = CliRunner().invoke(
        cli, ["train", "vae-mlp", "--out", str(tmp_path / "x"), "--steps", "1",
              "--device", "cpu", "--model-opt", "reduction=avg"],
    )  # fmt: skip
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if "reduction" in line]
    assert errors == ["Error: reduction must be one of sum, mean, not 'avg'."]


# --- end to end through the CLI ----------------------------------------------------------------
RUN = ["--batch-size", "8", "--log-every", "2", "--sample-every", "2", "--checkpoint-every",
       "2", "--device", "cpu", "--lr-g", "1e-3", "--image-size", "16"]  # fmt: skip


def train(*args: str) -> None:
    result = CliRunner().invoke(cli, ["train", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def records(run: Path) -> list[dict[str, Any]]:
    lines = (run / "log.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_mean_run_logs_per_pixel_terms_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "mean"
    train("vae", "--out", str(out), "--steps", "4", *RUN,
          "--model-opt", "width=4", "--model-opt", "latent_dim=3",
          "--model-opt", "likelihood=gaussian", "--model-opt", f"gaussian_sigma={UNIT_SIGMA}",
          "--model-opt", "reduction=mean", "--model-opt", "beta=0.01")  # fmt: skip
    assert load_checkpoint(out).info.model_config["reduction"] == "mean"
    train("--resume", str(out), "--steps", "6")
    logged = records(out)
    assert [r["step"] for r in logged] == [2, 4, 6]
    dims, latent = 1 * 16 * 16, 3  # digits: grey
    for r in logged:
        for key in ("loss", "recon", "kl", "elbo", "test_recon", "test_kl", "test_elbo"):
            assert math.isfinite(r[key]), key
        assert r["beta"] == pytest.approx(0.01)
        assert r["loss"] == pytest.approx(r["recon"] + 0.01 * r["kl"], rel=1e-5)
        # elbo stays in nats per image; recon and kl are per pixel value and per latent dim.
        assert r["elbo"] == pytest.approx(-(r["recon"] * dims + r["kl"] * latent), rel=1e-5)
        assert r["test_elbo"] == pytest.approx(
            -(r["test_recon"] * dims + r["test_kl"] * latent), rel=1e-5
        )
        # sigma = 1/sqrt(2): the per-pixel recon is the logged MSE plus ln(pi)/2.
        assert r["recon"] - 0.5 * math.log(math.pi) == pytest.approx(r["mse"], rel=1e-4)
    assert model_from_checkpoint(load_checkpoint(out)).config.reduction == "mean"


def test_a_checkpoint_without_the_option_resumes_as_sum_unchanged(tmp_path: Path) -> None:
    new, old = tmp_path / "new", tmp_path / "old"
    train("vae-mlp", "--out", str(new), "--steps", "4", *RUN, "--model-opt", "hidden=16",
          "--model-opt", "latent_dim=2", "--model-opt", "beta=0.5")  # fmt: skip
    shutil.copytree(new, old)
    ckpt = load_checkpoint(old)
    meta = json.loads(json.dumps(ckpt.meta))
    del meta["model_config"]["reduction"]  # as written before the option existed
    save_checkpoint(ckpt.path, ckpt.tensors, meta)
    assert "reduction" not in load_checkpoint(old).info.model_config
    assert model_from_checkpoint(load_checkpoint(old)).config.reduction == "sum"
    refused = CliRunner().invoke(
        cli, ["train", "--resume", str(old), "--steps", "6", "--model-opt", "reduction=mean"]
    )
    assert refused.exit_code != 0
    assert "reduction=mean cannot change when resuming (the run has reduction=sum)" in (
        refused.output
    )
    for run in (new, old):  # naming the default the old run has is no change
        train("--resume", str(run), "--steps", "6", "--model-opt", "reduction=sum")
    volatile = ("time", "images_per_s")
    logs = [[{k: v for k, v in r.items() if k not in volatile} for r in records(run)]
            for run in (new, old)]  # fmt: skip
    assert [r["step"] for r in logs[1]] == [2, 4, 6]
    assert logs[0] == logs[1]  # the same numbers, bit for bit
    assert logs[1][-1]["elbo"] == pytest.approx(-(logs[1][-1]["recon"] + logs[1][-1]["kl"]))
    assert load_checkpoint(old).info.model_config["reduction"] == "sum"
