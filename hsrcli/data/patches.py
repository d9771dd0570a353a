"""Where training patches go: grid (SSPSR) or random (DualSR) positions inside a mask."""

from __future__ import annotations

import numpy as np


def window_ok(mask: np.ndarray, size: int) -> np.ndarray:
    """``ok[r, c]`` is True when ``mask[r:r+size, c:c+size]`` is all True.

    Shape ``(rows - size + 1, cols - size + 1)`` (empty when the mask is smaller).
    Uses a summed-area table, so it costs O(rows · cols).
    """
    rows, cols = mask.shape
    if rows < size or cols < size:
        return np.zeros((max(0, rows - size + 1), max(0, cols - size + 1)), dtype=bool)
    bad = np.pad((~mask).astype(np.int64), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    s = size
    count = bad[s:, s:] - bad[:-s, s:] - bad[s:, :-s] + bad[:-s, :-s]
    return count == 0


def grid_positions(mask: np.ndarray, size: int, stride: int) -> list[tuple[int, int]]:
    """Top-left corners on a ``stride`` grid whose whole ``size`` patch lies inside ``mask``."""
    ok = window_ok(mask, size)
    return [(int(r), int(c)) for r in range(0, ok.shape[0], stride) for c in range(0, ok.shape[1], stride)
            if ok[r, c]]


def random_positions(mask: np.ndarray, size: int, count: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """``count`` random top-left corners (without repeats while possible) of patches inside ``mask``."""
    ok = window_ok(mask, size)
    flat = np.flatnonzero(ok)
    if flat.size == 0:
        return []
    pick = rng.choice(flat.size, size=min(count, flat.size), replace=False)
    if count > flat.size:
        pick = np.concatenate([pick, rng.choice(flat.size, size=count - flat.size, replace=True)])
    rs, cs = np.unravel_index(flat[np.sort(pick)], ok.shape)
    return [(int(r), int(c)) for r, c in zip(rs, cs)]


def resize_mask(mask: np.ndarray, factor: float, out_shape: tuple[int, int]) -> np.ndarray:
    """Conservative mask for an image resized by ``factor`` < 1 (bicubic support ±2/factor + 1 px).

    A resized pixel is valid only when every source pixel its kernel touches is valid.
    """
    from scipy.ndimage import minimum_filter

    reach = int(np.ceil(2.0 / factor)) + 1
    eroded = minimum_filter(mask.astype(np.uint8), size=2 * reach + 1, mode="constant", cval=1).astype(bool)
    rows = np.minimum(((np.arange(out_shape[0]) + 0.5) / factor).astype(int), mask.shape[0] - 1)
    cols = np.minimum(((np.arange(out_shape[1]) + 0.5) / factor).astype(int), mask.shape[1] - 1)
    return eroded[np.ix_(rows, cols)]
