"""Missing input values (nodata, NaN) and bands with no valid pixel, before the network sees them.

* Isolated missing values are filled with their band's mean (the network needs a
  number; the output pixel is set back to nodata afterwards, see :mod:`hsrcli.infer.finish`).
* Bands that are *entirely* missing (bad bands stored as nodata, common in GeoTIFF
  exports of AVIRIS/Hyperion) must not leak into the good ones: a band-agnostic model
  runs on the good bands only (:class:`GoodBands`); a model trained for a fixed band
  list gets them filled by linear interpolation between the nearest good bands, pixel
  by pixel, which is what a spectrum without those bands looks like.
* *Flat* bands, whose valid pixels all hold one value (bad bands zeroed, as in AVIRIS
  products with a ``bbl``: 43 of the shipped sample's 224), have one exact super-resolution:
  that value, which the bicubic upsampling gives. A band-agnostic model skips them as well
  (less compute; no detail invented where there is none); in a constant scene it does not run at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hsrcli.errors import HsrInputError
from hsrcli.models.base import SRModel
from hsrcli.models.crop import Crop
from hsrcli.models.resample import bicubic_base


@dataclass(frozen=True)
class InputFill:
    """Per-band fill values ``means`` (B,) in stored units, the bands with no valid pixel (``dead``) and
    those whose valid pixels all hold one value (``flat``)."""

    means: np.ndarray
    dead: tuple[int, ...]
    flat: tuple[int, ...] = ()

    @classmethod
    def from_stats(cls, stats: list[dict]) -> InputFill:
        """From :func:`hsrcli.io.stats.band_stats`; refuses a scene without any valid band."""
        dead = tuple(i for i, b in enumerate(stats) if not b["valid"])
        if len(dead) == len(stats):
            raise HsrInputError("every band of the scene is nodata: nothing to super-resolve")
        flat = tuple(i for i, b in enumerate(stats) if b["valid"] and b["min"] == b["max"])
        means = np.array([b["mean"] if b["mean"] is not None else 0.0 for b in stats], dtype=np.float32)
        return cls(means, dead, flat)

    @property
    def good(self) -> list[int]:
        """Bands with at least one valid pixel."""
        return [b for b in range(len(self.means)) if b not in self.dead]

    @property
    def varying(self) -> list[int]:
        """Bands whose valid pixels hold more than one value: what the spectral subspace is fitted over
        (a flat band has no detail to project)."""
        return [b for b in self.good if b not in self.flat]

    def modelled(self, min_bands: int = 1) -> list[int]:
        """The bands a band-agnostic model that needs ``min_bands`` bands runs on: the good ones that are
        not flat (none in a scene whose every band holds one value), or every band when there are some
        but too few (CoarSR needs 5 neighbouring bands; bands without data are then interpolated, as
        for a model trained for a fixed band list, :meth:`apply`)."""
        run = self.varying
        return list(range(len(self.means))) if 0 < len(run) < min_bands else run

    def apply(self, x: np.ndarray, bad: np.ndarray) -> np.ndarray:
        """Fill ``x`` (…, B) float32 where ``bad`` (…, B), in place (a band-last view of a band-planar
        block will do): band means, then dead bands interpolated. Returns ``x``."""
        if bad.any():
            np.copyto(x, self.means, where=bad)
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
    """Run a band-agnostic ``model`` (×``scale``) on the bands in ``good`` only (none: it does not run):
    ``(N, B, h, w) → (N, B, s·h, s·w)``; the other bands are the bicubic upsampling of the input in
    ``flat`` (a constant band stays that constant) and zeros in the rest (bands without data: they are
    written as nodata)."""

    def __init__(self, model: nn.Module, scale: int, good: list[int], bands: int, flat: Iterable[int] = ()) -> None:
        super().__init__()
        self.model, self.scale, self.bands = model, scale, bands
        self.register_buffer("good", torch.as_tensor(good, dtype=torch.long), persistent=False)
        self.flat = frozenset(flat) - set(good)
        self.receptive_radius = model.receptive_radius

    @classmethod
    def around(cls, model: SRModel, scale: int, fill: InputFill, min_bands: int = 1) -> SRModel:
        """``model`` run on the bands :meth:`InputFill.modelled` names (itself when that is every band)."""
        run = fill.modelled(min_bands)
        return model if len(run) == len(fill.means) else cls(model, scale, run, len(fill.means), fill.flat)

    def summary(self) -> str:
        """What runs where, for the output's history: ``on G of B bands (F flat: bicubic; D without data)``."""
        dead = self.bands - len(self.good) - len(self.flat)
        parts = [f"{len(self.flat)} flat: bicubic"] * bool(self.flat) + [f"{dead} without data"] * bool(dead)
        return f"on {len(self.good)} of {self.bands} bands ({'; '.join(parts)})"

    def fit_tile(self, tile: int) -> None:
        self.model.fit_tile(tile)

    def work_side(self, tile: int, crop: int = 0) -> int:
        return self.model.work_side(tile, crop)

    def bands_held(self, bands: int, tile: int | None = None, crop: int = 0) -> int:
        """The model's, over the good bands, plus the bad ones a piece may carry."""
        return self.model.bands_held(len(self.good), tile, crop) + bands - len(self.good)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        out = x.new_zeros(n, self.bands, self.scale * h, self.scale * w)
        if len(self.good):
            out[:, self.good] = self.model(x.index_select(1, self.good)).to(out.dtype)
        if self.flat:
            flat = sorted(self.flat)
            out[:, flat] = bicubic_base(x[:, flat], self.scale).to(out.dtype)
        return out

    def forward_bands(self, x: torch.Tensor, crop: Crop | None = None, detail: bool = False
                      ) -> Iterator[tuple[int, int, torch.Tensor]]:
        """The model's own pieces over the good bands (streamed, cropped inside the model), in the
        scene's band numbering: a piece runs from its first good band (0 for the first piece) to the
        next piece's first good band (B for the last); the other bands in it are as :meth:`forward`
        gives them — with ``detail``, less their bicubic: zeros in the flat bands, minus the bicubic in
        those without data, so that adding the bicubic back gives the same output."""
        good = self.good.tolist()
        t, b, left, r = crop or (0, 0, 0, 0)
        size = (self.scale * (x.shape[-2] - t - b), self.scale * (x.shape[-1] - left - r))
        pieces = self.model.forward_bands(x.index_select(1, self.good), crop, detail) if good else [(0, 0, None)]
        for g0, g1, y in pieces:
            b0 = 0 if g0 == 0 else good[g0]
            b1 = self.bands if g1 == len(good) else good[g1]
            if b1 - b0 == g1 - g0:  # no bad band in this range
                yield b0, b1, y
                continue
            out = x.new_zeros(x.shape[0], b1 - b0, *size, dtype=x.dtype if y is None else y.dtype)
            if y is not None:
                out[:, [b - b0 for b in good[g0:g1]]] = y
            others = sorted(set(range(b0, b1)) - set(good[g0:g1]))
            based = [b for b in others if (b in self.flat) != detail]  # the bands whose output is ± their bicubic
            if based:
                base = bicubic_base(x[:, based], self.scale, crop).to(out.dtype)
                out[:, [b - b0 for b in based]] = -base if detail else base
            yield b0, b1, out
