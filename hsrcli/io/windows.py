"""Window grids for streaming a scene through memory in bounded pieces.

Windows are :class:`rasterio.windows.Window` objects (``col_off, row_off, width,
height`` in pixels of the scene they index).
"""

from __future__ import annotations

from collections.abc import Iterator

from rasterio.windows import Window

DEFAULT_WINDOW_BYTES = 64 * 2**20


def iter_windows(
    rows: int,
    cols: int,
    bands: int,
    itemsize: int,
    max_bytes: int = DEFAULT_WINDOW_BYTES,
    block_shape: tuple[int, int] = (1, 1),
) -> Iterator[Window]:
    """Cover a ``rows × cols`` scene with windows of at most ``max_bytes`` each.

    Preferred windows are full-width row strips (fastest for every ENVI
    interleave) whose height is a multiple of the storage block height. When a
    strip one block high is over budget and the storage is blocked (tiled
    GeoTIFF), windows are whole blocks: one block high and a multiple of the block
    width wide, so that every compressed tile is read or written exactly once.
    Otherwise rows are cut into column pieces. The windows are disjoint and cover
    every pixel exactly once, in row-major order. A single block larger than the
    budget still makes one window.
    """
    if rows <= 0 or cols <= 0:
        return
    block_h, block_w = max(1, block_shape[0]), max(1, block_shape[1])
    pixel_bytes = max(1, bands * itemsize)
    per_row = cols * pixel_bytes
    if per_row * block_h <= max_bytes:
        height = max(block_h, (max_bytes // per_row) // block_h * block_h)
        for r in range(0, rows, height):
            yield Window(0, r, cols, min(height, rows - r))
        return
    height = block_h
    width = max(1, max_bytes // (pixel_bytes * height))
    if block_w > 1:
        width = max(block_w, width // block_w * block_w)
    for r in range(0, rows, height):
        for c in range(0, cols, width):
            yield Window(c, r, min(width, cols - c), min(height, rows - r))
