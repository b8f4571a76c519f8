"""Loading by name: the helpers that need the plugin registry, kept beside it.

Models, losses and datasets are interfaces that import nothing above them; turning a name
(``--dataset folder``, the ``model`` field of a checkpoint) into a class is the registry's
job, so these two functions live here, above both.
"""

from __future__ import annotations

from gentool.checkpoint import Checkpoint
from gentool.data.base import DataSpec, ImageData, load_from
from gentool.models.base import ModelPlugin, rebuild_model
from gentool.plugins import distribution_of, get_dataset_class, get_recorded_class


def load_data(spec: DataSpec) -> ImageData:
    """Look the dataset up in the registry, load it and apply the requested split."""
    cls = get_dataset_class(spec.name)
    return load_from(cls, spec, distribution=distribution_of("dataset", cls))


def recorded_plugins(ckpt: Checkpoint) -> dict[str, object]:
    """The checkpoint's ``plugins`` provenance (kind -> name, distribution, version)."""
    recorded = ckpt.meta.get("plugins")
    return recorded if isinstance(recorded, dict) else {}


def model_class_of(ckpt: Checkpoint) -> type[ModelPlugin]:
    """The model class a checkpoint needs, checked against the plugin it was made with."""
    name = str(ckpt.meta["model"])
    cls: type[ModelPlugin] = get_recorded_class(
        "model", name, recorded_plugins(ckpt).get("model"), str(ckpt.path)
    )
    return cls


def model_from_checkpoint(ckpt: Checkpoint, *, use_ema: bool = True) -> ModelPlugin:
    """Rebuild a model from a checkpoint alone: its class by the checkpoint's ``model``
    name (refused, naming the distribution to install, when that plugin is missing), then
    :func:`gentool.models.base.rebuild_model`."""
    return rebuild_model(model_class_of(ckpt), ckpt, use_ema=use_ema)
