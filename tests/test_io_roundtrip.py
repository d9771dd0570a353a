"""Write → read round trips for every reader/writer pair, checked with hsrcli, SPy and GDAL."""

from __future__ import annotations

import warnings

import h5py
import numpy as np
import pytest
import rasterio
import scipy.io
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window
from rasters import PIXEL, UL, UTM_EPSG, make_cube, wavelengths_nm, write_geotiff, write_raw_envi

from hsrcli.io import copy_scene, open_scene, open_writer

WRITERS = [("envi", "out.hdr"), ("gtiff", "out.tif")]


def make_source(kind: str, tmp_path, cube: np.ndarray):
    """A file of format ``kind`` holding ``cube`` and its wavelengths, written without hsrcli."""
    wl = wavelengths_nm(cube.shape[2])
    if kind == "envi":
        return write_raw_envi(tmp_path, cube, interleave="bil", byte_order=1, header={
            "wavelength": list(wl), "wavelength units": "Nanometers",
            "map info": ["UTM", "1", "1", str(UL[0]), str(UL[1]), str(PIXEL), str(PIXEL), "11", "North", "WGS-84"]})
    if kind == "gtiff":
        tags = [{"wavelength": str(w), "wavelength_units": "nm"} for w in wl]
        return write_geotiff(tmp_path / "src.tif", cube, band_tags=tags)
    if kind == "folder":
        folder = tmp_path / "scene_ms"
        folder.mkdir()
        for b in range(cube.shape[2]):
            with rasterio.open(folder / f"scene_ms_{b + 1:02d}.png", "w", driver="PNG", width=cube.shape[1],
                               height=cube.shape[0], count=1, dtype="uint16") as ds:
                ds.write(cube[:, :, b].astype(np.uint16), 1)
        (folder / "wavelengths.txt").write_text("\n".join(str(w) for w in wl))
        return folder
    if kind == "mat5":
        path = tmp_path / "src.mat"
        scipy.io.savemat(path, {"cube": cube, "wavelength": wl.reshape(-1, 1)})
        return path
    if kind == "mat73":
        path = tmp_path / "src73.mat"
        with h5py.File(path, "w", userblock_size=512) as f:  # MATLAB stores arrays column-major
            f["cube"] = cube.transpose(2, 1, 0)
            f["wavelengths"] = wl.reshape(1, -1)
        return path
    if kind == "npy":
        path = tmp_path / "src.npy"
        np.save(path, cube.transpose(2, 0, 1))  # chw
        return path
    raise AssertionError(kind)


READERS = ["envi", "gtiff", "folder", "mat5", "mat73", "npy"]


@pytest.mark.parametrize("reader", READERS + ["envi-bsq", "envi-bip"])
def test_read_planes_is_read_band_major(tmp_path, reader):
    """``read_planes`` gives ``read``'s values as C-contiguous (bands, rows, cols), same dtype, for every
    reader and ENVI interleave, with windows and band selections (out-of-range requests refused alike)."""
    from hsrcli.errors import HsrInputError

    cube = make_cube(12, 10, 5)
    if reader.startswith("envi-"):
        scene = open_scene(write_raw_envi(tmp_path, cube, interleave=reader[5:]))
    else:
        scene = open_scene(make_source(reader, tmp_path, cube))
    for window, bands in ((None, None), (Window(2, 3, 7, 8), None), (Window(0, 1, 10, 4), [4, 0, 2])):
        planes, pixels = scene.read_planes(window, bands), scene.read(window, bands)
        assert planes.flags.c_contiguous and planes.dtype == pixels.dtype
        np.testing.assert_array_equal(planes, pixels.transpose(2, 0, 1))
    with pytest.raises(HsrInputError, match="outside"):
        scene.read_planes(Window(5, 0, 6, 4))
    with pytest.raises(HsrInputError, match="out of range"):
        scene.read_planes(None, [5])


@pytest.mark.parametrize("writer,name", WRITERS)
@pytest.mark.parametrize("reader", READERS)
def test_every_reader_writer_pair(tmp_path, reader, writer, name):
    cube = make_cube(16, 16, 8, "uint16" if reader == "folder" else "int16", seed=3)
    src = make_source(reader, tmp_path, cube)
    npy = reader == "npy"  # .npy holds no wavelengths: give them as the CLI option would
    with open_scene(src, layout="chw" if npy else "auto", wavelengths="400:37.5" if npy else None) as scene:
        np.testing.assert_array_equal(scene.read(), cube)
        np.testing.assert_allclose(scene.meta.wavelengths, wavelengths_nm(8))
        out = copy_scene(scene, tmp_path / name, writer, max_bytes=16 * 8 * 2 * 3)  # several windows
        src_meta = scene.meta
    with open_scene(out) as back:
        np.testing.assert_array_equal(back.read(), cube)
        np.testing.assert_allclose(back.meta.wavelengths, wavelengths_nm(8))
        assert back.meta.dtype == cube.dtype
        if src_meta.transform is not None:
            assert back.meta.transform == src_meta.transform
            assert CRS.from_wkt(back.meta.crs) == CRS.from_epsg(UTM_EPSG)
        else:
            assert back.meta.transform is None and back.meta.crs is None
    _check_with_other_libraries(out, cube, src_meta.transform)


