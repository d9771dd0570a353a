"""Training losses: L1, spectral angle, spatial-spectral gradient, HLoss and the LKCA-KD loss.

Conventions (ALGORITHMS.md §1.5, the SSPSR/MSDformer/CST "HLoss" line):

* SAM loss: mean over pixels of arccos(⟨x, y⟩ / (‖x‖·‖y‖)) **divided by π** (radians
  normalised to [0, 1]); norms guarded by ε = 1e-6 and the cosine clamped to
  [−1 + ε, 1 − ε] so the gradient stays finite.
* Gradient term: the magnitude G(X) = sqrt(Δx² + Δy² + Δλ² + 1e-6) of forward
  differences along width, height and band, on the common (B−1)×(H−1)×(W−1) support.

All take ``(N, B, H, W)`` tensors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-6


def sam_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean spectral angle / π between ``x`` and ``y`` (differentiable)."""
    dot = (x * y).sum(dim=1)
    norms = x.norm(dim=1).clamp_min(EPS) * y.norm(dim=1).clamp_min(EPS)
    cos = (dot / norms).clamp(-1 + EPS, 1 - EPS)
    return torch.arccos(cos).mean() / torch.pi


def gradient_magnitude(x: torch.Tensor) -> torch.Tensor:
    """sqrt(Δx² + Δy² + Δλ² + 1e-6) on the common support, shape (N, B−1, H−1, W−1)."""
    dx = x[:, :-1, :-1, 1:] - x[:, :-1, :-1, :-1]
    dy = x[:, :-1, 1:, :-1] - x[:, :-1, :-1, :-1]
    dl = x[:, 1:, :-1, :-1] - x[:, :-1, :-1, :-1]
    return torch.sqrt(dx * dx + dy * dy + dl * dl + 1e-6)


def gradient_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L1 between the spatial-spectral gradient magnitudes of ``x`` and ``y``."""
    return F.l1_loss(gradient_magnitude(x), gradient_magnitude(y))


def hloss(sr: torch.Tensor, hr: torch.Tensor, lambda_spec: float = 0.3, lambda_grad: float = 0.1) -> torch.Tensor:
    """L1 + λ_spec·SAM/π + λ_grad·gradient term (CST defaults 0.3 / 0.1)."""
    loss = F.l1_loss(sr, hr)
    if lambda_spec:
        loss = loss + lambda_spec * sam_loss(sr, hr)
    if lambda_grad and sr.shape[1] > 1:
        loss = loss + lambda_grad * gradient_loss(sr, hr)
    return loss


def kd_loss(student_res: torch.Tensor, teacher_res: torch.Tensor, base: torch.Tensor,
            lambda_spec: float = 0.3, lambda_grad: float = 0.1) -> torch.Tensor:
    """LKCA-KD feature alignment on the upsampler outputs S (student) and T (teacher).

    ‖S − T‖₁ + λ_spec·SAM(base + S, base + T) + λ_grad·‖G(S) − G(T)‖₁; SAM is taken on
    the reconstructed images because residuals near zero make angles ill-conditioned.
    """
    loss = F.l1_loss(student_res, teacher_res)
    if lambda_spec:
        loss = loss + lambda_spec * sam_loss(base + student_res, base + teacher_res)
    if lambda_grad and student_res.shape[1] > 1:
        loss = loss + lambda_grad * gradient_loss(student_res, teacher_res)
    return loss
