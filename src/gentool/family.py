"""The model-family plugin interface: what differs between GANs, VAEs, upscalers, translation
models and any family a third party adds.

A family is a class registered through ``gentool_register_families`` (hook API 3), the same
hook the built-in families use. Its ``PLUGIN_NAME`` is the name a model's ``FAMILY`` gives;
gentool's commands, metrics and plots ask the family what its models do, never compare its
name. A family declares:

* :attr:`Family.USES`: what its models are for, from :data:`USES` (``generate`` new images,
  ``reconstruct`` them, ``upscale`` an image, ``translate`` between two domains). ``sample``,
  ``reconstruct``, ``upscale``, ``evaluate`` (through each metric's needs) and ``plot``
  follow it; a command its models cannot serve is refused naming what they can do.
* :attr:`Family.TAKES_GAN_LOSS`: whether ``--loss`` applies to the family's training.
* :attr:`Family.DOMAINS`: the image sets a run trains on: 1, or 2 for unpaired translation
  (``--data-b`` and friends, domain A from the usual data options).
* :meth:`Family.sample_grid_layout`: what the rows and columns of its training loop's sample
  grids show (:class:`GridLayout`), for figures that label them; None by default.
* :meth:`Family.trainer`: its training loop, a :class:`gentool.training.base.Trainer`
  subclass (whose ``UNUSED_SETTINGS`` are the settings the family never uses).
* :meth:`Family.kit_settings`: what the testing kit (:mod:`gentool.testing`) trains a tiny
  model of the family on.

This module is a leaf: it imports nothing of gentool's loops or commands.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from gentool.errors import GentoolError

if TYPE_CHECKING:
    import torch

    from gentool.training.base import Trainer

#: What a family's models can be used for, and what each use means.
USES: dict[str, str] = {
    "generate": "draws new images (gentool sample; fid, kid, is, swd, prdc, diversity)",
    "reconstruct": "encodes and decodes images (gentool reconstruct; the recon metric)",
    "upscale": "makes an image larger (gentool upscale, gentool reconstruct; the sr metric)",
    "translate": "maps images between two domains (gentool sample --input; cycle, paired)",
}


@dataclass(frozen=True)
class GridSection:
    """Consecutive rows of a sample grid that show one thing, e.g. domain A's fixed inputs
    with their translation and its translation back."""

    #: What made the rows, in the model's own words (a translation direction: ``a2b``).
    direction: str
    #: What the rows are, drawn beside them: ``"A: horses"``.
    label: str
    #: The header of each column: ``("A (input)", "A→B", "A→B→A")``.
    columns: tuple[str, ...]


@dataclass(frozen=True)
class GridLayout:
    """How a training loop's sample grids (``samples/step_*.png``) are laid out: ``sections``
    split the rows into equal consecutive blocks, top to bottom; ``columns`` says what each
    column is in words that hold for every section (``input``, ``translated``, ...)."""

    columns: tuple[str, ...]
    sections: tuple[GridSection, ...]

    def section_of(self, row: int, rows: int) -> GridSection:
        """The section that row ``row`` (0 = top) of a grid of ``rows`` rows belongs to."""
        per_section = max(1, rows // len(self.sections))
        return self.sections[min(row // per_section, len(self.sections) - 1)]


class TrainingLoop:
    """The contract of a family's training loop, as the plugin registry checks it.

    Loops subclass :class:`gentool.training.base.Trainer`, which implements everything here
    but :meth:`train_step` (the engine: device, precision, checkpoints, resume, logging);
    this class only states what the registry holds a loop to.
    """

    PLUGIN_NAME: ClassVar[str] = ""
    DESCRIPTION: ClassVar[str] = ""
    #: Training settings this loop never uses: given explicitly, they are refused by name.
    UNUSED_SETTINGS: ClassVar[tuple[str, ...]] = ()
    #: Settings this loop trains best with (e.g. the VAE's Adam 1e-3, beta1 0.9), used where
    #: the user sets none; a GAN loss's recommendations take precedence.
    RECOMMENDED_SETTINGS: ClassVar[dict[str, Any]] = {}

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One optimisation step; return named scalar tensors to log (not synced)."""
        raise NotImplementedError

    def fit(self) -> Path:
        """Train until the run's last step; return the checkpoint path."""
        raise NotImplementedError


