"""Reproducible, resumable batches from an in-memory dataset."""

from __future__ import annotations

import torch


class BatchSampler:
    """Shuffled batches from an in-memory dataset, reproducible and resumable.

    One permutation per epoch from a dedicated generator; the epoch's permutation and the
    position in it are part of the checkpoint, so a resumed run sees the same batches.
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1) -> None:
        if batch_size > n:
            batch_size = max(world, n - n % world)
        self.n = n
        #: The global batch; each of ``world`` ranks takes its own contiguous slice of it.
        self.batch_size = batch_size
        self.rank = rank
        self.world = world
        self.generator = torch.Generator().manual_seed(seed + 7919)
        self.epoch = 0
        self.position = 0
        self.order = torch.randperm(n, generator=self.generator)

    @property
    def batches_per_epoch(self) -> int:
        return max(1, self.n // self.batch_size)

    def next_indices(self) -> torch.Tensor:
        if self.position + self.batch_size > self.n:  # drop the ragged last batch
            self.epoch += 1
            self.position = 0
            self.order = torch.randperm(self.n, generator=self.generator)
        idx = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        if self.world > 1:
            local = self.batch_size // self.world
            idx = idx[self.rank * local : (self.rank + 1) * local]
        return idx

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
        return (
            {"sampler.order": self.order, "sampler.rng": self.generator.get_state()},
            {"epoch": self.epoch, "position": self.position},
        )

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, int]) -> None:
        """Continue the saved epoch. A saved order of another length (the data changed, and
        the user accepted it with --accept-data-change) starts a fresh epoch instead."""
        if "sampler.order" in tensors and len(tensors["sampler.order"]) == self.n:
            self.order = tensors["sampler.order"].long()
            self.generator.set_state(tensors["sampler.rng"].to(torch.uint8))
            self.epoch = int(meta["epoch"])
            self.position = int(meta["position"])
