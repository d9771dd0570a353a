"""ENVI reader: every interleave, byte order, data type and header field."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window
from rasters import ENVI_CODES, make_cube, write_raw_envi

from hsrcli.io import HsrInputError, open_scene
from hsrcli.io.geo import map_info_to_transform


@pytest.mark.parametrize("interleave", ["bsq", "bil", "bip"])
@pytest.mark.parametrize("byte_order", [0, 1])
@pytest.mark.parametrize("code", sorted(ENVI_CODES))
def test_reads_every_layout_and_type(tmp_path, interleave, byte_order, code):
    cube = make_cube(5, 7, 3, ENVI_CODES[code], seed=code)
    hdr = write_raw_envi(tmp_path, cube, interleave=interleave, byte_order=byte_order)
    with open_scene(hdr) as scene:
        assert scene.meta.shape == (5, 7, 3)
        assert scene.meta.dtype == np.dtype(ENVI_CODES[code])
        assert scene.meta.interleave == interleave
        out = scene.read()
        assert out.dtype.isnative
        np.testing.assert_array_equal(out, cube)
        np.testing.assert_array_equal(scene.read(Window(2, 1, 4, 3), bands=[2, 0]), cube[1:4, 2:6][:, :, [2, 0]])


@pytest.mark.parametrize("interleave", ["bsq", "bil", "bip"])
@pytest.mark.parametrize("byte_order", [0, 1])
def test_windows_are_read_a_few_mapped_rows_at_a_time(tmp_path, monkeypatch, interleave, byte_order):
    """A window is copied out of the file a few rows at a time, each piece through a memmap of its own
    (the mapped file pages stay bounded): every window, band subset and piece boundary gives the
    stored values, and a BSQ file's read is band-planar in memory (``read_planes`` copies nothing)."""
    from hsrcli.io import mapped

    cube = make_cube(11, 9, 5, "int16", seed=3)
    hdr = write_raw_envi(tmp_path, cube, interleave=interleave, byte_order=byte_order)
    row_bytes = 9 * 5 * 2
    for rows_mapped in (1, 2, 4, 20):
        monkeypatch.setattr(mapped, "MAPPED_BYTES", rows_mapped * row_bytes)
        with open_scene(hdr) as scene:
            np.testing.assert_array_equal(scene.read(), cube)
            np.testing.assert_array_equal(scene.read(Window(2, 3, 6, 7)), cube[3:10, 2:8])
            np.testing.assert_array_equal(scene.read(Window(1, 0, 3, 11), [4, 0, 2]), cube[:, 1:4][:, :, [4, 0, 2]])
            np.testing.assert_array_equal(scene.read_planes(Window(0, 5, 9, 6)), cube[5:11].transpose(2, 0, 1))
            assert scene.read(Window(0, 4, 9, 0)).shape == (0, 9, 5)
            if interleave == "bsq":
                raw = scene._read(0, 11, 0, 9, None)
                assert raw.transpose(2, 0, 1).flags.c_contiguous


@pytest.mark.parametrize("ext", ["", ".img", ".dat", ".bsq", ".bil", ".bip", ".IMG"])
def test_finds_data_file_by_extension_and_opens_from_data_file(tmp_path, ext):
    cube = make_cube(4, 4, 2)
    hdr = write_raw_envi(tmp_path, cube, data_ext=ext)
    np.testing.assert_array_equal(open_scene(hdr).read(), cube)
    data = tmp_path / f"scene{ext}"
    if ext:  # the data file itself is accepted too
        np.testing.assert_array_equal(open_scene(data).read(), cube)


