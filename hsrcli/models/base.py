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
  bands that keeps in memory at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn


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

    def forward_bands(self, x: torch.Tensor) -> Iterator[tuple[int, int, torch.Tensor]]:
        """``(b0, b1, y)``: the output bands ``b0:b1`` ``(N, b1 − b0, s·h, s·w)``, in order, covering all bands.

        Default: one piece, the whole :meth:`forward`.
        """
        yield 0, x.shape[1], self(x)
