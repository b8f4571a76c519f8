"""Denoising diffusion for gentool: a whole model family from a third-party distribution.

Registers the ``diffusion`` family (:class:`~gentool_ddpm.family.DiffusionFamily`, whose
loop is :class:`~gentool_ddpm.trainer.DiffusionTrainer`) and its model ``ddpm``
(:class:`~gentool_ddpm.model.DdpmModel`). gentool finds it through this entry point, in the
plugin's ``pyproject.toml``::

    [project.entry-points.gentool]
    ddpm = "gentool_ddpm"

Then ``gentool train ddpm --dataset digits --image-size 16`` trains one, and ``gentool
sample``, ``evaluate`` and ``plot`` use it like any generative model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gentool.hookspecs import hookimpl

if TYPE_CHECKING:
    from gentool.family import Family
    from gentool.models.base import ModelPlugin

#: The gentool hook-API version this plugin was written for (3: families are registered).
GENTOOL_API_VERSION = 3


@hookimpl
def gentool_register_families() -> list[type[Family]]:
    from gentool_ddpm.family import DiffusionFamily

    return [DiffusionFamily]


@hookimpl
def gentool_register_models() -> list[type[ModelPlugin]]:
    from gentool_ddpm.model import DdpmModel

    return [DdpmModel]
