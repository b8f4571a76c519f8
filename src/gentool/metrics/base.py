"""The metric plugin interface: a metric is one class, registered through
``gentool_register_metrics`` (hook API 3) like the built-in ones.

A metric declares what ``gentool evaluate`` needs to know before any work:

* ``PLUGIN_NAME`` (what ``--metrics`` takes) and a one-line ``DESCRIPTION``;
* :attr:`Metric.NEEDS`: the uses of a model family (:data:`gentool.family.USES`) it
  measures; it applies to a model whose family serves any of them, and
  :meth:`Metric.not_applicable` may add conditions of its own (a conditional model, say);
* :attr:`Metric.KEYS`: each result key it reports and what it means (the table's third
  column and :func:`gentool.metrics.evaluate.describe` read them from here, nowhere else);
* :attr:`Metric.MIN_IMAGES`, :attr:`Metric.DRAWS_SAMPLES` (``-n`` applies), the pretrained
  :attr:`Metric.WEIGHTS` it cannot run without and the :attr:`Metric.OPTIONAL_WEIGHTS` some
  of its keys need, and the other evaluation :attr:`Metric.OPTIONS` it reads.

Then ``evaluate`` calls :meth:`Metric.compute` with an :class:`EvaluationContext`: the model
and its family, the real images, the settings, the generated images (drawn once, on first
use, and shared by every metric), the notes shown under the table, the device. It returns
``{key: float}``.

This module is an interface: it imports only the data interface and the foundation.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import torch

from gentool.data.base import DataSpec, ImageData, to_float, to_uint8
from gentool.errors import GentoolError

if TYPE_CHECKING:
    from rich.console import Console

    from gentool.checkpoint_schema import CheckpointMeta
    from gentool.family import Family

T = TypeVar("T")


@dataclass
class EvaluationSettings:
    """What to compute and how (the options of ``gentool evaluate``)."""

    metrics: list[str] | None = None
    num_samples: int = 2000
    batch_size: int = 100
    seed: int = 0
    inception_weights: str | None = None
    #: LPIPS backbone (torchvision AlexNet state dict); None looks in the torch hub cache.
    lpips_weights: str | None = None
    #: Retrain the condition classifier even when RUN/classifier.safetensors fits.
    train_classifier: bool = False
    classifier_steps: int = 600
    classifier_width: int = 32
    classifier_batch_size: int = 64
    #: Models that translate: the domain B folder (None: the run's own).
    domain_b: str | None = None
    #: Models that translate: known B images for the domain A images (same file names), and
    #: known A images for the domain B images.
    target_b: str | None = None
    target_a: str | None = None


# --- what metrics compare: the model's outputs as uint8 images -------------------------------


def model_device(model: Any) -> torch.device:
    """The device of the model's first parameter (the CPU for a model without any)."""
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


