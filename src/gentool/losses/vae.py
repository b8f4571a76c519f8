"""The VAE objective as pure tensor functions (Kingma & Welling, 2014, "Auto-Encoding
Variational Bayes").

For an image ``x`` with ``D`` dimensions, an encoder ``q(z|x) = N(mu, diag(exp(logvar)))``
and a decoder ``p(x|z)``, the evidence lower bound is::

    ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || N(0, I))  <=  log p(x)

Every term function here returns one value **per image** (summed over pixels or latent
dimensions, not averaged), in nats, so that ``recon + kl`` is the negative ELBO of one image
and numbers compare across batch sizes. :func:`vae_loss` turns them into the optimised
batch loss ``recon + beta(step) * kl`` in one of two formulations (:data:`REDUCTIONS`), with
``D = C * H * W`` pixel values and ``d`` latent dimensions::

    sum  (default): loss = mean_batch(recon_sum)     + beta * mean_batch(kl_sum)
    mean:           loss = mean_batch(recon_sum / D) + beta * mean_batch(kl_sum / d)

``mean`` is the per-pixel / per-latent-dimension form of course assignments ("MSE +
lambda_KL * KL"); the two have the same optimum when ``beta_sum = beta_mean * D / d``
(the mean loss is then the sum loss divided by ``D``). ``beta`` follows one of the
annealing schedules below.

Reconstruction terms take targets in ``[0, 1]``:

* :func:`bernoulli_nll`: ``-sum log Bernoulli(x | sigmoid(logits))`` = binary cross-entropy.
  A proper likelihood for binary images (binarised MNIST); on grey values it is the usual
  "BCE VAE" objective, and its value is a cross-entropy rather than a density.
* :func:`gaussian_nll`: ``-sum log N(x | mean, sigma^2)`` with one ``sigma`` for every
  pixel, fixed or learned (Rybkin et al., 2021, "Simple and Effective VAE Training with
  Calibrated Decoders"). With a fixed sigma this is ``sum (x - mean)^2 / (2 sigma^2)`` plus
  a constant: MSE weighted ``1 / (2 sigma^2)`` against the KL term.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LIKELIHOODS = ("bernoulli", "gaussian")
KL_SCHEDULES = ("none", "linear", "cyclical")
#: How :func:`vae_loss` reduces the per-image terms: summed (nats per image) or averaged
#: over pixel values and latent dimensions.
REDUCTIONS = ("sum", "mean")

_LOG_2PI = math.log(2.0 * math.pi)


def reparameterize(
    mu: torch.Tensor, logvar: torch.Tensor, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``z = mu + exp(logvar / 2) * eps``, ``eps ~ N(0, I)``: a differentiable draw of q(z|x)."""
    if generator is None:
        eps = torch.randn(mu.shape, device=mu.device, dtype=mu.dtype)
    else:  # the generator may live on another device than mu
        eps = torch.randn(mu.shape, generator=generator, device=generator.device, dtype=mu.dtype)
        eps = eps.to(mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag(exp(logvar))) || N(0, I))`` in closed form, per row ``(B,)``::

    KL = 1/2 * sum_j (mu_j^2 + exp(logvar_j) - 1 - logvar_j)
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).sum(1)


