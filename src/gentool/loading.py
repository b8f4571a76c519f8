"""Loading by name: the helpers that need the plugin registry, kept beside it.

Models, losses and datasets are interfaces that import nothing above them; turning a name
(``--dataset folder``, the ``model`` field of a checkpoint) into a class is the registry's
job, so these two functions live here, above both.
"""

from __future__ import annotations

from gentool.checkpoint import Checkpoint
from gentool.data.base import DataSpec, ImageData, load_from
from gentool.models.base import ModelPlugin, rebuild_model
from gentool.plugins import get_dataset_class, get_model_class


def load_data(spec: DataSpec) -> ImageData:
    """Look the dataset up in the registry, load it and apply the requested split."""
    return load_from(get_dataset_class(spec.name), spec)


def model_from_checkpoint(ckpt: Checkpoint, *, use_ema: bool = True) -> ModelPlugin:
    """Rebuild a model from a checkpoint alone: its class by the checkpoint's ``model``
    name, then :func:`gentool.models.base.rebuild_model`."""
    return rebuild_model(get_model_class(ckpt.meta["model"]), ckpt, use_ema=use_ema)
