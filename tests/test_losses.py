"""GAN losses against values computed by hand on small tensors."""

from __future__ import annotations

import math

import pytest
import torch

from gentool.errors import GentoolError
from gentool.losses import functional as LF
from gentool.plugins import get_loss_class


def loss(name: str, **options: object) -> object:
    return get_loss_class(name).from_options(options)


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values)


# --- original GAN (log loss) ------------------------------------------------------------------
def test_bce_at_undecided_discriminator() -> None:
    zeros = torch.zeros(4)  # D = sigmoid(0) = 1/2 for every image
    bce = loss("bce")
    assert float(bce.discriminator_loss(zeros, zeros)) == pytest.approx(2 * math.log(2))
    assert float(bce.generator_loss(zeros)) == pytest.approx(math.log(2))
    minimax = loss("bce", non_saturating="false")
    assert float(minimax.generator_loss(zeros)) == pytest.approx(-math.log(2))


def test_bce_values_from_logits() -> None:
    real, fake = t(2.0, -1.0), t(0.5, -3.0)
    sig = torch.sigmoid
    expected_d = -(sig(real).log().mean() + (1 - sig(fake)).log().mean())
    assert float(LF.bce_discriminator_loss(real, fake)) == pytest.approx(float(expected_d))
    expected_ns = -sig(fake).log().mean()
    assert float(LF.bce_generator_loss(fake, True)) == pytest.approx(float(expected_ns))
    expected_mm = (1 - sig(fake)).log().mean()
    assert float(LF.bce_generator_loss(fake, False)) == pytest.approx(float(expected_mm))


def test_minimax_generator_gradient_vanishes_where_non_saturating_does_not() -> None:
    """When D confidently rejects a fake (logit -10), log(1 - D) is flat: G learns nothing."""
    grads = {}
    for non_saturating in (True, False):
        logit = torch.tensor([-10.0], requires_grad=True)
        LF.bce_generator_loss(logit, non_saturating).backward()
        grads[non_saturating] = float(logit.grad)  # type: ignore[arg-type]
    # d/ds -log sigmoid(s) = sigmoid(s) - 1 ~ -1;  d/ds log(1 - sigmoid(s)) = -sigmoid(s) ~ -5e-5
    assert grads[True] == pytest.approx(torch.sigmoid(t(-10.0)).item() - 1)
    assert grads[False] == pytest.approx(-torch.sigmoid(t(-10.0)).item())
    assert abs(grads[False]) < 1e-4 < 0.99 < abs(grads[True])


# --- least squares ----------------------------------------------------------------------------
def test_least_squares_default_coding() -> None:
    real, fake = t(1.0, 3.0), t(0.0, 2.0)
    ls = loss("ls")  # a=0 (fake), b=1 (real), c=1
    # 1/2 mean((1-1)^2, (3-1)^2) + 1/2 mean((0-0)^2, (2-0)^2) = 1 + 1
    assert float(ls.discriminator_loss(real, fake)) == pytest.approx(2.0)
    # 1/2 mean((0-1)^2, (2-1)^2) = 1/2
    assert float(ls.generator_loss(fake)) == pytest.approx(0.5)


def test_least_squares_minus_one_one_zero_coding() -> None:
    real, fake = t(0.0, 1.0), t(-1.0, 1.0)
    ls = loss("ls", a="-1", b="1", c="0")
    # 1/2 mean(1, 0) + 1/2 mean(0, 4) = 0.25 + 1
    assert float(ls.discriminator_loss(real, fake)) == pytest.approx(1.25)
    # 1/2 mean(1, 1)
    assert float(ls.generator_loss(fake)) == pytest.approx(0.5)
    # D(x) is reported on [0, 1] between the fake target a and the real target b
    assert ls.probability(t(-1.0, 0.0, 1.0, 3.0)).tolist() == [0.0, 0.5, 1.0, 1.0]


def test_least_squares_rejects_equal_targets() -> None:
    with pytest.raises(GentoolError, match="a != b"):
        loss("ls", a="1", b="1")


# --- hinge and Wasserstein --------------------------------------------------------------------
def test_hinge_values() -> None:
    real, fake = t(0.5, 2.0), t(-2.0, 0.5)
    hinge = loss("hinge")
    # mean(max(0, 1-0.5), max(0, 1-2)) + mean(max(0, 1-2), max(0, 1+0.5)) = 0.25 + 0.75
    assert float(hinge.discriminator_loss(real, fake)) == pytest.approx(1.0)
    assert float(hinge.generator_loss(fake)) == pytest.approx(0.75)


def test_wasserstein_values_and_critic_defaults() -> None:
    real, fake = t(3.0, 1.0), t(-1.0, 0.0)
    wgan = loss("wgan-gp")
    assert float(wgan.discriminator_loss(real, fake)) == pytest.approx(-0.5 - 2.0)
    assert float(wgan.generator_loss(fake)) == pytest.approx(0.5)
    assert get_loss_class("wgan-gp").DEFAULT_D_STEPS == 5
    assert get_loss_class("wgan-gp").ALLOWS_BATCHNORM is False


# --- the gradient penalty ---------------------------------------------------------------------
def test_gradient_penalty_of_a_linear_critic_is_exact() -> None:
    """D(x) = sum(w * x) has gradient w everywhere: GP = (||w|| - 1)^2 for any interpolation."""
    torch.manual_seed(0)
    w = torch.randn(1, 3, 4, 4)

    def critic(x: torch.Tensor) -> torch.Tensor:
        return (w * x).flatten(1).sum(1)

    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    expected = (w.norm() - 1) ** 2
    torch.testing.assert_close(LF.gradient_penalty(critic, real, fake), expected)
    torch.testing.assert_close(
        loss("wgan-gp", gp_weight="10").regularizer(critic, real, fake), 10 * expected
    )
    assert loss("wgan-gp", gp_weight="0").regularizer(critic, real, fake) is None


def test_gradient_penalty_is_per_sample_norm_and_per_sample_interpolation() -> None:
    """D(x) = ||x||^2 / 2 has gradient x: the penalty is mean_i (||x_hat_i|| - 1)^2 with one
    eps per sample, x_hat_i = eps_i real_i + (1 - eps_i) fake_i."""

    def critic(x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x.pow(2).flatten(1).sum(1)

    torch.manual_seed(1)
    real, fake = torch.randn(6, 2, 3, 3), torch.randn(6, 2, 3, 3) * 0.1
    penalty = LF.gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(7))
    eps = torch.rand(6, 1, 1, 1, generator=torch.Generator().manual_seed(7))
    mixed = eps * real + (1 - eps) * fake
    per_sample = ((mixed.flatten(1).norm(dim=1) - 1) ** 2).mean()
    torch.testing.assert_close(penalty, per_sample)
    # Not the norm of the whole batch's gradient, which would mix the samples.
    batch_norm = (mixed.norm() - 1) ** 2
    assert not torch.isclose(penalty, batch_norm)
    # A second call draws new eps: the penalty is a random estimate, not a constant.
    again = LF.gradient_penalty(critic, real, fake)
    assert not torch.isclose(penalty, again)


def test_gradient_penalty_backpropagates_into_the_critic() -> None:
    layer = torch.nn.Linear(4, 1)
    real, fake = torch.randn(3, 4), torch.randn(3, 4)
    LF.gradient_penalty(lambda x: layer(x).squeeze(1), real, fake).backward()
    expected = 2 * (layer.weight.norm() - 1) * layer.weight / layer.weight.norm()
    torch.testing.assert_close(layer.weight.grad, expected.detach())
