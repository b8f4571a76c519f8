"""The training engine's own side jobs, written as callbacks (:class:`gentool.callback.Callback`)
beside the ones a run switches on with ``--callback``, and the helpers that build a run's
callbacks from its options or its checkpoint."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from gentool.callback import Callback
from gentool.checkpoint_schema import CheckpointMeta
from gentool.errors import GentoolError, TrainingStopped
from gentool.run_folder import RunFolder


class NonFiniteGuard(Callback):
    """Stops the run, naming the value, the model and the loss, when a step's loss or
    statistic is NaN or infinite (before it is logged or saved). Every step on the CPU, where
    reading a value back is free; at log intervals on an accelerator, where it would wait for
    the device. Runs on every process, so all of a distributed run stop together."""

    PLUGIN_NAME = "non-finite-guard"
    DESCRIPTION = "stop with one line when a loss becomes NaN or infinite"
    EVERY_PROCESS = True

    def on_step_end(self, trainer: Any) -> None:
        values = trainer.step_values
        if values is None:
            return
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if not bad:
            return
        from gentool.plugins import named

        ckpt = trainer.run.checkpoint
        where = (
            f"the last good checkpoint is {ckpt}" if ckpt.exists() else "no checkpoint was written"
        )
        loss = f", loss {named('loss', trainer.loss)}" if trainer.loss is not None else ""
        raise TrainingStopped(
            f"'{bad[0]}' became {values[bad[0]]} at step {trainer.step} (model "
            f"{named('model', trainer.model)}{loss}); training stopped and {where} (try a lower "
            "learning rate)."
        )


class LogInterval(Callback):
    """Every ``--log-every`` steps and at the last one: adds the held-out statistics to the
    step's values and hands the record to every side job's :meth:`Callback.on_log`. Runs on
    every process: the held-out pass may need all of a distributed run's processes."""

    PLUGIN_NAME = "log-interval"
    DESCRIPTION = "build the log record every --log-every steps"
    EVERY_PROCESS = True

    def on_step_end(self, trainer: Any) -> None:
        step, total = trainer.step, trainer.total_steps
        if step % trainer.settings.log_every == 0 or step == total:
            values = dict(trainer.step_values or trainer.read_step_values())
            values.update(trainer.held_out())
            trainer.record(values)


class SampleGrids(Callback):
    """``RUN/samples/step_NNNNNN.png``: the family's sample grid at step 0 of a new run, every
    ``--sample-every`` steps and at the last one."""

    PLUGIN_NAME = "sample-grids"
    DESCRIPTION = "write the sample grid every --sample-every steps"

    def on_fit_start(self, trainer: Any) -> None:
        if trainer.step == 0:
            trainer.samples()

    def on_step_end(self, trainer: Any) -> None:
        step = trainer.step
        if step % trainer.settings.sample_every == 0 or step == trainer.total_steps:
            trainer.samples()


class Checkpointing(Callback):
    """``RUN/ckpt.safetensors`` every ``--checkpoint-every`` steps and at the last one."""

    PLUGIN_NAME = "checkpointing"
    DESCRIPTION = "save the checkpoint every --checkpoint-every steps"

    def on_step_end(self, trainer: Any) -> None:
        step = trainer.step
        if step % trainer.settings.checkpoint_every == 0 or step == trainer.total_steps:
            trainer.saved()


