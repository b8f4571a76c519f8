"""The GAN loss plugin interface (loss API v2; version-1 losses work unchanged).

**The discriminator-output contract, the same for every model:** a loss receives the
discriminator's raw scores (no sigmoid applied) as float32 tensors, unreduced: ``(B,)`` for
a discriminator with one score per image, ``(B, ...)`` for a PatchGAN (one score per patch).
Nothing is averaged before the loss sees it; a loss reduces by the mean over every score
(what all built-in losses do), so a patch map counts each patch as one sample.

A loss returns scalar losses for the discriminator and the generator. Besides, it may:

* add discriminator regularisers (:meth:`GanLoss.regularizer`) that see the discriminator
  itself, the real and fake batches and the step (lazy regularisation: return ``None`` on
  the steps it skips), as one term or several named terms, each logged;
* add generator regularisers (:meth:`GanLoss.generator_regularizer`), e.g. a path-length
  penalty, from the fake batch (with its graph back to G) and the latent inputs;
* keep state (step counters, adaptive weights, running means) as tensors in
  :meth:`GanLoss.state_dict`, saved in every checkpoint and restored exactly on resume;
* recommend optimiser settings (:attr:`GanLoss.RECOMMENDED_SETTINGS`), used when the user
  sets none and printed at the start of training.

Options reach a loss as ``--loss-opt key=value`` on the command line; they are checked
against the loss's ``Config`` dataclass and saved in the checkpoint.

Every subclass's ``discriminator_loss``, ``generator_loss``, ``regularizer`` and
``probability`` are wrapped when the class is defined, so every training loop gets a loss's
output checked without doing it itself: a loss must return a floating-point scalar (0-dim)
tensor (``regularizer`` may return ``None``), else training stops with one line naming the
loss and its distribution. The checks read only shape, dtype and ``requires_grad``: no host
sync, nothing that breaks CUDA-graph capture or ``torch.compile`` tracing.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

import torch

from gentool.config import build_config, config_to_dict
from gentool.errors import GentoolError, PluginError

#: Methods whose results are checked, and what each must return.
CHECKED_METHODS = {
    "discriminator_loss": "a loss must return a floating-point scalar tensor",
    "generator_loss": "a loss must return a floating-point scalar tensor",
    "regularizer": (
        "a regularizer must return None, a floating-point scalar tensor or a dict of named "
        "scalar tensors"
    ),
    "generator_regularizer": (
        "a regularizer must return None, a floating-point scalar tensor or a dict of named "
        "scalar tensors"
    ),
    "probability": "probability must return a floating-point tensor",
}
#: Methods that may return None or several named terms.
REGULARIZERS = ("regularizer", "generator_regularizer")
#: Training settings a loss may recommend (used when the user gives none of them).
RECOMMENDABLE = ("lr_g", "lr_d", "beta1", "beta2", "d_steps", "g_steps")


@dataclasses.dataclass
class NoOptions:
    """A loss without options."""


class GanLoss:
    """Base class of GAN losses: subclass it and return it from ``gentool_register_losses``."""

    PLUGIN_NAME: ClassVar[str] = ""
    DESCRIPTION: ClassVar[str] = ""
    Config: ClassVar[type] = NoOptions
    #: Discriminator updates per generator update that this loss needs by default.
    DEFAULT_D_STEPS: ClassVar[int] = 1
    #: False when the critic must not use BatchNorm (per-sample penalties, e.g. WGAN-GP).
    ALLOWS_BATCHNORM: ClassVar[bool] = True
    #: True when ``generator_loss`` needs the scores of a real batch too (relativistic losses);
    #: the training loop then scores a real batch during the generator step.
    GENERATOR_NEEDS_REAL: ClassVar[bool] = False
    #: True when ``regularizer`` differentiates through D twice (keeps D out of torch.compile).
    NEEDS_DOUBLE_BACKWARD: ClassVar[bool] = False
    #: Optimiser settings this loss trains best with, by training-setting name (``lr_g``,
    #: ``lr_d``, ``beta1``, ``beta2``, ``d_steps``, ``g_steps``): used for each one the user
    #: does not set, announced at the start and recorded in the run. (Loss API v2.)
    RECOMMENDED_SETTINGS: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: Any | None = None) -> None:
        self.config = config if config is not None else self.Config()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for method in CHECKED_METHODS:
            function = cls.__dict__.get(method)
            if inspect.isfunction(function) and not hasattr(function, "__gentool_checked__"):
                setattr(cls, method, _checked(method, function))

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> GanLoss:
        """Build the loss from ``--loss-opt`` values; a plugin's failure here is one line."""
        try:
            loss = cls(build_config(cls.Config, options, what="loss option"))
            loss.config_dict()  # it is saved in every checkpoint: fail now, not at the first save
        except GentoolError:
            raise
        except Exception as exc:
            if not _is_external(cls) or os.environ.get("GENTOOL_DEBUG"):
                raise
            raise PluginError(
                f"{_who(cls)} could not be built from its options ({_describe(exc)}); check "
                "the --loss-opt values, or report it to the plugin's authors."
            ) from exc
        return loss

    def config_dict(self) -> dict[str, Any]:
        return config_to_dict(self.config)

    def discriminator_loss(
        self, real_scores: torch.Tensor, fake_scores: torch.Tensor
    ) -> torch.Tensor:
        raise NotImplementedError

    def generator_loss(
        self, fake_scores: torch.Tensor, real_scores: torch.Tensor | None = None
    ) -> torch.Tensor:
        raise NotImplementedError

    def regularizer(
        self,
        discriminator: Callable[[torch.Tensor], torch.Tensor],
        real: torch.Tensor,
        fake: torch.Tensor,
        *,
        step: int = 0,
    ) -> torch.Tensor | dict[str, torch.Tensor] | None:
        """Extra terms for the discriminator's loss: one scalar, named scalars, or ``None``.

        ``discriminator`` maps images to scores (conditions already bound), ``real`` and
        ``fake`` are detached image batches of equal shape, ``step`` is the number of
        training steps done so far (return ``None`` on steps a lazy regulariser skips, and
        scale the term by the interval yourself, as StyleGAN2 does). A single tensor is
        logged as ``penalty``; a dict's terms are logged under their names. (Version-1
        losses without ``step`` are called without it.)
        """
        return None

    def generator_regularizer(
        self,
        fake: torch.Tensor,
        *,
        latent: dict[str, torch.Tensor] | None = None,
        step: int = 0,
    ) -> torch.Tensor | dict[str, torch.Tensor] | None:
        """Extra terms for the generator's loss, or ``None``. (Loss API v2.)

        ``fake`` is the generated batch with its graph back to the generator; ``latent`` the
        generator's inputs (GAN models; ``None`` for image-to-image and translation models).
        """
        return None

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors of the loss's own state, saved in each checkpoint (``loss.<name>``). (v2)"""
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore what :meth:`state_dict` returned, on resume. (v2)"""
        if state:
            raise PluginError(
                f"{_who(type(self))} keeps no state but the checkpoint holds loss state "
                f"'{sorted(state)[0]}'."
            )

    def probability(self, scores: torch.Tensor) -> torch.Tensor:
        """What to log as D(x): the discriminator's belief that images are real."""
        return torch.sigmoid(scores)


