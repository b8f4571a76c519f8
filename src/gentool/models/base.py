"""The model plugin interface.

A model plugin is an ``nn.Module`` subclass with a typed ``Config`` dataclass. ``cls(config)``
builds every network of the model, so a checkpoint (weights + config) rebuilds it alone.
``FAMILY`` tells gentool which training loop and which commands apply:

* ``gan``: has ``generator`` and ``discriminator``; trained by :class:`gentool.training.gan.GanTrainer`.
* ``vae``: encodes and decodes; trained by the VAE loop.
* ``image2image``: maps an input image to an output image (super-resolution).
* ``translation``: unpaired translation between two domains (CycleGAN).

Images entering and leaving every network are float tensors in ``[-1, 1]``, ``(B, C, H, W)``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from gentool.config import build_config, config_to_dict
from gentool.errors import CheckpointError, GentoolError

if TYPE_CHECKING:
    from gentool.checkpoint import Checkpoint
    from gentool.data.base import ImageData
    from gentool.training.base import Trainer

FAMILIES = ("gan", "vae", "image2image", "translation")

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

    @classmethod
    def trainer_class(cls) -> type[Trainer]:
        """The training loop for this model."""
        raise NotImplementedError(f"{cls.__name__} does not say how it is trained")

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


def model_from_checkpoint(ckpt: Checkpoint, *, use_ema: bool = True) -> ModelPlugin:
    """Rebuild a model from a checkpoint alone (config from metadata, weights from tensors)."""
    from gentool.plugins import get_model_class

    meta = ckpt.meta
    cls = get_model_class(meta["model"])
    try:
        config = build_config(cls.Config, meta["model_config"], what="model config field")
    except GentoolError as exc:
        raise CheckpointError(f"{ckpt.path}: {exc.message}") from None
    model: ModelPlugin = cls(config)
    state = ckpt.section("model")
    load_weights(model, state, str(ckpt.path))
    if use_ema:
        ema = ckpt.section("ema")
        apply_ema = getattr(model, "load_ema_state", None)
        if ema and callable(apply_ema):
            apply_ema(ema)
    model.eval()
    return model


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """Load a state dict strictly, with one-line errors for missing, extra or misshapen weights."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    if missing:
        raise CheckpointError(f"{where} lacks weight '{missing[0]}' ({len(missing)} missing).")
    if extra:
        raise CheckpointError(f"{where} has unexpected weight '{extra[0]}' ({len(extra)} extra).")
    for name, tensor in state.items():
        if tuple(tensor.shape) != tuple(own[name].shape):
            raise CheckpointError(
                f"{where}: weight '{name}' has shape {tuple(tensor.shape)} but the config "
                f"builds {tuple(own[name].shape)}."
            )
        if tensor.dtype != own[name].dtype:
            state[name] = tensor.to(own[name].dtype)
    model.load_state_dict(state, strict=True)
