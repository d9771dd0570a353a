"""``hsr upscale``'s output steps after the model, for a tile or for one LR image held in memory.

:func:`output_pieces` is what :func:`~hsrcli.infer.runner.upscale_scene` hands on for every tile: the
model's output band range by band range, or its detail through the spectral-subspace projection
and/or the LR back-projection. :func:`upscale_image` runs a normalising model so on whole images
(no tiles, no scene file), with ``hsr upscale``'s defaults: the detail the model adds to the bicubic upsampling kept
within the image's own spectral subspace (:mod:`hsrcli.infer.subspace`, fitted on the image's LR
spectra) and back-projected onto the LR image (:mod:`hsrcli.infer.consistency`). ``hsr evaluate
--as-upscale`` scores models so: what a user gets from ``hsr upscale``, on a prepared data set's
test images (mirrored past their borders as a scene is, not tiled).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from hsrcli.choices import CONSISTENCY_PASSES, SUBSPACE_ENERGY
from hsrcli.infer.consistency import BackProjection
from hsrcli.infer.inputs import forward_bands
from hsrcli.infer.subspace import DetailProjection, SpectraSample
from hsrcli.models.crop import Crop
from hsrcli.ops.imresize import mirror_pad


def output_pieces(model: torch.nn.Module, x: torch.Tensor, amp: torch.dtype | None, crop: Crop,
                  projection: DetailProjection | None = None, back: BackProjection | None = None
                  ) -> Iterator[tuple[int, int, torch.Tensor]]:
    """``(b0, b1, y)`` output pieces ``(N, b1 − b0, H, W)`` float32 of ``model`` on normalised ``x`` ``(N, B, h,
    w)``, less ``s·crop`` HR px on each side: the model's own (:func:`~hsrcli.infer.inputs.forward_bands`),
    or, with a ``projection`` and/or ``back``, its detail over bicubic — computed less
    :meth:`~hsrcli.infer.consistency.BackProjection.widen` of ``crop``, what the back-projection reads —
    projected into the scene's spectral subspace (which mixes a pixel's bands: k coefficients per HR
    pixel held) and back-projected onto ``x``."""
    if projection is None and back is None:
        return forward_bands(model, x, amp, crop)
    pieces = forward_bands(model, x, amp, crop if back is None else back.widen(crop), detail=True)
    if projection is not None:
        return projection.project(pieces, x, crop, back)
    return back.apply(pieces, x, crop)


@torch.no_grad()
def upscale_image(model: torch.nn.Module, x: torch.Tensor, scale: int,
                  subspace: float | int | None = SUBSPACE_ENERGY,  # noqa: PYI041 - a share or a rank
                  consistency: int = CONSISTENCY_PASSES, amp: torch.dtype | None = None,
                  sigma: float = 0.0, kernel: str = "gaussian", pad: int = 0) -> torch.Tensor:
    """Output ``(N, B, s·h, s·w)`` float32 of ``model`` on normalised LR images ``x`` ``(N, B, h, w)``, each with
    its own spectral subspace (``subspace``: a share of variance, a rank or None: off) and ``consistency``
    back-projection passes (0: off; ↓: the degradation ``kernel``/``sigma`` of
    :class:`~hsrcli.infer.consistency.BackProjection`, plain bicubic by default). ``pad``: LR px by which
    each image is mirrored past its borders first, as ``hsr upscale`` mirrors a scene
    (:attr:`~hsrcli.infer.resolve.ResolvedModel.border`); that border is left out of the output."""
    back = BackProjection(scale, consistency, sigma, kernel) if consistency else None
    outs = []
    for xi in x.split(1):
        projection = None
        if subspace is not None:
            spectra = xi[0].flatten(1).t().float().cpu().numpy()  # (h·w, B), all valid
            sample = SpectraSample(len(spectra))
            sample.observe(spectra, np.isfinite(spectra))
            fit = sample.fit(subspace, range(xi.shape[1]))
            if fit is not None:
                projection = DetailProjection(fit, np.ones(xi.shape[1]), scale, xi.device)
        pieces = output_pieces(model, mirror_pad(xi, pad), amp, (pad,) * 4, projection, back)  # border cut off
        outs.append(torch.cat([y for _, _, y in pieces], 1))
    return torch.cat(outs)
