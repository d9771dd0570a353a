"""Windows copied out of memory-mapped files a few rows at a time (hsrcli/io/mapped.py)."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.windows import Window

from hsrcli.io import mapped, open_scene
from hsrcli.io.mapped import copy_mapped


def test_copy_mapped_maps_each_piece_anew_and_keeps_the_layout():
    """Every piece of at most MAPPED_BYTES of whole rows comes from a map opened for it, and the copy has
    the source's memory layout (band-planar from a band-planar source)."""
    planes = np.arange(5 * 7 * 3, dtype=np.int16).reshape(3, 5, 7)  # (bands, rows, cols)
    opened = []

    def open_map():
        opened.append(1)
        return planes.transpose(1, 2, 0)

    out = copy_mapped(open_map, 1, 5, 2, 6, None, np.dtype("float32"), row_bytes=100)
    np.testing.assert_array_equal(out, planes.transpose(1, 2, 0)[1:5, 2:6])
    assert out.dtype == np.float32 and out.transpose(2, 0, 1).flags.c_contiguous
    assert len(opened) == 1
    opened.clear()
    out = copy_mapped(open_map, 0, 5, 0, 7, [2, 0], np.dtype("int16"), row_bytes=mapped.MAPPED_BYTES // 2)
    np.testing.assert_array_equal(out, planes.transpose(1, 2, 0)[:, :, [2, 0]])
    assert len(opened) == 3  # two rows per map
    assert copy_mapped(open_map, 3, 3, 0, 7, None, np.dtype("int16"), 100).shape == (0, 7, 3)


@pytest.mark.parametrize("layout", ["hwc", "chw"])
def test_npy_windows_are_read_a_few_mapped_rows_at_a_time(tmp_path, monkeypatch, layout):
    cube = np.random.default_rng(0).normal(size=(9, 6, 4)).astype(np.float32)
    np.save(tmp_path / "c.npy", cube if layout == "hwc" else cube.transpose(2, 0, 1))
    monkeypatch.setattr(mapped, "MAPPED_BYTES", 2 * 6 * 4 * 4)
    scene = open_scene(tmp_path / "c.npy", layout=layout)
    np.testing.assert_array_equal(scene.read(), cube)
    np.testing.assert_array_equal(scene.read(Window(1, 2, 4, 5), [3, 1]), cube[2:7, 1:5][:, :, [3, 1]])
    np.testing.assert_array_equal(scene.read_planes(Window(0, 3, 6, 5)), cube[3:8].transpose(2, 0, 1))
