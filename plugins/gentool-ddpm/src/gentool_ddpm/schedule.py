"""Noise schedules and the reverse step of denoising diffusion, as pure tensor functions.

The forward process (Ho et al., 2020, "Denoising Diffusion Probabilistic Models") adds
Gaussian noise over ``T`` steps with variances ``beta_0 .. beta_{T-1}``. With
``alpha_bar_t = prod_{s <= t} (1 - beta_s)`` a noisy image at step ``t`` is drawn in one go::

    x_t = sqrt(alpha_bar_t) * x_0 + sqrt(1 - alpha_bar_t) * eps,    eps ~ N(0, I)

Steps are numbered from 0 (the first, least noisy) to ``T - 1`` (nearly pure noise); "step
-1" is the clean image, ``alpha_bar = 1``.

Schedules:

* ``linear``: Ho et al.'s betas, evenly spaced from ``beta_start`` to ``beta_end`` (1e-4 to
  0.02 at ``T = 1000``). As in Nichol & Dhariwal's code, both ends are scaled by
  ``1000 / T``, so a shorter chain ends as noisy as the 1000-step one.
* ``cosine``: Nichol & Dhariwal, 2021, "Improved Denoising Diffusion Probabilistic Models",
  eq. 17: ``alpha_bar(t) = f(t) / f(0)``, ``f(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2)``
  with ``s = 0.008``; ``beta_t = 1 - alpha_bar(t + 1) / alpha_bar(t)``, clipped at 0.999.
  It destroys information more slowly than the linear one, which at low resolution spends
  its last steps on images that are already noise.

The reverse step is the generalized one of Song et al., 2021, "Denoising Diffusion Implicit
Models" (eq. 12 and 16), from step ``t`` to any earlier step ``p``::

    x0_hat = (x_t - sqrt(1 - a_t) * eps_hat) / sqrt(a_t)         (clipped to [-1, 1])
    sigma  = eta * sqrt((1 - a_p) / (1 - a_t)) * sqrt(1 - a_t / a_p)
    x_p    = sqrt(a_p) * x0_hat + sqrt(1 - a_p - sigma^2) * eps_hat + sigma * z

with ``a = alpha_bar``. ``eta = 1`` samples the posterior ``q(x_p | x_t, x0_hat)``: DDPM's
ancestral sampling (with ``sigma_t^2 = beta~_t``, Ho et al. section 3.2), also on a shorter
sub-sequence of steps; ``eta = 0`` is DDIM's deterministic sampler.
"""

from __future__ import annotations

import math

import torch

#: The noise schedules a model may use (``--model-opt schedule=...``).
SCHEDULES = ("linear", "cosine")
#: Samplers and their ``eta``: 1 draws fresh noise at every step, 0 draws none.
SAMPLERS: dict[str, float] = {"ddpm": 1.0, "ddim": 0.0}
#: The offset ``s`` of the cosine schedule: keeps ``beta_0`` from being vanishingly small.
COSINE_OFFSET = 0.008
#: The largest beta of the cosine schedule (its last steps would otherwise reach 1).
MAX_BETA = 0.999
#: The chain length Ho et al.'s linear ``beta_start``/``beta_end`` are given for.
REFERENCE_TIMESTEPS = 1000


def linear_betas(timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """Ho et al.'s linear betas ``(T,)`` in float64, both ends scaled by ``1000 / T``."""
    scale = REFERENCE_TIMESTEPS / timesteps
    return torch.linspace(beta_start * scale, beta_end * scale, timesteps, dtype=torch.float64)


def cosine_alpha_bar(timesteps: int, offset: float = COSINE_OFFSET) -> torch.Tensor:
    """Nichol & Dhariwal's ``alpha_bar(t)`` for ``t = 0 .. T`` (``T + 1`` values, float64):
    exactly 1 at ``t = 0`` and falling to 0 at ``t = T``."""
    t = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((t + offset) / (1 + offset) * math.pi / 2) ** 2
    return f / f[0]


def cosine_betas(timesteps: int, offset: float = COSINE_OFFSET) -> torch.Tensor:
    """The cosine schedule's betas ``(T,)``, clipped at :data:`MAX_BETA`."""
    alpha_bar = cosine_alpha_bar(timesteps, offset)
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=MAX_BETA)


def make_betas(
    schedule: str, timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02
) -> torch.Tensor:
    """The betas ``(T,)`` of ``schedule`` (one of :data:`SCHEDULES`), float64."""
    if schedule == "linear":
        return linear_betas(timesteps, beta_start, beta_end)
    if schedule == "cosine":
        return cosine_betas(timesteps)
    raise ValueError(f"unknown noise schedule {schedule!r}; known: {', '.join(SCHEDULES)}")


def alpha_bar_of(betas: torch.Tensor) -> torch.Tensor:
    """``alpha_bar_t = prod_{s <= t} (1 - beta_s)``, same shape as ``betas``."""
    return torch.cumprod(1 - betas, dim=0)


def diffuse(images: torch.Tensor, alpha_bar: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """``x_t = sqrt(a) x_0 + sqrt(1 - a) eps``: images ``(B, C, H, W)``, ``alpha_bar``
    broadcastable to them (``(B, 1, 1, 1)`` for one step per image)."""
    return alpha_bar.sqrt() * images + (1 - alpha_bar).sqrt() * noise


def timestep_sequence(timesteps: int, steps: int) -> list[int]:
    """``steps`` of the ``timesteps`` steps, evenly spaced and ending at the last one
    (``T - 1``), in increasing order: all of them when ``steps == timesteps``."""
    if not 1 <= steps <= timesteps:
        raise ValueError(f"steps must be in [1, {timesteps}], not {steps}")
    return [(i + 1) * timesteps // steps - 1 for i in range(steps)]


def reverse_step(
    noisy: torch.Tensor,
    predicted_noise: torch.Tensor,
    alpha_bar_t: torch.Tensor,
    alpha_bar_prev: torch.Tensor,
    *,
    eta: float,
    noise: torch.Tensor | None = None,
    clip: bool = True,
) -> torch.Tensor:
    """One generalized DDIM step from ``x_t`` to ``x_p`` (see the module docstring).

    ``predicted_noise`` is the network's ``eps_hat`` for ``noisy``; ``alpha_bar_t`` and
    ``alpha_bar_prev`` broadcast to the images (0-d for one step for the whole batch), and
    ``alpha_bar_prev`` is 1 for the last step (to the clean image, where ``sigma = 0``).
    ``noise`` is ``z``, added with weight ``sigma``: pass it when ``eta > 0`` (None adds
    nothing). With ``clip``, the predicted clean image is clipped to [-1, 1] and the noise
    estimate recomputed from it, so the step stays consistent.
    """
    root_a, root_one_minus_a = alpha_bar_t.sqrt(), (1 - alpha_bar_t).sqrt()
    clean = (noisy - root_one_minus_a * predicted_noise) / root_a
    if clip:
        clean = clean.clamp(-1, 1)
        predicted_noise = (noisy - root_a * clean) / root_one_minus_a
    variance = (
        eta**2 * (1 - alpha_bar_prev) / (1 - alpha_bar_t) * (1 - alpha_bar_t / alpha_bar_prev)
    )
    direction = (1 - alpha_bar_prev - variance).clamp(min=0).sqrt() * predicted_noise
    out = alpha_bar_prev.sqrt() * clean + direction
    if noise is not None:
        out = out + variance.sqrt() * noise
    return out
