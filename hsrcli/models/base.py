"""What every registered model offers besides ``forward`` (the small model protocol).

Inference and analysis code asks a model these questions instead of testing its
name or poking attributes:

* :attr:`SRModel.receptive_radius` — LR pixels from which one output pixel can draw
  information (``None``: unbounded, e.g. global pooling); tiling overlaps follow it.
* :meth:`SRModel.learnable_upsampler` — the LKCA upsampler layer (rank analysis,
  parameter share), or ``None``.
* :meth:`SRModel.fit_tile` — adjust memory knobs to the LR tile about to be run
  (results must not change).
* :meth:`SRModel.forward_bands` — the output in consecutive band ranges as they are
  finished, so that a caller can store each range and free it (a band-agnostic model
  never holds a whole tile's output); :attr:`SRModel.bands_held` says how many output
  bands that keeps in memory at once. With a :data:`Crop` it leaves out a border of the
  output that the caller would discard (a tile's margin); models whose last stages are
  local compute those stages on the kept window only (:func:`crop_window`).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

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


class SRModel(nn.Module):
    """Base of the registered models: ``(N, B, h, w)`` LR → ``(N, B, s·h, s·w)``, same normalised scale."""

    #: LR pixels an output pixel depends on (None: the whole image); set by subclasses.
    receptive_radius: int | None = None

    def learnable_upsampler(self) -> nn.Module | None:
        """The learnable upsampling layer (LKCA family), else None."""
        return None

    def fit_tile(self, tile: int) -> None:
        """Prepare for LR tiles of ``tile × tile`` pixels (default: nothing to adjust)."""

    def bands_held(self, bands: int, tile: int | None = None) -> int:
        """Output bands :meth:`forward_bands` holds at once for a ``bands``-band input, after
        :meth:`fit_tile` (``tile``) or as configured now (None); default: all."""
        return bands

    def forward_bands(self, x: torch.Tensor, crop: Crop | None = None) -> Iterator[tuple[int, int, torch.Tensor]]:
        """``(b0, b1, y)``: the output bands ``b0:b1`` ``(N, b1 − b0, s·h, s·w)``, in order, covering all bands;
        with ``crop``, ``y`` leaves out ``s·crop`` HR pixels on each side (``(N, b1 − b0, s·(h − t − b), …)``).

        Default: one piece, the whole :meth:`forward`, trimmed.
        """
        y = self(x)
        yield 0, x.shape[1], trim(y, crop, y.shape[-1] // x.shape[-1])
