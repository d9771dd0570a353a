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


def test_the_scene_is_mirrored_by_half_the_measured_radius_else_by_the_margin(runner, tmp_path):
    """``border_pad``: half the measured effective radius, rounded up (the bundled models' borders); a model
    without a measured radius keeps the tiles' discarded margin. ``hsr upscale --json`` reports it."""
    import json

    from rasters import make_cube, write_raw_envi

    from hsrcli.cli import app
    from hsrcli.infer.resolve import resolve_model
    from hsrcli.infer.tileplan import border_pad

    assert border_pad(16, 41) == 8 and border_pad(15, 41) == 8 and border_pad(None, 41) == 41 and border_pad(0, 5) == 0
    src = write_raw_envi(tmp_path, make_cube(20, 24, 5, "int16", seed=1), name="s")
    res = runner.invoke(app, ["upscale", str(src), "-s", "2", "-m", "lkca-g_x2", "-o", str(tmp_path / "o.hdr"), "-q",
                              "--json"])
    assert res.exit_code == 0, res.output
    stats = json.loads(res.stdout[res.stdout.index("{"):])
    assert stats["pad"] == border_pad(resolve_model("lkca-g_x2", 5, 2).effective_radius, 0) < stats["margin"]
