"""Models made of other models: a cascade (``-m A+B``) and an average (``-m X,Y``).

* :class:`Cascade` runs its stages one after the other, ``(N, B, h, w) → (N, B, S·h, S·w)`` with
  ``S`` the product of the stages' scales: a ×2 then a ×4 model make a ×8 one. Each stage sees
  the previous stage's output as its LR input (the same normalised scale).
* :class:`Average` averages models of one scale: ``(N, B, h, w) → (N, B, s·h, s·w)``, the mean of
  their outputs (a model ensemble; e.g. a ×8 model beside the ×2+×4 and ×4+×2 cascades).

Both are exact under tiling like their parts: their receptive radius follows from the parts'
(:func:`cascade_radius`, :func:`average_radius`), and a crop of the output is passed on so that
only the later stages' reach is computed past the kept window (a cascade's ``halos``: the later
stages' theoretical radii by default, exact; their measured effective radii compute less).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from hsrcli.models.base import SRModel
from hsrcli.models.crop import Crop
from hsrcli.models.resample import bicubic_base


def cascade_radius(radii: Sequence[int | None], scales: Sequence[int]) -> int | None:
    """Receptive radius (LR px of the first stage's input) of stages with radii ``radii`` (each in
    its own input's pixels) and scales ``scales``: ``Σ ⌈r_k / (s_1 ⋯ s_{k−1})⌉`` (None if any is None)."""
    if any(r is None for r in radii):
        return None
    total, zoom = 0, 1
    for r, s in zip(radii, scales):
        total += -(-r // zoom)
        zoom *= s
    return total


def average_radius(radii: Sequence[int | None]) -> int | None:
    """Receptive radius of an average of models: the largest (None if any is None)."""
    return None if any(r is None for r in radii) else max(radii)


def _gather(pieces: Iterator[tuple[int, int, torch.Tensor]], bands: int) -> torch.Tensor:
    """The whole output ``(N, bands, H, W)`` of a model's band pieces, each copied in as it comes (a
    piece is freed before the next is computed: the output is held once, not twice as by a concat)."""
    out = None
    for b0, b1, y in pieces:
        if out is None:
            out = y.new_empty(y.shape[0], bands, *y.shape[2:])
        out[:, b0:b1] = y
    return out


class Cascade(SRModel):
    """``stages`` run in order; ``scales[k]`` is stage k's scale (the cascade's: their product).

    ``halos[k]``: how far (stage k's input px) stage k reaches, used to crop the earlier stages'
    outputs under a cropped :meth:`forward_bands` — default the stages' theoretical
    ``receptive_radius`` (exact); the measured effective radii (:mod:`hsrcli.infer.receptive`)
    compute far fewer intermediate pixels, within the effective radius's tolerance.
    """

    def __init__(self, stages: Sequence[SRModel], scales: Sequence[int],
                 halos: Sequence[int | None] | None = None) -> None:
        super().__init__()
        if len(stages) < 2 or len(stages) != len(scales):
            raise ValueError("a cascade needs at least two stages, each with its scale")
        if halos is not None and len(halos) != len(stages):
            raise ValueError("a cascade needs one halo per stage")
        self.stages = nn.ModuleList(stages)
        self.scales = tuple(int(s) for s in scales)
        self.scale = math.prod(self.scales)
        theoretical = [m.receptive_radius for m in stages]
        self.receptive_radius = cascade_radius(theoretical, self.scales)
        self.halos = tuple(theoretical if halos is None else
                           (t if h is None else h for h, t in zip(halos, theoretical)))

    def _zooms(self) -> list[int]:
        """Size of each stage's input relative to the cascade's input (1, s_1, s_1·s_2, …)."""
        return [math.prod(self.scales[:k]) for k in range(len(self.scales))]

    def fit_tile(self, tile: int) -> None:
        for m, z in zip(self.stages, self._zooms()):
            m.fit_tile(tile * z)

    def _reach(self, k: int) -> int | None:
        """How far the stages after ``k`` reach, in stage ``k``'s input pixels (its own radius counted as 0)."""
        return cascade_radius([0, *self.halos[k + 1:]], self.scales[k:])

    def _sides(self, tile: int, crop: int) -> list[int]:
        """Side of every stage's input (its own px) for LR tiles of side ``tile`` cropped by ``crop`` LR px
        on every side: the earlier stages' outputs are cut down to what the later stages reach, as
        :meth:`forward_bands` does."""
        sides, left = [tile], crop
        for k, s in enumerate(self.scales[:-1]):
            reach = self._reach(k)
            c = 0 if reach is None else max(0, left - reach)
            sides.append((sides[-1] - 2 * c) * s)
            left = (left - c) * s
        return sides

    def work_side(self, tile: int, crop: int = 0) -> int:
        """The largest stage's working side: a later stage's input is the tile upscaled by the earlier
        stages, less what it need not reach of the cropped margins."""
        return max(m.work_side(side) for m, side in zip(self.stages, self._sides(tile, crop)))

    def bands_held(self, bands: int, tile: int | None = None, crop: int = 0) -> int:
        """The intermediate images (all bands) plus the last stage's pieces, counted in the tile's output
        pixels (of which a cropped stage computes fewer)."""
        sides = self._sides(tile, crop) if tile is not None else self._zooms()
        out = self.scale * (tile or 1)
        last = self.stages[-1].bands_held(bands, None if tile is None else sides[-1])
        images = [(bands, side) for side in sides[1:]] + [(last, sides[-1] * self.scales[-1])]
        return sum(-(-b * side * side // (out * out)) for b, side in images)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for m in self.stages:
            x = m(x)
        return x

    def forward_bands(self, x: torch.Tensor, crop: Crop | None = None, detail: bool = False
                      ) -> Iterator[tuple[int, int, torch.Tensor]]:
        """Earlier stages whole (their output is the next stage's input), cropped down to what the
        later stages reach; the last stage streams its pieces. ``detail``: less the bicubic ×S of ``x``."""
        x0, left = x, list(crop or (0, 0, 0, 0))  # ``left``: still to crop, in the current input's pixels
        for k, (m, s) in enumerate(zip(self.stages[:-1], self.scales)):
            reach = self._reach(k)
            c = (0, 0, 0, 0) if reach is None else tuple(max(0, v - reach) for v in left)
            x = _gather(m.forward_bands(x, c if any(c) else None), x.shape[1])
            left = [(v - cv) * s for v, cv in zip(left, c)]
        last = tuple(left) if any(left) else None
        for b0, b1, y in self.stages[-1].forward_bands(x, last):
            yield b0, b1, (y - bicubic_base(x0[:, b0:b1], self.scale, crop).to(y.dtype)) if detail else y


class Average(SRModel):
    """The mean of ``members`` (models of one scale)."""

    def __init__(self, members: Sequence[SRModel]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError("an average needs at least two models")
        self.members = nn.ModuleList(members)
        self.receptive_radius = average_radius([m.receptive_radius for m in members])

    def fit_tile(self, tile: int) -> None:
        for m in self.members:
            m.fit_tile(tile)

    def work_side(self, tile: int, crop: int = 0) -> int:
        return max(m.work_side(tile, crop) for m in self.members)

    def bands_held(self, bands: int, tile: int | None = None, crop: int = 0) -> int:
        """The running sum (all bands) plus the largest member's pieces."""
        return bands + max(m.bands_held(bands, tile, crop) for m in self.members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.members[0](x).clone()
        for m in self.members[1:]:
            out.add_(m(x))
        return out.div_(len(self.members))

    def forward_bands(self, x: torch.Tensor, crop: Crop | None = None, detail: bool = False
                      ) -> Iterator[tuple[int, int, torch.Tensor]]:
        """One piece: every member's pieces summed into the whole output, then divided."""
        out = None
        for m in self.members:
            for b0, b1, y in m.forward_bands(x, crop, detail):
                if out is None:
                    out = y.new_zeros(y.shape[0], x.shape[1], *y.shape[2:])
                out[:, b0:b1] += y
        yield 0, x.shape[1], out.div_(len(self.members))