def test_header_offset_nodata_scale_factor_bbl_names(tmp_path):
    cube = make_cube(6, 5, 4, "uint16")
    hdr = write_raw_envi(tmp_path, cube, offset=512, header={
        "data ignore value": -1, "reflectance scale factor": 10000, "bbl": [1, 0, 1, 1],
        "band names": ["a", "b", "c", "d"], "description": "hello", "sensor type": "Test",
        "fwhm": [0.01, 0.01, 0.02, 0.02], "wavelength": [0.4, 0.5, 0.6, 0.7], "wavelength units": "Micrometers",
    })
    with open_scene(hdr) as scene:
        m = scene.meta
        np.testing.assert_array_equal(scene.read(), cube)
        assert m.nodata == -1 and m.scale_factor == 10000
        assert list(m.bbl) == [1, 0, 1, 1] and m.band_names == ["a", "b", "c", "d"]
        np.testing.assert_allclose(m.wavelengths, [400, 500, 600, 700])
        np.testing.assert_allclose(m.fwhm, [10, 10, 20, 20])
        assert m.wavelength_units == "Micrometers" and m.description == "hello"
        assert m.extra["sensor type"] == "Test"


@pytest.mark.parametrize("map_info", [
    ["UTM", "1", "1", "500010", "4100020", "30", "30", "11", "North", "WGS-84", "units=Meters"],
    ["UTM", "3.5", "2.5", "500010", "4100020", "30", "30", "33", "South", "WGS-84", "units=Meters"],
    ["UTM", "1", "1", "500010", "4100020", "30", "20", "11", "North", "WGS-84", "units=Meters", "rotation=30"],
    ["Geographic Lat/Lon", "1.5", "1.5", "-117.25", "34.5", "0.001", "0.002", "WGS-84", "units=Degrees"],
])
def test_map_info_matches_gdal(tmp_path, map_info):
    hdr = write_raw_envi(tmp_path, make_cube(4, 6, 2), header={"map info": map_info})
    scene = open_scene(hdr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(tmp_path / "scene.img") as ds:
            assert scene.meta.transform.almost_equals(ds.transform, precision=1e-9)
            assert rasterio.crs.CRS.from_wkt(scene.meta.crs) == ds.crs


def test_coordinate_system_string_gives_crs(tmp_path):
    wkt = rasterio.crs.CRS.from_epsg(3035).to_wkt()
    hdr = write_raw_envi(tmp_path, make_cube(3, 3, 2), header={
        "map info": ["Arbitrary", "1", "1", "4321000", "3210000", "10", "10", "units=Meters"],
        "coordinate system string": "{" + wkt + "}"})
    m = open_scene(hdr).meta
    assert rasterio.crs.CRS.from_wkt(m.crs).to_epsg() == 3035
    assert m.transform == Affine(10, 0, 4321000, 0, -10, 3210000)


def test_map_info_transform_plain():
    t = map_info_to_transform(["UTM", "2", "3", "100", "200", "30", "30", "11", "North"])
    assert t == Affine(30, 0, 70, 0, -30, 260)


@pytest.mark.parametrize("units,values,expected", [
    ("Nanometers", [400, 500], [400, 500]), ("nm", [400, 500], [400, 500]),
    ("Micrometers", [0.4, 2.5], [400, 2500]), ("um", [0.4, 2.5], [400, 2500]),
    (None, [0.4, 2.5], [400, 2500]), (None, [400, 2500], [400, 2500]),
])
def test_wavelength_units(tmp_path, units, values, expected):
    header = {"wavelength": values}
    if units:
        header["wavelength units"] = units
    hdr = write_raw_envi(tmp_path, make_cube(2, 2, 2), header=header)
    np.testing.assert_allclose(open_scene(hdr).meta.wavelengths, expected)


def test_bad_header_values_are_input_errors(tmp_path):
    hdr = write_raw_envi(tmp_path, make_cube(2, 2, 2), header={"wavelength": [400]})
    with pytest.raises(HsrInputError, match="1 values for 2 bands"):
        open_scene(hdr)
    hdr = write_raw_envi(tmp_path, make_cube(2, 2, 2), header={"wavelength units": "Parsecs", "wavelength": [1, 2]})
    with pytest.raises(HsrInputError, match="wavelength units"):
        open_scene(hdr)


def test_wavelengths_only_in_gdal_band_names(tmp_path):
    cube = make_cube(4, 5, 3, "float32")
    names = ["band 1 (0.455400 Micrometers)", "band 2 (0.465400 Micrometers)", "band 3 (475.4 nm)"]
    hdr = write_raw_envi(tmp_path, cube, header={"band names": names})
    meta = open_scene(hdr).meta
    np.testing.assert_allclose(meta.wavelengths, [455.4, 465.4, 475.4])
    assert meta.band_names == names
    other = write_raw_envi(tmp_path, cube, name="plain", header={"band names": ["B1", "B2", "B3"]})
    assert open_scene(other).meta.wavelengths is None  # names without a length unit are no wavelengths


def test_gzip_compressed_data_file_is_read(tmp_path):
    import gzip

    cube = make_cube(6, 7, 4, "int16")
    hdr = write_raw_envi(tmp_path, cube, header={"file compression": 1}, offset=8)
    data = tmp_path / "scene.img"
    data.write_bytes(gzip.compress(data.read_bytes()))
    scene = open_scene(hdr)
    np.testing.assert_array_equal(scene.read(), cube)
    inflated = scene._inflated
    assert inflated.exists() and "file compression" not in scene.meta.extra
    scene.close()
    assert not inflated.exists()


@pytest.mark.parametrize("setting,payload,msg", [
    (1, b"not gzip at all" * 20, "'file compression = 1' but the data file is not valid gzip"),
    (3, None, "unsupported 'file compression = 3'"),
])
def test_bad_compression_is_a_clear_error(tmp_path, monkeypatch, setting, payload, msg):
    import tempfile

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    hdr = write_raw_envi(tmp_path, make_cube(4, 4, 2, "int16"), header={"file compression": setting})
    if payload is not None:
        (tmp_path / "scene.img").write_bytes(payload)
    with pytest.raises(HsrInputError, match=re.escape(msg)):
        open_scene(hdr)
    assert list(scratch.iterdir()) == []  # no inflated copy left behind


def test_geo_points_are_ground_control_points_in_latitude_longitude(tmp_path):
    """ENVI 'geo points' (x, y 1-based, latitude, longitude) read as GCPs at 0-based pixel corners in
    EPSG:4326, as GDAL reads them; not carried as an unknown field (its pixels would not follow a rescale);
    a map info, when there is one too, is the georeference; a count not in fours is a corrupt header."""
    from rasterio.crs import CRS

    points = "{1.0, 1.0, 36.5, -117.25, 13.0, 1.0, 36.5, -117.1, 1.0, 11.5, 36.4, -117.25}"
    hdr = write_raw_envi(tmp_path, make_cube(10, 12, 2, "int16"), header={"geo points": points})
    m = open_scene(hdr).meta
    assert m.gcps == [(0.0, 0.0, -117.25, 36.5, 0.0), (0.0, 12.0, -117.1, 36.5, 0.0), (10.5, 0.0, -117.25, 36.4, 0.0)]
    assert CRS.from_wkt(m.crs).to_epsg() == 4326 and m.transform is None and "geo points" not in m.extra
    with rasterio.open(hdr.with_suffix(".img")) as ds:
        assert [(p.row, p.col, p.x, p.y) for p in ds.gcps[0]] == [g[:4] for g in m.gcps]
    with_map = write_raw_envi(tmp_path, make_cube(10, 12, 2, "int16"), name="m", header={
        "geo points": points, "map info": "{UTM, 1, 1, 500000, 4000000, 30, 30, 11, North, WGS-84}"})
    m = open_scene(with_map).meta
    assert m.gcps is None and m.transform is not None and "geo points" not in m.extra
    bad = write_raw_envi(tmp_path, make_cube(10, 12, 2, "int16"), name="b", header={"geo points": "{1, 1, 36.5}"})
    with pytest.raises(HsrInputError, match="'geo points' holds 3 numbers"):
        open_scene(bad)
