"""Quality metrics for hyperspectral super-resolution (NumPy, one image at a time).

These are the functions training validation uses; :mod:`hsrcli.metrics.stream`
computes the *same* numbers over a scene streamed window by window.

Conventions (ALGORITHMS.md §3; every one is explicit here):

* Images are arrays of shape ``(C, H, W)`` (bands, rows, cols) on the same scale (NumPy arrays,
  or anything :func:`numpy.asarray` takes: CPU torch tensors too — no torch here, so that
  ``hsr metrics`` starts without importing it);
  ``data_range`` is the value of "white" on that scale (1.0 for data normalised to
  [0, 1], 65535 for raw CAVE counts, ...). Arithmetic is float64 (SSIM: see below).
* **PSNR** = mean over bands of ``10·log10(R² / MSE_b)`` (MPSNR, SSPSR/MSDformer
  convention); ``psnr_global`` = ``10·log10(R² / MSE)`` over the whole cube
  (DualSR convention). A band (or cube) with MSE = 0 counts as 100 dB, as in DualSR.
* **SSIM** per band with an 11 × 11 Gaussian window (σ = 1.5), K1 = 0.01,
  K2 = 0.03, population (co)variances, averaged over the *valid* part of the
  SSIM map (no padding: the outer 5 pixels are not centres), then over bands
  (Wang et al. 2004; equals scikit-image with ``gaussian_weights=True,
  use_sample_covariance=False`` and torchmetrics' default). The separable filter runs in
  float32 on mean-centred bands and the map is summed in float64 (agrees with a float64
  2-D convolution to ~1e-9 relative).
* **SAM** in degrees: per pixel ``arccos(<x̂, x> / (‖x̂‖·‖x‖))`` with the cosine
  clipped to [−1, 1], averaged over pixels. Pixels where either spectrum has zero
  norm have no angle and are **skipped** (SSPSR convention); how many were
  skipped is reported as ``sam_skipped``.
* **ERGAS** = ``(100 / s) · sqrt(mean_b(MSE_b / μ_b²))`` with ``s`` the scale
  factor and ``μ_b`` the reference band mean (bands with μ_b = 0 are left out).
* **RMSE** = ``sqrt(MSE) / R``: global, on the [0, 1] scale.
* **CC** = mean over bands of the Pearson correlation of reference and estimate
  (bands where either is constant are left out).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from hsrcli.io.resources import usable_cpus

PSNR_CAP_DB = 100.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
SSIM_HALO = SSIM_WINDOW // 2  # pixels lost on each side of the valid SSIM map


def _f64(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def band64(a: np.ndarray, clip_to: float | None = None) -> np.ndarray:
    """One band (any dtype) as float64, clipped to ``[0, clip_to]`` when given (a new array)."""
    out = np.array(a, dtype=np.float64)
    return out if clip_to is None else np.clip(out, 0.0, clip_to, out=out)


def check_pair(sr: np.ndarray, ref: np.ndarray) -> None:
    """Raise ``ValueError`` unless both are ``(C, H, W)`` arrays of the same shape."""
    if sr.ndim != 3 or ref.ndim != 3:
        raise ValueError(f"expected (C, H, W) arrays, got {tuple(sr.shape)} and {tuple(ref.shape)}")
    if sr.shape != ref.shape:
        raise ValueError(f"shape mismatch: SR {tuple(sr.shape)} vs reference {tuple(ref.shape)}")


def psnr_from_mse(mse: ArrayLike, data_range: float) -> np.ndarray:
    """``10·log10(R²/MSE)`` elementwise, 100 dB where MSE = 0."""
    mse = _f64(mse)
    out = 10.0 * np.log10(data_range**2 / np.maximum(mse, 1e-300))
    return np.where(mse > 0, np.minimum(out, PSNR_CAP_DB), PSNR_CAP_DB)


def mse_per_band(sr: ArrayLike, ref: ArrayLike) -> np.ndarray:
    """Mean squared error of each band, shape ``(C,)``."""
    x, y = _f64(sr), _f64(ref)
    check_pair(x, y)
    return ((x - y) ** 2).mean(axis=(1, 2))


def psnr_per_band(sr: ArrayLike, ref: ArrayLike, data_range: float) -> np.ndarray:
    """PSNR of each band in dB, shape ``(C,)``."""
    return psnr_from_mse(mse_per_band(sr, ref), data_range)


def gaussian_taps(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """Normalised 1-D Gaussian, shape ``(size,)``, float64: the SSIM window is its outer product."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


