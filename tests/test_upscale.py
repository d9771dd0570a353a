"""``hsr upscale``: outputs readable everywhere, georeferencing, exact tiling, nodata, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from rasters import PIXEL, ROOT, SAMPLE_HDR, UL, UTM_EPSG, make_cube, wavelengths_nm, write_geotiff, write_raw_envi

from hsrcli.checkpoint import make_checkpoint, save_checkpoint
from hsrcli.cli import app
from hsrcli.infer.tiling import TileGrid
from hsrcli.io import copy_scene, open_scene
from hsrcli.models import build


def _up(runner, *args):
    res = runner.invoke(app, ["upscale", *map(str, args), "-q", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    return res


def _ckpt(path, name, bands, scale, **kw):
    torch.manual_seed(0)
    model = build(name, bands, scale, **kw)
    meta = {"normalization": {"kind": "max", "divisor": [1.0], "per_scene": name in ("lkca-g", "coarsr")}}
    return save_checkpoint(make_checkpoint(model, name, bands, scale, kw, meta), path)


def test_sample_x4_opens_in_spectral_gdal_and_hsr_info(runner, tmp_path):
    out = tmp_path / "aviris_x4.hdr"
    _up(runner, SAMPLE_HDR, "-s", "4", "-m", "bicubic", "-o", out)
    d = json.loads(runner.invoke(app, ["info", str(out), "--json"]).stdout)
    src = open_scene(SAMPLE_HDR).meta
    assert (d["rows"], d["cols"], d["bands"]) == (360, 360, 224)
    np.testing.assert_array_equal(d["wavelengths"], src.wavelengths)
    from spectral.io import envi

    img = envi.open(str(out))
    assert img.shape == (360, 360, 224) and np.allclose(img.bands.centers, src.wavelengths)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(tmp_path / "aviris_x4.img") as ds:
            assert (ds.height, ds.width, ds.count) == (360, 360, 224)
            assert float(ds.tags(1)["wavelength"]) == pytest.approx(src.wavelengths[0])
    hist = open_scene(out).meta.history
    assert hist and "hsr upscale x4 with bicubic" in hist[-1]


@pytest.mark.parametrize("fmt", ["gtiff", "cog"])
def test_compress_chooses_the_geotiff_codec_and_leaves_the_values(runner, tmp_path, fmt):
    """``--compress`` sets the GeoTIFF/COG block codec (deflate by default), with the predictor that suits
    the output type; the values are those of the default."""
    src = write_raw_envi(tmp_path, make_cube(12, 10, 6, "int16"), name="scene")
    got = {}
    for codec in (None, "zstd", "lzw", "none"):
        out = tmp_path / f"{codec}.tif"
        _up(runner, src, "-s", "2", "-m", "bicubic", "-o", out, "--format", fmt, "--dtype", "input",
            *([] if codec is None else ["--compress", codec]))
        with rasterio.open(out) as ds:
            name = ds.compression.name.lower() if ds.compression is not None else "none"
            predictor = ds.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR")
        assert name == (codec or "deflate")
        assert predictor == (None if codec == "none" else "2")  # horizontal differencing for integers
        got[codec] = open_scene(out).read()
    for codec in ("zstd", "lzw", "none"):
        np.testing.assert_array_equal(got[codec], got[None])


def test_compress_for_an_envi_output_or_an_unknown_codec_exits_2_before_any_work(runner, tmp_path):
    src = write_raw_envi(tmp_path, make_cube(12, 10, 6, "int16"), name="scene")
    res = runner.invoke(app, ["upscale", str(src), "-s", "2", "-m", "bicubic", "-o", str(tmp_path / "o.hdr"),
                              "--compress", "zstd", "-q"])
    assert res.exit_code == 2 and "--compress zstd applies to GeoTIFF and COG outputs" in res.stderr
    res = runner.invoke(app, ["upscale", str(src), "-s", "2", "-m", "bicubic", "-o", str(tmp_path / "o.tif"),
                              "--compress", "jpeg", "-q"])
    assert res.exit_code == 2 and "jpeg" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.hdr", "scene.img"]


def test_default_output_name_and_model(runner, tmp_path):
    src = write_raw_envi(tmp_path, make_cube(12, 10, 6, "float32"), name="scene")
    res = runner.invoke(app, ["upscale", str(src), "-s", "2", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "scene_x2.hdr").exists() and (tmp_path / "scene_x2.img").exists()
    from hsrcli.weights import default_model

    want = default_model(6, 2)
    assert want == "lkca-g_x2"  # the best measured bundled x2 model that fits 6 bands
    assert f"using model {want}" in res.stderr
    assert any(f"with {want}" in h for h in open_scene(tmp_path / "scene_x2.hdr").meta.history)


@pytest.mark.parametrize("fmt,suffix", [("gtiff", ".tif"), ("envi", ".hdr"), ("cog", ".tif")])
def test_georeferencing_utm_30m_becomes_7_5m(runner, tmp_path, fmt, suffix):
    cube = make_cube(20, 24, 5, "float32")
    src = write_geotiff(tmp_path / "utm.tif", cube, band_tags=[{"wavelength": str(w)} for w in wavelengths_nm(5)])
    out = tmp_path / f"out{suffix}"
    _up(runner, src, "-s", "4", "-m", "bicubic", "-o", out, "--format", fmt)
    m = open_scene(out).meta
    assert m.transform == Affine(PIXEL / 4, 0, UL[0], 0, -PIXEL / 4, UL[1])
    assert rasterio.crs.CRS.from_wkt(m.crs).to_epsg() == UTM_EPSG
    np.testing.assert_array_equal(m.wavelengths, wavelengths_nm(5))
    if fmt == "cog":
        with rasterio.open(out) as ds:
            assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        np.testing.assert_array_equal(open_scene(out).read(), open_scene(_up_gtiff(runner, src, tmp_path)).read())
    if fmt == "envi":
        assert [float(v) for v in m.map_info[1:7]] == [1, 1, UL[0], UL[1], 7.5, 7.5]
        with rasterio.open(tmp_path / "out.img") as ds:
            assert ds.transform == m.transform and ds.crs.to_epsg() == UTM_EPSG


def _up_gtiff(runner, src, tmp_path):
    out = tmp_path / "plain.tif"
    _up(runner, src, "-s", "4", "-m", "bicubic", "-o", out, "--format", "gtiff")
    return out


def test_envi_map_info_tie_point_rescaled(runner, tmp_path):
    mi = ["UTM", "3", "2", "500000", "4000000", "30", "30", "11", "North", "WGS-84", "units=Meters"]
    src = write_raw_envi(tmp_path, make_cube(10, 10, 5, "float32"), header={"map info": mi})
    out = tmp_path / "o.hdr"
    _up(runner, src, "-s", "4", "-m", "bicubic", "-o", out)
    m = open_scene(out).meta
    assert [float(v) for v in m.map_info[1:7]] == [9, 5, 500000, 4000000, 7.5, 7.5]
    assert m.transform.c == open_scene(src).meta.transform.c


def _scene_for_tiling(tmp_path, rows=70, cols=60, bands=5):
    g = np.random.default_rng(0)
    cube = (g.random((rows, cols, 1)) * np.linspace(0.3, 1, bands) + 0.1 * g.random((rows, cols, bands)))
    return write_raw_envi(tmp_path, cube.astype(np.float32), name="tiles")


@pytest.mark.parametrize("feather,suffix", [(0, ".hdr"), (0, ".tif"), (6, ".hdr"), (6, ".tif")])
def test_lkca_g_tiled_equals_untiled_when_overlap_covers_receptive_field(runner, tmp_path, feather, suffix):
    """Tiles computed without their discarded margins (cores in place, accumulated, feathered,
    batched with other crops) give the whole-image output."""
    src = _scene_for_tiling(tmp_path)
    ckpt = _ckpt(tmp_path / "g.pt", "lkca-g", 5, 2, channels=6, blocks=1)
    radius = build("lkca-g", 5, 2, channels=6, blocks=1).receptive_radius
    whole, tiled = tmp_path / "whole.hdr", tmp_path / f"tiled{suffix}"
    _up(runner, src, "-s", "2", "-m", ckpt, "-o", whole, "--tile", "512")
    overlap = 2 * radius + feather
    _up(runner, src, "-s", "2", "-m", ckpt, "-o", tiled, "--tile", str(overlap + 16), "--batch", "3",
        "--overlap", str(overlap))
    a, b = open_scene(whole).read(), open_scene(tiled).read()
    assert a.shape == (140, 120, 5)
    np.testing.assert_allclose(b, a, atol=1e-5)
    grid = TileGrid(70, 60, overlap + 16, overlap, radius, 2)
    assert len(grid) > 4 and grid.feathered == bool(feather)  # it really was tiled


@pytest.mark.parametrize("overlap", [0, 1, 4, 9])
def test_constant_input_gives_constant_output_for_any_overlap(runner, tmp_path, overlap):
    src = write_raw_envi(tmp_path, np.full((45, 37, 6), 0.25, np.float32), name="const")
    out = tmp_path / "c.hdr"
    _up(runner, src, "-s", "3", "-m", "bicubic", "-o", out, "--tile", "16", "--overlap", str(overlap))
    np.testing.assert_allclose(open_scene(out).read(), 0.25, atol=1e-6)
    # the same with a learned band-agnostic model whose upsampler is zero (= bicubic residual)
    model = build("lkca-g", 6, 3, channels=6, blocks=1)
    with torch.no_grad():
        model.net.upsampler.conv.weight.zero_()
        model.net.upsampler.conv.bias.zero_()
    ck = save_checkpoint(make_checkpoint(model, "lkca-g", 6, 3, {"channels": 6, "blocks": 1},
                                         {"normalization": {"kind": "max", "per_scene": True}}), tmp_path / "z.pt")
    out2 = tmp_path / "c2.hdr"
    _up(runner, src, "-s", "3", "-m", ck, "-o", out2, "--tile", "40", "--overlap", str(overlap))
    np.testing.assert_allclose(open_scene(out2).read(), 0.25, atol=1e-5)


def test_nodata_block_stays_nodata_at_the_right_place(runner, tmp_path):
    cube = make_cube(16, 20, 4, "int16")
    cube[5:8, 10:13, :] = -9999
    src = write_geotiff(tmp_path / "nd.tif", cube, nodata=-9999)
    out = tmp_path / "nd_x2.tif"
    ckpt = _ckpt(tmp_path / "g.pt", "lkca-g", 4, 2, channels=6, blocks=1)
    _up(runner, src, "-s", "2", "-m", ckpt, "-o", out, "--dtype", "input")
    m = open_scene(out).meta
    y = open_scene(out).read()
    assert m.nodata == -9999 and y.dtype == np.int16
    hole = np.zeros((32, 40), bool)
    hole[10:16, 20:26] = True
    assert (y[hole] == -9999).all() and not (y[~hole] == -9999).any()


@pytest.mark.parametrize("suffix", [".tif", ".hdr"])
def test_nan_holes_without_nodata_are_tagged_nan_in_float_outputs(runner, tmp_path, suffix):
    cube = make_cube(16, 20, 4, "float32")
    cube[5:8, 10:13, 1] = np.nan
    src = write_geotiff(tmp_path / "nan.tif", cube)
    ckpt = _ckpt(tmp_path / "g.pt", "lkca-g", 4, 2, channels=6, blocks=1)
    out = tmp_path / f"nan_x2{suffix}"
    _up(runner, src, "-s", "2", "-m", ckpt, "-o", out)
    with open_scene(out) as sc:
        assert sc.meta.nodata is not None and np.isnan(sc.meta.nodata)  # GDAL/QGIS mask the holes
        y = sc.read()
    hole = np.zeros((32, 40), bool)
    hole[10:16, 20:26] = True
    assert np.isnan(y[hole, 1]).all() and np.isfinite(y[~hole, 1]).all() and np.isfinite(y[:, :, [0, 2, 3]]).all()
    # integer outputs keep 0 in the holes and no tag (0 is a value); complete scenes get no tag either
    _up(runner, src, "-s", "2", "-m", ckpt, "-o", tmp_path / "i.tif", "--dtype", "int16")
    assert open_scene(tmp_path / "i.tif").meta.nodata is None
    full = write_geotiff(tmp_path / "full.tif", make_cube(16, 20, 4, "float32"))
    _up(runner, full, "-s", "2", "-m", ckpt, "-o", tmp_path / "f.tif")
    assert open_scene(tmp_path / "f.tif").meta.nodata is None


def test_nodata_option_sets_what_holes_are_written_as_and_the_tag(runner, tmp_path):
    ckpt = _ckpt(tmp_path / "g.pt", "lkca-g", 4, 2, channels=6, blocks=1)
    hole = np.zeros((32, 40), bool)
    hole[10:16, 20:26] = True
    # NaN holes in a float scene, written as integers: the chosen value, tagged (else 0 and no tag)
    cube = make_cube(16, 20, 4, "float32")
    cube[5:8, 10:13, 1] = np.nan
    src = write_geotiff(tmp_path / "nan.tif", cube)
    for suffix in (".tif", ".hdr"):
        out = tmp_path / f"u16{suffix}"
        _up(runner, src, "-s", "2", "-m", ckpt, "-o", out, "--dtype", "uint16", "--nodata", "65535")
        with open_scene(out) as sc:
            assert sc.meta.nodata == 65535 and sc.meta.dtype == np.uint16
            y = sc.read()
        assert (y[hole, 1] == 65535).all() and not (y[~hole, 1] == 65535).any()
        assert not (y[:, :, [0, 2, 3]] == 65535).any()
    # an input nodata value the output type cannot hold: refused, naming the way out; then taken
    ints = make_cube(16, 20, 4, "int16")
    ints[5:8, 10:13, :] = -9999
    nd = write_geotiff(tmp_path / "nd.tif", ints, nodata=-9999)
    out = tmp_path / "nd_x2.tif"
    res = runner.invoke(app, ["upscale", str(nd), "-s", "2", "-m", str(ckpt), "-o", str(out), "--dtype", "uint16",
                              "--device", "cpu", "-q"])
    assert res.exit_code == 2 and "the input's nodata -9999 does not fit the output type uint16; choose " \
        "another with --nodata" in res.stderr, res.output
    assert not out.exists()
    _up(runner, nd, "-s", "2", "-m", ckpt, "-o", out, "--dtype", "uint16", "--nodata", "65535")
    with open_scene(out) as sc:
        assert sc.meta.nodata == 65535
        y = sc.read()
    assert (y[hole] == 65535).all() and not (y[~hole] == 65535).any()


def test_refine_with_finesr_x2(runner, tmp_path):
    src = _scene_for_tiling(tmp_path, 24, 20, 6)
    ckpt = _ckpt(tmp_path / "c.pt", "coarsr", 6, 2, feats=4)
    out = tmp_path / "r.hdr"
    _up(runner, src, "-s", "2", "-m", ckpt, "--refine", "--no-refine-check", "-o", out)
    assert open_scene(out).meta.shape == (48, 40, 6)
    assert "FineSR" in open_scene(out).meta.history[-1]


@pytest.mark.parametrize("case,msg", [
    ("unknown model", "unknown model 'nope'"),
    ("bands", "expects 7 bands but"),
    ("scale", "trained for x2, not x4"),
    ("too few bands", "the coarsr model needs at least 5 bands but "),
    ("exists", "output exists"),
    ("input", "in.hdr: is also an input (" ),
    ("later input", "in_x2.hdr: is also an input ("),
    ("folder", "output folder does not exist"),
    ("unwritable", "output folder is not writable"),
    ("nodata range", "--nodata 300 does not fit the output type uint8"),
    ("nodata nan", "--nodata nan does not fit the output type int16"),
    ("nodata fraction", "--nodata 0.5 does not fit the output type int16"),
    ("nodata float32", "--nodata 1e+40 does not fit the output type float32"),
])
def test_bad_input_exit_2_and_no_partial_file(runner, tmp_path, case, msg):
    src = write_raw_envi(tmp_path, make_cube(12, 12, 5, "float32"), name="in")
    out = tmp_path / "out.hdr"
    args = [src, "-s", "2", "-o", out]
    if case == "unknown model":
        args += ["-m", "nope"]
    elif case == "bands":
        args += ["-m", _ckpt(tmp_path / "l.pt", "lkca", 7, 2, channels=6, blocks=1)]
    elif case == "scale":
        args = [src, "-s", "4", "-o", out, "-m", _ckpt(tmp_path / "l.pt", "lkca", 5, 2, channels=6, blocks=1)]
    elif case == "too few bands":
        args = [write_raw_envi(tmp_path, make_cube(12, 12, 4, "float32"), name="in4"), "-s", "2", "-o", out,
                "-m", "coarsr_x2"]
    elif case == "exists":
        out.write_text("keep me")
        args += ["-m", "bicubic"]
    elif case == "input":  # even with --overwrite: the scene would be lost
        args = [src, "-s", "2", "-o", src, "-m", "bicubic", "--overwrite"]
    elif case == "later input":  # in's default output, in_x2, is the next input: replaced before it is read
        later = write_raw_envi(tmp_path, make_cube(12, 12, 5, "float32", seed=1), name="in_x2")
        args = [src, later, "-s", "2", "-m", "bicubic", "--overwrite"]
    elif case == "folder":
        args = [src, "-s", "2", "-o", tmp_path / "missing" / "o.hdr", "-m", "bicubic"]
    elif case == "unwritable":
        if os.geteuid() == 0:
            pytest.skip("root can write anywhere")
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        args = [src, "-s", "2", "-o", ro / "o.hdr", "-m", "bicubic"]
    elif case.startswith("nodata"):
        value, dtype = {"nodata range": ("300", "uint8"), "nodata nan": ("nan", "int16"),
                        "nodata fraction": ("0.5", "int16"), "nodata float32": ("1e40", "float32")}[case]
        args += ["-m", "bicubic", "--dtype", dtype, "--nodata", value]
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    res = runner.invoke(app, ["upscale", *map(str, args), "--device", "cpu"])
    assert res.exit_code == 2, res.output
    assert msg in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_tile_grid_weights_cover_the_scene_and_skip_the_discarded_margins():
    s, m = 2, 2
    g = TileGrid(50, 41, 16, 6, m, s)
    total = np.zeros(((50 + 2 * m) * s, (41 + 2 * m) * s))
    for t in g:
        w = g.weights(t)
        total[t.row * s:(t.row + t.size_r) * s, t.col * s:(t.col + t.size_c) * s] += w
        # an inner tile edge is never trusted: its margin (the pixels most affected by padding) gets weight 0
        if t.row > 0:
            assert (w[:m * s] == 0).all()
        if t.row + t.size_r < g.prow:
            assert (w[-m * s:] == 0).all()
        if t.col > 0:
            assert (w[:, :m * s] == 0).all()
        if t.col + t.size_c < g.pcol:
            assert (w[:, -m * s:] == 0).all()
    assert (total[m * s:-m * s, m * s:-m * s] > 0).all()  # every scene pixel is covered


def test_disk_and_ram_accumulators_agree(tmp_path):
    from hsrcli.infer.blend import DiskAccumulator, RamAccumulator

    g = np.random.default_rng(0)
    ram, disk = RamAccumulator(20, 17, 5), DiskAccumulator(20, 17, 5, tmp_path)
    want_sum, want_w = np.zeros((20, 17, 5)), np.zeros((20, 17))
    for r0, c0, h, w in [(0, 0, 10, 9), (5, 4, 12, 13), (8, 0, 12, 17)]:
        vals, wt = g.random((5, h, w)).astype(np.float32), g.random((h, w)).astype(np.float32)
        for b0, b1 in [(0, 2), (2, 5)]:  # a tile's output in two band ranges, its weight counted once
            for acc in (ram, disk):
                acc.add(r0, c0, vals[b0:b1], wt, band0=b0, add_weight=b0 == 0)
        want_sum[r0:r0 + h, c0:c0 + w] += vals.transpose(1, 2, 0) * wt[:, :, None]
        want_w[r0:r0 + h, c0:c0 + w] += wt
    want = want_sum / np.maximum(want_w, 1e-20)[:, :, None]
    for acc in (ram, disk):
        np.testing.assert_allclose(acc.result(3, 18, 2, 15), want[3:18, 2:15].transpose(2, 0, 1), rtol=1e-5)
        np.testing.assert_allclose(acc.result(2, 9, 0, 17), want[2:9].transpose(2, 0, 1), rtol=1e-5)  # whole rows
    disk.close()
    assert list(tmp_path.iterdir()) == []


def test_unweighted_accumulators_store_owned_cores(tmp_path):
    """Default grids: the tiles' cores partition the scene, so blocks are stored, never weighted
    or read back, and no weight raster exists."""
    from hsrcli.infer.blend import DiskAccumulator, RamAccumulator

    g = np.random.default_rng(1)
    ram, disk = RamAccumulator(20, 17, 5, weighted=False), DiskAccumulator(20, 17, 5, tmp_path, weighted=False)
    assert ram.weight is None and len(list(tmp_path.iterdir())) == 1
    want = np.zeros((20, 17, 5), dtype=np.float32)
    for r0, r1, c0, c1 in [(0, 12, 0, 9), (0, 12, 9, 17), (12, 20, 0, 17)]:
        vals = g.random((5, r1 - r0, c1 - c0)).astype(np.float32)
        for b0, b1 in [(0, 3), (3, 5)]:
            for acc in (ram, disk):
                acc.add(r0, c0, vals[b0:b1], band0=b0)
        want[r0:r1, c0:c1] = vals.transpose(1, 2, 0)
    for acc in (ram, disk):
        np.testing.assert_array_equal(acc.result(3, 18, 2, 15), want[3:18, 2:15].transpose(2, 0, 1))
        np.testing.assert_array_equal(acc.result(0, 20, 0, 17), want.transpose(2, 0, 1))  # whole rows: one read
    disk.close()
    assert list(tmp_path.iterdir()) == []


def test_tile_cores_partition_the_scene_where_weights_are_one():
    for rows, cols, tile, overlap, margin in [(50, 41, 16, 6, 3), (37, 64, 20, 8, 4), (9, 9, 30, 6, 3)]:
        g = TileGrid(rows, cols, tile, overlap, margin, 2, pad=5)
        assert not g.feathered
        owner = np.zeros((g.prow, g.pcol), dtype=int)
        for t in g:
            r0, r1, c0, c1 = g.core(t)
            owner[r0:r1, c0:c1] += 1
            w = g.weights(t)[::2, ::2]  # LR resolution
            assert (w[r0 - t.row:r1 - t.row, c0 - t.col:c1 - t.col] == 1).all()  # a core is trusted
        assert (owner[5:-5, 5:-5] == 1).all() and owner.sum() == rows * cols
    assert TileGrid(50, 41, 16, 8, 2, 2).feathered


def test_large_output_uses_disk_accumulator_and_matches(runner, tmp_path, monkeypatch):
    import hsrcli.infer.runner as runner_mod

    src = _scene_for_tiling(tmp_path, 40, 36, 5)
    a, b = tmp_path / "ram.hdr", tmp_path / "disk.hdr"
    _up(runner, src, "-s", "2", "-m", "bicubic", "-o", a, "--tile", "16")
    monkeypatch.setattr(runner_mod, "RAM_ACCUMULATOR_BYTES", 0)
    monkeypatch.setattr(runner_mod.UpscaleOptions, "ram_budget", 0)
    _up(runner, src, "-s", "2", "-m", "bicubic", "-o", b, "--tile", "16")
    np.testing.assert_allclose(open_scene(b).read(), open_scene(a).read(), rtol=1e-6)
    assert not [p for p in tmp_path.iterdir() if "accumulator" in p.name]


@pytest.mark.parametrize("behind", [False, True])
def test_cores_written_in_place_equal_the_accumulated_output(runner, tmp_path, monkeypatch, behind):
    """ENVI takes each tile core straight from the model (finish.CoreWriter); GeoTIFF goes through the
    accumulator; with or without the background writer the values are the same to the bit."""
    import hsrcli.infer.runner as runner_mod

    monkeypatch.setattr(runner_mod.UpscaleOptions, "behind", behind)
    cube = (make_cube(70, 60, 9, "float32") * 40).astype(np.int16)
    cube[5, 7, 2] = cube[40, 3, :] = -9999
    src = write_geotiff(tmp_path / "lr.tif", cube, nodata=-9999)
    direct, acc = tmp_path / "direct.hdr", tmp_path / "acc.tif"
    for out in (direct, acc):
        _up(runner, src, "-s", "2", "-m", "lkca-g_x2", "-o", out, "--tile", "44", "--dtype", "input")
    a, b = open_scene(direct).read(), open_scene(acc).read()
    assert a.dtype == np.int16 and len(TileGrid(70, 60, 44, 28, 14, 2)) > 1
    np.testing.assert_array_equal(a, b)
    assert (a[10:12, 14:16, 2] == -9999).all() and (a[10:12, 14:16, 3] != -9999).all()


def test_default_model_prefers_the_best_fitting_bundled_model(monkeypatch):
    from hsrcli import weights
    from hsrcli.weights import default_model

    cards = [
        {"name": "spec31", "model": "lkca", "scale": 4, "bands": 31, "band_agnostic": False, "test": {"psnr": 34.0}},
        {"name": "agn", "model": "lkca-g", "scale": 4, "bands": None, "band_agnostic": True, "test": {"psnr": 35.0}},
        {"name": "spec31_x2", "model": "lkca", "scale": 2, "bands": 31, "band_agnostic": False},
    ]
    monkeypatch.setattr(weights, "bundled", lambda: [weights.ModelCard.from_dict(c) for c in cards])
    assert default_model(31, 4) == "agn"  # better measured PSNR wins
    assert default_model(224, 4) == "agn"  # band-specific weights do not fit 224 bands
    assert default_model(31, 2) == "spec31_x2"
    assert default_model(31, 3) == "bicubic"  # nothing bundled for x3
    cards[1]["test"] = {"psnr": 30.0}
    assert default_model(31, 4) == "spec31"
    cards.append({"name": "agn+agn", "model": "cascade", "scale": 4, "bands": None, "composite": "agn+agn",
                  "test": {"psnr": 34.5}})  # a bundled composite is ranked like any card
    assert default_model(31, 4) == "agn+agn" and default_model(224, 4) == "agn+agn"
    cards.append({"name": "stage_x2", "model": "lkca-g", "scale": 2, "bands": None, "after": "agn",
                  "test": {"psnr": 99.0}})  # a cascade's later stage (hsr train --after) is never the default alone
    assert default_model(31, 2) == "spec31_x2" and default_model(224, 2) == "bicubic"


def test_default_model_ranks_by_the_test_sets_every_fitting_card_has(monkeypatch):
    from hsrcli import weights
    from hsrcli.weights import default_model

    def card(name, psnr, air=None, bands=None):
        return {"name": name, "model": "lkca-g" if bands is None else "lkca", "scale": 8, "bands": bands,
                "test": {"psnr": psnr}, **({"test_airborne": {"psnr": air}} if air is not None else {})}

    cards = [card("a", 31.4, 31.0), card("b", 31.2, 31.5), card("c", 31.3, bands=31)]
    monkeypatch.setattr(weights, "bundled", lambda: [weights.ModelCard.from_dict(c) for c in cards])
    assert default_model(224, 8) == "b"  # CAVE and airborne: mean 31.35 beats 31.2
    assert default_model(31, 8) == "a"  # "c" has no airborne score: CAVE alone decides
    cards.append(card("d", 31.9))  # a band-agnostic card without an airborne score: CAVE alone
    assert default_model(224, 8) == "d"


def test_several_inputs_each_get_their_own_output(runner, tmp_path):
    a = write_raw_envi(tmp_path, make_cube(8, 8, 5, "float32"), name="a")
    b = write_geotiff(tmp_path / "b.tif", make_cube(6, 7, 5, "float32"))
    out = tmp_path / "out"
    out.mkdir()
    res = runner.invoke(app, ["upscale", str(a), str(b), "-s", "2", "-m", "bicubic", "-o", str(out), "--device",
                              "cpu"])
    assert res.exit_code == 0, res.output
    assert open_scene(out / "a_x2.hdr").meta.shape == (16, 16, 5)
    assert open_scene(out / "b_x2.tif").meta.shape == (12, 14, 5)
    assert res.stderr.count("Mpx·bands/s") == 2  # throughput printed for each


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["lkca-g_x4", "lkca_x4", "coarsr_x4"])
def test_upscale_on_cuda_matches_cpu(runner, tmp_path, name):
    """A bundled model on the GPU gives the CPU result: float32 (cuDNN may use TF32) and bf16 autocast
    (CoarSR folded for inference on both; channels-last LR convolutions on the CPU only)."""
    bands = 31
    g = np.random.default_rng(3)
    cube = (g.random((24, 20, 1)) * np.linspace(0.2, 0.9, bands) + 0.05 * g.random((24, 20, bands))) * 4000
    src = write_raw_envi(tmp_path, cube.astype(np.float32), name="cuda_in")
    out = {}
    for dev, amp in (("cpu", "off"), ("cuda", "off"), ("cuda", "bf16")):
        path = tmp_path / f"{dev}_{amp}.hdr"
        res = runner.invoke(app, ["upscale", str(src), "-s", "4", "-m", name, "-o", str(path), "-q",
                                  "--device", dev, "--amp", amp])
        assert res.exit_code == 0, res.output
        out[dev, amp] = open_scene(path).read()
    ref = out["cpu", "off"]
    span = float(ref.max() - ref.min())
    assert ref.shape == (96, 80, bands)
    assert np.abs(out["cuda", "off"] - ref).max() <= 2e-3 * span
    assert np.abs(out["cuda", "bf16"] - ref).max() <= 3e-2 * span


def test_default_overlap_from_the_measured_radius_stays_within_1e3_of_whole_image(runner, tmp_path):
    """Real scene (the shipped AVIRIS sample, 16 bands): the effective-radius overlap of the bundled
    lkca-g_x4 against whole-image inference; --exact overlaps by the theoretical radius and the reach of
    the LR back-projection (the default's one pass)."""
    from hsrcli.infer.consistency import REACH
    from hsrcli.infer.resolve import resolve_model

    with open_scene(SAMPLE_HDR) as sc:
        cube = sc.read()[:, :, 40:56].astype(np.float32)
    cube = np.concatenate([cube, cube[:, :-31:-1]], axis=1)  # 90 x 120: room for several --exact tiles
    src = write_raw_envi(tmp_path, cube, name="real16")
    resolved = resolve_model("lkca-g_x4", 16, 4)
    assert resolved.effective_radius is not None and resolved.effective_radius < resolved.model.receptive_radius
    whole, tiled = tmp_path / "whole.hdr", tmp_path / "tiled.hdr"
    _up(runner, src, "-s", "4", "-m", "lkca-g_x4", "-o", whole, "--tile", "512")
    res = _up(runner, src, "-s", "4", "-m", "lkca-g_x4", "-o", tiled, "--tile", "48", "--json")
    stats = json.loads(res.stdout[res.stdout.index("{"):])
    assert stats["overlap"] == 2 * resolved.effective_radius and stats["tiles"] >= 4 and not stats["exact"]
    assert {"stats", "read", "model", "store"} <= set(stats["phases"])  # where the time went
    assert 0 < stats["phases"]["model"] < stats["seconds"]
    a, b = open_scene(whole).read(), open_scene(tiled).read()
    assert np.abs(b - a).max() <= 1e-3 * float(a.max() - a.min())
    res = _up(runner, src, "-s", "4", "-m", "lkca-g_x4", "-o", tmp_path / "exact.hdr", "--tile", "100", "--exact",
              "--json")
    stats = json.loads(res.stdout[res.stdout.index("{"):])
    assert stats["overlap"] == 2 * (resolved.model.receptive_radius + REACH) and stats["tiles"] >= 3
    assert stats["consistency"] == 1
    exact = open_scene(tmp_path / "exact.hdr").read()
    assert np.abs(exact - a).max() <= 1e-5 * float(a.max() - a.min())  # the same padded scene, same output


def test_rectangular_default_tiles_stay_within_1e3_of_whole_image(runner, tmp_path, monkeypatch):
    """Past the working-set area the planner may cut the scene along one axis only: tiles of unequal
    sides, blended as square ones are (real scene, the shipped sample's 16 bands, the area bound shrunk
    so that its 122² padded LR px no longer fit one tile)."""
    from hsrcli.infer import tileplan

    with open_scene(SAMPLE_HDR) as sc:
        cube = sc.read()[:, :, 40:56].astype(np.float32)
    src = write_raw_envi(tmp_path, cube, name="real16")
    whole, tiled = tmp_path / "whole.hdr", tmp_path / "tiled.hdr"
    _up(runner, src, "-s", "4", "-m", "lkca-g_x4", "-o", whole, "--tile", "512")
    monkeypatch.setattr(tileplan, "TILE_LR_PIXELS", 122 * 70)
    res = runner.invoke(app, ["upscale", str(src), "-s", "4", "-m", "lkca-g_x4", "-o", str(tiled), "--json",
                              "--device", "cpu"])  # not quiet: the wrote line names the tiles
    assert res.exit_code == 0, res.output
    stats = json.loads(res.stdout[res.stdout.index("{"):])
    rows, cols = stats["tile_shape"]
    assert rows != cols and rows * cols <= 122 * 70 and stats["tile"] == max(rows, cols)
    assert stats["tiles"] * rows * cols < 4 * 77 * 77  # fewer LR px than the 2 x 2 squares that would fit
    assert f"{stats['tiles']} tiles of {rows} x {cols} LR px" in res.stderr
    a, b = open_scene(whole).read(), open_scene(tiled).read()
    assert np.abs(b - a).max() <= 1e-3 * float(a.max() - a.min())


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("bands,rows,cols", [(224, 90, 90), (64, 512, 512), (64, 256, 300), (31, 128, 128),
                                             (14, 2000, 1500), (64, 300, 300), (64, 1000, 300)])
def test_default_tile_minimises_the_estimated_time(bands, rows, cols, device):
    from math import isqrt

    from hsrcli.infer.tileplan import MAX_TILE, TILE_HR_VALUES, TILE_LR_PIXELS, auto_tile, relative_speed

    overlap, margin = 30, 15

    def cost(tr, tc):
        g = TileGrid(rows, cols, tr, overlap, margin, 4, tile_cols=tc)
        return len(g) * g.tr * g.tc / relative_speed(g.side, device)

    def fits(tr, tc):
        return max(tr, tc) <= MAX_TILE and tr * tc <= TILE_LR_PIXELS and bands * 16 * tr * tc <= TILE_HR_VALUES

    cap, _ = auto_tile(bands, 4, overlap)
    tr, tc = auto_tile(bands, 4, overlap, rows, cols, margin, device)
    assert overlap < min(tr, tc) and fits(tr, tc)
    assert cost(tr, tc) <= cost(cap, cap) * 1.0001  # never slower than the largest square tile that fits
    sides = range(overlap + 16, MAX_TILE + 1, 8)
    for r in sides:  # nor than other shapes that fit, within the even-split rounding
        for c in sides:
            if fits(r, c):
                assert cost(tr, tc) <= cost(r, c) * 1.05, (r, c)
    if device == "cuda":  # throughput does not fall with size: fewest LR pixels computed
        assert cost(tr, tc) <= min(cost(s, s) for s in range(overlap + 8, cap + 1, 8)) * 1.0001
    assert isqrt(tr * tc) == TileGrid(rows, cols, tr, overlap, margin, 4, tile_cols=tc).side or max(tr, tc) > rows


def test_a_scene_past_the_area_bound_is_cut_along_one_axis():
    """A 300² scene (332² padded, past the 288² working-set area) runs as 2 tiles of 332 x 182, not 4 of
    182²: 9 % fewer LR pixels computed; a long strip is cut across its length only."""
    from hsrcli.infer.tileplan import auto_tile

    assert auto_tile(8, 4, 32, 300, 300, 16) in ((332, 182), (182, 332))
    assert auto_tile(8, 4, 32, 5000, 300, 16)[1] == 332
    assert auto_tile(8, 4, 32, 300, 5000, 16)[0] == 332


def test_a_band_streaming_model_gets_the_tiles_its_held_bands_allow():
    from hsrcli.infer.resolve import resolve_model
    from hsrcli.infer.tileplan import TILE_HR_VALUES, auto_tile

    model = resolve_model("lkca-g_x4", 64, 4).model
    held = lambda side: model.bands_held(64, side)  # fewer groups per chunk on larger tiles
    assert held(64) > held(256)
    tr, tc = auto_tile(held, 4, 30, 512, 512, 15)
    assert held(tr) * 16 * tr * tc <= TILE_HR_VALUES
    assert (tr, tc) == (286, 286)  # 2 x 2 tiles of the padded 542 px
    fixed = auto_tile(held(64), 4, 30, 512, 512, 15)  # 32 bands held at once: about 216² px of area at most
    assert 32 * 16 * fixed[0] * fixed[1] <= TILE_HR_VALUES and fixed[0] * fixed[1] < 216 * 216


def test_a_small_scene_is_one_tile():
    from hsrcli.infer.tileplan import auto_tile

    assert auto_tile(14, 4, 30, 90, 90, 15) == (120, 120)  # the shipped sample: the padded scene at once


def test_the_subspace_projection_keeps_the_fastest_tiles():
    """Its k coefficients per HR pixel are counted, within their own budget: the shipped sample (rank 44
    of 224) stays one tile, a 512² × 64 scene with a rank of 30 keeps its 2 × 2 tiles of 286 px."""
    from hsrcli.infer.resolve import resolve_model
    from hsrcli.infer.tileplan import TILE_PROJECTED_VALUES, auto_tile

    model = resolve_model("lkca-g_x4", 64, 4).model
    assert auto_tile(lambda side: model.bands_held(224, side) + 44, 4, 30, 90, 90, 15, "cpu",
                     TILE_PROJECTED_VALUES) == (120, 120)
    assert auto_tile(lambda side: model.bands_held(64, side) + 30, 4, 30, 512, 512, 15, "cpu",
                     TILE_PROJECTED_VALUES) == (286, 286)


@pytest.mark.parametrize("model", ["lkca-g_x2", "lkca"])
def test_bands_entirely_nodata_stay_nodata_and_do_not_touch_the_good_ones(runner, tmp_path, model):
    g = np.random.default_rng(3)
    base = g.random((20, 22, 1)).astype(np.float32)
    cube = (base * np.linspace(0.4, 1.0, 10)[None, None] + 0.05 * g.random((20, 22, 10))).astype(np.float32)
    dead = [3, 9]
    good = [b for b in range(10) if b not in dead]
    holed = cube.copy()
    holed[..., dead] = -9999.0
    src = write_geotiff(tmp_path / "in.tif", holed, nodata=-9999.0)
    spec = model if model != "lkca" else _ckpt(tmp_path / "l.pt", "lkca", 10, 2, channels=6, blocks=1)
    # a fixed band list sees the filled scene's bands: the subspace would be fitted on other bands
    sub = ("--subspace", "off") if model == "lkca" else ()
    _up(runner, src, "-s", "2", "-m", spec, "-o", tmp_path / "out.tif", *sub)
    out = open_scene(tmp_path / "out.tif").read()
    assert (out[..., dead] == -9999.0).all()
    assert np.isfinite(out[..., good]).all() and (out[..., good] > -1).all()
    if model == "lkca":  # a fixed band list: dead bands are interpolated from their neighbours
        filled = cube.copy()
        filled[..., 3] = (holed[..., 2] + holed[..., 4]) / 2
        filled[..., 9] = holed[..., 8]
        _up(runner, write_geotiff(tmp_path / "f.tif", filled), "-s", "2", "-m", spec, "-o", tmp_path / "f_x2.tif",
            *sub)
    else:  # band-agnostic: exactly the result of the good bands alone
        _up(runner, write_geotiff(tmp_path / "f.tif", cube[..., good]), "-s", "2", "-m", spec, "-o",
            tmp_path / "f_x2.tif")
    ref = open_scene(tmp_path / "f_x2.tif").read()
    np.testing.assert_allclose(out[..., good], ref[..., good] if model == "lkca" else ref, rtol=0, atol=1e-5)


def test_flat_bands_keep_their_value_and_stay_out_of_a_band_agnostic_model(runner, tmp_path):
    """Bands zeroed (bbl) or constant are output as that value, exactly; the model runs on the others,
    which get exactly what they get alone; the history and --json say so."""
    g = np.random.default_rng(4)
    base = g.random((20, 22, 1))
    cube = np.round(1000 + 3000 * base * np.linspace(0.4, 1.0, 10)[None, None] + 200 * g.random((20, 22, 10)))
    flat, good = [2, 3, 7], [0, 1, 4, 5, 6, 8, 9]
    cube[..., 2:4], cube[..., 7] = 0, 1234
    src = write_raw_envi(tmp_path, cube.astype(np.int16), name="bbl")
    res = _up(runner, src, "-s", "2", "-m", "lkca-g_x2", "-o", tmp_path / "out.hdr", "--dtype", "input", "--json")
    stats = json.loads(res.stdout[res.stdout.index("{"):])
    assert stats["modelled_bands"] == 7 and "lkca-g_x2 on 7 of 10 bands (3 flat: bicubic)" in stats["model"]
    with open_scene(tmp_path / "out.hdr") as sc:
        out = sc.read()
        assert any("on 7 of 10 bands (3 flat: bicubic)" in h for h in sc.meta.history)
    assert (out[..., 2:4] == 0).all() and (out[..., 7] == 1234).all()
    _up(runner, write_raw_envi(tmp_path, cube[..., good].astype(np.int16), name="good"), "-s", "2", "-m",
        "lkca-g_x2", "-o", tmp_path / "good_x2.hdr", "--dtype", "input")
    np.testing.assert_array_equal(out[..., good], open_scene(tmp_path / "good_x2.hdr").read())
    assert flat == sorted(set(range(10)) - set(good))


@pytest.mark.parametrize("model,scale", [("lkca-g_x2", 2), ("lkca-g_x2+lkca-g_x2", 4), ("coarsr_x2", 2)])
def test_a_constant_scene_is_its_own_super_resolution_whatever_the_model(runner, tmp_path, model, scale):
    """Every band flat: the output is every band's value, exactly; no network runs (a trained one would
    add a faint pattern of its own)."""
    cube = np.full((12, 10, 6), 1234, np.int16)
    cube[..., 3] = 0
    src = write_raw_envi(tmp_path, cube, name="const")
    res = _up(runner, src, "-s", str(scale), "-m", model, "-o", tmp_path / "out.hdr", "--json")
    stats = json.loads(res.stdout[res.stdout.index("{"):])
    assert stats["modelled_bands"] == 0 and "on 0 of 6 bands (6 flat: bicubic)" in stats["model"]
    out = open_scene(tmp_path / "out.hdr").read()
    assert out.shape == (12 * scale, 10 * scale, 6)
    np.testing.assert_array_equal(out, np.broadcast_to(cube[:1, :1].astype(np.float32), out.shape))


def test_coarsr_runs_on_every_band_when_too_few_are_left_for_it(runner, tmp_path):
    """CoarSR needs 5 neighbouring bands: with 4 bands that are neither flat nor without data it runs on
    all 8, as a model with a fixed band list does (the bands without data interpolated, then written as
    nodata)."""
    cube = make_cube(12, 10, 8).astype(np.int16)
    cube[..., [1, 6]] = 500
    cube[..., [2, 5]] = -9999
    src = write_raw_envi(tmp_path, cube, name="few", header={"data ignore value": -9999})
    res = _up(runner, src, "-s", "2", "-m", "coarsr_x2", "-o", tmp_path / "out.hdr", "--json")
    stats = json.loads(res.stdout[res.stdout.index("{"):])
    assert stats["modelled_bands"] == 8 and " on " not in stats["model"]
    out = open_scene(tmp_path / "out.hdr").read()
    assert (out[..., [2, 5]] == -9999).all() and (out[..., [0, 1, 3, 4, 6, 7]] != -9999).all()


@pytest.mark.parametrize("suffix,feather", [(".hdr", ()), (".tif", ()), (".tif", ("--overlap", "36"))])
def test_tiles_with_no_data_to_keep_skip_the_model_and_change_nothing(runner, tmp_path, monkeypatch, suffix,
                                                                        feather):
    """The nodata around a flight line: tiles whose kept LR pixels are all missing are not run through the
    model; the output is the same to the bit (ENVI cores written directly, GeoTIFF accumulated, or feathered
    tiles blended), nodata there."""
    import hsrcli.infer.runner as runner_mod

    cube = make_cube(40, 48, 6, "int16", seed=2)
    cube[:, :32] = -9999  # every band: no data left of column 32
    cube[30:, 36:40, 2] = -9999  # and a hole in one band only
    src = write_geotiff(tmp_path / "strip.tif", cube, nodata=-9999)
    args = ("-s", "2", "-m", "lkca-g_x2", "--tile", "20", "--dtype", "input", "--json", *feather)
    res = _up(runner, src, *args, "-o", tmp_path / f"skip{suffix}")
    stats = json.loads(res.stdout[res.stdout.index("{"):])
    assert 0 < stats["tiles_without_data"] < stats["tiles"]
    monkeypatch.setattr(runner_mod, "all_missing", lambda *_: False)
    res = _up(runner, src, *args, "-o", tmp_path / f"all{suffix}")
    assert json.loads(res.stdout[res.stdout.index("{"):])["tiles_without_data"] == 0
    out, ref = open_scene(tmp_path / f"skip{suffix}").read(), open_scene(tmp_path / f"all{suffix}").read()
    np.testing.assert_array_equal(out, ref)
    assert (out[:, :64] == -9999).all() and (out[60:, 72:80, 2] == -9999).all() and (out[:, 64:, :2] != -9999).all()


def test_bands_option_super_resolves_the_selection_as_a_scene_of_its_own(runner, tmp_path):
    """--bands by number or wavelength: the output holds those bands, in that order, with their metadata,
    and equals the upscale of a file holding them alone; a bad selection exits 2 before any output."""
    cube = make_cube(20, 18, 9, "int16", seed=5)
    wl = wavelengths_nm(9)
    header = {"wavelength": [f"{w:g}" for w in wl], "fwhm": ["10"] * 9, "band names": [f"b{i}" for i in range(9)]}
    src = write_raw_envi(tmp_path, cube, name="all", header=header)
    out = tmp_path / "sel.hdr"
    res = _up(runner, src, "-s", "2", "-m", "lkca-g_x2", "-o", out, "--bands", "8,2-4", "--json", "--dtype", "input")
    assert json.loads(res.stdout[res.stdout.index("{"):])["bands"] == 4
    with open_scene(out) as sc:
        got, meta = sc.read(), sc.meta
    np.testing.assert_array_equal(meta.wavelengths, wl[[7, 1, 2, 3]])
    assert meta.band_names == ["b7", "b1", "b2", "b3"] and got.shape == (40, 36, 4)
    alone = write_raw_envi(tmp_path, cube[..., [7, 1, 2, 3]], name="alone",
                           header={"wavelength": [f"{w:g}" for w in wl[[7, 1, 2, 3]]]})
    _up(runner, alone, "-s", "2", "-m", "lkca-g_x2", "-o", tmp_path / "alone_x2.hdr", "--dtype", "input")
    np.testing.assert_array_equal(got, open_scene(tmp_path / "alone_x2.hdr").read())
    # by wavelength: 437.5-512.5 nm are bands 2-4
    _up(runner, src, "-s", "2", "-m", "bicubic", "-o", tmp_path / "wl.hdr", "--bands", "437.5-512.5nm")
    np.testing.assert_array_equal(open_scene(tmp_path / "wl.hdr").meta.wavelengths, wl[1:4])
    for spec, msg in (("10", "band range '10' outside 1-9"), ("900-950nm", "no band between 900 and 950 nm"),
                      ("x", "bad band selection 'x'")):
        bad = runner.invoke(app, ["upscale", str(src), "-s", "2", "-o", str(tmp_path / "bad.hdr"), "--bands", spec, "-q"])
        assert bad.exit_code == 2 and msg in bad.stderr, bad.output
        assert not (tmp_path / "bad.hdr").exists()


def test_a_band_count_mismatch_names_the_checkpoint_wavelengths_and_bands_option(runner, tmp_path):
    src = write_raw_envi(tmp_path, make_cube(16, 16, 40, "int16"), name="forty",
                         header={"wavelength": [f"{w:g}" for w in 380 + 10 * np.arange(40)]})
    res = runner.invoke(app, ["upscale", str(src), "-s", "4", "-m", "lkca_x4", "-o", str(tmp_path / "o.hdr"), "-q"])
    assert res.exit_code == 2
    assert ("the lkca model expects 31 bands (400-700 nm) but" in res.stderr
            and "select 31 bands (400-700 nm) with --bands (e.g. --bands 400-700nm)" in res.stderr), res.stderr
    res = runner.invoke(app, ["upscale", str(src), "-s", "4", "-m", "lkca_x4", "-o", str(tmp_path / "o.hdr"), "-q",
                              "--bands", "400-710nm"])
    assert res.exit_code == 2 and f"but the --bands selection of {src} has 32" in res.stderr, res.stderr
    _up(runner, src, "-s", "4", "-m", "lkca_x4", "-o", tmp_path / "o.hdr", "--bands", "400-700nm")
    assert open_scene(tmp_path / "o.hdr").meta.shape == (64, 64, 31)


@pytest.mark.parametrize("rows,cols,tile", [(20, 26, None), (40, 36, 16)])
def test_bicubic_through_upscale_equals_matlab_imresize_of_the_whole_scene(runner, tmp_path, rows, cols, tile):
    """Scene borders are mirrored with the edge pixel repeated, as imresize does: whole or tiled,
    `-m bicubic` is exactly the MATLAB bicubic of the scene (a "reflect" border fails this)."""
    from hsrcli.ops.imresize import imresize

    cube = np.random.default_rng(5).random((rows, cols, 4)).astype(np.float32)
    src = write_geotiff(tmp_path / "in.tif", cube)
    _up(runner, src, "-s", "4", "-m", "bicubic", "-o", tmp_path / "out.tif", *(["--tile", str(tile)] if tile else []))
    want = imresize(torch.from_numpy(cube.transpose(2, 0, 1).astype(np.float64)), 4).numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(open_scene(tmp_path / "out.tif").read(), want, rtol=0, atol=1e-5)


def _torchrun(*args: str, nproc: int = 2) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc), "-m",
           "hsrcli", "upscale", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)


