"""Variational autoencoders (Kingma & Welling, 2014, "Auto-Encoding Variational Bayes").

:class:`VaeModel` is what every VAE shares: the objective's settings in the config
(:class:`VaeConfig`: latent size, likelihood, beta, reduction, KL annealing), ``encode``/``decode``,
the per-image ELBO terms, prior sampling and latent interpolation. A subclass only builds an
``encoder`` (image in ``[-1, 1]`` -> ``(B, 2 * latent_dim)``, the mean and log-variance side
by side) and a ``decoder`` (``(B, latent_dim)`` -> logits ``(B, C, H, W)``).

:class:`ConvVae` (``vae``): strided 4x4 convolutions (BatchNorm + LeakyReLU(0.2)) halve the
resolution down to a small base map (4x4 at 32 and 64, 7x7 at 28, 3x3 at 96), a linear layer
gives mean and log-variance; the decoder mirrors it with 4x4 transposed convolutions. Any
image size divisible by 4 works: the encoder halves while the map stays even and at least 3
wide, so 28 and 96 need no padding.

The decoder's output goes through a sigmoid: the pixel means in ``[0, 1]``, which
``decode`` maps back to ``[-1, 1]`` like every gentool network.

Objective settings live in the model config, so they are saved with the weights and a
checkpoint says exactly what it was trained for (``gentool train vae --model-opt beta=4``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from gentool.errors import GentoolError
from gentool.losses.vae import (
    KL_SCHEDULES,
    LIKELIHOODS,
    REDUCTIONS,
    bernoulli_nll,
    bits_per_dim,
    discrete_bits_per_dim,
    gaussian_kl,
    gaussian_nll,
    kl_weight,
    reparameterize,
    vae_loss,
)
from gentool.models.base import ModelConfig, ModelPlugin

#: Log-variances are clamped to this range: exp() of anything wider overflows or vanishes.
LOGVAR_RANGE = (-30.0, 20.0)


@dataclass
class VaeConfig(ModelConfig):
    """What every VAE takes: the latent size and the objective it is trained with."""

    #: Length of the latent vector z.
    latent_dim: int = 32
    #: Decoder likelihood p(x|z): bernoulli (binary cross-entropy on [0, 1] pixels) or
    #: gaussian (squared error weighted 1 / (2 sigma^2)).
    likelihood: str = "bernoulli"
    #: Gaussian likelihood only: the pixel standard deviation on the [0, 1] scale, or
    #: "learned" (one trainable sigma for all pixels, starting at 1; Rybkin et al. 2021).
    gaussian_sigma: str = "0.1"
    #: Weight of the KL term (beta-VAE, Higgins et al. 2017; 1 = the ELBO), in the
    #: formulation that reduction picks.
    beta: float = 1.0
    #: How recon and KL enter the loss: sum (per image, summed over the pixel values and
    #: the latent dimensions, in nats) or mean (recon averaged over the C*H*W pixel values,
    #: KL over the latent dimensions: the per-pixel form of course notes). beta weights the
    #: KL in either; the same optimum needs beta_sum = beta_mean * C*H*W / latent_dim.
    reduction: str = "sum"
    #: KL annealing: none, linear (0 -> beta over kl_warmup steps) or cyclical (kl_cycles
    #: cycles over the run, each ramping 0 -> beta over its first kl_ramp fraction).
    kl_anneal: str = "none"
    kl_warmup: int = 1000
    kl_cycles: int = 4
    kl_ramp: float = 0.5

    def validate(self) -> None:
        if self.latent_dim < 1:
            raise GentoolError("latent_dim must be >= 1.")
        if self.likelihood not in LIKELIHOODS:
            raise GentoolError(
                f"likelihood must be one of {', '.join(LIKELIHOODS)}, not '{self.likelihood}'."
            )
        if self.gaussian_sigma != "learned":
            try:
                sigma = float(self.gaussian_sigma)
            except ValueError:
                sigma = -1.0
            if not (sigma > 0 and math.isfinite(sigma)):
                raise GentoolError(
                    f"gaussian_sigma must be a positive number (e.g. 0.1) or 'learned', not "
                    f"'{self.gaussian_sigma}'."
                )
        if not (self.beta >= 0 and math.isfinite(self.beta)):
            raise GentoolError(f"beta must be >= 0, not {self.beta}.")
        if self.reduction not in REDUCTIONS:
            raise GentoolError(
                f"reduction must be one of {', '.join(REDUCTIONS)}, not '{self.reduction}'."
            )
        if self.kl_anneal not in KL_SCHEDULES:
            raise GentoolError(
                f"kl_anneal must be one of {', '.join(KL_SCHEDULES)}, not '{self.kl_anneal}'."
            )
        if self.kl_warmup < 0 or self.kl_cycles < 1 or not 0 < self.kl_ramp <= 1:
            raise GentoolError("kl_warmup must be >= 0, kl_cycles >= 1 and kl_ramp in (0, 1].")


class VaeModel(ModelPlugin):
    """Base class of VAEs: subclasses set ``self.encoder`` and ``self.decoder``."""

    FAMILY: ClassVar[str] = "vae"
    Config: ClassVar[type] = VaeConfig
    encoder: nn.Module
    decoder: nn.Module

    def __init__(self, config: VaeConfig) -> None:
        super().__init__(config)
        self.dims = config.channels * config.image_size * config.image_size
        if config.likelihood == "gaussian" and config.gaussian_sigma == "learned":
            self.log_sigma = nn.Parameter(torch.zeros(()))
        else:
            sigma = float(config.gaussian_sigma) if config.likelihood == "gaussian" else 1.0
            self.register_buffer("log_sigma", torch.tensor(math.log(sigma)), persistent=False)

    # --- the two networks ----------------------------------------------------------------
    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [-1, 1] ``(B, C, H, W)`` -> mean and log-variance of q(z|x), each
        ``(B, latent)``."""
        stats = self.encoder(images)  # (B, 2 * latent)
        mu, logvar = stats.chunk(2, dim=1)
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Latents ``(B, latent)`` -> decoder logits ``(B, C, H, W)`` (pixel means = sigmoid)."""
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents ``(B, latent)`` -> images in [-1, 1] ``(B, C, H, W)`` (the pixel means)."""
        return torch.sigmoid(self.decode_logits(z)) * 2.0 - 1.0

    def main_pass(self, images: torch.Tensor) -> bool:
        self.reconstruct(images)
        return True

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """Decode the posterior mean of each image: deterministic, ``(B, C, H, W)`` in [-1, 1]."""
        mu, _ = self.encode(images)
        return self.decode(mu)

    # --- the objective ---------------------------------------------------------------------
    def negative_elbo_terms(
        self, images: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Per-image terms, each ``(B,)``: ``recon`` (-log p(x|z) in nats, one z drawn from
        q(z|x)), ``kl`` (nats) and ``mse`` (squared error per pixel of that reconstruction's
        means, images in [0, 1]; not differentiable)."""
        mu, logvar = self.encode(images)
        z = reparameterize(mu, logvar, generator=generator)
        logits = self.decode_logits(z).float()
        target = (images.float() + 1.0) / 2.0  # [0, 1]
        means = torch.sigmoid(logits)
        if self.config.likelihood == "bernoulli":
            recon = bernoulli_nll(logits, target)
        else:
            recon = gaussian_nll(means, target, self.log_sigma)
        return {
            "recon": recon,
            "kl": gaussian_kl(mu.float(), logvar.float()),
            "mse": (means.detach() - target).pow(2).flatten(1).mean(1),
        }

    def objective(
        self, terms: dict[str, torch.Tensor], beta: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(loss, recon, kl)`` of a batch from :meth:`negative_elbo_terms`, reduced as the
        config's ``reduction`` says (:func:`gentool.losses.vae.vae_loss`); ``beta`` is the KL
        weight of this step (:meth:`kl_factor`)."""
        return vae_loss(
            terms["recon"],
            terms["kl"],
            beta,
            reduction=self.config.reduction,
            data_dims=self.dims,
            latent_dims=self.config.latent_dim,
        )

    def kl_factor(self, step: int, total_steps: int) -> float:
        """The KL weight at ``step``: ``beta`` times the annealing schedule."""
        c = self.config
        return c.beta * kl_weight(
            step,
            c.kl_anneal,
            warmup=c.kl_warmup,
            total_steps=total_steps,
            cycles=c.kl_cycles,
            ramp=c.kl_ramp,
        )

    def bits_per_dim(self, negative_elbo: torch.Tensor) -> torch.Tensor:
        """Bits per dimension of a negative ELBO per image (an upper bound on the NLL).

        Bernoulli: ``nats / (D ln 2)``. Gaussian: the density on [0, 1] pixels turned into
        the probability of each 8-bit value (:func:`discrete_bits_per_dim`).
        """
        if self.config.likelihood == "bernoulli":
            return torch.as_tensor(bits_per_dim(negative_elbo, self.dims))
        return torch.as_tensor(discrete_bits_per_dim(negative_elbo, self.dims))

    @property
    def sigma(self) -> float | None:
        """The Gaussian decoder's sigma on the [0, 1] scale (None for Bernoulli)."""
        if self.config.likelihood != "gaussian":
            return None
        return float(self.log_sigma.detach().exp())

    # --- sampling ----------------------------------------------------------------------------
    def sample_prior(
        self, n: int, *, generator: torch.Generator | None = None, temperature: float = 1.0
    ) -> torch.Tensor:
        """``n`` draws of z from N(0, temperature^2 I), ``(n, latent)``, on the model's device."""
        z = torch.randn(n, self.config.latent_dim, generator=generator) * temperature
        return z.to(self._device())

    def sample(
        self, n: int, *, generator: torch.Generator | None = None, **conditions: Any
    ) -> torch.Tensor:
        if conditions:
            raise GentoolError(f"model '{self.PLUGIN_NAME}' is unconditional.")
        return self.decode(self.sample_prior(n, generator=generator))

    def sample_grid(
        self, n: int, *, generator: torch.Generator | None = None, options: dict[str, Any]
    ) -> tuple[torch.Tensor, int | None]:
        """Prior samples, or latent walks.

        * ``interpolate=K``: ``n`` rows of ``K`` images, each walking in a straight line
          between two prior draws.
        * ``from=a.png``, ``to=b.png`` (``--sample-opt``): one row walking between the
          posterior means of two images (``interpolate`` columns, 8 by default).
        * ``temperature=T``: scale prior draws by T (< 1: more typical, blurrier faces).
        """
        options = {k: v for k, v in options.items() if v not in (None, False, (), [])}
        start = options.pop("from", None)
        end = options.pop("to", None)
        steps = options.pop("interpolate", None)
        if start is not None and "temperature" in options:
            raise GentoolError(
                "--sample-opt temperature scales prior draws; a walk between two images "
                "(from=, to=) draws none, so drop it."
            )
        temperature = _positive_float(options.pop("temperature", 1.0), "temperature")
        if options:
            raise GentoolError(
                f"model '{self.PLUGIN_NAME}' does not take sample option(s) "
                f"{', '.join('--' + k.replace('_', '-') for k in sorted(options))}; it takes "
                "--interpolate and --sample-opt "
                "from=IMAGE, to=IMAGE, temperature=T."
            )
        if (start is None) != (end is None):
            raise GentoolError("pass both --sample-opt from=IMAGE and --sample-opt to=IMAGE.")
        if start is not None:
            z0, z1 = (self.encode(self._load_image(path))[0] for path in (start, end))
            steps = int(steps or 8)
            return self.decode(_lerp(z0, z1, steps).flatten(0, 1)), steps
        if steps:
            z0 = self.sample_prior(n, generator=generator, temperature=temperature)
            z1 = self.sample_prior(n, generator=generator, temperature=temperature)
            return self.decode(_lerp(z0, z1, int(steps)).flatten(0, 1)), int(steps)
        z = self.sample_prior(n, generator=generator, temperature=temperature)
        return self.decode(z), None

    def _load_image(self, path: str) -> torch.Tensor:
        from gentool.data.base import to_float
        from gentool.data.decode import UndecodableImage, decode_image

        if not Path(path).is_file():
            raise GentoolError(f"image {path} does not exist.")
        try:
            array = decode_image(path, self.config.image_size, self.config.channels)
        except UndecodableImage as exc:
            raise GentoolError(f"cannot read image {path}: {exc}.") from None
        return to_float(torch.from_numpy(array.copy())[None].to(self._device()))

    def _device(self) -> torch.device:
        return next(self.parameters()).device


def _lerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """``(B, L)``, ``(B, L)`` -> ``(B, steps, L)``: evenly spaced points from z0 to z1."""
    t = torch.linspace(0.0, 1.0, steps, device=z0.device).view(1, steps, 1)
    return z0[:, None] * (1.0 - t) + z1[:, None] * t


def _positive_float(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not (number > 0 and math.isfinite(number)):
        raise GentoolError(f"--sample-opt {name} must be a positive number, not {value!r}.")
    return number


# --- the convolutional VAE -------------------------------------------------------------------
@dataclass
class ConvVaeConfig(VaeConfig):
    image_size: int = 32
    channels: int = 3
    #: Channels of the first encoder layer, doubled at each lower resolution (capped at 8x).
    width: int = 32

    def validate(self) -> None:
        super().validate()
        if self.width < 1:
            raise GentoolError("width must be >= 1.")
        if self.image_size < 12 or self.image_size % 4:
            raise GentoolError(
                f"vae needs an image size divisible by 4 and >= 12 (e.g. 28, 32, 64, 96), not "
                f"{self.image_size}; pass --image-size."
            )


def downsampling_plan(image_size: int) -> tuple[int, int]:
    """``(halvings, base)``: halve while the map stays even and at least 3 wide.

    28 -> (2, 7), 32 -> (3, 4), 64 -> (4, 4), 96 -> (5, 3).
    """
    size, halvings = image_size, 0
    while size % 2 == 0 and size > 4:
        size //= 2
        halvings += 1
    return halvings, size


class ConvEncoder(nn.Module):
    def __init__(self, channels: int, image_size: int, width: int, latent_dim: int) -> None:
        super().__init__()
        halvings, base = downsampling_plan(image_size)
        layers: list[nn.Module] = []
        c_in, c = channels, width
        for i in range(halvings):
            c = width * 2 ** min(i, 3)
            layers += [
                nn.Conv2d(c_in, c, 4, 2, 1, bias=False),  # halves H and W
                nn.BatchNorm2d(c),
                nn.LeakyReLU(0.2, True),
            ]
            c_in = c
        self.features = nn.Sequential(*layers)  # (B, c, base, base)
        self.head = nn.Linear(c * base * base, 2 * latent_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images).flatten(1))  # (B, 2 * latent)


class ConvDecoder(nn.Module):
    def __init__(self, channels: int, image_size: int, width: int, latent_dim: int) -> None:
        super().__init__()
        halvings, base = downsampling_plan(image_size)
        widths = [width * 2 ** min(i, 3) for i in range(halvings)]  # encoder order
        self.base, self.top = base, widths[-1]
        self.project = nn.Sequential(
            nn.Linear(latent_dim, self.top * base * base),
            nn.LeakyReLU(0.2, True),
        )
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths[::-1], widths[::-1][1:], strict=False):
            layers += [
                nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),  # doubles H and W
                nn.BatchNorm2d(c_out),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.ConvTranspose2d(widths[0], channels, 4, 2, 1))  # logits
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(z.shape[0], self.top, self.base, self.base)
        return self.net(h)  # (B, C, H, W)


class ConvVae(VaeModel):
    PLUGIN_NAME: ClassVar[str] = "vae"
    DESCRIPTION: ClassVar[str] = (
        "convolutional VAE (Kingma & Welling 2014); Bernoulli or Gaussian decoder, beta, "
        "KL annealing"
    )
    Config: ClassVar[type] = ConvVaeConfig

    def __init__(self, config: ConvVaeConfig) -> None:
        super().__init__(config)
        args = (config.channels, config.image_size, config.width, config.latent_dim)
        self.encoder = ConvEncoder(*args)
        self.decoder = ConvDecoder(*args)
