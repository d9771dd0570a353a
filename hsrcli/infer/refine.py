"""DualSR's FineSR inside whole-scene inference: the ×s/2 partner, the whole-image λ, the self-check.

FineSR (:mod:`hsrcli.models.finesr`) back-projects ``V − bicubic(U, 1/2)`` onto U, where U is
the ×s result and V the ×s/2 result of a partner model (for ×2: the LR input itself),
weighted by one scalar λ = min(mean SAM°, 1) per *image*. Tiled inference therefore blends
U and the unweighted correction C tile by tile, tallies the spectral angles over the pixels
each tile owns (:class:`AngleTally`), and writes ``U + λ·C`` once λ is known.

Whether back-projection helps depends on the pair: it replaces the ×s/2 content of U with
V's, which helps only when V is the better estimate at that scale. Nothing at inference
time knows the truth, so :func:`self_check` asks the scene itself: its LR, degraded once
more by ×s (MATLAB bicubic, as ``hsr prepare``), is super-resolved with and without FineSR
and compared with the LR it came from. ``hsr upscale --refine`` applies FineSR only when that
check does not lose PSNR (``--no-refine-check`` skips it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from hsrcli.infer.resolve import ResolvedModel
from hsrcli.models.finesr import finesr_terms, weight_from_sam
from hsrcli.models.resample import bicubic_resize

#: smallest degraded side (pixels) the self-check runs on: below it the models' borders dominate
#: and the check mispredicted on real data (16 px did, 32 px did not, CAVE x4 test scenes)
MIN_CHECK_LR = 32
#: largest crop side (LR pixels) the self-check reads from the scene
MAX_CHECK_SIDE = 256

Forward = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Refinement:
    """What ``--refine`` asks for: the ×s/2 partner (None: the LR input itself, for ×2)."""

    partner: ResolvedModel | None
    check: bool = True


class AngleTally:
    """Running mean of FineSR's spectral angles over the pixels tiles own (whole-image λ)."""

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0

    def add(self, angles: torch.Tensor, valid: torch.Tensor | None = None) -> None:
        """Add per-pixel angles (degrees, any shape); ``valid`` (same shape, bool) masks nodata."""
        if valid is not None:
            angles = angles[valid]
        self.total += float(angles.double().sum())
        self.count += int(angles.numel())

    @property
    def sam(self) -> float:
        """Mean angle in degrees (0 when nothing was added)."""
        return self.total / self.count if self.count else 0.0

    @property
    def weight(self) -> float:
        """λ = min(mean angle, 1)."""
        return float(weight_from_sam(self.sam))


def check_side(rows: int, cols: int, scale: int) -> int:
    """Side (LR px) of the square crop the self-check uses: a multiple of ``scale``; 0 if too small."""
    side = min(rows, cols, MAX_CHECK_SIDE) // scale * scale
    return side if side // scale >= MIN_CHECK_LR else 0


def self_check(forward_u: Forward, forward_v: Forward | None, crop: torch.Tensor, scale: int) -> dict:
    """Score FineSR on the scene's own LR.

    Args:
        forward_u: the ×s model on normalised input ``(1, B, h, w) → (1, B, s·h, s·w)``.
        forward_v: the ×s/2 partner on the same input, output on the same scale; None for ×2
            (V is then the degraded input itself).
        crop: normalised LR crop ``(1, B, n, n)`` with ``n`` a multiple of ``scale``
            (see :func:`check_side`).
        scale: s.

    Returns:
        ``gain_db`` (PSNR of FineSR's result minus PSNR of U, both against ``crop``), the two
        MSEs, the weight λ found, and the crop side in LR pixels.
    """
    small = bicubic_resize(crop.double(), 1 / scale).float()
    u = forward_u(small).double()
    v = small.double() if forward_v is None else forward_v(small).double()
    correction, angles = finesr_terms(u, v)
    lam = float(weight_from_sam(angles.mean()))
    refined = u + lam * correction
    target = crop.double()
    mse_u = float(((u - target) ** 2).mean())
    mse_r = float(((refined - target) ** 2).mean())
    gain = 10 * math.log10(max(mse_u, 1e-30) / max(mse_r, 1e-30))
    return {"gain_db": gain, "mse_plain": mse_u, "mse_refined": mse_r, "weight": lam,
            "crop_lr_px": int(crop.shape[-1])}

