"""What every GAN model offers the GAN training loop.

A GAN model owns a ``generator`` and a ``discriminator``. The loop asks it for latent inputs
(``sample_latent``), images (``generate``) and discriminator scores (``discriminate``); models
with auxiliary objectives (ACGAN's classifier, InfoGAN's Q head) add terms through
``discriminator_aux_loss`` and ``generator_aux_loss``. The loop owns the alternation, the
optimizers and the GAN loss.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from gentool.models.base import ModelPlugin

Latent = dict[str, torch.Tensor]


def draw_device(generator: torch.Generator | None, device: torch.device | str) -> torch.device:
    """Where to draw random latents: on ``generator``'s device when one is given (so a seeded
    sample is the same on every machine), else on the model's device (so a training step
    neither waits for a host-to-device copy nor leaves a CUDA graph)."""
    return generator.device if generator is not None else torch.device(device)


class GanModel(ModelPlugin):
    FAMILY: ClassVar[str] = "gan"
    generator: nn.Module
    discriminator: nn.Module

    @property
    def latent_dim(self) -> int:
        return int(self.config.latent_dim)

    def sample_latent(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        batch: dict[str, torch.Tensor] | None = None,
        **conditions: Any,
    ) -> Latent:
        """Inputs of the generator for ``n`` samples. ``batch`` is the real batch, if any."""
        device = device or next(self.parameters()).device
        z = torch.randn(
            n, self.latent_dim, generator=generator, device=draw_device(generator, device)
        )
        return {"z": z.to(device)}

    def generate(self, latent: Latent, *, generator: nn.Module | None = None) -> torch.Tensor:
        """Images in [-1, 1] from latent inputs.

        ``generator`` is the network to run instead of ``self.generator``: a training loop's
        own handle on it (DDP-wrapped, compiled, or an EMA copy), so the model itself is never
        modified by training.
        """
        images: torch.Tensor = (self.generator if generator is None else generator)(latent["z"])
        return images

    def main_pass(self, images: torch.Tensor) -> bool:
        self.discriminate(self.sample(images.shape[0]))
        return True

    def discriminate(
        self, images: torch.Tensor, *, discriminator: nn.Module | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Raw real/fake scores and any auxiliary outputs of the discriminator.

        Scores follow the one discriminator-output contract (:mod:`gentool.losses.base`):
        ``(B,)``, or ``(B, ...)`` unreduced for a patch discriminator. ``discriminator``: a
        training loop's handle on the network (see :meth:`generate`).
        """
        scores = (self.discriminator if discriminator is None else discriminator)(images)
        if scores.dim() > 1 and scores[0].numel() == 1:
            scores = scores.reshape(scores.shape[0])
        return scores, {}

    def fixed_grid_columns(self, n: int) -> int | None:
        """Columns of the training loop's sample grid of ``n`` fixed inputs
        (``sample_latent(n, fixed=True)``); ``None``: a square grid."""
        return None

    def discriminator_aux_loss(
        self,
        real_aux: dict[str, torch.Tensor],
        batch: dict[str, torch.Tensor],
        fake_aux: dict[str, torch.Tensor],
        latent: Latent,
    ) -> dict[str, torch.Tensor]:
        """Extra named loss terms for D (weighted already). None by default."""
        return {}

    def generator_aux_loss(
        self, fake_aux: dict[str, torch.Tensor], latent: Latent
    ) -> dict[str, torch.Tensor]:
        """Extra named loss terms for G (weighted already). None by default."""
        return {}

    def generator_parameters(self) -> list[nn.Parameter]:
        return list(self.generator.parameters())

    def discriminator_parameters(self) -> list[nn.Parameter]:
        return list(self.discriminator.parameters())

    @torch.no_grad()
    def sample(
        self, n: int, *, generator: torch.Generator | None = None, **conditions: Any
    ) -> torch.Tensor:
        latent = self.sample_latent(n, generator=generator, **conditions)
        return self.generate(latent).clamp(-1, 1)

    @torch.no_grad()
    def sample_grid(
        self, n: int, *, generator: torch.Generator | None = None, options: dict[str, Any]
    ) -> tuple[torch.Tensor, int | None]:
        """``n`` samples, or with ``interpolate=K`` ``n`` latent walks of ``K`` images each.

        A walk goes from one latent draw to another along the great circle (``--sample-opt
        path=slerp``, the default: Gaussian draws keep their typical length) or the straight
        line (``path=lerp``). Everything else the model draws with the noise (a class, codes)
        is the first draw's, fixed along the row.
        """
        from gentool.errors import GentoolError

        options = {k: v for k, v in options.items() if v not in (None, False, (), [])}
        steps = options.pop("interpolate", None)
        path = options.pop("path", None)
        if steps is None:
            if path is not None:
                raise GentoolError("--sample-opt path applies with --interpolate K.")
            return super().sample_grid(n, generator=generator, options=options)
        if options:
            raise GentoolError(
                f"model '{self.PLUGIN_NAME}' does not take sample option(s) "
                f"{', '.join('--' + k.replace('_', '-') for k in sorted(options))} with "
                "--interpolate; it takes --sample-opt path=slerp|lerp."
            )
        images = self.interpolation_images(
            n, int(steps), generator=generator, path=check_walk_path(path)
        )
        return images, int(steps)

    @torch.no_grad()
    def interpolation_images(
        self,
        rows: int,
        steps: int,
        *,
        generator: torch.Generator | None = None,
        path: str = "slerp",
        **conditions: Any,
    ) -> torch.Tensor:
        """``rows x steps`` images: each row walks from one latent draw to another (only
        ``z`` moves; the rest of the first draw, e.g. a class, is kept along the row)."""
        device = next(self.parameters()).device
        start = self.sample_latent(rows, generator=generator, device="cpu", **conditions)
        end = self.sample_latent(rows, generator=generator, device="cpu", **conditions)
        latent = {k: v.repeat_interleave(steps, dim=0) for k, v in start.items()}
        latent["z"] = latent_walk(start["z"].float(), end["z"].float(), steps, path).flatten(0, 1)
        return self.generate({k: v.to(device) for k, v in latent.items()}).clamp(-1, 1)


