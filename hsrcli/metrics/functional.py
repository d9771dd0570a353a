"""Quality metrics for hyperspectral super-resolution (torch, one image at a time).

These are the functions training validation uses; :mod:`hsrcli.metrics.stream`
computes the *same* numbers over a scene streamed window by window.

Conventions (ALGORITHMS.md §3; every one is explicit here):

* Images are tensors of shape ``(C, H, W)`` (bands, rows, cols) on the same scale;
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

import torch
import torch.nn.functional as F

PSNR_CAP_DB = 100.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
SSIM_HALO = SSIM_WINDOW // 2  # pixels lost on each side of the valid SSIM map


def _f64(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float64)


def check_pair(sr: torch.Tensor, ref: torch.Tensor) -> None:
    """Raise ``ValueError`` unless both are ``(C, H, W)`` tensors of the same shape."""
    if sr.ndim != 3 or ref.ndim != 3:
        raise ValueError(f"expected (C, H, W) tensors, got {tuple(sr.shape)} and {tuple(ref.shape)}")
    if sr.shape != ref.shape:
        raise ValueError(f"shape mismatch: SR {tuple(sr.shape)} vs reference {tuple(ref.shape)}")


def psnr_from_mse(mse: torch.Tensor, data_range: float) -> torch.Tensor:
    """``10·log10(R²/MSE)`` elementwise, 100 dB where MSE = 0."""
    mse = _f64(mse)
    out = 10.0 * torch.log10(data_range**2 / mse.clamp_min(1e-300))
    return torch.where(mse > 0, out.clamp(max=PSNR_CAP_DB), torch.full_like(out, PSNR_CAP_DB))


def mse_per_band(sr: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Mean squared error of each band, shape ``(C,)``."""
    check_pair(sr, ref)
    return (_f64(sr) - _f64(ref)).pow(2).mean(dim=(1, 2))


def psnr_per_band(sr: torch.Tensor, ref: torch.Tensor, data_range: float) -> torch.Tensor:
    """PSNR of each band in dB, shape ``(C,)``."""
    return psnr_from_mse(mse_per_band(sr, ref), data_range)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """Normalised 2-D Gaussian window, shape ``(size, size)``, float64."""
    g = gaussian_taps(size, sigma)
    return torch.outer(g, g)


def gaussian_taps(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """Normalised 1-D Gaussian, shape ``(size,)``, float64: the window is its outer product."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


_TAPS = gaussian_taps().tolist()


def _valid_filter(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Valid (unpadded) correlation of ``t`` with the SSIM Gaussian along ``dim``: a sum of shifted
    slices, which on a CPU is several times faster than ``conv2d`` with a one-channel kernel."""
    n = t.shape[dim] - SSIM_WINDOW + 1
    out = t.narrow(dim, 0, n) * _TAPS[0]
    for k in range(1, SSIM_WINDOW):
        out.add_(t.narrow(dim, k, n), alpha=_TAPS[k])
    return out


def _ssim_band(x: torch.Tensor, y: torch.Tensor, data_range: float) -> torch.Tensor:
    """Valid SSIM map ``(H − 10, W − 10)`` float32 of one band pair ``(H, W)``.

    Filtering runs in float32 on data centred by the reference band's mean (the
    (co)variances are shift-invariant and centring removes most of the cancellation in
    ``E[x²] − μ²``); the means are shifted back before the luminance term.
    """
    mean = _f64(y).mean()
    xc, yc = (_f64(x) - mean).float(), (_f64(y) - mean).float()
    f = _valid_filter(_valid_filter(torch.stack([xc, yc, xc * xc, yc * yc, xc * yc]), 1), 2)
    mu_x, mu_y, exx, eyy, exy = f
    sxx, syy, sxy = exx - mu_x * mu_x, eyy - mu_y * mu_y, exy - mu_x * mu_y
    shift = float(mean)
    mu_x, mu_y = mu_x + shift, mu_y + shift
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (sxx + syy + c2)
    return num / den


def _check_ssim_size(ref: torch.Tensor) -> None:
    h, w = ref.shape[-2:]
    if h < SSIM_WINDOW or w < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW} x {SSIM_WINDOW} pixels, got {h} x {w}")


def ssim_map(sr: torch.Tensor, ref: torch.Tensor, data_range: float) -> torch.Tensor:
    """Valid SSIM map of each band, shape ``(C, H − 10, W − 10)``, float32."""
    check_pair(sr, ref)
    _check_ssim_size(ref)
    return torch.stack([_ssim_band(a, b, data_range) for a, b in zip(sr, ref)])


def ssim_sums(sr: torch.Tensor, ref: torch.Tensor, data_range: float,
              valid: torch.Tensor | None = None) -> tuple[torch.Tensor, int]:
    """Sum of the valid SSIM map of each band ``(C,)`` float64 and the number of centres per band.

    ``valid`` (H, W) bool: pixels that may enter a window (nodata excluded); only the
    centres whose whole window is valid count. Bands are processed one at a time
    (their maps stay in cache) and summed in float64.
    """
    check_pair(sr, ref)
    _check_ssim_size(ref)
    h, w = ref.shape[-2:]
    if valid is None:
        sums = torch.stack([_f64(_ssim_band(a, b, data_range)).sum() for a, b in zip(sr, ref)])
        return sums, (h - SSIM_WINDOW + 1) * (w - SSIM_WINDOW + 1)
    inside = F.avg_pool2d(valid[None, None].to(torch.float32), SSIM_WINDOW, stride=1)[0, 0] > 1 - 1e-6
    zero = torch.zeros((), dtype=sr.dtype)
    sr, ref = torch.where(valid, sr, zero), torch.where(valid, ref, zero)  # no NaN/nodata in any window
    sums = torch.stack([_f64(_ssim_band(a, b, data_range))[inside].sum() for a, b in zip(sr, ref)])
    return sums, int(inside.sum())


