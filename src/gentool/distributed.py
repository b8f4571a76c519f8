"""Running under ``torchrun``: process group set-up and DistributedDataParallel helpers.

gentool does not launch processes itself: ``torchrun --nproc-per-node N -m gentool train ...``
starts N copies, and each reads ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` from the environment.
The global batch (``--batch-size``) is split evenly across ranks; rank 0 alone writes logs,
sample grids and checkpoints.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from gentool.errors import GentoolError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def current_world() -> World:
    size = int(os.environ.get("WORLD_SIZE", "1"))
    return World(
        rank=int(os.environ.get("RANK", "0")),
        size=size,
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def init_distributed(device: torch.device) -> World:
    """Join the process group started by torchrun (gloo on CPU, NCCL on CUDA)."""
    world = current_world()
    if world.distributed and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return world


def wrap(module: nn.Module, device: torch.device, sync_batchnorm: bool = False) -> nn.Module:
    """DistributedDataParallel around ``module`` (buffers are not re-broadcast each forward,
    so rank 0 can sample alone). With ``sync_batchnorm``, BatchNorm layers become
    :class:`torch.nn.SyncBatchNorm` first: statistics over the global batch (CUDA only)."""
    if not any(p.requires_grad for p in module.parameters()):
        return module
    if sync_batchnorm:
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    ids = [device.index] if device.type == "cuda" else None
    ddp = nn.parallel.DistributedDataParallel
    if "forward_sync_buffers" in inspect.signature(ddp.__init__).parameters:
        return ddp(module, device_ids=ids, forward_sync_buffers=False)
    return ddp(module, device_ids=ids, broadcast_buffers=False)


def check_sync_batchnorm(device: torch.device, world: World) -> None:
    """``--sync-bn`` is a multi-GPU option: torch's SyncBatchNorm does not run on the CPU."""
    if world.distributed and device.type != "cuda":
        raise GentoolError(
            "--sync-bn needs CUDA devices (torch's SyncBatchNorm does not run on the CPU); "
            "drop it, or train on GPUs."
        )


def check_batch(batch_size: int, world: World) -> int:
    if batch_size % world.size:
        raise GentoolError(
            f"--batch-size {batch_size} (the global batch) must divide evenly across "
            f"{world.size} processes."
        )
    return batch_size // world.size


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
