"""Known answers for the GAN losses, through the shared adversarial core.

* Moving G to the data: the data is N((2, -1), 0.5^2 I) in 2-D and the generator an affine
  map of 2-D noise that starts collapsed at the origin. A few hundred steps of each built-in
  loss must bring the generated mean within 0.35 of (2, -1) and spread the samples (each
  standard deviation between 0.25 and 1.0). (In 1-D a WGAN-GP critic can be stuck at slope
  -1: its penalty is a barrier at slope 0 it cannot go around; in 2-D it rotates.)
* WGAN-GP's critic between N(0, I) and N((mu, 0), I), whose Wasserstein-1 distance is exactly
  ``mu``: with the generator fixed, the trained critic's E[D(real)] - E[D(fake)] must
  estimate ``mu`` within 15%.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gentool.plugins import get_loss_class
from gentool.training.adversarial import (
    apply_update,
    discriminator_objective,
    discriminators_frozen,
    generator_objective,
    plain_critic,
)

TARGET = torch.tensor([2.0, -1.0])


def mlp(inputs: int, width: int = 32) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, width),
        nn.LeakyReLU(0.2),
        nn.Linear(width, width),
        nn.LeakyReLU(0.2),
        nn.Linear(width, 1),
    )


@pytest.mark.parametrize("name", ["bce", "ls", "hinge", "wgan-gp"])
def test_each_builtin_loss_moves_the_generator_to_the_data(name: str) -> None:
    torch.manual_seed(0)
    rng = torch.Generator().manual_seed(1)
    loss = get_loss_class(name).from_options({})
    generator, discriminator = nn.Linear(2, 2), mlp(2)
    with torch.no_grad():
        generator.weight.mul_(0.1)
        generator.bias.zero_()
    betas = (0.0, 0.9) if name == "wgan-gp" else (0.5, 0.9)
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-2, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-3, betas=betas)
    critic = plain_critic(discriminator)
    d_steps, steps = (5, 200) if name == "wgan-gp" else (1, 300)

    def data(n: int) -> torch.Tensor:
        return TARGET + 0.5 * torch.randn(n, 2, generator=rng)

    for step in range(steps):
        for _ in range(d_steps):
            fake = generator(torch.randn(128, 2))
            total, _ = discriminator_objective(loss, critic, data(128), fake, step=step)
            apply_update(opt_d, total, list(discriminator.parameters()))
        with discriminators_frozen(discriminator):
            fake = generator(torch.randn(128, 2))
            total, stats, _, _ = generator_objective(loss, critic, fake, real=data(128), step=step)
            apply_update(opt_g, total, list(generator.parameters()))
        assert torch.isfinite(total), (name, step, stats)
        assert all(p.requires_grad for p in discriminator.parameters())  # unfrozen again
    with torch.no_grad():
        out = generator(torch.randn(4000, 2))
    distance = float((out.mean(0) - TARGET).norm())
    assert distance < 0.35, (name, out.mean(0))
    assert ((out.std(0) > 0.25) & (out.std(0) < 1.0)).all(), (name, out.std(0))


@pytest.mark.parametrize("mu", [2.0])
def test_wgan_gp_critic_estimates_the_wasserstein_distance(mu: float) -> None:
    torch.manual_seed(0)
    loss = get_loss_class("wgan-gp").from_options({})
    network = mlp(2, width=64)
    opt = torch.optim.Adam(network.parameters(), lr=1e-3, betas=(0.0, 0.9))
    critic = plain_critic(network)
    rng = torch.Generator().manual_seed(3)
    shift = torch.tensor([mu, 0.0])
    for step in range(400):
        real = torch.randn(256, 2, generator=rng)
        fake = torch.randn(256, 2, generator=rng) + shift
        total, _ = discriminator_objective(loss, critic, real, fake, step=step)
        apply_update(opt, total, list(network.parameters()))
    with torch.no_grad():
        real = torch.randn(20000, 2, generator=rng)
        fake = torch.randn(20000, 2, generator=rng) + shift
        estimate = float(network(real).mean() - network(fake).mean())
    assert estimate == pytest.approx(mu, rel=0.15), estimate
