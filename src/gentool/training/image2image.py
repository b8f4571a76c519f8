"""The image-to-image (super-resolution) training loop.

Pairs are made on the fly from any dataset of high-resolution images: each step takes a
random ``patch x patch`` crop of every image in the batch (with a random flip and 90-degree
rotation), shrinks it by the model's scale with antialiased bicubic resampling, rounds it to
8-bit levels (as a real low-resolution PNG would be) and asks the generator to restore it.
With ``--train-opt degradation=real`` the input is made by the random degradation model of
:mod:`gentool.data.degrade` instead (blur, one of five downscaling kernels with and without
antialiasing, Gaussian or Poisson noise, JPEG), so the model learns the inputs real pictures
are; the sample grids keep the clean protocol's inputs.

The generator's loss is a pixel loss plus, when ``adv_weight > 0``, the GAN loss plugin's
generator term on a conditional PatchGAN::

    L_G = pixel_weight * |G(x) - y|_1  (or squared: pixel=mse)  +  adv_weight * L_adv(D(x, G(x)))
    L_D = L_disc(D(x, y), D(x, G(x)))   (+ the loss's regulariser)

alternating one D update and one G update per step. ``adv_weight=0`` is the pixel-only mode:
the discriminator is not updated at all (and costs nothing).

Options (``--train-opt key=value``): ``patch`` (crop side in output pixels, default
``min(64, image_size)``), ``pixel`` (``l1`` or ``mse``), ``pixel_weight`` (1.0),
``adv_weight`` (0.01), ``lr_schedule`` (``cosine`` decay to 0 over the run, or ``constant``),
``augment`` (flips and rotations, true), ``degradation`` (``clean`` or ``real``) and, with
``real``, ``p_blur``, ``p_noise``, ``p_jpeg`` (0.5 each).

Logged: ``loss_pixel``, ``psnr`` (of the batch, RGB, dB), and with a GAN ``loss_g``,
``loss_d``, ``d_real``, ``d_fake``. Samples: ``samples/step_XXXXXX.png`` with one row per
fixed input: input (nearest-neighbour enlarged) | output | target.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from gentool.config import build_config
from gentool.data.base import to_float
from gentool.data.degrade import (
    DEGRADATIONS,
    DegradationOptions,
    RandomDegradation,
    degrade,
)
from gentool.distributed import wrap
from gentool.errors import GentoolError
from gentool.images import save_grid
from gentool.models.srunet import Image2ImageModel
from gentool.training import sr_data
from gentool.training.adversarial import (
    apply_update,
    discriminator_objective,
    discriminators_frozen,
    generator_objective,
    plain_critic,
)
from gentool.training.base import Trainer, make_optimizer
from gentool.training.ema import GeneratorEma

#: ``--train-opt`` keys that only ``degradation=real`` uses.
DEGRADATION_KEYS = frozenset({"p_blur", "p_noise", "p_jpeg"})
#: The checkpoint tensor (under ``trainer.``) holding the degradation generator's state.
DEGRADATION_STATE_KEY = "degradation.rng"


@dataclass
class Image2ImageOptions:
    """``--train-opt`` fields of the image2image loop."""

    patch: int = 0
    pixel: str = "l1"
    pixel_weight: float = 1.0
    adv_weight: float = 0.01
    lr_schedule: str = "cosine"
    augment: bool = True
    #: Fixed inputs shown in the sample grids.
    sample_rows: int = 6
    #: How inputs are made from the crops: ``clean`` (antialiased bicubic, the papers'
    #: protocol) or ``real`` (random blur, kernel, noise and JPEG: gentool.data.degrade).
    degradation: str = "clean"
    #: ``degradation=real``: probabilities of blur, noise and JPEG per crop.
    p_blur: float = 0.5
    p_noise: float = 0.5
    p_jpeg: float = 0.5

    def validate(self) -> None:
        if self.pixel not in ("l1", "mse"):
            raise GentoolError(f"--train-opt pixel must be l1 or mse, not '{self.pixel}'.")
        if self.pixel_weight < 0 or self.adv_weight < 0:
            raise GentoolError("--train-opt pixel_weight and adv_weight must be >= 0.")
        if self.pixel_weight == 0 and self.adv_weight == 0:
            raise GentoolError("pixel_weight and adv_weight are both 0: nothing to train.")
        if self.lr_schedule not in ("cosine", "constant"):
            raise GentoolError("--train-opt lr_schedule must be cosine or constant.")
        if self.patch < 0 or self.sample_rows < 1:
            raise GentoolError("--train-opt patch must be >= 0 and sample_rows >= 1.")
        if self.degradation not in DEGRADATIONS:
            raise GentoolError(
                f"--train-opt degradation must be {' or '.join(DEGRADATIONS)}, "
                f"not '{self.degradation}'."
            )
        self.degradation_options().validate()

    def degradation_options(self) -> DegradationOptions:
        return DegradationOptions(p_blur=self.p_blur, p_noise=self.p_noise, p_jpeg=self.p_jpeg)


def psnr_batch(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean PSNR (dB) of images in [-1, 1] (peak-to-peak 2), over the batch; for logs."""
    mse = (output.float() - target.float()).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return (10 * torch.log10(4.0 / mse)).mean()


