"""Training augmentations applied identically to LR and HR: the 8 dihedral transforms (4 rotations ×
optional flip) of a patch, and a random intensity gain of each patch of a batch."""

from __future__ import annotations

import math

import torch

N_TRANSFORMS = 8


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """Transform ``k`` ∈ [0, 8) of the last two dims: rotate by 90°·(k mod 4), then flip if k ≥ 4.

    k = 0 is the identity (SSPSR ``data_augmentation`` modes 0–7 up to numbering).
    """
    if not 0 <= k < N_TRANSFORMS:
        raise ValueError(f"dihedral transform index must be in [0, 8), got {k}")
    y = torch.rot90(x, k % 4, dims=(-2, -1))
    return torch.flip(y, dims=(-1,)) if k >= 4 else y


def random_dihedral(lr: torch.Tensor, hr: torch.Tensor, generator: torch.Generator | None = None):
    """The same random dihedral transform applied to an LR/HR pair."""
    k = int(torch.randint(N_TRANSFORMS, (1,), generator=generator))
    return dihedral(lr, k), dihedral(hr, k)


def random_gain(lr: torch.Tensor, hr: torch.Tensor, low: float, high: float,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """LR ``(N, B, h, w)`` and HR ``(N, B, H, W)`` batches, each pair multiplied by one gain drawn
    log-uniformly from [``low``, ``high``] (``low`` ≤ ``high``, both > 0): scenes brighter or dimmer than
    their normalisation puts them (a few hot pixels setting the maximum, a sensor's other range).
    Bicubic degradation is linear, so a scaled pair is still an LR/HR pair of the same degradation."""
    u = torch.rand(lr.shape[0], 1, 1, 1, generator=generator, dtype=torch.float64)
    g = torch.exp(math.log(low) + u * (math.log(high) - math.log(low))).to(lr.device)
    return lr * g.to(lr.dtype), hr * g.to(hr.dtype)
