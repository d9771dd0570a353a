"""Quality of the bundled models on the held-out scenes of ``benchmarks/protocol.py``, as users get it.

Every scene is degraded with MATLAB-compatible bicubic (as ``hsr prepare``), written to a
temporary file and super-resolved by the real ``hsr upscale`` code path (tiling, the model's
own normalisation, FineSR with its self-check for ``--refine`` rows); the output is scored
against the original, SR clipped to [0, 1]:

* CAVE: /65535 (the benchmark convention), test scenes of the protocol, x4, x2, x3 and x8;
* airborne: each scene divided by its own maximum (data range 1), x4, x2, x3 and x8 (at x8 the
  scenes are 10-18 LR px: few pixels, but the only scenes of sensors the CAVE-only x8 never saw).

Rows with ``A+B`` or ``X,Y`` labels are composites (:mod:`hsrcli.infer.resolve`): a cascade of
bundled models, an average of models; only those with a card of their own are bundled.

Prints Markdown tables (PSNR is the mean of per-band PSNR; gain is over bicubic) and, with
``--readme``, replaces the block between ``<!-- results:start -->`` and ``<!-- results:end -->``
in README.md; ``--update-cards`` stores each model's CAVE and airborne test metrics in its model card
(what ``hsr models`` shows and what the default-model choice ranks by).

    python benchmarks/quality.py --readme --update-cards          # about 45 minutes on 2 CPU cores
    python benchmarks/quality.py --tables cave_x4 airborne_x4 --candidate new=RUN/best.pt
    python benchmarks/quality.py --from-json run.json --readme --update-cards --note "…"   # render a saved run

``--candidate LABEL=CHECKPOINT`` scores a checkpoint not (yet) bundled beside the bundled models, in
the selected tables of its scale: the figures that decide whether it replaces one (printed only).
``--band-step K`` scores every K-th band of each scene only: the coarser spectral sampling of other
sensors (AVIRIS every 3rd band: ~30 nm; CAVE every 3rd: 30 nm, 11 bands) (printed only).
``--psf SIGMA`` makes the LR with a Gaussian point-spread function of SIGMA HR px instead of bicubic
and tells ``hsr upscale`` (``--degrade gaussian --sigma``); with ``--psf-untold`` it is not told
(printed only).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from protocol import AIRBORNE_TEST, CAVE_TEST

from hsrcli.data.degrade import degrade
from hsrcli.infer.refine import Refinement
from hsrcli.infer.resolve import resolve_model
from hsrcli.infer.runner import UpscaleOptions, upscale_scene
from hsrcli.io import open_scene
from hsrcli.metrics import compute_metrics
from hsrcli.ops.imresize import imresize
from hsrcli.weights import WEIGHTS_DIR

ROOT = Path(__file__).resolve().parents[1]
#: x8: the CAVE-only lkca-g_x8, and cascades and averages of the bundled x2/x4/x8 band-agnostic models
X8 = [("bicubic", "bicubic", None), ("lkca-g_x8", "lkca-g_x8", None),
      *((m, m, None) for m in ("lkca-g_x2+lkca-g_x4", "lkca-g_x4+lkca-g_x2",
                               "lkca-g_x8,lkca-g_x2+lkca-g_x4,lkca-g_x4+lkca-g_x2"))]
#: x4: the bundled x4 averaged with the cascade of two x2
AVERAGE_X4 = [("lkca-g_x4,lkca-g_x2+lkca-g_x2", "lkca-g_x4,lkca-g_x2+lkca-g_x2", None)]
#: (label, model, FineSR partner or None; "lr" = the LR input itself)
CONFIGS = {
    4: [("bicubic", "bicubic", None), ("lkca-g_x4", "lkca-g_x4", None),
        ("lkca-g_x4 --refine", "lkca-g_x4", "lkca-g_x2"), ("lkca_x4", "lkca_x4", None),
        ("lkca-lr-kd_x4", "lkca-lr-kd_x4", None), ("coarsr_x4", "coarsr_x4", None),
        ("DualSR: coarsr_x4 --refine --refine-model coarsr_x2", "coarsr_x4", "coarsr_x2")] + AVERAGE_X4,
    2: [("bicubic", "bicubic", None), ("lkca-g_x2", "lkca-g_x2", None), ("coarsr_x2", "coarsr_x2", None)],
    3: [("bicubic", "bicubic", None), ("lkca-g_x3", "lkca-g_x3", None)],
    8: X8,
}
#: the airborne scenes are 80-150 px: x8 leaves 10-18 LR px
AIRBORNE_CONFIGS = {
    4: [("bicubic", "bicubic", None), ("lkca-g_x4", "lkca-g_x4", None), ("coarsr_x4", "coarsr_x4", None)]
    + AVERAGE_X4,
    2: [("bicubic", "bicubic", None), ("lkca-g_x2", "lkca-g_x2", None), ("coarsr_x2", "coarsr_x2", None)],
    3: [("bicubic", "bicubic", None), ("lkca-g_x3", "lkca-g_x3", None)],
    8: X8,
}
#: the tables, in the order they are run and printed: (data set, scale)
TABLES = [("cave", 4), ("cave", 2), ("cave", 3), ("cave", 8), ("airborne", 4), ("airborne", 2), ("airborne", 3),
          ("airborne", 8)]


def candidate(text: str) -> tuple[str, str, int]:
    """``LABEL=CHECKPOINT`` of ``--candidate``: (label, the -m value, its scale). CHECKPOINT may be a
    composite of checkpoints and bundled names (``A+B``: a cascade, its scale the product of its
    stages'; ``X,Y``: an average), e.g. a stage trained with ``hsr train --after A`` as ``A+RUN/last.pt``."""
    from hsrcli.checkpoint import read_checkpoint
    from hsrcli.infer.resolve import AVERAGE, CASCADE
    from hsrcli.weights import checkpoint_path

    label, sep, path = text.partition("=")
    if not sep or not label or not path:
        raise argparse.ArgumentTypeError(f"expected LABEL=CHECKPOINT, got {text!r}")
    if (WEIGHTS_DIR / f"{label}.json").is_file():
        raise argparse.ArgumentTypeError(f"{label!r} names a bundled model: give the candidate another label")
    scale = 1
    for part in path.split(AVERAGE)[0].split(CASCADE):
        try:
            scale *= read_checkpoint(checkpoint_path(part) or Path(part)).model.scale
        except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint is a usage error here
            raise argparse.ArgumentTypeError(f"{part}: {exc}") from None
    return label, path, scale


def scenes(shared: Path, which: str) -> list[tuple[str, Path, float | None]]:
    """(name, path, fixed divisor or None = the scene's maximum)."""
    if which == "cave":
        return [(n, shared / "cave" / f"{n}_ms", 65535.0) for n in CAVE_TEST]
    return [(n, shared / "airborne" / "abu" / f"{n}.mat", None) for n in AIRBORNE_TEST]


def run_config(lr_path: Path, out: Path, scale: int, model: str, partner: str | None, bands: int,
               device: torch.device, psf: float = 0.0) -> tuple[np.ndarray, dict]:
    """``hsr upscale`` of one LR file (``psf`` > 0: told ``--degrade gaussian --sigma psf``)."""
    resolved = resolve_model(model, bands, scale, device)
    refine = None
    if partner is not None:
        refine = Refinement(None if partner == "lr" else resolve_model(partner, bands, scale // 2, device))
    opts = UpscaleOptions(device=device, degrade="gaussian" if psf else None, sigma=psf)
    with open_scene(lr_path, layout="hwc") as sc:
        stats = upscale_scene(sc, out, "envi", resolved, opts, overwrite=True, refine=refine)
    with open_scene(out) as sc:
        return sc.read().astype(np.float64), stats


def evaluate(shared: Path, which: str, scale: int, configs, device: torch.device, band_step: int = 1,
             sigma: float = 0.0, tell: bool = True) -> list[dict]:
    """Every config on the scenes of ``which`` at ``scale`` (``band_step`` k: every k-th band of each scene;
    ``sigma`` > 0: the LR made by a Gaussian PSF of ``sigma`` HR px, as ``hsr prepare --degrade gaussian``,
    and ``hsr upscale`` told so when ``tell``)."""
    rows = {label: [] for label, _, _ in configs}
    seconds = {label: 0.0 for label, _, _ in configs}
    notes = {label: [] for label, _, _ in configs}
    with tempfile.TemporaryDirectory() as tmp:
        for name, path, divisor in scenes(shared, which):
            with open_scene(path) as sc:
                hr = sc.read().astype(np.float64)[..., ::band_step]
            h, w = hr.shape[0] // scale * scale, hr.shape[1] // scale * scale
            hr = hr[:h, :w]
            div = divisor or float(hr.max())
            hrt = torch.from_numpy(hr.transpose(2, 0, 1))
            lr = (imresize(hrt, size=(h // scale, w // scale)) if not sigma
                  else degrade(hrt, scale, kernel="gaussian", sigma=sigma)).numpy()
            lr_path = Path(tmp) / f"{name}.npy"
            np.save(lr_path, lr.transpose(1, 2, 0).astype(np.float32))
            ref = torch.from_numpy(hr.transpose(2, 0, 1) / div)
            for label, model, partner in configs:
                t0 = time.perf_counter()
                sr, stats = run_config(lr_path, Path(tmp) / "sr.hdr", scale, model, partner, hr.shape[2], device,
                                       sigma if tell else 0.0)
                seconds[label] += time.perf_counter() - t0
                if "refine" in stats:
                    notes[label].append(f"{name}: {'applied' if stats['refine']['applied'] else 'skipped'}")
                srt = torch.from_numpy(sr.transpose(2, 0, 1) / div).clamp(0, 1)
                rows[label].append(compute_metrics(srt, ref, 1.0, scale))
                print(f"  {which} x{scale} {name:22s} {label:55s} PSNR {rows[label][-1]['psnr']:.3f}",
                      file=sys.stderr, flush=True)
    out = []
    for label, _, _ in configs:
        ms = rows[label]
        r = {"model": label, "images": len(ms), "seconds": seconds[label], "refine": notes[label] or None}
        for k in ("psnr", "ssim", "sam", "ergas", "rmse", "cc"):
            r[k] = float(np.mean([m[k] for m in ms]))
        r["per_image_psnr"] = [m["psnr"] for m in ms]
        out.append(r)
    base = out[0]
    for r in out:
        r["gain_db"] = r["psnr"] - base["psnr"]
        r["sam_vs_bicubic"] = r["sam"] - base["sam"]
    return out


def table(rows: list[dict]) -> str:
    lines = ["| model | PSNR (dB) | gain | SSIM | SAM (°) | ERGAS | s total |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['psnr']:.3f} | {r['gain_db']:+.2f} | {r['ssim']:.4f} | {r['sam']:.3f} | "
                     f"{r['ergas']:.3f} | {r['seconds']:.1f} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--readme", action="store_true", help="rewrite the results block of README.md")
    ap.add_argument("--update-cards", action="store_true", help="store CAVE and airborne test metrics in the model cards")
    ap.add_argument("--json", type=Path, help="also write every figure as JSON")
    ap.add_argument("--note", default="", help="a paragraph printed (and put in the README block) after the "
                    "first one: how the run was disturbed, what it replaces")
    ap.add_argument("--from-json", type=Path, help="render (and store) the figures of an earlier --json run")
    ap.add_argument("--tables", nargs="+", choices=[f"{w}_x{s}" for w, s in TABLES], metavar="TABLE",
                    help="only these tables (cave_x4, airborne_x2, ...; default: all)")
    ap.add_argument("--models", nargs="+", metavar="LABEL",
                    help="only these rows of the tables (e.g. lkca-g_x4; bicubic, the gain's reference, always)")
    ap.add_argument("--band-step", type=int, default=1, metavar="K",
                    help="score every K-th band of each scene only: coarser spectral sampling (printed only)")
    ap.add_argument("--candidate", type=candidate, action="append", default=[], metavar="LABEL=CHECKPOINT",
                    help="also score this checkpoint in the selected tables of its scale (repeatable)")
    ap.add_argument("--psf", type=float, default=0.0, metavar="SIGMA",
                    help="make the LR with a Gaussian PSF of SIGMA HR px (hsr prepare --degrade gaussian) instead "
                    "of bicubic, and tell hsr upscale (--degrade gaussian --sigma SIGMA) (printed only)")
    ap.add_argument("--psf-untold", action="store_true", help="with --psf: do not tell hsr upscale (its bicubic ↓)")
    a = ap.parse_args()
    tables = [(w, s) for w, s in TABLES if a.tables is None or f"{w}_x{s}" in a.tables]
    if (a.readme or a.update_cards) and (a.tables is not None or a.models is not None or a.candidate
                                         or a.band_step != 1 or a.psf):
        ap.error("--readme and --update-cards record the bundled models on every table: "
                 "not with --tables, --models, --candidate, --band-step or --psf")
    if a.psf < 0 or (a.psf_untold and not a.psf):
        ap.error("--psf must be > 0, and --psf-untold needs it")
    if a.band_step < 1:
        ap.error("--band-step must be >= 1")

    if a.from_json is not None and (a.tables is not None or a.models is not None or a.candidate or a.band_step != 1):
        ap.error("--from-json renders the saved run as it is: not with --tables, --models, --candidate or "
                 "--band-step")
    if a.from_json is not None:
        saved = json.loads(a.from_json.read_text())
        machine, results = saved["machine"], saved["results"]
    else:
        if not a.shared.is_dir():
            sys.exit(f"{a.shared} not found (the protocol's scenes live in ../shared/data)")
        torch.set_grad_enabled(False)
        dev = torch.device(a.device)
        machine = (f"{a.device}: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
                   f"torch {torch.__version__}")
        results = {}
        for which, scale in tables:
            configs = (CONFIGS if which == "cave" else AIRBORNE_CONFIGS)[scale]
            kept = [c for c in configs if a.models is None or c[0] == "bicubic" or c[0] in a.models]
            kept += [(label, path, None) for label, path, s in a.candidate if s == scale]
            results[f"{which}_x{scale}"] = evaluate(a.shared, which, scale, kept, dev, a.band_step, a.psf,
                                                    not a.psf_untold)
    total = sum(r["seconds"] for rows in results.values() for r in rows)
    step = "" if a.band_step == 1 else f", every {a.band_step}th band"
    if a.from_json is None and a.psf:
        step += (f", LR by a Gaussian PSF of {a.psf:g} HR px, hsr upscale "
                 + ("not told (bicubic back-projection)" if a.psf_untold else f"told --degrade gaussian --sigma {a.psf:g}"))
    titles = {f"{which}_x{scale}": (f"CAVE x{scale} ({', '.join(CAVE_TEST)}; /65535{step})" if which == "cave" else
                                    f"Airborne x{scale} ({', '.join(AIRBORNE_TEST)}; each scene / its maximum{step})")
              for which, scale in TABLES}
    text = [(f"Measured with `python benchmarks/quality.py --readme --update-cards` ({machine}), "
             f"{total:.0f} s of `hsr upscale` in all, with its defaults (spectral subspace `auto` included). "
             "Mean over scenes; PSNR is the mean of per-band PSNR; "
             "gain is over bicubic; SR clipped to [0, 1]; `s total` is the wall time of `hsr upscale` over the "
             "scenes (files, statistics and tiling included).")]
    if a.note:
        text += ["", a.note]
    for key, rows in results.items():
        text += ["", f"**{titles[key]}**", "", table(rows)]
        refined = [r for r in rows if r["refine"]]
        for r in refined:
            text.append(f"\n`{r['model']}`: FineSR {'; '.join(r['refine'])} (self-check).")
    block = "\n".join(text)
    print(block)
    if a.json:
        a.json.write_text(json.dumps({"machine": machine, "results": results}, indent=2))
    if a.readme:
        readme = ROOT / "README.md"
        s = readme.read_text()
        i, j = s.index("<!-- results:start -->"), s.index("<!-- results:end -->")
        readme.write_text(s[:i] + "<!-- results:start -->\n" + block + "\n" + s[j:])
    if a.update_cards:
        update_cards(results, machine)
    return 0


def update_cards(results: dict, machine: str) -> None:
    """Each bundled model's CAVE test metrics (``test``) and airborne ones (``test_airborne``) in its card."""
    for key, rows in results.items():
        which, scale = key.split("_x")
        bic = rows[0]
        for r in rows:
            card = WEIGHTS_DIR / f"{r['model']}.json"
            if not card.is_file():
                continue
            info = json.loads(card.read_text())
            if which == "cave":
                info["test"] = {k: r[k] for k in ("psnr", "ssim", "sam", "ergas", "rmse", "cc")}
                info["test"].update({
                    "gain_db": r["gain_db"], "bicubic": {k: bic[k] for k in ("psnr", "ssim", "sam")},
                    "data": f"CAVE x{scale} test scenes {', '.join(CAVE_TEST)} (benchmarks/protocol.py), "
                            "/65535, MATLAB bicubic LR, hsr upscale, SR clipped to [0, 1]; mean over scenes",
                    "command": "python benchmarks/quality.py --update-cards", "machine": machine})
            else:
                info["test_airborne"] = {"psnr": r["psnr"], "ssim": r["ssim"], "sam": r["sam"],
                                         "gain_db": r["gain_db"], "scenes": list(AIRBORNE_TEST)}
            card.write_text(json.dumps(info, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
