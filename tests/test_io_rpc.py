"""RPC georeferencing (hsrcli/io/rpc.py): rescaled, cropped and read from ENVI as GDAL reads them."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.rpc import RPC
from rasterio.transform import RPCTransformer
from rasters import make_cube, write_raw_envi

from hsrcli.errors import HsrInputError
from hsrcli.io import open_scene
from hsrcli.io.rpc import crop_rpcs, envi_rpc_info, rescale_rpcs, rpcs_from_envi
from hsrcli.io.view import CroppedScene

RPCS = RPC(height_off=100, height_scale=500, lat_off=40, lat_scale=0.1, long_off=15, long_scale=0.1,
           line_off=50, line_scale=50, samp_off=60, samp_scale=60, line_den_coeff=[1.0, 0.01] + [0.0] * 18,
           samp_den_coeff=[1.0, 0.0, 0.02] + [0.0] * 17, line_num_coeff=[0, 0.02, -1.0, 0.001] + [0.0] * 16,
           samp_num_coeff=[0, 1.0, 0.03] + [0.0] * 17, err_bias=2.5, err_rand=0.5).to_dict()
GROUND = [(15.03, 39.98, 120.0), (14.95, 40.04, 60.0), (15.0, 40.0, 100.0)]


def _pixels(rpcs: dict) -> np.ndarray:
    """GDAL's (row, col) of the ground points, corner-based."""
    with RPCTransformer(RPC(**rpcs)) as t:
        return np.array([t.rowcol(x, y, z, op=lambda v: v) for x, y, z in GROUND])


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_rescaled_rpcs_put_every_ground_point_at_scale_times_its_pixel(scale):
    np.testing.assert_allclose(_pixels(rescale_rpcs(RPCS, scale)), scale * _pixels(RPCS), rtol=0, atol=1e-9)


def test_a_cropped_scene_has_rpcs_of_its_own_pixels(tmp_path):
    scene = open_scene(write_raw_envi(tmp_path, make_cube(20, 30, 2, "float32")))
    scene.meta.rpcs = RPCS
    part = CroppedScene(scene, 4, 7, 20, 30)
    np.testing.assert_allclose(_pixels(part.meta.rpcs), _pixels(RPCS) - [4, 7], rtol=0, atol=1e-9)
    assert crop_rpcs(RPCS, 0, 0) == RPCS


def test_envi_rpc_info_round_trips_and_is_what_gdal_reads(tmp_path):
    """90 numbers in ENVI's order, which GDAL's ENVI driver reads back as the same model; an image offset
    (the 93-number form) is folded into the line and sample offsets."""
    import rasterio

    values = [float(v) for v in envi_rpc_info(RPCS)]
    assert len(values) == 90
    back = rpcs_from_envi(values, "h")
    assert {k: back[k] for k in back if not k.startswith("err")} == {k: RPCS[k] for k in RPCS if not k.startswith("err")}
    path = write_raw_envi(tmp_path, make_cube(4, 5, 2, "float32"), header={"rpc info": envi_rpc_info(RPCS)})
    with rasterio.open(path.with_suffix(".img")) as ds:
        np.testing.assert_allclose(_pixels(ds.rpcs.to_dict()), _pixels(RPCS), rtol=0, atol=1e-9)
    np.testing.assert_allclose(_pixels(open_scene(path).meta.rpcs), _pixels(RPCS), rtol=0, atol=1e-9)
    chip = rpcs_from_envi(values + [10, 20, 1], "h")
    np.testing.assert_allclose(_pixels(chip), _pixels(RPCS) - [10, 20], rtol=0, atol=1e-9)


def test_an_rpc_info_of_another_length_is_a_corrupt_header(runner, tmp_path):
    from hsrcli.cli import app

    with pytest.raises(HsrInputError, match="'rpc info' has 89 numbers"):
        rpcs_from_envi([0.0] * 89, "h")
    path = write_raw_envi(tmp_path, make_cube(4, 5, 2, "float32"), header={"rpc info": ["1"] * 91})
    res = runner.invoke(app, ["info", str(path)])
    assert res.exit_code == 2 and "'rpc info' has 91 numbers" in res.output
