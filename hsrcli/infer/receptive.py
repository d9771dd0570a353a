"""Effective receptive field: how far, in LR pixels, one input pixel still moves the output.

A network's theoretical receptive radius (the sum of its kernels' reaches) bounds exact tiled
inference but overstates what matters: LKCA's large dilated kernels carry little weight at their
far ends. :func:`effective_radius` measures the radius past which a full-range change of one LR
pixel moves no output value by ``threshold`` or more (data range 1); ``hsr upscale`` overlaps tiles
by twice that radius by default (``--exact``: twice the theoretical one).
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def influence_profile(model: nn.Module, x: torch.Tensor, scale: int, reach: int) -> torch.Tensor:
    """Largest output change at each LR distance ``0..reach`` from the centre pixel of ``x``.

    ``x``: (1, B, n, n) LR input on the model's scale (about [0, 1]), ``n ≥ 2·reach + 1``. The
    centre pixel is raised and lowered by 1 (the full data range); the change of every output
    value is attributed to its Chebyshev distance, in LR pixels, from that pixel's HR footprint.
    Returns a float64 tensor of ``reach + 1`` values, non-increasing.
    """
    n = x.shape[-1]
    if x.shape[-2] != n or n < 2 * reach + 1:
        raise ValueError(f"need a square input of at least {2 * reach + 1} LR pixels, got {tuple(x.shape[-2:])}")
    c = n // 2
    base = model(x).double()
    change = torch.zeros(base.shape[-2:], dtype=torch.float64)
    for delta in (1.0, -1.0):
        xp = x.clone()
        xp[..., c, c] += delta
        change = torch.maximum(change, (model(xp).double() - base).abs().amax(dim=(0, 1)))
    idx = torch.arange(n * scale, dtype=torch.float64)
    d1 = (idx + 0.5 - (c + 0.5) * scale).abs() / scale  # distance of each HR row/column, LR pixels
    dist = torch.maximum(d1[:, None], d1[None, :]).floor().clamp(max=reach).long()
    profile = torch.zeros(reach + 1, dtype=torch.float64).scatter_reduce(0, dist.flatten(), change.flatten(), "amax")
    return profile.flip(0).cummax(0).values.flip(0)  # what lies at distance >= r


def effective_radius(model: nn.Module, x: torch.Tensor, scale: int, reach: int, threshold: float = 1e-4) -> int:
    """Smallest LR radius past which one pixel's full-range change moves the output < ``threshold``."""
    profile = influence_profile(model, x, scale, reach)
    below = (profile < threshold).nonzero()
    return int(below[0]) if len(below) else reach + 1
