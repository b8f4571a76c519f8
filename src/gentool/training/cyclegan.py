"""The CycleGAN training loop (family ``translation``).

Data: the run's dataset is domain A (``gentool train cyclegan --domain-a DIR`` makes it a
``folder`` dataset); domain B is the same dataset plugin with ``--train-opt domain_b=DIR``
as its root (``--domain-b DIR``), decoded at the same resolution and channels, through the
same cache, with the same train/test split. Each step draws an independent shuffled batch
from each domain (unpaired), with random horizontal flips (``flip``, on by default).

One step, as in the reference implementation of Zhu et al. (2017)::

    fake_b = G_AB(a); rec_a = G_BA(fake_b); fake_a = G_BA(b); rec_b = G_AB(fake_a)
    L_G = L_gen(D_B(fake_b)) + L_gen(D_A(fake_a))
          + lambda_cycle * L_cyc + lambda_cycle * lambda_identity * L_idt     (one Adam, both G)
    L_D = L_disc(D_A(a), D_A(pool_A(fake_a))) + L_disc(D_B(b), D_B(pool_B(fake_b)))
          (+ the loss's regulariser)                                         (one Adam, both D)

``pool_*`` is the history of generated images of Shrivastava et al. (2017): :class:`ImagePool`.
Under torchrun the four networks are wrapped in DistributedDataParallel and each rank takes
its slice of the global batch of both domains; each rank keeps its own pool (the checkpoint
holds rank 0's).
Learning rates stay constant for the first ``decay_start`` of the run, then fall linearly to
0 (``lr_schedule=linear``, the paper's 100 + 100 epochs), or stay constant (``constant``).

Logged: ``loss_g``, ``loss_gan_ab``, ``loss_gan_ba``, ``loss_cycle``, ``loss_identity``,
``loss_d_a``, ``loss_d_b``, ``d_real_b``, ``d_fake_b``, and at every log step the
mode-collapse indicator on fixed inputs: ``diversity_ab`` (mean pairwise RMS distance among
``G_AB(a)`` for different ``a``), ``diversity_a`` (the same among those inputs) and their
ratio ``diversity_ratio_ab`` (and the ``ba`` counterparts). A generator that maps every input
to nearly the same image drives its ratio toward 0.

Samples: ``samples/step_XXXXXX.png``, rows of real A | fake B | reconstructed A, then rows
of real B | fake A | reconstructed B, from fixed inputs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from gentool.config import build_config
from gentool.data.base import ImageData, to_float
from gentool.distributed import wrap
from gentool.errors import GentoolError
from gentool.images import save_grid
from gentool.loading import load_data
from gentool.losses.cycle import cycle_consistency_loss, identity_loss
from gentool.metrics.diversity import pairwise_diversity
from gentool.models.cyclegan import CycleGan
from gentool.training.adversarial import (
    apply_update,
    discriminator_objective,
    discriminators_frozen,
    generator_objective,
    plain_critic,
)
from gentool.training.base import BatchSampler, Trainer, make_optimizer


@dataclass
class CycleGanOptions:
    """``--train-opt`` fields of the CycleGAN loop."""

    #: Folder of domain A (informational: domain A is the run's dataset).
    domain_a: str = ""
    #: Folder (dataset root) of domain B.
    domain_b: str = ""
    #: ``linear``: constant, then linear decay to 0 from ``decay_start``; or ``constant``.
    lr_schedule: str = "linear"
    #: Fraction of the run after which the learning rates start to decay.
    decay_start: float = 0.5
    #: Random horizontal flips of both domains.
    flip: bool = True
    #: Fixed inputs per domain shown in the sample grids.
    sample_rows: int = 4
    #: Fixed inputs per domain used for the diversity (mode-collapse) indicator.
    diversity_images: int = 32

    def validate(self) -> None:
        if self.lr_schedule not in ("linear", "constant"):
            raise GentoolError("--train-opt lr_schedule must be linear or constant.")
        if not 0.0 <= self.decay_start <= 1.0:
            raise GentoolError("--train-opt decay_start must be in [0, 1].")
        if self.sample_rows < 1 or self.diversity_images < 2:
            raise GentoolError("--train-opt sample_rows must be >= 1 and diversity_images >= 2.")


class ImagePool:
    """A history of generated images for the discriminator (Shrivastava et al., 2017).

    :meth:`query` returns a batch of the same size: while the pool is not full, each new
    image is stored and returned; afterwards each is, with probability 1/2, swapped with a
    random stored image (the old one is returned, the new one kept), else returned as is.
    ``size=0`` returns the input unchanged. Draws come from the pool's own generator, so a
    resumed run continues exactly.
    """

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self.images: torch.Tensor | None = None  # (size, C, H, W) once the first batch arrives
        self.count = 0
        self.generator = torch.Generator().manual_seed(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        images = images.detach()
        if self.images is None:
            self.images = torch.empty(
                (self.size, *images.shape[1:]), dtype=images.dtype, device=images.device
            )
        out = []
        for image in images:
            if self.count < self.size:
                self.images[self.count] = image
                self.count += 1
                out.append(image)
            elif float(torch.rand((), generator=self.generator)) < 0.5:
                slot = int(torch.randint(0, self.size, (), generator=self.generator))
                out.append(self.images[slot].clone())
                self.images[slot] = image
            else:
                out.append(image)
        return torch.stack(out)

    def state(self, prefix: str) -> dict[str, torch.Tensor]:
        state = {
            f"{prefix}.count": torch.tensor(self.count),
            f"{prefix}.rng": self.generator.get_state(),
        }
        if self.images is not None and self.count:
            state[f"{prefix}.images"] = self.images[: self.count].detach().cpu()
        return state

    def load_state(self, tensors: dict[str, torch.Tensor], prefix: str, like: torch.Tensor) -> None:
        if f"{prefix}.count" not in tensors:
            return
        self.count = int(tensors[f"{prefix}.count"])
        self.generator.set_state(tensors[f"{prefix}.rng"].to(torch.uint8))
        self.images = torch.empty(
            (self.size, *like.shape[1:]), dtype=like.dtype, device=like.device
        )
        if self.count:
            self.images[: self.count] = tensors[f"{prefix}.images"].to(like)


def diversity_indicator(outputs: torch.Tensor, inputs: torch.Tensor) -> tuple[float, float]:
    """Mean pairwise RMS distance among ``outputs`` and among ``inputs`` (pixels in [0, 1])."""
    return pairwise_diversity(outputs), pairwise_diversity(inputs)


class CycleGanTrainer(Trainer):
    PLUGIN_NAME: ClassVar[str] = "translation"
    DESCRIPTION: ClassVar[str] = "two generators, two discriminators, cycle and identity losses"
    # Each discriminator is updated once per step (after --g-steps generator updates).
    UNUSED_SETTINGS: ClassVar[tuple[str, ...]] = ("d_steps", "samples")
    progress_keys = ("loss_g", "loss_cycle", "loss_d_a", "loss_d_b", "diversity_ratio_ab")
    model: CycleGan

    def __init__(self, model: CycleGan, data: ImageData, settings: Any, **kwargs: Any) -> None:
        super().__init__(model, data, settings, **kwargs)
        self.options: CycleGanOptions = build_config(
            CycleGanOptions, dict(settings.extra), what="--train-opt"
        )
        if not self.options.domain_b:
            raise GentoolError(
                "cyclegan needs two image folders; pass --domain-a DIR --domain-b DIR."
            )
        if self.settings.ema or self.settings.compile:
            raise GentoolError("cyclegan does not support --ema or --compile yet; drop them.")
        spec_b = dataclasses.replace(
            self.data_spec,
            root=self.options.domain_b,
            image_size=data.image_size,
            channels=data.channels,
            labels=None,
            label_column=None,
        )
        self.data_b = load_data(spec_b)
        s = self.settings
        self.sampler_b = BatchSampler(
            len(self.data_b), s.batch_size, s.seed + 1, self.world.rank, self.world.size
        )
        self.optimizers = {
            "generator": make_optimizer(model.generator_parameters(), s.lr_g, s, self.device),
            "discriminator": make_optimizer(
                model.discriminator_parameters(), s.lr_d, s, self.device
            ),
        }
        self.base_lr = {name: opt.param_groups[0]["lr"] for name, opt in self.optimizers.items()}
        #: The networks the step runs: the model's own, or DDP handles on them.
        self.nets: dict[str, torch.nn.Module] = {
            "generator_ab": model.generator_ab,
            "generator_ba": model.generator_ba,
            "discriminator_a": model.discriminator_a,
            "discriminator_b": model.discriminator_b,
        }
        self.pool_a = ImagePool(model.config.pool_size, s.seed + 11)
        self.pool_b = ImagePool(model.config.pool_size, s.seed + 12)
        self.flip_generator = torch.Generator().manual_seed(s.seed + 13)
        count = max(self.options.diversity_images, self.options.sample_rows)
        self.fixed_a = to_float(data.images[:count].clone())
        self.fixed_b = to_float(self.data_b.images[:count].clone())

    def wrap_distributed(self) -> None:
        """DDP handles kept by the loop; the model's own networks are never replaced."""
        sync = self.settings.sync_batchnorm
        self.nets = {name: wrap(network, self.device, sync) for name, network in self.nets.items()}

    # --- data -----------------------------------------------------------------------------
    def _flip(self, images: torch.Tensor) -> torch.Tensor:
        if not self.options.flip:
            return images
        mask = torch.rand(len(images), generator=self.flip_generator) < 0.5
        mask = mask.to(images.device).view(-1, 1, 1, 1)
        return torch.where(mask, images.flip(-1), images)

    def batch(self) -> dict[str, torch.Tensor]:
        idx_a = self.sampler.next_indices().to(self.data.images.device)
        idx_b = self.sampler_b.next_indices()
        real_a = to_float(self.data.images[idx_a].to(self.device, non_blocking=True))
        real_b = to_float(self.data_b.images[idx_b].to(self.device, non_blocking=True))
        return {"real_a": self._flip(real_a), "real_b": self._flip(real_b)}

    # --- state ----------------------------------------------------------------------------
    def extra_state(self) -> dict[str, torch.Tensor]:
        tensors, meta = self.sampler_b.state()
        state = {f"b.{k}": v for k, v in tensors.items()}
        state["b.sampler.epoch"] = torch.tensor(meta["epoch"])
        state["b.sampler.position"] = torch.tensor(meta["position"])
        state["flip.rng"] = self.flip_generator.get_state()
        state.update(self.pool_a.state("pool_a"))
        state.update(self.pool_b.state("pool_b"))
        return state

    def load_extra_state(self, tensors: dict[str, torch.Tensor]) -> None:
        if "b.sampler.order" in tensors:
            meta = {
                "epoch": int(tensors["b.sampler.epoch"]),
                "position": int(tensors["b.sampler.position"]),
            }
            self.sampler_b.load_state(
                {k[2:]: v for k, v in tensors.items() if k.startswith("b.")}, meta
            )
        if "flip.rng" in tensors:
            self.flip_generator.set_state(tensors["flip.rng"].to(torch.uint8))
        like = self.fixed_a.to(self.device)
        self.pool_a.load_state(tensors, "pool_a", like)
        self.pool_b.load_state(tensors, "pool_b", like)

    # --- one step -------------------------------------------------------------------------
    def _set_learning_rates(self) -> None:
        if self.options.lr_schedule == "constant":
            return
        total = max(self.total_steps, 1)
        start = self.options.decay_start * total
        factor = 1.0 if self.step < start else max(0.0, 1 - (self.step - start) / (total - start))
        for name, opt in self.optimizers.items():
            for group in opt.param_groups:
                group["lr"] = self.base_lr[name] * factor

    def _generator_update(
        self, real_a: torch.Tensor, real_b: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """G_AB and G_BA together: adversarial (through the core, D frozen), cycle and
        identity terms. Returns the statistics and the fakes for the discriminators."""
        config, nets = self.model.config, self.nets
        g_ab, g_ba = nets["generator_ab"], nets["generator_ba"]
        with discriminators_frozen(nets["discriminator_a"], nets["discriminator_b"]):
            with self.autocast():
                fake_b = g_ab(real_a)
                rec_a = g_ba(fake_b)
                fake_a = g_ba(real_b)
                rec_b = g_ab(fake_a)
            loss_gan_ab, stats_ab, _, _ = generator_objective(
                self.loss,
                plain_critic(nets["discriminator_b"]),
                fake_b,
                real=real_b,
                step=self.step,
                autocast=self.autocast,
                prefix="ab_",
            )
            loss_gan_ba, stats_ba, _, _ = generator_objective(
                self.loss,
                plain_critic(nets["discriminator_a"]),
                fake_a,
                real=real_a,
                step=self.step,
                autocast=self.autocast,
                prefix="ba_",
            )
        loss_cycle = cycle_consistency_loss(real_a, rec_a.float(), real_b, rec_b.float())
        total = loss_gan_ab + loss_gan_ba + config.lambda_cycle * loss_cycle
        loss_identity = torch.zeros((), device=self.device)
        if config.lambda_identity > 0:
            with self.autocast():
                same_a = g_ba(real_a)
                same_b = g_ab(real_b)
            loss_identity = identity_loss(real_a, same_a.float(), real_b, same_b.float())
            total = total + config.lambda_cycle * config.lambda_identity * loss_identity
        apply_update(self.optimizers["generator"], total, self.model.generator_parameters())
        stats: dict[str, torch.Tensor] = {
            "loss_g": total.detach(),
            "loss_gan_ab": stats_ab.pop("ab_loss_g"),
            "loss_gan_ba": stats_ba.pop("ba_loss_g"),
            "loss_cycle": loss_cycle.detach(),
            "loss_identity": loss_identity.detach(),
        }
        # generator regularisers of the loss, if any, under their names per direction
        stats.update({k: v for k, v in {**stats_ab, **stats_ba}.items() if "d_gen" not in k})
        return stats, fake_a, fake_b

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``g_steps`` generator updates (the extra ones on fresh batches), then one update of
        both discriminators on real images vs a mix of new and past fakes."""
        self._set_learning_rates()
        stats: dict[str, torch.Tensor] = {}
        for index in range(self.settings.g_steps):
            if index:
                batch = self.batch()
            g_stats, fake_a, fake_b = self._generator_update(batch["real_a"], batch["real_b"])
            stats.update(g_stats)
        real_a, real_b = batch["real_a"], batch["real_b"]
        pooled_a = self.pool_a.query(fake_a.detach().float())
        pooled_b = self.pool_b.query(fake_b.detach().float())
        total_a, stats_a = discriminator_objective(
            self.loss,
            plain_critic(self.nets["discriminator_a"]),
            real_a,
            pooled_a,
            step=self.step,
            autocast=self.autocast,
            prefix="a_",
        )
        total_b, stats_b = discriminator_objective(
            self.loss,
            plain_critic(self.nets["discriminator_b"]),
            real_b,
            pooled_b,
            step=self.step,
            autocast=self.autocast,
            prefix="b_",
        )
        apply_update(
            self.optimizers["discriminator"],
            total_a + total_b,
            self.model.discriminator_parameters(),
        )
        stats["loss_d_a"] = stats_a.pop("a_loss_d")
        stats["loss_d_b"] = stats_b.pop("b_loss_d")
        stats["d_real_b"] = stats_b.pop("b_d_real")
        stats["d_fake_b"] = stats_b.pop("b_d_fake")
        for name, value in {**stats_a, **stats_b}.items():  # regularisers, per discriminator
            if not name.endswith(("d_real", "d_fake")):
                stats[name] = value
        upcoming = self.step + 1
        if upcoming % self.settings.log_every == 0 or upcoming == self.total_steps:
            stats.update({k: torch.tensor(v) for k, v in self.diversity_stats().items()})
        return stats

    # --- the mode-collapse indicator and the samples ----------------------------------------
    @torch.no_grad()
    def diversity_stats(self) -> dict[str, float]:
        """Diversity of ``G_AB`` outputs over the fixed A inputs vs among those inputs (and BA)."""
        was_training = self.model.training
        self.model.eval()
        try:
            n = self.options.diversity_images
            real_a = self.fixed_a[:n].to(self.device)
            real_b = self.fixed_b[:n].to(self.device)
            if min(len(real_a), len(real_b)) < 2:
                return {}
            out_ab, in_a = diversity_indicator(self.model.generator_ab(real_a), real_a)
            out_ba, in_b = diversity_indicator(self.model.generator_ba(real_b), real_b)
        finally:
            self.model.train(was_training)
        values = {"diversity_ab": out_ab, "diversity_a": in_a}
        values.update({"diversity_ba": out_ba, "diversity_b": in_b})
        if in_a > 0:  # identical inputs: no ratio
            values["diversity_ratio_ab"] = out_ab / in_a
        if in_b > 0:
            values["diversity_ratio_ba"] = out_ba / in_b
        return values

    @torch.no_grad()
    def write_samples(self, path: Path) -> None:
        """``sample_rows`` rows of real A | G_AB(A) | G_BA(G_AB(A)), then as many of B; the
        layout :meth:`TranslationFamily.sample_grid_layout
        <gentool.training.families.TranslationFamily.sample_grid_layout>` describes to the
        figures that label it (``plot timeline``, ``sample -o``): keep the two in step."""
        rows = self.options.sample_rows
        real_a = self.fixed_a[:rows].to(self.device)
        real_b = self.fixed_b[:rows].to(self.device)
        fake_b = self.model.generator_ab(real_a)
        fake_a = self.model.generator_ba(real_b)
        rec_a = self.model.generator_ba(fake_b)
        rec_b = self.model.generator_ab(fake_a)
        grid = torch.cat(
            [
                torch.stack([real_a, fake_b, rec_a], 1).flatten(0, 1),
                torch.stack([real_b, fake_a, rec_b], 1).flatten(0, 1),
            ]
        )
        save_grid(grid.float().clamp(-1, 1), path, nrow=3)
