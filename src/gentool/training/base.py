"""The machinery every training loop shares (settings, batches, interruption and what a
checkpoint holds live in :mod:`~gentool.training.settings`, :mod:`~gentool.training.sampler`,
:mod:`~gentool.training.interrupt` and :mod:`~gentool.training.state`; the side jobs in
:mod:`~gentool.training.callbacks`).

:class:`Trainer` owns the run folder, batching from the in-memory dataset, the rich progress
display, the JSON-lines log, periodic sample grids, atomic checkpoints, exact resume, the
non-finite-loss guard and clean interruption (Ctrl-C / SIGTERM). A family's loop subclasses it
and implements :meth:`Trainer.train_step` (and usually :meth:`Trainer.write_samples`).

A run folder holds::

    RUN/ckpt.safetensors    latest checkpoint (weights, optimizers, RNG, config)
    RUN/log.jsonl           one JSON object per logged step
    RUN/config.json         the model, loss, data and training settings, for people
    RUN/samples/            sample grids from fixed inputs, step_000500.png, ...
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import math
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from gentool.callback import Callback
from gentool.checkpoint import (
    Checkpoint,
    save_checkpoint,
)
from gentool.config_file import render_run_file
from gentool.data.base import DataSpec, ImageData, to_float
from gentool.distributed import (
    barrier,
    check_batch,
    check_sync_batchnorm,
    init_distributed,
)
from gentool.errors import GentoolError, Interrupted, OutputError, TrainingStopped
from gentool.family import TrainingLoop
from gentool.fileio import atomic_write_text, probe_writable
from gentool.models.base import ModelPlugin
from gentool.run_folder import RunFolder
from gentool.runtime import format_bytes, resolve_device
from gentool.training import state as checkpoint_state
from gentool.training.ema import GeneratorEma
from gentool.training.graphs import StepGraph
from gentool.training.interrupt import Interrupt
from gentool.training.sampler import BatchSampler
from gentool.training.settings import TrainSettings, make_optimizer


class Trainer(TrainingLoop):
    """Shared training loop. Subclasses implement :meth:`train_step` and friends.

    A family (:class:`gentool.family.Family`) names its loop with ``trainer()``; a loop
    registered alone through the version-2 ``gentool_register_trainers`` stands for a
    family of its own, its ``PLUGIN_NAME``.
    """

    #: Losses and statistics shown in the progress line, in this order.
    progress_keys: tuple[str, ...] = ()

    def __init__(
        self,
        model: ModelPlugin,
        data: ImageData,
        settings: TrainSettings,
        *,
        data_spec: DataSpec,
        loss: Any = None,
        console: Console | None = None,
    ) -> None:
        settings.validate()
        self.model = model
        self.data = data
        self.settings = settings
        self.data_spec = data_spec
        self.loss = loss
        self.console = console or Console(stderr=True)
        if settings.threads is not None:
            torch.set_num_threads(settings.threads)
        #: Side jobs a run switched on (``--callback``); the engine adds its own in :meth:`fit`.
        self.callbacks: list[Callback] = []
        self._jobs: list[Callback] = []
        self._stats: dict[str, Any] = {}
        #: The last step's statistics as numbers, when read (every step on the CPU, at log
        #: intervals on an accelerator), else ``None``: what the non-finite guard checks.
        self.step_values: dict[str, float] | None = None
        if settings.tensorboard and importlib.util.find_spec("tensorboard") is None:
            raise GentoolError(
                "--tensorboard needs the tensorboard package: pip install 'gentool[tensorboard]'."
            )
        self.device = resolve_device(settings.device)
        self.world = init_distributed(self.device)
        check_batch(settings.batch_size, self.world)
        if settings.sync_batchnorm and not self.world.distributed:
            raise GentoolError(
                "--sync-bn shares BatchNorm statistics between torchrun processes; this is "
                "one process: drop it, or start with torchrun --nproc-per-node N."
            )
        self.out = Path(settings.out)
        #: The run folder's names (:class:`gentool.run_folder.RunFolder`).
        self.run = RunFolder(self.out)
        self.step = 0
        self.is_main = self.world.is_main
        if settings.batch_size > len(data):
            raise GentoolError(
                f"--batch-size {settings.batch_size} is larger than the training data "
                f"({len(data)} images); use at most --batch-size {len(data)}."
            )
        #: A digest of the decoded training images and labels: a resume checks it is unchanged.
        self.data_fingerprint = fingerprint(data)
        #: Set when a resume continues on changed data (``--accept-data-change``).
        self.data_changed = False
        #: Resumes of this run: step, source checkpoint and the settings that changed.
        self.history: list[dict[str, Any]] = []
        #: This run's identity, kept through resumes: its snapshots carry it, so that only
        #: they are ever taken (or removed) as the run's own.
        self.run_id = uuid.uuid4().hex
        #: ``--init-from``: the checkpoint the weights started from (path, sha256, step).
        self.init_from: dict[str, Any] | None = None
        #: ``--ema``: loops that keep an averaged generator set it (saved as section ``ema``).
        self.ema: GeneratorEma | None = None
        self.sampler = BatchSampler(
            len(data), settings.batch_size, settings.seed, self.world.rank, self.world.size
        )
        self.model.to(self.device)
        if self.device.type == "cuda":
            # Shapes are fixed during training: let cuDNN time its algorithms once and keep the
            # fastest (the choice may differ between runs; the arithmetic stays float32/bf16).
            torch.backends.cudnn.benchmark = True
        if settings.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self._hold_data_on_device()
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self._last_log_time = 0.0
        self._last_log_step = 0
        self._step_graph: StepGraph | None = None
        self._graph_decided = False
        self._compile_checked = False
        self._compile_tried = False

    # --- to implement: train_step (see TrainingLoop), and optionally these ----------------
    def write_samples(self, path: Path) -> None:
        """Write a sample grid from fixed inputs to ``path``."""

    def extra_state(self) -> dict[str, torch.Tensor]:
        """Tensors besides the model and optimizers to keep in the checkpoint (``trainer.*``)."""
        return {}

    def load_extra_state(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore what :meth:`extra_state` saved."""

    def checkpoint_sections(self) -> dict[str, dict[str, torch.Tensor]]:
        """Additional named tensor sections: the ``ema`` generator when the loop keeps one."""
        return self.ema.sections() if self.ema is not None else {}

    def held_out_stats(self) -> dict[str, float]:
        """Values measured on held-out data at each log interval (e.g. the VAE's test ELBO),
        logged beside the training values. None by default."""
        return {}

    def unused_settings(self) -> tuple[str, ...]:
        """Training settings this run's loop does not use: given explicitly, they are refused."""
        return self.UNUSED_SETTINGS

    def uses_gan_loss(self) -> bool:
        """Whether this run's loop uses its GAN loss (``--loss``/``--loss-opt`` are refused
        when it does not, instead of being recorded and ignored)."""
        return self.loss is not None

    def apply_learning_rates(self, changed: set[str]) -> None:
        """After a resume, set the optimizers to learning rates the user changed."""
        for name, opt in self.optimizers.items():
            key = "lr_d" if name.startswith("discriminator") else "lr_g"
            if key in changed:
                for group in opt.param_groups:
                    group["lr"] = getattr(self.settings, key)
        base = getattr(self, "base_lr", None)
        if isinstance(base, dict):
            for name in base:
                key = "lr_d" if name.startswith("discriminator") else "lr_g"
                if key in changed:
                    base[name] = getattr(self.settings, key)

    def cuda_graph_blocker(self) -> str | None:
        """Why this trainer's step cannot be replayed from a CUDA graph (None: it can).

        A step can be graphed when its shapes are fixed and it reads no host value that changes
        from step to step (learning-rate schedules, annealing weights, fresh batches fetched
        inside the step). Families opt in by overriding this.
        """
        return f"the {self.model.FAMILY} training step is not graph-safe"

    def wrap_distributed(self) -> None:
        """Wrap the trained networks in DistributedDataParallel (called once, under torchrun)."""
        raise GentoolError(
            f"{type(self).__name__} does not support multi-process training yet; run one process."
        )

    def _hold_data_on_device(self) -> None:
        """Keep the uint8 dataset on the GPU when it takes under a quarter of free memory."""
        if self.device.type != "cuda":
            return
        free, _ = torch.cuda.mem_get_info(self.device)
        if self.data.images.numel() < free // 4:
            self.data.images = self.data.images.to(self.device)
            if self.data.labels is not None:
                self.data.labels = self.data.labels.to(self.device)

    def autocast(self) -> Any:
        """Context for forward passes: bf16 autocast when asked, else nothing."""
        enabled = self.settings.precision == "bf16"
        # Cached weight casts must not outlive a captured graph: no cache with CUDA graphs.
        cache = not self.settings.cuda_graphs
        return torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=enabled, cache_enabled=cache
        )

    def compile_targets(self) -> list[torch.nn.Module]:
        """The networks ``--compile`` compiles, each separately: the model's direct
        sub-networks, less a discriminator whose loss needs double backward (a gradient
        penalty), which compiled graphs do not support."""
        networks = [m for m in self.model.children() if any(True for _ in m.parameters())]
        critic = getattr(self.model, "discriminator", None)
        if critic is not None and getattr(self.loss, "NEEDS_DOUBLE_BACKWARD", False):
            networks = [m for m in networks if m is not critic]
            if self.is_main:
                self.console.print(
                    "[yellow]--compile: the discriminator stays eager (the gradient penalty "
                    "needs double backward, which compiled graphs do not support)[/]"
                )
        return networks

    def maybe_compile(self, module: torch.nn.Module) -> Any:
        """Compile ``module`` in place (``nn.Module.compile``: its weight names do not change,
        so checkpoints of compiled runs load anywhere)."""
        if not self.settings.compile:
            return module
        try:
            module.compile()
        except Exception as exc:  # compile is an optimisation: never a reason to stop
            self.console.print(f"[yellow]torch.compile unavailable ({exc}); running eagerly[/]")
        return module

    def run_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One training step: :meth:`train_step`, or its CUDA-graph replay (``--cuda-graphs``).

        With ``--compile``, compilation happens in the first step; if it fails there, the
        weights, optimizer state and random streams are put back as they were before the
        step, the networks are uncompiled, and the step runs eagerly after a one-line notice.
        """
        if self.settings.cuda_graphs and not self._graph_decided:
            self._graph_decided = True
            self._step_graph = self._make_step_graph()
        if self.settings.compile and not self._compile_checked:
            self._compile_checked = True
            for network in self.compile_targets():
                self.maybe_compile(network)
        if self._compiled_modules() and not self._compile_tried:
            self._compile_tried = True
            before = self._snapshot()
            try:
                return self._dispatch(batch)
            except GentoolError:
                raise  # a user-facing problem (e.g. a loss returning the wrong shape), not compile
            except Exception as exc:
                self._restore_snapshot(before)
                for module in self._compiled_modules():
                    module._compiled_call_impl = None
                reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
                self.console.print(
                    f"[yellow]--compile: compiling the networks failed ({type(exc).__name__}: "
                    f"{reason}); running eagerly[/]"
                )
        return self._dispatch(batch)

    def _dispatch(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self._step_graph is not None:
            return self._step_graph(batch)
        return self.train_step(batch)

    def _compiled_modules(self) -> list[torch.nn.Module]:
        return [m for m in self.model.modules() if getattr(m, "_compiled_call_impl", None)]

    def _snapshot(self) -> dict[str, Any]:
        return {
            "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            "optimizers": {k: copy.deepcopy(o.state_dict()) for k, o in self.optimizers.items()},
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
        }

    def _restore_snapshot(self, snapshot: dict[str, Any]) -> None:
        self.model.load_state_dict(snapshot["model"])
        for name, state in snapshot["optimizers"].items():
            self.optimizers[name].load_state_dict(state)
        torch.set_rng_state(snapshot["rng"])
        if snapshot["cuda_rng"] is not None:
            torch.cuda.set_rng_state_all(snapshot["cuda_rng"])
        for p in self.model.parameters():
            p.grad = None

    def _make_step_graph(self) -> StepGraph | None:
        why = None
        if self.device.type != "cuda":
            why = "CUDA graphs need a CUDA device"
        elif self.world.distributed:
            why = "not under torchrun (DistributedDataParallel)"
        else:
            why = self.cuda_graph_blocker()
        if why is not None:
            if self.is_main:
                self.console.print(f"[yellow]--cuda-graphs: {why}; running eagerly[/]")
            return None
        return StepGraph(
            self.train_step, notice=lambda text: self.console.print(f"[yellow]{text}[/]")
        )

    # --- derived settings ------------------------------------------------------------------
    @property
    def total_steps(self) -> int:
        s = self.settings
        if s.steps is not None:
            return s.steps
        if s.epochs is not None:
            return max(1, math.ceil(s.epochs * self.sampler.batches_per_epoch))
        return 1000

    def batch(self) -> dict[str, torch.Tensor]:
        idx = self.sampler.next_indices()
        if self.data.images.device.type == "cuda":
            # From pinned memory the copy is queued without waiting for the GPU to go idle.
            idx = idx.pin_memory().to(self.data.images.device, non_blocking=True)
        images = to_float(self.data.images[idx].to(self.device, non_blocking=True))
        if self.settings.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        out = {"images": images}
        if self.data.labels is not None:
            out["labels"] = self.data.labels[idx].to(self.device, non_blocking=True)
        return out

    # --- checkpoints ----------------------------------------------------------------------
    def run_meta(self) -> dict[str, Any]:
        """What rebuilds this run's model, loss and data (:func:`gentool.training.state.run_meta`)."""
        return checkpoint_state.run_meta(self)

    def provenance(self) -> dict[str, Any]:
        """Which distribution provided each plugin of the run."""
        return checkpoint_state.provenance(self)

    def save(self, path: Path | None = None) -> Path:
        """Write the checkpoint atomically; on failure the previous one stays intact."""
        path = path or self.run.checkpoint
        try:
            return self._save(path)
        except (OSError, OutputError) as exc:
            kept = (
                "the previous checkpoint is intact" if path.exists() else "no checkpoint exists yet"
            )
            reason = exc.strerror if isinstance(exc, OSError) else (exc.reason or exc.message)
            raise TrainingStopped(
                f"could not write checkpoint {path} at step {self.step} ({reason or exc}); {kept}."
            ) from None

    def _save(self, path: Path) -> Path:
        tensors, meta = checkpoint_state.training_state(self)
        return save_checkpoint(path, tensors, meta)

    def restore(self, ckpt: Checkpoint) -> None:
        """Continue from a checkpoint written by :meth:`save` (same model and config); every
        field is validated before it is used (:func:`gentool.training.state.restore_state`)."""
        checkpoint_state.restore_state(self, ckpt)

    # --- the loop --------------------------------------------------------------------------
    def check_output(self) -> None:
        """Fail before training when the run folder cannot be written."""
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            probe_writable(self.run.checkpoint)
        except OSError as exc:
            raise GentoolError(
                f"cannot write to run folder {self.out}: {exc.strerror or exc}; choose another --out."
            ) from None
        except OutputError as exc:
            raise GentoolError(
                f"cannot write to run folder {self.out}: {exc.reason or exc.message}; choose "
                "another --out."
            ) from None

    def _write_config(self) -> None:
        meta = self.run_meta()
        text = json.dumps(meta, indent=2) + "\n"
        self.guard_write(lambda: atomic_write_text(self.run.config, text))
        settings = render_run_file(
            model=meta["model"],
            loss=meta.get("loss"),
            data=meta["data"],
            train=meta["train"],
            model_config=meta["model_config"],
            loss_config=meta.get("loss_config"),
            skip=self.unused_settings() + self.settings.unused_by_optimizer(),
            init_from=self.init_from["path"] if self.init_from else None,
            callbacks=meta.get("callbacks"),
        )
        self.guard_write(lambda: atomic_write_text(self.run.run_file, settings))

    def samples(self) -> None:
        """Write the sample grid of this step and tell the side jobs."""
        was_training = self.model.training
        self.model.eval()
        path = self.run.sample_path(self.step)
        try:
            self.guard_write(lambda: self.write_samples(path))
        finally:
            self.model.train(was_training)
        for job in self._jobs:
            job.on_samples(self, path)

    def saved(self) -> None:
        """Save the checkpoint of this step and tell the side jobs."""
        path = self.save()
        for job in self._jobs:
            job.on_save(self, path)

    def guard_write(self, write: Any) -> None:
        """Run a write of the run folder; if it fails (full disk, folder removed), stop with
        one line, after trying to save the checkpoint of the current step."""
        try:
            write()
        except (OSError, OutputError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else (exc.reason or exc.message)
            ckpt = self.run.checkpoint
            try:
                if self.step > 0:
                    self._save(ckpt)
                    kept = f"saved step {self.step} to {ckpt}"
                else:
                    kept = "no checkpoint was written"
            except (OSError, OutputError):
                kept = (
                    f"the previous checkpoint {ckpt} is intact"
                    if ckpt.exists()
                    else "no checkpoint exists yet"
                )
            raise TrainingStopped(
                f"could not write to run folder {self.out} at step {self.step} ({reason}); {kept}."
            ) from None

    def fit(self) -> Path:
        """Train until ``total_steps``; return the checkpoint path."""
        total = self.total_steps
        if self.is_main:
            self.check_output()
            self._write_config()
        if self.world.distributed:
            if self.settings.sync_batchnorm:
                check_sync_batchnorm(self.device, self.world)
            self.wrap_distributed()
        self.model.train()
        interrupt = Interrupt()
        self._last_log_time = started = time.perf_counter()
        self._last_log_step = first_step = self.step
        self._jobs = [job for job in self._side_jobs() if self.is_main or job.EVERY_PROCESS]
        for job in self._jobs:
            job.on_fit_start(self)
        with interrupt.installed(), self._closing_jobs():
            while self.step < total:
                self._stats = self.run_step(self.batch())
                self.step += 1
                self.step_values = None
                if self.device.type == "cpu" or self.step % self.settings.log_every == 0:
                    self.step_values = self.read_step_values()
                for job in self._jobs:
                    job.on_step_end(self)
                if interrupt.requested:
                    if self.is_main:
                        self.saved()
                    raise Interrupted(
                        f"{interrupt.requested} received: saved step {self.step} to {self.run.checkpoint}; "
                        f"resume with: gentool train --resume {self.out}"
                    )
            for job in self._jobs:
                job.on_fit_end(self)
        barrier()
        if self.is_main:
            self._summary(self.step - first_step, time.perf_counter() - started)
        return self.run.checkpoint

    def read_step_values(self) -> dict[str, float]:
        """The last step's statistics as numbers (on an accelerator this waits for it)."""
        return {k: float(v) for k, v in self._stats.items()}

    def held_out(self) -> dict[str, float]:
        """The family's held-out statistics (:meth:`held_out_stats`), in eval mode."""
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                return self.held_out_stats()
        finally:
            self.model.train(was_training)

    def _summary(self, steps: int, seconds: float) -> None:
        """The closing line: steps, wall time and the average rate over the whole run."""
        minutes, rest = divmod(round(seconds), 60)
        rate = steps / max(seconds, 1e-9)
        images = rate * self.sampler.batch_size
        self.console.print(
            f"trained {steps} step(s) in {minutes}m{rest:02d}s: {rate:.2f} step/s, "
            f"{images:.0f} images/s on average",
            soft_wrap=True,
            highlight=False,
        )
        used = {k: v for k, v in self.run.disk_use().items() if v[0]}
        counted = ("snapshots", "sample grids")
        parts = [
            f"{files} {what} {format_bytes(size)}"
            if what in counted
            else f"{what} {format_bytes(size)}"
            for what, (files, size) in used.items()
        ]
        total = sum(size for _, size in used.values())
        self.console.print(
            f"{self.out} holds {format_bytes(total)}: {', '.join(parts)}",
            soft_wrap=True,
            highlight=False,
        )

    def _side_jobs(self) -> list[Callback]:
        """What runs beside the steps, in this order: the non-finite guard, the log interval,
        checkpointing, the JSONL log, the progress bar (plain lines when not on a terminal),
        TensorBoard with ``--tensorboard``, the run's own callbacks, then the sample grids
        (last, so that every job has started when the step-0 grid is announced)."""
        from gentool.training.callbacks import (
            Checkpointing,
            JsonlLog,
            LogInterval,
            NonFiniteGuard,
            ProgressDisplay,
            SampleGrids,
            Snapshots,
            TensorBoard,
        )

        jobs: list[Callback] = [NonFiniteGuard(), LogInterval(), Checkpointing()]
        if self.settings.keep_every is not None:
            jobs.append(Snapshots())
        jobs += [JsonlLog(), ProgressDisplay()]
        if self.settings.tensorboard:
            jobs.append(TensorBoard())
        return [*jobs, *self.callbacks, SampleGrids()]

    @contextlib.contextmanager
    def _closing_jobs(self) -> Iterator[None]:
        """Close what the side jobs hold open (a TensorBoard writer), however training ends."""
        try:
            yield
        finally:
            for job in self._jobs:
                close = getattr(job, "close", None)
                if callable(close):
                    close()

    def record(self, values: dict[str, float]) -> None:
        """Complete a log record (step, epoch, time, learning rates, images/s) and hand it to
        every side job's ``on_log``."""
        now = time.perf_counter()
        steps = self.step - self._last_log_step
        elapsed = max(now - self._last_log_time, 1e-9)
        images_per_s = steps * self.sampler.batch_size / elapsed
        self._last_log_time, self._last_log_step = now, self.step
        record: dict[str, Any] = {
            "step": self.step,
            "epoch": self.sampler.epoch,
            "time": time.time(),
        }
        record.update(values)
        for name, opt in self.optimizers.items():
            record[f"lr_{name}"] = opt.param_groups[0]["lr"]
        record["images_per_s"] = images_per_s
        for job in self._jobs:
            job.on_log(self, record)


def fingerprint(data: ImageData) -> str:
    """A digest of the decoded training images (and labels), to detect changed data."""
    import hashlib

    digest = hashlib.blake2b(digest_size=16)
    images = data.images.detach().cpu().contiguous()
    digest.update(str(tuple(images.shape)).encode())
    digest.update(images.numpy().tobytes())
    if data.labels is not None:
        digest.update(data.labels.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


__all__ = ["BatchSampler", "TrainSettings", "Trainer", "fingerprint", "make_optimizer"]