_TAPS = gaussian_taps().tolist()


def _valid_filter(t: np.ndarray, axis: int) -> np.ndarray:
    """Valid (unpadded) correlation of float32 ``t`` with the SSIM Gaussian along ``axis``: a sum of
    shifted slices (several times faster than a general convolution with so short a kernel)."""
    n = t.shape[axis] - SSIM_WINDOW + 1

    def shifted(k: int) -> np.ndarray:
        return t[(slice(None),) * axis + (slice(k, k + n),)]

    half = SSIM_HALO  # the window is symmetric: pairs of taps k, 10 − k share a weight
    out = shifted(half) * np.float32(_TAPS[half])
    term = np.empty_like(out)
    for k in range(half):
        np.add(shifted(k), shifted(SSIM_WINDOW - 1 - k), out=term)
        term *= np.float32(_TAPS[k])
        out += term
    return out


#: Most pixels (rows × columns) of a band's SSIM map computed at once: larger maps are computed in pieces
#: of fewer columns, so that the five filtered planes (~640 KB float32) stay in a core's L2 cache. SSIM of one
#: 42-row strip of 2048² × 64 float32 on the 2-core EPYC VM (1 MB L2 per core), 2026-11-25, best of 5: whole
#: rows 184–186 ms; pieces of 16 K / 32 K / 64 K px 138 / 108 / 186 ms on two threads (one thread: 131 ms
#: with 16 K).
SSIM_PIECE_PIXELS = 32 * 1024


def _ssim_band(x: np.ndarray, y: np.ndarray, data_range: float) -> np.ndarray:
    """Valid SSIM map ``(H − 10, W − 10)`` float32 of one band pair ``(H, W)``.

    Filtering runs in float32 on data centred by the reference band's mean (the
    (co)variances are shift-invariant and centring removes most of the cancellation in
    ``E[x²] − μ²``); the means are shifted back before the luminance term. Large maps are
    computed in pieces of columns of at most :data:`SSIM_PIECE_PIXELS` (the same values).
    """
    mean = _f64(y).mean()
    xc, yc = (_f64(x) - mean).astype(np.float32), (_f64(y) - mean).astype(np.float32)
    n = xc.shape[1] - SSIM_WINDOW + 1
    pieces = -(-n * max(1, xc.shape[0] - SSIM_WINDOW + 1) // SSIM_PIECE_PIXELS)
    if pieces <= 1:
        return _ssim_piece(xc, yc, np.float32(mean), data_range)
    width = -(-n // min(pieces, n))
    span = width + SSIM_WINDOW - 1
    return np.concatenate([_ssim_piece(xc[:, c:c + span], yc[:, c:c + span], np.float32(mean), data_range)
                           for c in range(0, n, width)], axis=1)


def _ssim_piece(xc: np.ndarray, yc: np.ndarray, shift: np.float32, data_range: float) -> np.ndarray:
    """Valid SSIM map of centred float32 planes ``(h, w)`` whose centring ``shift`` is added back."""
    mu_x, mu_y, exx, eyy, exy = _valid_filter(_valid_filter(np.stack([xc, yc, xc * xc, yc * yc, xc * yc]), 1), 2)
    sxx, syy, sxy = exx - mu_x * mu_x, eyy - mu_y * mu_y, exy - mu_x * mu_y
    mu_x, mu_y = mu_x + shift, mu_y + shift
    c1, c2 = np.float32((SSIM_K1 * data_range) ** 2), np.float32((SSIM_K2 * data_range) ** 2)
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (sxx + syy + c2)
    return num / den


def _check_ssim_size(ref: np.ndarray) -> None:
    h, w = ref.shape[-2:]
    if h < SSIM_WINDOW or w < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW} x {SSIM_WINDOW} pixels, got {h} x {w}")


def _by_band(fn: Callable[[np.ndarray, np.ndarray], object], sr: np.ndarray, ref: np.ndarray) -> list[Any]:
    """``[fn(sr[b], ref[b]) for b in bands]``, the bands spread over the usable CPUs (NumPy releases
    the GIL inside its loops; each band is computed alone, so the results do not depend on the count)."""
    workers = min(usable_cpus(), len(sr))
    if workers < 2:
        return [fn(a, b) for a, b in zip(sr, ref)]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, sr, ref))


