"""Make the README's example figures from the shipped sample.

The sample (90 × 90 × 224) is degraded ×3 (bicubic with antialiasing, as
``torch.nn.functional.interpolate``) to 30 × 30, then brought back to 90 × 90
by bicubic and by nearest-neighbour interpolation — two simple baselines whose
errors the figures show. Outputs go to ``docs/img/``.

    python scripts/make_readme_figures.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hsrcli.io import copy_scene, open_scene, open_writer

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "aviris_sample.hdr"
OUT = ROOT / "docs" / "img"
SCALE = 3


def _write(path: Path, meta, cube: np.ndarray) -> None:
    from rasterio.windows import Window

    with open_writer(path, meta.replace(rows=cube.shape[0], cols=cube.shape[1], dtype="float32"), "envi") as w:
        w.write(Window(0, 0, cube.shape[1], cube.shape[0]), cube.astype(np.float32))


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with open_scene(SAMPLE) as scene:
        meta = scene.meta
        hr = torch.from_numpy(scene.read().astype(np.float32).transpose(2, 0, 1))[None]
    lr = F.interpolate(hr, scale_factor=1 / SCALE, mode="bicubic", antialias=True, align_corners=False)
    bic = F.interpolate(lr, scale_factor=SCALE, mode="bicubic", align_corners=False)
    near = F.interpolate(lr, scale_factor=SCALE, mode="nearest")
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        ref = t / "reference.hdr"
        copy_scene(open_scene(SAMPLE), ref)
        for name, x in (("lr_x3", lr), ("bicubic_x3", bic), ("nearest_x3", near)):
            _write(t / f"{name}.hdr", meta, x[0].numpy().transpose(1, 2, 0))
        hsr = [sys.executable, "-m", "hsrcli"]
        subprocess.run([*hsr, "plot-spectra", str(ref), str(t / "lr_x3.hdr"), str(t / "bicubic_x3.hdr"),
                        "-p", "30,66", "-p", "62,20", "-o", str(OUT / "spectra_sample.png"), "--overwrite",
                        "--title", "AVIRIS sample: reference, ×3-degraded input and bicubic ×3"], check=True)
        subprocess.run([*hsr, "compare", str(ref), str(t / "bicubic_x3.hdr"), str(t / "nearest_x3.hdr"),
                        "-o", str(OUT / "compare_sample.png"), "--overwrite", "--data-range", "10000"], check=True)
    print(f"wrote {OUT / 'spectra_sample.png'} and {OUT / 'compare_sample.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