class Snapshots(Callback):
    """``RUN/snapshots/step_NNNNNN.safetensors`` every ``--keep-every`` steps (and at step 0 of
    a new run): the model's weights (and the averaged generator of ``--ema``) with the settings
    that rebuild it, no optimizer or random state, so that ``sample RUN --step S`` and ``plot
    timeline -n`` can draw a kept step again. Not a checkpoint to resume from (``--init-from``
    takes one)."""

    PLUGIN_NAME = "snapshots"
    DESCRIPTION = "keep the weights every --keep-every steps in RUN/snapshots"

    def on_fit_start(self, trainer: Any) -> None:
        if trainer.step == 0:
            self.keep(trainer)

    def on_step_end(self, trainer: Any) -> None:
        if trainer.step % trainer.settings.keep_every == 0:
            self.keep(trainer)

    @staticmethod
    def keep(trainer: Any) -> None:
        from gentool.checkpoint import save_checkpoint

        tensors = {f"model.{k}": v for k, v in trainer.model.state_dict().items()}
        for section, values in trainer.checkpoint_sections().items():
            tensors.update({f"{section}.{k}": v for k, v in values.items()})
        meta = trainer.run_meta()
        meta["step"] = trainer.step
        path = RunFolder(trainer.out).snapshot_path(trainer.step)
        trainer.guard_write(lambda: save_checkpoint(path, tensors, meta))