def _without_history(header: Path) -> list[str]:
    return [line for line in header.read_text().splitlines() if not line.startswith(("history", "description"))]


def test_torchrun_shares_scenes_over_gloo_ranks_and_writes_what_one_process_writes(runner, tmp_path):
    srcs = [write_raw_envi(tmp_path, make_cube(20 + 4 * k, 18, 5, "float32", seed=k), name=f"s{k}") for k in range(3)]
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    _up(runner, *srcs, "-s", "2", "-m", "bicubic", "-o", one)
    proc = _torchrun(*map(str, srcs), "-s", "2", "-m", "bicubic", "-o", str(two), "--device", "cpu", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
    for k in range(3):
        assert (two / f"s{k}_x2.img").read_bytes() == (one / f"s{k}_x2.img").read_bytes()
        assert _without_history(two / f"s{k}_x2.hdr") == _without_history(one / f"s{k}_x2.hdr")
    stats = json.loads(proc.stdout[proc.stdout.index("["):])  # printed once, by rank 0, in input order
    assert [Path(s["output"]).name for s in stats] == ["s0_x2.hdr", "s1_x2.hdr", "s2_x2.hdr"]
    assert proc.stderr.count("wrote ") == 3


@pytest.mark.parametrize("extra", [["-m", "lkca-g_x2", "--tile", "24"],  # owned cores
                                   ["-m", "bicubic", "--tile", "20", "--overlap", "12"],  # feathered blending
                                   ["-m", "bicubic", "--tile", "20", "--refine", "--no-refine-check"]])  # FineSR λ
def test_torchrun_shares_the_tiles_of_one_scene_and_writes_what_one_process_writes(runner, tmp_path, extra):
    src = write_raw_envi(tmp_path, make_cube(44, 40, 6, "float32"), name="one")
    _up(runner, src, "-s", "2", "-o", tmp_path / "a.hdr", "--device", "cpu", *extra)
    proc = _torchrun(str(src), "-s", "2", "-o", str(tmp_path / "b.hdr"), "--device", "cpu", "--json", *extra)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert stats["tiles"] > 2 and stats["ranks"] == 2  # the tiles were shared
    assert (tmp_path / "b.img").read_bytes() == (tmp_path / "a.img").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.hdr", "a.img", "b.hdr", "b.img", "one.hdr", "one.img"]


def test_torchrun_runs_a_cascade_stage_by_stage_and_writes_what_one_process_writes(runner, tmp_path):
    """Both stages' tiles shared over the ranks; rank 0 writes the intermediate, every rank reads it."""
    src = write_raw_envi(tmp_path, make_cube(60, 56, 6, "float32"), name="one")
    extra = ["-s", "4", "-m", "lkca-g_x2+lkca-g_x2", "--tile", "24", "--device", "cpu"]
    _up(runner, src, "-o", tmp_path / "a.hdr", *extra)
    proc = _torchrun(str(src), "-o", str(tmp_path / "b.hdr"), "--json", *extra)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert min(s["tiles"] for s in stats["stages"]) > 2 and stats["ranks"] == 2
    assert (tmp_path / "b.img").read_bytes() == (tmp_path / "a.img").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.hdr", "a.img", "b.hdr", "b.img", "one.hdr", "one.img"]


def test_torchrun_stops_every_rank_on_one_bad_scene_with_one_message(tmp_path):
    good = write_raw_envi(tmp_path, make_cube(16, 16, 5, "float32"), name="good")
    out = tmp_path / "out"
    out.mkdir()
    proc = _torchrun(str(good), str(tmp_path / "missing.hdr"), "-s", "2", "-m", "bicubic", "-o", str(out),
                     "--device", "cpu")
    assert proc.returncode != 0
    assert proc.stderr.count("hsr: error:") == 1 and "missing.hdr" in proc.stderr
    assert list(out.iterdir()) == []


def test_upscale_self_ensemble_tiles_and_reports(runner, tmp_path):
    """--ensemble 4 through the whole command (tiles, crops, the subspace projection): another output
    than the plain model's, tiled the same as whole, reported in --json and the history."""
    g = np.random.default_rng(4)
    cube = (g.random((104, 100, 3)) @ (0.2 + g.random((3, 6))) + 0.02 * g.random((104, 100, 6))).astype(np.float32)
    src = write_geotiff(tmp_path / "in.tif", cube)

    def run(out, *args):
        res = runner.invoke(app, ["upscale", str(src), "-s", "2", "-m", "lkca-g_x2", "-o", str(tmp_path / out), "-q",
                                  "--device", "cpu", "--json", *args])
        assert res.exit_code == 0, res.output
        return json.loads(res.stdout[res.stdout.index("{"):])

    plain = run("plain.tif")
    one = run("one.tif", "--ensemble", "4", "--tile", "200", "--exact")
    tiled = run("tiles.tif", "--ensemble", "4", "--tile", "100", "--exact")
    assert plain["ensemble"] == 1 and one["ensemble"] == 4 and tiled["tiles"] > 1
    assert "self-ensemble of 4" in one["model"]
    a, b, p = (open_scene(tmp_path / f).read() for f in ("one.tif", "tiles.tif", "plain.tif"))
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * float(np.abs(a).max()))
    assert np.abs(a - p).max() > 1e-4 * float(np.abs(p).max())


