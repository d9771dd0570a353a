"""Bicubic resampling used inside models (global residuals, FineSR, the bicubic baseline).

Models use the MATLAB-compatible bicubic of :mod:`hsrcli.ops.imresize` so that
the residual base equals the "Bicubic" row of the published tables; it is
differentiable and runs on any device.
"""

from __future__ import annotations

import torch

from hsrcli.ops.imresize import imresize

#: LR pixels from which the cubic taps of an upsampled (factor ≥ 1) pixel draw: ±2 of its own.
BICUBIC_REACH = 2


def bicubic_resize(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Resize the last two dims of ``x`` by ``factor`` (MATLAB imresize semantics)."""
    h, w = x.shape[-2:]
    return imresize(x, size=(round(h * factor), round(w * factor)))
