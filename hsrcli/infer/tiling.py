"""Tile grid and feather weights for whole-scene inference (hand-written: ECOSYSTEM.md §C8).

Coordinates are LR pixels of the scene *padded* by ``pad`` on every side
(reflection of the scene across its borders, by default ``margin``), so border pixels
get context of their own rather than the network's zero padding. Whole-image inference
is one tile over the padded scene; tiled inference reproduces it when ``margin`` is at
least the model's receptive radius, whatever ``pad``.

* Tiles are all ``tile × tile_cols`` (``tile × tile`` unless ``tile_cols`` is given; the last one in
  a row/column is moved back to end at the padded border), with ``overlap`` LR pixels shared by
  neighbours.
* Each tile's output is weighted: zero on the ``margin`` pixels next to an inner
  tile edge (outputs there saw the zero padding of the network), then a linear
  ramp over the rest of the overlap, one elsewhere. When the overlap is exactly
  twice the margin (the default) there is no ramp: each output pixel comes from
  the one tile whose *core* holds it (the cores partition the scene). With ``margin`` ≥ the model's
  receptive radius, every output pixel that gets weight is exactly the whole-image
  output, so tiled and untiled results agree; weights are normalised by their sum,
  so a model that maps a constant image to a constant one gives a seamless
  constant for any overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import isqrt

import numpy as np

from hsrcli.ops.windows import overlapping_starts


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of same-size tiles covering ``[0, length)`` with ``overlap`` between neighbours."""
    return overlapping_starts(length, tile, overlap)


