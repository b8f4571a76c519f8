"""ACGAN: auxiliary classifier GAN (Odena, Olah & Shlens, 2017, "Conditional Image Synthesis
with Auxiliary Classifier GANs").

The generator receives a class ``c`` with the noise: ``G(z, c)`` is the DCGAN generator fed
``[z, onehot(c)]``. The discriminator is the DCGAN discriminator with ``1 + num_classes``
outputs from its last conv: one real/fake score and class logits over the same features.
Besides the GAN loss, both networks minimise the class cross-entropy

    ``L_C = E[-log P(C = c | x_real)] + E[-log P(C = c | G(z, c))]``   (D: both terms)
    ``L_C^G = E[-log P(C = c | G(z, c))]``                               (G: fakes only)

weighted by ``aux_weight``. Real images whose label is -1 (untagged, e.g. anime faces
without a hair tag) count for the real/fake loss but are masked out of the class loss.
The class names are stored in the config, so ``gentool sample --label red`` needs no data::

    gentool train acgan --dataset anime-faces --data-root faces/ --image-size 32
    gentool sample runs/acgan --per-label -n 8
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
class AcganConfig(DcganConfig):
    #: Number of classes (filled from the data's labels).
    num_classes: int = 0
    #: Class names, index order (filled from the data), so sampling by name needs no data.
    class_names: tuple[str, ...] = ()
    #: Weight of the auxiliary class cross-entropy for D and G.
    aux_weight: float = 1.0

    def validate(self) -> None:
        super().validate()
        if self.num_classes < 2:
            raise GentoolError(
                f"acgan needs labelled data with at least 2 classes (num_classes is "
                f"{self.num_classes}); the classes come from the data's labels."
            )
        if self.class_names and len(self.class_names) != self.num_classes:
            raise GentoolError(
                f"acgan: {len(self.class_names)} class names for {self.num_classes} classes."
            )
        if self.aux_weight < 0:
            raise GentoolError("aux_weight must be >= 0.")


def resolve_labels(requested: list[Any], class_names: list[str], num_classes: int) -> list[int]:
    """Turn ``--label`` values (class names or indices) into class indices, or fail clearly."""
    lowered = {name.lower(): i for i, name in enumerate(class_names)}
    indices: list[int] = []
    for value in requested:
        text = str(value).strip()
        if text.lower() in lowered:
            indices.append(lowered[text.lower()])
        elif text.lstrip("-").isdigit() and 0 <= int(text) < num_classes:
            indices.append(int(text))
        else:
            known = ", ".join(class_names) if class_names else f"0..{num_classes - 1}"
            raise GentoolError(f"unknown label '{text}'; this model knows: {known}.")
    return indices


class Acgan(GanModel):
    PLUGIN_NAME: ClassVar[str] = "acgan"
    DESCRIPTION: ClassVar[str] = (
        "class-conditional DCGAN with an auxiliary classifier in D (Odena et al. 2017)"
    )
    Config: ClassVar[type] = AcganConfig

    def __init__(self, config: AcganConfig) -> None:
        super().__init__(config)
        norm = config.d_norm if config.d_norm != "auto" else "batch"
        self.num_classes = config.num_classes
        self.generator = DcganGenerator(
            config.latent_dim + config.num_classes,
            config.channels,
            config.image_size,
            config.g_width,
        )
        self.discriminator = DcganDiscriminator(
            config.channels,
            config.image_size,
            config.d_width,
            norm,
            config.spectral_norm,
            outputs=1 + config.num_classes,
        )
        self.apply(dcgan_init)
        #: Columns of the training sample grid (set by ``sample_latent(fixed=True)``).

    @classmethod
    def configure(cls, options: dict[str, Any], data: Any = None, loss: Any = None) -> Any:
        values = dict(options)
        if data is not None and "num_classes" not in values and data.num_classes < 2:
            # The data says how it can be labelled (--label-column for celeba, --labels for
            # a folder): the model never guesses from the dataset's name.
            hint = getattr(data, "labels_hint", "") or "use a dataset with classes (digits, mnist)"
            raise GentoolError(
                f"acgan needs labelled data with at least 2 classes, and dataset '{data.name}' "
                f"has {data.num_classes}; {hint}."
            )
        if data is not None and "class_names" not in values and data.class_names:
            values["class_names"] = tuple(data.class_names)
        config = super().configure(values, data)
        resolve_d_norm(config, getattr(loss, "ALLOWS_BATCHNORM", True))
        return config

    @property
    def class_names(self) -> list[str]:
        names = list(self.config.class_names)
        return names or [str(i) for i in range(self.num_classes)]

    # --- the GAN interface ----------------------------------------------------------------
    def sample_latent(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        batch: dict[str, torch.Tensor] | None = None,
        fixed: bool = False,
        labels: torch.Tensor | list[int] | None = None,
        **conditions: Any,
    ) -> Latent:
        """Noise and a class per sample: uniform over classes, or ``labels`` if given.

        ``fixed=True`` (the training loop's sample grid) lays the grid out as one row per
        class with the same noise in every row, so a column shows one z across classes.
        """
        device = device or next(self.parameters()).device
        k = self.num_classes
        if fixed and labels is None:
            columns = self.fixed_grid_columns(n)
            z_row = torch.randn(columns, self.latent_dim, generator=generator)
            z = z_row.repeat(math.ceil(n / columns), 1)[:n]
            classes = (torch.arange(n) // columns) % k
        else:
            where = draw_device(generator, device)
            z = torch.randn(n, self.latent_dim, generator=generator, device=where)
            if labels is None:
                classes = torch.randint(0, k, (n,), generator=generator, device=where)
            else:
                classes = torch.as_tensor(labels, dtype=torch.long).flatten()
                if len(classes) != n:
                    raise ValueError(f"{len(classes)} labels for {n} samples")
        return {"z": z.to(device), "labels": classes.to(device)}

    def fixed_grid_columns(self, n: int) -> int:
        """One row per class: ``n // classes`` columns."""
        return max(1, n // self.num_classes)

    def generate(self, latent: Latent, *, generator: nn.Module | None = None) -> torch.Tensor:
        onehot = F.one_hot(latent["labels"], self.num_classes).to(latent["z"].dtype)
        return (self.generator if generator is None else generator)(
            torch.cat([latent["z"], onehot], dim=1)
        )

    def discriminate(
        self, images: torch.Tensor, *, discriminator: nn.Module | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = (self.discriminator if discriminator is None else discriminator)(images)  # (B, 1 + K)
        return out[:, 0], {"class_logits": out[:, 1:]}

    def discriminator_aux_loss(
        self,
        real_aux: dict[str, torch.Tensor],
        batch: dict[str, torch.Tensor],
        fake_aux: dict[str, torch.Tensor],
        latent: Latent,
    ) -> dict[str, torch.Tensor]:
        labels = batch.get("labels")
        if labels is None:
            raise GentoolError("acgan needs class labels in the training data.")
        known = labels >= 0  # -1: untagged image, no class loss
        real_logits = real_aux["class_logits"].float()
        if bool(known.any()):
            real_term = F.cross_entropy(real_logits[known], labels[known])
        else:
            real_term = real_logits.sum() * 0.0
        fake_term = F.cross_entropy(fake_aux["class_logits"].float(), latent["labels"])
        return {"class_d": self.config.aux_weight * (real_term + fake_term)}

    def generator_aux_loss(
        self, fake_aux: dict[str, torch.Tensor], latent: Latent
    ) -> dict[str, torch.Tensor]:
        term = F.cross_entropy(fake_aux["class_logits"].float(), latent["labels"])
        return {"class_g": self.config.aux_weight * term}

    # --- sampling for `gentool sample` ----------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        labels: torch.Tensor | list[int] | None = None,
        **conditions: Any,
    ) -> torch.Tensor:
        latent = self.sample_latent(n, generator=generator, labels=labels)
        return self.generate(latent).clamp(-1, 1)

    @torch.no_grad()
    def sample_grid(
        self, n: int, *, generator: torch.Generator | None = None, options: dict[str, Any]
    ) -> tuple[torch.Tensor, int | None]:
        """``--label A --label B``: a row of ``n`` per label from the same noise;
        ``--per-label``: a row of ``n`` per class; neither: ``n`` samples of random classes.
        ``--interpolate K``: rows of ``K`` images walking between two noise draws with the
        class fixed per row (one row per label or class, all from the same two draws; without
        labels ``n`` rows of random classes)."""
        options = dict(options)
        rows = self._grid_rows(options)
        steps = options.pop("interpolate", None)
        path = options.pop("path", None)
        leftover = {k: v for k, v in options.items() if v not in (None, False, (), [])}
        if leftover:
            raise GentoolError(
                f"acgan does not take sample option(s) "
                f"{', '.join('--' + k.replace('_', '-') for k in sorted(leftover))}; it takes "
                "--label NAME (repeatable), --per-label and --interpolate K."
            )
        device = next(self.parameters()).device
        if steps:
            from gentool.models.gan import check_walk_path

            walk = check_walk_path(path)
            if rows is None:
                return self.interpolation_images(
                    n, int(steps), generator=generator, path=walk
                ), int(steps)
            one = self.sample_latent(1, generator=generator, device="cpu", labels=[0])
            two = self.sample_latent(1, generator=generator, device="cpu", labels=[0])
            from gentool.models.gan import latent_walk

            z = latent_walk(one["z"].float(), two["z"].float(), int(steps), walk).flatten(0, 1)
            latent = {
                "z": z.repeat(len(rows), 1).to(device),
                "labels": torch.tensor(rows, device=device).repeat_interleave(int(steps)),
            }
            return self.generate(latent).clamp(-1, 1), int(steps)
        if path is not None:
            raise GentoolError("--sample-opt path applies with --interpolate K.")
        if rows is None:
            return self.sample(n, generator=generator), None
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        latent = {
            "z": z.repeat(len(rows), 1),
            "labels": torch.tensor(rows, device=device).repeat_interleave(n),
        }
        return self.generate(latent).clamp(-1, 1), n

    def _grid_rows(self, options: dict[str, Any]) -> list[int] | None:
        """The class of each grid row (``--label``/``--per-label``, popped), or None."""
        requested = list(options.pop("label", None) or [])
        per_label = bool(options.pop("per_label", False))
        if per_label and requested:
            raise GentoolError("use either --per-label or --label, not both.")
        if per_label:
            return list(range(self.num_classes))
        if requested:
            return resolve_labels(requested, self.class_names, self.num_classes)
        return None

    def grid_labels(
        self, n: int, options: dict[str, Any]
    ) -> tuple[list[str] | None, list[str] | None]:
        """Row and column labels of :meth:`sample_grid`'s layout: the class name of each
        ``--label``/``--per-label`` row; no column labels."""
        rows = self._grid_rows(dict(options))
        return (None if rows is None else [self.class_names[i] for i in rows]), None
