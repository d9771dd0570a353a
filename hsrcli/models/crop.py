"""Output margins a caller discards (a tile's overlap), and where local computations must run to leave them out.

A :data:`Crop` is counted in LR pixels on each side of a model's input; the model's output then
lacks ``s·crop`` HR pixels there. Models whose last stages are local (the upsampler, the bicubic
base) compute those stages on the kept window plus their reach only (:func:`crop_window`).
"""

from __future__ import annotations

import torch

#: LR pixels left out of an output at its (top, bottom, left, right).
Crop = tuple[int, int, int, int]


def trim(y: torch.Tensor, crop: Crop | None, scale: int) -> torch.Tensor:
    """``y`` ``(..., s·h, s·w)`` without ``s·crop`` HR pixels on each side (a view)."""
    if crop is None:
        return y
    t, b, left, r = (c * scale for c in crop)
    return y[..., t:y.shape[-2] - b, left:y.shape[-1] - r]


def crop_window(h: int, w: int, crop: Crop | None, reach: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Where a local LR-layout computation (an output pixel depends on the LR pixels within ``reach``
    of its own) must run so that the output of an ``h × w`` input less ``crop`` is exact.

    Returns ``((rows, cols), (keep_rows, keep_cols))``: the input window, and the part of the
    window-sized result to keep. Sums over the same taps as on the whole input: the same numbers
    up to the rounding of the backend's kernels for another shape.
    """
    t, b, left, r = crop or (0, 0, 0, 0)
    r0, r1 = max(0, t - reach), min(h, h - b + reach)
    c0, c1 = max(0, left - reach), min(w, w - r + reach)
    return (slice(r0, r1), slice(c0, c1)), (slice(t - r0, h - b - r0), slice(left - c0, w - r - c0))
