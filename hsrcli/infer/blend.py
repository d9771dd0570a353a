"""Where tile outputs meet: weighted-sum accumulators, or canvases of owned pixels (HR pixels).

* :class:`RamAccumulator` — numpy arrays, for outputs within a memory budget;
* :class:`DiskAccumulator` — float32 rasters in hidden temporary files next to the output
  (opensr-utils' design), read and written row segment by row segment so the resident memory
  stays at one window whatever the scene size.

Both store values band-planar and take blocks as models produce them, ``(bands, rows, cols)``
(a block may cover a range of bands, ``band0``). Two modes:

* ``weighted=True`` (feathered tiles, ``--overlap`` above twice the margin): every block is
  added with its weight (rows, cols), counted once per tile; :meth:`result` divides the sum by
  the summed weight;
* ``weighted=False`` (the default grids: the tiles' trusted cores partition the scene): every
  block is one tile's core and is *stored*, nothing is read back or weighted; no weight raster.

:meth:`result` returns blended ``(rows, cols, bands)`` float32 windows as writers take them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hsrcli.io.atomic import process_tag


def _normalised(total: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
    """``total / weight`` per pixel (weight 0: 0), or ``total`` when unweighted."""
    if weight is None:
        return total
    total /= np.maximum(weight, 1e-20)[:, :, None]
    return total


class RamAccumulator:
    """In-memory sum (and weight) of tile outputs."""

    def __init__(self, rows: int, cols: int, bands: int, weighted: bool = True) -> None:
        self.sum = np.zeros((bands, rows, cols), dtype=np.float32)
        self.weight = np.zeros((rows, cols), dtype=np.float32) if weighted else None

    def add(self, r0: int, c0: int, values: np.ndarray, weight: np.ndarray | None = None, band0: int = 0,
            add_weight: bool = True) -> None:
        """Bands ``band0:band0+b`` of ``values`` (b, h, w) at HR offset (r0, c0): weighted by ``weight``
        (h, w), counted when ``add_weight`` (once per tile) — or, unweighted, stored as they are."""
        h, w = values.shape[1:]
        target = self.sum[band0:band0 + values.shape[0], r0:r0 + h, c0:c0 + w]
        if self.weight is None:
            target[...] = values
            return
        target += values * weight
        if add_weight:
            self.weight[r0:r0 + h, c0:c0 + w] += weight

    def result(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """Blended values (h, w, bands) float32 of HR rows r0:r1, columns c0:c1."""
        total = np.ascontiguousarray(self.sum[:, r0:r1, c0:c1].transpose(1, 2, 0))
        return _normalised(total, None if self.weight is None else self.weight[r0:r1, c0:c1])

    def close(self) -> None:
        self.sum = self.weight = None


class DiskAccumulator:
    """Sum (and weight) rasters in sparse temporary files, updated with positioned reads and writes.

    The sum file is band-planar ``(bands, rows, cols)``, so adding a range of bands reads and
    writes only those bands (models hand their output over in band ranges); the weight file
    is ``(rows, cols)``. Only the rows of the window being updated are read (``os.pread``)
    and written back (``os.pwrite``) — unweighted, only written: no file mapping, so the page
    cache never counts towards this process's memory, whatever the scene size.
    """

    def __init__(self, rows: int, cols: int, bands: int, folder: Path, weighted: bool = True) -> None:
        tag = process_tag()  # names this process: a later run's check_targets removes them if it was killed
        self.shape = (rows, cols, bands)
        self.paths = [folder / f".hsr-accumulator-sum.{tag}.partial"]
        if weighted:
            self.paths.append(folder / f".hsr-accumulator-weight.{tag}.partial")
        self._fds = []
        try:
            for p, n in zip(self.paths, (rows * cols * bands, rows * cols)):
                self._fds.append(os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600))
                os.ftruncate(self._fds[-1], n * 4)  # sparse: reads as zeros
        except BaseException:  # a full disk, SIGTERM: nothing stays behind
            self.close()
            raise

    @property
    def weighted(self) -> bool:
        return len(self.paths) == 2

    def _plane(self, fd: int, plane: int, r0: int, r1: int, c0: int, c1: int,
               data: np.ndarray | None = None) -> np.ndarray | None:
        """Read (data None) or write rows r0:r1, cols c0:c1 of one (rows, cols) plane of a file."""
        rows, cols, _ = self.shape
        nbytes = (c1 - c0) * 4
        if data is None:
            out = np.empty((r1 - r0, c1 - c0), dtype=np.float32)
        else:
            data = np.ascontiguousarray(data, dtype=np.float32)
        for k, r in enumerate(range(r0, r1)):
            offset = ((plane * rows + r) * cols + c0) * 4
            if data is None:
                out[k] = np.frombuffer(os.pread(fd, nbytes, offset), dtype=np.float32)
            else:
                os.pwrite(fd, data[k], offset)
        return out if data is None else None

    def add(self, r0: int, c0: int, values: np.ndarray, weight: np.ndarray | None = None, band0: int = 0,
            add_weight: bool = True) -> None:
        """As :meth:`RamAccumulator.add`."""
        h, w = values.shape[1:]
        for j in range(values.shape[0]):
            if not self.weighted:
                self._plane(self._fds[0], band0 + j, r0, r0 + h, c0, c0 + w, values[j])
                continue
            plane = self._plane(self._fds[0], band0 + j, r0, r0 + h, c0, c0 + w)
            plane += values[j] * weight
            self._plane(self._fds[0], band0 + j, r0, r0 + h, c0, c0 + w, plane)
        if self.weighted and add_weight:
            wt = self._plane(self._fds[1], 0, r0, r0 + h, c0, c0 + w)
            wt += weight
            self._plane(self._fds[1], 0, r0, r0 + h, c0, c0 + w, wt)

    def result(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """As :meth:`RamAccumulator.result`."""
        bands = self.shape[2]
        total = np.empty((r1 - r0, c1 - c0, bands), dtype=np.float32)
        for b in range(bands):
            total[:, :, b] = self._plane(self._fds[0], b, r0, r1, c0, c1)
        return _normalised(total, self._plane(self._fds[1], 0, r0, r1, c0, c1) if self.weighted else None)

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []
        for p in self.paths:
            p.unlink(missing_ok=True)
