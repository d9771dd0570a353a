"""``hsr info``: JSON contract, human output, streamed stats and one-line errors (exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io
from rasters import SAMPLE_HDR, make_cube, wavelengths_nm, write_geotiff, write_raw_envi

from hsrcli.cli import app


def _ok(runner, args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


def test_json_keys_for_georeferenced_geotiff(runner, tmp_path):
    src = write_geotiff(tmp_path / "g.tif", make_cube(16, 12, 8), nodata=-1,
                        band_tags=[{"wavelength": str(w)} for w in wavelengths_nm(8)])
    d = json.loads(_ok(runner, ["info", str(src), "--json"]).stdout)
    assert (d["rows"], d["cols"], d["bands"], d["dtype"], d["format"]) == (16, 12, 8, "int16", "gtiff")
    assert d["wavelengths"] == list(wavelengths_nm(8)) and d["nodata"] == -1
    assert "UTM zone 11N" in d["crs"] and d["crs_name"] == "EPSG:32611"
    assert d["transform"] == [500010.0, 30.0, 0.0, 4100020.0, 0.0, -30.0]


def test_human_output_and_streamed_stats(runner, tmp_path):
    cube = make_cube(20, 9, 3, "float32")
    cube[0, 0, 1] = np.nan
    hdr = write_raw_envi(tmp_path, cube, header={"data ignore value": cube[5, 5, 0]})
    out = _ok(runner, ["info", str(hdr)]).stdout
    assert "20 rows × 9 cols × 3 bands" in out and "float32" in out and "Wavelengths   unknown" in out
    d = json.loads(_ok(runner, ["info", str(hdr), "--stats", "--json", "--quiet"]).stdout)
    for b, s in enumerate(d["stats"]):
        band = cube[:, :, b].astype(np.float64)
        valid = band[np.isfinite(band) & (cube[:, :, b] != cube[5, 5, 0])]
        assert s["valid"] == valid.size
        assert s["min"] == valid.min() and s["max"] == valid.max()
        assert s["mean"] == pytest.approx(valid.mean(), rel=1e-12)
    table = _ok(runner, ["info", str(hdr), "--stats", "-q"]).stdout
    assert "wavelength" in table and len(table.strip().splitlines()) > 3
    assert "flat" not in table and "without data" not in table
    cube[:, :, 1] = 7.0  # and a NaN: one value where valid
    cube[0, 0, 1] = np.nan
    cube[:, :, 2] = np.nan
    table = _ok(runner, ["info", str(write_raw_envi(tmp_path, cube, name="odd")), "--stats", "-q"]).stdout
    assert table.strip().splitlines()[-1] == "1 flat (one value) and 1 without data of 3 bands"


def test_shipped_sample(runner):
    d = json.loads(_ok(runner, ["info", str(SAMPLE_HDR), "--json"]).stdout)
    assert (d["rows"], d["cols"], d["bands"], d["dtype"]) == (90, 90, 224, "int16")
    assert round(d["wavelengths"][0], 1) == 365.9 and round(d["wavelengths"][-1], 1) == 2496.2
    assert d["wavelength_units"] == "nm"


def _bad_inputs(tmp_path):
    cube = make_cube(4, 4, 2)
    cases = {}
    cases["missing file"] = ([str(tmp_path / "absent.hdr")], "no such file")
    d = tmp_path / "nodata"
    d.mkdir()
    hdr = write_raw_envi(d, cube)
    (d / "scene.img").unlink()
    cases["header without data"] = ([str(hdr)], "without its data file")
    d = tmp_path / "short"
    d.mkdir()
    hdr = write_raw_envi(d, cube)
    with open(d / "scene.img", "r+b") as f:
        f.truncate(10)
    cases["short data file"] = ([str(hdr)], "shorter than its header says")
    d = tmp_path / "dtype"
    d.mkdir()
    cases["unknown data type"] = ([str(write_raw_envi(d, cube, code=7))], "unknown or unsupported ENVI data type 7")
    d = tmp_path / "corrupt"
    d.mkdir()
    hdr = write_raw_envi(d, cube)
    hdr.write_text("ENVI\nsamples = 4\nlines = four\nbands = 2\ndata type = 2\n")
    cases["corrupt header"] = ([str(hdr)], "corrupt ENVI header")
    d = tmp_path / "notenvi"
    d.mkdir()
    hdr = write_raw_envi(d, cube)
    hdr.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    cases["not a header"] = ([str(hdr)], "corrupt ENVI header")
    scipy.io.savemat(tmp_path / "a.mat", {"img": cube})
    cases["wrong --var"] = ([str(tmp_path / "a.mat"), "--var", "cube"], "no variable 'cube'")
    folder = tmp_path / "x_ms"
    folder.mkdir()
    for b in (1, 2, 4):
        write_geotiff(folder / f"x_ms_{b:02d}.tif", make_cube(4, 4, 1, "uint16"), crs=None)
    cases["folder missing bands"] = ([str(folder)], "missing band file(s) x_ms_03")
    (tmp_path / "text.tif").write_text("this is not a tiff\n")
    cases["text file named .tif"] = ([str(tmp_path / "text.tif")], "not a readable raster")
    (tmp_path / "bad.mat").write_text("MATLAB? no.\n")
    cases["text file named .mat"] = ([str(tmp_path / "bad.mat")], "not a readable MATLAB file")
    cases["bad wavelengths option"] = ([str(tmp_path / "a.mat"), "--wavelengths", "400,abc"], "bad wavelength list")
    return cases


CASES = ["missing file", "header without data", "short data file", "unknown data type", "corrupt header",
         "not a header", "wrong --var", "folder missing bands", "text file named .tif", "text file named .mat",
         "bad wavelengths option"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_one_line_exit_2(runner, tmp_path, case):
    args, message = _bad_inputs(tmp_path)[case]
    result = runner.invoke(app, ["info", *args])
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("hsr: error: "), err
    assert message in err
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stdout == ""
