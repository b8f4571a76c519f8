"""The training-callback plugin interface: side jobs of a training run (a logger, a periodic
job) that a third party adds without touching the loop.

A callback is a class registered through ``gentool_register_callbacks`` (hook API 3) and
switched on for a run with ``gentool train ... --callback NAME`` (options with
``--callback-opt NAME.key=value``, converted to the fields of its dataclass ``Config``). The
training engine first calls :meth:`Callback.check` (a callback may refuse the run there,
before anything is written or removed), then its events, on the main process only:

* :meth:`Callback.on_fit_start` once, when training (or a resumed run) starts;
* :meth:`Callback.on_step_end` after every step (keep it cheap);
* :meth:`Callback.on_log` at every log interval, with the record written to ``log.jsonl``;
* :meth:`Callback.on_samples` after each sample grid is written;
* :meth:`Callback.on_save` after each checkpoint is written (its state is in it);
* :meth:`Callback.on_fit_end` when the last step is done.

A callback's state (:meth:`Callback.state_dict`, tensors) is saved in every checkpoint under
``callback.NAME.*`` and given back to :meth:`Callback.load_state_dict` on ``--resume``, so a
resumed run continues it exactly; the callbacks of a run, and their options, are fixed by its
checkpoint. A file a callback writes goes in ``trainer.out`` under a name of its own (never
gentool's), written with :mod:`gentool.fileio`.

This module is an interface: it imports nothing of gentool's loops or commands.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import torch

from gentool.config import build_config, config_to_dict


@dataclasses.dataclass
class NoOptions:
    """A callback without options."""


class Callback:
    """Base class of training callbacks: subclass it and return it from
    ``gentool_register_callbacks``. Every event does nothing by default."""

    PLUGIN_NAME: ClassVar[str] = ""
    DESCRIPTION: ClassVar[str] = ""
    Config: ClassVar[type] = NoOptions
    #: Also run on the other processes of a distributed run (as the engine's own non-finite
    #: guard and log interval do); by default a callback runs on the main process only.
    EVERY_PROCESS: ClassVar[bool] = False

    def __init__(self, config: Any = None) -> None:
        self.config = config if config is not None else self.Config()

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Callback:
        """Build from ``--callback-opt`` values (converted to the Config's field types;
        unknown keys are refused with the valid ones)."""
        return cls(build_config(cls.Config, dict(options), what=f"'{cls.PLUGIN_NAME}' option"))

    def config_dict(self) -> dict[str, Any]:
        return config_to_dict(self.config)

    def check(self, trainer: Any) -> None:
        """Refuse the run (raise :class:`gentool.errors.GentoolError`, one line) before
        anything is written or removed, e.g. when a file the callback would write is a
        user's. ``trainer.step`` is 0 for a new run, the saved step for a resumed one."""

    # --- events (main process only) -----------------------------------------------------
    def on_fit_start(self, trainer: Any) -> None:
        """Training starts at ``trainer.step`` (0, or the step a resumed run continues at)."""

    def on_step_end(self, trainer: Any) -> None:
        """Step ``trainer.step`` is done (every step: keep it cheap)."""

    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        """A log interval: ``record`` is what ``log.jsonl`` gets (step, epoch, time, every
        logged value, learning rates, images_per_s)."""

    def on_samples(self, trainer: Any, path: Path) -> None:
        """The sample grid of ``trainer.step`` was written to ``path``."""

    def on_save(self, trainer: Any, path: Path) -> None:
        """The checkpoint of ``trainer.step`` was written to ``path``."""

    def on_fit_end(self, trainer: Any) -> None:
        """The run's last step is done (not called when it stops early)."""

    # --- state ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors to keep in the checkpoint, to continue exactly on resume."""
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Take back what :meth:`state_dict` saved (empty for a run saved without it)."""
