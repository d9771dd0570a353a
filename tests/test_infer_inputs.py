"""What the network is fed (hsrcli/infer/inputs.py): windows mirrored past the scene's borders, filled, band-planar."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rasters import write_raw_envi

from hsrcli.infer.inputs import read_block, read_padded
from hsrcli.infer.nodata import InputFill
from hsrcli.io import open_scene
from hsrcli.io.stats import band_stats
from hsrcli.ops.imresize import mirror, mirror_pad


@pytest.mark.parametrize("rows,cols,pad", [(9, 7, 3), (4, 5, 15), (1, 3, 2)])
def test_padded_reads_repeat_the_edge_pixel_like_matlab_and_adapt(tmp_path, rows, cols, pad):
    """Every window of the padded scene is the scene mirrored with the edge repeated (numpy's
    "symmetric", several times over when the pad exceeds the scene), the same as ``hsr adapt``
    pads its crops."""
    cube = np.arange(rows * cols * 2, dtype=np.float32).reshape(rows, cols, 2)
    scene = open_scene(write_raw_envi(tmp_path, cube))
    padded = np.pad(cube, ((pad, pad), (pad, pad), (0, 0)), mode="symmetric")
    assert np.array_equal(padded.transpose(2, 0, 1),
                          mirror_pad(torch.from_numpy(cube.transpose(2, 0, 1)), pad).numpy())
    g = np.random.default_rng(0)
    for _ in range(20):
        h, w = int(g.integers(1, rows + 2 * pad + 1)), int(g.integers(1, cols + 2 * pad + 1))
        r0, c0 = int(g.integers(0, rows + 2 * pad - h + 1)), int(g.integers(0, cols + 2 * pad - w + 1))
        np.testing.assert_array_equal(read_padded(scene, r0, c0, h, w, pad),
                                      padded[r0:r0 + h, c0:c0 + w].transpose(2, 0, 1))


def test_mirror_is_periodic_and_symmetric():
    assert mirror(torch.arange(-4, 7), 3).tolist() == [2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0]


@pytest.mark.parametrize("dtype,interleave", [("float32", "bsq"), ("float32", "bip"), ("int16", "bil")])
def test_read_block_fills_missing_values_band_planar_and_leaves_the_file_alone(tmp_path, dtype, interleave):
    """The network's input is the scene band-planar, as float32, its missing values (nodata, NaN, ±inf)
    filled with the band means and a band without data interpolated from its neighbours; the mask
    flags pixels with no valid band. Reading the whole scene unpadded (a view of the file where the
    storage allows one) must not write the fill into the file."""
    g = np.random.default_rng(1)
    cube = g.uniform(1, 100, (6, 5, 4)).astype(dtype)
    cube[1, 2, 0] = -9
    cube[:, :, 2] = -9  # a band without data
    cube[4, 1, :] = -9  # a pixel without any valid band
    if dtype == "float32":
        cube[0, 0, 1], cube[3, 3, 3] = np.nan, np.inf
    path = write_raw_envi(tmp_path, cube, interleave=interleave, header={"data ignore value": -9})
    scene = open_scene(path)
    before = scene.read().copy()
    fill = InputFill.from_stats(band_stats(scene))
    x, empty = read_block(scene, 0, 0, 6, 5, 0, fill)
    assert x.shape == (4, 6, 5) and x.dtype == np.float32 and x.flags.c_contiguous
    assert np.isfinite(x).all()
    assert empty.tolist() == [[r == 4 and c == 1 for c in range(5)] for r in range(6)]
    assert x[0, 1, 2] == fill.means[0] and x[0, 2, 2] == cube[2, 2, 0]
    np.testing.assert_allclose(x[2], (x[1] + x[3]) / 2, rtol=1e-6)  # the dead band, between its neighbours
    if dtype == "float32":
        assert x[1, 0, 0] == fill.means[1] and x[3, 3, 3] == fill.means[3]
    np.testing.assert_array_equal(scene.read(), before)  # not in the memory map either
    np.testing.assert_array_equal(open_scene(path).read(), before)


def test_float64_values_beyond_float32_are_missing_in_the_network_input():
    """A float64 value that float32 cannot hold (it would reach the network as inf) counts as missing, as
    NaN and ±inf do; a float32 block is handed back as it is, not copied."""
    from hsrcli.infer.inputs import float32_block
    from hsrcli.io.meta import SceneMeta

    raw = np.array([1.0, 1e39, np.nan, -np.inf, 5.0])
    x, bad = float32_block(raw.copy(), SceneMeta(1, 5, 1, np.dtype(np.float64), nodata=5.0))
    assert x.dtype == np.float32 and bad.tolist() == [False, True, True, True, True]
    with np.errstate(over="ignore"):
        raw32 = raw.astype(np.float32)  # 1e39 is inf in float32 already
    x, bad = float32_block(raw32, SceneMeta(1, 5, 1, np.dtype(np.float32)))
    assert x is raw32 and bad.tolist() == [False, True, True, True, False]
