"""HR → LR degradation models (also used by ``hsr upscale --refine`` and evaluation).

* ``bicubic`` — MATLAB-compatible antialiased bicubic (:mod:`hsrcli.ops.imresize`,
  the default because every published table used it) or, with
  ``method="torch"``, ``torch.nn.functional.interpolate(mode="bicubic",
  antialias=True)`` (PIL-like kernel, a = −0.75; faster, slightly different).
* ``gaussian`` — isotropic Gaussian blur of σ HR pixels (kernel radius ⌈3σ⌉,
  mirrored borders) followed by keeping every s-th pixel, starting at
  ``(s − 1) // 2`` so the kept samples sit at block centres (the "BD" model).
* optional additive white Gaussian noise, given as σ on the data scale or as an
  SNR in dB (σ = RMS(image) / 10^(SNR/20), per image).

All functions take ``(..., C, H, W)`` tensors on the data scale and return LR
tensors ``(..., C, H/s, W/s)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from hsrcli.choices import Bicubic, Kernel
from hsrcli.ops.imresize import imresize


def downsample(hr: torch.Tensor, scale: int, method: str = "matlab") -> torch.Tensor:
    """Antialiased bicubic downsampling by an integer ``scale`` (H, W must be multiples of it)."""
    h, w = hr.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"image {h} x {w} is not a multiple of the scale {scale}")
    if method == "matlab":
        return imresize(hr, size=(h // scale, w // scale))
    if method == "torch":
        lead = hr.shape[:-2]
        x = hr.reshape(-1, 1, h, w)
        y = F.interpolate(x, size=(h // scale, w // scale), mode="bicubic", antialias=True, align_corners=False)
        return y.reshape(*lead, h // scale, w // scale)
    raise ValueError(f"unknown bicubic method {method!r} (use {', '.join(Bicubic.values())})")


def upsample(lr: torch.Tensor, scale: int, method: str = "matlab") -> torch.Tensor:
    """Bicubic upsampling by an integer ``scale`` (the interpolation baseline)."""
    h, w = lr.shape[-2:]
    if method == "matlab":
        return imresize(lr, size=(h * scale, w * scale))
    lead = lr.shape[:-2]
    y = F.interpolate(lr.reshape(-1, 1, h, w), size=(h * scale, w * scale), mode="bicubic", align_corners=False)
    return y.reshape(*lead, h * scale, w * scale)


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """Normalised 1-D Gaussian of radius ⌈3σ⌉ (float64)."""
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable isotropic Gaussian blur of the last two dims, mirrored borders."""
    if sigma <= 0:
        return x
    k = gaussian_kernel(sigma).to(device=x.device, dtype=x.dtype)
    r = (k.numel() - 1) // 2
    lead, (h, w) = x.shape[:-2], x.shape[-2:]
    y = x.reshape(-1, 1, h, w)
    mode = "reflect" if min(h, w) > r else "replicate"
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode=mode), k.view(1, 1, 1, -1))
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode=mode), k.view(1, 1, -1, 1))
    return y.reshape(*lead, h, w)


def add_noise(x: torch.Tensor, *, sigma: float | None = None, snr_db: float | None = None,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """Additive white Gaussian noise of standard deviation ``sigma`` or at ``snr_db`` dB."""
    if sigma is None and snr_db is None:
        return x
    if snr_db is not None:
        sigma = float(x.pow(2).mean().sqrt()) / (10 ** (snr_db / 20))
    noise = torch.randn(x.shape, generator=generator, dtype=torch.float64).to(device=x.device, dtype=x.dtype)
    return x + sigma * noise


def degrade(
    hr: torch.Tensor,
    scale: int,
    *,
    kernel: str = "bicubic",
    sigma: float = 0.0,
    method: str = "matlab",
    noise_sigma: float | None = None,
    noise_snr: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Make the LR counterpart of ``hr`` (…, C, H, W) with a :class:`~hsrcli.choices.Kernel`."""
    if kernel == "bicubic":
        lr = downsample(gaussian_blur(hr, sigma) if sigma > 0 else hr, scale, method)
    elif kernel == "gaussian":
        if sigma <= 0:
            raise ValueError("the gaussian kernel needs sigma > 0")
        h, w = hr.shape[-2:]
        if h % scale or w % scale:
            raise ValueError(f"image {h} x {w} is not a multiple of the scale {scale}")
        off = (scale - 1) // 2
        lr = gaussian_blur(hr, sigma)[..., off::scale, off::scale]
    else:
        raise ValueError(f"unknown degradation kernel {kernel!r} (use {', '.join(Kernel.values())})")
    return add_noise(lr, sigma=noise_sigma, snr_db=noise_snr, generator=generator)


def recorded(description: dict | None) -> tuple[str, float]:
    """``(kernel, sigma)`` of a degradation a data set's manifest records (:func:`describe`, plus ``hsr
    prepare``'s ``sigmas_hr_px``): plain bicubic ``("bicubic", 0.0)`` when nothing is recorded or when a
    blur was drawn per patch among several (the degradation of any one image is then unknown)."""
    d = description or {}
    if len(set(d.get("sigmas_hr_px") or [])) > 1:
        return "bicubic", 0.0
    return str(d.get("kernel") or "bicubic"), float(d.get("sigma_hr_px") or 0.0)


def describe(kernel: str, sigma: float, method: str, noise_sigma: float | None, noise_snr: float | None) -> dict:
    """Manifest entry describing a degradation."""
    return {
        "kernel": kernel,
        "bicubic": ("matlab-imresize (Keys a=-0.5, antialiased, symmetric borders)" if method == "matlab"
                    else "torch interpolate bicubic antialias=True (a=-0.75)") if kernel == "bicubic" else None,
        "sigma_hr_px": sigma,
        "noise_sigma": noise_sigma,
        "noise_snr_db": noise_snr,
    }
