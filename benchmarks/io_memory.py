"""Peak memory of streaming a large scene through the hsrcli I/O layer.

Writes a synthetic ROWS × COLS × BANDS scene window by window with
:func:`hsrcli.io.open_writer`, then reads it back window by window with
:func:`hsrcli.io.open_scene` in a fresh process, and prints the peak resident
set size (RSS) of each step together with the machine it ran on.

Target (issue #2): reading a 2000 × 2000 × 100 scene window by window keeps
peak RSS under 300 MB.

    python benchmarks/io_memory.py                       # ENVI, int16, 2000 x 2000 x 100
    python benchmarks/io_memory.py --format gtiff        # GeoTIFF instead
    python benchmarks/io_memory.py --rows 500 --cols 500 # quicker
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WINDOW_BYTES = 32 * 2**20
LIMIT_MB = 300.0


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (Linux reports KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / 2**20


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kib = int(next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")).split()[1])
        mem = f"{mem_kib / 2**20:.1f} GiB RAM"
    except (OSError, StopIteration):
        mem = "RAM unknown"
    import numpy

    return (f"{platform.node()} | {cpu} | {os.cpu_count()} cores | {mem} | "
            f"Python {platform.python_version()} | numpy {numpy.__version__}")


def step_write(path: Path, rows: int, cols: int, bands: int, dtype: str) -> None:
    import numpy as np

    from hsrcli.io import SceneMeta, iter_windows, open_writer

    meta = SceneMeta(rows=rows, cols=cols, bands=bands, dtype=dtype,
                     wavelengths=400 + 20 * np.arange(bands, dtype=float))
    base = peak_rss_mb()
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    with open_writer(path, meta, overwrite=True) as w:
        for win in iter_windows(rows, cols, bands, np.dtype(dtype).itemsize, WINDOW_BYTES, w.block_shape):
            shape = (int(win.height), int(win.width), bands)
            w.write(win, rng.integers(0, 10000, size=shape, dtype=dtype))
    print(f"write: {time.perf_counter() - t0:6.1f} s, peak RSS {peak_rss_mb():7.1f} MB "
          f"(after imports {base:.1f} MB)")


def step_read(path: Path) -> float:
    import numpy as np

    from hsrcli.io import open_scene

    base = peak_rss_mb()
    t0 = time.perf_counter()
    total = 0
    n = 0
    with open_scene(path) as scene:
        for win in scene.windows(WINDOW_BYTES):
            block = scene.read(win)
            total += int(block.sum(dtype=np.int64))
            n += 1
        size_mb = scene.meta.rows * scene.meta.cols * scene.meta.bands * scene.meta.dtype.itemsize / 2**20
    dt = time.perf_counter() - t0
    peak = peak_rss_mb()
    print(f"read:  {dt:6.1f} s, {n} windows, {size_mb / dt:7.1f} MB/s, peak RSS {peak:7.1f} MB "
          f"(after imports {base:.1f} MB), checksum {total}")
    return peak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--cols", type=int, default=2000)
    ap.add_argument("--bands", type=int, default=100)
    ap.add_argument("--dtype", default="int16")
    ap.add_argument("--format", choices=["envi", "gtiff"], default="envi")
    ap.add_argument("--dir", type=Path, default=None, help="folder for the scene (default: a temp folder)")
    ap.add_argument("--_step", choices=["write", "read"], help=argparse.SUPPRESS)
    ap.add_argument("--_path", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a._step == "write":
        step_write(a._path, a.rows, a.cols, a.bands, a.dtype)
        return 0
    if a._step == "read":
        return 0 if step_read(a._path) < LIMIT_MB else 1

    print(f"machine: {machine()}")
    size_mb = a.rows * a.cols * a.bands * __import__("numpy").dtype(a.dtype).itemsize / 2**20
    print(f"scene: {a.rows} x {a.cols} x {a.bands} {a.dtype} ({size_mb:.0f} MB), format {a.format}, "
          f"windows of at most {WINDOW_BYTES / 2**20:.0f} MB")
    with tempfile.TemporaryDirectory(dir=a.dir) as tmp:
        path = Path(tmp) / ("scene.hdr" if a.format == "envi" else "scene.tif")
        common = [sys.executable, __file__, "--rows", str(a.rows), "--cols", str(a.cols),
                  "--bands", str(a.bands), "--dtype", a.dtype, "--_path", str(path)]
        subprocess.run([*common, "--_step", "write"], check=True)
        rc = subprocess.run([*common, "--_step", "read"], check=False).returncode
    verdict = "PASS" if rc == 0 else "FAIL"
    print(f"{verdict}: window-by-window read peak RSS {'<' if rc == 0 else '>='} {LIMIT_MB:.0f} MB")
    return rc


if __name__ == "__main__":
    sys.exit(main())
