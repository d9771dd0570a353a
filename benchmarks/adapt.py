"""Self-supervised adaptation (``hsr adapt``) on held-out airborne scenes: base vs adapted (issue #13).

    python benchmarks/adapt.py [--model lkca-g_x4] [--steps 300] [--scenes abu-airport-4 ...]
    python benchmarks/adapt.py --oracle [--steps 200 --lr 1e-4]

Protocol: each whole held-out airborne scene of ``benchmarks/protocol.py`` (never seen by the
bundled models) is degraded ×4 with MATLAB bicubic to make the "user's scene"; ``hsr adapt``
fits the base model to that scene alone (default settings unless given), ``hsr upscale``
super-resolves it with the base and with the adapted weights, and both are scored against the
original scene (PSNR, SAM; normalised by the scene's maximum as ``benchmarks/quality.py`` does).
Prints one row per scene, the means, the adaptation time per scene and the machine.

``--oracle`` measures an upper bound instead of ``hsr adapt``: the same fine-tuning (Adam, batch 16,
band windows, dihedral transforms, ``--steps``/``--lr``) on the scene's *true* ×4 pairs — crops of
the user's LR scene as inputs and of the original scene as targets (48 px, LR 12 px) — which no user
has. Self-supervised pairs can at best teach what these teach.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from protocol import AIRBORNE_TEST
from quality import ROOT, run_config
from upscale_speed import machine

from hsrcli.data.augment import N_TRANSFORMS, dihedral
from hsrcli.infer.inputs import divisor, scene_stats
from hsrcli.infer.resolve import resolve_model
from hsrcli.io import open_scene
from hsrcli.metrics import compute_metrics
from hsrcli.ops.imresize import imresize
from hsrcli.train.adapt import AdaptConfig, adapt, super_resolve
from hsrcli.train.data import band_window

SCALE = 4
#: HR crop (px) of the oracle's true pairs: an LR input of 12 px
ORACLE_CROP = 48


def oracle(model_name: str, lr_path: Path, lr: np.ndarray, hr: np.ndarray, steps: int, rate: float,
           out: Path) -> dict:
    """Fine-tune ``model_name`` on the true pairs: the user's scene ``lr`` (B, h, w) → the truth
    ``hr`` (s·h, s·w, B), both divided by the divisor ``hsr upscale`` uses for that scene; writes the
    checkpoint ``out`` (the base's record and metadata, the tuned weights)."""
    from hsrcli.checkpoint import Checkpoint, save_checkpoint

    with open_scene(lr_path, layout="hwc") as sc:
        r = resolve_model(model_name, sc.meta.bands, SCALE, "cpu", source=str(lr_path))
        div, _ = divisor(sc, r, scene_stats(sc, [r], lambda it: it))
    div = div.reshape(-1, 1, 1)
    x, y = torch.from_numpy(lr / div).float(), torch.from_numpy(hr.transpose(2, 0, 1) / div).float()
    model = r.model.train()
    window = band_window(r.checkpoint.model.kwargs) if r.bands is None else y.shape[0]
    opt = torch.optim.Adam(model.parameters(), lr=rate)
    g = torch.Generator().manual_seed(0)
    c, p, t0 = ORACLE_CROP, ORACLE_CROP // SCALE, time.perf_counter()
    for _ in range(steps):
        xs, ys = [], []
        for _ in range(16):
            i, j, b0, k = (int(torch.randint(n, (1,), generator=g)) for n in (
                (y.shape[1] - c) // SCALE + 1, (y.shape[2] - c) // SCALE + 1, y.shape[0] - window + 1, N_TRANSFORMS))
            xs.append(dihedral(x[b0:b0 + window, i:i + p, j:j + p], k))
            ys.append(dihedral(y[b0:b0 + window, i * SCALE:i * SCALE + c, j * SCALE:j * SCALE + c], k))
        loss = F.l1_loss(super_resolve(model, torch.stack(xs), r.effective_radius, SCALE), torch.stack(ys))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    ck = r.checkpoint
    save_checkpoint(Checkpoint(ck.model, {k: v.detach() for k, v in model.state_dict().items()}, ck.meta), out)
    return {"val_psnr_base": float("nan"), "val_psnr_adapted": float("nan"), "seconds": time.perf_counter() - t0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--model", default="lkca-g_x4")
    ap.add_argument("--steps", type=int, default=AdaptConfig.steps)
    ap.add_argument("--lr", type=float, default=AdaptConfig.lr)
    ap.add_argument("--scenes", nargs="+", default=list(AIRBORNE_TEST))
    ap.add_argument("--oracle", action="store_true",
                    help="upper bound: fine-tune on the scene's true x4 pairs instead of hsr adapt's own")
    a = ap.parse_args()
    if not a.shared.is_dir():
        sys.exit(f"{a.shared} not found (the protocol's scenes live in ../shared/data)")
    dev = torch.device("cpu")
    print(f"machine: {machine(dev)}")
    what = f"ORACLE bound (true x{SCALE} pairs, {ORACLE_CROP}-px crops)" if a.oracle else "adapt"
    print(f"base {a.model}, x{SCALE}, {what} steps {a.steps}, lr {a.lr}\n")
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
            if a.oracle:
                summary = oracle(a.model, lr_path, lr, hr, a.steps, a.lr, ckpt)
            else:
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
