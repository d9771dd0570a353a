"""Weighted-sum accumulators for blending overlapping tile outputs (order-independent).

* :class:`RamAccumulator` — numpy arrays, for outputs within a memory budget;
* :class:`DiskAccumulator` — float32 sum and weight rasters in hidden temporary
  files next to the output (opensr-utils' design), mapped window by window so the
  resident memory stays at one window whatever the scene size.

Both store ``sum`` as (rows, cols, bands) and ``weight`` as (rows, cols) in HR pixels.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np


class RamAccumulator:
    """In-memory sum/weight accumulator."""

    def __init__(self, rows: int, cols: int, bands: int) -> None:
        self.sum = np.zeros((rows, cols, bands), dtype=np.float32)
        self.weight = np.zeros((rows, cols), dtype=np.float32)

    def add(self, r0: int, c0: int, values: np.ndarray, weight: np.ndarray) -> None:
        """Add ``values`` (h, w, bands) weighted by ``weight`` (h, w) at HR offset (r0, c0)."""
        h, w = weight.shape
        self.sum[r0:r0 + h, c0:c0 + w] += values * weight[:, :, None]
        self.weight[r0:r0 + h, c0:c0 + w] += weight

    def result(self, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
        """(sum, weight) of HR rows r0:r1."""
        return self.sum[r0:r1], self.weight[r0:r1]

    def close(self) -> None:
        self.sum = self.weight = None


class DiskAccumulator:
    """Sum/weight rasters in sparse temporary files, updated through short-lived memmaps."""

    def __init__(self, rows: int, cols: int, bands: int, folder: Path) -> None:
        tag = uuid.uuid4().hex[:8]
        self.shape = (rows, cols, bands)
        self.sum_path = folder / f".hsr-accumulator-{tag}.sum.partial"
        self.weight_path = folder / f".hsr-accumulator-{tag}.weight.partial"
        for p, n in ((self.sum_path, rows * cols * bands), (self.weight_path, rows * cols)):
            with open(p, "wb") as f:
                f.truncate(n * 4)  # sparse: reads as zeros

    def _maps(self, mode: str = "r+"):
        r, c, b = self.shape
        return (np.memmap(self.sum_path, np.float32, mode, shape=(r, c, b)),
                np.memmap(self.weight_path, np.float32, mode, shape=(r, c)))

    def add(self, r0: int, c0: int, values: np.ndarray, weight: np.ndarray) -> None:
        h, w = weight.shape
        weighted = np.multiply(values, weight[:, :, None], dtype=np.float32)
        s, wt = self._maps()
        s[r0:r0 + h, c0:c0 + w] += weighted
        del weighted
        wt[r0:r0 + h, c0:c0 + w] += weight
        s.flush()
        wt.flush()
        del s, wt

    def result(self, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
        s, wt = self._maps("r")
        out = np.array(s[r0:r1]), np.array(wt[r0:r1])
        del s, wt
        return out

    def close(self) -> None:
        self.sum_path.unlink(missing_ok=True)
        self.weight_path.unlink(missing_ok=True)
