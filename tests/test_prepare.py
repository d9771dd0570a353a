"""``hsr prepare``: splits without leakage, reproducible arrays, manifest, datasets, bad input."""

from __future__ import annotations

import csv
import hashlib
import json
import zlib

import numpy as np
import pytest
import torch
from rasters import make_cube, wavelengths_nm, write_geotiff, write_raw_envi

from hsrcli.cli import app
from hsrcli.data.dataset import ImageDataset, PatchDataset
from hsrcli.data.degrade import downsample
from hsrcli.data.split import Box


def _scene(tmp_path, name="scene", rows=96, cols=80, bands=6, nodata_block=False):
    g = np.random.default_rng(zlib.crc32(name.encode()))  # stable across runs (hash() is salted)
    base = np.linspace(0.2, 1, bands)[None, None, :] * g.random((rows, cols, 1))
    cube = (1000 * (base + 0.1 * g.random((rows, cols, bands)))).astype(np.float32)
    header = {"wavelength": list(wavelengths_nm(bands)), "wavelength units": "nm"}
    if nodata_block:
        cube[40:46, 30:40, :] = -9999
        header["data ignore value"] = -9999
    sub = tmp_path / name
    sub.mkdir()
    return write_raw_envi(sub, cube, name=name, header=header), cube


def _run(runner, args):
    res = runner.invoke(app, ["prepare", *map(str, args), "-q"])
    assert res.exit_code == 0, res.output
    return res


def _manifest(out):
    return json.loads((out / "manifest.json").read_text())


def _patches(out):
    return list(csv.DictReader((out / "train_patches.csv").open()))


def _assert_no_leak(out):
    """No training patch touches a test/val pixel or its guard band."""
    m = _manifest(out)
    p = m["patches"]["size_hr"]
    plans = {s["name"]: s for s in m["split"]["scenes"]}
    patches = _patches(out)
    assert patches
    for row in patches:
        plan = plans[row["scene"]]
        assert plan["role"] == "train"
        assert float(row["resize_factor"]) == 1.0
        r, c = int(row["row"]), int(row["col"])
        for b in plan["test"] + plan["val"]:
            g = Box(*b).grown(plan["guard"], plan["rows"], plan["cols"])
            overlap = r < g.r1 and g.r0 < r + p and c < g.c1 and g.c0 < c + p
            assert not overlap, (row, b)
    return m


@pytest.mark.parametrize("split_args", [
    ["--test-fraction", "0.25", "--val-fraction", "0.15", "--guard", "4"],
    ["--test-region", "30,20,62,60", "--val-fraction", "0.1", "--guard", "8"],
    ["--test-region", "0,0,32,32", "--test-region", "60,48,92,80", "--val-fraction", "0", "--guard", "0"],
])
def test_region_split_never_leaks(runner, tmp_path, split_args):
    hdr, _ = _scene(tmp_path)
    out = tmp_path / "ds"
    _run(runner, [hdr, "-o", out, "-s", "4", "--patch", "16", "--stride", "4", *split_args])
    m = _assert_no_leak(out)
    assert m["counts"]["test"] >= 1 and m["split"]["mode"] == "region"
    for img in m["images"]["test"] + m["images"]["val"]:
        h, w = img["shape_hr"][1:]
        assert h % 4 == 0 and w % 4 == 0


def test_scene_split_with_val_strips_and_nodata(runner, tmp_path):
    hdrs = [_scene(tmp_path, f"s{i}", nodata_block=(i == 1))[0] for i in range(4)]
    out = tmp_path / "ds"
    _run(runner, [*hdrs, "-o", out, "-s", "2", "--patch", "16", "--stride", "8", "--test-scenes", "1",
                  "--seed", "3", "--guard", "2"])
    m = _assert_no_leak(out)
    roles = [s["role"] for s in m["split"]["scenes"]]
    assert roles.count("test") == 1 and m["split"]["mode"] == "scene"
    hr = np.load(out / "train_hr.npy")
    assert np.isfinite(hr).all() and hr.min() > -1  # no nodata (-9999) in any patch
    # nodata block of s1 is outside every s1 patch
    for row in _patches(out):
        if row["scene"] == "s1" and m["split"]["scenes"][1]["role"] == "train":
            r, c = int(row["row"]), int(row["col"])
            assert not (r < 46 and 40 < r + 16 and c < 40 and 30 < c + 16)


