"""Geometric self-ensemble (Lim et al., "EDSR+", 2017): a model on the dihedral transforms of its input.

The input is flipped and rotated, each transformed input goes through the model, each output is
transformed back, and the outputs are averaged: ``(N, B, h, w) → (N, B, s·h, s·w)`` as the model,
at ``n`` times its cost. The transforms come in the order identity, flip, 180°, 180° + flip, then
the 90° ones, so ``n = 2`` and ``n = 4`` keep the tile's orientation (no transposition).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from hsrcli.choices import ENSEMBLE_SIZES
from hsrcli.models.base import SRModel
from hsrcli.models.crop import Crop

#: (quarter turns counter-clockwise, then a left-right flip), in the order the ensemble takes them.
TRANSFORMS = ((0, False), (0, True), (2, False), (2, True), (1, False), (1, True), (3, False), (3, True))


def transform(x: torch.Tensor, turns: int, flip: bool) -> torch.Tensor:
    """``x`` ``(…, H, W)`` turned ``turns`` × 90° counter-clockwise, then flipped left-right."""
    x = torch.rot90(x, turns, (-2, -1))
    return x.flip(-1) if flip else x


def untransform(y: torch.Tensor, turns: int, flip: bool) -> torch.Tensor:
    """The inverse of :func:`transform`."""
    y = y.flip(-1) if flip else y
    return torch.rot90(y, -turns, (-2, -1))


def transform_crop(crop: Crop | None, turns: int, flip: bool) -> Crop | None:
    """The (top, bottom, left, right) margins of the transformed image: a quarter turn
    counter-clockwise brings the right edge to the top, the top to the left, and so on."""
    if crop is None:
        return None
    t, b, left, r = crop
    for _ in range(turns % 4):
        t, b, left, r = r, left, t, b
    return (t, b, r, left) if flip else (t, b, left, r)


class SelfEnsemble(SRModel):
    """``model`` averaged over the first ``n`` of :data:`TRANSFORMS` (``n`` in
    :data:`~hsrcli.choices.ENSEMBLE_SIZES`)."""

    def __init__(self, model: SRModel, n: int) -> None:
        super().__init__()
        if n not in ENSEMBLE_SIZES:
            raise ValueError(f"ensemble size must be one of {ENSEMBLE_SIZES}, got {n}")
        self.model, self.n = model, n
        self.receptive_radius = model.receptive_radius

    def fit_tile(self, tile: int) -> None:
        self.model.fit_tile(tile)

    def work_side(self, tile: int, crop: int = 0) -> int:
        return self.model.work_side(tile, crop)

    def bands_held(self, bands: int, tile: int | None = None, crop: int = 0) -> int:
        """The model's, once per transform: their pieces are computed side by side."""
        return self.n * self.model.bands_held(bands, tile, crop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = None
        for turns, flip in TRANSFORMS[:self.n]:
            y = untransform(self.model(transform(x, turns, flip).contiguous()), turns, flip)
            out = y if out is None else out.add_(y)  # the first, untransformed: a tensor of its own
        return out.div_(self.n)

    def forward_bands(self, x: torch.Tensor, crop: Crop | None = None, detail: bool = False
                      ) -> Iterator[tuple[int, int, torch.Tensor]]:
        """The model's pieces for every transform, advanced side by side (they cover the same band
        ranges: those depend on the bands and the tile side only), averaged piece by piece."""
        runs = [(turns, flip, self.model.forward_bands(transform(x, turns, flip).contiguous(),
                                                       transform_crop(crop, turns, flip), detail))
                for turns, flip in TRANSFORMS[:self.n]]
        for parts in zip(*(run for _, _, run in runs)):
            (b0, b1, _), out = parts[0], None
            for (turns, flip, _), (c0, c1, y) in zip(runs, parts):
                if (c0, c1) != (b0, b1):
                    raise RuntimeError("the transforms' band pieces differ")  # a model broke the contract
                y = untransform(y, turns, flip)
                out = y.contiguous() if out is None else out.add_(y)
            yield b0, b1, out.div_(self.n)
