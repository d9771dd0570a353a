"""How a model's quality depends on the intensity scale it is fed (the held-out scenes of ``quality.py``).

Band-agnostic models are fed each scene divided by the scene's maximum. A scene whose maximum lies
far above the rest (a few hot pixels, a glint, a saturated detector element) reaches the network
dimmer than the training scenes did. This benchmark multiplies the divisor by k (the model is fed
x / k and its output multiplied by k) and scores the result against the original scene:

* k = 1: the scene as ``hsr upscale`` normalises it (whole image, no tiling, no subspace projection);
* k > 1: a scene whose maximum is k times above its bulk's; k < 1: inputs above 1.

Every scene is degraded with MATLAB-compatible bicubic as ``hsr prepare`` does; SR and reference are
divided by the scene's maximum and SR clipped to [0, 1] (data range 1, PSNR the mean of per-band PSNR).

    python benchmarks/intensity_scale.py --model lkca-g_x4 --scale 4 --k 0.25,1,4,10
    python benchmarks/intensity_scale.py --model RUN/last.pt --scale 4
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import scenes

from hsrcli.infer.inputs import forward
from hsrcli.infer.resolve import resolve_model
from hsrcli.io import open_scene
from hsrcli.metrics import compute_metrics
from hsrcli.ops.imresize import imresize

ROOT = Path(__file__).resolve().parents[1]


def psnr_by_k(path: Path, model: str, scale: int, ks: list[float], device: torch.device) -> list[float]:
    """PSNR (dB, data range 1) of ``model`` on the scene at ``path`` for every divisor factor in ``ks``."""
    with open_scene(path) as sc:
        hr = sc.read().astype(np.float64)
    h, w = hr.shape[0] // scale * scale, hr.shape[1] // scale * scale
    hr_t = torch.from_numpy(hr[:h, :w].transpose(2, 0, 1))
    top = float(hr_t.max())
    lr = imresize(hr_t, size=(h // scale, w // scale)).float()
    resolved = resolve_model(model, hr_t.shape[0], scale, device)
    out = []
    for k in ks:
        sr = forward(resolved.model, (lr / (top * k))[None].to(device))[0].double().cpu() * k
        out.append(compute_metrics(sr.clamp(0, 1), hr_t / top, 1.0, scale)["psnr"])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="lkca-g_x4", help="bundled name or checkpoint (a normalised model)")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--k", default="0.25,1,2,4,10", help="divisor factors, comma-separated")
    ap.add_argument("--sets", nargs="+", default=["cave", "airborne"], choices=["cave", "airborne"])
    ap.add_argument("--scenes", nargs="+", default=None, help="only these held-out scenes")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    ks = [float(v) for v in a.k.split(",")]
    if not ks or min(ks) <= 0:
        ap.error("--k takes positive numbers")
    device = torch.device(a.device)
    print(f"machine: {platform.node()} | {platform.processor() or platform.machine()} | "
          f"{torch.get_num_threads()} threads | torch {torch.__version__} | device {device}")
    print(f"model {a.model}, x{a.scale}; PSNR (dB) with the scene's maximum divisor multiplied by k\n")
    print(f"{'set':9s} {'scene':22s} " + " ".join(f"{'k=' + f'{k:g}':>9s}" for k in ks))
    for which in a.sets:
        rows = []
        for name, path, _ in scenes(a.shared, which):  # the held-out scenes of quality.py
            if a.scenes is not None and name not in a.scenes:
                continue
            rows.append(psnr_by_k(path, a.model, a.scale, ks, device))
            print(f"{which:9s} {name:22s} " + " ".join(f"{v:9.3f}" for v in rows[-1]), flush=True)
        if rows:
            mean = np.mean(rows, axis=0)
            loss = ""
            if 1.0 in ks:
                ref = mean[ks.index(1.0)]
                loss = "   (loss against k=1: " + ", ".join(f"k={k:g} {ref - v:+.3f}" for k, v in zip(ks, mean)
                                                         if k != 1.0) + " dB)"
            print(f"{which:9s} {'mean':22s} " + " ".join(f"{v:9.3f}" for v in mean) + loss, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