class Family:
    """Base class of model families: subclass it and return it from
    ``gentool_register_families``."""

    PLUGIN_NAME: ClassVar[str] = ""
    DESCRIPTION: ClassVar[str] = ""
    #: What models of this family are for (keys of :data:`USES`).
    USES: ClassVar[frozenset[str]] = frozenset()
    #: Whether training takes a GAN loss (``--loss``, ``--loss-opt``).
    TAKES_GAN_LOSS: ClassVar[bool] = False
    #: Image sets a run trains on: 1, or 2 (domains A and B: ``--domain-a``/``--domain-b``).
    DOMAINS: ClassVar[int] = 1
    #: How the training loop's sample grids are laid out, for ``plot timeline``: None for
    #: images drawn from fixed noise; for fixed inputs, the titles of the three columns of
    #: each entry (input | output | target).
    GRID_COLUMNS: ClassVar[tuple[str, str, str] | None] = None
    #: Whether the third grid column is fixed data (a ground truth) rather than made by the
    #: model (a reconstruction, which changes with the step).
    TARGET_IS_FIXED: ClassVar[bool] = True

    @classmethod
    def trainer(cls) -> type[Trainer]:
        """The family's training loop (imported when asked, so listing plugins stays fast)."""
        raise NotImplementedError

    @classmethod
    def sample_grid_layout(cls, run_config: Mapping[str, Any]) -> GridLayout | None:
        """What the rows and columns of the training loop's sample grids show, for a run whose
        ``config.json`` (or checkpoint metadata, the same fields) is ``run_config``; None
        when the grids have no fixed layout to name (images drawn from fixed noise)."""
        return None

    @classmethod
    def domain_names(cls, run_config: Mapping[str, Any]) -> tuple[str, ...]:
        """Short names of a two-domain run's image sets, for labels: the names of its
        ``--domain-a``/``--domain-b`` folders (``horses``, ``zebras``), or ``A`` and ``B``
        where they are not recorded or are alike. Empty for a family of one image set."""
        if cls.DOMAINS != 2:
            return ()
        train = run_config.get("train")
        extra = train.get("extra") if isinstance(train, Mapping) else None
        extra = extra if isinstance(extra, Mapping) else {}
        names = tuple(Path(str(extra.get(key) or "")).name for key in ("domain_a", "domain_b"))
        if not all(names) or names[0] == names[1]:
            return ("A", "B")
        return names

    @classmethod
    def can(cls, use: str) -> bool:
        """Whether the family's models serve ``use`` (a key of :data:`USES`)."""
        return use in cls.USES

    @classmethod
    def can_any(cls, uses: Iterable[str]) -> bool:
        return any(cls.can(use) for use in uses)

    @classmethod
    def unused_settings(cls) -> tuple[str, ...]:
        """Training settings the family's loop never uses (refused when given, shown as not
        applying in plots)."""
        return tuple(cls.trainer().UNUSED_SETTINGS)

    @classmethod
    def describe_uses(cls) -> str:
        """``"draws new images (...)"`` for each use, or a sentence saying there is none."""
        if not cls.USES:
            return "no command uses its models beyond training"
        return "; ".join(USES.get(use, use) for use in sorted(cls.USES))

    @classmethod
    def cannot(cls, what: str, model: str, path: str | Path | None = None) -> str:
        """One line saying that ``what`` (a command or metric) does not apply to a model of
        this family, and what its models do instead. Families may override it to point at
        the right command."""
        where = f"{path}: " if path is not None else ""
        return (
            f"{where}{what} does not apply to '{model}' (family {cls.PLUGIN_NAME}); its models: "
            f"{cls.describe_uses()}."
        )

    @classmethod
    def kit_settings(cls, folder: Path, image_size: int, loss: str | None) -> dict[str, Any]:
        """Arguments of ``gentool.training.runner.train`` for the testing kit's tiny run in
        ``folder``: ``data`` (a :class:`~gentool.data.base.DataSpec`) and, if the family needs
        them, ``extra`` training options (``loss``: the GAN loss under test, if any). By
        default the built-in ``digits`` at ``image_size``."""
        from gentool.data.base import DataSpec

        return {"data": DataSpec(name="digits", image_size=image_size)}

    @classmethod
    def use_domains(
        cls,
        model: str,
        domains: tuple[str | None, str | None],
        spec: Any,
        extra: dict[str, Any],
        given: set[str],
    ) -> None:
        """``--domain-a/--domain-b`` for a run of ``model``: with two domains (:attr:`DOMAINS`)
        both are required, domain A becomes the run's folder dataset (``spec``) and B a
        training option (``extra``); a family of one image set refuses them by name."""
        domain_a, domain_b = domains
        if cls.DOMAINS != 2:
            if domain_a or domain_b:
                raise GentoolError(
                    f"--domain-a/--domain-b apply to translation models (cyclegan), not '{model}'."
                )
            return
        if not (domain_a and domain_b):
            raise GentoolError(
                f"'{model}' learns between two image folders; pass both --domain-a DIR and "
                "--domain-b DIR."
            )
        for name, flag in (("labels", "--labels"), ("label_column", "--label-column")):
            if name in given:
                raise GentoolError(
                    f"{flag} does not apply to '{model}': translation is unlabelled."
                )
        for name, flag in (("data_root", "--data-root"), ("dataset", "--dataset")):
            if name in given:
                raise GentoolError(f"'{model}' reads --domain-a and --domain-b; drop {flag}.")
        spec.name, spec.root = "folder", domain_a
        spec.labels = spec.label_column = None
        extra["domain_a"], extra["domain_b"] = domain_a, domain_b


def legacy_family(trainer: type[Trainer]) -> type[Family]:
    """A family for a loop registered through the version-2 ``gentool_register_trainers``
    hook alone: its models generate images (``gentool sample`` asks the model, which refuses
    in one line if it cannot), and it takes no GAN loss."""

    class LegacyFamily(Family):
        PLUGIN_NAME = trainer.PLUGIN_NAME
        DESCRIPTION = trainer.DESCRIPTION
        USES = frozenset({"generate"})

        @classmethod
        def trainer(cls) -> type[Trainer]:
            return trainer

    LegacyFamily.__qualname__ = f"LegacyFamily[{trainer.PLUGIN_NAME}]"
    LegacyFamily.__module__ = trainer.__module__
    return LegacyFamily
