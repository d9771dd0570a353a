"""FineSR, DualSR's second stage: enhanced back-projection with a spectral-angle weight (§2.3).

A torch port of ``FineSR/backprojection.m``: given U, the coarse result at the
target scale s, and V, the coarse result at scale s/2 (from a second model, or the
LR input itself for s = 2),

    Z = bicubic(U, 1/2);  λ = min(SAM°(Z, V), 1);  D = λ·(V − Z);  U ← U + bicubic(D, 2)

repeated ``iters`` times (the published script runs once). SAM follows MATLAB's
``SAM.m``: ``real(acos((⟨z, v⟩ + eps) / ((‖z‖ + eps)(‖v‖ + eps))))`` averaged over all
pixels, in degrees, with eps = 2.2204e-16; λ is one scalar per image. Resizes are
MATLAB-compatible bicubic. Needs even image sizes (×3 is not supported by FineSR).

Because ``bicubic(·, 2)`` is linear, one pass is ``U + λ·C`` with the correction
``C = bicubic(V − Z, 2)``: :func:`finesr_terms` returns C and the per-pixel angles so
that a tiled caller can blend U and C tile by tile and apply the whole-image λ at the
end (what ``hsr upscale --refine`` does).
"""

from __future__ import annotations

import math

import torch

from hsrcli.models.resample import bicubic_resize

MATLAB_EPS = 2.220446049250313e-16


def spectral_angles_matlab(z: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Per-pixel spectral angle in degrees, MATLAB ``SAM.m`` style: ``(N, B, H, W) → (N, H, W)``."""
    dot = (z * v).sum(dim=1) + MATLAB_EPS
    norms = (z.norm(dim=1) + MATLAB_EPS) * (v.norm(dim=1) + MATLAB_EPS)
    # real(acos(c)) for |c| > 1 is 0 or π: clamping gives the same real part.
    return torch.arccos((dot / norms).clamp(-1.0, 1.0)) * (180.0 / math.pi)


def sam_matlab_degrees(z: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Mean spectral angle per image in degrees, MATLAB ``SAM.m`` style: ``(N, B, H, W) → (N,)``."""
    return spectral_angles_matlab(z, v).mean(dim=(1, 2))


def weight_from_sam(sam_degrees: torch.Tensor | float) -> torch.Tensor:
    """FineSR's back-projection weight λ = min(SAM°, 1) (no hyper-parameter)."""
    return torch.as_tensor(sam_degrees).clamp(max=1.0)


def _check_pair(u: torch.Tensor, v: torch.Tensor) -> None:
    if u.ndim != 4 or v.ndim != 4:
        raise ValueError("finesr expects (N, B, H, W) tensors")
    if u.shape[-2] != 2 * v.shape[-2] or u.shape[-1] != 2 * v.shape[-1] or u.shape[:2] != v.shape[:2]:
        raise ValueError(f"U {tuple(u.shape)} must be exactly twice V {tuple(v.shape)} in rows and columns")


def finesr_terms(u: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One back-projection step without its weight.

    ``u`` ``(N, B, H, W)`` is the ×s result, ``v`` ``(N, B, H/2, W/2)`` the ×s/2 result.
    Returns the correction ``C = bicubic(V − bicubic(U, 1/2), 2)`` ``(N, B, H, W)`` and the
    spectral angles between ``bicubic(U, 1/2)`` and V ``(N, H/2, W/2)`` in degrees; the
    refined image is ``U + λ·C`` with ``λ = min(mean angle, 1)``.
    """
    _check_pair(u, v)
    z = bicubic_resize(u, 0.5)
    return bicubic_resize(v - z, 2), spectral_angles_matlab(z, v)


def finesr(u: torch.Tensor, v: torch.Tensor, iters: int = 1) -> torch.Tensor:
    """Refine ``u`` ``(N, B, H, W)`` (×s result) with ``v`` ``(N, B, H/2, W/2)`` (×s/2 result)."""
    _check_pair(u, v)
    if iters < 1:
        raise ValueError("iters must be >= 1")
    for _ in range(iters):
        correction, angles = finesr_terms(u, v)
        lam = weight_from_sam(angles.mean(dim=(1, 2)))
        u = u + lam.view(-1, 1, 1, 1).to(u.dtype) * correction
    return u


def finesr_weight(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The back-projection weight λ ∈ [0, 1] of each image (for logging and tests)."""
    return weight_from_sam(sam_matlab_degrees(bicubic_resize(u, 0.5), v))
