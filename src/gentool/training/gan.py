"""The GAN training loop: alternating discriminator and generator updates.

Each step makes ``d_steps`` discriminator updates (each on a fresh real batch), then
``g_steps`` generator updates (``--g-steps 2 --d-steps 1``: a D:G ratio of 1:2). The
adversarial terms themselves come from :mod:`gentool.training.adversarial`, shared with the
image-to-image and translation loops. The GAN loss plugin turns scores into losses (and may add a regulariser
such as WGAN-GP's gradient penalty); the model may add auxiliary terms (ACGAN, InfoGAN).
Logged per step: ``loss_d``, ``loss_g``, ``d_real`` and ``d_fake`` (the loss's reading of
D(x) and D(G(z)) as probabilities), gradient norms, and any auxiliary terms.

``--train-opt augment=flip,crop`` augments the real images; ``--train-opt
diffaugment=color,translation,cutout`` applies DiffAugment to real and fake images before
every pass through D (see :mod:`gentool.training.augment`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import torch

from gentool.distributed import wrap
from gentool.errors import GentoolError
from gentool.images import save_grid
from gentool.losses.base import GanLoss
from gentool.models.gan import GanModel, Latent
from gentool.training.adversarial import (
    apply_update,
    discriminator_objective,
    discriminators_frozen,
    generator_objective,
)
from gentool.training.augment import classic_augmentation, diff_augmentation
from gentool.training.base import Trainer, make_optimizer
from gentool.training.ema import GeneratorEma

#: The ``--train-opt`` keys the GAN loop understands.
TRAIN_OPTIONS = ("augment", "diffaugment")


class GanTrainer(Trainer):
    PLUGIN_NAME: ClassVar[str] = "gan"
    DESCRIPTION: ClassVar[str] = "alternating D and G updates with any GAN loss"
    progress_keys = ("loss_d", "loss_g", "d_real", "d_fake")
    model: GanModel
    loss: GanLoss

    def __init__(self, model: GanModel, data: Any, settings: Any, **kwargs: Any) -> None:
        super().__init__(model, data, settings, **kwargs)
        if self.loss is None:
            raise ValueError("GanTrainer needs a GAN loss")
        s = self.settings
        self.g_params = model.generator_parameters()
        self.d_params = model.discriminator_parameters()
        self.optimizers = {
            "generator": make_optimizer(self.g_params, s.lr_g, s, self.device),
            "discriminator": make_optimizer(self.d_params, s.lr_d, s, self.device),
        }
        self.d_steps = s.d_steps or self.loss.DEFAULT_D_STEPS
        self.g_steps = s.g_steps
        #: The networks the step runs: the model's own, or DDP handles on them.
        self.generator: torch.nn.Module = model.generator
        self.discriminator: torch.nn.Module = model.discriminator
        unknown = sorted(set(s.extra) - set(TRAIN_OPTIONS))
        if unknown:
            raise GentoolError(
                f"GAN training does not take --train-opt {unknown[0]}; it takes "
                f"{', '.join(TRAIN_OPTIONS)}."
            )
        self.augment_real = classic_augmentation(s.extra.get("augment"))
        self.diffaugment = diff_augmentation(s.extra.get("diffaugment"))
        fixed = torch.Generator().manual_seed(s.seed + 1)
        self.fixed_latent: Latent = model.sample_latent(
            s.samples, generator=fixed, device=self.device, fixed=True
        )
        self.ema = GeneratorEma(model.generator, s.ema) if s.ema > 0 else None

    def cuda_graph_blocker(self) -> str | None:
        if self.d_steps != 1 or self.g_steps != 1:
            return (
                f"{self.d_steps} D and {self.g_steps} G updates per step fetch batches inside "
                "the step (graphs take one D and one G update per step)"
            )
        return None

    # --- networks -------------------------------------------------------------------------
    def wrap_distributed(self) -> None:
        """DDP handles kept by the loop; the model's own networks are never replaced."""
        sync = self.settings.sync_batchnorm
        self.generator = wrap(self.model.generator, self.device, sync)
        self.discriminator = wrap(self.model.discriminator, self.device, sync)

    def _generate(self, latent: Latent) -> torch.Tensor:
        return self.model.generate(latent, generator=self.generator)

    def _critic(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.model.discriminate(images, discriminator=self.discriminator)

    def _augmented_critic(
        self, images: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self._critic(self.diffaugment(images) if self.diffaugment else images)

    def _latent(self, n: int, batch: dict[str, torch.Tensor]) -> Latent:
        """Latent inputs for this rank: under torchrun, each rank takes its slice of the inputs
        a single process would draw for the global batch, so the runs match."""
        if not self.world.distributed:
            return self.model.sample_latent(n, device=self.device, batch=batch)
        full = self.model.sample_latent(n * self.world.size, device=self.device)
        start = self.world.rank * n
        return {k: v[start : start + n] for k, v in full.items()}

    # --- one step -------------------------------------------------------------------------
    def _discriminator_step(
        self,
        batch: dict[str, torch.Tensor],
        latent: Latent | None = None,
        fake: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        model = self.model
        real = batch["images"]
        if self.augment_real is not None:
            real = self.augment_real(real)
        if latent is None or fake is None:
            latent = self._latent(real.shape[0], batch)
            with torch.no_grad(), self.autocast():
                fake = self._generate(latent)
        fake = fake.detach()
        if self.diffaugment is not None:
            real, fake = self.diffaugment(real), self.diffaugment(fake)
        used_latent = latent

        def aux_terms(
            real_aux: dict[str, torch.Tensor], fake_aux: dict[str, torch.Tensor]
        ) -> dict[str, torch.Tensor]:
            return model.discriminator_aux_loss(real_aux, batch, fake_aux, used_latent)

        total, stats = discriminator_objective(
            self.loss,
            self._critic,
            real,
            fake,
            step=self.step,
            autocast=self.autocast,
            aux_terms=aux_terms,
        )
        stats["grad_norm_d"] = apply_update(self.optimizers["discriminator"], total, self.d_params)
        return stats

    def _generator_step(
        self,
        batch: dict[str, torch.Tensor],
        latent: Latent | None = None,
        fake: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        if latent is None or fake is None:
            latent = self._latent(batch["images"].shape[0], batch)
            with self.autocast():
                fake = self._generate(latent)
        with discriminators_frozen(self.discriminator):
            total, stats, _, fake_aux = generator_objective(
                self.loss,
                self._augmented_critic,
                fake,
                real=batch["images"] if self.loss.GENERATOR_NEEDS_REAL else None,
                step=self.step,
                latent=latent,
                autocast=self.autocast,
            )
            for name, term in self.model.generator_aux_loss(fake_aux, latent).items():
                total = total + term
                stats[name] = term.detach()
            stats["grad_norm_g"] = apply_update(self.optimizers["generator"], total, self.g_params)
        if self.ema is not None:
            self.ema.update(self.g_params)
        return stats

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``d_steps`` discriminator updates, then ``g_steps`` generator updates."""
        if self.g_steps != 1:
            stats = self._discriminator_step(batch)
            for _ in range(self.d_steps - 1):
                stats = self._discriminator_step(self.batch())
            stats.update(self._generator_step(batch))
            for _ in range(self.g_steps - 1):
                stats.update(self._generator_step(self.batch()))
            return stats
        if self.d_steps == 1:
            # One generator pass serves both updates (as in Radford et al.'s reference code):
            # D learns from the detached fakes, then G from the same fakes.
            latent = self._latent(batch["images"].shape[0], batch)
            with self.autocast():
                fake = self._generate(latent)
            stats = self._discriminator_step(batch, latent, fake)
            stats.update(self._generator_step(batch, latent, fake))
            return stats
        stats = self._discriminator_step(batch)
        for _ in range(self.d_steps - 2):
            stats = self._discriminator_step(self.batch())
        # the last critic update shares its generator pass with the generator update
        latent = self._latent(batch["images"].shape[0], batch)
        with self.autocast():
            fake = self._generate(latent)
        stats = self._discriminator_step(self.batch(), latent, fake)
        stats.update(self._generator_step(batch, latent, fake))
        return stats

    # --- samples and state ----------------------------------------------------------------
    @torch.no_grad()
    def write_samples(self, path: Path) -> None:
        generator = self.ema.module if self.ema is not None else None
        images = self.model.generate(self.fixed_latent, generator=generator)
        n = images.shape[0]
        columns = self.model.fixed_grid_columns(n) or math.ceil(math.sqrt(n))
        save_grid(images, path, nrow=columns)
