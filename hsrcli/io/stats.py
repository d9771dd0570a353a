"""Per-band statistics computed by streaming over windows (no whole-scene load)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from hsrcli.io.scene import Scene


def band_stats(
    scene: Scene,
    max_bytes: int = 16 * 2**20,
    progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
    observe: Callable[[np.ndarray, np.ndarray], None] | None = None,
) -> list[dict[str, float | int | None]]:
    """Min, max and mean of every band, ignoring nodata and non-finite values.

    Returns one dict per band: ``band`` (0-based), ``wavelength`` (nm or None),
    ``min``, ``max``, ``mean`` (raw stored units; None when a band has no valid
    pixel) and ``valid`` (number of pixels counted). Windows hold at most
    ``max_bytes`` of stored data (their float64 working copies are 2–8× that). ``observe(raw,
    valid)``, if given, sees every window in the same pass: its stored values ``(pixels, B)`` and
    which are valid (same shape).
    """
    m = scene.meta
    lo = np.full(m.bands, np.inf)
    hi = np.full(m.bands, -np.inf)
    total = np.zeros(m.bands, dtype=np.float64)
    count = np.zeros(m.bands, dtype=np.int64)
    windows: Iterable[Any] = scene.windows(max_bytes)
    if progress is not None:
        windows = progress(list(windows))
    for window in windows:
        raw = scene.read(window).reshape(-1, m.bands)
        valid = ~m.missing_mask(raw)
        if observe is not None:
            observe(raw, valid)
        if valid.all():  # the common case: no float64 copies, no masking
            count += raw.shape[0]
            total += raw.sum(axis=0, dtype=np.float64)
            if raw.shape[0]:
                lo = np.minimum(lo, raw.min(axis=0))
                hi = np.maximum(hi, raw.max(axis=0))
            continue
        block = raw.astype(np.float64)
        count += valid.sum(axis=0)
        total += np.where(valid, block, 0.0).sum(axis=0)
        lo = np.minimum(lo, np.where(valid, block, np.inf).min(axis=0, initial=np.inf))
        hi = np.maximum(hi, np.where(valid, block, -np.inf).max(axis=0, initial=-np.inf))
    out = []
    for b in range(m.bands):
        ok = count[b] > 0
        out.append({
            "band": b,
            "wavelength": None if m.wavelengths is None else float(m.wavelengths[b]),
            "min": float(lo[b]) if ok else None,
            "max": float(hi[b]) if ok else None,
            "mean": float(total[b] / count[b]) if ok else None,
            "valid": int(count[b]),
        })
    return out
