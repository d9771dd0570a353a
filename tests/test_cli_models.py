"""``hsr models``, ``hsr analyze-rank`` and the checkpoint format."""

from __future__ import annotations

import json

import matplotlib.image
import pytest
import torch

from hsrcli.checkpoint import (
    check_compatible,
    load_model,
    make_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from hsrcli.cli import app
from hsrcli.io import HsrInputError
from hsrcli.models import build


def test_models_json_shows_upsampler_share_and_lowrank_reduction(runner):
    res = runner.invoke(app, ["models", "--bands", "128", "--scale", "4", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    rows = {r["name"]: r for r in d["models"]}
    assert rows["lkca"]["upsampler_params"] == 64 * 128 * 16 * 9 + 128 * 16
    assert rows["lkca"]["upsampler_share"] > 0.75  # the paper's claim: the upsampler dominates
    assert rows["lkca-lr"]["upsampler_reduction_vs_lkca"] > 4
    assert rows["coarsr"]["params"] == pytest.approx(2.388e6, abs=1e3)
    assert all(r["flops_per_lr_pixel"] > 0 for r in rows.values() if r["name"] != "bicubic")
    table = runner.invoke(app, ["models", "-b", "128", "-s", "4"]).stdout
    assert "lkca-lr upsampler is" in table and "79%" in table


def test_models_marks_unsupported_combinations(runner):
    d = json.loads(runner.invoke(app, ["models", "--bands", "4", "--scale", "4", "--json"]).stdout)
    coarsr = next(r for r in d["models"] if r["name"] == "coarsr")
    assert not coarsr["supported"] and "5 bands" in coarsr["reason"]


def _ckpt(tmp_path, name="lkca", bands=16, scale=2, **kw):
    torch.manual_seed(0)
    model = build(name, bands, scale, **kw)
    path = save_checkpoint(make_checkpoint(model, name, bands, scale, kw, {"normalization": {"kind": "max"}}),
                           tmp_path / f"{name}.pt")
    return model, path


def test_checkpoint_round_trip_with_weights_only(tmp_path):
    model, path = _ckpt(tmp_path, channels=12, blocks=1)
    raw = torch.load(path, weights_only=True)
    assert raw["model"] == {"name": "lkca", "bands": 16, "scale": 2, "kwargs": {"channels": 12, "blocks": 1}}
    back, ckpt = load_model(path)
    x = torch.rand(1, 16, 5, 5)
    with torch.no_grad():
        assert torch.equal(back.eval()(x), model.eval()(x))
    assert ckpt.normalization == {"kind": "max"} and "torch_version" in ckpt.meta
    assert ckpt.model.name == "lkca" and ckpt.model.kwargs == {"channels": 12, "blocks": 1}


def test_checkpoint_errors_and_compatibility(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(HsrInputError, match="not a readable checkpoint"):
        read_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(HsrInputError, match="not an hsrcli checkpoint"):
        read_checkpoint(tmp_path / "other.pt")
    _, path = _ckpt(tmp_path, channels=12, blocks=1)
    ckpt = read_checkpoint(path)
    with pytest.raises(HsrInputError, match="expects 16 bands but the input has 224.*lkca-g.*hsr train"):
        check_compatible(ckpt, 224, 2)
    with pytest.raises(HsrInputError, match="trained for x2, not x4"):
        check_compatible(ckpt, 16, 4)
    _, gpath = _ckpt(tmp_path, "lkca-g", channels=12, blocks=1)
    check_compatible(read_checkpoint(gpath), 224, 2)  # band-agnostic: any band count


def test_analyze_rank_on_lkca_and_lkca_lr(runner, tmp_path):
    _, path = _ckpt(tmp_path, bands=16, scale=2, channels=12, blocks=1)
    out = tmp_path / "rank.png"
    res = runner.invoke(app, ["analyze-rank", str(path), "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["full"]["shape"] == [64, 108] and d["full"]["n"] == 64
    assert 1 <= d["full"]["r90"] <= d["full"]["r95"] <= d["full"]["r99"] <= 64
    assert len(d["phases"]) == 4 and d["phases"][0]["n"] == 16
    assert matplotlib.image.imread(out).shape[1] > 500
    _, lpath = _ckpt(tmp_path, "lkca-lr", bands=16, scale=2, channels=12, blocks=1, lr_rank=3)
    d = json.loads(runner.invoke(app, ["analyze-rank", str(lpath), "-o", str(tmp_path / "r2.png"),
                                       "--json", "--energy", "sv2"]).stdout)
    assert all(p["r99"] <= 3 for p in d["phases"])  # rank-3 groups have at most 3 singular values


def test_analyze_rank_refuses_models_without_upsampler(runner, tmp_path):
    _, path = _ckpt(tmp_path, "coarsr", bands=8, scale=2, feats=8)
    res = runner.invoke(app, ["analyze-rank", str(path), "-o", str(tmp_path / "r.png")])
    assert res.exit_code == 2 and "no learnable LKCA upsampler" in res.stderr
    assert not (tmp_path / "r.png").exists()
