"""Exponential moving average of the trained weights (``hsr train --ema DECAY``).

As BasicSR's ``net_g_ema``: after every optimiser step the average moves towards the
trained weights, ``avg ← d·avg + (1 − d)·w``, and validation, ``best.pt`` and the weights
of ``last.pt`` are the average's (``last.pt`` keeps the trained weights too, for ``--resume``).
The decay is warmed up, ``d_n = min(decay, (1 + n) / (10 + n))`` after n updates, so that a
short run's average is not pinned to its initial weights. Built on
:class:`torch.optim.swa_utils.AveragedModel`; buffers (batch-norm statistics, index tables)
follow the trained model rather than being averaged.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def warmed_decay(decay: float, updates: int) -> float:
    """The decay applied at the update after ``updates`` earlier ones: ``min(decay, (1 + n) / (10 + n))``."""
    return min(decay, (1 + updates) / (10 + updates))


def ema_update_fn(decay: float) -> Callable:
    """A ``multi_avg_fn`` for :class:`AveragedModel`: lerp every averaged tensor towards the model's by
    ``1 − d_n`` (:func:`warmed_decay`; ``n`` counts the updates before this one, the first having copied
    the weights)."""
    if not 0.0 < decay < 1.0:
        raise ValueError(f"the EMA decay must be in (0, 1), got {decay}")

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        # parameters only (buffers are copied, ``use_buffers=False``): floating point, as lerp needs
        torch._foreach_lerp_(averaged, current, 1.0 - warmed_decay(decay, int(num_averaged)))

    return update


def make_ema(model: nn.Module, decay: float | None) -> AveragedModel | None:
    """The average of ``model``'s weights (a copy on its device), or None without a decay."""
    if decay is None:
        return None
    return AveragedModel(model, multi_avg_fn=ema_update_fn(decay), use_buffers=False)

