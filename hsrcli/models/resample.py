"""Bicubic resampling used inside models (global residuals, FineSR, the bicubic baseline).

Models use the MATLAB-compatible bicubic of :mod:`hsrcli.ops.imresize` so that
the residual base equals the "Bicubic" row of the published tables; it is
differentiable and runs on any device.
"""

from __future__ import annotations

import torch

from hsrcli.models.crop import Crop, crop_window
from hsrcli.models.upsampler import shuffle
from hsrcli.ops.imresize import imresize, upsample_phases

#: LR pixels from which the cubic taps of an upsampled (factor ≥ 1) pixel draw: ±2 of its own.
BICUBIC_REACH = 2


def bicubic_resize(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Resize the last two dims of ``x`` by ``factor`` (MATLAB imresize semantics)."""
    h, w = x.shape[-2:]
    return imresize(x, size=(round(h * factor), round(w * factor)))


def bicubic_phases(x: torch.Tensor, scale: int, crop: Crop | None = None) -> torch.Tensor:
    """MATLAB bicubic ×``scale`` (integer) of ``x`` ``(N, B, h, w)`` in LR layout ``(N, B·s², h', w')``
    (:func:`~hsrcli.ops.imresize.upsample_phases`), less ``crop`` LR px on each side: computed on the
    kept window plus :data:`BICUBIC_REACH` only, in ``x``'s precision even under autocast."""
    (rows, cols), keep = crop_window(*x.shape[-2:], crop, BICUBIC_REACH)
    with torch.autocast(x.device.type, enabled=False):
        return upsample_phases(x[..., rows, cols], scale)[..., keep[0], keep[1]]


def bicubic_base(x: torch.Tensor, scale: int, crop: Crop | None = None) -> torch.Tensor:
    """:func:`bicubic_phases` shuffled to ``(N, B, s·h', s·w')``: what every model's output adds its
    detail to (the global residual of the LKCA family and CoarSR)."""
    return shuffle(bicubic_phases(x, scale, crop), scale)
