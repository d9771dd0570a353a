"""``bicubic``: the no-weights baseline with the same interface as the learned models."""

from __future__ import annotations

import torch

from hsrcli.choices import SCALES
from hsrcli.models.base import SRModel
from hsrcli.models.registry import register
from hsrcli.models.resample import bicubic_resize


class Bicubic(SRModel):
    """MATLAB-compatible bicubic upsampling ``(N, B, h, w) → (N, B, s·h, s·w)``; no parameters."""

    def __init__(self, bands: int, scale: int) -> None:
        super().__init__()
        self.bands, self.scale = bands, scale
        self.receptive_radius = 3  # the cubic kernel reaches 2 LR pixels (+1 for rounding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return bicubic_resize(x, self.scale)


@register("bicubic", "bicubic interpolation (MATLAB imresize), no weights", SCALES, True, trainable=False,
          normalised=False)
def build_bicubic(bands: int, scale: int) -> Bicubic:
    """Registry builder of the bicubic baseline."""
    return Bicubic(bands, scale)
