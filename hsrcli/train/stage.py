"""The frozen first stage of a cascade whose later stage is being trained (``hsr train --after``).

A cascade ``A+B`` runs A, then B on A's output (:mod:`hsrcli.infer.resolve`). B trained on
bicubic-degraded LR of its own scale learns to undo bicubic degradation, but inside the cascade
it is fed A's output instead: smoother than a bicubic-downsampled image, with A's own errors.
With ``--after A`` the data set is made for the whole cascade's scale (×8 for a ×4 A and a ×2 B):
every LR patch goes through A (frozen, no gradients) and B learns from A's output to the HR patch.

Training patches: A sees the whole LR patch, but only the central half of its output is kept
(a quarter of the LR patch side cut from each side) with the matching HR pixels: there A had
context on every side, as inside a tiled scene at run time. Validation images go through A whole.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from hsrcli.errors import HsrInputError


def margin(lr_side: int) -> int:
    """LR pixels cut from each side of an A output of an ``lr_side``-pixel patch: a quarter of the side."""
    return lr_side // 4


class FirstStage:
    """Stage A of a cascade, frozen: ``scale`` its own factor, ``rest`` what the trained stage adds
    (the data set's scale over A's).

    ``spec`` is a checkpoint file or a bundled name; A must take ``bands`` bands (or be band-agnostic
    — required when the training items are band windows, ``windows``) and its scale must divide the
    data set's ``total`` scale with something left for the trained stage.
    """

    def __init__(self, spec: str, bands: int, total: int, device: torch.device, windows: bool = False) -> None:
        from hsrcli.checkpoint import check_compatible, model_from_checkpoint, read_checkpoint
        from hsrcli.models import spec as model_spec
        from hsrcli.weights import require_checkpoint

        ckpt = read_checkpoint(require_checkpoint(spec, "--after"))
        m = ckpt.model
        if windows and not model_spec(m.name).band_agnostic:
            raise HsrInputError(f"--after {spec}: a {m.bands}-band {m.name!r} model cannot take the band "
                                "windows of band-agnostic training; use a band-agnostic first stage")
        if total % m.scale or total == m.scale:
            raise HsrInputError(f"--after {spec}: upscales x{m.scale}; the data set's x{total} must be a "
                                f"larger multiple of it (the trained stage does the rest)")
        check_compatible(ckpt, bands, m.scale, "the data set", prepared=True)
        self.spec, self.name, self.scale, self.rest = spec, m.name, m.scale, total // m.scale
        self.model: nn.Module = model_from_checkpoint(ckpt).to(device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def image(self, lr: torch.Tensor, autocast: Callable) -> torch.Tensor:
        """A's output ``(N, B, h·scale, w·scale)`` of LR images ``(N, B, h, w)``, float32."""
        with autocast():
            return self.model(lr).float()

    def patches(self, lr: torch.Tensor, hr: torch.Tensor, autocast: Callable) -> tuple[torch.Tensor, torch.Tensor]:
        """Training pairs for the later stage: the central half of A's output on LR patches ``(N, B, p, p)``
        and the matching HR pixels of ``hr`` ``(N, B, p·total, p·total)`` (see :func:`margin`)."""
        mid = self.image(lr, autocast)
        m = margin(lr.shape[-1])
        if m == 0:
            return mid, hr
        a, t = m * self.scale, m * self.scale * self.rest
        return mid[..., a:-a, a:-a], hr[..., t:-t, t:-t]

    def describe(self) -> dict:
        """What checkpoints record about the stage (``meta["after"]``)."""
        return {"spec": self.spec, "model": self.name, "scale": self.scale}
