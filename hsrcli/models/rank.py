"""Rank analysis of a learnable upsampler (the LKCA paper's evidence, ALGORITHMS.md §1.3).

The upsampling weight W (B·s², C, k, k) is reshaped to M = (B·s²) × (C·k²) — one
row per output sub-pixel channel — and, per PixelShuffle phase p, to
M^(p) = B × (C·k²) (rows ``o`` with ``o mod s² = p``). For singular values
σ₁ ≥ … ≥ σ_n the cumulative normalised curve is c(r) = Σ_{i≤r} σ_i / Σ σ_i
(``energy="sv"``) or with σ² (``energy="sv2"``); r90/r95/r99 are the smallest r
with c(r) ≥ 0.90/0.95/0.99.
"""

from __future__ import annotations

import torch
from torch import nn

from hsrcli.models.base import SRModel
from hsrcli.models.upsampler import FullUpsampler, LowRankUpsampler, upsampler_matrix

LEVELS = (0.90, 0.95, 0.99)


def effective_weight(up: nn.Module) -> torch.Tensor:
    """The (B·s², C, k, k) weight an upsampler applies (products for the low-rank one)."""
    if isinstance(up, FullUpsampler):
        return up.conv.weight.detach().to(torch.float64)
    if isinstance(up, LowRankUpsampler):
        basis = up.basis.weight.detach().to(torch.float64)  # (g·r, C, k, k)
        expand = up.expand.weight.detach().to(torch.float64)[:, :, 0, 0]  # (out, r)
        out = expand.shape[0]
        per, r = out // up.groups, up.rank
        w = torch.empty(out, *basis.shape[1:], dtype=torch.float64)  # phase-major rows
        for j in range(up.groups):
            b = basis[j * r:(j + 1) * r].reshape(r, -1)
            w[j * per:(j + 1) * per] = (expand[j * per:(j + 1) * per] @ b).reshape(per, *basis.shape[1:])
        return w[up.order.cpu()]  # PixelShuffle channel order
    raise TypeError(f"not an LKCA upsampler: {type(up).__name__}")


def find_upsampler(model: nn.Module) -> nn.Module:
    """The learnable upsampler of an LKCA-family model (``lkca``, ``lkca-lr``, ``lkca-g``)."""
    up = model.learnable_upsampler() if isinstance(model, SRModel) else None
    if isinstance(up, (FullUpsampler, LowRankUpsampler)):
        return up
    raise TypeError(f"{type(model).__name__} has no learnable LKCA upsampler to analyse")


def cumulative(sv: torch.Tensor, energy: str = "sv") -> torch.Tensor:
    """c(r) for r = 1..n."""
    v = sv.pow(2) if energy == "sv2" else sv
    return torch.cumsum(v, 0) / v.sum().clamp_min(1e-300)


def rank_at(curve: torch.Tensor, level: float) -> int:
    """Smallest r (1-based) with c(r) ≥ level."""
    return int(torch.nonzero(curve >= level - 1e-12)[0, 0]) + 1


def rank_profile(weight: torch.Tensor, scale: int, energy: str = "sv") -> dict:
    """Singular-value profile of the whole matrix and of every PixelShuffle phase."""
    if energy not in ("sv", "sv2"):
        raise ValueError("energy must be 'sv' or 'sv2'")
    m = upsampler_matrix(weight.to(torch.float64))

    def one(mat: torch.Tensor) -> dict:
        sv = torch.linalg.svdvals(mat)
        c = cumulative(sv, energy)
        n = sv.numel()
        ranks = {f"r{round(100 * lv)}": rank_at(c, lv) for lv in LEVELS}
        return {"shape": list(mat.shape), "n": n, "singular_values": sv.tolist(), "curve": c.tolist(),
                **ranks, **{f"{k}_fraction": v / n for k, v in ranks.items()}}

    s2 = scale * scale
    return {"energy": energy, "full": one(m),
            "phases": [one(m[p::s2]) for p in range(s2)]}
