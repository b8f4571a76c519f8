"""The adversarial step, written once for every loop with a discriminator.

The GAN loop (``training/gan.py``), the image-to-image loop (``training/image2image.py``)
and the translation loop (``training/cyclegan.py``) all call these functions; none of them
scores images, calls the loss, adds regularisers or freezes D on its own.

* :func:`discriminator_objective`: D's loss on a real and a fake batch: scores (in autocast
  when asked), the loss's ``discriminator_loss``, a model's auxiliary terms (ACGAN's
  classifier, InfoGAN's Q head), the loss's regularisers (step-aware, one term or several
  named ones), and the statistics to log (``loss_d``, ``d_real``, ``d_fake`` as the loss
  reads its scores, each regulariser's terms).
* :func:`apply_update`: zero, backward, gradient norm, optimizer step.
* :func:`discriminators_frozen` and :func:`generator_objective`: G's adversarial term with
  D's parameters frozen and, under torchrun, D's gradient all-reduce skipped (D only passes
  gradients through to G); plus the loss's generator regularisers.

A *critic* is any callable from images to ``(scores, aux)``: raw scores ``(B,)`` or
``(B, ...)`` (the one discriminator-output contract, see :mod:`gentool.losses.base`) and a
dict of auxiliary outputs (empty for most models). :func:`as_scores` applies the contract's
only reduction: a trailing one-element score per image becomes ``(B,)``.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from gentool.errors import PluginError
from gentool.losses.base import GanLoss

Aux = dict[str, torch.Tensor]
Critic = Callable[[torch.Tensor], tuple[torch.Tensor, Aux]]
Stats = dict[str, torch.Tensor]


def as_scores(output: torch.Tensor) -> torch.Tensor:
    """The contract's reduction: ``(B, 1)``/``(B, 1, 1, 1)`` → ``(B,)``; a patch map
    ``(B, 1, h, w)`` with several scores per image is passed on whole."""
    if output.dim() > 1 and output[0].numel() == 1:
        return output.reshape(output.shape[0])
    return output


def plain_critic(discriminator: Callable[[torch.Tensor], torch.Tensor]) -> Critic:
    """A critic from a network that returns scores only (PatchGANs, MLP critics)."""

    def critic(images: torch.Tensor) -> tuple[torch.Tensor, Aux]:
        return as_scores(discriminator(images)), {}

    return critic


def grad_norm(params: Sequence[nn.Parameter]) -> torch.Tensor:
    """The global L2 norm of the gradients of ``params`` (no host sync)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    # one multi-tensor kernel for the per-tensor norms, then the norm of those
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


