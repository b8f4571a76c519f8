"""Running under ``torchrun``: process group set-up and DistributedDataParallel helpers.

gentool does not launch processes itself: ``torchrun --nproc-per-node N -m gentool train ...``
starts N copies, and each reads ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` from the environment.
The global batch (``--batch-size``) is split evenly across ranks; rank 0 alone writes logs,
sample grids and checkpoints.
"""

from __future__ import annotations

import inspect
import os
import re
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


#: What torchrun sets in each process it starts; with ``WORLD_SIZE`` above 1, all of them.
TORCHRUN_VARIABLES = ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def current_world() -> World:
    """This process's place among torchrun's processes, from the environment torchrun sets
    (a single process when ``WORLD_SIZE`` is not set). A variable that is malformed, out of
    range or missing beside ``WORLD_SIZE`` > 1 is refused by name before any work starts."""
    env = os.environ
    size = _env_int("WORLD_SIZE", 1)
    if size < 1:
        raise _torchrun_error(f"WORLD_SIZE={size} must be at least 1")
    if size > 1:
        missing = [name for name in TORCHRUN_VARIABLES if name not in env]
        if missing:
            raise _torchrun_error(
                f"WORLD_SIZE={size} but {', '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set"
            )
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    for name, value in (("RANK", rank), ("LOCAL_RANK", local_rank)):
        if value < 0:
            raise _torchrun_error(f"{name}={value} is negative")
        if value >= size:
            world = f"WORLD_SIZE={size}" if "WORLD_SIZE" in env else "WORLD_SIZE is not set"
            raise _torchrun_error(f"{name}={value} but {world} (ranks are 0 to WORLD_SIZE-1)")
    if "MASTER_ADDR" in env and not env["MASTER_ADDR"].strip():
        raise _torchrun_error("MASTER_ADDR is empty")
    if "MASTER_PORT" in env:
        port = _env_int("MASTER_PORT", 0)
        if not 1 <= port <= 65535:
            raise _torchrun_error(f"MASTER_PORT={port} is not a port (1 to 65535)")
    return World(rank=rank, size=size, local_rank=local_rank)


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None:
        return default
    if not re.fullmatch(r"-?[0-9]{1,30}", text.strip()):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise _torchrun_error(f"{name}={shown!r} is not an integer")
    return int(text)


def _torchrun_error(problem: str) -> GentoolError:
    return GentoolError(
        f"{problem}; torchrun sets WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR and MASTER_PORT "
        "for each process it starts: launch with 'torchrun --nproc-per-node N -m gentool "
        "train ...', or unset them to train in one process."
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
