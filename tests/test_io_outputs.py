"""Output names and formats of upscale (hsrcli/io/outputs.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasters import make_cube, write_geotiff

from hsrcli.cli import app
from hsrcli.errors import HsrInputError
from hsrcli.io import open_scene
from hsrcli.io.outputs import default_output_path, output_format


@pytest.mark.parametrize("requested,scene,path,expected", [
    (None, "gtiff", None, "gtiff"), (None, "envi", None, "envi"), (None, "netcdf", None, "envi"),
    (None, "gtiff", Path("o.hdr"), "envi"), (None, "envi", Path("o.TIF"), "gtiff"),
    (None, "envi", Path("o.img"), "envi"), (None, "gtiff", Path("o.img"), "gtiff"),  # .img says nothing
    ("cog", "envi", Path("o.tif"), "cog"), ("envi", "gtiff", Path("o"), "envi"),
])
def test_format_from_the_request_then_the_name_then_the_input(requested, scene, path, expected):
    assert output_format(requested, scene, path) == expected


@pytest.mark.parametrize("requested,path", [("gtiff", "o.hdr"), ("cog", "o.hdr"), ("envi", "o.tiff")])
def test_a_name_that_says_another_format_is_refused(requested, path):
    with pytest.raises(HsrInputError, match="the name says"):
        output_format(requested, "envi", Path(path))


@pytest.mark.parametrize("requested", [None, "envi", "gtiff"])
@pytest.mark.parametrize("path", ["o.png", "o.JPG", "o.nc", "o.npy", "o.h5"])
def test_a_name_that_says_a_format_upscale_does_not_write_is_refused(requested, path):
    with pytest.raises(HsrInputError, match="writes ENVI"):
        output_format(requested, "envi", Path(path))


def test_default_output_path():
    assert default_output_path(Path("d/scene.tif"), 4, "gtiff") == Path("d/scene_x4.tif")
    assert default_output_path(Path("d/scene.hdr"), 2, "envi") == Path("d/scene_x2.hdr")


def test_upscale_writes_what_the_output_name_says(runner, tmp_path):
    src = write_geotiff(tmp_path / "lr.tif", make_cube(8, 8, 4, "float32"))
    res = runner.invoke(app, ["upscale", str(src), "-s", "2", "-m", "bicubic", "-o", str(tmp_path / "o.hdr"), "-q"])
    assert res.exit_code == 0, res.output
    assert open_scene(tmp_path / "o.hdr").meta.format == "envi" and (tmp_path / "o.img").is_file()
    res = runner.invoke(app, ["upscale", str(src), "-s", "2", "-m", "bicubic", "-o", str(tmp_path / "p.hdr"),
                              "--format", "gtiff", "-q"])
    assert res.exit_code == 2 and "the name says envi" in res.output
    assert not list(tmp_path.glob("p*"))
    res = runner.invoke(app, ["upscale", str(src), "-s", "2", "-m", "bicubic", "-o", str(tmp_path / "q.png"), "-q"])
    assert res.exit_code == 2 and "not .png" in res.output
    assert not list(tmp_path.glob("q*"))
    np.testing.assert_equal(open_scene(tmp_path / "o.hdr").meta.shape, (16, 16, 4))