#: How ``--interpolate`` walks between two latent draws.
WALK_PATHS = ("slerp", "lerp")


def check_walk_path(path: Any) -> str:
    """``--sample-opt path=...``: slerp (default) or lerp, or one line naming the choices."""
    from gentool.errors import GentoolError

    chosen = "slerp" if path is None else str(path).strip().lower()
    if chosen not in WALK_PATHS:
        raise GentoolError(f"--sample-opt path must be slerp or lerp, not {path!r}.")
    return chosen


def latent_walk(start: torch.Tensor, end: torch.Tensor, steps: int, path: str) -> torch.Tensor:
    """``(rows, steps, dim)`` points from ``start`` to ``end`` ``(rows, dim)``, both ends
    included: straight (``lerp``) or along the great circle, lengths interpolated
    linearly (``slerp``; nearly parallel pairs fall back to the straight line)."""
    t = torch.linspace(0.0, 1.0, steps, dtype=start.dtype, device=start.device)[None, :, None]
    a, b = start[:, None, :], end[:, None, :]
    if path == "lerp":
        return a + (b - a) * t
    norm_a = a.norm(dim=-1, keepdim=True)
    norm_b = b.norm(dim=-1, keepdim=True)
    unit_a = a / norm_a.clamp_min(1e-12)
    unit_b = b / norm_b.clamp_min(1e-12)
    cos = (unit_a * unit_b).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    sin = torch.sin(omega)
    straight = sin.abs() < 1e-6
    safe = torch.where(straight, torch.ones_like(sin), sin)
    wa = torch.where(straight, 1 - t, torch.sin((1 - t) * omega) / safe)
    wb = torch.where(straight, t, torch.sin(t * omega) / safe)
    direction = wa * unit_a + wb * unit_b
    length = norm_a + (norm_b - norm_a) * t
    return direction * length
