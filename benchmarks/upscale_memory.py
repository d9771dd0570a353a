"""Peak memory of ``hsr upscale`` on growing synthetic scenes (issue #7 benchmark).

Writes synthetic int16 ENVI scenes of 256², 1024² and 2048² LR pixels × ``--bands`` bands,
upscales each ×4 in fresh processes (``--dtype input``; ``--runs`` times, 5 by default, the median counts)
with the model ``hsr upscale`` picks by default (or ``--model``), and prints the peak resident
set size of every run and the growth from the smallest to the largest, with the machine it ran on.
Targets: peak RSS < 1.5 GB, growth < 20 % (issue #11: flat from 256² to 2048²).

    python benchmarks/upscale_memory.py --bands 8            # default model, 256/1024/2048 (~5 GB disk)
    python benchmarks/upscale_memory.py --model bicubic      # 64 bands
    python benchmarks/upscale_memory.py --dir /big/disk      # 64 bands need ~30 GB for 2048²
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCALE = 4
LIMIT_MB = 1536.0


def peak_rss_mb() -> float:
    """This process's own peak resident set (MB): ``VmHWM`` of /proc/self/status on Linux.

    Not ``ru_maxrss``: Linux carries the parent's high-water mark across fork + exec, so a child
    started by a process that once held 1.4 GB would report 1.4 GB whatever it used.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / 2**20


def make_scene(path: Path, size: int, bands: int) -> None:
    import numpy as np
    from affine import Affine
    from rasterio.crs import CRS

    from hsrcli.io import SceneMeta, iter_windows, open_writer

    meta = SceneMeta(rows=size, cols=size, bands=bands, dtype="int16",
                     wavelengths=400 + 8 * np.arange(bands, dtype=float),
                     crs=CRS.from_epsg(32611).to_wkt(), transform=Affine(30, 0, 500000, 0, -30, 4100000))
    yy, xx = np.mgrid[0:size, 0:size]
    with open_writer(path, meta, overwrite=True) as w:
        for win in iter_windows(size, size, bands, 2, 32 * 2**20):
            r0, h = int(win.row_off), int(win.height)
            base = 2000 + 1500 * np.sin(yy[r0:r0 + h] / 17.0) * np.cos(xx[r0:r0 + h] / 23.0)
            cube = base[:, :, None] * (0.5 + np.linspace(0, 1, bands))[None, None, :]
            w.write(win, cube.astype(np.int16))


def child(src: str, out: str, model: str) -> None:
    from hsrcli.cli import app

    t0 = time.perf_counter()
    try:
        app(["upscale", src, "-s", str(SCALE), *([] if model == "default" else ["-m", model]), "-o", out,
             "--dtype", "input", "-q", "--overwrite", "--device", "cpu"], prog_name="hsr")
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    print(json.dumps({"peak_rss_mb": peak_rss_mb(), "seconds": time.perf_counter() - t0}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 2048])
    ap.add_argument("--model", default="default", help="default: the model hsr upscale picks")
    ap.add_argument("--bands", type=int, default=64)
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--runs", type=int, default=5, help="runs per size; the median peak counts (one scene's peak "
                    "varies by up to 100 MB from run to run with the heap's fragmentation)")
    ap.add_argument("--_child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._child:
        child(*a._child)
        return 0
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    print(f"machine: {platform.node()} | {cpu} | {os.cpu_count()} cores | Python {platform.python_version()}")
    print(f"upscale x{SCALE}, {a.bands} bands int16, model {a.model}, output int16 ENVI\n")
    peaks = []
    with tempfile.TemporaryDirectory(dir=a.dir) as tmp:
        for size in a.sizes:
            src, out = Path(tmp) / f"lr{size}.hdr", Path(tmp) / f"hr{size}.hdr"
            make_scene(src, size, a.bands)
            runs = []
            for _ in range(max(1, a.runs)):
                out.unlink(missing_ok=True)
                out.with_suffix(".img").unlink(missing_ok=True)
                proc = subprocess.run([sys.executable, __file__, "--_child", str(src), str(out), a.model],
                                      capture_output=True, text=True, check=False)
                if proc.returncode:
                    print(proc.stderr[-2000:])
                    return 1
                runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            runs.sort(key=lambda r: r["peak_rss_mb"])
            r = runs[len(runs) // 2]
            peaks.append(r["peak_rss_mb"])
            hr_gb = (size * SCALE) ** 2 * a.bands * 2 / 2**30
            each = ", ".join(f"{x['peak_rss_mb']:.0f}" for x in runs)
            print(f"{size:>5}² LR -> {size * SCALE:>5}² HR ({hr_gb:5.2f} GB out): peak RSS {r['peak_rss_mb']:7.1f} MB, "
                  f"{r['seconds']:7.1f} s  (runs: {each} MB)")
            for p in Path(tmp).glob(f"*{size}*"):
                p.unlink()
    growth = (peaks[-1] - peaks[0]) / peaks[0] * 100
    ok = max(peaks) < LIMIT_MB and growth < 20
    print(f"\nmax peak RSS {max(peaks):.1f} MB (limit {LIMIT_MB:.0f}), growth smallest -> largest {growth:+.1f} % "
          f"(limit 20 %): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
