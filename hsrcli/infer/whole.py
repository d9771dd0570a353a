"""``hsr upscale``'s output steps on one LR image held in memory: no tiles, no scene file.

:func:`upscale_image` runs a normalising model the way :func:`~hsrcli.infer.runner.upscale_scene`
runs it on every tile, with its defaults: the detail the model adds to the bicubic upsampling kept
within the image's own spectral subspace (:mod:`hsrcli.infer.subspace`, fitted on the image's LR
spectra) and back-projected onto the LR image (:mod:`hsrcli.infer.consistency`). ``hsr evaluate
--as-upscale`` scores models so: what a user gets from ``hsr upscale``, on a prepared data set's
test images (which are not mirrored past their borders as a scene is, nor tiled).
"""

from __future__ import annotations

import numpy as np
import torch

from hsrcli.choices import CONSISTENCY_PASSES, SUBSPACE_ENERGY
from hsrcli.infer.consistency import BackProjection
from hsrcli.infer.inputs import forward, forward_bands
from hsrcli.infer.subspace import DetailProjection, SpectraSample

WHOLE: tuple[int, int, int, int] = (0, 0, 0, 0)  # nothing cropped


@torch.no_grad()
def upscale_image(model: torch.nn.Module, x: torch.Tensor, scale: int,
                  subspace: float | int | None = SUBSPACE_ENERGY,  # noqa: PYI041 - a share or a rank
                  consistency: int = CONSISTENCY_PASSES, amp: torch.dtype | None = None,
                  sigma: float = 0.0, kernel: str = "gaussian") -> torch.Tensor:
    """Output ``(N, B, s·h, s·w)`` float32 of ``model`` on normalised LR images ``x`` ``(N, B, h, w)``, each with
    its own spectral subspace (``subspace``: a share of variance, a rank or None: off) and ``consistency``
    back-projection passes (0: off; ↓: the degradation ``kernel``/``sigma`` of
    :class:`~hsrcli.infer.consistency.BackProjection`, plain bicubic by default)."""
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
        if projection is None and back is None:
            outs.append(forward(model, xi, amp))
            continue
        pieces = forward_bands(model, xi, amp, WHOLE, detail=True)
        if projection is not None:
            pieces = projection.project(pieces, xi, WHOLE, back)
        else:
            pieces = back.apply(pieces, xi, WHOLE)
        outs.append(torch.cat([y for _, _, y in pieces], 1))
    return torch.cat(outs)
