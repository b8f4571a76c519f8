"""Built-in training loops, one per model family, registered through the same hook as
third-party ones (``gentool_register_trainers``): a loop's ``PLUGIN_NAME`` is the family."""

from __future__ import annotations

from typing import Any

from gentool.hookspecs import hookimpl


@hookimpl
def gentool_register_trainers() -> list[type[Any]]:
    from gentool.training.cyclegan import CycleGanTrainer
    from gentool.training.gan import GanTrainer
    from gentool.training.image2image import Image2ImageTrainer
    from gentool.training.vae import VaeTrainer

    return [GanTrainer, VaeTrainer, Image2ImageTrainer, CycleGanTrainer]
