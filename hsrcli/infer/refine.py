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

import numpy as np
import torch

from hsrcli.infer.inputs import divisor, forward, read_block
from hsrcli.infer.nodata import InputFill
from hsrcli.infer.resolve import ResolvedModel
from hsrcli.infer.tiling import Tile, TileGrid
from hsrcli.io.scene import Scene
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
        self.parts: list[tuple[float, int]] = []  # (sum, count) of every add, in order

    def add(self, angles: torch.Tensor, valid: torch.Tensor | None = None) -> None:
        """Add per-pixel angles (degrees, any shape); ``valid`` (same shape, bool) masks nodata."""
        if valid is not None:
            angles = angles[valid]
        self.add_part(float(angles.double().sum()), int(angles.numel()))

    def add_part(self, total: float, count: int) -> None:
        """Add the sum and count of some angles (another rank's :attr:`parts`, replayed in tile order,
        give the same λ as one process to the last bit)."""
        self.total += total
        self.count += count
        self.parts.append((total, count))

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


def self_check(forward_u: Forward, forward_v: Forward | None, crop: torch.Tensor, scale: int,
               plain: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> dict:
    """Score FineSR on the scene's own LR.

    Args:
        forward_u: the ×s model on normalised input ``(1, B, h, w) → (1, B, s·h, s·w)``.
        forward_v: the ×s/2 partner on the same input, output on the same scale; None for ×2
            (V is then the degraded input itself).
        crop: normalised LR crop ``(1, B, n, n)`` with ``n`` a multiple of ``scale``
            (see :func:`check_side`).
        scale: s.
        plain: what the output is without FineSR, from U and its input (``hsr upscale``: U
            back-projected, :mod:`hsrcli.infer.consistency`); default U itself.

    Returns:
        ``gain_db`` (PSNR of FineSR's result minus PSNR of the plain output, both against ``crop``),
        the two MSEs, the weight λ found, and the crop side in LR pixels.
    """
    small = bicubic_resize(crop.double(), 1 / scale).float()
    u = forward_u(small).double()
    v = small.double() if forward_v is None else forward_v(small).double()
    correction, angles = finesr_terms(u, v)
    lam = float(weight_from_sam(angles.mean()))
    refined = u + lam * correction
    target = crop.double()
    if plain is not None:
        u = plain(u.float(), small).double()
    mse_u = float(((u - target) ** 2).mean())
    mse_r = float(((refined - target) ** 2).mean())
    gain = 10 * math.log10(max(mse_u, 1e-30) / max(mse_r, 1e-30))
    return {"gain_db": gain, "mse_plain": mse_u, "mse_refined": mse_r, "weight": lam,
            "crop_lr_px": int(crop.shape[-1])}


class SceneRefiner:
    """FineSR for one scene: the partner's forward on the main model's scale, the self-check,
    and the angle tally of the whole-image λ."""

    def __init__(self, spec: Refinement, scene: Scene, stats: list[dict] | None, main_div: np.ndarray,
                 device: torch.device, amp: torch.dtype | None = None) -> None:
        self.spec = spec
        self.scale_v = None
        self.partner = None
        if spec.partner is not None:
            self.partner = spec.partner.for_inference(device)
            div, _ = divisor(scene, spec.partner, stats)
            # the partner sees its own normalisation; its output comes back on the main model's scale
            self.scale_v = torch.from_numpy((div / main_div).astype(np.float32)).view(1, -1, 1, 1).to(device)
        self.device, self.amp = device, amp
        self.tally = AngleTally()
        self.check: dict | None = None
        self.applied = True
        self.reason = "applied without self-check (--no-refine-check)"

    def forward_v(self, x: torch.Tensor) -> torch.Tensor:
        """V on the main model's normalised scale: ``(N, B, h, w) → (N, B, s/2·h, s/2·w)``."""
        if self.partner is None:
            return x
        return forward(self.partner, x / self.scale_v, self.amp) * self.scale_v

    def run_check(self, scene: Scene, forward_u, div_t: torch.Tensor, fill: InputFill | None, scale: int,
                  plain: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> None:
        """Decide from the scene's own LR whether FineSR helps this pair (sets ``applied``); ``plain``: the
        output without FineSR from U and its input (:func:`self_check`)."""
        m = scene.meta
        side = check_side(m.rows, m.cols, scale)
        if side == 0:
            self.applied = False
            self.reason = (f"not applied: the scene is too small for the self-check (needs at least "
                           f"{MIN_CHECK_LR * scale} LR px a side; --no-refine-check applies it anyway)")
            return
        x, _ = read_block(scene, (m.rows - side) // 2, (m.cols - side) // 2, side, side, 0, fill)
        crop = torch.from_numpy(x)[None].to(self.device) / div_t
        self.check = self_check(forward_u, None if self.partner is None else self.forward_v, crop, scale, plain)
        gain = self.check["gain_db"]
        self.applied = gain >= 0
        self.reason = (f"{'applied' if self.applied else 'not applied'}: on this scene's own LR, degraded "
                       f"x{scale} again, FineSR changes PSNR by {gain:+.2f} dB (--no-refine-check applies it "
                       f"anyway)")

    def terms(self, y: torch.Tensor, x: torch.Tensor, grid: TileGrid, group: list[Tile],
              bads: list[np.ndarray]) -> torch.Tensor:
        """Correction C ``(N, B, s·h, s·w)`` of a batch of tiles; tallies the angles the tiles own."""
        correction, angles = finesr_terms(y, self.forward_v(x))
        h2 = grid.scale // 2
        for k, (t, bad) in enumerate(zip(group, bads)):
            r0, r1, c0, c1 = grid.core(t)
            a0, a1, b0, b1 = (r0 - t.row) * h2, (r1 - t.row) * h2, (c0 - t.col) * h2, (c1 - t.col) * h2
            valid = ~np.repeat(np.repeat(bad, h2, axis=0), h2, axis=1)[a0:a1, b0:b1]
            self.tally.add(angles[k, a0:a1, b0:b1].cpu(), torch.from_numpy(valid))
        return correction

    def summary(self) -> dict:
        p = self.spec.partner
        return {"partner": "LR input" if p is None else p.label, "applied": self.applied, "reason": self.reason,
                "self_check": self.check, "sam": self.tally.sam if self.applied else None,
                "weight": self.tally.weight if self.applied else None}
