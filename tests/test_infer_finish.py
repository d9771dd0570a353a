"""The last step of upscale (hsrcli/infer/finish.py): nodata restored, values cast, cores written in place."""

from __future__ import annotations

import numpy as np
import pytest
from rasters import write_geotiff, write_raw_envi

from hsrcli.infer.finish import CoreWriter, Finisher
from hsrcli.io import SceneMeta, open_scene, open_writer


def test_integer_output_is_rounded_and_clipped(tmp_path):
    scene = open_scene(write_geotiff(tmp_path / "a.tif", np.ones((2, 2, 3), np.float32)))
    block = np.array([[[-3.2, 0.5, 1.49], [1.5, 70000.0, np.nan]]] * 2, dtype=np.float32)
    out = Finisher(scene, 1, np.dtype("uint16"), None).planes(np.ascontiguousarray(block.transpose(2, 0, 1)), 0, 0, 0)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out.transpose(1, 2, 0)[0], [[0, 0, 1], [2, 65535, 0]])  # round half to even, clip, NaN -> 0


def test_32_bit_limits_do_not_overflow(tmp_path):
    scene = open_scene(write_geotiff(tmp_path / "a.tif", np.ones((1, 2, 1), np.float32)))
    block = np.array([[[3e9], [-np.inf]]], dtype=np.float32)
    out = Finisher(scene, 1, np.dtype("int32"), None).planes(np.ascontiguousarray(block.transpose(2, 0, 1)), 0, 0, 0)
    np.testing.assert_array_equal(out.ravel(), [2**31 - 1, -(2**31)])


@pytest.mark.parametrize("dtype,nodata", [("float32", None), ("int16", -999.0), ("uint8", None)])
def test_missing_lr_pixels_are_filled_band_by_band_in_any_piece(tmp_path, dtype, nodata):
    """A whole strip of every band and a tile's band ranges at an offset finish alike: an HR pixel is
    missing in the bands where its LR pixel is."""
    g = np.random.default_rng(0)
    lr = (g.random((5, 6, 4)) * 100).astype(np.float32)
    lr[1, 2, 3] = np.nan  # missing in band 3 only
    lr[4, 0, :] = np.nan  # missing everywhere
    scene = open_scene(write_raw_envi(tmp_path, lr))
    hr = (g.random((4, 10, 12)) * 300 - 50).astype(np.float32)
    fin = Finisher(scene, 2, np.dtype(dtype), nodata)
    whole = fin.planes(hr.copy(), 0, 0, 0)
    pieces = np.concatenate([fin.planes(hr[b0:b1, 2:8, 4:12].copy(), 2, 4, b0) for b0, b1 in [(0, 3), (3, 4)]])
    np.testing.assert_array_equal(pieces, whole[:, 2:8, 4:12])
    fill = nodata if nodata is not None else (np.nan if dtype == "float32" else 0)
    np.testing.assert_array_equal(whole[3, 2:4, 4:6], np.full((2, 2), fill, dtype))  # that band's HR pixels
    assert not np.isnan(whole[:3, 2:4, 4:6].astype(np.float64)).any()  # the other bands kept
    np.testing.assert_array_equal(whole[:, 8:10, 0:2], np.full((4, 2, 2), fill, dtype))


@pytest.mark.parametrize("dtype,nodata", [("int16", -999.0), ("uint8", None), (">i2", None), ("uint16", 7.0),
                                          ("float32", None)])