@torch.no_grad()
def generate_images(
    model: Any, n: int, *, batch_size: int = 100, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``n`` samples as uint8 ``(n, C, H, W)`` on the CPU, drawn ``batch_size`` at a time."""
    parts = []
    for start in range(0, n, batch_size):
        count = min(batch_size, n - start)
        parts.append(to_uint8(model.sample(count, generator=generator)).cpu())
    return torch.cat(parts)


@torch.no_grad()
def translate_uint8(
    model: Any, images: torch.Tensor, direction: str, batch_size: int = 100
) -> torch.Tensor:
    """Translate uint8 ``images`` with ``model.translate``; uint8 on the CPU, same shape."""
    device = model_device(model)
    parts = []
    for start in range(0, len(images), batch_size):
        batch = to_float(images[start : start + batch_size]).to(device)
        parts.append(to_uint8(model.translate(batch, direction).float().clamp(-1, 1)).cpu())
    return torch.cat(parts)


def data_key(spec: DataSpec) -> str:
    """A string naming the images of a spec (for caches): everything that decides them."""
    fields = ("name", "root", "labels", "label_column", "image_size", "channels", "split")
    values = {k: getattr(spec, k) for k in fields}
    values["test_fraction"] = spec.test_fraction
    values["limit"] = spec.limit
    if spec.root:
        values["root"] = str(Path(spec.root).expanduser().resolve())
    return json.dumps(values, sort_keys=True)


# --- pretrained weights ----------------------------------------------------------------------


class WeightsMissing(GentoolError):
    """Pretrained weights a metric needs are not there; the message says where to get them."""


class Weights:
    """Pretrained weights that metrics need and gentool never downloads (the Inception of
    FID/KID/IS, LPIPS's AlexNet). One instance per network, named by every metric that
    uses it: it is loaded once per evaluation, and its option counts as used when one of
    those metrics runs."""

    #: How notes name the network: "no Inception weights".
    NAME: ClassVar[str] = ""
    #: The :class:`EvaluationSettings` field naming the file (an option of ``evaluate``).
    OPTION: ClassVar[str] = ""

    def given(self, settings: EvaluationSettings) -> bool:
        """Whether the user named the weights (an option or its environment variable)."""
        return bool(getattr(settings, self.OPTION, None))

    def missing(self) -> str:
        """Why a metric needing these weights was left out, and how to give them."""
        return f"no {self.NAME} weights"

    def load(self, settings: EvaluationSettings, device: torch.device) -> Any:
        """The network on ``device``. Without weights, raise :class:`WeightsMissing` in one
        line naming the file and where to get it; unusable weights, a :class:`GentoolError`."""
        raise NotImplementedError


# --- what a metric is given --------------------------------------------------------------------


@dataclass
class EvaluationContext:
    """Everything a metric computes from, shared by the metrics of one evaluation."""

    model: Any
    family: type[Family]
    #: The real images (for a model that translates: domain A).
    data: ImageData
    settings: EvaluationSettings
    #: What :attr:`data` was loaded from (None when the caller passed images alone).
    spec: DataSpec | None = None
    #: The checkpoint's metadata as written (JSON: ``train``, ``data``, ``step``...).
    meta: dict[str, Any] = field(default_factory=dict)
    #: The same, checked and typed (None when the caller passed a model alone).
    checkpoint: CheckpointMeta | None = None
    #: For a model that translates: the domain B images.
    data_b: ImageData | None = None
    #: Notes shown under the results and kept in the record, one line each.
    notes: list[str] = field(default_factory=list)
    #: Facts for the record beside the metrics (e.g. how many images a metric paired).
    info: dict[str, Any] = field(default_factory=dict)
    #: The run folder, where a metric may keep what it trained (None for a bare checkpoint).
    run_dir: Path | None = None
    console: Console | None = None
    #: Seconds spent on work shared by metrics (``sampling``, ``inception``...), by name.
    timings: dict[str, float] = field(default_factory=dict)
    device: torch.device = field(init=False)
    _shared: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _weights: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    #: Seconds spent in :meth:`once` so far (the evaluator charges the rest to the metric).
    shared_seconds: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self.device = model_device(self.model)  # metrics run where the model runs

    @property
    def real(self) -> torch.Tensor:
        """The real images, uint8 ``(N, C, H, W)`` on the CPU."""
        return self.data.images

    @property
    def generated(self) -> torch.Tensor:
        """``settings.num_samples`` images drawn from the model (uint8, on the CPU) from
        ``settings.seed``: drawn on first use, then the same tensor for every metric."""

        def draw() -> torch.Tensor:
            generator = torch.Generator().manual_seed(self.settings.seed)
            return generate_images(
                self.model,
                self.settings.num_samples,
                batch_size=self.settings.batch_size,
                generator=generator,
            )

        return self.once("sampling", draw)

    @property
    def num_generated(self) -> int:
        """How many images were drawn (0 when no metric asked for them)."""
        drawn = self._shared.get("sampling")
        return 0 if drawn is None else len(drawn)

    @property
    def data_key(self) -> str:
        """A string naming the real images, for caches keyed by them."""
        if self.spec is None:
            raise GentoolError("this metric needs to know which data the images came from.")
        return data_key(self.spec)

    def once(self, name: str, make: Callable[[], T]) -> T:
        """``make()`` the first time ``name`` is asked for in this evaluation, its value
        after that: work several metrics share (its seconds are reported under ``name``,
        not charged to the metric that asked first). Pick a name of your own."""
        if name in self._shared:
            cached: T = self._shared[name]
            return cached
        before = self.shared_seconds
        start = time.perf_counter()
        value = make()
        elapsed = time.perf_counter() - start
        self.timings[name] = elapsed - (self.shared_seconds - before)  # nested work apart
        self.shared_seconds = before + elapsed
        self._shared[name] = value
        return value

    def weights(self, weights: Weights) -> Any:
        """The network of ``weights``, loaded on first use (an error when missing)."""
        if weights.NAME not in self._weights:
            self._weights[weights.NAME] = weights.load(self.settings, self.device)
        return self._weights[weights.NAME]

    def has_weights(self, weights: Weights) -> bool:
        """Whether ``weights`` are loaded or named, so that metrics needing them can run."""
        return weights.NAME in self._weights or weights.given(self.settings)

    def use_weights(self, weights: Weights, network: Any) -> None:
        """Use ``network`` for ``weights`` (a stand-in, e.g. a tiny extractor in tests)."""
        self._weights[weights.NAME] = network

    def optional_weights(self, weights: Weights, key: str) -> Any | None:
        """The network of ``weights``, or None with the note ``"KEY left out: ..."`` when
        they are not there. Weights the user named that cannot be used are an error."""
        try:
            return self.weights(weights)
        except WeightsMissing as exc:
            if weights.given(self.settings):
                raise
            self.notes.append(f"{key} left out: {exc.message}")
            return None

    def say(self, text: str) -> None:
        """Tell the user what a long step is doing (nothing without a console)."""
        if self.console is not None:
            self.console.print(text)


# --- the metric -------------------------------------------------------------------------------


class Metric:
    """Base class of metric plugins: subclass it, set the class attributes, implement
    :meth:`compute`, and return the class from ``gentool_register_metrics``."""

    PLUGIN_NAME: ClassVar[str] = ""
    DESCRIPTION: ClassVar[str] = ""
    #: Uses of a model family this metric measures (any one suffices).
    NEEDS: ClassVar[frozenset[str]] = frozenset()
    #: Each result key it reports and what it means, in one line ("... (lower is better)").
    KEYS: ClassVar[dict[str, str]] = {}
    #: The fewest real images it needs, and generated ones when it draws them: asked for by
    #: name with fewer it is refused, chosen by default it is left out with a note.
    MIN_IMAGES: ClassVar[int] = 1
    #: Whether it reads :attr:`EvaluationContext.generated` when the model generates (``-n``
    #: then applies).
    DRAWS_SAMPLES: ClassVar[bool] = False
    #: Weights it cannot run without: missing, the metric is left out with a note when chosen
    #: by default, and refused before any work when asked for by name.
    WEIGHTS: ClassVar[Weights | None] = None
    #: Weights some of its keys need (:meth:`EvaluationContext.optional_weights`): missing,
    #: those keys are left out with a note.
    OPTIONAL_WEIGHTS: ClassVar[Weights | None] = None
    #: Other :class:`EvaluationSettings` fields it reads; an option of ``evaluate`` that no
    #: metric run reads is refused by name.
    OPTIONS: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def draws_samples(cls, family: type[Family]) -> bool:
        """Whether it draws samples from a model of ``family``."""
        return cls.DRAWS_SAMPLES and family.can("generate")

    @classmethod
    def options(cls, family: type[Family]) -> set[str]:
        """The settings it reads for a model of ``family``."""
        used = set(cls.OPTIONS)
        if cls.draws_samples(family):
            used.add("num_samples")
        for weights in (cls.WEIGHTS, cls.OPTIONAL_WEIGHTS):
            if weights is not None:
                used.add(weights.OPTION)
        return used

    @classmethod
    def describe(cls, key: str) -> str:
        """What result ``key`` means ("" for a key it does not report). Override for keys
        made from a pattern (``swd_16px``)."""
        return cls.KEYS.get(key, "")

    @classmethod
    def not_applicable(cls, ctx: EvaluationContext) -> str | None:
        """Why the metric does not apply to this model and data although the family serves
        one of :attr:`NEEDS` (e.g. "the model is not conditional"), or None. Chosen by
        default it is then skipped silently; asked for by name, refused with the reason."""
        return None

    @classmethod
    def left_out(cls, ctx: EvaluationContext, asked: bool) -> str | None:
        """Why it cannot run here although it applies (too few images, a missing input), or
        None. Chosen by default it is left out with the note "NAME left out: WHY."; asked
        for by name (``asked``) it is refused: "metric 'NAME' cannot be computed here: WHY."
        (an override may raise a :class:`GentoolError` of its own instead). By default,
        :attr:`MIN_IMAGES` against ``-n`` and the real images."""
        need = cls.MIN_IMAGES
        num_samples = ctx.settings.num_samples
        if cls.draws_samples(ctx.family) and num_samples < need:
            return f"it needs at least {need} generated images and -n is {num_samples}"
        if len(ctx.data) < need:
            return f"it needs at least {need} real images and the data has {len(ctx.data)}"
        return None

    def compute(self, ctx: EvaluationContext) -> dict[str, float]:
        """The metric's values, keyed by the names in :attr:`KEYS` (or described by
        :meth:`describe`); notes for the user go to ``ctx.notes``."""
        raise NotImplementedError
