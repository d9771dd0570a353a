"""Bicubic interpolation baseline on the test split of a data set made by ``hsr prepare``.

Upsamples every test LR image with MATLAB-compatible bicubic (or torch's), clips
to [0, 1] (DualSR convention) and prints PSNR (mean of bands), SSIM and SAM per
image and their mean over images — the "Bicubic" row of SR papers.

    hsr prepare ../shared/data/cave/*_ms -o ds_cave_x4 -s 4 --test-scenes 3 --seed 0 --normalize fixed:65535
    python benchmarks/bicubic_baseline.py ds_cave_x4
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import torch

from hsrcli.data.dataset import ImageDataset
from hsrcli.data.degrade import upsample
from hsrcli.metrics import compute_metrics


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--method", choices=["matlab", "torch"], default="matlab")
    a = ap.parse_args()
    ds = ImageDataset(a.dataset, "test")
    scale = ds.manifest.scale
    print(f"machine: {platform.node()} {platform.machine()} Python {platform.python_version()} torch {torch.__version__}")
    print(f"data set: {a.dataset} (x{scale}, normalisation {ds.manifest.normalization}, {len(ds)} test images)")
    rows = []
    for name, lr, hr, valid in ds:
        t0 = time.perf_counter()
        sr = upsample(lr.to(torch.float64), scale, a.method).clamp(0, 1)
        dt = time.perf_counter() - t0
        m = compute_metrics(sr, hr.to(torch.float64), 1.0, scale, valid)
        rows.append(m)
        print(f"{name:<32} PSNR {m['psnr']:7.3f} dB  SSIM {m['ssim']:.4f}  SAM {m['sam']:6.3f} deg  ({dt:.2f} s)")
    mean = {k: sum(r[k] for r in rows) / len(rows) for k in ("psnr", "ssim", "sam")}
    print(f"{'mean over images':<32} PSNR {mean['psnr']:7.3f} dB  SSIM {mean['ssim']:.4f}  SAM {mean['sam']:6.3f} deg"
          f"  [bicubic: {a.method}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