def test_a_block_cast_early_finishes_as_a_float_block(tmp_path, dtype, nodata):
    """``cast_early`` on the model's device (integer types torch has everywhere; others untouched),
    then ``planes``: the same values as ``planes`` on the float block, fill included."""
    import torch

    g = np.random.default_rng(2)
    lr = (g.random((5, 6, 3)) * 100).astype(np.float32)
    lr[1, 2, 1] = np.nan
    scene = open_scene(write_raw_envi(tmp_path, lr))
    hr = (g.random((3, 10, 12)) * 400 - 100).astype(np.float32)
    hr[0, 0, :3] = [np.nan, np.inf, 1e6]
    fin = Finisher(scene, 2, np.dtype(dtype), nodata)
    late = fin.planes(hr.copy(), 0, 0, 0)
    early = fin.cast_early(torch.from_numpy(hr.copy()))
    assert early.dtype == (torch.float32 if dtype in ("uint16", "float32") else torch.from_numpy(late[:0].astype(
        late.dtype.newbyteorder("="))).dtype)
    np.testing.assert_array_equal(fin.planes(early.numpy(), 0, 0, 0), late)


@pytest.mark.parametrize("dtype", ["float32", "int16"])
def test_a_flat_band_holds_its_value_exactly_where_not_missing(tmp_path, dtype):
    """``constants``: the flat bands' one value, not the rounding of their upsampling, in float and in
    early-cast integer blocks, in any band range; missing pixels stay missing."""
    import torch

    lr = np.full((3, 4, 3), 0.75, np.float32)
    lr[..., 0] = np.arange(12).reshape(3, 4)
    lr[2, 3, 1] = np.nan
    scene = open_scene(write_raw_envi(tmp_path, lr))
    hr = np.full((3, 6, 8), 0.7499999, np.float32)
    fin = Finisher(scene, 2, np.dtype(dtype), -1.0, constants={1: 0.75, 2: 2.5})
    out = fin.planes(fin.cast_early(torch.from_numpy(hr.copy())).numpy(), 0, 0, 0)
    want = {"float32": (0.75, 2.5, 0.7499999), "int16": (1, 2, 1)}[dtype]  # 2.5 rounds half to even
    assert np.all(out[1, :4] == want[0]) and np.all(out[1, 4:, :6] == want[0]) and np.all(out[1, 4:, 6:] == -1)
    assert np.all(out[2] == want[1]) and np.all(out[0] == np.asarray(want[2], dtype))  # band 0 is not flat
    np.testing.assert_array_equal(fin.planes(hr[2:].copy(), 0, 0, 2)[0], out[2])  # a band range, not cast early


def test_a_complete_scene_is_not_read_back(tmp_path, monkeypatch):
    """``complete`` (statistics counted every pixel valid): no LR window is read for the mask, and
    the output is what the mask pass gives on such a scene."""
    g = np.random.default_rng(1)
    scene = open_scene(write_raw_envi(tmp_path, (g.random((5, 6, 3)) * 100).astype(np.float32)))
    hr = (g.random((3, 10, 12)) * 300).astype(np.float32)
    expected = Finisher(scene, 2, np.dtype("int16"), None).planes(hr.copy(), 0, 0, 0)
    reads = []
    monkeypatch.setattr(type(scene), "read", lambda self, *a, **k: reads.append(a))
    out = Finisher(scene, 2, np.dtype("int16"), None, complete=True).planes(hr.copy(), 0, 0, 0)
    assert reads == []
    np.testing.assert_array_equal(out, expected)


def test_core_writer_needs_a_writer_that_takes_band_ranges(tmp_path):
    scene = open_scene(write_raw_envi(tmp_path, np.ones((4, 4, 2), np.float32)))
    meta = SceneMeta(rows=8, cols=8, bands=2, dtype="float32")
    fin = Finisher(scene, 2, np.dtype("float32"), None)
    gtiff = open_writer(tmp_path / "o.tif", meta)
    with pytest.raises(ValueError, match="cannot write band ranges"):
        CoreWriter(gtiff, fin)
    gtiff.abort()
    with open_writer(tmp_path / "o.hdr", meta) as envi:
        sink = CoreWriter(envi, fin)
        for r0 in (0, 4):
            for c0 in (0, 4):
                for b in (0, 1):
                    sink.add(r0, c0, np.full((1, 4, 4), 10 * b + r0 + c0 / 4, np.float32), band0=b)
    out = open_scene(tmp_path / "o.hdr").read()
    assert out[5, 1, 1] == 14 and out[1, 6, 0] == 1