def bernoulli_nll(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``-sum log p(x | logits)`` per image ``(B,)`` for a Bernoulli decoder.

    ``target`` in ``[0, 1]``; computed from logits (``binary_cross_entropy_with_logits``),
    which stays finite where ``sigmoid`` saturates.
    """
    nll = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return nll.flatten(1).sum(1)


def gaussian_nll(mean: torch.Tensor, target: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """``-sum log N(x | mean, sigma^2)`` per image ``(B,)``, ``sigma = exp(log_sigma)``.

    ``log_sigma`` is a scalar tensor (shared by all pixels) or broadcasts against ``mean``::

    -log N(x | m, s^2) = (x - m)^2 / (2 s^2) + log s + log(2 pi) / 2
    """
    log_sigma = log_sigma.expand_as(mean)
    per_pixel = 0.5 * ((target - mean) * torch.exp(-log_sigma)).pow(2) + log_sigma + 0.5 * _LOG_2PI
    return per_pixel.flatten(1).sum(1)


def vae_loss(
    recon: torch.Tensor,
    kl: torch.Tensor,
    beta: float,
    *,
    reduction: str = "sum",
    data_dims: int = 1,
    latent_dims: int = 1,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(loss, recon, kl)`` of a batch from the per-image terms ``recon``, ``kl`` ``(B,)``
    (sums in nats, as :func:`bernoulli_nll`/:func:`gaussian_nll` and :func:`gaussian_kl`
    return them), ``loss = recon + beta * kl``::

        sum:  recon = mean_b recon_b,            kl = mean_b kl_b
        mean: recon = mean_b recon_b / data_dims, kl = mean_b kl_b / latent_dims

    ``data_dims`` is ``D = C * H * W``, ``latent_dims`` the latent size ``d``; a mean loss
    with weight ``lambda`` is the sum loss with ``beta = lambda * D / d``, divided by ``D``.
    """
    recon, kl = recon.mean(), kl.mean()
    if reduction == "mean":
        recon, kl = recon / data_dims, kl / latent_dims
    elif reduction != "sum":
        raise ValueError(f"unknown reduction '{reduction}'; choose from {', '.join(REDUCTIONS)}")
    return recon + beta * kl, recon, kl


def bits_per_dim(nats: torch.Tensor | float, dims: int) -> torch.Tensor | float:
    """Convert a negative log-likelihood per image in nats to bits per dimension:
    ``nats / (D ln 2)``."""
    return nats / (dims * math.log(2.0))


def discrete_bits_per_dim(nats: torch.Tensor | float, dims: int) -> torch.Tensor | float:
    """Bits per dimension of 8-bit images from a density on ``[0, 1]``-scaled pixels.

    Each pixel value owns a bin of width 1/256, so ``-log P(bin) ~= -log p(x) + log 256``
    per dimension (the density taken constant across the bin); the usual convention for
    continuous likelihoods on discrete images.
    """
    return (nats + dims * math.log(256.0)) / (dims * math.log(2.0))


# --- KL annealing ----------------------------------------------------------------------------
def linear_kl_weight(step: int, warmup: int) -> float:
    """Linear warm-up (Bowman et al., 2016): 0 at step 0, rising to 1 at ``warmup``, then 1.

    ``warmup <= 0`` means no warm-up (always 1).
    """
    if warmup <= 0:
        return 1.0
    return min(1.0, max(0.0, step / warmup))


def cyclical_kl_weight(step: int, cycle_length: int, ramp: float = 0.5) -> float:
    """Cyclical annealing (Fu et al., 2019, "Cyclical Annealing Schedule"): the run is cut into
    cycles of ``cycle_length`` steps; in each, the weight rises linearly from 0 to 1 over the
    first ``ramp`` fraction of the cycle and stays at 1 for the rest, then restarts at 0.
    """
    if cycle_length <= 0:
        return 1.0
    ramp_steps = max(1.0, ramp * cycle_length)
    return min(1.0, (step % cycle_length) / ramp_steps)


def kl_weight(
    step: int,
    schedule: str,
    *,
    warmup: int = 0,
    total_steps: int = 1,
    cycles: int = 4,
    ramp: float = 0.5,
) -> float:
    """The annealing factor in ``[0, 1]`` at ``step`` (multiply by beta for the KL weight).

    ``none``: 1. ``linear``: :func:`linear_kl_weight` over ``warmup`` steps. ``cyclical``:
    :func:`cyclical_kl_weight` with ``cycles`` cycles over ``total_steps``.
    """
    if schedule == "none":
        return 1.0
    if schedule == "linear":
        return linear_kl_weight(step, warmup)
    if schedule == "cyclical":
        return cyclical_kl_weight(step, math.ceil(total_steps / max(1, cycles)), ramp)
    raise ValueError(f"unknown KL schedule '{schedule}'; choose from {', '.join(KL_SCHEDULES)}")
