"""Forward time, parameters and FLOPs of every registry model (issue #5 benchmark).

For B = 31 and 128 bands at x4 on a 128 x 128 LR input (batch 1, fp32, eval mode,
no autograd), prints the median forward time over ``--repeats`` runs (after a
warm-up on a small input), parameters, FLOPs per forward (convolutions and matrix
products, counted by torch's FlopCounterMode) and the speed-up over CoarSR, plus
the machine it ran on. Uses CUDA when available unless ``--device cpu``.

    python benchmarks/models.py                 # both band counts, 3 runs each
    python benchmarks/models.py --bands 31 --repeats 5 --size 64
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from hsrcli.models import build, names
from hsrcli.models.complexity import count_params, flops_per_lr_pixel


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def timed(model, x, repeats: int, device: torch.device) -> float:
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.no_grad():
            model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bands", type=int, nargs="+", default=[31, 128])
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--size", type=int, default=128, help="LR height and width")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--models", nargs="+", default=None)
    a = ap.parse_args()
    device = torch.device("cuda" if a.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if a.device == "auto" else a.device))
    gpu = f" | {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    print(f"machine: {platform.node()} | {cpu_name()} | {os.cpu_count()} cores | torch {torch.__version__} "
          f"({torch.get_num_threads()} threads) | device {device}{gpu}")
    print(f"input: 1 x B x {a.size} x {a.size} LR, x{a.scale}, fp32, median of {a.repeats} runs\n")
    for bands in a.bands:
        rows = []
        for name in a.models or names():
            model = build(name, bands, a.scale).eval().to(device)
            flops = flops_per_lr_pixel(model.cpu(), bands) * a.size * a.size
            model.to(device)
            with torch.no_grad():
                model(torch.rand(1, bands, 16, 16, device=device))  # warm-up
            x = torch.rand(1, bands, a.size, a.size, device=device)
            t = timed(model, x, a.repeats, device)
            rows.append((name, count_params(model), flops, t))
            print(f"  measured {name} ({bands} bands): {t:.3f} s", file=sys.stderr)
        ref = next((t for n, _, _, t in rows if n == "coarsr"), None)
        print(f"B = {bands}")
        print(f"{'model':<9} {'params':>10} {'GFLOP':>10} {'median s':>10} {'speed-up vs coarsr':>19}")
        for name, params, flops, t in rows:
            ratio = "-" if ref is None else f"{ref / t:.1f}x"
            print(f"{name:<9} {params / 1e6:>9.3f}M {flops / 1e9:>10.2f} {t:>10.3f} {ratio:>19}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
