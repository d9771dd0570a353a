"""Views of a scene (hsrcli/io/view.py): some of its bands, with their metadata (``SceneMeta.select_bands``), a
crop, or the scene under other metadata."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.windows import Window
from rasters import make_cube, wavelengths_nm, write_raw_envi

from hsrcli.errors import HsrInputError
from hsrcli.io import open_scene
from hsrcli.io.meta import SceneMeta
from hsrcli.io.view import BandSubset, CroppedScene, Relabelled


def test_select_bands_carries_every_per_band_field_and_drops_default_bands():
    meta = SceneMeta(4, 5, 6, np.int16, wavelengths=wavelengths_nm(6), fwhm=np.arange(6) + 10.0,
                     band_names=[f"b{i}" for i in range(6)], bbl=[1, 0, 1, 1, 1, 0],
                     extra={"data gain values": "{1, 2, 3, 4, 5, 6}", "default bands": "{3, 2, 1}",
                            "sensor type": "AVIRIS", "pair": "{7, 8}"})
    sub = meta.select_bands([4, 1, 2])
    assert sub.shape == (4, 5, 3)
    np.testing.assert_array_equal(sub.wavelengths, wavelengths_nm(6)[[4, 1, 2]])
    np.testing.assert_array_equal(sub.fwhm, [14.0, 11.0, 12.0])
    assert sub.band_names == ["b4", "b1", "b2"] and sub.bbl.tolist() == [1, 0, 1]
    assert sub.extra == {"data gain values": "{5, 2, 3}", "sensor type": "AVIRIS", "pair": "{7, 8}"}
    assert meta.bands == 6 and "default bands" in meta.extra  # the original is untouched
    for bad in ([], [6], [-1]):
        with pytest.raises(ValueError, match="not within the scene's 6 bands"):
            meta.select_bands(bad)


def test_band_subset_reads_those_bands_of_any_window(tmp_path):
    cube = make_cube(12, 10, 7)
    src = write_raw_envi(tmp_path, cube, header={"wavelength": [str(w) for w in wavelengths_nm(7)]})
    with BandSubset(open_scene(src), [6, 0, 3]) as view:
        assert view.meta.shape == (12, 10, 3)
        np.testing.assert_array_equal(view.read(), cube[..., [6, 0, 3]])
        np.testing.assert_array_equal(view.read(Window(2, 3, 5, 4), [2, 0]), cube[3:7, 2:7][..., [3, 6]])
        cropped = CroppedScene(view, 1, 2, 9, 10)  # views stack
        np.testing.assert_array_equal(cropped.read(), cube[1:9, 2:10][..., [6, 0, 3]])
        np.testing.assert_array_equal(cropped.meta.wavelengths, wavelengths_nm(7)[[6, 0, 3]])
    with pytest.raises(HsrInputError, match="not within the scene's 7 bands"):
        BandSubset(open_scene(src), [7])


def test_relabelled_reads_the_base_pixels_under_metadata_of_the_same_size_and_type(tmp_path):
    cube = make_cube(6, 5, 4, "float32")
    base = open_scene(write_raw_envi(tmp_path, cube))
    meta = base.meta.replace(wavelengths=wavelengths_nm(4), history=["made"], crs="EPSG:32611")
    view = Relabelled(base, meta)
    assert view.meta is meta and view.files() == base.files()
    np.testing.assert_array_equal(view.read(Window(1, 2, 3, 2), [3, 0]), cube[2:4, 1:4][..., [3, 0]])
    np.testing.assert_array_equal(view.read_planes(), cube.transpose(2, 0, 1))
    for other in (meta.replace(rows=7), meta.replace(dtype=np.float64)):
        with pytest.raises(ValueError, match="described as"):
            Relabelled(base, other)
