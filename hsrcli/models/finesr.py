"""FineSR, DualSR's second stage: enhanced back-projection with a spectral-angle weight (§2.3).

A torch port of ``FineSR/backprojection.m``: given U, the coarse result at the
target scale s, and V, the coarse result at scale s/2 (from a second model),

    Z = bicubic(U, 1/2);  λ = min(SAM°(Z, V), 1);  D = λ·(V − Z);  U ← U + bicubic(D, 2)

repeated ``iters`` times (the published script runs once). SAM follows MATLAB's
``SAM.m``: ``real(acos((⟨z, v⟩ + eps) / ((‖z‖ + eps)(‖v‖ + eps))))`` averaged over all
pixels, in degrees, with eps = 2.2204e-16; λ is one scalar per image. Resizes are
MATLAB-compatible bicubic. Needs even image sizes (×3 is not supported by FineSR).
"""

from __future__ import annotations

import math

import torch

from hsrcli.models.resample import bicubic_resize

MATLAB_EPS = 2.220446049250313e-16


def sam_matlab_degrees(z: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Mean spectral angle per image in degrees, MATLAB ``SAM.m`` style: ``(N, B, H, W) → (N,)``."""
    dot = (z * v).sum(dim=1) + MATLAB_EPS
    norms = (z.norm(dim=1) + MATLAB_EPS) * (v.norm(dim=1) + MATLAB_EPS)
    # real(acos(c)) for |c| > 1 is 0 or π: clamping gives the same real part.
    angle = torch.arccos((dot / norms).clamp(-1.0, 1.0))
    return angle.mean(dim=(1, 2)) * (180.0 / math.pi)


def finesr(u: torch.Tensor, v: torch.Tensor, iters: int = 1) -> torch.Tensor:
    """Refine ``u`` ``(N, B, H, W)`` (×s result) with ``v`` ``(N, B, H/2, W/2)`` (×s/2 result)."""
    if u.ndim != 4 or v.ndim != 4:
        raise ValueError("finesr expects (N, B, H, W) tensors")
    if u.shape[-2] != 2 * v.shape[-2] or u.shape[-1] != 2 * v.shape[-1] or u.shape[:2] != v.shape[:2]:
        raise ValueError(f"U {tuple(u.shape)} must be exactly twice V {tuple(v.shape)} in rows and columns")
    if iters < 1:
        raise ValueError("iters must be >= 1")
    for _ in range(iters):
        z = bicubic_resize(u, 0.5)
        lam = sam_matlab_degrees(z, v).clamp(max=1.0)
        u = u + bicubic_resize(lam.view(-1, 1, 1, 1) * (v - z), 2)
    return u


def finesr_weight(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The back-projection weight λ ∈ [0, 1] of each image (for logging and tests)."""
    return sam_matlab_degrees(bicubic_resize(u, 0.5), v).clamp(max=1.0)
