"""Learning-rate schedules and the decaying teacher weight of LKCA-KD."""

from __future__ import annotations

import math

import torch

KD_DECAYS = ("linear", "cosine", "exp")


def kd_weight(epoch: int, epochs: int, kind: str = "linear", w0: float = 1.0, gamma: float = 0.98) -> float:
    """Teacher weight w(e) at 0-based epoch ``e`` of ``E`` (ALGORITHMS.md §1.5).

    linear: w0·(1 − e/E); cosine: w0·½(1 + cos(π·e/E)); exp: w0·γ^e.
    """
    if kind == "linear":
        return w0 * max(0.0, 1.0 - epoch / epochs)
    if kind == "cosine":
        return w0 * 0.5 * (1.0 + math.cos(math.pi * min(epoch, epochs) / epochs))
    if kind == "exp":
        return w0 * gamma**epoch
    raise ValueError(f"unknown KD decay {kind!r} (use {', '.join(KD_DECAYS)})")


def make_scheduler(optimizer: torch.optim.Optimizer, kind: str, epochs: int, step: int = 30,
                   gamma: float = 0.5) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-epoch LR scheduler.

    ``step`` (default): × ``gamma`` every ``step`` epochs (README of DualSR: halved every 30);
    ``cosine``: cosine annealing to 0 over ``epochs``; ``coarsr-code``: the published
    CoarSR code's MultiStepLR([30, 60, 90, 140, 175], 0.1); ``constant``.
    """
    if kind == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step, gamma=gamma)
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    if kind == "coarsr-code":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, [30, 60, 90, 140, 175], 0.1)
    if kind == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    raise ValueError(f"unknown LR schedule {kind!r} (use step, cosine, coarsr-code or constant)")
