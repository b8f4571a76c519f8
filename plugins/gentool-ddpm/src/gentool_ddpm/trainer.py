"""The diffusion training loop (Ho et al., 2020, Algorithm 1).

Each step takes a batch of clean images ``x_0``, draws one step ``t ~ U{0, ..., T - 1}`` and
one noise ``eps ~ N(0, I)`` per image, makes ``x_t = sqrt(alpha_bar_t) x_0 +
sqrt(1 - alpha_bar_t) eps`` and takes one optimizer step on the "simple" loss::

    L = E_{x_0, t, eps} || eps - eps_hat(x_t, t) ||^2       (mean over pixels and images)

One optimizer (``--lr-g``, ``--beta1``, ``--beta2``, ``--optimizer``) trains the whole
U-Net; ``--ema DECAY`` keeps a moving average of it, which sampling uses. ``t`` and ``eps``
are drawn from torch's global random stream on the training device, which every checkpoint
saves, so ``--resume`` continues bit for bit.

Logged per step: ``loss``. Sample grids (``samples/step_XXXXXX.png``) use the model's
sampler over at most :data:`GRID_STEPS` evenly spaced steps, from noise fixed by ``--seed``
and drawn apart from the training stream, so every grid of a run starts from the same
``x_T`` and a grid never changes what training draws.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from gentool.errors import GentoolError
from gentool.images import save_grid
from gentool.training.base import Trainer, make_optimizer
from gentool.training.ema import GeneratorEma
from gentool_ddpm.model import DdpmModel

#: The most steps the sampler takes for a training run's sample grid (evenly spaced).
GRID_STEPS = 100


def noise_prediction_loss(predicted: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Ho et al.'s simple loss, ``mean ||eps - eps_hat||^2`` over pixels and images (eq. 14),
    in float32 whatever the precision of the forward pass."""
    return F.mse_loss(predicted.float(), noise.float())


class DiffusionTrainer(Trainer):
    PLUGIN_NAME: ClassVar[str] = "diffusion"
    DESCRIPTION: ClassVar[str] = "noise-prediction MSE at a random step (Ho et al. 2020)"
    # One optimizer over the U-Net: no discriminator, no alternating updates.
    UNUSED_SETTINGS: ClassVar[tuple[str, ...]] = ("lr_d", "d_steps", "g_steps")
    #: Adam with its usual beta1 0.9 (the GAN default 0.5 is for adversarial training).
    RECOMMENDED_SETTINGS: ClassVar[dict[str, Any]] = {"lr_g": 1e-3, "beta1": 0.9}
    progress_keys = ("loss",)
    model: DdpmModel

    def __init__(self, model: DdpmModel, data: Any, settings: Any, **kwargs: Any) -> None:
        super().__init__(model, data, settings, **kwargs)
        if settings.extra:
            key = sorted(settings.extra)[0]
            raise GentoolError(
                f"the diffusion loop takes no --train-opt, got '{key}'; the schedule and the "
                "sampler are model options (--model-opt schedule=cosine, ...)."
            )
        s = self.settings
        self.optimizers = {
            "model": make_optimizer(list(model.parameters()), s.lr_g, s, self.device)
        }
        self.ema = GeneratorEma(model.generator, s.ema) if s.ema > 0 else None

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        images = batch["images"]  # (B, C, H, W) in [-1, 1]
        timesteps = torch.randint(
            self.model.timesteps, (images.shape[0],), device=images.device
        )  # (B,)
        noise = torch.randn_like(images)
        noisy = self.model.noisy_images(images, timesteps, noise)
        with self.autocast():  # --precision bf16: the forward pass in bf16, the loss in fp32
            predicted = self.model.predict_noise(noisy, timesteps)
        loss = noise_prediction_loss(predicted, noise)
        optimizer = self.optimizers["model"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if self.ema is not None:
            self.ema.update()
        return {"loss": loss.detach()}

    @torch.no_grad()
    def write_samples(self, path: Path) -> None:
        """A grid drawn with the model's sampler over at most :data:`GRID_STEPS` steps, from
        a generator seeded anew for every grid: ``x_T`` and every fresh noise are the same in
        each grid of a run, so the grids show the same images taking shape."""
        config = self.model.config
        network = self.ema.module if self.ema is not None else None
        steps = min(config.sample_steps or config.timesteps, GRID_STEPS)
        generator = torch.Generator().manual_seed(self.settings.seed + 1)
        noise = self.model.initial_noise(self.settings.samples, generator)
        images = self.model.denoise(
            noise, sampler=config.sampler, steps=steps, generator=generator, network=network
        )
        save_grid(images, path, nrow=math.ceil(math.sqrt(images.shape[0])))