@functools.lru_cache(maxsize=256)
def _takes_keyword(function: Callable[..., Any], name: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def _named_terms(value: Any, single_name: str) -> dict[str, torch.Tensor]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    return {single_name: value}


def discriminator_regularizers(
    loss: GanLoss,
    scores: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    step: int,
) -> dict[str, torch.Tensor]:
    """The loss's regularisers at ``step``, by name (a lone term is ``penalty``).

    Version-1 losses, whose ``regularizer`` takes no ``step``, are called without it.
    """
    method = type(loss).regularizer
    if _takes_keyword(method, "step"):
        value = loss.regularizer(scores, real, fake, step=step)
    else:
        value = loss.regularizer(scores, real, fake)
    return _named_terms(value, "penalty")


def generator_regularizers(
    loss: GanLoss, fake: torch.Tensor, latent: dict[str, torch.Tensor] | None, step: int
) -> dict[str, torch.Tensor]:
    """The loss's generator regularisers at ``step``, by name (a lone term: ``penalty_g``)."""
    method = getattr(type(loss), "generator_regularizer", None)
    if method is None:  # a loss class that does not derive from GanLoss's v2 base
        return {}
    return _named_terms(loss.generator_regularizer(fake, latent=latent, step=step), "penalty_g")


def discriminator_objective(
    loss: GanLoss,
    critic: Critic,
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    step: int,
    autocast: Callable[[], Any] = contextlib.nullcontext,
    aux_terms: Callable[[Aux, Aux], dict[str, torch.Tensor]] | None = None,
    prefix: str = "",
) -> tuple[torch.Tensor, Stats]:
    """D's total loss on ``real`` vs ``fake`` (detached here) and what to log.

    ``aux_terms(real_aux, fake_aux)`` adds a model's weighted auxiliary terms. Statistics
    are named ``loss_d``, ``d_real``, ``d_fake`` and the regularisers' names, each with
    ``prefix`` (``"_a"``-style suffixes are the caller's business).
    """
    fake = fake.detach()
    with autocast():
        real_scores, real_aux = critic(real)
        fake_scores, fake_aux = critic(fake)
    real_scores, fake_scores = real_scores.float(), fake_scores.float()
    loss_d = loss.discriminator_loss(real_scores, fake_scores)
    total = loss_d
    stats: Stats = {f"{prefix}loss_d": loss_d.detach()}
    if aux_terms is not None:
        for name, term in aux_terms(real_aux, fake_aux).items():
            total = total + term
            stats[f"{prefix}{name}"] = term.detach()
    # Regularisers stay in float32 (a gradient penalty differentiates through D twice).
    for name, term in discriminator_regularizers(
        loss, lambda x: critic(x)[0].float(), real, fake, step
    ).items():
        total = total + term
        stats[f"{prefix}{name}"] = term.detach()
    stats[f"{prefix}d_real"] = loss.probability(real_scores.detach()).mean()
    stats[f"{prefix}d_fake"] = loss.probability(fake_scores.detach()).mean()
    return total, stats


def apply_update(
    optimizer: torch.optim.Optimizer, total: torch.Tensor, params: Sequence[nn.Parameter]
) -> torch.Tensor:
    """Backward ``total`` and step ``optimizer``; returns the gradient norm of ``params``."""
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    norm = grad_norm(params)
    optimizer.step()
    return norm


@contextlib.contextmanager
def discriminators_frozen(*discriminators: nn.Module) -> Iterator[None]:
    """D's parameters need no gradient, and (DDP handles) D's gradients are not all-reduced,
    while G's adversarial term is computed; everything is restored afterwards."""
    params = [p for d in discriminators for p in d.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        with contextlib.ExitStack() as stack:
            for discriminator in discriminators:
                no_sync = getattr(discriminator, "no_sync", None)
                if callable(no_sync):
                    stack.enter_context(no_sync())
            yield
    finally:
        for p in params:
            p.requires_grad_(True)


def generator_objective(
    loss: GanLoss,
    critic: Critic,
    fake: torch.Tensor,
    *,
    real: torch.Tensor | None = None,
    step: int,
    latent: dict[str, torch.Tensor] | None = None,
    autocast: Callable[[], Any] = contextlib.nullcontext,
    prefix: str = "",
) -> tuple[torch.Tensor, Stats, torch.Tensor, Aux]:
    """G's adversarial loss on ``fake`` (call inside :func:`discriminators_frozen`).

    Returns ``(total, stats, fake_scores, fake_aux)``: the loss's ``generator_loss`` plus its
    generator regularisers, ``loss_g`` / ``d_gen`` and each regulariser's terms to log, and
    the scores and auxiliary outputs for a model's own generator terms.
    """
    real_scores = None
    with autocast():
        fake_scores, fake_aux = critic(fake)
        if loss.GENERATOR_NEEDS_REAL:
            if real is None:
                raise PluginError(
                    f"loss '{loss.PLUGIN_NAME}' needs real scores in the generator step, but "
                    "this training loop gave no real batch."
                )
            real_scores = critic(real)[0].float()
    fake_scores = fake_scores.float()
    loss_g = loss.generator_loss(fake_scores, real_scores)
    total = loss_g
    stats: Stats = {f"{prefix}loss_g": loss_g.detach()}
    for name, term in generator_regularizers(loss, fake, latent, step).items():
        total = total + term
        stats[f"{prefix}{name}"] = term.detach()
    stats[f"{prefix}d_gen"] = loss.probability(fake_scores.detach()).mean()
    return total, stats, fake_scores, fake_aux