def _check_with_other_libraries(out, cube, transform):
    """The file reads back identically with spectral.envi.open (ENVI) and rasterio/GDAL."""
    gdal_path = out.with_suffix(".img") if out.suffix == ".hdr" else out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(gdal_path) as ds:
            np.testing.assert_array_equal(ds.read().transpose(1, 2, 0), cube)
            wl = [float(ds.tags(i + 1)["wavelength"]) for i in range(ds.count)]
            np.testing.assert_allclose(wl, wavelengths_nm(8))
            if transform is not None:
                assert ds.transform.almost_equals(transform, precision=1e-9)
                assert ds.crs.to_epsg() == UTM_EPSG
    if out.suffix == ".hdr":
        from spectral.io import envi

        img = envi.open(str(out))
        np.testing.assert_array_equal(np.asarray(img.load(dtype=cube.dtype)), cube)
        np.testing.assert_allclose(img.bands.centers, wavelengths_nm(8))


@pytest.mark.parametrize("fmt,name", WRITERS)
def test_full_metadata_round_trip(tmp_path, utm_meta, fmt, name):
    cube = make_cube(16, 16, 8, "int16")
    with open_writer(tmp_path / name, utm_meta, fmt) as w:
        w.write(Window(0, 0, 16, 10), cube[:10])
        w.write(Window(0, 10, 16, 6), cube[10:])
    m = open_scene(tmp_path / name).meta
    np.testing.assert_array_equal(open_scene(tmp_path / name).read(), cube)
    for key in ("rows", "cols", "bands", "dtype", "band_names", "nodata", "scale_factor", "description",
                "history", "transform"):
        assert getattr(m, key) == getattr(utm_meta, key), key
    for key in ("wavelengths", "fwhm", "bbl"):
        np.testing.assert_array_equal(getattr(m, key), getattr(utm_meta, key))
    assert CRS.from_wkt(m.crs) == CRS.from_wkt(utm_meta.crs)


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
@pytest.mark.parametrize("fmt,name", WRITERS)
def test_rescaled_transform_is_exact(tmp_path, utm_meta, scale, fmt, name):
    hr = utm_meta.rescaled(scale)
    assert hr.rows == 16 * scale and hr.cols == 16 * scale
    expected = Affine(PIXEL / scale, 0, UL[0], 0, -PIXEL / scale, UL[1])
    assert hr.transform == expected
    with open_writer(tmp_path / name, hr, fmt) as w:
        w.write(Window(0, 0, hr.cols, hr.rows), np.zeros(hr.shape, np.int16))
    back = open_scene(tmp_path / name).meta
    assert back.transform == expected  # exact, also through ENVI 'map info' text
    assert CRS.from_wkt(back.crs).to_epsg() == UTM_EPSG
    gdal_path = (tmp_path / name).with_suffix(".img") if fmt == "envi" else tmp_path / name
    with rasterio.open(gdal_path) as ds:
        assert ds.transform == expected


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_envi_map_info_rescaled_keeps_footprint(tmp_path, scale):
    mi = ["UTM", "3.5", "2", "500010", "4100020", "30", "30", "11", "North", "WGS-84", "units=Meters"]
    hdr = write_raw_envi(tmp_path, make_cube(4, 4, 2), header={"map info": mi})
    lr = open_scene(hdr).meta
    hr = lr.rescaled(scale)
    assert [float(v) for v in hr.map_info[1:7]] == [2.5 * scale + 1, 1 * scale + 1, 500010, 4100020,
                                                   30 / scale, 30 / scale]
    assert hr.map_info[7:] == mi[7:]
    assert hr.transform.c == lr.transform.c and hr.transform.f == lr.transform.f
    with open_writer(tmp_path / "hr.hdr", hr.replace(dtype="int16")) as w:
        w.write(Window(0, 0, hr.cols, hr.rows), np.zeros(hr.shape, np.int16))
    assert open_scene(tmp_path / "hr.hdr").meta.transform == hr.transform


def test_band_descriptions_and_nodata_geotiff(tmp_path):
    cube = make_cube(4, 4, 3, "float32")
    src = write_geotiff(tmp_path / "d.tif", cube, nodata=-1.0, descriptions=["x", "y", "z"])
    m = open_scene(src).meta
    assert m.band_names == ["x", "y", "z"] and m.nodata == -1.0 and m.wavelengths is None


def test_geotiff_imagery_domain_wavelengths(tmp_path):
    tags = [{"_ns": "IMAGERY", "CENTRAL_WAVELENGTH_UM": str(w / 1000), "FWHM_UM": "0.01"} for w in wavelengths_nm(3)]
    src = write_geotiff(tmp_path / "i.tif", make_cube(4, 4, 3), band_tags=tags)
    m = open_scene(src).meta
    np.testing.assert_allclose(m.wavelengths, wavelengths_nm(3))
    np.testing.assert_allclose(m.fwhm, [10, 10, 10])


def test_geotiff_written_is_tiled_and_compressed(tmp_path, utm_meta):
    big = utm_meta.rescaled(32)  # 512 x 512
    with open_writer(tmp_path / "t.tif", big) as w:
        for win in [Window(0, r, 512, 256) for r in (0, 256)]:
            w.write(win, np.ones((256, 512, 8), np.int16))
    with rasterio.open(tmp_path / "t.tif") as ds:
        assert ds.profile["tiled"] and ds.profile["blockxsize"] == 256
        assert ds.compression.name.lower() == "deflate"
