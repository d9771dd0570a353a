"""Ship a trained run as a bundled model: ``hsrcli/weights/<name>.pt`` + ``<name>.json`` (model card).

    python scripts/make_model_card.py RUN_DIR NAME --trained-on "CAVE (9 scenes) + Jasper Ridge + Samson" \\
        --command "hsr train ..." [--hardware "..."] [--fp16] [--previous CARD_OR_RUN --previous-note TEXT ...]

The checkpoint is ``RUN_DIR/best.pt`` (``--checkpoint last``: ``last.pt``, e.g. the end of a cosine
schedule when the validation strips are too noisy to pick an epoch) without optimiser state (fp16 tensors with
``--fp16`` or when it would exceed 5 MB). The card records the data, the command,
epochs, batches (steps), training time and throughput, hardware and the best validation metrics
from ``log.csv`` (of that checkpoint's epoch).

A model trained in several sittings (``hsr train --init-from``: a bundled model continued on a
later GPU session, or a run whose machine was taken back) lists them, oldest first, with
``--previous``: an earlier model card (``.json``, with its own stages) or run folder (``log.csv`` +
``config.json``), each followed by its ``--previous-note`` (hardware, command); the card then holds
every sitting under ``stages`` and their totals in ``epochs``, ``steps`` and ``training_seconds``.
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


def run_summary(run: Path, command: str, hardware: str) -> dict:
    """One training sitting: its command, epochs, optimiser steps (batches), seconds and hardware."""
    with open(run / "log.csv", newline="") as f:
        log = list(csv.DictReader(f))
    cfg = json.loads((run / "config.json").read_text())
    iters = cfg.get("iters_per_epoch")
    steps = len(log) * iters if iters else None  # optimiser steps (batches; CoarSR: one per batch or per band)
    seconds = round(sum(float(r["seconds"]) for r in log), 1)
    return {"command": command, "init_from": cfg.get("init_from"), "epochs": len(log), "steps": steps,
            "batch_size": cfg.get("batch_size"), "training_seconds": seconds, "hardware": hardware}


def earlier_stages(path: Path, note: str, hardware: str) -> list[dict]:
    """The sittings of an earlier model card (its ``stages``, or the card as one) or of a run folder
    (``note``: its command; ``hardware``: where it ran)."""
    if path.is_dir():
        return [run_summary(path, note, hardware)]
    card = json.loads(path.read_text())
    if card.get("stages"):
        return card["stages"]
    return [{"command": card.get("command", ""), "init_from": None, "epochs": card.get("epochs"),
             "steps": card.get("steps"), "batch_size": None, "training_seconds": card.get("training_seconds"),
             "hardware": card.get("hardware")}]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("name")
    ap.add_argument("--trained-on", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--hardware", default=None)
    ap.add_argument("--fp16", action="store_true")
    ap.add_argument("--checkpoint", choices=["best", "last"], default="best",
                    help="ship best.pt (best validation PSNR) or last.pt (the run's end)")
    ap.add_argument("--rank", type=int, default=0, help="preference among models that fit (lower first)")
    ap.add_argument("--previous", type=Path, action="append", default=[],
                    help="an earlier sitting this run continued (card .json or run folder), oldest first")
    ap.add_argument("--previous-note", action="append", default=[],
                    help="the command of each --previous run folder, in order (it ran on --hardware)")
    a = ap.parse_args()
    if len(a.previous_note) not in (0, len(a.previous)):
        ap.error("give one --previous-note per --previous, or none")
    hardware = a.hardware or f"{cpu_name()} ({torch.get_num_threads()} threads), torch {torch.__version__}"
    stages = [st for i, prev in enumerate(a.previous)
              for st in earlier_stages(prev, a.previous_note[i] if a.previous_note else "", hardware)]
    ckpt = read_checkpoint(a.run / f"{a.checkpoint}.pt")
    ckpt = ckpt.weights_only()
    out = ROOT / "hsrcli" / "weights" / f"{a.name}.pt"
    save_checkpoint(ckpt, out)
    if a.fp16 or out.stat().st_size > LIMIT:
        ckpt.state_dict = {k: v.half() if v.is_floating_point() else v for k, v in ckpt.state_dict.items()}
        ckpt.meta["storage"] = "fp16"
        save_checkpoint(ckpt, out)
    with open(a.run / "log.csv", newline="") as f:
        log = list(csv.DictReader(f))
    scored = [r for r in log if r["val_psnr"]]
    best = max(scored, key=lambda r: float(r["val_psnr"])) if a.checkpoint == "best" else scored[-1]
    this = run_summary(a.run, a.command, hardware)
    seconds, steps, batch = this["training_seconds"], this["steps"], this["batch_size"] or 0
    stages.append(this)
    m = ckpt.model
    card = {
        "name": a.name, "model": m.name, "scale": m.scale,
        "bands": None if spec(m.name).band_agnostic else m.bands,
        "band_agnostic": spec(m.name).band_agnostic, "kwargs": m.kwargs, "rank": a.rank,
        "trained_on": a.trained_on, "sources": ckpt.meta["dataset"]["sources"],
        "degradation": ckpt.meta["dataset"]["degradation"], "normalization": ckpt.meta["normalization"],
        "command": a.command, "epochs": sum(st["epochs"] or 0 for st in stages),
        "steps": sum(st["steps"] or 0 for st in stages) or None,
        "training_seconds": round(sum(st["training_seconds"] or 0 for st in stages), 1),
        "throughput_patches_per_s": round(steps * batch / seconds, 1) if steps and seconds else None,
        "hardware": hardware,
        "validation": {"epoch": int(best["epoch"]), "psnr": float(best["val_psnr"]),
                       "ssim": float(best["val_ssim"]), "sam": float(best["val_sam"]),
                       "note": "validation strips of the training data set, normalised, SR clipped to [0, 1]"},
        "size_bytes": out.stat().st_size,
        "hsrcli_version": ckpt.meta.get("hsrcli_version"),
    }
    if "after" in ckpt.meta:  # trained as a cascade's later stage (hsr train --after): never a default alone
        card["after"] = ckpt.meta["after"]["spec"]
        card["validation"]["note"] += f"; through {card['after']} first (the cascade)"
    if len(stages) > 1:
        card["stages"] = stages  # epochs/steps/training_seconds above are their totals; the rest is the last
    (out.with_suffix(".json")).write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {out} ({card['size_bytes']} bytes) and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
