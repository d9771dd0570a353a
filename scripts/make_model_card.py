"""Ship a trained run as a bundled model: ``hsrcli/weights/<name>.pt`` + ``<name>.json`` (model card).

    python scripts/make_model_card.py RUN_DIR NAME --trained-on "CAVE (9 scenes) + Jasper Ridge + Samson" \\
        --command "hsr train ..." [--fp16]

The checkpoint is ``RUN_DIR/best.pt`` without optimiser state (fp16 tensors with
``--fp16`` or when it would exceed 5 MB). The card records the data, the command,
epochs, batches (steps), training time and throughput, hardware and the best validation metrics
from ``log.csv``.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
from pathlib import Path

import torch

from hsrcli.checkpoint import read_checkpoint, save_checkpoint
from hsrcli.models import spec

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 5 * 2**20


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("name")
    ap.add_argument("--trained-on", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--hardware", default=None)
    ap.add_argument("--fp16", action="store_true")
    ap.add_argument("--rank", type=int, default=0, help="preference among models that fit (lower first)")
    a = ap.parse_args()
    ckpt = read_checkpoint(a.run / "best.pt")
    ckpt = ckpt.weights_only()
    out = ROOT / "hsrcli" / "weights" / f"{a.name}.pt"
    save_checkpoint(ckpt, out)
    if a.fp16 or out.stat().st_size > LIMIT:
        ckpt.state_dict = {k: v.half() if v.is_floating_point() else v for k, v in ckpt.state_dict.items()}
        ckpt.meta["storage"] = "fp16"
        save_checkpoint(ckpt, out)
    with open(a.run / "log.csv", newline="") as f:
        log = list(csv.DictReader(f))
    best = max((r for r in log if r["val_psnr"]), key=lambda r: float(r["val_psnr"]))
    seconds = sum(float(r["seconds"]) for r in log)
    cfg = ckpt.meta.get("training", {})
    iters, batch = cfg.get("iters_per_epoch"), cfg.get("batch_size", 0)
    steps = len(log) * iters if iters else None  # optimiser steps (batches; CoarSR: one per batch or per band)
    m = ckpt.model
    card = {
        "name": a.name, "model": m.name, "scale": m.scale,
        "bands": None if spec(m.name).band_agnostic else m.bands,
        "band_agnostic": spec(m.name).band_agnostic, "kwargs": m.kwargs, "rank": a.rank,
        "trained_on": a.trained_on, "sources": ckpt.meta["dataset"]["sources"],
        "degradation": ckpt.meta["dataset"]["degradation"], "normalization": ckpt.meta["normalization"],
        "command": a.command, "epochs": len(log), "steps": steps,
        "training_seconds": round(seconds, 1),
        "throughput_patches_per_s": round(steps * batch / seconds, 1) if steps and seconds else None,
        "hardware": a.hardware or f"{cpu_name()} ({torch.get_num_threads()} threads), torch {torch.__version__}",
        "validation": {"epoch": int(best["epoch"]), "psnr": float(best["val_psnr"]),
                       "ssim": float(best["val_ssim"]), "sam": float(best["val_sam"]),
                       "note": "validation strips of the training data set, normalised, SR clipped to [0, 1]"},
        "size_bytes": out.stat().st_size,
        "hsrcli_version": ckpt.meta.get("hsrcli_version"),
    }
    (out.with_suffix(".json")).write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {out} ({card['size_bytes']} bytes) and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
