"""``ddpm``: a denoising diffusion probabilistic model (Ho et al., 2020).

The model is a noise-predicting U-Net (:mod:`gentool_ddpm.unet`) and the noise schedule it
was trained with (:mod:`gentool_ddpm.schedule`), both rebuilt from :class:`DdpmConfig`, so a
checkpoint samples with no flags. Sampling runs the reverse process from pure noise:

* ``ddpm``: ancestral sampling, fresh noise at every step (``eta = 1``);
* ``ddim``: Song et al.'s deterministic sampler (``eta = 0``), usually on a sub-sequence of
  the steps (``steps=50`` of 1000), where it loses far less than ancestral sampling does.

The config's ``sampler`` and ``sample_steps`` are what :meth:`DdpmModel.sample` (and so
``gentool evaluate``) uses; ``gentool sample --sample-opt sampler=ddim --sample-opt
steps=50`` chooses per call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from gentool.errors import GentoolError
from gentool.models.base import ModelConfig, ModelPlugin
from gentool_ddpm.schedule import (
    SAMPLERS,
    SCHEDULES,
    alpha_bar_of,
    diffuse,
    make_betas,
    reverse_step,
    timestep_sequence,
)
from gentool_ddpm.unet import UNet

#: The most diffusion steps a model may have (Ho et al. use 1000, some 4000).
MAX_TIMESTEPS = 100_000
#: The most resolutions of the U-Net.
MAX_LEVELS = 5


@dataclass
class DdpmConfig(ModelConfig):
    """The U-Net, the noise schedule and the default sampler of a ``ddpm`` model."""

    #: Channels of the U-Net at full resolution (doubling per level, at most 4x); even.
    width: int = 32
    #: Resolutions of the U-Net (the image size must divide by ``2**(levels - 1)``).
    levels: int = 2
    #: Residual blocks per resolution, on the way down (and up).
    blocks: int = 2
    #: GroupNorm groups (must divide ``width``).
    groups: int = 8
    #: Diffusion steps T.
    timesteps: int = 1000
    #: Noise schedule: linear (Ho et al.) or cosine (Nichol & Dhariwal).
    schedule: str = "linear"
    #: First and last beta of the linear schedule at T = 1000 (scaled by 1000 / T).
    beta_start: float = 1e-4
    beta_end: float = 0.02
    #: The sampler ``sample()`` and ``gentool evaluate`` use: ddpm (ancestral) or ddim.
    sampler: str = "ddpm"
    #: Steps the sampler visits, evenly spaced (None: all ``timesteps``).
    sample_steps: int | None = None

    def validate(self) -> None:
        if self.width < 2 or self.width % 2:
            raise GentoolError(f"width must be an even number >= 2, not {self.width}.")
        if self.groups < 1 or self.width % self.groups:
            raise GentoolError(
                f"groups ({self.groups}) must divide width ({self.width}); e.g. groups=8 with "
                "width=32."
            )
        if not 1 <= self.levels <= MAX_LEVELS:
            raise GentoolError(f"levels must be between 1 and {MAX_LEVELS}, not {self.levels}.")
        if self.blocks < 1:
            raise GentoolError(f"blocks must be >= 1, not {self.blocks}.")
        factor = 2 ** (self.levels - 1)
        if self.image_size % factor:
            raise GentoolError(
                f"a {self.levels}-level U-Net needs an image size divisible by {factor}, not "
                f"{self.image_size}; change --image-size or --model-opt levels."
            )
        if not 1 <= self.timesteps <= MAX_TIMESTEPS:
            raise GentoolError(
                f"timesteps must be between 1 and {MAX_TIMESTEPS}, not {self.timesteps}."
            )
        if self.schedule not in SCHEDULES:
            raise GentoolError(
                f"schedule must be one of {', '.join(SCHEDULES)}, not '{self.schedule}'."
            )
        if self.schedule == "linear":
            self._check_linear()
        check_sampler(self.sampler, self.sample_steps, self.timesteps, option="sample_steps")

    def _check_linear(self) -> None:
        if not 0 < self.beta_start <= self.beta_end < 1:
            raise GentoolError(
                f"the linear schedule needs 0 < beta_start <= beta_end < 1, not "
                f"{self.beta_start} and {self.beta_end}."
            )
        last = self.beta_end * 1000 / self.timesteps
        if last >= 1:
            fewest = int(self.beta_end * 1000) + 1
            raise GentoolError(
                f"the linear schedule scales beta_end by 1000/timesteps, which makes it "
                f"{last:g} at timesteps={self.timesteps}; use timesteps >= {fewest} or "
                "schedule=cosine."
            )


def check_sampler(sampler: str, steps: int | None, timesteps: int, *, option: str) -> None:
    """A known sampler and between 1 and ``timesteps`` steps, or one line saying so."""
    if sampler not in SAMPLERS:
        raise GentoolError(f"sampler must be one of {', '.join(SAMPLERS)}, not '{sampler}'.")
    if steps is not None and not 1 <= steps <= timesteps:
        raise GentoolError(
            f"{option} must be between 1 and the model's {timesteps} timesteps, not {steps}."
        )


class DdpmModel(ModelPlugin):
    """A U-Net trained to predict the noise added to an image (the ``eps`` parameterisation
    of Ho et al., eq. 14), and the schedule of that noise.

    The U-Net is ``self.generator``: gentool keeps the moving average of a model's
    ``generator`` (``--ema``), and loads it for sampling, under that name.
    """

    PLUGIN_NAME: ClassVar[str] = "ddpm"
    DESCRIPTION: ClassVar[str] = "denoising diffusion U-Net, DDPM/DDIM sampling (Ho et al. 2020)"
    FAMILY: ClassVar[str] = "diffusion"
    Config: ClassVar[type] = DdpmConfig
    TEST_OPTIONS: ClassVar[dict[str, Any]] = {
        "width": 8,
        "groups": 4,
        "blocks": 1,
        "timesteps": 16,
        "schedule": "cosine",
    }
    config: DdpmConfig
    alpha_bar: torch.Tensor

    def __init__(self, config: DdpmConfig) -> None:
        super().__init__(config)
        self.generator = UNet(
            config.channels, config.width, config.levels, config.blocks, config.groups
        )
        betas = make_betas(config.schedule, config.timesteps, config.beta_start, config.beta_end)
        # Rebuilt from the config, never saved: the checkpoint holds the network's weights only.
        self.register_buffer("alpha_bar", alpha_bar_of(betas).float(), persistent=False)

    @property
    def timesteps(self) -> int:
        return int(self.config.timesteps)

    # --- training -------------------------------------------------------------------------
    def noisy_images(
        self, images: torch.Tensor, timesteps: torch.Tensor, noise: torch.Tensor
    ) -> torch.Tensor:
        """``x_t`` for clean ``images`` ``(B, C, H, W)`` at ``timesteps`` ``(B,)``."""
        alpha_bar = self.alpha_bar[timesteps].view(-1, 1, 1, 1)  # (B, 1, 1, 1)
        return diffuse(images, alpha_bar, noise)

    def predict_noise(
        self,
        noisy: torch.Tensor,
        timesteps: torch.Tensor,
        *,
        network: torch.nn.Module | None = None,
    ) -> torch.Tensor:
        """``eps_hat`` ``(B, C, H, W)``; ``network`` is the U-Net to run instead of
        ``self.generator`` (a training loop's moving average of it, say)."""
        out: torch.Tensor = (self.generator if network is None else network)(noisy, timesteps)
        return out

    def main_pass(self, images: torch.Tensor) -> bool:
        steps = torch.zeros(images.shape[0], dtype=torch.long, device=images.device)
        self.predict_noise(images, steps)
        return True

    # --- sampling -------------------------------------------------------------------------
    @torch.no_grad()
    def denoise(
        self,
        noise: torch.Tensor,
        *,
        sampler: str,
        steps: int | None = None,
        generator: torch.Generator | None = None,
        network: torch.nn.Module | None = None,
    ) -> torch.Tensor:
        """Run the reverse process from ``x_T = noise`` ``(B, C, H, W)`` on the model's device
        to images in [-1, 1]: ``sampler`` (ddpm or ddim) over ``steps`` evenly spaced steps
        (None: all). Fresh noise of the ddpm sampler comes from ``generator`` (drawn on its
        device, so a seed gives the same images everywhere), else from torch's global stream.
        """
        eta = SAMPLERS[sampler]
        times = timestep_sequence(self.timesteps, steps or self.timesteps)
        one = self.alpha_bar.new_ones(())
        x = noise
        for i in reversed(range(len(times))):
            t = times[i]
            alpha_bar_prev = self.alpha_bar[times[i - 1]] if i > 0 else one
            batch_t = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
            predicted = self.predict_noise(x, batch_t, network=network).float()
            fresh = self._draw(x.shape, generator) if eta > 0 and i > 0 else None
            x = reverse_step(x, predicted, self.alpha_bar[t], alpha_bar_prev, eta=eta, noise=fresh)
        return x.clamp(-1, 1)

    def _draw(
        self, shape: torch.Size | tuple[int, ...], generator: torch.Generator | None
    ) -> torch.Tensor:
        device = self.alpha_bar.device
        where = generator.device if generator is not None else device
        return torch.randn(shape, generator=generator, device=where).to(device)

    def initial_noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``x_T``: ``n`` draws of pure noise ``(n, C, H, W)`` on the model's device."""
        c, size = self.config.channels, self.config.image_size
        return self._draw((n, c, size, size), generator)

    def sample(
        self, n: int, *, generator: torch.Generator | None = None, **conditions: Any
    ) -> torch.Tensor:
        """``n`` images in [-1, 1] ``(n, C, H, W)`` with the config's sampler (ancestral DDPM
        over every step unless the model was configured otherwise)."""
        if conditions:
            raise GentoolError(
                f"model '{self.PLUGIN_NAME}' is unconditional; it takes no "
                f"{', '.join(sorted(conditions))}."
            )
        return self.denoise(
            self.initial_noise(n, generator),
            sampler=self.config.sampler,
            steps=self.config.sample_steps,
            generator=generator,
        )

    def sample_grid(
        self, n: int, *, generator: torch.Generator | None = None, options: dict[str, Any]
    ) -> tuple[torch.Tensor, int | None]:
        """``n`` images; ``--sample-opt sampler=ddpm|ddim`` and ``--sample-opt steps=N``
        override the config's sampler and its number of steps."""
        asked = {k: v for k, v in options.items() if v not in (None, False, (), [])}
        sampler = str(asked.pop("sampler", self.config.sampler))
        steps = _steps_option(asked.pop("steps", None), self.config.sample_steps)
        if asked:
            raise GentoolError(
                f"model '{self.PLUGIN_NAME}' does not take "
                f"{', '.join(_flag(k) for k in sorted(asked))}; it takes --sample-opt "
                "sampler=ddpm|ddim and --sample-opt steps=N."
            )
        check_sampler(sampler, steps, self.timesteps, option="--sample-opt steps")
        noise = self.initial_noise(n, generator)
        images = self.denoise(noise, sampler=sampler, steps=steps, generator=generator)
        return images, None


#: The options of ``gentool sample`` that are flags of their own, not ``--sample-opt`` keys.
SAMPLE_FLAGS = ("label", "per_label", "vary_code", "interpolate")


def _flag(key: str) -> str:
    """How the user gave a sample option: ``--per-label`` or ``--sample-opt eta``."""
    return f"--{key.replace('_', '-')}" if key in SAMPLE_FLAGS else f"--sample-opt {key}"


def _steps_option(value: Any, default: int | None) -> int | None:
    """``--sample-opt steps=N`` as a whole number (the config's default when not given)."""
    if value is None:
        return default
    try:
        return int(str(value))
    except ValueError:
        raise GentoolError(
            f"--sample-opt steps expects a whole number of steps, got '{value}'."
        ) from None
