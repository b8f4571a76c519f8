"""The GAN training loop: alternating discriminator and generator updates.

Each step makes ``d_steps`` discriminator updates (each on a fresh real batch), then one
generator update. The GAN loss plugin turns scores into losses (and may add a regulariser
such as WGAN-GP's gradient penalty); the model may add auxiliary terms (ACGAN, InfoGAN).
Logged per step: ``loss_d``, ``loss_g``, ``d_real`` and ``d_fake`` (the loss's reading of
D(x) and D(G(z)) as probabilities), gradient norms, and any auxiliary terms.

``--train-opt augment=flip,crop`` augments the real images; ``--train-opt
diffaugment=color,translation,cutout`` applies DiffAugment to real and fake images before
every pass through D (see :mod:`gentool.training.augment`).
"""

from __future__ import annotations

import contextlib
import copy
import math
from pathlib import Path
from typing import Any

import torch

from gentool.distributed import wrap
from gentool.errors import GentoolError
from gentool.images import save_grid
from gentool.losses.base import GanLoss
from gentool.models.gan import GanModel, Latent
from gentool.training.augment import classic_augmentation, diff_augmentation
from gentool.training.base import Trainer, make_optimizer

#: The ``--train-opt`` keys the GAN loop understands.
TRAIN_OPTIONS = ("augment", "diffaugment")


def _grad_norm(params: list[torch.nn.Parameter]) -> torch.Tensor:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    # one multi-tensor kernel for the per-tensor norms, then the norm of those
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


class GanTrainer(Trainer):
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
        self.ema_generator: torch.nn.Module | None = None
        if s.ema > 0:
            self.ema_generator = copy.deepcopy(model.generator).eval().requires_grad_(False)

    def cuda_graph_blocker(self) -> str | None:
        if self.d_steps != 1:
            return (
                f"{self.d_steps} critic updates per step fetch batches inside the step "
                "(graphs take one D and one G update per step)"
            )
        return None

    # --- multi-process --------------------------------------------------------------------
    def wrap_distributed(self) -> None:
        sync = self.settings.sync_batchnorm
        self.model.generator = wrap(self.model.generator, self.device, sync)
        self.model.discriminator = wrap(self.model.discriminator, self.device, sync)

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
        model, loss = self.model, self.loss
        real = batch["images"]
        if self.augment_real is not None:
            real = self.augment_real(real)
        if latent is None or fake is None:
            latent = self._latent(real.shape[0], batch)
            with torch.no_grad(), self.autocast():
                fake = model.generate(latent)
        fake = fake.detach()
        if self.diffaugment is not None:
            real, fake = self.diffaugment(real), self.diffaugment(fake)
        with self.autocast():
            real_scores, real_aux = model.discriminate(real)
            fake_scores, fake_aux = model.discriminate(fake)
        loss_d = loss.discriminator_loss(real_scores.float(), fake_scores.float())
        total = loss_d
        stats: dict[str, torch.Tensor] = {"loss_d": loss_d.detach()}
        for name, term in model.discriminator_aux_loss(real_aux, batch, fake_aux, latent).items():
            total = total + term
            stats[name] = term.detach()
        penalty = loss.regularizer(lambda x: model.discriminate(x)[0].float(), real, fake)
        if penalty is not None:
            total = total + penalty
            stats["penalty"] = penalty.detach()
        opt = self.optimizers["discriminator"]
        opt.zero_grad(set_to_none=True)
        total.backward()
        stats["grad_norm_d"] = _grad_norm(self.d_params)
        opt.step()
        stats["d_real"] = loss.probability(real_scores.detach().float()).mean()
        stats["d_fake"] = loss.probability(fake_scores.detach().float()).mean()
        return stats

    def _generator_step(
        self,
        batch: dict[str, torch.Tensor],
        latent: Latent | None = None,
        fake: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        model = self.model
        if latent is None or fake is None:
            latent = self._latent(batch["images"].shape[0], batch)
            with self.autocast():
                fake = model.generate(latent)
        for p in self.d_params:
            p.requires_grad_(False)
        # D only passes gradients through to G here: no DDP gradient sync for D in this step.
        no_sync = getattr(model.discriminator, "no_sync", contextlib.nullcontext)
        try:
            if self.diffaugment is not None:
                fake = self.diffaugment(fake)
            with no_sync(), self.autocast():
                fake_scores, fake_aux = model.discriminate(fake)
                real_scores = None
                if self.loss.GENERATOR_NEEDS_REAL:
                    real = batch["images"]
                    if self.diffaugment is not None:
                        real = self.diffaugment(real)
                    real_scores = model.discriminate(real)[0].float()
            loss_g = self.loss.generator_loss(fake_scores.float(), real_scores)
            total = loss_g
            stats: dict[str, torch.Tensor] = {"loss_g": loss_g.detach()}
            for name, term in model.generator_aux_loss(fake_aux, latent).items():
                total = total + term
                stats[name] = term.detach()
            opt = self.optimizers["generator"]
            opt.zero_grad(set_to_none=True)
            total.backward()
            stats["grad_norm_g"] = _grad_norm(self.g_params)
            opt.step()
        finally:
            for p in self.d_params:
                p.requires_grad_(True)
        stats["d_gen"] = self.loss.probability(fake_scores.detach().float()).mean()
        self._update_ema()
        return stats

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.ema_generator is None:
            return
        decay = self.settings.ema
        ema_params: list[torch.Tensor] = list(self.ema_generator.parameters())
        live: list[torch.Tensor] = list(self.g_params)
        torch._foreach_lerp_(ema_params, live, 1.0 - decay)
        for ema_buf, buf in zip(
            self.ema_generator.buffers(), self.model.generator.buffers(), strict=True
        ):
            ema_buf.copy_(buf)

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.d_steps == 1:
            # One generator pass serves both updates (as in Radford et al.'s reference code):
            # D learns from the detached fakes, then G from the same fakes.
            latent = self._latent(batch["images"].shape[0], batch)
            with self.autocast():
                fake = self.model.generate(latent)
            stats = self._discriminator_step(batch, latent, fake)
            stats.update(self._generator_step(batch, latent, fake))
            return stats
        stats = self._discriminator_step(batch)
        for _ in range(self.d_steps - 2):
            stats = self._discriminator_step(self.batch())
        # the last critic update shares its generator pass with the generator update
        latent = self._latent(batch["images"].shape[0], batch)
        with self.autocast():
            fake = self.model.generate(latent)
        stats = self._discriminator_step(self.batch(), latent, fake)
        stats.update(self._generator_step(batch, latent, fake))
        return stats

    # --- samples and state ----------------------------------------------------------------
    @torch.no_grad()
    def write_samples(self, path: Path) -> None:
        generator = self.model.generator
        if self.ema_generator is not None:
            self.model.generator = self.ema_generator
        try:
            images = self.model.generate(self.fixed_latent)
        finally:
            self.model.generator = generator
        n = images.shape[0]
        save_grid(
            images, path, nrow=getattr(self.model, "grid_columns", None) or math.ceil(math.sqrt(n))
        )

    def checkpoint_sections(self) -> dict[str, dict[str, torch.Tensor]]:
        if self.ema_generator is None:
            return {}
        return {"ema": dict(self.ema_generator.state_dict())}

    def restore(self, ckpt: Any) -> None:
        super().restore(ckpt)
        if self.ema_generator is not None:
            ema = ckpt.section("ema")
            if ema:
                self.ema_generator.load_state_dict(ema)
            else:
                self.ema_generator.load_state_dict(self.model.generator.state_dict())
