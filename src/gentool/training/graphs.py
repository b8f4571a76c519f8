"""Replaying a whole training step as one CUDA graph (``--cuda-graphs``).

A small network trained eagerly on a fast GPU spends most of each step launching kernels: the
host queues a few hundred small kernels per GAN iteration, each costing microseconds of Python,
dispatcher and driver time, while the GPU finishes each in less. A CUDA graph records the
kernels of one whole step (forward passes, backward passes and the optimizer updates) once and
replays them with a single launch, so the step costs what the GPU needs and nothing more.

How :class:`StepGraph` uses the step (see the CUDA-graphs section of the PyTorch CUDA semantics
notes for the rules it follows):

1. the first ``warmup`` steps run eagerly on a side stream (lazy initialisation, cuDNN
   algorithm choice and the optimizers' state allocation happen there); they are ordinary
   training steps on ordinary batches;
2. the next step is captured with its batch copied into fixed input tensors, then replayed;
3. every later step copies its batch into those input tensors and replays the graph.

No update is repeated or skipped. What a graph cannot hold is the trainer's responsibility: the
step must have fixed shapes, read no host values that change between steps (learning-rate
schedules, annealed weights), draw its random numbers on the GPU and never wait for the host.
Trainers declare this with :meth:`gentool.training.base.Trainer.cuda_graph_blocker`; where
capture still fails, training goes on eagerly after a one-line notice.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Batch = dict[str, torch.Tensor]
Stats = dict[str, torch.Tensor]


class StepGraph:
    """Runs ``step(batch)``: eagerly for ``warmup`` calls, then from a captured CUDA graph.

    The returned statistics of a replayed step are the graph's own output tensors, which the
    next replay overwrites: read them (or clone them) before the next call.
    """

    def __init__(
        self,
        step: Callable[[Batch], Stats],
        *,
        warmup: int = 3,
        notice: Callable[[str], None] = print,
    ) -> None:
        self.step = step
        self.warmup = warmup
        self.notice = notice
        self.eager_steps = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.failed = False
        self._inputs: Batch = {}
        self._outputs: Stats = {}

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def __call__(self, batch: Batch) -> Stats:
        if self.failed:
            return self.step(batch)
        if self.graph is None and self.eager_steps < self.warmup:
            self.eager_steps += 1
            return self._side_stream(batch)
        if self.graph is None:
            if not self._capture(batch):
                return self.step(batch)
        else:
            if set(batch) != set(self._inputs) or any(
                batch[k].shape != self._inputs[k].shape for k in batch
            ):
                raise ValueError("a CUDA-graphed step needs batches of one fixed shape")
            for key, value in batch.items():
                self._inputs[key].copy_(value, non_blocking=True)
        assert self.graph is not None
        self.graph.replay()
        return self._outputs

    def _side_stream(self, batch: Batch) -> Stats:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            out = self.step(batch)
        torch.cuda.current_stream().wait_stream(side)
        return out

    def _capture(self, batch: Batch) -> bool:
        self._inputs = {key: value.clone() for key, value in batch.items()}
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                self._outputs = self.step(self._inputs)
        except Exception as exc:  # an optimisation that does not apply is never fatal
            self.failed = True
            self._inputs, self._outputs = {}, {}
            torch.cuda.synchronize()
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.notice(f"--cuda-graphs: this step cannot be captured ({reason}); running eagerly")
            return False
        self.graph = graph
        return True
