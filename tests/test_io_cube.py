""".mat (v5, v7.3) and .npy readers: variable choice, layouts, unmixing matrices, laziness."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.io
from rasterio.windows import Window
from rasters import make_cube, write_geotiff

from hsrcli.io import HsrInputError, open_scene


def test_mat_v5_picks_largest_cube_and_reads_wavelengths_in_um(tmp_path):
    cube = make_cube(6, 5, 4, "float64")
    scipy.io.savemat(tmp_path / "a.mat", {"small": np.ones((2, 2, 2)), "img": cube,
                                          "wavelengths": np.array([[0.4], [0.5], [0.6], [0.7]])})
    s = open_scene(tmp_path / "a.mat")
    assert s.meta.source_info["variable"] == "img"
    np.testing.assert_array_equal(s.read(), cube)
    np.testing.assert_allclose(s.meta.wavelengths, [400, 500, 600, 700])
    np.testing.assert_array_equal(open_scene(tmp_path / "a.mat", var="small").read(), np.ones((2, 2, 2)))


@pytest.mark.parametrize("layout,shape", [("chw", (6, 5, 4)), ("hwc", (6, 5, 4)), ("hwc", (1, 5, 1))])
def test_mat_v5_reads_are_copies_the_caller_may_change(tmp_path, layout, shape):
    """A v5 file is held in memory whole; a read hands out a copy, never a view of it (``hsr upscale``
    fills missing values in place in what it reads), even where the stored array is both C- and
    Fortran-contiguous (one row, one band)."""
    cube = make_cube(*shape, "float32")
    scipy.io.savemat(tmp_path / "c.mat", {"x": cube.transpose(2, 0, 1) if layout == "chw" else cube})
    s = open_scene(tmp_path / "c.mat", layout=layout)
    s.read()[:] = 0
    s.read_planes()[:] = 0
    np.testing.assert_array_equal(s.read(), cube)


@pytest.mark.parametrize("layout", ["chw", "hwc"])
def test_mat_v5_explicit_layout(tmp_path, layout):
    cube = make_cube(6, 5, 4)
    stored = cube.transpose(2, 0, 1) if layout == "chw" else cube
    scipy.io.savemat(tmp_path / "b.mat", {"x": stored})
    np.testing.assert_array_equal(open_scene(tmp_path / "b.mat", layout=layout).read(), cube)


def test_unmixing_matrix_with_lines_cols_is_reshaped_column_major(tmp_path):
    """Jasper Ridge style: Y is bands x pixels, pixels in MATLAB column-major order."""
    cube = make_cube(5, 4, 3, "uint16")
    y = cube.reshape(-1, 3, order="F").T  # (bands, rows*cols) like reshape(cube, [], B)'
    scipy.io.savemat(tmp_path / "j.mat", {"Y": y, "lines": np.array([[5]], np.uint8),
                                          "cols": np.array([[4]], np.uint8), "maxValue": np.array([[5000]])})
    s = open_scene(tmp_path / "j.mat")
    assert s.meta.shape == (5, 4, 3)
    np.testing.assert_array_equal(s.read(), cube)
    assert s.meta.source_info["max value"] == "5000"


def test_mat_v73_is_read_lazily_with_windows(tmp_path):
    cube = make_cube(9, 7, 5)
    with h5py.File(tmp_path / "v73.mat", "w", userblock_size=512) as f:
        f["hsi"] = cube.transpose(2, 1, 0)
        y = cube.reshape(-1, 5, order="F").T
        f["Y"] = y.T  # a 2-D bands x pixels matrix, stored column-major
        f["lines"] = np.array([[9.0]])
        f["cols"] = np.array([[7.0]])
    s = open_scene(tmp_path / "v73.mat")
    assert s.meta.format == "mat-v7.3" and s.meta.source_info["variable"] == "hsi"
    np.testing.assert_array_equal(s.read(Window(1, 2, 4, 5), bands=[4, 1]), cube[2:7, 1:5][:, :, [4, 1]])
    s.close()
    y = open_scene(tmp_path / "v73.mat", var="Y")
    np.testing.assert_array_equal(y.read(Window(1, 2, 4, 5), bands=[3, 0]), cube[2:7, 1:5][:, :, [3, 0]])


@pytest.mark.parametrize("layout,stored", [("hwc", lambda c: c), ("chw", lambda c: c.transpose(2, 0, 1))])
def test_npy_layouts_and_auto(tmp_path, layout, stored):
    cube = make_cube(10, 12, 3)
    np.save(tmp_path / "c.npy", stored(cube))
    np.testing.assert_array_equal(open_scene(tmp_path / "c.npy", layout=layout).read(), cube)
    np.testing.assert_array_equal(open_scene(tmp_path / "c.npy").read(), cube)  # auto: smallest axis = bands


def test_wrong_var_lists_available_variables(tmp_path):
    scipy.io.savemat(tmp_path / "a.mat", {"img": make_cube(3, 3, 3)})
    with pytest.raises(HsrInputError, match=r"no variable 'nope' \(numeric variables: img\)"):
        open_scene(tmp_path / "a.mat", var="nope")


def test_var_on_a_non_mat_file_is_refused(tmp_path):
    np.save(tmp_path / "c.npy", make_cube(3, 3, 3))
    with pytest.raises(HsrInputError, match="--var only applies"):
        open_scene(tmp_path / "c.npy", var="x")


def test_unknown_layout_is_refused(tmp_path):
    np.save(tmp_path / "c.npy", make_cube(3, 3, 3))
    with pytest.raises(HsrInputError, match="unknown --layout"):
        open_scene(tmp_path / "c.npy", layout="whc")


@pytest.mark.parametrize("fmt", ["npy", "mat", "tif"])
def test_complex_values_are_refused_whatever_the_format(tmp_path, fmt):
    cube = (make_cube(4, 4, 3, "float32") + 1j).astype(np.complex64)
    path = tmp_path / f"c.{fmt}"
    if fmt == "npy":
        np.save(path, cube)
    elif fmt == "mat":
        scipy.io.savemat(path, {"c": cube})
    else:
        write_geotiff(path, cube)
    with pytest.raises(HsrInputError, match="holds complex.* values; hsr reads integer or floating-point"):
        open_scene(path)