def ssim_map(sr: ArrayLike, ref: ArrayLike, data_range: float) -> np.ndarray:
    """Valid SSIM map of each band, shape ``(C, H − 10, W − 10)``, float32."""
    sr, ref = np.asarray(sr), np.asarray(ref)
    check_pair(sr, ref)
    _check_ssim_size(ref)
    return np.stack(_by_band(lambda a, b: _ssim_band(a, b, data_range), sr, ref))


def whole_windows(valid: np.ndarray) -> np.ndarray:
    """``(H − 10, W − 10)`` bool: the SSIM centres whose whole window is ``valid`` ``(H, W)`` (a
    summed-area table of the invalid pixels: exact counts)."""
    table = np.zeros((valid.shape[0] + 1, valid.shape[1] + 1), dtype=np.int64)
    np.cumsum(np.cumsum(~valid, axis=0), axis=1, out=table[1:, 1:])
    w = SSIM_WINDOW
    bad = table[w:, w:] - table[:-w, w:] - table[w:, :-w] + table[:-w, :-w]
    return bad == 0


def ssim_sums(sr: ArrayLike, ref: ArrayLike, data_range: float, valid: np.ndarray | None = None,
              clip_to: float | None = None) -> tuple[np.ndarray, int]:
    """Sum of the valid SSIM map of each band ``(C,)`` float64 and the number of centres per band.

    ``sr``, ``ref``: ``(C, H, W)`` of any dtype (each band is made float64 alone, SR clipped to
    ``[0, clip_to]`` when given). ``valid`` (H, W) bool: pixels that may enter a window (nodata
    excluded); only the centres whose whole window is valid count. Each band is filtered alone (its
    maps stay in cache), bands in parallel, and summed in float64.
    """
    sr, ref = np.asarray(sr), np.asarray(ref)
    check_pair(sr, ref)
    _check_ssim_size(ref)
    h, w = ref.shape[-2:]
    if valid is None:
        invalid, inside, count = None, None, (h - SSIM_WINDOW + 1) * (w - SSIM_WINDOW + 1)
    else:
        invalid = ~np.asarray(valid, dtype=bool)
        inside = whole_windows(~invalid)
        count = int(inside.sum())

    def band_sum(a: np.ndarray, b: np.ndarray) -> float:
        x, y = band64(a, clip_to), band64(b)
        if invalid is not None:  # no NaN/nodata in any window
            x[invalid], y[invalid] = 0.0, 0.0
        m = _ssim_band(x, y, data_range)
        return (m if inside is None else m[inside]).sum(dtype=np.float64)

    return np.array(_by_band(band_sum, sr, ref)), count


def ssim_per_band(sr: ArrayLike, ref: ArrayLike, data_range: float) -> np.ndarray:
    """Mean SSIM of each band, shape ``(C,)``, float64."""
    sums, n = ssim_sums(sr, ref, data_range)
    return sums / n


def sam_map(sr: ArrayLike, ref: ArrayLike) -> np.ndarray:
    """Spectral angle of each pixel in degrees, shape ``(H, W)``, float64; NaN where a norm is 0."""
    x, y = _f64(sr), _f64(ref)
    check_pair(x, y)
    return spectral_angles((x * y).sum(axis=0), (x * x).sum(axis=0), (y * y).sum(axis=0))


