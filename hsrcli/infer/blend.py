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

:meth:`result` returns blended band-planar ``(bands, rows, cols)`` float32 windows, the layout models
produce and GeoTIFF writers take (:meth:`~hsrcli.io.writers.SceneWriter.write_planes`): no pixel
interleaving on the way out.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np

from hsrcli.io.atomic import process_tag, reserve


def _normalised(total: np.ndarray, weight: np.ndarray | None) -> np.ndarray:
    """``total`` (bands, h, w) over ``weight`` (h, w) per pixel (weight 0: 0), or ``total`` when unweighted."""
    if weight is None:
        return total
    total /= np.maximum(weight, 1e-20)[None]
    return total


def _read_into(fd: int, buf: np.ndarray, offset: int) -> None:
    """Fill the contiguous array ``buf`` from byte ``offset`` of file ``fd`` (reads past the end of a
    sparse file's data read zeros; a short read is an error)."""
    view = memoryview(buf).cast("B")
    while len(view):
        n = os.preadv(fd, [view], offset)
        if n <= 0:
            raise OSError(f"accumulator file ended {len(view)} bytes early")
        view, offset = view[n:], offset + n


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
        """Blended values (bands, h, w) float32 of HR rows r0:r1, columns c0:c1 (a copy: the caller may
        consume it)."""
        total = self.sum[:, r0:r1, c0:c1].copy()
        return _normalised(total, None if self.weight is None else self.weight[r0:r1, c0:c1])

    def close(self) -> None:
        self.sum = self.weight = None


class DiskAccumulator:
    """Sum (and weight) rasters in sparse temporary files, updated window by window.

    The sum file is band-planar ``(bands, rows, cols)``, so adding a range of bands reads and
    writes only those bands (models hand their output over in band ranges); the weight file
    is ``(rows, cols)``. Only the rows of the window being updated are read and written back
    (unweighted: only written) — whole rows by positioned reads and writes, narrower windows
    through a mapping of those rows of one plane, unmapped at once: the page cache never counts
    towards this process's memory beyond one window's pages, whatever the scene size.
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
                reserve(self._fds[-1], n * 4)  # reads as zeros; a full disk fails now, not mid-run
        except BaseException:  # a full disk, SIGTERM: nothing stays behind
            self.close()
            raise

    @property
    def weighted(self) -> bool:
        return len(self.paths) == 2

    def _plane(self, fd: int, plane: int, r0: int, r1: int, c0: int, c1: int,
               data: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray | None:
        """Read (data None; into ``out`` (r1 - r0, c1 - c0) float32 if given) or write rows r0:r1, cols
        c0:c1 of one (rows, cols) plane of a file. Whole rows are one contiguous range of the file: one
        positioned read or write. A narrower window maps those rows for the copy and unmaps them (one
        system call per row took ~4 s per GB of 256-px-wide windows; only the touched pages, about a
        page per row, are resident meanwhile)."""
        rows, cols, _ = self.shape
        if data is None:
            out = np.empty((r1 - r0, c1 - c0), dtype=np.float32) if out is None else out
        else:
            data = np.ascontiguousarray(data, dtype=np.float32)
        if r1 <= r0 or c1 <= c0:
            return out
        start = (plane * rows + r0) * cols * 4
        if c0 == 0 and c1 == cols:
            if data is None:
                _read_into(fd, out.reshape(-1), start)
            else:
                os.pwrite(fd, data.reshape(-1), start)
            return out
        lead = start % mmap.ALLOCATIONGRANULARITY  # a mapping starts on a granule
        with mmap.mmap(fd, lead + (r1 - r0) * cols * 4, offset=start - lead) as mm:
            view = np.frombuffer(mm, dtype=np.float32, count=(r1 - r0) * cols, offset=lead)
            window = view.reshape(r1 - r0, cols)[:, c0:c1]
            try:
                if data is None:
                    out[...] = window
                else:
                    window[...] = data
            finally:
                del view, window  # no view may outlive the mapping
        return out

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
        total = np.empty((bands, r1 - r0, c1 - c0), dtype=np.float32)
        for b in range(bands):
            self._plane(self._fds[0], b, r0, r1, c0, c1, out=total[b])
        return _normalised(total, self._plane(self._fds[1], 0, r0, r1, c0, c1) if self.weighted else None)

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []
        for p in self.paths:
            p.unlink(missing_ok=True)
