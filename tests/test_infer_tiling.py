"""Tile grids: the part of each tile that is kept, and the crop the model may leave out."""

from __future__ import annotations

import numpy as np
import pytest

from hsrcli.infer.tiling import TileGrid


@pytest.mark.parametrize("rows,cols,tile,overlap,margin,pad", [
    (50, 41, 16, 6, 3, 3), (50, 41, 16, 10, 3, 3), (37, 64, 20, 8, 2, 5), (9, 9, 30, 6, 3, 3), (40, 40, 24, 9, 4, 0)])
def test_kept_box_is_where_weights_are_positive_inside_the_scene(rows, cols, tile, overlap, margin, pad):
    s = 2
    g = TileGrid(rows, cols, tile, overlap, margin, s, pad=pad)
    for t in g:
        r0, r1, c0, c1 = g.kept(t)
        if g.feathered:
            w = g.weights(t)[::s, ::s] > 0  # LR resolution
            inside = np.zeros_like(w)
            inside[max(0, pad - t.row):pad + rows - t.row, max(0, pad - t.col):pad + cols - t.col] = True
            used = np.argwhere(w & inside)
            assert (r0 - t.row, c0 - t.col) == tuple(used.min(axis=0))
            assert (r1 - t.row, c1 - t.col) == tuple(used.max(axis=0) + 1)
        else:
            assert (r0, r1, c0, c1) == g.core(t)
        top, bottom, left, right = g.crop(t)
        assert min(top, bottom, left, right) >= 0
        assert (t.row + top, t.row + t.size_r - bottom, t.col + left, t.col + t.size_c - right) == (r0, r1, c0, c1)


def test_auto_tile_bounds_the_area_a_cascade_works_on():
    """A cascade's last stage runs on the tile upscaled by the earlier ones: the tile shrinks so that
    that area stays within the working-set bound."""
    from hsrcli.infer.tileplan import TILE_LR_PIXELS, auto_tile

    plain = auto_tile(8, 4, 30, 1000, 1000)
    cascade = auto_tile(8, 4, 30, 1000, 1000, work=lambda side: 2 * side)
    assert plain[0] * plain[1] <= TILE_LR_PIXELS < 4 * plain[0] * plain[1]
    assert 4 * cascade[0] * cascade[1] <= TILE_LR_PIXELS and max(cascade) < min(plain)
