"""The benchmark scripts still run (tiny sizes): their figures are what the README reports."""

from __future__ import annotations

import subprocess
import sys

import pytest
from rasters import ROOT


@pytest.mark.slow
@pytest.mark.parametrize("args,expect", [
    (["upscale_speed.py", "--size", "48", "--bands", "8", "--tiles", "32", "--runs", "2"], "end to end / bare forward"),
    (["upscale_speed.py", "--size", "48", "--bands", "8", "--tiles", "32", "--runs", "1", "--format", "cog"],
     "output cog"),
    (["upscale_memory.py", "--bands", "4", "--sizes", "32", "48"], "PASS"),
    (["upscale_ranks.py", "--scenes", "2", "--size", "24", "--bands", "6", "--model", "bicubic"], "speed-up"),
])
def test_benchmark_scripts_run(args, expect):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / args[0]), *args[1:]], capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert expect in proc.stdout and "machine:" in proc.stdout


@pytest.mark.data
@pytest.mark.slow
@pytest.mark.parametrize("extra", [[], ["--oracle", "--lr", "1e-4"]])
def test_adapt_benchmark_runs_on_one_scene(shared_data, extra):
    """``benchmarks/adapt.py`` on the smallest held-out scene, two steps: ``hsr adapt`` keeps the base
    weights (no step can beat them by 0.1 dB on the strip), the oracle's true pairs change them."""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "adapt.py"), "--shared", str(shared_data),
                           "--scenes", "hydice", "--steps", "2", *extra], capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = next(line for line in proc.stdout.splitlines() if line.startswith("hydice"))
    base, adapted = (float(v) for v in row.split()[5:7])
    assert 20 < base < 40 and (adapted != base) == bool(extra)
    assert "mean: PSNR" in proc.stdout and "machine:" in proc.stdout
    assert ("ORACLE" in proc.stdout) == bool(extra)


@pytest.mark.data
@pytest.mark.slow
def test_intensity_scale_benchmark_scores_each_divisor_factor(shared_data):
    """``benchmarks/intensity_scale.py`` on the smallest held-out scene: k = 1 is the scene as
    ``hsr upscale`` normalises it, and a 10x dimmer input scores differently."""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "intensity_scale.py"), "--shared",
                           str(shared_data), "--sets", "airborne", "--scenes", "hydice", "--k", "1,10"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = next(line for line in proc.stdout.splitlines() if line.startswith("airborne  hydice"))
    at1, at10 = (float(v) for v in row.split()[2:4])
    assert 20 < at1 < 40 and at10 != at1
    assert "machine:" in proc.stdout and "loss against k=1: k=10" in proc.stdout


@pytest.mark.data
@pytest.mark.slow
def test_quality_scores_a_candidate_beside_the_bundled_model(shared_data):
    """``quality.py --candidate``: a checkpoint scored beside the bundled rows of its scale; the bundled
    weights themselves as the candidate give the bundled row's figures."""
    weights = ROOT / "hsrcli" / "weights" / "lkca-g_x2.pt"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "quality.py"), "--shared", str(shared_data),
                           "--tables", "airborne_x2", "--models", "lkca-g_x2", "--candidate", f"same={weights}"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {line.split("|")[1].strip(): line.split("|")[2:6] for line in proc.stdout.splitlines()
            if line.startswith("| ") and not line.startswith("| model")}
    assert set(rows) == {"bicubic", "lkca-g_x2", "same"}
    assert rows["same"] == rows["lkca-g_x2"] and float(rows["same"][1]) > 0.5  # the same figures, and a gain


@pytest.mark.data
@pytest.mark.slow
def test_quality_with_a_gaussian_psf_scores_the_told_back_projection_above_the_untold(shared_data):
    """``quality.py --psf``: LR by a Gaussian PSF; hsr upscale told of it beats the bicubic ↓ (--psf-untold)."""
    def run(*extra):
        proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "quality.py"), "--shared", str(shared_data),
                               "--tables", "airborne_x2", "--models", "lkca-g_x2", "--psf", "1.2", *extra],
                              capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "Gaussian PSF of 1.2 HR px" in proc.stdout
        return {line.split("|")[1].strip(): float(line.split("|")[2]) for line in proc.stdout.splitlines()
                if line.startswith("| ") and not line.startswith("| model")}

    told, untold = run(), run("--psf-untold")
    assert told["bicubic"] == untold["bicubic"] and told["lkca-g_x2"] > untold["lkca-g_x2"] + 0.1


@pytest.mark.parametrize("args", [["--readme", "--tables", "cave_x4"], ["--update-cards", "--models", "lkca-g_x4"],
                                  ["--candidate", "lkca-g_x4=x.pt"], ["--candidate", "no-equals-sign"],
                                  ["--from-json", "saved.json", "--tables", "cave_x4"],
                                  ["--readme", "--band-step", "3"], ["--band-step", "0"], ["--readme", "--psf", "1.6"],
                                  ["--psf", "-1"], ["--psf-untold"]])
def test_quality_refuses_partial_records_and_bad_candidates(args):
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "quality.py"), *args], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 2 and "error:" in proc.stderr


def test_quality_candidate_may_be_a_cascade_of_checkpoints():
    """``--candidate LABEL=A+B``: the -m value kept as given, its scale the product of its stages'."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from quality import candidate
    finally:
        sys.path.pop(0)
    weights = ROOT / "hsrcli" / "weights"
    assert candidate(f"c=lkca-g_x4+{weights / 'lkca-g_x2.pt'}") == ("c", f"lkca-g_x4+{weights / 'lkca-g_x2.pt'}", 8)
    assert candidate("d=lkca-g_x2+lkca-g_x3,lkca-g_x3+lkca-g_x2")[2] == 6
    assert candidate(f"e={weights / 'lkca-g_x3.pt'}") == ("e", str(weights / "lkca-g_x3.pt"), 3)
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match="nope.pt"):
        candidate("f=lkca-g_x4+nope.pt")