def test_held_out_images_with_nodata_are_filled_for_the_lr_and_masked_in_their_metrics(runner, tmp_path):
    """A test image with nodata: its missing pixels get the image's band means before the degradation
    (no -9999 for the bicubic to spread into the LR) and a mask leaves them out of its metrics, as ``hsr
    metrics`` leaves nodata out."""
    from hsrcli.infer.resolve import resolve_model
    from hsrcli.train.evaluate import evaluate

    hdr, cube = _scene(tmp_path, "s", nodata_block=True)  # nodata in rows 40:46, cols 30:40
    out = tmp_path / "ds"
    _run(runner, [hdr, "-o", out, "-s", "2", "--patch", "16", "--test-region", "32,24,56,48", "--guard", "2",
                  "--normalize", "fixed:1000"])
    entry = _manifest(out)["images"]["test"][0]
    _, lr, hr, valid = ImageDataset(out, "test")[0]
    want = np.ones((24, 24), bool)
    want[8:14, 6:16] = False
    np.testing.assert_array_equal(valid, want)
    assert entry["invalid_pixels"] == 60 and entry["valid"] == "test/s_test0.valid.npy"
    ref = cube[32:56, 24:48].transpose(2, 0, 1) / 1000
    np.testing.assert_allclose(hr.numpy()[:, valid], ref[:, valid], rtol=1e-6)
    np.testing.assert_allclose(hr.numpy()[:, ~valid], np.broadcast_to(ref[:, valid].mean(1)[:, None], (6, 60)),
                               rtol=1e-6)
    assert lr.min() > 0  # the stored -9999 / 1000 would undershoot far below 0
    # hsr evaluate scores the valid pixels only: per-band PSNR by hand
    sr = resolve_model("bicubic", 6, 2).model(lr[None].double())[0].clamp(0, 1).numpy()
    mse = ((sr - hr.numpy())[:, valid] ** 2).mean(axis=1)
    row, = evaluate(str(out), ["bicubic"])
    assert row["psnr"] == pytest.approx(float(np.mean(10 * np.log10(1 / mse))), rel=1e-7)


def test_same_inputs_give_byte_identical_arrays(runner, tmp_path):
    hdr, _ = _scene(tmp_path)
    digests = []
    out = tmp_path / "ds"
    for again in ([], ["--overwrite"]):  # the second run replaces the first's data set
        if again:
            (out / "stale.txt").touch()
        _run(runner, [hdr, "-o", out, "-s", "4", "--patch", "16", "--test-fraction", "0.2", "--noise", "snr:30",
                      "--sigma", "0,0.8", "--seed", "5", *again])
        files = sorted(p for p in out.rglob("*.npy"))
        digests.append({p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files})
    assert digests[0] == digests[1] and len(digests[0]) >= 4 and not (out / "stale.txt").exists()


def test_manifest_records_sources_parameters_and_normalisation(runner, tmp_path):
    hdr, _ = _scene(tmp_path)
    out = tmp_path / "ds"
    _run(runner, [hdr, "-o", out, "-s", "4", "--patch", "16", "--test-fraction", "0.2", "--normalize",
                  "percentile:99", "--bands", "2-5"])
    m = _manifest(out)
    src = m["sources"][0]
    assert src["sha256"] == hashlib.sha256(
        f"{hdr.name}\0{hashlib.sha256(hdr.read_bytes()).hexdigest()}\n".encode()
        + f"scene.img\0{hashlib.sha256((hdr.parent / 'scene.img').read_bytes()).hexdigest()}\n".encode()
    ).hexdigest()
    assert m["bands"]["indices"] == [1, 2, 3, 4] and m["bands"]["wavelengths_nm"] == list(wavelengths_nm(6)[1:5])
    assert m["normalization"]["kind"] == "percentile" and len(m["normalization"]["divisor"]) == 4
    assert m["degradation"]["kernel"] == "bicubic" and "matlab" in m["degradation"]["bicubic"]
    assert m["parameters"]["scale"] == 4 and m["parameters"]["seed"] == 0
    assert m["counts"]["train"] == len(_patches(out)) == np.load(out / "train_hr.npy", mmap_mode="r").shape[0]


