"""``hsr adapt`` (hsrcli.train.adapt, adapt_data) and ``hsr upscale --adapt``: checkpoints, early stopping,
nodata, resume, refusals, the cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rasters import write_geotiff

from hsrcli.checkpoint import read_checkpoint
from hsrcli.cli import app
from hsrcli.train.adapt_data import _valid_starts
from hsrcli.weights import WEIGHTS_DIR


def smooth_cube(rows: int = 36, cols: int = 30, bands: int = 10, seed: int = 0) -> np.ndarray:
    """A smooth, positive float32 scene (structures a model can learn, unlike white noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    spectra = 0.5 + rng.random((3, bands)).astype(np.float32)
    maps = [np.sin(yy / 3.1) * np.cos(xx / 4.3), np.cos((yy + xx) / 5.7), np.sin(xx / 2.3 + yy / 7.1)]
    cube = sum(m[:, :, None] * s[None, None, :] for m, s in zip(maps, spectra))
    return (cube + 3.0).astype(np.float32)


@pytest.fixture
def scene(tmp_path):
    return write_geotiff(tmp_path / "scene.tif", smooth_cube())


def _adapt(runner, scene, out, *extra):
    return runner.invoke(app, ["adapt", str(scene), "-s", "2", "-m", "lkca-g_x2", "-o", str(out), "--device", "cpu",
                               "-q", "--json", *extra])


def test_adapt_writes_a_checkpoint_that_upscale_takes(runner, scene, tmp_path):
    import json

    out = tmp_path / "adapted.pt"
    res = _adapt(runner, scene, out, "--steps", "6", "--seed", "3")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["steps"] == 6 and summary["val_psnr_adapted"] >= summary["val_psnr_base"]
    ckpt = read_checkpoint(out)
    base = read_checkpoint(WEIGHTS_DIR / "lkca-g_x2.pt")
    assert ckpt.model == base.model
    info = ckpt.meta["adapted"]
    assert info["base"] == "lkca-g_x2" and len(info["scenes"][0]["sha256"]) == 64 and info["config"]["steps"] == 6
    assert ckpt.normalization == base.normalization
    sr = tmp_path / "sr.tif"
    res = runner.invoke(app, ["upscale", str(scene), "-s", "2", "-m", str(out), "-o", str(sr), "--device", "cpu",
                              "-q"])
    assert res.exit_code == 0, res.output
    import rasterio

    with rasterio.open(sr) as ds:
        assert (ds.height, ds.width, ds.count) == (72, 60, 10)


def test_adapt_never_returns_weights_worse_than_the_base_on_its_validation_strip(runner, scene, tmp_path):
    """A learning rate that wrecks the model: no step beats the base on the held-back strip, so the
    base weights come back unchanged (and say so)."""
    import json

    from hsrcli.infer.resolve import resolve_model
    from hsrcli.io import open_scene
    from hsrcli.train.adapt import AdaptConfig, validation_psnr
    from hsrcli.train.adapt_data import load_scene

    out = tmp_path / "adapted.pt"
    res = _adapt(runner, scene, out, "--steps", "4", "--lr", "0.5")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["improved"] is False and summary["val_psnr_adapted"] == summary["val_psnr_base"]
    base = read_checkpoint(WEIGHTS_DIR / "lkca-g_x2.pt")
    kept = read_checkpoint(out)
    assert all(torch.equal(kept.state_dict[k], v) for k, v in base.state_dict.items())
    current = kept.state["adapt"]["current"]  # the wrecked weights are only in the resumable state
    assert not all(torch.equal(current[k], v) for k, v in base.state_dict.items())
    # the kept weights score what the summary says on the validation strip
    cfg = AdaptConfig("lkca-g_x2", 2, device="cpu")
    resolved = resolve_model(str(out), 10, 2)
    with open_scene(scene) as sc:
        data = load_scene(sc, resolved, cfg.crop, cfg.val_fraction)
    psnr = validation_psnr(resolved.model, [data], cfg, resolved.border, torch.device("cpu"))
    assert psnr == pytest.approx(summary["val_psnr_base"], abs=1e-6)


def test_resume_continues_and_refuses_other_settings(runner, scene, tmp_path):
    import json

    out = tmp_path / "adapted.pt"
    assert _adapt(runner, scene, out, "--steps", "3").exit_code == 0
    res = _adapt(runner, scene, out, "--steps", "5", "--resume")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["steps"] == 5
    res = _adapt(runner, scene, out, "--steps", "5", "--resume")
    assert res.exit_code == 2 and "raise --steps" in res.stderr
    res = _adapt(runner, scene, out, "--steps", "9", "--resume", "--crop", "16")
    assert res.exit_code == 2 and "same scenes and settings" in res.stderr
    res = _adapt(runner, scene, out, "--steps", "3")
    assert res.exit_code == 2 and "exists" in res.stderr


def test_resume_takes_the_saved_settings_without_repeating_them(runner, scene, tmp_path):
    """Only the scenes, -s and -o are repeated: --lr, --batch, --crop, --seed come from the checkpoint."""
    import json

    out = tmp_path / "adapted.pt"
    assert _adapt(runner, scene, out, "--steps", "2", "--lr", "3e-5", "--batch", "4", "--crop", "8",
                  "--seed", "7").exit_code == 0
    res = runner.invoke(app, ["adapt", str(scene), "-s", "2", "-o", str(out), "-q", "--json", "--resume",
                              "--steps", "4"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["steps"] == 4
    config = read_checkpoint(out).meta["adapted"]["config"]
    assert (config["base"], config["lr"], config["batch"], config["crop"], config["seed"], config["steps"]) == \
        ("lkca-g_x2", 3e-5, 4, 8, 7, 4)
    assert config["device"] == "auto"  # not the first run's cpu: the device is this machine's, default auto
    res = runner.invoke(app, ["adapt", str(scene), "-s", "2", "-o", str(tmp_path / "none.pt"), "--resume"])
    assert res.exit_code == 2 and "nothing to resume" in res.stderr


@pytest.mark.parametrize("args,msg", [
    (["-s", "4", "-m", "lkca-g_x4"], "too small to adapt"),
    (["-s", "2", "-m", "bicubic"], "one-pass trainable models"),
    (["-s", "4", "-m", "lkca-g_x2+lkca-g_x2"], "not a combination of models"),
    (["-s", "2", "-m", "lkca-g_x2", "--crop", "5"], "--crop must be a multiple"),
    (["-s", "2", "-m", "lkca-g_x2", "--degrade", "gaussian"], "needs --sigma"),
])
def test_refusals_exit_2_and_create_nothing(runner, tmp_path, args, msg):
    small = write_geotiff(tmp_path / "small.tif", smooth_cube(14, 20, 10))
    before = sorted(p.name for p in tmp_path.iterdir())
    res = runner.invoke(app, ["adapt", str(small), *args, "-o", str(tmp_path / "a.pt"), "--device", "cpu", "-q"])
    assert res.exit_code == 2 and msg in res.stderr, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_constant_scene_is_refused_exit_2(runner, tmp_path):
    const = write_geotiff(tmp_path / "const.tif", np.full((40, 40, 10), 300, np.int16))
    res = runner.invoke(app, ["adapt", str(const), "-s", "2", "-o", str(tmp_path / "a.pt"), "--device", "cpu", "-q"])
    assert res.exit_code == 2 and "every band holds one value" in res.stderr, res.output
    assert not (tmp_path / "a.pt").exists()


def test_crops_never_contain_nodata(tmp_path):
    invalid = np.zeros((20, 18), dtype=bool)
    invalid[7, 9] = True
    starts = _valid_starts(invalid, 6, (0, 20), (0, 12))
    assert len(starts) > 0
    for r, c in starts:
        assert not invalid[r:r + 6, c:c + 6].any() and c + 6 <= 12 and r + 6 <= 20
    # every start that avoids the pixel is found
    want = {(r, c) for r in range(15) for c in range(7) if not invalid[r:r + 6, c:c + 6].any()}
    assert {tuple(map(int, s)) for s in starts} == want


def test_nodata_pixels_and_dead_bands_stay_out_of_training(tmp_path):
    from hsrcli.infer.resolve import resolve_model
    from hsrcli.io import open_scene
    from hsrcli.train.adapt_data import load_scene

    cube = smooth_cube(36, 30, 10)
    cube[2:5, 3:6, :] = -9999.0  # a nodata patch
    cube[:, :, 4] = -9999.0  # a dead band
    path = write_geotiff(tmp_path / "nd.tif", cube, nodata=-9999.0)
    with open_scene(path) as sc:
        data = load_scene(sc, resolve_model("lkca-g_x2", 10, 2), 12, 0.2)
    assert data.cube.shape == (9, 36, 30)  # the dead band left out (band-agnostic model)
    for r, c in data.starts:
        assert not (r < 5 and r + 12 > 2 and c < 6 and c + 12 > 3)
    assert (data.starts[:, 0] + 12 <= 36 - 12).all()  # rows are the long side: the strip is the bottom 12 rows
    assert all(r >= 24 for r, _ in data.val_tiles)


def test_upscale_adapt_caches_the_adapted_checkpoint(runner, scene, tmp_path, monkeypatch):
    monkeypatch.setenv("HSR_CACHE_DIR", str(tmp_path / "cache"))
    args = ["upscale", str(scene), "-s", "2", "-m", "lkca-g_x2", "--adapt", "--adapt-steps", "3", "--device", "cpu",
            "-q", "--overwrite", "-o", str(tmp_path / "sr.tif")]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    cached = list((tmp_path / "cache" / "adapted").glob("*.pt"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert cached[0].stat().st_mtime_ns == stamp  # reused, not adapted again
    assert "adapted" in read_checkpoint(cached[0]).meta


def test_upscale_adapt_with_bands_fits_the_selection_and_caches_it_apart(runner, scene, tmp_path, monkeypatch):
    """``--bands`` with ``--adapt``: the model is fitted to the selected bands (the adapted checkpoint names
    the scene, its validation scored on those bands), cached under a key of its own, and the output holds
    the selection."""
    monkeypatch.setenv("HSR_CACHE_DIR", str(tmp_path / "cache"))
    common = ["upscale", str(scene), "-s", "2", "-m", "lkca-g_x2", "--adapt", "--adapt-steps", "2", "--device", "cpu",
              "-q", "--overwrite"]
    for i, extra in enumerate((["--bands", "2-7"], ["--bands", "1-6"], [])):
        res = runner.invoke(app, [*common, "-o", str(tmp_path / f"sr{i}.tif"), *extra])
        assert res.exit_code == 0, res.output
    cached = list((tmp_path / "cache" / "adapted").glob("*.pt"))
    assert len(cached) == 3  # one per selection, and the whole scene's
    from hsrcli.io import open_scene
    from hsrcli.train.adapt import AdaptConfig, cache_path

    with open_scene(tmp_path / "sr0.tif") as sc:
        assert sc.meta.bands == 6 and sc.meta.rows == 72

    cfg = AdaptConfig("lkca-g_x2", 2, steps=2, device="cpu")
    assert cache_path([scene], cfg, {"bands": "2-7"}) != cache_path([scene], cfg, {"bands": "1-6"})
    assert cache_path([scene], cfg, {"bands": "2-7"}) == cache_path([scene], cfg, {"bands": "2,3,4,5,6,7"})
