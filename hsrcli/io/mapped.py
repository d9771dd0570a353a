"""Windows copied out of memory-mapped files (ENVI data files, ``.npy`` cubes) with the mapped pages bounded.

The pages a read of a mapped file faults in — the whole width of the window's rows in every band,
plus the kernel's read-around — count in the process's resident memory for as long as the map
lives: a 281-row window of an 800² × 425 float32 BSQ file held ~700 MB of them. :func:`copy_mapped`
therefore copies a window a few rows at a time, each piece through a map of its own that is dropped
before the next.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: At most this many bytes of a file's rows (whole rows, every band) are mapped at once.
MAPPED_BYTES = 32 * 2**20


def copy_mapped(open_map: Callable[[], np.ndarray], r0: int, r1: int, c0: int, c1: int,
                bands: list[int] | None, dtype: np.dtype, row_bytes: int) -> np.ndarray:
    """Rows ``r0:r1``, columns ``c0:c1`` and ``bands`` (None: all) of the ``(rows, cols, bands)`` view
    that ``open_map()`` gives of a newly mapped file, as a new array of ``dtype`` ``(h, w, b)``.

    ``row_bytes``: the file's bytes per row (all columns and bands); at most :data:`MAPPED_BYTES` of
    whole rows are copied per map. The copy keeps the file's layout as its memory layout (numpy's
    order "K": a band-sequential file gives a band-planar block, which
    :meth:`~hsrcli.io.scene.Scene.read_planes` then need not transpose)."""
    step = max(1, MAPPED_BYTES // max(row_bytes, 1))
    out = None
    for a in range(r0, max(r1, r0 + 1), step):
        b = min(r1, a + step)
        mm = open_map()
        piece = mm[a:b, c0:c1] if bands is None else mm[a:b, c0:c1][:, :, bands]
        if out is None:
            out = np.empty_like(piece, dtype=dtype, shape=(r1 - r0, *piece.shape[1:]))
        out[a - r0:b - r0] = piece
        del mm, piece  # unmapped before the next piece is mapped
    assert out is not None  # the loop runs at least once
    return out
