"""A small testing kit for plugin authors.

Three lines test a new GAN loss end to end (train DCGAN a few steps on tiny data, check the
losses are finite, reload the checkpoint and sample)::

    from gentool.testing import assert_loss_trains, plugin_registry

    def test_my_loss(tmp_path):
        with plugin_registry("gentool-myloss"):
            assert_loss_trains("myloss", tmp_path)

``plugin_registry`` loads gentool's built-ins plus only the named distributions or entry
points, so a test never depends on whatever else is installed.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from gentool import plugins
from gentool.checkpoint import load_checkpoint
from gentool.data.base import DataSpec, ImageData
from gentool.loading import load_data, model_from_checkpoint
from gentool.run_folder import RunFolder

__all__ = [
    "assert_dataset_loads",
    "assert_loss_trains",
    "assert_model_trains",
    "assert_model_trains_on",
    "plugin_registry",
    "use_model",
]


@contextmanager
def plugin_registry(selection: str = "none") -> Iterator[plugins.Registry]:
    """Use a registry with the built-ins plus ``selection`` (comma list; ``none``: built-ins only)."""
    previous_env = os.environ.get(plugins.ENV_VAR)
    previous = plugins._REGISTRY
    os.environ[plugins.ENV_VAR] = selection
    try:
        yield plugins.get_registry(reload=True)
    finally:
        if previous_env is None:
            os.environ.pop(plugins.ENV_VAR, None)
        else:
            os.environ[plugins.ENV_VAR] = previous_env
        plugins._REGISTRY = previous


def _tiny_options(model: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The model's ``TEST_OPTIONS`` under ``extra``; options that shape only a network the
    model will not build (an upscaler's PatchGAN without ``with_discriminator``) are left
    out of the tiny defaults, since training refuses them."""
    cls = plugins.get_model_class(model)
    options = {**getattr(cls, "TEST_OPTIONS", {}), **(extra or {})}
    unused = getattr(cls, "DISCRIMINATOR_OPTIONS", ())
    fields = {f.name: f.default for f in dataclasses.fields(cls.Config)}
    builds = options.get("with_discriminator", fields.get("with_discriminator", True))
    if unused and str(builds).lower() not in ("true", "1"):
        options = {k: v for k, v in options.items() if k not in unused or k in (extra or {})}
    return options


