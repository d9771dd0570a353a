"""Writers never leave partial files and never clobber without overwrite."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.windows import Window

from hsrcli.io import HsrInputError, OutputExistsError, open_scene, open_writer
from hsrcli.io.windows import iter_windows


@pytest.mark.parametrize("name", ["o.hdr", "o.tif"])
def test_error_midway_leaves_nothing(tmp_path, utm_meta, name):
    with pytest.raises(RuntimeError):
        with open_writer(tmp_path / name, utm_meta) as w:
            w.write(Window(0, 0, 16, 8), np.zeros((8, 16, 8), np.int16))
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["o.hdr", "o.tif"])
def test_existing_output_needs_overwrite_and_survives_a_failed_run(tmp_path, utm_meta, name):
    ones = np.ones((16, 16, 8), np.int16)
    with open_writer(tmp_path / name, utm_meta) as w:
        w.write(Window(0, 0, 16, 16), ones)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(OutputExistsError, match="--overwrite"):
        open_writer(tmp_path / name, utm_meta)
    with pytest.raises(RuntimeError):
        with open_writer(tmp_path / name, utm_meta, overwrite=True) as w:
            w.write(Window(0, 0, 16, 16), ones * 7)
            raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    np.testing.assert_array_equal(open_scene(tmp_path / name).read(), ones)
    with open_writer(tmp_path / name, utm_meta, overwrite=True) as w:
        w.write(Window(0, 0, 16, 16), ones * 7)
    np.testing.assert_array_equal(open_scene(tmp_path / name).read(), ones * 7)


def test_missing_output_folder_and_bad_window(tmp_path, utm_meta):
    with pytest.raises(HsrInputError, match="output folder does not exist"):
        open_writer(tmp_path / "nope" / "o.hdr", utm_meta)
    with open_writer(tmp_path / "o.hdr", utm_meta) as w:
        with pytest.raises(ValueError, match="does not match"):
            w.write(Window(0, 0, 4, 4), np.zeros((4, 5, 8)))
        w.write(Window(0, 0, 16, 16), np.zeros((16, 16, 8)))


@pytest.mark.parametrize("interleave", ["bsq", "bil", "bip"])
def test_envi_interleaves_and_data_file_names(tmp_path, utm_meta, interleave):
    data = np.arange(16 * 16 * 8, dtype=np.int16).reshape(16, 16, 8)
    with open_writer(tmp_path / "x.dat", utm_meta, "envi", interleave=interleave) as w:
        for win in iter_windows(16, 16, 8, 2, max_bytes=16 * 8 * 2 * 5):
            r, h = int(win.row_off), int(win.height)
            w.write(win, data[r:r + h])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.dat", "x.hdr"]
    s = open_scene(tmp_path / "x.hdr")
    assert s.meta.interleave == interleave
    np.testing.assert_array_equal(s.read(), data)


@pytest.mark.parametrize("block", [(1, 1), (16, 16), (8, 23)])
@pytest.mark.parametrize("budget", [1, 23 * 4 * 2, 23 * 4 * 2 * 7, 16 * 16 * 4 * 2, 10**9])
def test_windows_cover_scene_exactly_and_align_to_blocks(block, budget):
    seen = np.zeros((37, 23), int)
    for w in iter_windows(37, 23, 4, 2, max_bytes=budget, block_shape=block):
        seen[w.row_off:w.row_off + w.height, w.col_off:w.col_off + w.width] += 1
        assert w.row_off % block[0] == 0 and w.col_off % block[1] == 0
        if w.height * w.width * 8 > budget:  # over budget only when one block is
            assert (w.height, w.width) == (min(block[0], 37 - w.row_off), min(block[1], 23 - w.col_off))
    assert (seen == 1).all()
