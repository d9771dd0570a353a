"""A rectangular part of a scene, or some of its bands, seen as a scene of its own, or a scene under
other metadata (lazy; no copy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hsrcli.errors import HsrInputError
from hsrcli.io.coords import parse_ints
from hsrcli.io.meta import SceneMeta
from hsrcli.io.scene import Scene


class CroppedScene(Scene):
    """Rows ``r0:r1`` and columns ``c0:c1`` (half-open) of ``base``.

    The metadata is the base's for that part (:meth:`SceneMeta.cropped`).
    """

    def __init__(self, base: Scene, r0: int, c0: int, r1: int, c1: int) -> None:
        m = base.meta
        if not (0 <= r0 < r1 <= m.rows and 0 <= c0 < c1 <= m.cols):
            raise HsrInputError(f"crop {r0},{c0},{r1},{c1} is outside the {m.rows} x {m.cols} scene {base.path}")
        meta = m.cropped(r0, c0, r1, c1)
        self.base, self.offset = base, (r0, c0)
        self.block_shape = base.block_shape
        super().__init__(base.path, meta)

    def _read(self, r0: int, r1: int, c0: int, c1: int, bands: list[int] | None) -> np.ndarray:
        from rasterio.windows import Window

        dr, dc = self.offset
        return self.base.read(Window(c0 + dc, r0 + dr, c1 - c0, r1 - r0), bands)

    def files(self) -> list[Path]:
        return self.base.files()

    def close(self) -> None:
        self.base.close()


class BandSubset(Scene):
    """Bands ``bands`` of ``base`` (0-based, in that order), e.g. from
    :func:`~hsrcli.io.bands.parse_band_selection`; the metadata follows (:meth:`SceneMeta.select_bands`)."""

    def __init__(self, base: Scene, bands: list[int]) -> None:
        try:
            meta = base.meta.select_bands(bands)
        except ValueError as exc:
            raise HsrInputError(f"{base.path}: {exc}") from None
        self.base, self.bands = base, [int(b) for b in bands]
        self.block_shape = base.block_shape
        super().__init__(base.path, meta)

    def _read(self, r0: int, r1: int, c0: int, c1: int, bands: list[int] | None) -> np.ndarray:
        from rasterio.windows import Window

        chosen = self.bands if bands is None else [self.bands[b] for b in bands]
        return self.base.read(Window(c0, r0, c1 - c0, r1 - r0), chosen)

    def files(self) -> list[Path]:
        return self.base.files()

    def close(self) -> None:
        self.base.close()


def parse_crop_box(spec: str) -> tuple[int, int, int, int]:
    """``ROW0,COL0,ROW1,COL1`` (half-open, 0-based)."""
    r0, c0, r1, c1 = parse_ints(spec, "ROW0,COL0,ROW1,COL1", "--crop", "half-open, 0-based")
    return r0, c0, r1, c1


class Relabelled(Scene):
    """``base``'s pixels under other metadata ``meta`` of the same size and type: a staged cascade's
    intermediate image (:mod:`hsrcli.infer.staged`), read with the metadata of the scene it came from."""

    def __init__(self, base: Scene, meta: SceneMeta) -> None:
        b = base.meta
        if (meta.rows, meta.cols, meta.bands, meta.dtype) != (b.rows, b.cols, b.bands, b.dtype):
            raise ValueError(f"{base.path}: {b.rows} x {b.cols} x {b.bands} {b.dtype.name}, described as "
                             f"{meta.rows} x {meta.cols} x {meta.bands} {meta.dtype.name}")
        self.base = base
        self.block_shape = base.block_shape
        super().__init__(base.path, meta)

    def _read(self, r0: int, r1: int, c0: int, c1: int, bands: list[int] | None) -> np.ndarray:
        return self.base._read(r0, r1, c0, c1, bands)  # same pixels: the base's own read, in its layout

    def files(self) -> list[Path]:
        return self.base.files()

    def close(self) -> None:
        self.base.close()
