"""The model plugin interface.

A model plugin is an ``nn.Module`` subclass with a typed ``Config`` dataclass. ``cls(config)``
builds every network of the model, so a checkpoint (weights + config) rebuilds it alone.
``FAMILY`` names the registered :class:`~gentool.family.Family` whose loop trains it and
which says what the commands may do with it (built-in: ``gan``, ``vae``, ``image2image``,
``translation``; a plugin may add its own).

Images entering and leaving every network are float tensors in ``[-1, 1]``, ``(B, C, H, W)``.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from gentool.config import build_config, config_to_dict
from gentool.errors import CheckpointError, GentoolError
from gentool.runtime import available_memory, format_bytes

if TYPE_CHECKING:
    from gentool.checkpoint import Checkpoint
    from gentool.checkpoint_schema import CheckpointMeta
    from gentool.data.base import ImageData

#: Config fields that are filled in from the data when the user does not set them.
DATA_FIELDS = ("image_size", "channels", "num_classes")


@dataclasses.dataclass
class ModelConfig:
    """Fields every model config has. Subclasses add their own."""

    image_size: int = 32
    channels: int = 1


class ModelPlugin(nn.Module):
    """Base class of model plugins: subclass it and return it from ``gentool_register_models``."""

    PLUGIN_NAME: ClassVar[str] = ""
    DESCRIPTION: ClassVar[str] = ""
    FAMILY: ClassVar[str] = ""
    Config: ClassVar[type] = ModelConfig
    #: Image sizes the architecture supports (empty: any).
    SUPPORTED_SIZES: ClassVar[tuple[int, ...]] = ()
    #: Model options giving a tiny network, for smoke tests (``gentool.testing``).
    TEST_OPTIONS: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config

    # --- configuration -------------------------------------------------------------------
    @classmethod
    def configure(
        cls, options: dict[str, Any], data: ImageData | None = None, loss: Any = None
    ) -> Any:
        """Build the config from user options, filling data-derived fields from ``data``.

        ``loss`` is the GAN loss the model will train with, if any (some architectures adapt,
        e.g. no BatchNorm in a WGAN-GP critic).
        """
        values = dict(options)
        names = {f.name for f in dataclasses.fields(cls.Config)}
        if data is not None:
            derived = {
                "image_size": data.image_size,
                "channels": data.channels,
                "num_classes": data.num_classes,
            }
            for key in DATA_FIELDS:
                if key in names and key not in values:
                    values[key] = derived[key]
        config: Any = build_config(cls.Config, values, what="model option")
        size = getattr(config, "image_size", None)
        if cls.SUPPORTED_SIZES and size not in cls.SUPPORTED_SIZES:
            raise GentoolError(
                f"model '{cls.PLUGIN_NAME}' supports image sizes "
                f"{', '.join(map(str, cls.SUPPORTED_SIZES))}, not {size}; pass --image-size."
            )
        return config

    def config_dict(self) -> dict[str, Any]:
        return config_to_dict(self.config)

    # --- use -----------------------------------------------------------------------------
    def sample(
        self, n: int, *, generator: torch.Generator | None = None, **conditions: Any
    ) -> torch.Tensor:
        """Draw ``n`` images in ``[-1, 1]``, ``(n, C, H, W)``."""
        raise GentoolError(f"model '{self.PLUGIN_NAME}' cannot sample unconditionally.")

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """Encode and decode ``images`` (VAEs); ``(B, C, H, W)`` in [-1, 1] both ways."""
        raise GentoolError(f"model '{self.PLUGIN_NAME}' ({self.FAMILY}) cannot reconstruct images.")

    def sample_grid(
        self, n: int, *, generator: torch.Generator | None = None, options: dict[str, Any]
    ) -> tuple[torch.Tensor, int | None]:
        """Images for ``gentool sample`` and the number of grid columns (None: square).

        ``options`` holds what the user asked for beyond ``-n`` (``label``, ``per_label``,
        ``vary_code``, ``interpolate``, and any ``--sample-opt key=value``). Models override
        this to lay out conditional rows, code sweeps or interpolations; an option the model
        does not understand is an error.
        """
        asked = {k: v for k, v in options.items() if v not in (None, False, (), [])}
        if asked:
            raise GentoolError(
                f"model '{self.PLUGIN_NAME}' does not take sample option(s) "
                f"{', '.join('--' + k.replace('_', '-') for k in sorted(asked))}."
            )
        return self.sample(n, generator=generator), None

    def main_pass(self, images: torch.Tensor) -> bool:
        """Run the model's main forward pass on ``images`` (a batch of training-size images,
        on the meta device: nothing is computed or allocated), for the memory estimate made
        before training; False when the model has none to offer (no activation estimate)."""
        return False

    def load_ema_state(self, state: dict[str, torch.Tensor]) -> None:
        """Use the moving-average generator weights a run kept (``--ema``; the checkpoint's
        ``ema`` section) in place of the trained ones. Models without a ``generator`` have no
        average to load."""
        generator = getattr(self, "generator", None)
        if not isinstance(generator, nn.Module):
            raise CheckpointError(
                f"model '{self.PLUGIN_NAME}' has no generator for the checkpoint's ema weights."
            )
        load_weights(generator, state, "ema generator")


#: Storage dtypes a checkpoint may declare for its floating-point weights (``weights_dtype``);
#: they are widened exactly to the model's dtype when loaded.
HALF_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}
#: More sub-modules, parameters and buffers than any real model has: building stops there (a
#: config asking for a million layers would otherwise take minutes just to describe).
MAX_MODULES = 10_000


def declared_half_storage(info: CheckpointMeta) -> bool:
    """Whether a checkpoint says its floating weights are stored in half precision: a
    ``weights_dtype`` of float16/bfloat16, or an inference export (``trained`` instead of a
    ``step``, as :func:`gentool.upscale.export_upscaler` writes, e.g. the shipped upscaler)."""
    if info.weights_dtype is not None:
        return info.weights_dtype in HALF_DTYPES
    return info.trained is not None and info.step is None


def rebuild_model(cls: type[ModelPlugin], ckpt: Checkpoint, *, use_ema: bool = True) -> ModelPlugin:
    """Rebuild model class ``cls`` from a checkpoint (config from metadata, weights from
    tensors); :func:`gentool.loading.model_from_checkpoint` finds ``cls`` by name.

    The config is checked, the model's size is estimated on the meta device and refused when
    it cannot fit in memory (:func:`check_model_fits`), and the weights must match the model
    exactly (names, shapes, dtypes, finite values) before anything is loaded.
    """
    try:
        config: Any = build_config(cls.Config, ckpt.info.model_config, what="model config field")
    except GentoolError as exc:
        raise CheckpointError(f"{ckpt.path}: {exc.message}") from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise CheckpointError(f"{ckpt.path}: invalid model config ({exc}).") from None
    where = str(ckpt.path)
    try:
        check_model_fits(cls, config, where=where, batch_size=1)
    except CheckpointError:
        raise
    except GentoolError as exc:
        raise CheckpointError(exc.message) from None
    model: ModelPlugin = build_model(cls, config, where=where)
    half = declared_half_storage(ckpt.info)
    load_weights(model, ckpt.section("model"), where, allow_half=half)
    if use_ema:
        ema = ckpt.section("ema")
        generator = getattr(model, "generator", None)
        if ema:
            if isinstance(generator, nn.Module):
                ema = check_weights(
                    generator.state_dict(), ema, f"{where} (ema section)", allow_half=half
                )
            try:
                model.load_ema_state(ema)
            except GentoolError:
                raise
            except (RuntimeError, ValueError, KeyError) as exc:
                raise CheckpointError(f"{where}: the ema weights do not fit ({exc}).") from None
    model.eval()
    return model


def build_model(cls: type[ModelPlugin], config: Any, *, where: str) -> ModelPlugin:
    """``cls(config)``, with a construction failure as one line instead of a traceback."""
    try:
        return cls(config)
    except GentoolError:
        raise
    except MemoryError:
        raise CheckpointError(
            f"{where}: not enough memory to build model '{cls.PLUGIN_NAME}'."
        ) from None
    except (RuntimeError, ValueError, TypeError, OverflowError, ZeroDivisionError) as exc:
        raise CheckpointError(
            f"{where}: model '{cls.PLUGIN_NAME}' cannot be built from this config ({exc})."
        ) from None


def check_weights(
    own: dict[str, torch.Tensor],
    state: dict[str, torch.Tensor],
    where: str,
    *,
    allow_half: bool = False,
    prefix: str = "",
) -> dict[str, torch.Tensor]:
    """Check ``state`` against the state dict ``own`` and return what to load.

    Names and shapes must match; dtypes must match too (an int64 or float16 tensor where the
    model keeps float32 is refused, not cast), except that with ``allow_half`` float16/bfloat16
    weights are widened to the model's floating dtype; floating values must be finite. Each
    problem is one :class:`CheckpointError` naming the weight.
    """
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    if missing:
        raise CheckpointError(
            f"{where} lacks weight '{prefix}{missing[0]}' ({len(missing)} missing)."
        )
    if extra:
        raise CheckpointError(
            f"{where} has unexpected weight '{prefix}{extra[0]}' ({len(extra)} extra)."
        )
    checked: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        expected = own[name]
        if tuple(tensor.shape) != tuple(expected.shape):
            raise CheckpointError(
                f"{where}: weight '{prefix}{name}' has shape {tuple(tensor.shape)} but the config "
                f"builds {tuple(expected.shape)}."
            )
        if tensor.dtype != expected.dtype:
            widen = (
                allow_half
                and tensor.dtype in HALF_DTYPES.values()
                and expected.dtype.is_floating_point
                and expected.element_size() >= tensor.element_size()
            )
            if not widen:
                raise CheckpointError(
                    f"{where}: weight '{prefix}{name}' is {_dtype_name(tensor.dtype)} but the "
                    f"model uses {_dtype_name(expected.dtype)}; the checkpoint does not fit."
                )
            tensor = tensor.to(expected.dtype)
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{where}: weight '{prefix}{name}' holds NaN/Inf values.")
        checked[name] = tensor
    return checked


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def load_weights(
    model: nn.Module, state: dict[str, torch.Tensor], where: str, *, allow_half: bool = False
) -> None:
    """Load a state dict strictly, with one-line errors for missing, extra, misshapen,
    mistyped or non-finite weights (:func:`check_weights`)."""
    checked = check_weights(model.state_dict(), state, where, allow_half=allow_half)
    try:
        model.load_state_dict(checked, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{where}: the weights do not fit the model ({first}).") from None


# --- memory before building ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Footprint:
    """What a model needs, estimated on the meta device (bytes)."""

    weights: int
    activations: int | None
    needed: int
    available: int | None


class _TooManyModules(Exception):
    pass


def _build_on_meta(cls: type[ModelPlugin], config: Any, where: str) -> ModelPlugin:
    from torch.nn.modules import module as torch_module

    count = 0

    def counting(*args: Any) -> None:
        nonlocal count
        count += 1
        if count > MAX_MODULES:
            raise _TooManyModules

    # Counted as they are created (a list of layers is built before a Sequential holds it).
    handles = [
        torch_module.register_module_module_registration_hook(counting),
        torch_module.register_module_parameter_registration_hook(counting),
        torch_module.register_module_buffer_registration_hook(counting),
    ]
    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter(
                "ignore"
            )  # e.g. "zero-element tensors": the config is refused later
            return cls(config)
    except _TooManyModules:
        raise GentoolError(
            f"{where}: model '{cls.PLUGIN_NAME}' with this config has more than "
            f"{MAX_MODULES:,} layers and weight tensors; check its depth and width options."
        ) from None
    except GentoolError:
        raise
    except Exception as exc:  # the config cannot build this model at all
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GentoolError(
            f"{where}: model '{cls.PLUGIN_NAME}' cannot be built from this config ({text[:200]})."
        ) from None
    finally:
        for handle in handles:
            handle.remove()


def _meta_activations(model: ModelPlugin, config: Any, batch_size: int) -> int | None:
    """Bytes of every layer's output in one forward pass of ``batch_size`` images, on meta
    tensors (nothing is allocated). None when the model's main path cannot run on meta."""
    from torch.nn.modules.module import register_module_forward_hook

    total = 0

    def measure(module: nn.Module, inputs: Any, output: Any) -> None:
        nonlocal total
        if next(module.children(), None) is not None:
            return  # count leaves only
        for value in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(value, torch.Tensor):
                total += value.numel() * value.element_size()

    size = int(getattr(config, "image_size", 32))
    channels = int(getattr(config, "channels", 3))
    handle = register_module_forward_hook(measure)
    try:
        with torch.no_grad():
            images = torch.zeros(batch_size, channels, size, size, device="meta")
            if not model.main_pass(images):
                return None
    except Exception:  # the forward does not run on meta tensors: no activation estimate
        return None
    finally:
        handle.remove()
    return total


