"""``-m`` values (``hsrcli/infer/resolve.py``): checkpoints, bundled names and composites ``A+B``, ``X,Y``."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from rasters import write_raw_envi

from hsrcli.cli import app
from hsrcli.errors import HsrInputError
from hsrcli.infer.resolve import is_composite, resolve_model
from hsrcli.io import open_scene
from hsrcli.models.compose import Average, Cascade
from hsrcli.weights import WEIGHTS_DIR, ModelCard, bundled


def test_a_cascade_of_bundled_models_multiplies_their_scales_and_radii():
    r = resolve_model("lkca-g_x2+lkca-g_x2", 12, 4)
    one = resolve_model("lkca-g_x2", 12, 2)
    assert isinstance(r.model, Cascade) and r.scale == 4 and r.bands is None and len(r.parts) == 2
    assert r.label == "lkca-g_x2+lkca-g_x2" and r.checkpoint is None and r.normalised
    e = one.effective_radius
    assert e is not None and r.effective_radius == e + -(-e // 2)
    assert r.normalization == one.normalization
    # the cascade crops its intermediate by the measured radii, by the theoretical ones when exact
    assert r.model.halos == (e, e) and resolve_model("lkca-g_x2+lkca-g_x2", 12, 4, exact=True).model.halos == (
        one.model.receptive_radius,) * 2


def test_an_average_of_a_model_and_a_cascade():
    r = resolve_model("lkca-g_x4, lkca-g_x2+lkca-g_x2", 8, 4)
    assert isinstance(r.model, Average) and r.scale == 4 and [p.label for p in r.parts] == [
        "lkca-g_x4", "lkca-g_x2+lkca-g_x2"]
    assert r.effective_radius == max(p.effective_radius for p in r.parts)


@pytest.mark.parametrize("spec,scale,least", [("lkca-g_x4", 4, 1), ("coarsr_x4", 4, 5), ("bicubic", 4, 1),
                                              ("lkca-g_x4,coarsr_x2+lkca-g_x2", 4, 5)])
def test_min_bands_is_the_most_demanding_part_s(spec, scale, least):
    assert resolve_model(spec, 8, scale).min_bands == least


@pytest.mark.parametrize("spec,scale,msg", [
    ("lkca-g_x2+lkca-g_x4", 4, "upscales x8, not x4"),
    ("lkca-g_x4,lkca-g_x2", 4, "lkca-g_x2 upscales x2, not x4"),
    ("bicubic+lkca-g_x4", 8, "bicubic cannot be a stage"),
    ("lkca-g_x2+nope", 4, "unknown model 'nope'"),
    ("lkca_x4+lkca-g_x2", 8, "differently normalised"),
])
def test_composites_that_cannot_work_are_refused(spec, scale, msg):
    with pytest.raises(HsrInputError, match=msg):
        resolve_model(spec, 31, scale)


def test_an_existing_file_with_a_plus_in_its_name_is_one_checkpoint(tmp_path):
    path = tmp_path / "a+b.pt"
    shutil.copy(WEIGHTS_DIR / "lkca-g_x2.pt", path)
    assert not is_composite(str(path)) and is_composite("lkca-g_x2+lkca-g_x2")
    assert resolve_model(str(path), 8, 2).parts == ()


def test_bundled_composite_cards_name_a_composite_of_bundled_weights_of_their_scale():
    cards = [c for c in bundled() if c.composite]
    assert cards, "the x8 cascade card is shipped"
    for c in cards:
        assert c.file is None and c.name == c.composite
        r = resolve_model(c.name, 31, c.scale)
        assert r.scale == c.scale and r.parts and all(p.checkpoint is not None for p in r.parts)
    with pytest.raises(HsrInputError, match="must equal the card's name"):
        ModelCard.from_dict({"name": "x", "model": "cascade", "scale": 8, "composite": "lkca-g_x2+lkca-g_x4"})


def test_upscale_with_a_cascade_tiles_exactly_and_says_what_ran(runner, tmp_path):
    g = np.random.default_rng(3)
    cube = (g.random((200, 30, 3)) @ (0.2 + g.random((3, 6))) + 0.02 * g.random((200, 30, 6))).astype(np.float32)
    src = write_raw_envi(tmp_path, cube, name="in")

    def run(out, *args, exact=True):
        res = runner.invoke(app, ["upscale", str(src), "-s", "4", "-m", "lkca-g_x2+lkca-g_x2", "-o",
                                  str(tmp_path / out), "-q", "--device", "cpu", "--json", *args]
                            + (["--exact"] if exact else []))
        assert res.exit_code == 0, res.output
        return json.loads(res.stdout[res.stdout.index("{"):])

    one, tiled = run("one.hdr", "--tile", "1000"), run("tiled.hdr", "--tile", "30")  # --exact: tiles of 2·62 + 16
    # stage by stage (hsrcli/infer/staged.py), --tile in each stage's input pixels
    assert [s["tiles"] for s in one["stages"]] == [1, 1] and min(s["tiles"] for s in tiled["stages"]) > 1
    assert "lkca-g_x2+lkca-g_x2" in one["model"] and one["scale"] == 4
    a, b = open_scene(tmp_path / "one.hdr").read(), open_scene(tmp_path / "tiled.hdr").read()
    assert a.shape == (800, 120, 6)
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-5 * float(np.abs(a).max()))
    assert "lkca-g_x2+lkca-g_x2" in open_scene(tmp_path / "one.hdr").meta.history[-1]
    # by default: overlaps and the intermediate's crop from the measured effective radii
    lean = run("lean.hdr", "--tile", "40", exact=False)
    assert lean["overlap"] < tiled["overlap"] and lean["tiles"] > 1
    c = open_scene(tmp_path / "lean.hdr").read()
    assert np.abs(c - a).max() <= 1e-3 * float(a.max() - a.min())


def test_upscale_refuses_a_cascade_of_the_wrong_scale_with_exit_2(runner, tmp_path):
    src = write_raw_envi(tmp_path, np.ones((12, 12, 5), np.float32), name="in")
    before = sorted(p.name for p in tmp_path.iterdir())
    res = runner.invoke(app, ["upscale", str(src), "-s", "4", "-m", "lkca-g_x2+lkca-g_x4", "-o",
                              str(tmp_path / "o.hdr"), "--device", "cpu"])
    assert res.exit_code == 2 and "upscales x8, not x4" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before