#: The distribution each registered loss class came from, filled in by the plugin registry
#: (which sits above this module: losses never import the registry).
_DISTRIBUTIONS: weakref.WeakKeyDictionary[type, str] = weakref.WeakKeyDictionary()
BUILTIN_DISTRIBUTION = "gentool"


def set_distribution(cls: type, distribution: str) -> None:
    """Record where loss class ``cls`` comes from (called by the registry)."""
    _DISTRIBUTIONS[cls] = distribution


def _who(cls: type) -> str:
    """``loss 'name'``, with the distribution when the loss is not a built-in."""
    name = getattr(cls, "PLUGIN_NAME", "") or cls.__name__
    dist = _DISTRIBUTIONS.get(cls)
    if dist and dist != BUILTIN_DISTRIBUTION:
        return f"loss '{name}' ({dist})"
    return f"loss '{name}'"


def _is_external(cls: type) -> bool:
    dist = _DISTRIBUTIONS.get(cls)
    return dist is not None and dist != BUILTIN_DISTRIBUTION


def _describe(exc: BaseException) -> str:
    try:
        text = " ".join(str(exc).split())[:200]
    except Exception:
        text = ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _output_problem(method: str, out: object, inputs: tuple[Any, ...]) -> str | None:
    """Why ``out`` is not what ``method`` must return, with the rule (``None``: it is).

    Reads metadata only (type, dtype, shape, ``requires_grad``): never a host sync.
    """
    rule = CHECKED_METHODS[method]
    if method in REGULARIZERS:
        if out is None:
            return None
        if isinstance(out, dict):
            for name, term in out.items():
                if not isinstance(name, str) or not name.isidentifier():
                    return (
                        f"returned a term named {name!r} from {method}; names must be identifiers"
                    )
                problem = _output_problem(method, term, inputs)
                if problem is not None:
                    return f"{problem} (term '{name}')"
            return None
    if not isinstance(out, torch.Tensor):
        what = {float: "a Python float", int: "a Python int", bool: "a Python bool"}.get(
            type(out), f"a {type(out).__name__}"
        )
        return f"returned {what} from {method}; {rule}"
    if not out.is_floating_point():
        return f"returned a tensor of dtype {out.dtype} from {method}; {rule}"
    if method == "probability":
        return None
    if out.dim() != 0:
        return f"returned a tensor of shape {tuple(out.shape)} from {method}; {rule}"
    if (
        method not in REGULARIZERS
        and torch.is_grad_enabled()
        and not out.requires_grad
        and any(isinstance(x, torch.Tensor) and x.requires_grad for x in inputs)
    ):
        return (
            f"returned a tensor without gradients from {method}; a loss must be computed from "
            "the scores with torch operations (no .item(), .detach() or new tensors)"
        )
    return None


def _checked(method: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with its result checked (see :data:`CHECKED_METHODS`)."""

    @functools.wraps(function)
    def checked(self: GanLoss, *args: Any, **kwargs: Any) -> Any:
        try:
            out = function(self, *args, **kwargs)
        except GentoolError:
            raise
        except Exception as exc:
            if (
                isinstance(exc, MemoryError)
                or type(exc).__name__ == "OutOfMemoryError"
                or os.environ.get("GENTOOL_DEBUG")
                or not _is_external(type(self))
            ):
                raise
            raise PluginError(
                f"{_who(type(self))} failed in {method} ({_describe(exc)}); this is a "
                "bug in the plugin: rerun with GENTOOL_DEBUG=1 for the traceback and report it "
                "to its authors."
            ) from exc
        problem = _output_problem(method, out, (*args, *kwargs.values()))
        if problem is not None:
            raise PluginError(f"{_who(type(self))} {problem}.")
        return out

    checked.__gentool_checked__ = True  # type: ignore[attr-defined]
    return checked
