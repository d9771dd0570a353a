"""Self-supervised adaptation (``hsr adapt``) on held-out airborne scenes: base vs adapted (issue #13).

    python benchmarks/adapt.py [--model lkca-g_x4] [--steps 300] [--scenes abu-airport-4 ...]

Protocol: each whole held-out airborne scene of ``benchmarks/protocol.py`` (never seen by the
bundled models) is degraded ×4 with MATLAB bicubic to make the "user's scene"; ``hsr adapt``
fits the base model to that scene alone (default settings unless given), ``hsr upscale``
super-resolves it with the base and with the adapted weights, and both are scored against the
original scene (PSNR, SAM; normalised by the scene's maximum as ``benchmarks/quality.py`` does).
Prints one row per scene, the means, the adaptation time per scene and the machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from protocol import AIRBORNE_TEST
from quality import ROOT, run_config
from upscale_speed import machine

from hsrcli.io import open_scene
from hsrcli.metrics import compute_metrics
from hsrcli.ops.imresize import imresize
from hsrcli.train.adapt import AdaptConfig, adapt

SCALE = 4


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--model", default="lkca-g_x4")
    ap.add_argument("--steps", type=int, default=AdaptConfig.steps)
    ap.add_argument("--lr", type=float, default=AdaptConfig.lr)
    ap.add_argument("--scenes", nargs="+", default=list(AIRBORNE_TEST))
    a = ap.parse_args()
    if not a.shared.is_dir():
        sys.exit(f"{a.shared} not found (the protocol's scenes live in ../shared/data)")
    dev = torch.device("cpu")
    print(f"machine: {machine(dev)}")
    print(f"base {a.model}, x{SCALE}, adapt steps {a.steps}, lr {a.lr}\n")
    print(f"{'scene':16s} {'LR size':>14s} {'PSNR base':>10s} {'adapted':>8s} {'gain':>6s} {'SAM base':>9s} "
          f"{'adapted':>8s} {'val base':>9s} {'val best':>9s} {'adapt s':>8s}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.scenes:
            with open_scene(a.shared / "airborne" / "abu" / f"{name}.mat") as sc:
                hr = sc.read().astype(np.float64)
            h, w = hr.shape[0] // SCALE * SCALE, hr.shape[1] // SCALE * SCALE
            hr = hr[:h, :w]
            div = float(hr.max())
            lr = imresize(torch.from_numpy(hr.transpose(2, 0, 1)), size=(h // SCALE, w // SCALE)).numpy()
            lr_path = Path(tmp) / f"{name}.npy"
            np.save(lr_path, lr.transpose(1, 2, 0).astype(np.float32))
            ref = torch.from_numpy(hr.transpose(2, 0, 1) / div)
            ckpt = Path(tmp) / f"{name}.pt"
            t0 = time.perf_counter()
            summary = adapt([lr_path], ckpt, AdaptConfig(a.model, SCALE, steps=a.steps, lr=a.lr, device="cpu"),
                            open_kw={"layout": "hwc"})
            secs = time.perf_counter() - t0
            scores = []
            for model in (a.model, str(ckpt)):
                sr, _ = run_config(lr_path, Path(tmp) / "sr.hdr", SCALE, model, None, hr.shape[2], dev)
                srt = torch.from_numpy(sr.transpose(2, 0, 1) / div).clamp(0, 1)
                scores.append(compute_metrics(srt, ref, 1.0, SCALE))
            (b, d) = scores
            rows.append((b["psnr"], d["psnr"], b["sam"], d["sam"], secs))
            print(f"{name:16s} {str(lr.shape[1:]) + ' x ' + str(lr.shape[0]):>14s} {b['psnr']:10.3f} {d['psnr']:8.3f} "
                  f"{d['psnr'] - b['psnr']:+6.2f} {b['sam']:9.3f} {d['sam']:8.3f} {summary['val_psnr_base']:9.3f} "
                  f"{summary['val_psnr_adapted']:9.3f} {secs:8.1f}", flush=True)
    m = np.mean(rows, axis=0)
    print(f"\nmean: PSNR {m[0]:.3f} -> {m[1]:.3f} dB ({m[1] - m[0]:+.2f}), SAM {m[2]:.3f} -> {m[3]:.3f} deg, "
          f"adaptation {m[4]:.0f} s per scene (max {max(r[4] for r in rows):.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
