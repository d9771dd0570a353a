"""Learning-rate schedules and the decaying teacher weight of LKCA-KD."""

from __future__ import annotations

import math

import torch

from hsrcli.choices import KDDecay, Schedule


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
    KDDecay.check(kind, "--kd-decay")
    raise AssertionError(f"KD decay {kind!r} is declared but not implemented")


class CosineFactor:
    """LR factor ½(1 + cos(π·e/T)) at 0-based epoch ``e`` of ``total`` = T (0 from T on).

    A callable object rather than a closure so that ``total`` can be refitted during a run
    (``hsr train --minutes``) and is saved in the scheduler's ``state_dict``.
    """

    def __init__(self, total: int) -> None:
        self.total = max(1, int(total))

    def __call__(self, epoch: int) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * min(epoch, self.total) / self.total))


def fit_epochs(done: int, seconds: float, budget_s: float, cap: int) -> int:
    """Total epochs that fit a wall-time budget.

    ``done`` epochs took ``seconds`` in all; the rest of ``budget_s`` (seconds) is filled with
    whole epochs of that mean length. The result lies in ``[max(done, 1), cap]``.
    """
    if done < 1:
        return cap
    per = seconds / done
    extra = int((budget_s - seconds) // per) if per > 0 else cap
    return max(done, min(cap, done + max(0, extra)))


def set_total_epochs(scheduler: torch.optim.lr_scheduler.LRScheduler, total: int) -> None:
    """Refit the length of a ``cosine`` schedule (others do not depend on it); takes effect at the next step."""
    for fn in getattr(scheduler, "lr_lambdas", []):
        if isinstance(fn, CosineFactor):
            fn.total = max(1, int(total))


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
        return torch.optim.lr_scheduler.LambdaLR(optimizer, CosineFactor(epochs))
    if kind == "coarsr-code":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, [30, 60, 90, 140, 175], 0.1)
    if kind == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    Schedule.check(kind, "--schedule")
    raise AssertionError(f"schedule {kind!r} is declared but not implemented")
