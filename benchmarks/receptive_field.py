"""Effective receptive radius of each bundled model, measured on real scenes.

    python benchmarks/receptive_field.py [--threshold 1e-4] [--update]

For every bundled model with a finite theoretical receptive radius, one LR pixel of a real scene
(the shipped AVIRIS sample; with ../shared/data also a CAVE scene) is raised and lowered by the
full data range at several positions; the effective radius is the largest distance, over those
trials, at which an output value still moves by ``--threshold`` (data range 1) or more. Prints a
table; ``--update`` stores ``effective_radius`` in each bundled checkpoint's metadata and model
card, which ``hsr upscale`` then uses for its default tile overlap (``--exact`` ignores it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "aviris_sample.hdr"
CAVE = ROOT.parent / "shared" / "data" / "cave" / "flowers_ms"


def scenes(bands: int | None) -> list[tuple[str, np.ndarray]]:
    """Real cubes (rows, cols, bands) scaled to [0, 1]: the sample (good bands), and CAVE if present."""
    from hsrcli.io import open_scene

    out = []
    with open_scene(SAMPLE) as sc:
        cube = sc.read().astype(np.float32)
        bbl = sc.meta.bbl
        good = np.flatnonzero(bbl) if bbl is not None else np.arange(cube.shape[-1])
    cube = cube[:, :, good]
    out.append(("aviris_sample", cube))
    if CAVE.is_dir():
        with open_scene(CAVE) as sc:
            out.append(("cave/flowers", sc.read(window=None).astype(np.float32)))
    res = []
    for name, c in out:
        k, mid = bands or 8, c.shape[-1] // 2  # a window of bands from the middle of the spectrum
        c = c[:, :, max(0, mid - k // 2):max(0, mid - k // 2) + k] if k <= c.shape[-1] else None
        if c is not None:
            res.append((name, c / max(float(c.max()), 1e-12)))
    return res


def measure(name: str, threshold: float) -> dict:
    from hsrcli.infer.receptive import effective_radius
    from hsrcli.infer.resolve import resolve_model
    from hsrcli.weights import bundled

    card = next(c for c in bundled() if c.name == name)
    bands = card.bands or 8
    r = resolve_model(name, bands, card.scale)
    reach = r.model.receptive_radius
    n = 2 * reach + 1
    worst, trials = 0, 0
    for _, cube in scenes(card.bands):
        x = torch.from_numpy(np.ascontiguousarray(np.moveaxis(cube, -1, 0)))[None]
        reps = (-(-n // x.shape[-2]), -(-n // x.shape[-1]))
        x = x.repeat(1, 1, *reps) if max(reps) > 1 else x  # small scenes: tile them up to the reach
        for oy, ox in ((0, 0), (x.shape[-2] - n, x.shape[-1] - n), ((x.shape[-2] - n) // 2, 0)):
            crop = x[..., oy:oy + n, ox:ox + n].contiguous()
            worst = max(worst, effective_radius(r.model, crop, card.scale, reach, threshold))
            trials += 1
    return {"model": name, "theoretical": reach, "effective": worst, "trials": trials}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threshold", type=float, default=1e-4)
    ap.add_argument("--update", action="store_true", help="store the radii in the bundled checkpoints and cards")
    a = ap.parse_args()
    from hsrcli.checkpoint import read_checkpoint, save_checkpoint
    from hsrcli.models import build
    from hsrcli.weights import WEIGHTS_DIR, bundled

    torch.set_grad_enabled(False)
    names = []
    for c in bundled():
        if c.composite:  # no weights of its own: its radius follows from its parts' (hsrcli.models.compose)
            continue
        if getattr(build(c.model, c.bands or 8, c.scale, **c.raw.get("kwargs", {})), "receptive_radius", None):
            names.append(c.name)
    print(f"# effective receptive radius (LR px), threshold {a.threshold:g} of the data range; "
          f"{platform.node()}, torch {torch.__version__}, {dt.date.today()}")
    print("| model | theoretical | effective | trials |\n|---|---|---|---|")
    for name in names:
        row = measure(name, a.threshold)
        print(f"| {name} | {row['theoretical']} | {row['effective']} | {row['trials']} |")
        if a.update:
            info = {"lr_px": row["effective"], "threshold": a.threshold, "theoretical": row["theoretical"],
                    "measured_by": "benchmarks/receptive_field.py", "date": str(dt.date.today())}
            pt = WEIGHTS_DIR / f"{name}.pt"
            ckpt = read_checkpoint(pt)
            ckpt.meta["effective_radius"] = info
            save_checkpoint(ckpt, pt)
            card_path = pt.with_suffix(".json")
            card = json.loads(card_path.read_text())
            card["effective_radius"] = info
            card_path.write_text(json.dumps(card, indent=2) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