def core_bounds(starts: list[int], tile: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """Owned span ``[a, b)`` of each tile along one axis: the spans partition ``[lo, hi)``.

    Neighbours split their overlap at its middle, so with ``overlap >= 2·margin`` every
    owned pixel lies at least ``margin`` pixels inside its tile's inner edges.
    """
    spans = []
    for i, s in enumerate(starts):
        a = lo if i == 0 else max(lo, (s + starts[i - 1] + tile) // 2)
        b = hi if i == len(starts) - 1 else min(hi, (starts[i + 1] + s + tile) // 2)
        spans.append((a, max(a, b)))
    return spans


def axis_weights(start: int, size: int, length: int, margin: int, overlap: int, scale: int) -> np.ndarray:
    """HR weights (size·scale,) of one tile along one axis of a padded length ``length``."""
    n = size * scale
    w = np.ones(n, dtype=np.float64)
    m = margin * scale
    ramp = max(0, overlap - 2 * margin) * scale
    if start > 0:  # inner edge on the low side
        w[:m] = 0.0
        if ramp:
            w[m:m + ramp] = (np.arange(ramp) + 0.5) / ramp
    if start + size < length:  # inner edge on the high side
        w[n - m:] = 0.0
        if ramp:
            w[n - m - ramp:n - m] = np.minimum(w[n - m - ramp:n - m], (np.arange(ramp, 0, -1) - 0.5) / ramp)
    return w


@dataclass(frozen=True)
class Tile:
    """One tile: LR window in padded coordinates and its HR weights."""

    row: int  # padded LR row of the top edge
    col: int
    size_r: int
    size_c: int


@dataclass
class TileGrid:
    """All tiles of a scene of ``rows × cols`` LR pixels."""

    rows: int
    cols: int
    tile: int  # tile rows (LR px); the columns too unless ``tile_cols`` is given
    overlap: int
    margin: int
    scale: int
    pad: int | None = None  # mirrored border of the scene (LR px); None: ``margin``
    tile_cols: int | None = None  # tile columns (LR px); None: ``tile``

    def __post_init__(self) -> None:
        self.pad = self.margin if self.pad is None else self.pad
        self.tile_cols = self.tile if self.tile_cols is None else self.tile_cols
        if min(self.tile, self.tile_cols) < 1 or self.overlap < 0 or self.margin < 0 or self.pad < 0:
            raise ValueError("tile must be >= 1 and overlap, margin, pad >= 0")
        if 2 * self.margin > self.overlap:
            raise ValueError("the discarded margins cannot exceed the overlap")
        self.prow, self.pcol = self.rows + 2 * self.pad, self.cols + 2 * self.pad
        self.tr, self.tc = min(self.tile, self.prow), min(self.tile_cols, self.pcol)
        if (self.overlap >= self.tile and self.tile < self.prow) or (self.overlap >= self.tile_cols
                                                                     and self.tile_cols < self.pcol):
            raise ValueError(f"--overlap {self.overlap} must be smaller than --tile {min(self.tile, self.tile_cols)}")
        self.row_starts = tile_starts(self.prow, self.tr, self.overlap)
        self.col_starts = tile_starts(self.pcol, self.tc, self.overlap)
        self._row_cores = dict(zip(self.row_starts, core_bounds(self.row_starts, self.tr, self.pad,
                                                                 self.pad + self.rows)))
        self._col_cores = dict(zip(self.col_starts, core_bounds(self.col_starts, self.tc, self.pad,
                                                                 self.pad + self.cols)))

    @property
    def feathered(self) -> bool:
        """Whether neighbours blend with ramps (overlap > 2 × margin); if not, every output pixel
        is taken from the one tile whose core (:meth:`core`) holds it."""
        return self.overlap > 2 * self.margin

    def __iter__(self):
        for r in self.row_starts:
            for c in self.col_starts:
                yield Tile(r, c, self.tr, self.tc)

    def __len__(self) -> int:
        return len(self.row_starts) * len(self.col_starts)

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of every tile (LR px): the planned tile, clipped to the padded scene."""
        return self.tr, self.tc

    @property
    def side(self) -> int:
        """Side of the square with a tile's area (LR px): what models size their memory by
        (:meth:`~hsrcli.models.base.SRModel.fit_tile`)."""
        return isqrt(self.tr * self.tc)

    def core(self, t: Tile) -> tuple[int, int, int, int]:
        """Padded LR box ``(r0, r1, c0, c1)`` this tile owns; the boxes of all tiles partition the scene."""
        (r0, r1), (c0, c1) = self._row_cores[t.row], self._col_cores[t.col]
        return r0, r1, c0, c1

    def kept(self, t: Tile) -> tuple[int, int, int, int]:
        """Padded LR box ``(r0, r1, c0, c1)`` of the tile's outputs that are used: its core, or with
        feathering the pixels of the scene past the discarded margins (where :meth:`weights` > 0)."""
        if not self.feathered:
            return self.core(t)

        def span(start: int, size: int, length: int, extent: int) -> tuple[int, int]:
            lo = start + (self.margin if start > 0 else 0)
            hi = start + size - (self.margin if start + size < length else 0)
            return max(lo, self.pad), min(hi, self.pad + extent)

        return *span(t.row, t.size_r, self.prow, self.rows), *span(t.col, t.size_c, self.pcol, self.cols)

    def crop(self, t: Tile) -> tuple[int, int, int, int]:
        """LR pixels of the tile outside :meth:`kept` at its (top, bottom, left, right): what the model
        need not compute (:data:`hsrcli.models.base.Crop`)."""
        r0, r1, c0, c1 = self.kept(t)
        if r1 <= r0 or c1 <= c0:  # nothing kept (not on the grids the planner makes): compute it all
            return 0, 0, 0, 0
        return r0 - t.row, t.row + t.size_r - r1, c0 - t.col, t.col + t.size_c - c1

    def weights(self, t: Tile) -> np.ndarray:
        """HR weight map ``(size_r·s, size_c·s)`` float32 of a tile."""
        wr = axis_weights(t.row, t.size_r, self.prow, self.margin, self.overlap, self.scale)
        wc = axis_weights(t.col, t.size_c, self.pcol, self.margin, self.overlap, self.scale)
        return np.outer(wr, wc).astype(np.float32)
