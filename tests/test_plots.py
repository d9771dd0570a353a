"""``hsr plot-spectra`` and ``hsr compare`` render real figures (Agg) and refuse bad input."""

from __future__ import annotations

import warnings

import matplotlib.image
import numpy as np
import pytest
import rasterio
from rasters import SAMPLE_HDR, wavelengths_nm, write_geotiff

from hsrcli.cli import app
from hsrcli.io import SceneMeta, open_scene
from hsrcli.plot.rgb import stretch, stretch_limits
from hsrcli.plot.spectra import map_pixel, spectrum


def _scenes(tmp_path):
    g = np.random.default_rng(1)
    tags = [{"wavelength": str(w)} for w in wavelengths_nm(8)]
    hr = g.random((32, 32, 8)).astype(np.float32)
    sr = np.clip(hr + 0.05 * g.standard_normal(hr.shape), 0, 1).astype(np.float32)
    lr = hr.reshape(8, 4, 8, 4, 8).mean(axis=(1, 3)).astype(np.float32)
    return (write_geotiff(tmp_path / "hr.tif", hr, band_tags=tags),
            write_geotiff(tmp_path / "sr.tif", sr, band_tags=tags),
            write_geotiff(tmp_path / "lr.tif", lr, band_tags=tags, pixel=120.0))


def test_stretch_of_a_channel_without_any_value_is_black_and_quiet():
    rgb = np.random.default_rng(0).random((6, 5, 3))
    rgb[..., 1] = np.nan
    rgb[0, 0, 0] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "All-NaN slice encountered" would fail here
        lo, hi = stretch_limits(rgb)
        out = stretch(rgb, (lo, hi))
    assert (lo[1], hi[1]) == (0.0, 1.0) and not out[..., 1].any() and out[0, 0, 0] == 0
    assert 0 < lo[0] < hi[0] < 1 and out.min() >= 0 and out.max() <= 1


def test_map_pixel_to_lr_and_hr_grids():
    hr = SceneMeta(rows=32, cols=32, bands=1, dtype="float32")
    lr = SceneMeta(rows=8, cols=8, bands=1, dtype="float32")
    assert map_pixel(0, 0, hr, lr) == (0, 0)
    assert map_pixel(5, 31, hr, lr) == (1, 7)
    assert map_pixel(3, 4, lr, hr) == (14, 18)  # centre of the LR pixel on the HR grid


def test_spectrum_draws_every_missing_value_as_a_gap(tmp_path):
    """Nodata, NaN and ±inf are gaps (NaN) in a plotted spectrum, not values that break the y-axis."""
    cube = np.arange(1, 9, dtype=np.float32).reshape(1, 1, 8)
    cube[0, 0, [1, 3, 4, 6]] = -9, np.nan, np.inf, -np.inf
    path = write_geotiff(tmp_path / "p.tif", cube, nodata=-9)
    values = spectrum(open_scene(path), 0, 0)
    assert np.isnan(values[[1, 3, 4, 6]]).all() and values[[0, 2, 5, 7]].tolist() == [1, 3, 6, 8]


@pytest.mark.parametrize("ext,magic", [(".png", b"\x89PNG"), (".pdf", b"%PDF")])
def test_plot_spectra_renders(runner, tmp_path, ext, magic):
    hr, sr, lr = _scenes(tmp_path)
    out = tmp_path / f"spectra{ext}"
    res = runner.invoke(app, ["plot-spectra", str(hr), str(lr), str(sr), "-p", "3,4", "-p", "20,30",
                              "--random", "1", "-o", str(out), "--title", "test"])
    assert res.exit_code == 0, res.output
    data = out.read_bytes()
    assert data.startswith(magic) and len(data) > 10_000
    if ext == ".png":
        img = matplotlib.image.imread(out)
        assert img.shape[0] > 300 and img.shape[1] > 1000 and img[..., :3].std() > 0.05
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_plot_spectra_on_the_shipped_sample_without_preview(runner, tmp_path):
    out = tmp_path / "s.png"
    res = runner.invoke(app, ["plot-spectra", str(SAMPLE_HDR), "-p", "10,10", "--no-preview", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert matplotlib.image.imread(out).shape[1] > 500


def test_compare_renders_panel(runner, tmp_path):
    hr, sr, _ = _scenes(tmp_path)
    out = tmp_path / "panel.png"
    res = runner.invoke(app, ["compare", str(hr), str(sr), str(sr), "-o", str(out), "--crop", "4,4,20",
                              "--data-range", "1", "-q"])
    assert res.exit_code == 0, res.output
    img = matplotlib.image.imread(out)
    assert img.shape[0] > 800 and img.shape[1] > 700


@pytest.mark.parametrize("args,msg", [
    (["plot-spectra", "{hr}", "-p", "40,1", "-o", "{tmp}/x.png"], "outside the 32 x 32 reference"),
    (["plot-spectra", "{hr}", "-p", "4", "-o", "{tmp}/x.png"], "bad --pixel"),
    (["plot-spectra", "{hr}", "-o", "{tmp}/x.png"], "no pixel given"),
    (["plot-spectra", "{hr}", "-p", "1,1", "--rgb", "1,2", "-o", "{tmp}/x.png"], "--rgb needs three values"),
    (["compare", "{hr}", "{lr}", "-o", "{tmp}/x.png"], "differs from the reference's"),
    (["compare", "{hr}", "{sr}", "--crop", "30,30,8", "-o", "{tmp}/x.png"], "does not fit"),
    (["compare", "{hr}", "{sr}", "-o", "{tmp}/exists.png"], "--overwrite"),
    (["compare", "{png}", "{png}", "-o", "{png}", "--overwrite"], "in.png: is also an input"),
    (["plot-spectra", "{png}", "-p", "1,1", "-o", "{png}", "--overwrite"], "in.png: is also an input"),
])
def test_bad_input(runner, tmp_path, args, msg):
    hr, sr, lr = _scenes(tmp_path)
    (tmp_path / "exists.png").write_bytes(b"keep")
    png = tmp_path / "in.png"  # a scene GDAL reads, with a figure's extension
    with rasterio.open(png, "w", driver="PNG", width=8, height=8, count=3, dtype="uint8") as dst:
        dst.write(np.arange(192, dtype=np.uint8).reshape(3, 8, 8))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    args = [a.format(hr=hr, sr=sr, lr=lr, png=png, tmp=tmp_path) for a in args]
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert msg in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
