"""False-colour composites of hyperspectral scenes (streamed, decimated previews)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from rasterio.windows import Window

from hsrcli.errors import HsrInputError
from hsrcli.io.meta import SceneMeta
from hsrcli.io.scene import Scene

#: Target wavelengths (nm) of the red, green and blue channels of a true-colour view.
TRUE_COLOUR_NM = (640.0, 550.0, 460.0)


def rgb_bands(meta: SceneMeta, spec: str | None = None) -> list[int]:
    """0-based bands for R, G, B.

    ``spec`` is ``"640,550,460"`` (wavelengths in nm when the scene has wavelengths,
    otherwise 1-based band numbers) or ``"b12,b8,b3"`` (1-based band numbers). By
    default the bands nearest 640/550/460 nm, or for scenes without wavelengths the
    bands at 3/4, 1/2 and 1/4 of the band range.
    """
    if spec:
        parts = [p.strip() for p in spec.split(",")]
        if len(parts) != 3:
            raise HsrInputError(f"--rgb needs three values, got {spec!r}")
        out = []
        for p in parts:
            try:
                if p.lower().startswith("b") or meta.wavelengths is None:
                    k = int(p.lstrip("bB")) - 1
                    if not 0 <= k < meta.bands:
                        raise HsrInputError(f"--rgb band {p} outside 1-{meta.bands}")
                    out.append(k)
                else:
                    out.append(int(np.argmin(np.abs(meta.wavelengths - float(p)))))
            except ValueError:
                raise HsrInputError(f"bad --rgb value {p!r} (wavelength in nm or b<band number>)") from None
        return out
    if meta.wavelengths is not None:
        return [int(np.argmin(np.abs(meta.wavelengths - w))) for w in TRUE_COLOUR_NM]
    b = meta.bands
    return [min(b - 1, (3 * b) // 4), b // 2, b // 4]


def read_preview(scene: Scene, bands: Sequence[int], max_side: int = 1024,
                 rows: tuple[int, int] | None = None, cols: tuple[int, int] | None = None) -> tuple[np.ndarray, int]:
    """Read ``bands`` of a region, keeping every ``step``-th row and column.

    Returns ``(array (h, w, len(bands)) float64, step)`` where ``step`` is chosen so
    the longer side is at most ``max_side``. Streams row strips, so memory stays at
    one strip of the selected bands.
    """
    r0, r1 = rows or (0, scene.meta.rows)
    c0, c1 = cols or (0, scene.meta.cols)
    step = max(1, math.ceil(max(r1 - r0, c1 - c0) / max_side))
    strip = max(step, (4096 // step) * step)
    out = []
    for a in range(r0, r1, strip):
        b = min(a + strip, r1)
        block = scene.read(Window(c0, a, c1 - c0, b - a), list(bands))
        out.append(block[::step, ::step].astype(np.float64))
    return np.concatenate(out, axis=0), step


def stretch_limits(rgb: np.ndarray, low: float = 2.0, high: float = 98.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel percentile limits (ignoring NaN; a channel without any value: 0 and 1) for a contrast stretch."""
    flat = rgb.reshape(-1, rgb.shape[-1])
    empty = np.isnan(flat).all(axis=0)
    flat = np.where(empty, 0.0, flat)  # no all-NaN slice for numpy to warn about
    lo = np.where(empty, 0.0, np.nanpercentile(flat, low, axis=0))
    hi = np.where(empty, 1.0, np.nanpercentile(flat, high, axis=0))
    return lo, np.where(hi > lo, hi, lo + 1e-12)


def stretch(rgb: np.ndarray, limits: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Linear contrast stretch to [0, 1] (percentile limits by default); NaN → 0."""
    lo, hi = limits if limits is not None else stretch_limits(rgb)
    return np.nan_to_num(np.clip((rgb - lo) / (hi - lo), 0.0, 1.0))
