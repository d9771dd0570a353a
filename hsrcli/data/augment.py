"""The 8 dihedral transforms (4 rotations × optional flip), applied identically to LR and HR."""

from __future__ import annotations

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
