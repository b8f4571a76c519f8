"""InfoGAN (Chen, Duan, Houthooft, Schulman, Sutskever & Abbeel, 2016, "InfoGAN: Interpretable
Representation Learning by Information Maximizing Generative Adversarial Nets").

The generator input is ``[z, c]``: noise plus latent codes, here any number of categorical
codes (one-hot, uniform over their values) and continuous codes (uniform in [-1, 1]). A Q
head on the discriminator's features (shared body, its own two linear layers) predicts the
codes back from an image. Maximising the variational lower bound of the mutual information
``I(c; G(z, c))`` means minimising, for both G and Q (D's body learns with Q),

    ``L_I = lambda * sum_k CE(Q_k(G(z, c)), c_k)           (categorical codes)
          + lambda_cont * sum_j NLL_N(c_j; mu_j, sigma_j)   (continuous codes)``

with a factored Gaussian ``Q(c_j | x) = N(mu_j, sigma_j^2)`` (the paper's choice; the
constant ``log sqrt(2 pi)`` is left out, so the term can be negative). The paper uses
lambda = 1 for categorical codes and a smaller weight for continuous ones.

Codes are named ``c0, c1, ...``: categorical codes first, then continuous. Example: with
``categorical_codes=10`` and ``continuous_codes=2`` on digits, ``c0`` tends to capture the
digit class and ``c1``/``c2`` slant and width::

    gentool train infogan --dataset mnist --model-opt categorical_codes=10
    gentool sample runs/infogan --vary-code c0 -n 80
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from gentool.errors import GentoolError
from gentool.models.dcgan import (
    DcganConfig,
    DcganDiscriminator,
    DcganGenerator,
    resolve_d_norm,
)
from gentool.models.gan import GanModel, Latent, draw_device
from gentool.models.layers import dcgan_init


@dataclass
class InfoganConfig(DcganConfig):
    #: Number of values of each categorical code, e.g. ``categorical_codes=10`` or ``10,4``
    #: (``none`` for no categorical code).
    categorical_codes: tuple[int, ...] = (10,)
    #: Number of continuous codes, each uniform in [-1, 1].
    continuous_codes: int = 2
    #: Weight lambda of the mutual-information term of the categorical codes.
    info_weight: float = 1.0
    #: Weight of the Gaussian NLL of the continuous codes.
    continuous_weight: float = 0.1
    #: Width of the Q head's hidden layer.
    q_hidden: int = 128

    def validate(self) -> None:
        super().validate()
        self.categorical_codes = tuple(self.categorical_codes or ())
        if any(k < 2 for k in self.categorical_codes):
            raise GentoolError("each categorical code needs at least 2 values.")
        if self.continuous_codes < 0:
            raise GentoolError("continuous_codes must be >= 0.")
        if not self.categorical_codes and not self.continuous_codes:
            raise GentoolError(
                "infogan needs at least one latent code (categorical_codes or continuous_codes)."
            )
        if self.info_weight < 0 or self.continuous_weight < 0:
            raise GentoolError("info_weight and continuous_weight must be >= 0.")
        if self.q_hidden < 1:
            raise GentoolError("q_hidden must be >= 1.")


class InfoganDiscriminator(nn.Module):
    """DCGAN discriminator body + real/fake head, and the Q head on the same features."""

    def __init__(self, config: InfoganConfig, norm: str, q_outputs: int) -> None:
        super().__init__()
        self.body = DcganDiscriminator(
            config.channels, config.image_size, config.d_width, norm, config.spectral_norm
        )
        self.q = nn.Sequential(
            nn.Flatten(),
            nn.Linear(self.body.feature_channels * 16, config.q_hidden),  # features are 4x4
            nn.LeakyReLU(0.2, True),
            nn.Linear(config.q_hidden, q_outputs),
        )

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body.features(images)  # (B, c, 4, 4)
        scores = self.body.head(features).flatten(1).squeeze(1)  # (B,)
        return scores, self.q(features)  # (B,), (B, q_outputs)


class Infogan(GanModel):
    PLUGIN_NAME: ClassVar[str] = "infogan"
    DESCRIPTION: ClassVar[str] = (
        "DCGAN with categorical/continuous latent codes and a Q head (Chen et al. 2016)"
    )
    Config: ClassVar[type] = InfoganConfig

    def __init__(self, config: InfoganConfig) -> None:
        super().__init__(config)
        self.categorical = list(config.categorical_codes)
        self.n_continuous = config.continuous_codes
        code_dim = sum(self.categorical) + self.n_continuous
        norm = config.d_norm if config.d_norm != "auto" else "batch"
        self.generator = DcganGenerator(
            config.latent_dim + code_dim, config.channels, config.image_size, config.g_width
        )
        self.discriminator = InfoganDiscriminator(
            config, norm, sum(self.categorical) + 2 * self.n_continuous
        )
        self.apply(dcgan_init)
        #: Columns of the training sample grid (set by ``sample_latent(fixed=True)``).

    @classmethod
    def configure(cls, options: dict[str, Any], data: Any = None, loss: Any = None) -> Any:
        config = super().configure(options, data)
        resolve_d_norm(config, getattr(loss, "ALLOWS_BATCHNORM", True))
        return config

    @property
    def code_names(self) -> list[str]:
        return [f"c{i}" for i in range(len(self.categorical) + self.n_continuous)]

    # --- latent codes ---------------------------------------------------------------------
    def _random_codes(
        self, n: int, generator: torch.Generator | None, device: torch.device | str = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        cat = (
            torch.stack(
                [
                    torch.randint(0, k, (n,), generator=generator, device=device)
                    for k in self.categorical
                ],
                dim=1,
            )
            if self.categorical
            else torch.zeros(n, 0, dtype=torch.long, device=device)
        )
        cont = torch.rand(n, self.n_continuous, generator=generator, device=device) * 2 - 1
        return cat, cont

    def sample_latent(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        batch: dict[str, torch.Tensor] | None = None,
        fixed: bool = False,
        **conditions: Any,
    ) -> Latent:
        """Noise, categorical codes ``(n, n_cat)`` and continuous codes ``(n, n_cont)``.

        ``fixed=True`` (the training loop's sample grid) sweeps the first code along each
        row with the noise and the other codes fixed per row.
        """
        if fixed:
            code = 0
            steps = self.categorical[0] if self.categorical else 8
            latent = self.vary_code_latent(code, max(1, n // steps), steps, generator=generator)
            extra = n - latent["z"].shape[0]
            if extra > 0:  # fill the last row with random samples
                rest = self.sample_latent(extra, generator=generator, device="cpu")
                latent = {k: torch.cat([latent[k], rest[k]]) for k in latent}
            latent = {k: v[:n] for k, v in latent.items()}
        else:
            where = draw_device(generator, device or next(self.parameters()).device)
            cat, cont = self._random_codes(n, generator, where)
            z = torch.randn(n, self.latent_dim, generator=generator, device=where)
            latent = {"z": z, "cat": cat, "cont": cont}
        device = device or next(self.parameters()).device
        return {k: v.to(device) for k, v in latent.items()}

    def vary_code_latent(
        self,
        code: int,
        rows: int,
        steps: int,
        *,
        generator: torch.Generator | None = None,
    ) -> Latent:
        """``rows x steps`` inputs: each row one noise and other codes, code ``code`` swept
        along the row (all values of a categorical code, ``steps`` values in [-1, 1] of a
        continuous one). On the CPU."""
        z = torch.randn(rows, self.latent_dim, generator=generator)
        cat, cont = self._random_codes(rows, generator)
        n_cat = len(self.categorical)
        values: torch.Tensor
        if code < n_cat:
            values = torch.arange(self.categorical[code])
        else:
            values = torch.linspace(-1.0, 1.0, steps)
        columns = len(values)
        z = z.repeat_interleave(columns, dim=0)
        cat = cat.repeat_interleave(columns, dim=0)
        cont = cont.repeat_interleave(columns, dim=0)
        swept = values.repeat(rows)
        if code < n_cat:
            cat[:, code] = swept.long()
        else:
            cont[:, code - n_cat] = swept.float()
        return {"z": z, "cat": cat, "cont": cont}

    def fixed_grid_columns(self, n: int) -> int:
        """One column per value of the swept first code."""
        return self.categorical[0] if self.categorical else 8

    def generate(self, latent: Latent, *, generator: nn.Module | None = None) -> torch.Tensor:
        z = latent["z"]
        parts = [z]
        for i, k in enumerate(self.categorical):
            parts.append(F.one_hot(latent["cat"][:, i], k).to(z.dtype))
        parts.append(latent["cont"].to(z.dtype))
        return (self.generator if generator is None else generator)(torch.cat(parts, dim=1))

    def discriminate(
        self, images: torch.Tensor, *, discriminator: nn.Module | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        scores, q = (self.discriminator if discriminator is None else discriminator)(images)
        return scores, {"q": q}

    # --- the mutual-information term ------------------------------------------------------
    def information_loss(self, q: torch.Tensor, latent: Latent) -> dict[str, torch.Tensor]:
        """Weighted ``info_cat`` (cross-entropy) and ``info_cont`` (Gaussian NLL) terms."""
        q = q.float()
        terms: dict[str, torch.Tensor] = {}
        start = 0
        if self.categorical:
            ce = q.new_zeros(())
            for i, k in enumerate(self.categorical):
                ce = ce + F.cross_entropy(q[:, start : start + k], latent["cat"][:, i])
                start += k
            terms["info_cat"] = self.config.info_weight * ce
        if self.n_continuous:
            mean = q[:, start : start + self.n_continuous]
            log_std = q[:, start + self.n_continuous :].clamp(-5.0, 5.0)
            target = latent["cont"].float()
            nll = 0.5 * ((target - mean) * torch.exp(-log_std)) ** 2 + log_std
            terms["info_cont"] = self.config.continuous_weight * nll.sum(1).mean()
        return terms

    def discriminator_aux_loss(
        self,
        real_aux: dict[str, torch.Tensor],
        batch: dict[str, torch.Tensor],
        fake_aux: dict[str, torch.Tensor],
        latent: Latent,
    ) -> dict[str, torch.Tensor]:
        return {f"{k}_d": v for k, v in self.information_loss(fake_aux["q"], latent).items()}

    def generator_aux_loss(
        self, fake_aux: dict[str, torch.Tensor], latent: Latent
    ) -> dict[str, torch.Tensor]:
        return {f"{k}_g": v for k, v in self.information_loss(fake_aux["q"], latent).items()}

    # --- sampling for `gentool sample` ----------------------------------------------------
    @torch.no_grad()
    def sample_grid(
        self, n: int, *, generator: torch.Generator | None = None, options: dict[str, Any]
    ) -> tuple[torch.Tensor, int | None]:
        """``--vary-code cK``: one column per value of code K (``--sample-opt steps=S``
        values in [-1, 1] for a continuous code, default 10), ``n // columns`` rows, each row
        with its own fixed noise and other codes. Without it: ``n`` random samples."""
        options = dict(options)
        vary = options.pop("vary_code", None)
        steps = options.pop("steps", None)
        if options.get("interpolate"):
            if vary is not None:
                raise GentoolError(
                    "use either --vary-code or --interpolate, not both (both lay out columns)."
                )
            if steps is not None:
                raise GentoolError(
                    "--sample-opt steps applies with --vary-code of a continuous code."
                )
            # a walk in the noise; codes are the first draw's, fixed along each row
            return super().sample_grid(n, generator=generator, options=options)
        leftover = {k: v for k, v in options.items() if v not in (None, False, (), [])}
        if leftover:
            raise GentoolError(
                f"infogan does not take sample option(s) "
                f"{', '.join('--' + k.replace('_', '-') for k in sorted(leftover))}; it takes "
                "--vary-code cK (and --sample-opt steps=S for a continuous code) and "
                "--interpolate K."
            )
        if vary is None:
            if steps is not None:
                raise GentoolError(
                    "--sample-opt steps applies with --vary-code of a continuous code."
                )
            return self.sample(n, generator=generator), None
        code, n_steps = self._vary_settings(vary, steps)
        columns = self.categorical[code] if code < len(self.categorical) else n_steps
        rows = max(1, math.ceil(n / columns)) if n >= columns else 1
        latent = self.vary_code_latent(code, rows, n_steps, generator=generator)
        device = next(self.parameters()).device
        images = self.generate({k: v.to(device) for k, v in latent.items()})
        return images.clamp(-1, 1), columns

    def _vary_settings(self, vary: Any, steps: Any) -> tuple[int, int]:
        """``--vary-code cK`` and ``--sample-opt steps=S`` checked: (code index, steps)."""
        name = str(vary).strip().lower()
        index = name[1:] if name.startswith("c") else name
        if not index.isdigit() or int(index) >= len(self.code_names):
            raise GentoolError(
                f"unknown code '{vary}'; this model has {', '.join(self.code_names)} "
                f"({len(self.categorical)} categorical first, then {self.n_continuous} "
                "continuous)."
            )
        code = int(index)
        try:
            n_steps = int(steps) if steps is not None else 10
        except ValueError:
            raise GentoolError(f"--sample-opt steps expects an integer, got {steps!r}.") from None
        if n_steps < 2:
            raise GentoolError("--sample-opt steps must be >= 2.")
        return code, n_steps

    def grid_labels(
        self, n: int, options: dict[str, Any]
    ) -> tuple[list[str] | None, list[str] | None]:
        """Row and column labels of :meth:`sample_grid`'s layout: with ``--vary-code cK``
        the value of the code in each column (``c0=3`` for a categorical code, ``c1=-0.5``
        for a continuous one); no row labels."""
        vary = options.get("vary_code")
        if vary is None or options.get("interpolate"):
            return None, None
        code, n_steps = self._vary_settings(vary, options.get("steps"))
        name = self.code_names[code]
        if code < len(self.categorical):
            return None, [f"{name}={v}" for v in range(self.categorical[code])]
        values = torch.linspace(-1.0, 1.0, n_steps).tolist()
        return None, [f"{name}={v:+.2g}" for v in values]
