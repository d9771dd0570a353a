"""Learnable upsampling layers of LKCA-Net and their low-rank approximation (ALGORITHMS.md §1.2–1.4).

* :class:`FullUpsampler` — one k×k conv C → B·s² and a single PixelShuffle(s)
  (one-shot, the layer the LKCA paper shows to dominate the parameters).
* :func:`shuffle` — PixelShuffle into a contiguous NCHW image whatever the input's memory
  format (the CPU path runs channels-last; writers want band planes).
* :class:`LowRankUpsampler` — **LKCA-LR**: a k×k conv C → g·r (shared spatial basis)
  then a grouped 1×1 conv g·r → B·s² with ``groups = g`` (block low rank), then
  PixelShuffle(s). Parameters: g·r·(C·k² + B·s²/g) (+ B·s² biases).
* :func:`lowrank_from_full` — the rank-r projection of a trained full upsampler
  by truncated SVD of each group's weight matrix (exact at full rank).
* :func:`upsampler_matrix` — the weight reshaped to (B·s²) × (C·k²), the matrix
  whose singular values ``hsr analyze-rank`` reports.

The exact form of the paper's group-convolution approximation is unknown; this is
the documented default of ALGORITHMS.md §1.4.
"""

from __future__ import annotations

import torch
from torch import nn


def shuffle(y: torch.Tensor, scale: int) -> torch.Tensor:
    """``pixel_shuffle(y, scale)`` as a contiguous NCHW tensor: ``(N, B·s², h, w) → (N, B, s·h, s·w)``,
    channel ``b·s² + i·s + j`` to the pixel at offset (i, j) of each LR pixel. One copy from any
    memory format (from channels-last, as fast as the native op, which would keep channels-last)."""
    n, c, h, w = y.shape
    b = c // (scale * scale)
    return y.unflatten(1, (b, scale, scale)).permute(0, 1, 4, 2, 5, 3).reshape(n, b, h * scale, w * scale)


class FullUpsampler(nn.Module):
    """k×k conv C → B·s², PixelShuffle(s): ``(N, C, h, w) → (N, B, s·h, s·w)``."""

    def __init__(self, channels: int, bands: int, scale: int, kernel: int = 3) -> None:
        super().__init__()
        self.bands, self.scale, self.kernel = bands, scale, kernel
        self.conv = nn.Conv2d(channels, bands * scale * scale, kernel, padding=kernel // 2)

    def phases(self, x: torch.Tensor) -> torch.Tensor:
        """The output before the shuffle, ``(N, B·s², h, w)`` (see :func:`shuffle`)."""
        return self.conv(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return shuffle(self.phases(x), self.scale)


def phase_order(bands: int, scale: int) -> torch.Tensor:
    """Index ``order[o]`` such that ``y_pixelshuffle = y_phase_major[:, order]``.

    PixelShuffle expects channel ``o = c·s² + p`` (band c, phase p); the low-rank
    upsampler produces its channels phase-major, ``q = p·B + c``, so that contiguous
    groups are whole PixelShuffle phases (g = s²: one group per phase, §1.4).
    """
    s2 = scale * scale
    o = torch.arange(bands * s2)
    return (o % s2) * bands + o // s2


class LowRankUpsampler(nn.Module):
    """Block low-rank upsampler (LKCA-LR): k×k C → g·r, grouped 1×1 g·r → B·s², PixelShuffle(s).

    The grouped conv's outputs are phase-major (see :func:`phase_order`), so with the
    default g = s² each group is one PixelShuffle phase (B channels), matching the
    per-phase rank analysis; other g take s²/g whole phases per group.
    """

    def __init__(self, channels: int, bands: int, scale: int, kernel: int = 3, groups: int | None = None,
                 rank: int = 16) -> None:
        super().__init__()
        out = bands * scale * scale
        groups = groups or scale * scale
        if out % groups:
            raise ValueError(f"{out} output channels cannot be split into {groups} groups")
        if rank < 1:
            raise ValueError("rank must be >= 1")
        self.bands, self.scale, self.kernel, self.groups, self.rank = bands, scale, kernel, groups, rank
        self.basis = nn.Conv2d(channels, groups * rank, kernel, padding=kernel // 2, bias=False)
        self.expand = nn.Conv2d(groups * rank, out, 1, groups=groups)
        self.register_buffer("order", phase_order(bands, scale), persistent=False)

    def phases(self, x: torch.Tensor) -> torch.Tensor:
        """The output before the shuffle, ``(N, B·s², h, w)`` in PixelShuffle's channel order."""
        return self.expand(self.basis(x))[:, self.order]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return shuffle(self.phases(x), self.scale)


def lowrank_param_count(channels: int, bands: int, scale: int, kernel: int, groups: int, rank: int) -> int:
    """Weights of :class:`LowRankUpsampler` without biases: g·r·(C·k² + B·s²/g) (§1.4)."""
    return groups * rank * (channels * kernel * kernel + bands * scale * scale // groups)


def upsampler_matrix(weight: torch.Tensor) -> torch.Tensor:
    """Conv weight (B·s², C, k, k) reshaped to the (B·s²) × (C·k²) matrix M_l."""
    return weight.reshape(weight.shape[0], -1)


@torch.no_grad()
def lowrank_from_full(full: FullUpsampler, groups: int | None = None, rank: int = 16) -> LowRankUpsampler:
    """LKCA-LR upsampler initialised as the rank-``rank`` SVD projection of ``full``.

    For group j with matrix M_j = U Σ Vᵀ (rows = its output channels), layer 1 gets
    Σ^{1/2} Vᵀ (reshaped to r × C × k × k) and layer 2 gets U Σ^{1/2}. The bias of
    the full conv moves to layer 2. When ``rank`` ≥ the group matrix's rank the
    result reproduces ``full`` up to floating-point rounding.
    """
    out, c, k, _ = full.conv.weight.shape
    lr = LowRankUpsampler(c, full.bands, full.scale, full.kernel, groups, rank)
    inverse = torch.argsort(lr.order)  # phase-major row q -> PixelShuffle channel
    w = full.conv.weight.detach().to(torch.float64)[inverse]
    bias = full.conv.bias.detach()[inverse]
    g, r = lr.groups, lr.rank
    per = out // g
    basis = torch.zeros(g * r, c, k, k, dtype=torch.float64)
    expand = torch.zeros(out, r, 1, 1, dtype=torch.float64)
    for j in range(g):
        m = upsampler_matrix(w[j * per:(j + 1) * per])  # (per, C·k²)
        u, s, vh = torch.linalg.svd(m, full_matrices=False)
        n = min(r, s.numel())
        root = s[:n].sqrt()
        basis[j * r:j * r + n] = (root[:, None] * vh[:n]).reshape(n, c, k, k)
        expand[j * per:(j + 1) * per, :n, 0, 0] = u[:, :n] * root[None, :]
    dtype = full.conv.weight.dtype
    lr.basis.weight.copy_(basis.to(dtype))
    lr.expand.weight.copy_(expand.to(dtype))
    lr.expand.bias.copy_(bias)
    return lr.to(full.conv.weight.device)
