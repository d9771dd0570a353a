"""What the network is fed (hsrcli/infer/inputs.py): windows mirrored past the scene's borders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rasters import write_raw_envi

from hsrcli.infer.inputs import read_padded
from hsrcli.io import open_scene
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
        np.testing.assert_array_equal(read_padded(scene, r0, c0, h, w, pad), padded[r0:r0 + h, c0:c0 + w])


def test_mirror_is_periodic_and_symmetric():
    assert mirror(torch.arange(-4, 7), 3).tolist() == [2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0]