def test_datasets_and_stored_pairs_are_consistent(runner, tmp_path):
    hdr, cube = _scene(tmp_path)
    out = tmp_path / "ds"
    _run(runner, [hdr, "-o", out, "-s", "4", "--patch", "16", "--test-fraction", "0.2", "--normalize",
                  "fixed:1000"])
    ds = PatchDataset(out, augment=False)
    lr, hr = ds[3]
    assert lr.shape == (6, 4, 4) and hr.shape == (6, 16, 16) and lr.dtype == torch.float32
    row = _patches(out)[3]
    r, c = int(row["row"]), int(row["col"])
    np.testing.assert_allclose(hr.numpy(), cube[r:r + 16, c:c + 16].transpose(2, 0, 1) / 1000, rtol=1e-6)
    np.testing.assert_allclose(lr.numpy(), downsample(hr.double(), 4).numpy(), atol=1e-6)
    aug = PatchDataset(out, augment=True)
    torch.manual_seed(0)
    for i in range(8):  # augmentation keeps LR and HR consistent
        alr, ahr = aug[i]
        assert torch.allclose(alr.double(), downsample(ahr.double(), 4), atol=1e-5)
    name, tlr, thr, valid = ImageDataset(out, "test")[0]
    assert thr.shape[1] == 4 * tlr.shape[1] and name.startswith("scene_test") and valid is None


def test_multiscale_random_patches(runner, tmp_path):
    hdr, _ = _scene(tmp_path, rows=128, cols=128)
    out = tmp_path / "ds"
    _run(runner, [hdr, "-o", out, "-s", "2", "--patch", "16", "--test-fraction", "0.25", "--scales", "1,0.75,0.5",
                  "--sampling", "random", "--patches-per-image", "5"])
    rows = _patches(out)
    assert sorted({float(r["resize_factor"]) for r in rows}) == [0.5, 0.75, 1.0] and len(rows) == 15
    assert np.isfinite(np.load(out / "train_lr.npy")).all()


@pytest.mark.parametrize("case,msg", [
    ("small", "smaller than one 64 x 64 patch"),
    ("patch", "--patch 30 is not a multiple of the scale 4"),
    ("bands", "different band counts"),
    ("unreadable", "not a readable raster"),
    ("nosplit", "no test split"),
    ("exists", "output exists"),
    ("not a data set", "ds: is not a data set of 'hsr prepare' (no manifest.json)"),
    ("holds the input", "holds the input"),
])
def test_bad_input_exit_2_and_nothing_written(runner, tmp_path, case, msg):
    hdr, _ = _scene(tmp_path)
    out = tmp_path / "ds"
    args = [hdr, "-o", out, "-s", "4", "--test-fraction", "0.2"]
    if case == "small":
        small = write_geotiff(tmp_path / "small.tif", make_cube(40, 40, 6, "float32"))
        args = [small, "-o", out, "-s", "4", "--test-fraction", "0.2"]
    elif case == "patch":
        args += ["--patch", "30"]
    elif case == "bands":
        other = write_geotiff(tmp_path / "o.tif", make_cube(96, 80, 5, "float32"))
        args = [hdr, other, "-o", out, "-s", "4", "--test-fraction", "0.2", "--patch", "16"]
    elif case == "unreadable":
        (tmp_path / "bad.tif").write_text("not a tiff")
        args = [tmp_path / "bad.tif", "-o", out, "-s", "4", "--test-fraction", "0.2"]
    elif case == "nosplit":
        args = [hdr, "-o", out, "-s", "4"]
    elif case in ("exists", "not a data set"):  # --overwrite deletes only a data set
        out.mkdir()
        (out / "keep.txt").write_text("mine")
        args += ["--overwrite"] if case == "not a data set" else []
    elif case == "holds the input":  # ... and never one that holds an input
        out.mkdir()
        (out / "manifest.json").write_text("{}")
        inner, _ = _scene(out)
        args = [inner, "-o", out, "-s", "4", "--test-fraction", "0.2", "--overwrite"]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    res = runner.invoke(app, ["prepare", *map(str, args)])
    assert res.exit_code == 2, res.output
    assert msg in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing new or lost


def test_crop_before_split(runner, tmp_path):
    hdr, cube = _scene(tmp_path, rows=96, cols=80)
    out = tmp_path / "ds"
    _run(runner, [hdr, "-o", out, "-s", "4", "--patch", "16", "--crop", "8,4,72,68", "--test-fraction", "0.25", "--guard", "2",
                  "--normalize", "fixed:1000"])
    m = _manifest(out)
    assert m["split"]["scenes"][0]["rows"] == 64 and m["sources"][0]["crop"] == "8,4,72,68"
    _, _, hr, _ = ImageDataset(out, "test")[0]
    np.testing.assert_allclose(hr.numpy(), cube[8:24, 4:68].transpose(2, 0, 1) / 1000, rtol=1e-6)
