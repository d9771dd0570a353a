"""What every registered model offers besides ``forward`` (the small model protocol).

Inference and analysis code asks a model these questions instead of testing its
name or poking attributes:

* :attr:`SRModel.receptive_radius` — LR pixels from which one output pixel can draw
  information (``None``: unbounded, e.g. global pooling); tiling overlaps follow it.
* :meth:`SRModel.learnable_upsampler` — the LKCA upsampler layer (rank analysis,
  parameter share), or ``None``.
* :meth:`SRModel.fit_tile` — adjust memory knobs to the LR tile about to be run
  (results must not change).
* :meth:`SRModel.work_side` — the side of the largest image a part of the model runs on for a
  given LR tile (the tile's own, but a cascade's later stages run on upscaled tiles, less what the
  caller discards of the tile, ``crop``): the model's working set grows with its square.
* :meth:`SRModel.forward_bands` — the output in consecutive band ranges as they are
  finished, so that a caller can store each range and free it (a band-agnostic model
  never holds a whole tile's output); :attr:`SRModel.bands_held` says how many output
  bands that keeps in memory at once. With a :data:`Crop` it leaves out a border of the
  output that the caller would discard (a tile's margin); models whose last stages are
  local compute those stages on the kept window only (:func:`~hsrcli.models.crop.crop_window`).
  With ``detail`` it gives what the model adds to the bicubic upsampling instead of the
  output (the spectral-subspace projection reworks that part only).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from hsrcli.models.crop import Crop, trim
from hsrcli.models.resample import bicubic_base


class SRModel(nn.Module):
    """Base of the registered models: ``(N, B, h, w)`` LR → ``(N, B, s·h, s·w)``, same normalised scale."""

    #: LR pixels an output pixel depends on (None: the whole image); set by subclasses.
    receptive_radius: int | None = None

    def learnable_upsampler(self) -> nn.Module | None:
        """The learnable upsampling layer (LKCA family), else None."""
        return None

    def fit_tile(self, tile: int) -> None:
        """Prepare for LR tiles of ``tile × tile`` pixels (default: nothing to adjust)."""

    def work_side(self, tile: int, crop: int = 0) -> int:
        """Side (px) of the largest input a part of the model runs on for LR tiles of side ``tile`` of which
        :meth:`forward_bands` is asked to leave out at least ``crop`` LR px on every side (default:
        ``tile``; :class:`~hsrcli.models.compose.Cascade`: its later stages', upscaled, cropped)."""
        return tile

    def bands_held(self, bands: int, tile: int | None = None, crop: int = 0) -> int:
        """Output bands (counted in the tile's output pixels) :meth:`forward_bands` holds at once for a
        ``bands``-band input, after :meth:`fit_tile` (``tile``) or as configured now (None), ``crop`` as in
        :meth:`work_side`; default: all."""
        return bands

    def forward_bands(self, x: torch.Tensor, crop: Crop | None = None, detail: bool = False
                      ) -> Iterator[tuple[int, int, torch.Tensor]]:
        """``(b0, b1, y)``: the output bands ``b0:b1`` ``(N, b1 − b0, s·h, s·w)``, in order, covering all bands;
        with ``crop``, ``y`` leaves out ``s·crop`` HR pixels on each side (``(N, b1 − b0, s·(h − t − b), …)``).
        With ``detail``, ``y`` is the output less the bicubic upsampling of ``x``
        (:func:`~hsrcli.models.resample.bicubic_base`): what the model adds, for a caller that
        reworks it and adds the bicubic once itself.

        Default: one piece, the whole :meth:`forward`, trimmed (less the bicubic). Models whose
        output is built as bicubic + a residual override this to skip the base.
        """
        y = self(x)
        s = y.shape[-1] // x.shape[-1]
        y = trim(y, crop, s)
        yield 0, x.shape[1], (y - bicubic_base(x, s, crop).to(y.dtype)) if detail else y
