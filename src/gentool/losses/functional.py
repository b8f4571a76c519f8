"""GAN losses as pure tensor functions.

Every function takes the discriminator's raw scores (before any sigmoid) and returns a
scalar. Means are taken over every element, so patch discriminators work unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def bce_discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Minimax discriminator loss (Goodfellow et al., 2014).

    ``L_D = -E[log D(x)] - E[log(1 - D(G(z)))]`` with ``D = sigmoid(score)``, computed from
    logits for numerical stability.
    """
    real = F.binary_cross_entropy_with_logits(real_scores, torch.ones_like(real_scores))
    fake = F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores))
    return real + fake


def bce_generator_loss(fake_scores: torch.Tensor, non_saturating: bool = True) -> torch.Tensor:
    """Generator loss of the original GAN.

    Non-saturating (the variant used in practice): ``L_G = -E[log D(G(z))]``.
    Minimax (the game as written): ``L_G = E[log(1 - D(G(z)))]``, whose gradient vanishes
    when D confidently rejects the samples.
    """
    if non_saturating:
        return F.binary_cross_entropy_with_logits(fake_scores, torch.ones_like(fake_scores))
    return -F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores))


def least_squares_discriminator_loss(
    real_scores: torch.Tensor, fake_scores: torch.Tensor, a: float = 0.0, b: float = 1.0
) -> torch.Tensor:
    """LSGAN discriminator loss (Mao et al., 2017), a-b-c coding.

    ``L_D = 1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2]``, with ``a`` the target for fakes
    and ``b`` the target for real images. No sigmoid is applied to D.
    """
    return 0.5 * ((real_scores - b) ** 2).mean() + 0.5 * ((fake_scores - a) ** 2).mean()


def least_squares_generator_loss(fake_scores: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """LSGAN generator loss: ``L_G = 1/2 E[(D(G(z)) - c)^2]``, ``c`` the value G wants D to output."""
    return 0.5 * ((fake_scores - c) ** 2).mean()


def wasserstein_discriminator_loss(
    real_scores: torch.Tensor, fake_scores: torch.Tensor
) -> torch.Tensor:
    """WGAN critic loss (Arjovsky et al., 2017): ``L_D = E[D(G(z))] - E[D(x)]``."""
    return fake_scores.mean() - real_scores.mean()


def wasserstein_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN generator loss: ``L_G = -E[D(G(z))]``."""
    return -fake_scores.mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    target: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP gradient penalty (Gulrajani et al., 2017), computed per sample.

    ``x_hat = eps * x + (1 - eps) * G(z)`` with one ``eps ~ U[0, 1]`` per sample, and
    ``GP = E[(||grad_x_hat D(x_hat)||_2 - target)^2]`` where the norm is taken over each
    sample's pixels. The penalty is computed in float32 and keeps the graph for the
    discriminator's backward pass (double backward).
    """
    real = real.detach().float()
    fake = fake.detach().float()
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(shape, device=real.device, dtype=real.dtype, generator=generator)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    # One critic value per sample: the mean of its scores (a PatchGAN's patch map counts as
    # the mean over patches, the reduction every loss applies), so the penalty's scale does
    # not grow with the number of patches.
    scores = critic(mixed).reshape(real.shape[0], -1).mean(1)
    (grads,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    norms = grads.flatten(1).norm(2, dim=1)
    return ((norms - target) ** 2).mean()


def hinge_discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Hinge discriminator loss (Lim & Ye, 2017; Miyato et al., 2018).

    ``L_D = E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]``.
    """
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


def hinge_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Hinge generator loss: ``L_G = -E[D(G(z))]``."""
    return -fake_scores.mean()