def check_keep_every(settings: Any, total_steps: int, step: int = 0, kept: int = 0) -> None:
    """A run keeps at most :data:`~gentool.training.settings.MAX_SNAPSHOTS` snapshots, so its
    disk use stays bounded: the ``kept`` ones (a resumed run's, up to ``step``) and those to
    come up to ``total_steps`` (step 0's too, for a new run); a finer ``--keep-every`` is
    refused before anything is written."""
    from gentool.training.settings import MAX_SNAPSHOTS

    def coming(every: int) -> int:
        return total_steps // every - step // every + (1 if step == 0 else 0)

    every = settings.keep_every
    if every is None or kept + coming(every) <= MAX_SNAPSHOTS:
        return
    room = MAX_SNAPSHOTS - kept
    least = max(1, -(-(total_steps - step) // max(room, 1)))
    while room > 0 and kept + coming(least) > MAX_SNAPSHOTS:
        least += 1
    advice = f"use --keep-every {least} or more" if room > 0 else "drop --keep-every"
    already = f" (it has kept {kept})" if kept else ""
    raise GentoolError(
        f"--keep-every {every} would keep {kept + coming(every)} snapshots of a "
        f"{total_steps}-step run{already}; a run keeps at most {MAX_SNAPSHOTS}: {advice}."
    )


class JsonlLog(Callback):
    """``RUN/log.jsonl``: one JSON record per log interval (the run's record, which a resume
    cuts back to its checkpoint's step)."""

    PLUGIN_NAME = "jsonl-log"
    DESCRIPTION = "one JSON line per log interval in RUN/log.jsonl"

    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        trainer.guard_write(lambda: RunFolder(trainer.out).append_log(record))


class ProgressDisplay(Callback):
    """The live progress bar (step, rate, time left, the loop's ``progress_keys``); piped into
    a file, where a live bar is truncated and garbled, one whole line per log interval."""

    PLUGIN_NAME = "progress"
    DESCRIPTION = "the progress bar, or plain lines when not on a terminal"

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.progress: Any = None
        self.task: Any = None
        self.plain = False
        self.started = 0.0
        self.first_step = 0

    def on_fit_start(self, trainer: Any) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.plain = not trainer.console.is_terminal
        self.started = time.monotonic()
        self.first_step = trainer.step
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[losses]}"),
            console=trainer.console,
            disable=self.plain,
            transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task(
            f"train {trainer.model.PLUGIN_NAME}",
            total=trainer.total_steps,
            completed=trainer.step,
            rate="",
            losses="",
        )

    def on_step_end(self, trainer: Any) -> None:
        self.progress.update(self.task, completed=trainer.step)

    def times(self, trainer: Any) -> str:
        """``elapsed 1m05s  left 3m20s`` for the plain lines: time since this process started
        training, and the steps left at the average rate of its steps so far."""
        elapsed = time.monotonic() - self.started
        done = trainer.step - self.first_step
        left = (trainer.total_steps - trainer.step) * elapsed / done if done > 0 else None
        return f"elapsed {_clock(elapsed)}  left {_clock(left) if left is not None else '?'}"

    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        rate = float(record.get("images_per_s", 0.0)) / max(1, trainer.sampler.batch_size)
        shown = "  ".join(f"{k}={record[k]:.3f}" for k in trainer.progress_keys if k in record)
        self.progress.update(self.task, rate=f"{rate:.1f} step/s", losses=shown)
        if self.plain:  # not a terminal (CI, nohup): one whole line each time
            trainer.console.print(
                f"step {trainer.step}/{trainer.total_steps}  {rate:.2f} step/s  "
                f"{self.times(trainer)}  {shown}",
                soft_wrap=True,
                highlight=False,
            )

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def _clock(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class TensorBoard(Callback):
    """``--tensorboard``: scalars at each log interval and the sample grids, in
    ``RUN/tensorboard``."""

    PLUGIN_NAME = "tensorboard"
    DESCRIPTION = "scalars and sample grids for TensorBoard in RUN/tensorboard"

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.writer: Any = None

    def on_fit_start(self, trainer: Any) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise GentoolError(
                "--tensorboard needs the tensorboard package: pip install 'gentool[tensorboard]'."
            ) from None
        # purge_step: a resumed run drops the events a killed run wrote after its checkpoint
        self.writer = SummaryWriter(
            log_dir=str(RunFolder(trainer.out).tensorboard), purge_step=trainer.step + 1
        )

    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        for key, value in record.items():
            if key not in ("step", "time") and isinstance(value, (int, float)):
                self.writer.add_scalar(key, value, trainer.step)

    def on_samples(self, trainer: Any, path: Path) -> None:
        if not path.is_file():
            return
        import numpy as np
        from PIL import Image

        with Image.open(path) as grid:
            pixels = np.asarray(grid.convert("RGB"))
        self.writer.add_image("samples", pixels, trainer.step, dataformats="HWC")

    def on_fit_end(self, trainer: Any) -> None:
        self.close()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def parse_callbacks(names: tuple[str, ...], options: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``--callback NAME`` (repeatable) and ``--callback-opt NAME.KEY=VALUE`` as
    ``{name: {key: value}}``, in the order given; an option for a callback not switched on,
    or a callback named twice, is refused by name."""
    chosen: dict[str, dict[str, Any]] = {}
    for name in names:
        if name in chosen:
            raise GentoolError(f"--callback {name} is given twice; name each callback once.")
        chosen[name] = {}
    for pair in options:
        target, eq, value = pair.partition("=")
        name, dot, key = target.partition(".")
        if not eq or not dot or not name.strip() or not key.strip():
            raise GentoolError(
                f"--callback-opt {pair!r} must read NAME.KEY=VALUE (e.g. csv-log.every=10)."
            )
        name, key = name.strip(), key.strip()
        if name not in chosen:
            raise GentoolError(
                f"--callback-opt {pair} is for callback '{name}', which is not switched on; "
                f"add --callback {name}."
            )
        if key.replace("-", "_") in {k.replace("-", "_") for k in chosen[name]}:
            raise GentoolError(f"--callback-opt gives {name}.{key} twice; keep one.")
        chosen[name][key.replace("-", "_")] = value.strip()
    return chosen


def build_callbacks(chosen: dict[str, dict[str, Any]]) -> list[Callback]:
    """The registered callbacks ``chosen`` names, built from their options."""
    from gentool.plugins import get_callback_class

    return [get_callback_class(name).from_options(options) for name, options in chosen.items()]


def saved_callbacks(info: CheckpointMeta, where: str) -> list[Callback]:
    """The callbacks a checkpoint's run used (its ``callbacks``), rebuilt with their saved
    options; a missing plugin names the distribution to install."""
    from gentool.plugins import get_recorded_class

    recorded = info.plugins.get("callbacks")
    recorded = recorded if isinstance(recorded, dict) else {}
    out = []
    for name, options in info.callbacks.items():
        cls = get_recorded_class("callback", str(name), recorded.get(name), where)
        out.append(cls.from_options(options))
    return out
