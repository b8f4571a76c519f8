"""A moving average of a generator's weights (``--ema DECAY``), shared by the training loops.

After every generator update the copy moves towards the live weights,
``ema = decay * ema + (1 - decay) * live``; buffers (BatchNorm statistics) are copied as they
are. The copy is what the loop samples with and what the checkpoint's ``ema`` section holds;
loading a checkpoint for sampling or upscaling uses it unless asked not to
(:func:`gentool.loading.model_from_checkpoint`). A resumed run continues the average exactly;
a checkpoint without the section (saved before ``--ema`` was on) starts it from the live
weights.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn


class GeneratorEma:
    """The averaged copy of ``generator``, updated with :meth:`update`."""

    def __init__(self, generator: nn.Module, decay: float) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"EMA decay must be in (0, 1), not {decay}")
        self.decay = decay
        self.live = generator
        self.module: nn.Module = copy.deepcopy(generator).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, live_params: Iterable[torch.Tensor] | None = None) -> None:
        """One averaging step towards ``live_params`` (the generator's parameters, in order)."""
        averaged: list[torch.Tensor] = list(self.module.parameters())
        live = list(self.live.parameters() if live_params is None else live_params)
        torch._foreach_lerp_(averaged, live, 1.0 - self.decay)
        for ema_buf, buf in zip(self.module.buffers(), self.live.buffers(), strict=True):
            ema_buf.copy_(buf)

    def sections(self) -> dict[str, dict[str, torch.Tensor]]:
        """The checkpoint section this copy is saved as."""
        return {"ema": dict(self.module.state_dict())}

    def restore(self, ckpt: Any) -> None:
        """The saved average, or the live weights when the checkpoint has none."""
        saved = ckpt.section("ema")
        self.module.load_state_dict(saved if saved else self.live.state_dict())
