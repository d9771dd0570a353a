"""Weighted-sum accumulators for blending overlapping tile outputs (order-independent).

* :class:`RamAccumulator` — numpy arrays, for outputs within a memory budget;
* :class:`DiskAccumulator` — float32 sum and weight rasters in hidden temporary
  files next to the output (opensr-utils' design), read and written row segment by
  row segment so the resident memory stays at one window whatever the scene size.

Both store the sum band-planar and take blocks as models produce them, ``(bands, rows, cols)``
(a block may cover a range of bands, ``band0``; its weight (rows, cols) is counted once per
tile); :meth:`result` returns ``(rows, cols, bands)`` windows as writers take them. HR pixels.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hsrcli.io.atomic import process_tag


class RamAccumulator:
    """In-memory sum/weight accumulator."""

    def __init__(self, rows: int, cols: int, bands: int) -> None:
        self.sum = np.zeros((bands, rows, cols), dtype=np.float32)
        self.weight = np.zeros((rows, cols), dtype=np.float32)

    def add(self, r0: int, c0: int, values: np.ndarray, weight: np.ndarray, band0: int = 0,
            add_weight: bool = True) -> None:
        """Add ``values`` (b, h, w) — bands ``band0:band0+b`` — weighted by ``weight`` (h, w) at HR
        offset (r0, c0); ``add_weight``: also count the weight (once per tile)."""
        h, w = weight.shape
        target = self.sum[band0:band0 + values.shape[0], r0:r0 + h, c0:c0 + w]
        target += values * weight
        if add_weight:
            self.weight[r0:r0 + h, c0:c0 + w] += weight

    def result(self, r0: int, r1: int, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
        """(sum (h, w, bands), weight (h, w)) of HR rows r0:r1, columns c0:c1."""
        return np.ascontiguousarray(self.sum[:, r0:r1, c0:c1].transpose(1, 2, 0)), self.weight[r0:r1, c0:c1]

    def close(self) -> None:
        self.sum = self.weight = None


class DiskAccumulator:
    """Sum/weight rasters in sparse temporary files, updated with positioned reads and writes.

    The sum file is band-planar ``(bands, rows, cols)``, so adding a range of bands reads and
    writes only those bands (models hand their output over in band ranges); the weight file
    is ``(rows, cols)``. Only the rows of the window being updated are read (``os.pread``)
    and written back (``os.pwrite``): no file mapping, so the page cache never counts towards
    this process's memory, whatever the scene size.
    """

    def __init__(self, rows: int, cols: int, bands: int, folder: Path) -> None:
        tag = process_tag()  # names this process: a later run's check_targets removes them if it was killed
        self.shape = (rows, cols, bands)
        self.sum_path = folder / f".hsr-accumulator-sum.{tag}.partial"
        self.weight_path = folder / f".hsr-accumulator-weight.{tag}.partial"
        self._fds = []
        for p, n in ((self.sum_path, rows * cols * bands), (self.weight_path, rows * cols)):
            fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            os.ftruncate(fd, n * 4)  # sparse: reads as zeros
            self._fds.append(fd)

    def _plane(self, fd: int, plane: int, r0: int, r1: int, c0: int, c1: int,
               data: np.ndarray | None = None) -> np.ndarray | None:
        """Read (data None) or write rows r0:r1, cols c0:c1 of one (rows, cols) plane of a file."""
        rows, cols, _ = self.shape
        nbytes = (c1 - c0) * 4
        if data is None:
            out = np.empty((r1 - r0, c1 - c0), dtype=np.float32)
        for k, r in enumerate(range(r0, r1)):
            offset = ((plane * rows + r) * cols + c0) * 4
            if data is None:
                out[k] = np.frombuffer(os.pread(fd, nbytes, offset), dtype=np.float32)
            else:
                os.pwrite(fd, np.ascontiguousarray(data[k], dtype=np.float32).tobytes(), offset)
        return out if data is None else None

    def add(self, r0: int, c0: int, values: np.ndarray, weight: np.ndarray, band0: int = 0,
            add_weight: bool = True) -> None:
        """As :meth:`RamAccumulator.add`."""
        h, w = weight.shape
        for j in range(values.shape[0]):
            plane = self._plane(self._fds[0], band0 + j, r0, r0 + h, c0, c0 + w)
            plane += values[j] * weight
            self._plane(self._fds[0], band0 + j, r0, r0 + h, c0, c0 + w, plane)
        if add_weight:
            wt = self._plane(self._fds[1], 0, r0, r0 + h, c0, c0 + w)
            wt += weight
            self._plane(self._fds[1], 0, r0, r0 + h, c0, c0 + w, wt)

    def result(self, r0: int, r1: int, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
        bands = self.shape[2]
        total = np.empty((r1 - r0, c1 - c0, bands), dtype=np.float32)
        for b in range(bands):
            total[:, :, b] = self._plane(self._fds[0], b, r0, r1, c0, c1)
        return total, self._plane(self._fds[1], 0, r0, r1, c0, c1)

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []
        self.sum_path.unlink(missing_ok=True)
        self.weight_path.unlink(missing_ok=True)
