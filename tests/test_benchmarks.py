"""The benchmark scripts still run (tiny sizes): their figures are what the README reports."""

from __future__ import annotations

import subprocess
import sys

import pytest
from rasters import ROOT


@pytest.mark.slow
@pytest.mark.parametrize("args,expect", [
    (["upscale_speed.py", "--size", "48", "--bands", "8", "--tiles", "32", "--runs", "2"], "end to end / bare forward"),
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
