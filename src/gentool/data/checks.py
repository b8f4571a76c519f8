"""Checking what a dataset plugin's ``load`` returned, before anything trains on it.

:func:`check_loaded` holds a plugin to the contract of :class:`~gentool.data.base.ImageData`
(the one structure training, evaluation and plotting read) and turns a breach into one line
naming the dataset and its distribution, instead of a shape error deep inside a training step.
It only reads shapes, dtypes and, for labels and attributes, their minimum and maximum.
"""

from __future__ import annotations

from typing import Any

import torch

from gentool.data.base import DatasetPlugin, DataSpec, ImageData, apply_split, check_options_used
from gentool.errors import PluginError

#: The distribution of gentool's own plugins: not named in messages.
BUILTIN_DISTRIBUTION = "gentool"


def _who(plugin_cls: type, distribution: str | None) -> str:
    name = getattr(plugin_cls, "PLUGIN_NAME", "") or plugin_cls.__name__
    if distribution and distribution != BUILTIN_DISTRIBUTION:
        return f"dataset '{name}' ({distribution})"
    return f"dataset '{name}'"


def _index_problem(what: str, values: Any, count: int, names: Any) -> str | None:
    """Why ``values`` are not int64 ``(count,)`` indices into ``names`` (-1: unknown)."""
    if not isinstance(values, torch.Tensor):
        return f"{what} as a {type(values).__name__}, not an int64 tensor"
    if values.dtype != torch.int64 or values.shape != (count,):
        return (
            f"{what} of dtype {values.dtype} and shape {tuple(values.shape)}; they must be "
            f"int64 of shape ({count},), one per image"
        )
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return f"names for {what} that are not a list of strings"
    if count and (int(values.min()) < -1 or int(values.max()) >= len(names)):
        return (
            f"{what} from {int(values.min())} to {int(values.max())} with {len(names)} "
            f"name(s); each must be -1 (unknown) or an index into the names"
        )
    return None


def loaded_problem(data: object, spec: DataSpec) -> str | None:
    """What is wrong with ``data`` as the result of loading ``spec`` (``None``: nothing)."""
    if not isinstance(data, ImageData):
        return f"returned a {type(data).__name__} from load, not an ImageData"
    images = data.images
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        return "returned images that are not a uint8 tensor of shape (N, C, H, W)"
    count, channels, height, width = images.shape
    if channels not in (1, 3):
        return f"returned images with {channels} channels; they must have 1 or 3"
    if spec.channels is not None and channels != spec.channels:
        return f"returned {channels}-channel images when {spec.channels} were asked for"
    if height != width:
        return f"returned {height}x{width} images; they must be square"
    if spec.image_size is not None and height != spec.image_size:
        return (
            f"returned {height}x{width} images when {spec.image_size}x{spec.image_size} "
            "were asked for"
        )
    if data.labels is not None:
        problem = _index_problem("labels", data.labels, count, data.class_names)
        if problem:
            return f"returned {problem}"
    if not isinstance(data.attributes, dict):
        return "returned attributes that are not a dict of name -> tensor"
    for name, values in data.attributes.items():
        if not isinstance(name, str) or not name:
            return f"returned an attribute named {name!r}; names must be non-empty strings"
        names = data.attribute_names.get(name) if isinstance(data.attribute_names, dict) else None
        if names is None:
            return f"returned attribute '{name}' without its names in attribute_names"
        problem = _index_problem(f"attribute '{name}'", values, count, names)
        if problem:
            return f"returned {problem}"
    if data.files and len(data.files) != count:
        return f"returned {len(data.files)} file names for {count} images"
    return None


def check_loaded(
    plugin_cls: type, data: object, spec: DataSpec, *, distribution: str | None = None
) -> ImageData:
    """``data`` when it is what ``plugin_cls().load(spec)`` must return, else one line.

    Raises :class:`~gentool.errors.PluginError` naming the dataset, its ``distribution``
    (from the registry, which sits above this module; omitted for built-ins) and what is
    wrong.
    """
    problem = loaded_problem(data, spec)
    if problem is not None:
        raise PluginError(
            f"{_who(plugin_cls, distribution)} {problem}; this is a bug in the dataset "
            "plugin: report it to its authors."
        )
    assert isinstance(data, ImageData)
    return data


def load_from(
    plugin: type[DatasetPlugin], spec: DataSpec, *, distribution: str | None = None
) -> ImageData:
    """Load ``spec`` with dataset class ``plugin``, check what it returned
    (:func:`gentool.data.checks.check_loaded`) and apply the requested split.

    Looking the class up by name is the registry's job (:func:`gentool.loading.load_data`):
    the data modules, interfaces, import nothing above them.
    """
    spec.validate()
    check_options_used(plugin, spec)
    data = check_loaded(plugin, plugin().load(spec), spec, distribution=distribution)
    hint = getattr(plugin, "labels_hint", None)
    if not data.labels_hint and callable(hint):
        data.labels_hint = str(hint())
    return apply_split(data, spec)
