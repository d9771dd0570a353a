"""Training curves from a run's ``log.csv`` (``hsr plot-training``)."""

from __future__ import annotations

import csv
from pathlib import Path

from hsrcli.errors import HsrInputError


def read_log(path: Path) -> dict[str, list[float | None]]:
    """Columns of ``log.csv`` as float lists (None for empty cells)."""
    if not path.is_file():
        raise HsrInputError(f"{path.parent}: no log.csv (not a run folder of 'hsr train')")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise HsrInputError(f"{path}: no epoch logged yet")
    cols: dict[str, list[float | None]] = {k: [] for k in rows[0]}
    for r in rows:
        for k, v in r.items():
            cols[k].append(float(v) if v not in ("", None) else None)
    return cols


def plot_training(run_dir: Path, out: Path) -> None:
    """Loss (log scale) and validation PSNR / SAM against epoch."""
    from matplotlib.figure import Figure

    cols = read_log(run_dir / "log.csv")
    ep = cols["epoch"]
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    a, b = fig.subplots(1, 2)
    a.plot(ep, cols["train_loss"], color="tab:blue", marker=".")
    a.set_yscale("log")
    a.set_xlabel("epoch")
    a.set_ylabel("training loss")
    a.grid(True, alpha=0.3)
    a.set_title(f"{run_dir.name}: training loss")
    pts = [(e, p) for e, p in zip(ep, cols["val_psnr"]) if p is not None]
    if pts:
        b.plot(*zip(*pts), color="tab:green", marker="o", label="PSNR")
        b.set_ylabel("validation PSNR (dB)")
        sam = [(e, s) for e, s in zip(ep, cols["val_sam"]) if s is not None]
        if sam:
            c = b.twinx()
            c.plot(*zip(*sam), color="tab:red", marker="s", ls="--", label="SAM")
            c.set_ylabel("validation SAM (degrees)")
    else:
        b.text(0.5, 0.5, "no validation images", ha="center", va="center", transform=b.transAxes)
    b.set_xlabel("epoch")
    b.grid(True, alpha=0.3)
    b.set_title("validation")
    fig.savefig(out, dpi=130, format=out.suffix.lstrip(".").lower() or "png")
