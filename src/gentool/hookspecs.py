"""Every gentool hook signature, in one place.

A plugin is a module (or object) that implements some of these hooks, marked with
:data:`gentool.hookimpl`. Third-party plugins are found through the ``gentool``
entry-point group::

    # pyproject.toml of a plugin distribution
    [project.entry-points.gentool]
    relativistic = "gentool_relativistic"

Each ``gentool_register_*`` hook returns a list (or tuple, or other iterable) of classes,
never a bare class or instances. Every class subclasses the kind's base class and carries a
``PLUGIN_NAME`` (the name users type: letters, digits, ``-``, ``_``, ``.``) and a one-line
string ``DESCRIPTION``; models and losses have a dataclass ``Config``, models a ``FAMILY``
naming a registered :class:`~gentool.family.Family`. Built-in plugins use exactly the same hooks.

What breaks these rules is skipped with one warning naming the plugin and its distribution:
the whole plugin when it fails to import (any exception, ``SystemExit`` included), misspells a
hook or targets another hook API; the hook's result when the hook raises (also part-way
through a generator) or returns something that is not a list; the one class otherwise.

The hook API has a version, :data:`HOOK_API_VERSION`. A plugin module may declare the
version it was written for as ``GENTOOL_API_VERSION = 2`` (``"2"`` and ``"2.0"`` are read
the same); versions 1, 2 and 3 are all loaded (versions 2 and 3 only added hooks and
optional loss features); a plugin declaring another major version, or something that is not a version, is
refused with a message naming both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from gentool.callback import Callback
    from gentool.data.base import DatasetPlugin
    from gentool.family import Family
    from gentool.losses.base import GanLoss
    from gentool.metrics.base import Metric
    from gentool.models.base import ModelPlugin
    from gentool.training.base import Trainer

PROJECT_NAME = "gentool"
#: The hook API this gentool provides. Version 2 added ``gentool_register_trainers`` and the
#: loss API v2 (loss state, step-aware and named regularisers, a generator regulariser,
#: recommended optimiser settings); version 3 added ``gentool_register_families`` (a family
#: as a registered class). Every version-1 and version-2 plugin works unchanged.
HOOK_API_VERSION = 3
#: Hook API versions whose plugins are loaded.
SUPPORTED_API_VERSIONS = (1, 2, 3)

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def gentool_register_models() -> list[type[ModelPlugin]]:
    """Return model classes (subclasses of :class:`gentool.models.base.ModelPlugin`).

    Each class has ``PLUGIN_NAME``, ``DESCRIPTION``, ``FAMILY`` and a dataclass ``Config``
    from which ``cls(config)`` rebuilds every network of the model.
    """
    raise NotImplementedError


@hookspec
def gentool_register_losses() -> list[type[GanLoss]]:
    """Return GAN loss classes (subclasses of :class:`gentool.losses.base.GanLoss`).

    A loss turns discriminator outputs (raw scores, float32, shape ``(B,)`` or ``(B, ...)``)
    into the discriminator's and the generator's scalar losses, and may add a regulariser
    that sees the discriminator and the real and fake batches.
    """
    raise NotImplementedError


@hookspec
def gentool_register_datasets() -> list[type[DatasetPlugin]]:
    """Return dataset classes (subclasses of :class:`gentool.data.base.DatasetPlugin`).

    A dataset yields uint8 images ``(N, C, H, W)`` at a requested resolution, and labels
    when it has them.
    """
    raise NotImplementedError


@hookspec
def gentool_register_families() -> list[type[Family]]:
    """Return model-family classes (subclasses of :class:`gentool.family.Family`).

    A family's ``PLUGIN_NAME`` is the ``FAMILY`` its models give. It names its training loop
    (``trainer()``), what its models are for (``USES``: generate, reconstruct, upscale,
    translate), whether it takes a GAN loss and how many image sets it trains on; every
    command, metric and plot asks the family, so a third party adds a whole family (a
    diffusion model, say) without touching gentool. (Hook API 3.)
    """
    raise NotImplementedError


@hookspec
def gentool_register_metrics() -> list[type[Metric]]:
    """Return metric classes (subclasses of :class:`gentool.metrics.base.Metric`).

    A metric's ``PLUGIN_NAME`` is what ``gentool evaluate --metrics`` takes; ``NEEDS`` says
    which uses of a model family it measures (``generate``, ``reconstruct``, ``upscale``,
    ``translate``), so it applies to every family that serves one, a third party's included.
    (Hook API 3.)
    """
    raise NotImplementedError


@hookspec
def gentool_register_callbacks() -> list[type[Callback]]:
    """Return training-callback classes (subclasses of :class:`gentool.callback.Callback`).

    A callback is a side job of training (a logger, a periodic job) that a run switches on
    with ``gentool train --callback NAME``; the engine calls its events (fit start, log
    interval, sample grid, checkpoint, fit end) and saves its state in every checkpoint, so
    ``--resume`` continues it exactly. (Hook API 3.)
    """
    raise NotImplementedError


@hookspec
def gentool_register_trainers() -> list[type[Trainer]]:
    """Return training-loop classes (subclasses of :class:`gentool.training.base.Trainer`).

    Kept for version-2 plugins: a loop registered here alone, under a ``PLUGIN_NAME`` that
    no family claims, stands for a family whose models generate images and take no GAN loss
    (:func:`gentool.family.legacy_family`). New plugins register a
    :class:`~gentool.family.Family` through :func:`gentool_register_families` instead, whose
    ``trainer()`` returns the loop. (Hook API 2.)
    """
    raise NotImplementedError


@hookspec
def gentool_register_commands(cli: Any) -> None:
    """Add click commands to the ``gentool`` group (``cli.add_command(...)``).

    A command may not take a name already in use: a built-in command (or an earlier plugin's)
    is kept, and the clash is a warning. A plugin command that fails is one line naming it.
    """
