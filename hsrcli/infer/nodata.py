"""Missing input values (nodata, NaN) and bands with no valid pixel, before the network sees them.

* Isolated missing values are filled with their band's mean (the network needs a
  number; the output pixel is set back to nodata afterwards, see :mod:`hsrcli.infer.finish`).
* Bands that are *entirely* missing (bad bands stored as nodata, common in GeoTIFF
  exports of AVIRIS/Hyperion) must not leak into the good ones: a band-agnostic model
  runs on the good bands only (:class:`GoodBands`); a model trained for a fixed band
  list gets them filled by linear interpolation between the nearest good bands, pixel
  by pixel, which is what a spectrum without those bands looks like.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hsrcli.errors import HsrInputError
from hsrcli.models.base import SRModel


@dataclass(frozen=True)
class InputFill:
    """Per-band fill values ``means`` (B,) in stored units and the bands with no valid pixel."""

    means: np.ndarray
    dead: tuple[int, ...]

    @classmethod
    def from_stats(cls, stats: list[dict]) -> InputFill:
        """From :func:`hsrcli.io.stats.band_stats`; refuses a scene without any valid band."""
        dead = tuple(i for i, b in enumerate(stats) if not b["valid"])
        if len(dead) == len(stats):
            raise HsrInputError("every band of the scene is nodata: nothing to super-resolve")
        means = np.array([b["mean"] if b["mean"] is not None else 0.0 for b in stats], dtype=np.float32)
        return cls(means, dead)

    @property
    def good(self) -> list[int]:
        """Bands with at least one valid pixel."""
        return [b for b in range(len(self.means)) if b not in self.dead]

    def apply(self, x: np.ndarray, bad: np.ndarray) -> np.ndarray:
        """Fill ``x`` (h, w, B) float32 where ``bad`` (h, w, B): band means, then dead bands interpolated."""
        if bad.any():
            x = np.where(bad, self.means, x)
        if self.dead:
            good = np.asarray(self.good)
            for d in self.dead:
                right = np.searchsorted(good, d)
                lo = good[max(right - 1, 0)]
                hi = good[min(right, len(good) - 1)]
                t = 0.0 if hi == lo else (d - lo) / (hi - lo)
                x[..., d] = (1 - t) * x[..., lo] + t * x[..., hi]
        return x


class GoodBands(SRModel):
    """Run a band-agnostic ``model`` on the bands in ``good`` only: ``(N, B, h, w) → (N, B, s·h, s·w)``,
    zeros in the other bands (they are written as nodata)."""

    def __init__(self, model: nn.Module, good: list[int], bands: int) -> None:
        super().__init__()
        self.model, self.bands = model, bands
        self.register_buffer("good", torch.as_tensor(good, dtype=torch.long), persistent=False)
        self.receptive_radius = model.receptive_radius

    def fit_tile(self, tile: int) -> None:
        self.model.fit_tile(tile)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.model(x.index_select(1, self.good))
        out = y.new_zeros(y.shape[0], self.bands, *y.shape[2:])
        out[:, self.good] = y
        return out
