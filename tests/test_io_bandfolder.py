"""Folder of one-image-per-band files (CAVE layout)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasters import make_cube

from hsrcli.io import HsrInputError, open_scene


def _write_band(path, band: np.ndarray, count: int = 1) -> None:
    with rasterio.open(path, "w", driver="PNG", width=band.shape[1], height=band.shape[0], count=count,
                       dtype=band.dtype.name) as ds:
        for i in range(count):
            ds.write(band, i + 1)


def _folder(tmp_path, cube, name="scene_ms", start=1, skip=()):
    folder = tmp_path / name
    folder.mkdir()
    for b in range(cube.shape[2]):
        if b + start not in skip:
            _write_band(folder / f"{name}_{b + start:02d}.png", cube[:, :, b])
    return folder


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_reads_8_and_16_bit_bands_in_numeric_order(tmp_path, dtype):
    cube = make_cube(6, 5, 12, dtype)
    s = open_scene(_folder(tmp_path, cube), wavelengths="400:700:27.2727272727")
    assert s.meta.dtype == np.dtype(dtype) and s.meta.shape == (6, 5, 12)
    np.testing.assert_array_equal(s.read(), cube)
    assert s.meta.band_names[9] == "scene_ms_10.png"


def test_cave_convention_and_sidecar(tmp_path):
    cube = make_cube(4, 4, 31, "uint16")
    folder = _folder(tmp_path, cube)
    s = open_scene(folder)
    np.testing.assert_allclose(s.meta.wavelengths, 400 + 10 * np.arange(31))
    assert s.meta.source_info["wavelength source"] == "CAVE convention"
    (folder / "wavelengths.txt").write_text(" ".join(str(500 + i) for i in range(31)))
    np.testing.assert_allclose(open_scene(folder).meta.wavelengths, 500 + np.arange(31))


def test_rgba_band_with_equal_channels_is_rescaled_to_16_bit(tmp_path):
    cube = make_cube(4, 4, 3, "uint16")
    folder = _folder(tmp_path, cube)
    band8 = make_cube(4, 4, 1, "uint8", seed=9)[:, :, 0]
    (folder / "scene_ms_02.png").unlink()
    _write_band(folder / "scene_ms_02.png", band8, count=4)
    out = open_scene(folder).read()
    np.testing.assert_array_equal(out[:, :, 1], band8.astype(np.uint16) * 257)
    np.testing.assert_array_equal(out[:, :, 0], cube[:, :, 0])


def test_missing_band_is_named(tmp_path):
    folder = _folder(tmp_path, make_cube(4, 4, 6, "uint16"), skip={4})
    with pytest.raises(HsrInputError, match="missing band file.*scene_ms_04"):
        open_scene(folder)


def test_wavelength_count_mismatch(tmp_path):
    folder = _folder(tmp_path, make_cube(4, 4, 3, "uint16"))
    with pytest.raises(HsrInputError, match="2 wavelengths given for 3 bands"):
        open_scene(folder, wavelengths="400,500")