def spectral_angles(dot: np.ndarray, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """Angles in degrees from per-pixel sums over bands of ``x·y``, ``x²`` and ``y²`` (float64); NaN
    where a norm is 0."""
    norms = np.sqrt(xx) * np.sqrt(yy)
    cos = np.clip(dot / np.maximum(norms, 1e-300), -1.0, 1.0)
    return np.where(norms > 0, np.degrees(np.arccos(cos)), np.nan)


def compute_metrics(
    sr: ArrayLike,
    ref: ArrayLike,
    data_range: float,
    scale: float | None = None,
    valid: np.ndarray | None = None,
) -> dict[str, float | int | list[float] | list[float | None] | None]:
    """Every metric of this module for one image pair ``(C, H, W)``; with ``valid`` ``(H, W)`` bool, of
    those pixels only (SSIM: of the windows made of them), as ``hsr metrics`` leaves nodata out.

    Returns ``psnr``, ``psnr_global``, ``ssim`` (None when the image is smaller
    than the SSIM window), ``sam`` (degrees), ``sam_skipped``, ``ergas`` (None
    without ``scale``), ``rmse``, ``cc``, ``data_range``, ``bands``, ``pixels`` and
    the per-band lists ``psnr_per_band``, ``ssim_per_band``, ``cc_per_band``.
    """
    if valid is not None and not np.all(valid):
        from hsrcli.metrics.stream import MetricAccumulator  # built on this module

        check_pair(np.asarray(sr), np.asarray(ref))
        acc = MetricAccumulator(len(np.asarray(ref)), data_range, scale)
        acc.add_pixels(sr, ref, valid)
        acc.add_ssim(sr, ref, valid)
        return acc.result()
    x, y = _f64(sr), _f64(ref)
    check_pair(x, y)
    _, h, w = y.shape
    mse_b = ((x - y) ** 2).mean(axis=(1, 2))
    ssim_b = ssim_per_band(x, y, data_range) if min(h, w) >= SSIM_WINDOW else None
    angles = sam_map(x, y)
    valid = ~np.isnan(angles)
    mu = y.mean(axis=(1, 2))
    xc, yc = x - x.mean(axis=(1, 2), keepdims=True), y - mu[:, None, None]
    denom = np.sqrt((xc * xc).sum(axis=(1, 2)) * (yc * yc).sum(axis=(1, 2)))
    cc_b = np.where(denom > 0, (xc * yc).sum(axis=(1, 2)) / np.maximum(denom, 1e-300), np.nan)
    return finalize(
        mse_b=mse_b, mu_b=mu, cc_b=cc_b, ssim_b=ssim_b,
        sam_sum=float(angles[valid].sum()), sam_count=int(valid.sum()), pixels=h * w,
        data_range=data_range, scale=scale,
    )


def _nanmean(a: np.ndarray) -> float | None:
    a = a[~np.isnan(a)]
    return float(a.mean()) if a.size else None


def finalize(
    *,
    mse_b: np.ndarray,
    mu_b: np.ndarray,
    cc_b: np.ndarray,
    ssim_b: np.ndarray | None,
    sam_sum: float,
    sam_count: int,
    pixels: int,
    data_range: float,
    scale: float | None,
) -> dict[str, float | int | list[float] | list[float | None] | None]:
    """Assemble the metrics dict from per-band statistics (``(C,)`` float64 arrays; shared with
    streaming)."""
    psnr_b = psnr_from_mse(mse_b, data_range)
    mse = float(mse_b.mean())
    ergas = None
    if scale:
        ok = mu_b != 0
        if ok.any():
            ergas = float(100.0 / scale * math.sqrt(float((mse_b[ok] / mu_b[ok] ** 2).mean())))
    return {
        "psnr": float(psnr_b.mean()),
        "psnr_global": float(psnr_from_mse(mse, data_range)),
        "ssim": None if ssim_b is None else float(ssim_b.mean()),
        "sam": sam_sum / sam_count if sam_count else None,
        "sam_skipped": pixels - sam_count,
        "ergas": ergas,
        "rmse": math.sqrt(mse) / data_range,
        "cc": _nanmean(cc_b),
        "data_range": float(data_range),
        "scale": scale,
        "bands": int(mse_b.size),
        "pixels": int(pixels),
        "psnr_per_band": [float(v) for v in psnr_b],
        "ssim_per_band": None if ssim_b is None else [float(v) for v in ssim_b],
        "cc_per_band": [None if math.isnan(v) else float(v) for v in cc_b.tolist()],
        "rmse_per_band": [math.sqrt(float(v)) / data_range for v in mse_b],
    }
