"""``hsr metrics`` on files: table, JSON contract, per-band CSV, errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import torch
from rasters import make_cube, wavelengths_nm, write_geotiff, write_raw_envi

from hsrcli.cli import app
from hsrcli.metrics import compute_metrics


def _pair(tmp_path):
    g = np.random.default_rng(0)
    ref = g.random((24, 20, 8)).astype(np.float32)
    sr = np.clip(ref + 0.03 * g.standard_normal(ref.shape), 0, 1).astype(np.float32)
    tags = [{"wavelength": str(w)} for w in wavelengths_nm(8)]
    return write_geotiff(tmp_path / "sr.tif", sr, band_tags=tags), write_geotiff(tmp_path / "ref.tif", ref,
                                                                                 band_tags=tags), sr, ref


def test_json_contract_and_values(runner, tmp_path):
    srp, refp, sr, ref = _pair(tmp_path)
    res = runner.invoke(app, ["metrics", str(srp), str(refp), "--scale", "4", "--json", "--data-range", "1", "-q"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    for k in ("psnr", "ssim", "sam", "ergas", "rmse", "cc", "data_range", "bands", "pixels", "psnr_global"):
        assert k in d
    m = compute_metrics(torch.from_numpy(sr.transpose(2, 0, 1)), torch.from_numpy(ref.transpose(2, 0, 1)), 1.0, 4)
    for k in ("psnr", "ssim", "sam", "ergas", "rmse", "cc"):
        assert abs(d[k] - m[k]) < 1e-6
    assert d["bands"] == 8 and d["pixels"] == 480


def test_reference_values_a_clipped_sr_cannot_reach_are_counted_and_warned_about(runner, tmp_path):
    """Negative reflectances in the reference (or values above --data-range) cost a clipped SR error it
    cannot avoid: the count is in --json and a warning names --no-clip; without clipping, neither."""
    ref = np.full((16, 16, 4), 0.5, np.float32)
    ref[:2, :3, 1] = -0.02
    ref[5, 5, 2] = 1.5
    refp, srp = write_geotiff(tmp_path / "ref.tif", ref), write_geotiff(tmp_path / "sr.tif", ref)
    res = runner.invoke(app, ["metrics", str(srp), str(refp), "--data-range", "1", "--json", "-q"])
    assert res.exit_code == 0 and json.loads(res.stdout)["ref_outside_clip"] == 7, res.output
    assert "7 reference values (0.68%) lie outside [0, 1]" in res.stderr and "--no-clip" in res.stderr
    res = runner.invoke(app, ["metrics", str(srp), str(refp), "--data-range", "1", "--json", "-q", "--no-clip"])
    d = json.loads(res.stdout)
    assert d["ref_outside_clip"] is None and d["psnr"] == 100 and not res.stderr
    res = runner.invoke(app, ["metrics", str(srp), str(srp), "--data-range", "2", "--json", "-q"])
    assert json.loads(res.stdout)["ref_outside_clip"] == 6 and "6 reference values" in res.stderr


def test_table_and_per_band_csv(runner, tmp_path):
    srp, refp, *_ = _pair(tmp_path)
    out = tmp_path / "bands.csv"
    res = runner.invoke(app, ["metrics", str(srp), str(refp), "--per-band", str(out), "--bands", "2-4", "-q"])
    assert res.exit_code == 0, res.output
    assert "PSNR (dB, mean of bands)" in res.stdout and "SAM (degrees)" in res.stdout
    assert "n/a (needs --scale)" in res.stdout
    rows = list(csv.DictReader(out.open()))
    assert [r["band"] for r in rows] == ["2", "3", "4"]
    assert float(rows[0]["wavelength_nm"]) == wavelengths_nm(8)[1]
    res = runner.invoke(app, ["metrics", str(srp), str(refp), "--per-band", str(out)])
    assert res.exit_code == 2 and "--overwrite" in res.stderr
    kept = refp.read_bytes()
    res = runner.invoke(app, ["metrics", str(srp), str(refp), "--per-band", str(refp), "--overwrite"])
    assert res.exit_code == 2 and "is also an input" in res.stderr and refp.read_bytes() == kept


def test_shape_mismatch_and_bad_options(runner, tmp_path):
    srp, refp, *_ = _pair(tmp_path)
    other = write_raw_envi(tmp_path, make_cube(24, 20, 5))
    cases = [
        ([str(srp), str(other)], "shape mismatch: SR is 24 x 20 x 8, reference is 24 x 20 x 5"),
        ([str(srp), str(refp), "--border", "12"], "--border 12 leaves no pixel"),
        ([str(srp), str(refp), "--bands", "0-3"], "outside 1-8"),
        ([str(srp), str(refp), "--bands", "x"], "bad band selection"),
        ([str(srp), str(refp), "--data-range", "0"], "data range must be positive"),
        ([str(srp), str(tmp_path / "nope.tif")], "no such file"),
    ]
    for args, msg in cases:
        res = runner.invoke(app, ["metrics", *args])
        assert res.exit_code == 2, (args, res.output)
        assert msg in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_nodata_pixels_are_left_out_of_every_metric_and_of_the_data_range(runner, tmp_path):
    g = np.random.default_rng(1)
    ref = (g.random((40, 36, 6)) * 1000).astype(np.uint16)
    sr = np.clip(ref + g.normal(0, 20, ref.shape), 0, 1000).astype(np.uint16)
    hole = (slice(5, 15), slice(0, 12))
    ref[hole] = 65535  # nodata: must not become the data range nor enter any metric
    results = []
    for k, junk in enumerate([0, 777]):
        s = sr.copy()
        s[hole] = junk  # whatever the SR holds where the reference has no data
        srp = write_geotiff(tmp_path / f"sr{k}.tif", s, nodata=65535)
        refp = write_geotiff(tmp_path / "ref.tif", ref, nodata=65535)
        res = runner.invoke(app, ["metrics", str(srp), str(refp), "--json", "-q"])
        assert res.exit_code == 0, res.output
        results.append(json.loads(res.stdout))
    a, b = results
    for key in ("psnr", "ssim", "sam", "rmse", "cc", "pixels", "masked_pixels"):
        assert a[key] == b[key], key
    valid = np.ones(ref.shape[:2], bool)
    valid[hole] = False
    assert a["masked_pixels"] == 120 and a["pixels"] == valid.sum()
    assert a["data_range"] == ref[valid].max() < 65535
    x, y = np.clip(sr[valid], 0, a["data_range"]).astype(np.float64), ref[valid].astype(np.float64)  # SR clipped
    psnr_b = 10 * np.log10(a["data_range"] ** 2 / ((x - y) ** 2).mean(axis=0))
    assert abs(a["psnr"] - psnr_b.mean()) < 1e-9


def test_all_pixels_nodata_is_a_clear_error(runner, tmp_path):
    cube = np.full((16, 16, 3), -1.0, np.float32)
    p = write_geotiff(tmp_path / "a.tif", cube, nodata=-1.0)
    res = runner.invoke(app, ["metrics", str(p), str(p), "--data-range", "1", "-q"])
    assert res.exit_code == 2 and "no valid pixel" in res.stderr
    # without --data-range, from the reference's maximum: there is none
    res = runner.invoke(app, ["metrics", str(p), str(p), "-q"])
    assert res.exit_code == 2 and "the reference has no valid value" in res.stderr, res.output
    q = write_geotiff(tmp_path / "neg.tif", cube)  # valid, but no positive maximum
    res = runner.invoke(app, ["metrics", str(q), str(q), "-q"])
    assert res.exit_code == 2 and "got -1 (the reference's maximum: give --data-range)" in res.stderr, res.output


def test_an_sr_of_some_bands_is_matched_to_the_reference_by_wavelength(runner, tmp_path):
    """``hsr upscale --bands`` writes some of the scene's bands: the reference's bands at their wavelengths
    are the ones compared; without wavelengths, or at a wavelength the reference lacks, exit 2."""
    srp, refp, sr, ref = _pair(tmp_path)
    pick = [6, 1, 2]
    tags = [{"wavelength": str(w)} for w in wavelengths_nm(8)[pick]]
    part = write_geotiff(tmp_path / "part.tif", sr[..., pick], band_tags=tags)
    res = runner.invoke(app, ["metrics", str(part), str(refp), "--json", "--data-range", "1", "-q"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    m = compute_metrics(torch.from_numpy(sr[..., pick].transpose(2, 0, 1)),
                        torch.from_numpy(ref[..., pick].transpose(2, 0, 1)), 1.0)
    assert d["ref_bands"] == pick and d["bands"] == 3 and abs(d["psnr"] - m["psnr"]) < 1e-6
    table = runner.invoke(app, ["metrics", str(part), str(refp), "-q"])
    assert "the SR's 3 bands matched to the reference's by wavelength" in table.stdout
    same = json.loads(runner.invoke(app, ["metrics", str(srp), str(refp), "--json", "-q"]).stdout)
    assert same["ref_bands"] is None
    shifted = write_geotiff(tmp_path / "shifted.tif", sr[..., pick],
                            band_tags=[{"wavelength": str(w + 5)} for w in wavelengths_nm(8)[pick]])
    bare = write_geotiff(tmp_path / "bare.tif", sr[..., pick])
    for path, msg in ((shifted, "no band at 630 nm"), (bare, "without wavelengths on both")):
        bad = runner.invoke(app, ["metrics", str(path), str(refp), "-q"])
        assert bad.exit_code == 2 and msg in bad.stderr, bad.output
