"""A cascade run stage by stage (``hsrcli/infer/staged.py``): what its stages write one after the other, with
the scene's metadata, nothing left behind."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from rasters import UTM_EPSG, wavelengths_nm, write_geotiff, write_raw_envi

from hsrcli.cli import app
from hsrcli.infer.resolve import resolve_model
from hsrcli.infer.runner import UpscaleOptions, upscale_scene
from hsrcli.infer.staged import STAGES_SUFFIX, runs_staged, upscale_stages
from hsrcli.io import open_scene


def _smooth(rows: int, cols: int, bands: int, seed: int = 0) -> np.ndarray:
    """A low-rank float32 cube of positive values (spectra mixing a few endmembers)."""
    g = np.random.default_rng(seed)
    return (g.random((rows, cols, 3)) @ (0.2 + g.random((3, bands))) + 0.02 * g.random((rows, cols, bands))
            ).astype(np.float32)


def _run(runner, *args) -> dict:
    res = runner.invoke(app, ["upscale", *map(str, args), "-q", "--device", "cpu", "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout[res.stdout.index("{"):])


def test_runs_staged_a_cascade_without_finesr_or_a_psf():
    cascade = resolve_model("lkca-g_x2+lkca-g_x2", 6, 4)
    assert runs_staged(cascade, "bicubic", 0.0)
    assert not runs_staged(cascade, "bicubic", 0.0, refine=True)  # FineSR needs the whole cascade per tile
    assert not runs_staged(cascade, "gaussian", 1.0) and not runs_staged(cascade, "bicubic", 0.5)  # a PSF at x4
    assert not runs_staged(resolve_model("lkca-g_x2", 6, 2), "bicubic", 0.0)
    assert not runs_staged(resolve_model("lkca-g_x4,lkca-g_x2+lkca-g_x2", 6, 4), "bicubic", 0.0)  # an average


def test_a_cascade_writes_what_its_stages_write_one_after_the_other(runner, tmp_path):
    cube = _smooth(40, 36, 8)
    cube[..., 2], cube[..., 5] = 0.0, 0.75  # flat bands: still exactly flat after every stage
    src = write_raw_envi(tmp_path, cube, name="in", header={"wavelength": wavelengths_nm(8).tolist(),
                                                           "wavelength units": "nm"})
    stats = _run(runner, src, "-s", "4", "-m", "lkca-g_x2+lkca-g_x2", "-o", tmp_path / "c.hdr")
    _run(runner, src, "-s", "2", "-m", "lkca-g_x2", "-o", tmp_path / "a.hdr")
    _run(runner, tmp_path / "a.hdr", "-s", "2", "-m", "lkca-g_x2", "-o", tmp_path / "b.hdr")
    assert (tmp_path / "c.img").read_bytes() == (tmp_path / "b.img").read_bytes()
    out = open_scene(tmp_path / "c.hdr")
    y = out.read()
    assert y.shape == (160, 144, 8) and np.all(y[..., 2] == 0.0) and np.all(y[..., 5] == 0.75)
    np.testing.assert_allclose(out.meta.wavelengths, wavelengths_nm(8))
    first, second = out.meta.history[-2:]
    assert "x2 with lkca-g_x2 (stage 1 of lkca-g_x2+lkca-g_x2)" in first
    assert "x2 with lkca-g_x2 (stage 2 of lkca-g_x2+lkca-g_x2)" in second
    assert stats["scale"] == 4 and [s["scale"] for s in stats["stages"]] == [2, 2]
    assert stats["tiles"] == sum(s["tiles"] for s in stats["stages"]) and stats["rows"] == 160
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_staged_cascade_keeps_the_scene_georeference_type_and_nodata(runner, tmp_path):
    """What the ENVI intermediate cannot hold (a GeoTIFF's CRS as given, its nodata in an integer type) is
    the input scene's, upscaled by the whole cascade; missing LR pixels are missing in the output."""
    cube = np.round(_smooth(24, 20, 6) * 1000).astype(np.int16)
    cube[3:5, 4:6, :] = -9999
    src = write_geotiff(tmp_path / "in.tif", cube, nodata=-9999)
    res = runner.invoke(app, ["upscale", str(src), "-s", "4", "-m", "lkca-g_x2+lkca-g_x2", "-o",
                              str(tmp_path / "out.tif"), "--dtype", "input", "-q", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    with rasterio.open(src) as a, rasterio.open(tmp_path / "out.tif") as b:
        assert b.dtypes[0] == "int16" and b.nodata == -9999 and b.crs.to_epsg() == UTM_EPSG
        assert b.transform.a == pytest.approx(a.transform.a / 4) and b.transform.c == a.transform.c
        y = b.read()
    assert np.all(y[:, 12:20, 16:24] == -9999) and (y != -9999).sum() == y.size - 6 * 8 * 8


def test_a_failed_stage_leaves_neither_output_nor_intermediate(tmp_path):
    src = write_raw_envi(tmp_path, _smooth(20, 20, 6), name="in")
    before = sorted(p.name for p in tmp_path.iterdir())
    targets = []

    def run(scene, out, *args, **kw):
        targets.append(out)
        if len(targets) == 2:
            raise RuntimeError("stage 2 failed")
        return upscale_scene(scene, out, *args, **kw)

    with open_scene(src) as scene, pytest.raises(RuntimeError, match="stage 2 failed"):
        upscale_stages(scene, tmp_path / "out.hdr", "envi", resolve_model("lkca-g_x2+lkca-g_x2", 6, 4),
                       UpscaleOptions(), run)
    folder = targets[0].parent
    assert folder.parent == tmp_path and folder.name.startswith(".out.") and folder.name.endswith(STAGES_SUFFIX)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
