"""Regenerate ``golden_metrics.json``: metric values for two small deterministic cubes.

The cubes come from :func:`golden_cubes` (NumPy's PCG64 generator, stable across
versions). Values were computed with hsrcli's metrics and cross-checked against
scikit-image (PSNR, SSIM) and torchmetrics (SAM, ERGAS) when this file was made;
the test suite then guards them against regressions. They were made with the torch version of the
metrics, whose ``psnr_global`` rounded the global MSE to float32 (1.3e-9 and 3.9e-9 relative here, the
tolerance the test allows that key); the NumPy version keeps float64.

    python tests/data/make_golden.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def golden_cubes() -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """Two (SR, reference, scale) pairs shaped (C, H, W) on the [0, 1] scale."""
    rng = np.random.default_rng(20261121)
    # 1: smooth spectra (6 bands) on 24 x 20 pixels with additive noise.
    base = rng.random((1, 24, 20))
    ref1 = np.clip(base * np.linspace(0.3, 1.0, 6)[:, None, None] + 0.05 * rng.random((6, 24, 20)), 0, 1)
    sr1 = np.clip(ref1 + 0.02 * rng.standard_normal(ref1.shape), 0, 1)
    # 2: 8 bands on 16 x 16, with a zero spectrum in the reference and a gain error in SR.
    ref2 = rng.random((8, 16, 16))
    ref2[:, 3, 4] = 0.0
    sr2 = np.clip(0.9 * ref2 + 0.05 * rng.random(ref2.shape), 0, 1)
    return {"noisy": (sr1, ref1, 4.0), "gain": (sr2, ref2, 2.0)}


KEYS = ("psnr", "psnr_global", "ssim", "sam", "sam_skipped", "ergas", "rmse", "cc")


def main() -> None:
    from hsrcli.metrics import compute_metrics

    out = {}
    for name, (sr, ref, scale) in golden_cubes().items():
        m = compute_metrics(sr, ref, 1.0, scale)
        out[name] = {k: m[k] for k in KEYS}
    (HERE / "golden_metrics.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
