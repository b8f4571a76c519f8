"""The options of a training loop (not of the model or the loss), and its optimizers."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch

from gentool.errors import GentoolError
from gentool.runtime import MAX_SEED

#: The most steps a run may take: a billion is 11 days for a tiny model at a thousand
#: steps a second, and years for a real one; more could never finish. Intervals (``--log-every``, ...) are
#: bounded alike: a longer one could never come round.
MAX_STEPS = 10**9
#: The most passes over the data (``--epochs``): a million, far past any real run.
MAX_EPOCHS = 10**6
#: The most images in one step (``--batch-size``): 2**20, past any GPU's memory at any size.
MAX_BATCH_SIZE = 2**20
#: The most discriminator or generator updates in one step (``--d-steps``, ``--g-steps``);
#: published ratios are 1 to 10 (WGAN: 5, some 100 at the start).
MAX_UPDATES_PER_STEP = 1000
#: The most weights-only snapshots one run keeps (``--keep-every``): a run's disk use stays
#: bounded; a finer --keep-every than total steps / this is refused before training starts.
MAX_SNAPSHOTS = 200
#: The most images in a sample grid.
MAX_SAMPLES = 1024
#: Settings an optimizer does not use (RMSprop has no betas): given explicitly they are
#: refused by name (:func:`refuse_unused_by_optimizer`); a run file leaves them out.
UNUSED_BY_OPTIMIZER: dict[str, tuple[str, ...]] = {"adam": (), "rmsprop": ("beta1", "beta2")}


def refuse_unused_by_optimizer(optimizer: str, given: Iterable[str]) -> tuple[str, ...]:
    """The settings ``optimizer`` does not use; one of them in ``given`` (the settings the
    user set, on the command line or in a run file) is refused by name."""
    unused = UNUSED_BY_OPTIMIZER.get(optimizer, ())
    named = sorted(set(given) & set(unused))
    if named:
        raise GentoolError(
            f"--{named[0]} is an Adam setting and --optimizer {optimizer} does not use it; "
            "drop it (from the command line or the --config file), or use --optimizer adam."
        )
    return unused


@dataclass
class TrainSettings:
    """Options of the training loop (not of the model or the loss)."""

    steps: int | None = None
    epochs: float | None = None
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    optimizer: str = "adam"
    #: Discriminator updates per generator update (None: the loss's default).
    d_steps: int | None = None
    #: Generator updates per step, after the discriminator's (``--g-steps 2``: D:G = 1:2).
    g_steps: int = 1
    log_every: int = 50
    sample_every: int = 500
    checkpoint_every: int = 1000
    #: Images in each training sample grid (the fixed noise of a GAN, the prior samples of a
    #: VAE; loops with their own grid layout take ``--train-opt sample_rows`` instead).
    samples: int = 64
    #: Keep a weights-only snapshot every this many steps (``RUN/snapshots/``), so that any
    #: kept step can be sampled again (``sample RUN --step S``); None keeps only the checkpoint.
    keep_every: int | None = None
    seed: int = 0
    device: str = "auto"
    out: str = "runs/run"
    #: Decay of the exponential moving average of G's weights (0: off).
    ema: float = 0.0
    #: Forward passes in bf16 autocast ("bf16") or plain float32 ("fp32"). Losses, the
    #: gradient penalty and optimizer state stay in float32.
    precision: str = "fp32"
    #: Keep activations in channels_last memory format (faster convolutions on GPUs).
    channels_last: bool = False
    #: Compile the networks with torch.compile (each network separately).
    compile: bool = False
    #: On CUDA: capture each whole training step (forward, backward, optimizer) in a CUDA graph
    #: and replay it, where the family's step allows (see :mod:`gentool.training.graphs`).
    cuda_graphs: bool = False
    #: Under torchrun on GPUs: BatchNorm statistics over the global batch (SyncBatchNorm).
    sync_batchnorm: bool = False
    #: CPU threads for torch's kernels (None: torch's default, one per core).
    threads: int | None = None
    #: Also write scalars and sample grids as TensorBoard event files in RUN/tensorboard.
    tensorboard: bool = False
    #: Extra options a family's loop understands (kept as strings, stored with the run).
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def validate(self) -> None:
        if self.steps is not None and self.epochs is not None:
            raise GentoolError(
                f"--steps ({self.steps}) and --epochs ({self.epochs}) both say how long to "
                "train; pass one of them."
            )
        for name in ("epochs", "lr_g", "lr_d", "beta1", "beta2", "ema"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise GentoolError(
                    f"--{name.replace('_', '-')} must be a finite number, not {value}."
                )
        if not 0 <= self.seed <= MAX_SEED:
            raise GentoolError(f"--seed must be between 0 and {MAX_SEED}, not {self.seed}.")
        self._check_count("batch_size", MAX_BATCH_SIZE, "images per step")
        if self.steps is not None:
            self._check_count("steps", MAX_STEPS, "more could never finish")
        if self.epochs is not None and self.epochs <= 0:
            raise GentoolError(f"--epochs must be > 0, not {self.epochs}.")
        if self.epochs is not None and self.epochs > MAX_EPOCHS:
            raise GentoolError(
                f"--epochs must be at most {MAX_EPOCHS} (more could never finish), not "
                f"{self.epochs}."
            )
        for name in ("lr_g", "lr_d"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise GentoolError(
                    f"--{name.replace('_', '-')} must be a positive number, not {value}."
                )
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise GentoolError("Adam betas must be in [0, 1).")
        if self.d_steps is not None:
            self._check_count("d_steps", MAX_UPDATES_PER_STEP, "discriminator updates per step")
        self._check_count("g_steps", MAX_UPDATES_PER_STEP, "generator updates per step")
        for name in ("log_every", "sample_every", "checkpoint_every"):
            self._check_count(name, MAX_STEPS, "the most steps a run may take")
        if self.keep_every is not None:
            self._check_count("keep_every", MAX_STEPS, "the most steps a run may take")
        self._check_count("samples", MAX_SAMPLES, "images in a sample grid")
        if not 0 <= self.ema < 1:
            raise GentoolError("--ema must be in [0, 1).")
        if self.optimizer not in ("adam", "rmsprop"):
            raise GentoolError("--optimizer must be adam or rmsprop.")
        if self.precision not in ("fp32", "bf16"):
            raise GentoolError("--precision must be fp32 or bf16.")
        if self.threads is not None and not 1 <= self.threads <= 4096:
            raise GentoolError(f"--threads must be between 1 and 4096, not {self.threads}.")

    def _check_count(self, name: str, most: int, what: str) -> None:
        value = getattr(self, name)
        if not 1 <= value <= most:
            raise GentoolError(
                f"--{name.replace('_', '-')} must be between 1 and {most} ({what}), not {value}."
            )

    def unused_by_optimizer(self) -> tuple[str, ...]:
        """Settings this run's optimizer does not use (RMSprop: the betas)."""
        return UNUSED_BY_OPTIMIZER.get(self.optimizer, ())


def make_optimizer(
    params: list[torch.nn.Parameter], lr: float, settings: TrainSettings, device: torch.device
) -> torch.optim.Optimizer:
    # A CUDA graph replays the update: the step count must then live on the GPU.
    capturable = settings.cuda_graphs and device.type == "cuda"
    if settings.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, capturable=capturable)
    # foreach kernels batch the per-parameter updates; fused is faster still on CUDA.
    fused = device.type == "cuda"
    return torch.optim.Adam(
        params,
        lr=lr,
        betas=(settings.beta1, settings.beta2),
        fused=fused,
        foreach=None if fused else True,
        capturable=capturable,
    )