class Image2ImageTrainer(Trainer):
    PLUGIN_NAME: ClassVar[str] = "image2image"
    DESCRIPTION: ClassVar[str] = "pixel loss plus an optional adversarial term (super-resolution)"
    # One D update per step.
    UNUSED_SETTINGS: ClassVar[tuple[str, ...]] = ("d_steps", "samples")
    progress_keys = ("loss_pixel", "psnr", "loss_g", "loss_d")
    model: Image2ImageModel

    def __init__(self, model: Image2ImageModel, data: Any, settings: Any, **kwargs: Any) -> None:
        super().__init__(model, data, settings, **kwargs)
        # --train-opt over the model's defaults (sr-resnet: adv_weight=0, full_res=true); the
        # full-resolution data path's keys are read by training/sr_data.py.
        extra, data_extra = sr_data.split_options(
            dict(settings.extra), dict(getattr(model, "DEFAULT_TRAIN_OPTIONS", {}))
        )
        self.options: Image2ImageOptions = build_config(
            Image2ImageOptions, extra, what="--train-opt"
        )
        given = set(settings.extra)
        if self.options.degradation == "clean" and given & DEGRADATION_KEYS:
            raise GentoolError(
                f"--train-opt {sorted(given & DEGRADATION_KEYS)[0]} applies only with "
                "degradation=real; add --train-opt degradation=real or drop it."
            )
        #: ``degradation=real``: the random degradation model, with its own generator.
        self.degrader: RandomDegradation | None = None
        if self.options.degradation == "real":
            self.degrader = RandomDegradation(
                model.scale,
                settings.seed + 104729 * (self.world.rank + 1),
                self.options.degradation_options(),
            )
        self.data_options: sr_data.SrDataOptions = build_config(
            sr_data.SrDataOptions, data_extra, what="--train-opt"
        )
        scale = model.scale
        native = None
        if self.data_options.full_res:  # crops of the photos at their own resolution
            native = sr_data.load_native(list(data.files), data.channels)
            size = min(min(image.shape[-2:]) for image in native)
            self.patch = self.options.patch or min(96, size // scale * scale)
        else:
            size = data.image_size
            self.patch = self.options.patch or min(64, size)
        if self.patch > size and native is not None:
            sr_data.PatchSampler(native, self.patch, 0, files=list(data.files))  # names it
        if self.patch > size:
            raise GentoolError(
                f"--train-opt patch={self.patch} is larger than the images ({size}); "
                "lower it or raise --image-size."
            )
        if self.patch % scale or self.patch < 2 * scale:
            if not self.options.patch:  # the patch came from the image size, not the user
                raise GentoolError(
                    f"--image-size {size} does not suit a {scale}x model: training crops need a "
                    f"multiple of {scale} of at least {2 * scale} pixels (e.g. --image-size "
                    f"{max(2 * scale, size // scale * scale)})."
                )
            raise GentoolError(
                f"--train-opt patch={self.patch} must be a multiple of the scale ({scale}) "
                f"and at least {2 * scale}."
            )
        self.native: sr_data.PatchSampler | None = None
        if native is not None:
            seed = settings.seed + 7919 * self.world.rank
            self.native = sr_data.PatchSampler(
                native, self.patch, seed, self.options.augment, list(data.files)
            )
            if self.device.type == "cuda":
                free, _ = torch.cuda.mem_get_info(self.device)
                if self.native.nbytes < free // 4:  # crops are then cut on the GPU
                    self.native.to(self.device)
        self.adversarial = self.options.adv_weight > 0
        #: The networks the step runs: the model's own, or DDP handles on them.
        self.generator: torch.nn.Module = model.generator
        self.discriminator: torch.nn.Module | None = model.discriminator
        if self.adversarial and (self.loss is None or model.discriminator is None):
            raise GentoolError("adv_weight > 0 needs a GAN loss and a discriminator.")
        s = self.settings
        self.optimizers = {
            "generator": make_optimizer(model.generator_parameters(), s.lr_g, s, self.device)
        }
        if self.adversarial:
            self.optimizers["discriminator"] = make_optimizer(
                model.discriminator_parameters(), s.lr_d, s, self.device
            )
        self.base_lr = {name: opt.param_groups[0]["lr"] for name, opt in self.optimizers.items()}
        #: ``--ema``: the averaged generator the samples, ``upscale`` and ``evaluate`` use.
        self.ema = GeneratorEma(model.generator, s.ema) if s.ema > 0 else None
        # Fixed sample inputs: centre crops of the first images (at least 64 px when possible).
        rows = min(self.options.sample_rows, len(data))
        side = min(size, max(self.patch, 64)) // scale * scale
        top = (size - side) // 2
        if self.native is not None:
            self.fixed_targets = to_float(self.native.centre_crops(rows, side).cpu())
        else:
            self.fixed_targets = to_float(data.images[:rows, :, top : top + side, top : top + side])

    def unused_settings(self) -> tuple[str, ...]:
        # One D update per step; no discriminator without an adversarial term.
        return self.UNUSED_SETTINGS + (() if self.adversarial else ("lr_d",))

    def uses_gan_loss(self) -> bool:
        return self.adversarial

    def wrap_distributed(self) -> None:
        """DDP handles kept by the loop; the model's own networks are never replaced."""
        sync = self.settings.sync_batchnorm
        self.generator = wrap(self.model.generator, self.device, sync)
        if self.model.discriminator is not None:
            self.discriminator = wrap(self.model.discriminator, self.device, sync)

    # --- data -----------------------------------------------------------------------------
    def batch(self) -> dict[str, torch.Tensor]:
        idx = self.sampler.next_indices()
        if self.native is not None:  # full_res: crops cut where the photos are held
            crops = self.native.crops(idx.tolist())
            target = to_float(crops.to(self.device, non_blocking=True))
            return {"target": target, "low": self._degrade(target)}
        images = self.data.images[idx]  # (B, C, S, S) uint8
        size, patch = images.shape[-1], self.patch
        tops = torch.randint(0, size - patch + 1, (len(idx),)).tolist()
        lefts = torch.randint(0, size - patch + 1, (len(idx),)).tolist()
        crops = torch.stack(
            [
                im[:, y : y + patch, x : x + patch]
                for im, y, x in zip(images, tops, lefts, strict=True)
            ]
        )
        if self.options.augment:
            flips = torch.randint(0, 2, (len(idx),)).tolist()
            turns = torch.randint(0, 4, (len(idx),)).tolist()
            crops = torch.stack(
                [
                    torch.rot90(c.flip(-1) if f else c, k, (1, 2))
                    for c, f, k in zip(crops, flips, turns, strict=True)
                ]
            )
        target = to_float(crops.to(self.device, non_blocking=True))
        return {"target": target, "low": self._degrade(target)}

    def _degrade(self, target: torch.Tensor) -> torch.Tensor:
        if self.degrader is not None:
            return self.degrader(target)
        return degrade(target, self.model.scale)

    def extra_state(self) -> dict[str, torch.Tensor]:
        state = {} if self.native is None else {sr_data.STATE_KEY: self.native.state()}
        if self.degrader is not None:
            state[DEGRADATION_STATE_KEY] = self.degrader.state()
        return state

    def load_extra_state(self, tensors: dict[str, torch.Tensor]) -> None:
        if self.native is not None:
            self.native.load_state(tensors.get(sr_data.STATE_KEY))
        if self.degrader is not None:
            self.degrader.load_state(tensors.get(DEGRADATION_STATE_KEY))

    # --- one step -------------------------------------------------------------------------
    def _set_learning_rates(self) -> None:
        if self.options.lr_schedule == "constant":
            return
        progress = min(self.step / max(self.total_steps, 1), 1.0)
        factor = 0.5 * (1 + math.cos(math.pi * progress))
        for name, opt in self.optimizers.items():
            for group in opt.param_groups:
                group["lr"] = self.base_lr[name] * factor

    def _pixel_loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.options.pixel == "mse":
            return F.mse_loss(output, target)
        return F.l1_loss(output, target)

    def _critic(self, upsampled: torch.Tensor) -> Any:
        """The conditional PatchGAN as a critic of images given this batch's input."""
        return plain_critic(
            lambda images: self.model.discriminate(
                upsampled, images, discriminator=self.discriminator
            )
        )

    def _generator_update(
        self, batch: dict[str, torch.Tensor], upsampled: torch.Tensor, output: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        target = batch["target"]
        loss_pixel = self._pixel_loss(output, target)
        total = self.options.pixel_weight * loss_pixel
        stats: dict[str, torch.Tensor] = {}
        with contextlib.ExitStack() as frozen:
            if self.adversarial and self.discriminator is not None:
                frozen.enter_context(discriminators_frozen(self.discriminator))
                adversarial, adv_stats, _, _ = generator_objective(
                    self.loss,
                    self._critic(upsampled),
                    output,
                    real=target,
                    step=self.step,
                    autocast=self.autocast,
                )
                total = total + self.options.adv_weight * adversarial
                stats.update(adv_stats)
            stats["grad_norm_g"] = apply_update(
                self.optimizers["generator"], total, self.model.generator_parameters()
            )
        if self.ema is not None:
            self.ema.update()
        stats["loss_pixel"] = loss_pixel.detach()
        stats["psnr"] = psnr_batch(output.detach(), target)
        return stats

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One discriminator update (with an adversarial term), then ``g_steps`` generator
        updates (the extra ones on fresh batches)."""
        self._set_learning_rates()
        stats: dict[str, torch.Tensor] = {}
        for index in range(self.settings.g_steps):
            if index:
                batch = self.batch()
            upsampled = self.model.upsample_input(batch["low"])
            with self.autocast():  # --precision bf16: forward passes in bf16, losses in fp32
                output = self.generator(upsampled).float()
            if self.adversarial and index == 0:
                total, d_stats = discriminator_objective(
                    self.loss,
                    self._critic(upsampled),
                    batch["target"],
                    output,
                    step=self.step,
                    autocast=self.autocast,
                )
                d_stats["grad_norm_d"] = apply_update(
                    self.optimizers["discriminator"],
                    total,
                    self.model.discriminator_parameters(),
                )
                stats.update(d_stats)
            stats.update(self._generator_update(batch, upsampled, output))
        return stats

    # --- samples --------------------------------------------------------------------------
    @torch.no_grad()
    def write_samples(self, path: Path) -> None:
        target = self.fixed_targets.to(self.device)
        low = degrade(target, self.model.scale)
        generator = self.ema.module if self.ema is not None else self.model.generator
        output = generator(self.model.upsample_input(low))
        shown = F.interpolate(low, scale_factor=self.model.scale, mode="nearest")
        rows = torch.stack([shown, output.clamp(-1, 1), target], 1).flatten(0, 1)
        save_grid(rows, path, nrow=3)