@pytest.mark.skipif(not hasattr(os, "posix_fallocate"), reason="no posix_fallocate on this OS")
def test_a_full_disk_stops_before_any_work_with_one_line_and_nothing_left(runner, tmp_path, monkeypatch):
    """Outputs and disk accumulators take their blocks when created: a disk that cannot hold them fails
    there (exit 2, one line), not as a SIGBUS in a mapped write halfway through."""
    import errno

    from hsrcli.infer.blend import DiskAccumulator

    src = write_raw_envi(tmp_path, np.random.default_rng(0).random((12, 10, 4)).astype(np.float32))
    before = sorted(p.name for p in tmp_path.iterdir())

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    res = runner.invoke(app, ["upscale", str(src), "-s", "2", "-m", "bicubic", "-o", str(tmp_path / "out.hdr"), "-q"])
    assert res.exit_code == 2 and "no space left on the device" in res.stderr
    assert "Traceback" not in res.output
    with pytest.raises(OSError, match="No space"):
        DiskAccumulator(64, 64, 8, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_ground_control_points_are_carried_rescaled_and_a_crop_shifts_them(runner, tmp_path):
    """A scene georeferenced by GCPs (no geotransform): the GeoTIFF and COG outputs keep them, at s × their
    pixel coordinates, with their CRS; an ENVI output holds them as 'geo points' (latitude/longitude), which
    GDAL and ``hsr`` read back."""
    from rasterio.control import GroundControlPoint
    from rasterio.crs import CRS

    from hsrcli.io.view import CroppedScene

    src = tmp_path / "gcp.tif"
    points = [GroundControlPoint(row=r, col=c, x=500000 + 30 * c, y=4000000 - 30 * r, z=5.0)
              for r, c in [(0, 0), (0, 12), (10, 0), (10.5, 12.25)]]
    with rasterio.open(src, "w", driver="GTiff", height=10, width=12, count=3, dtype="float32") as dst:
        dst.write(make_cube(10, 12, 3, "float32").transpose(2, 0, 1))
        dst.gcps = (points, CRS.from_epsg(UTM_EPSG))
    for fmt in ("gtiff", "cog"):
        out = tmp_path / f"{fmt}.tif"
        _up(runner, src, "-s", "2", "-m", "bicubic", "-o", out, "--format", fmt)
        with rasterio.open(out) as ds:
            got, crs = ds.gcps
            assert ds.transform.is_identity and crs.to_epsg() == UTM_EPSG
            assert [(p.row, p.col, p.x, p.y, p.z) for p in got] == [(2 * p.row, 2 * p.col, p.x, p.y, p.z)
                                                                    for p in points]
    info = json.loads(runner.invoke(app, ["info", str(src), "--json"]).stdout)
    assert info["gcps"][3] == [10.5, 12.25, 500000 + 30 * 12.25, 4000000 - 30 * 10.5, 5.0]
    assert CroppedScene(open_scene(src), 2, 3, 10, 12).meta.gcps[0][:2] == (-2, -3)
    # ENVI: 'geo points' (latitude/longitude at 1-based pixels), read back as GCPs by hsr and by GDAL
    from rasterio.warp import transform as warp

    res = runner.invoke(app, ["upscale", str(src), "-s", "2", "-m", "bicubic", "-o", str(tmp_path / "e.hdr"), "-q"])
    assert res.exit_code == 0 and "ground control points" not in res.stderr
    lon, lat = warp(CRS.from_epsg(UTM_EPSG), CRS.from_epsg(4326), [p.x for p in points], [p.y for p in points])
    back = open_scene(tmp_path / "e.hdr").meta
    assert CRS.from_wkt(back.crs).to_epsg() == 4326 and back.transform is None
    assert [p[:2] for p in back.gcps] == [(2 * p.row, 2 * p.col) for p in points]
    np.testing.assert_allclose([p[2:4] for p in back.gcps], np.column_stack([lon, lat]), rtol=0, atol=1e-9)
    with rasterio.open(tmp_path / "e.img") as ds:
        assert [(p.row, p.col) for p in ds.gcps[0]] == [(2 * p.row, 2 * p.col) for p in points]
    nocrs = tmp_path / "nocrs.tif"  # points without a CRS cannot become latitudes: not written, and said so
    with rasterio.open(nocrs, "w", driver="GTiff", height=10, width=12, count=3, dtype="float32") as dst:
        dst.write(make_cube(10, 12, 3, "float32").transpose(2, 0, 1))
        dst.gcps = (points, CRS())
    res = runner.invoke(app, ["upscale", str(nocrs), "-s", "2", "-m", "bicubic", "-o", str(tmp_path / "n.hdr"), "-q"])
    assert res.exit_code == 0 and "4 ground control points have no CRS" in res.stderr
    assert open_scene(tmp_path / "n.hdr").meta.gcps is None
    # and again ×2, from ENVI to ENVI and to GeoTIFF: the pixel positions scale, the coordinates stay
    _up(runner, tmp_path / "e.hdr", "-s", "2", "-m", "bicubic", "-o", tmp_path / "e4.hdr")
    _up(runner, tmp_path / "e.hdr", "-s", "2", "-m", "bicubic", "-o", tmp_path / "e4.tif")
    for name in ("e4.hdr", "e4.tif"):
        m4 = open_scene(tmp_path / name).meta
        assert [p[:2] for p in m4.gcps] == [(4 * p.row, 4 * p.col) for p in points]
        np.testing.assert_allclose([p[2:4] for p in m4.gcps], np.column_stack([lon, lat]), rtol=0, atol=1e-9)
        assert CRS.from_wkt(m4.crs).to_epsg() == 4326


@pytest.mark.parametrize("fmt", ["envi", "gtiff", "cog"])
def test_rpcs_are_carried_so_that_every_ground_point_lands_at_scale_times_its_pixel(runner, tmp_path, fmt):
    """An unrectified scene's RPCs reach every output format rescaled: GDAL's RPC transformer puts a
    ground point at s × its LR pixel coordinates (corner-based) in the output, from either input format."""
    from rasterio.rpc import RPC
    from rasterio.transform import RPCTransformer

    src = tmp_path / "rpc.tif"
    unit = [1.0, 0.01] + [0.0] * 18
    rpc = RPC(height_off=100, height_scale=500, lat_off=40, lat_scale=0.1, long_off=15, long_scale=0.1,
              line_off=5, line_scale=5, samp_off=6, samp_scale=6, line_den_coeff=unit, samp_den_coeff=unit,
              line_num_coeff=[0, 0.02, -1.0, 0.001] + [0.0] * 16, samp_num_coeff=[0, 1.0, 0.03] + [0.0] * 17)
    with rasterio.open(src, "w", driver="GTiff", height=10, width=12, count=3, dtype="float32") as dst:
        dst.write(make_cube(10, 12, 3, "float32").transpose(2, 0, 1))
        dst.rpcs = rpc
    assert json.loads(runner.invoke(app, ["info", str(src), "--json"]).stdout)["rpcs"]["line_off"] == 5
    assert "RPCs" in runner.invoke(app, ["info", str(src)]).stdout
    envi_in = tmp_path / "rpc.hdr"
    copy_scene(open_scene(src), envi_in)  # the same scene as an ENVI input
    assert "rpc info" in envi_in.read_text()
    ground = [(15.03, 39.98, 120.0), (14.95, 40.04, 60.0)]
    with RPCTransformer(rpc) as lr:
        expected = [[3 * v for v in lr.rowcol(x, y, z, op=lambda v: v)] for x, y, z in ground]
    for i, scene in enumerate((src, envi_in)):
        out = tmp_path / (f"o{i}.hdr" if fmt == "envi" else f"o{i}.tif")
        _up(runner, scene, "-s", "3", "-m", "bicubic", "-o", out, "--format", fmt)
        got = open_scene(out).meta.rpcs
        assert got["samp_scale"] == 18 and got["line_off"] == 16
        with RPCTransformer(RPC(**got)) as hr:
            np.testing.assert_allclose([hr.rowcol(x, y, z, op=lambda v: v) for x, y, z in ground], expected,
                                       rtol=0, atol=1e-9)
