"""Every option with a fixed set of values (or a checked form) refuses a bad value with exit 2,
naming the value, before any file or folder is created."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from hsrcli.cli import app

T = "{tmp}"
TRAIN = ["train", f"{T}/ds", "-m", "lkca", "-o", f"{T}/run"]
UPSCALE = ["upscale", f"{T}/in.tif", "-s", "4", "-o", f"{T}/out.tif"]
PREPARE = ["prepare", f"{T}/in.tif", "-o", f"{T}/ds", "-s", "4"]

CASES = {
    "train --schedule": [*TRAIN, "--schedule", "bogus"],
    "train --loss": [*TRAIN, "--loss", "bogus"],
    "train --kd-decay": [*TRAIN, "--kd-decay", "bogus"],
    "train --coarsr-step": [*TRAIN, "--coarsr-step", "bogus"],
    "train --amp": [*TRAIN, "--amp", "bogus"],
    "train --device": [*TRAIN, "--device", "bogus"],
    "train -m": ["train", f"{T}/ds", "-m", "bogus", "-o", f"{T}/run"],
    "train -m bicubic": ["train", f"{T}/ds", "-m", "bicubic", "-o", f"{T}/run"],
    "evaluate --split": ["evaluate", f"{T}/ds", "-m", "bicubic", "--split", "bogus", "--csv", f"{T}/e.csv"],
    "evaluate --device": ["evaluate", f"{T}/ds", "-m", "bicubic", "--device", "bogus", "--csv", f"{T}/e.csv"],
    "analyze-rank --energy": ["analyze-rank", f"{T}/m.pt", "--energy", "bogus", "-o", f"{T}/r.png"],
    "analyze-rank -o": ["analyze-rank", f"{T}/m.pt", "-o", f"{T}/bogus.jpg"],
    "plot-training -o": ["plot-training", f"{T}/run", "-o", f"{T}/bogus.jpg"],
    "plot-spectra -o": ["plot-spectra", f"{T}/in.tif", "-p", "1,1", "-o", f"{T}/bogus.jpg"],
    "compare -o": ["compare", f"{T}/in.tif", f"{T}/in.tif", "-o", f"{T}/bogus.jpg"],
    "prepare --degrade": [*PREPARE, "--degrade", "bogus"],
    "prepare --bicubic": [*PREPARE, "--bicubic", "bogus"],
    "prepare --sampling": [*PREPARE, "--sampling", "bogus"],
    "prepare --layout": [*PREPARE, "--layout", "bogus"],
    "prepare -s": ["prepare", f"{T}/in.tif", "-o", f"{T}/ds", "-s", "5"],
    "upscale --format": [*UPSCALE, "--format", "bogus"],
    "upscale --amp": [*UPSCALE, "--amp", "bogus"],
    "upscale --dtype": [*UPSCALE, "--dtype", "bogus"],
    "upscale --device": [*UPSCALE, "--device", "bogus"],
    "upscale --subspace": [*UPSCALE, "--subspace", "bogus"],
    "upscale --overlap": [*UPSCALE, "--overlap", "-2"],
    "upscale --ensemble": [*UPSCALE, "--ensemble", "3"],
    "upscale --consistency": [*UPSCALE, "--consistency", "-1"],
    "upscale --tile": [*UPSCALE, "--tile", "0"],
    "upscale --layout": [*UPSCALE, "--layout", "bogus"],
    "upscale -s": ["upscale", f"{T}/in.tif", "-s", "5", "-o", f"{T}/out.tif"],
    "info --layout": ["info", f"{T}/in.tif", "--layout", "bogus"],
    "metrics --layout": ["metrics", f"{T}/in.tif", f"{T}/in.tif", "--layout", "bogus"],
}


@pytest.mark.parametrize("case", CASES)
def test_a_bad_choice_exits_2_before_anything_is_created(tmp_path, case):
    args = CASES[case]
    option = case.split()[1]  # the case names the option whose value is bad
    (tmp_path / "in.tif").write_bytes(b"not read: the option is refused first")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    res = CliRunner().invoke(app, [a.format(tmp=tmp_path) for a in args])
    assert res.exit_code == 2, res.output
    bad = args[len(args) - 1 - args[::-1].index(option) + 1]
    assert bad.rsplit("/", 1)[-1] in res.stderr
    assert "Traceback" not in res.stderr
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_choices_are_listed_in_help():
    res = CliRunner().invoke(app, ["train", "--help"])
    assert "step|cosine|coarsr-code|constant" in res.output
    res = CliRunner().invoke(app, ["upscale", "--help"])
    assert "float32|float64|input|uint8|uint16|int16|int32" in res.output