def use_model(model: Any, n: int = 2) -> torch.Tensor:
    """Run a rebuilt model the way its commands do and return the images it makes:
    ``sample`` (GANs, VAEs), ``upscale`` of a low-resolution batch (image-to-image) or
    ``translate`` (translation). Checks the output's shape and that it is finite."""
    cfg = model.config
    size, channels = int(cfg.image_size), int(cfg.channels)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        if callable(getattr(model, "upscale", None)) and hasattr(model, "scale"):
            low = torch.rand(n, channels, size // model.scale, size // model.scale, generator=g)
            images = model.upscale(low * 2 - 1)
            expected = (
                n,
                channels,
                size // model.scale * model.scale,
                size // model.scale * model.scale,
            )
        elif callable(getattr(model, "translate", None)):
            images = model.translate(torch.rand(n, channels, size, size, generator=g) * 2 - 1)
            expected = (n, channels, size, size)
        else:
            images = model.sample(n, generator=g)
            expected = (n, channels, size, size)
    assert tuple(images.shape) == expected, f"output shape {tuple(images.shape)} != {expected}"
    assert torch.isfinite(images).all(), "the model's output is not finite"
    return images


def _check_run(ckpt_path: Path, steps: int) -> None:
    log = RunFolder(ckpt_path.parent).read_log()
    records = log.records
    assert records and not log.bad, f"training wrote no log records, or bad lines {log.bad}"
    for record in records:
        for key, value in record.items():
            if isinstance(value, float):
                assert math.isfinite(value), f"{key} is {value} at step {record.get('step')}"
    ckpt = load_checkpoint(ckpt_path)
    assert ckpt.meta["step"] == steps
    use_model(model_from_checkpoint(ckpt))


def kit_data(
    model: str, folder: str | Path, image_size: int, loss: str | None = None
) -> tuple[DataSpec, dict[str, Any]]:
    """The tiny data the kit trains ``model`` on, and the training options it needs, as its
    family says (:meth:`gentool.family.Family.kit_settings`): the digits, photos for an
    upscaler, two image folders for translation."""
    kit = plugins.family_of_model(model).kit_settings(Path(folder), image_size, loss)
    return kit["data"], dict(kit.get("extra", {}))


def assert_loss_trains(
    loss: str,
    tmp_path: str | Path,
    *,
    model: str = "dcgan",
    loss_options: dict[str, Any] | None = None,
    steps: int = 5,
    image_size: int = 16,
    model_options: dict[str, Any] | None = None,
) -> Path:
    """Train ``model`` (any model with a discriminator: GAN, image-to-image, translation)
    with ``loss`` for a few steps on tiny data; check and return the checkpoint.

    Checks: every logged value is finite, the checkpoint reloads from its own config, the
    loss options were stored, and the rebuilt model makes images of the right shape
    (:func:`use_model`).
    """
    ckpt = _train_tiny(
        model,
        Path(tmp_path),
        Path(tmp_path) / f"{model}-{loss}",
        steps=steps,
        image_size=image_size,
        loss=loss,
        loss_options=loss_options,
        model_options=model_options,
    )
    _check_run(ckpt, steps)
    meta = load_checkpoint(ckpt).meta
    assert meta["loss"] == loss
    stored = plugins.get_loss_class(loss).from_options(loss_options or {}).config_dict()
    assert meta["loss_config"] == stored, "loss options were not stored in the checkpoint"
    return ckpt


def assert_model_trains(
    model: str, tmp_path: str | Path, *, steps: int = 2, image_size: int = 16
) -> Path:
    """Train any registered ``model`` (its default loss, if any) for a few steps on tiny data,
    reload the checkpoint and use the model (sample, upscale or translate)."""
    ckpt = _train_tiny(
        model, Path(tmp_path), Path(tmp_path) / model, steps=steps, image_size=image_size
    )
    _check_run(ckpt, steps)
    return ckpt


def _train_tiny(
    model: str,
    tmp_path: Path,
    out: Path,
    *,
    steps: int,
    image_size: int,
    loss: str | None = None,
    loss_options: dict[str, Any] | None = None,
    model_options: dict[str, Any] | None = None,
) -> Path:
    """A few CPU steps of ``model`` (tiny options) on data made for its family."""
    from gentool.training.runner import train

    data, extra = kit_data(model, tmp_path, image_size, loss)
    return train(
        model,
        loss=loss,
        loss_options=loss_options,
        model_options=_tiny_options(model, model_options),
        data=data,
        steps=steps,
        batch_size=8,
        log_every=1,
        sample_every=steps,
        checkpoint_every=steps,
        device="cpu",
        out=str(out),
        overwrite=True,
        extra=extra,
    )


def assert_model_trains_on(
    data: DataSpec, out: str | Path, *, model: str = "dcgan", loss: str = "bce", steps: int = 3
) -> Path:
    """Train ``model`` a few steps on a dataset plugin's data; check and return the checkpoint."""
    from gentool.training.runner import train

    ckpt = train(
        model,
        loss=loss,
        model_options=_tiny_options(model),
        data=data,
        steps=steps,
        batch_size=4,
        log_every=1,
        sample_every=steps,
        checkpoint_every=steps,
        device="cpu",
        out=str(out),
        overwrite=True,
    )
    _check_run(ckpt, steps)
    return ckpt


def assert_dataset_loads(name: str, spec: DataSpec | None = None) -> ImageData:
    """Load a dataset plugin and check the contract of :class:`~gentool.data.base.ImageData`."""
    spec = spec or DataSpec(name=name)
    data = load_data(spec)
    assert data.images.dtype == torch.uint8 and data.images.dim() == 4
    assert data.images.shape[1] in (1, 3), "images must have 1 or 3 channels"
    if spec.image_size:
        assert data.images.shape[-2:] == (spec.image_size, spec.image_size)
    if data.labels is not None:
        assert data.labels.shape == (len(data),)
        assert int(data.labels.max()) < max(1, len(data.class_names)), "label beyond class_names"
    return data
