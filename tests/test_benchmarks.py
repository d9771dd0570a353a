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
