"""Parameter counts and FLOPs per LR pixel of registry models."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from hsrcli.models.base import SRModel


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def flops_per_lr_pixel(model: nn.Module, bands: int, size: int = 16) -> float:
    """FLOPs (2 × multiply-adds) of one forward pass divided by the LR pixels (``size²``).

    Counted with :class:`torch.utils.flop_counter.FlopCounterMode`, which counts
    convolutions and matrix products; elementwise work (bicubic resampling,
    activations, normalisation) is not included.
    """
    x = torch.rand(1, bands, size, size)
    model = model.eval()
    with FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() / (size * size)


def upsampler_params(model: nn.Module) -> int | None:
    """Parameters of the learnable upsampler of the LKCA family (None for other models)."""
    up = model.learnable_upsampler() if isinstance(model, SRModel) else None
    return None if up is None else count_params(up)
