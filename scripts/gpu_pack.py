"""Pack the training data and the missing wheels for a lent GPU machine into pieces that travel.

    python scripts/gpu_pack.py [--data ../shared/data] [--out .gpu] [--piece-mib 48]

The workplace's device tool sends the working tree plus named ignored folders, at most 64 MiB a
call, and the machine has PyTorch but not rasterio or spectral. This script writes

* ``.gpu/p1``, ``.gpu/p2``, …: each at most ``--piece-mib`` MiB (the tree itself is ~11 MiB), holding
  ``data/...`` (the raw files ``scripts/train_bundled.sh`` trains on: CAVE and airborne scenes, the
  held-out test scenes of ``benchmarks/protocol.py`` left out) and, in the first, ``whl/`` (rasterio,
  affine, cligj, click-plugins, spectral for CPython 3.12 manylinux, fetched with ``pip download``);
* ``.gpu/plan.txt``: the calls to make, in order (see ``scripts/gpu_remote.sh``).

The raw files are the most compact form of the data (CAVE's 16-bit PNGs, .mat): the data sets are
re-made on the machine with ``hsr prepare``, so everything there is re-creatable from the repo.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from protocol import AIRBORNE_TRAIN, CAVE_TEST

WHEELS = ["rasterio", "affine", "cligj", "click-plugins", "spectral"]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64"]


def training_files(data: Path) -> list[Path]:
    """Files under ``data`` that training reads (held-out test scenes excluded), largest last."""
    files = [p for d in sorted((data / "cave").glob("*_ms")) if d.name.removesuffix("_ms") not in CAVE_TEST
             for p in sorted(d.iterdir()) if p.is_file()]
    files += [data / "airborne" / n for n in ("jasperRidge2_R198.mat", "Samson.mat")]
    files += [data / "airborne" / "abu" / f"{n}.mat" for n in AIRBORNE_TRAIN]
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise SystemExit(f"missing training files: {', '.join(missing[:5])}")
    return files


def fetch_wheels(dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    if not list(dest.glob("rasterio-*.whl")):
        plat = [a for p in PLATFORMS for a in ("--platform", p)]
        for name in WHEELS:
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                            "--python-version", "3.12", "--implementation", "cp", *plat, "-d", str(dest), name],
                           check=True)
    return sorted(dest.glob("*.whl"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / ".gpu")
    ap.add_argument("--piece-mib", type=float, default=48.0)
    a = ap.parse_args()
    limit = int(a.piece_mib * 2**20)
    wheels = fetch_wheels(a.out / "whl")
    items = [(w, Path("whl") / w.name) for w in wheels]
    items += [(f, Path("data") / f.relative_to(a.data)) for f in training_files(a.data)]
    for old in a.out.glob("p[0-9]*"):
        shutil.rmtree(old)
    pieces: list[list[tuple[Path, Path]]] = [[]]
    size = 0
    for src, rel in items:
        n = src.stat().st_size
        if n > limit:
            raise SystemExit(f"{src}: {n / 2**20:.1f} MiB is larger than a piece")
        if size + n > limit:
            pieces.append([])
            size = 0
        pieces[-1].append((src, rel))
        size += n
    lines = []
    for i, piece in enumerate(pieces, 1):
        folder = a.out / f"p{i}"
        for src, rel in piece:
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, folder / rel)
        mib = sum(s.stat().st_size for s, _ in piece) / 2**20
        lines.append(f"carry .gpu/p{i} ({mib:.1f} MiB, {len(piece)} files): bash scripts/gpu_remote.sh recv .gpu/p{i}")
    n = len(pieces)
    plan = "\n".join(lines + [
        f"then: bash scripts/gpu_remote.sh start {n}   (setup, CUDA tests, data sets, training in the background)",
        "then, until done: bash scripts/gpu_remote.sh watch 540   (status; results to $OUT/runs.tar.*)",
    ])
    (a.out / "plan.txt").write_text(plan + "\n")
    print(plan)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