def check_model_fits(
    cls: type[ModelPlugin],
    config: Any,
    *,
    where: str,
    batch_size: int | None = None,
    training: bool = False,
    device: torch.device | str | None = None,
) -> Footprint:
    """Refuse, before anything is allocated, a model that cannot fit in memory.

    The model is built on the meta device (instant even for 10**12 parameters; at most
    :data:`MAX_MODULES` layers) to count its weight bytes. With ``batch_size``, one forward
    pass of the model's main path (a GAN's generator and discriminator, a VAE's
    reconstruction, a translation, an upscale) also runs on meta tensors, and every layer's
    output is counted as activation memory (a rough upper bound for inference; training
    keeps them for the backward pass and doubles them for their gradients). ``training``
    also counts gradients and two optimizer moments (4x the weights). The total is compared
    with :func:`available_memory` on ``device`` (the host by default).

    Raises :class:`GentoolError` (one line, ``where: ...``) naming the estimate; returns it
    otherwise.
    """
    meta_model = _build_on_meta(cls, config, where)
    weights = sum(t.numel() * t.element_size() for t in meta_model.state_dict().values())
    activations = None
    if batch_size is not None:
        activations = _meta_activations(meta_model, config, batch_size)
    needed = weights * (4 if training else 1) + (activations or 0) * (2 if training else 1)
    available = available_memory(device)
    footprint = Footprint(weights, activations, needed, available)
    if available is not None and needed > available:
        parts = [f"about {format_bytes(weights)} for its weights"]
        if training:
            parts[0] = f"about {format_bytes(weights * 4)} for its weights, gradients and optimizer"
        if activations:
            per = "training one batch" if training else "one batch"
            factor = 2 if training else 1
            parts.append(
                f"{format_bytes(activations * factor)} of activations for {per} of {batch_size}"
            )
        raise GentoolError(
            f"{where}: model '{cls.PLUGIN_NAME}' with this config needs {' and '.join(parts)}; "
            f"this machine has {format_bytes(available)} available."
        )
    return footprint
