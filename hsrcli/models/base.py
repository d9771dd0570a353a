"""What every registered model offers besides ``forward`` (the small model protocol).

Inference and analysis code asks a model these questions instead of testing its
name or poking attributes:

* :attr:`SRModel.receptive_radius` — LR pixels from which one output pixel can draw
  information (``None``: unbounded, e.g. global pooling); tiling overlaps follow it.
* :meth:`SRModel.learnable_upsampler` — the LKCA upsampler layer (rank analysis,
  parameter share), or ``None``.
* :meth:`SRModel.fit_tile` — adjust memory knobs to the LR tile about to be run
  (results must not change).
"""

from __future__ import annotations

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