def ssim_per_band(sr: torch.Tensor, ref: torch.Tensor, data_range: float) -> torch.Tensor:
    """Mean SSIM of each band, shape ``(C,)``, float64."""
    sums, n = ssim_sums(sr, ref, data_range)
    return sums / n


def sam_map(sr: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Spectral angle of each pixel in degrees, shape ``(H, W)``; NaN where a norm is 0."""
    check_pair(sr, ref)
    x, y = _f64(sr), _f64(ref)
    dot = (x * y).sum(0)
    norms = x.norm(dim=0) * y.norm(dim=0)
    cos = (dot / norms.clamp_min(1e-300)).clamp(-1.0, 1.0)
    angle = torch.rad2deg(torch.arccos(cos))
    return torch.where(norms > 0, angle, torch.full_like(angle, float("nan")))


def compute_metrics(
    sr: torch.Tensor,
    ref: torch.Tensor,
    data_range: float,
    scale: float | None = None,
) -> dict[str, float | int | list[float] | None]:
    """Every metric of this module for one image pair ``(C, H, W)``.

    Returns ``psnr``, ``psnr_global``, ``ssim`` (None when the image is smaller
    than the SSIM window), ``sam`` (degrees), ``sam_skipped``, ``ergas`` (None
    without ``scale``), ``rmse``, ``cc``, ``data_range``, ``bands``, ``pixels`` and
    the per-band lists ``psnr_per_band``, ``ssim_per_band``, ``cc_per_band``.
    """
    check_pair(sr, ref)
    x, y = _f64(sr), _f64(ref)
    _, h, w = y.shape
    mse_b = (x - y).pow(2).mean(dim=(1, 2))
    psnr_b = psnr_from_mse(mse_b, data_range)
    ssim_b = ssim_per_band(x, y, data_range) if min(h, w) >= SSIM_WINDOW else None
    angles = sam_map(x, y)
    valid = ~torch.isnan(angles)
    mu = y.mean(dim=(1, 2))
    xc, yc = x - x.mean(dim=(1, 2), keepdim=True), y - mu.view(-1, 1, 1)
    denom = torch.sqrt(xc.pow(2).sum(dim=(1, 2)) * yc.pow(2).sum(dim=(1, 2)))
    cc_b = torch.where(denom > 0, (xc * yc).sum(dim=(1, 2)) / denom.clamp_min(1e-300),
                       torch.full_like(denom, float("nan")))
    return finalize(
        mse_b=mse_b, mu_b=mu, cc_b=cc_b, ssim_b=ssim_b,
        sam_sum=float(angles[valid].sum()), sam_count=int(valid.sum()), pixels=h * w,
        data_range=data_range, scale=scale, psnr_b=psnr_b,
    )


def _nanmean(t: torch.Tensor) -> float | None:
    t = t[~torch.isnan(t)]
    return float(t.mean()) if t.numel() else None


def finalize(
    *,
    mse_b: torch.Tensor,
    mu_b: torch.Tensor,
    cc_b: torch.Tensor,
    ssim_b: torch.Tensor | None,
    sam_sum: float,
    sam_count: int,
    pixels: int,
    data_range: float,
    scale: float | None,
    psnr_b: torch.Tensor | None = None,
) -> dict[str, float | int | list[float] | None]:
    """Assemble the metrics dict from per-band statistics (shared with streaming)."""
    if psnr_b is None:
        psnr_b = psnr_from_mse(mse_b, data_range)
    mse = float(mse_b.mean())
    ergas = None
    if scale:
        ok = mu_b != 0
        if bool(ok.any()):
            ergas = float(100.0 / scale * torch.sqrt((mse_b[ok] / mu_b[ok].pow(2)).mean()))
    return {
        "psnr": float(psnr_b.mean()),
        "psnr_global": float(psnr_from_mse(torch.tensor(mse), data_range)),
        "ssim": None if ssim_b is None else float(ssim_b.mean()),
        "sam": sam_sum / sam_count if sam_count else None,
        "sam_skipped": pixels - sam_count,
        "ergas": ergas,
        "rmse": math.sqrt(mse) / data_range,
        "cc": _nanmean(cc_b),
        "data_range": float(data_range),
        "scale": scale,
        "bands": int(mse_b.numel()),
        "pixels": int(pixels),
        "psnr_per_band": [float(v) for v in psnr_b],
        "ssim_per_band": None if ssim_b is None else [float(v) for v in ssim_b],
        "cc_per_band": [None if math.isnan(v) else float(v) for v in cc_b.tolist()],
        "rmse_per_band": [math.sqrt(float(v)) / data_range for v in mse_b],
    }
