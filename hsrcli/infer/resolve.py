"""Turn a ``-m`` value (checkpoint path, bundled name, or ``bicubic``) into a ready model."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hsrcli.checkpoint import Checkpoint
from hsrcli.errors import HsrInputError


@dataclass
class ResolvedModel:
    """A model ready for inference and what it was made from."""

    model: nn.Module
    name: str  # registry name
    label: str  # what the user asked for (path or bundled name)
    scale: int
    bands: int | None  # None: band-agnostic
    normalization: dict | None
    checkpoint: Checkpoint | None

    @property
    def effective_radius(self) -> int | None:
        """Measured effective receptive radius (LR px) stored with the weights, if any
        (``benchmarks/receptive_field.py``; see :mod:`hsrcli.infer.receptive`)."""
        return None if self.checkpoint is None else self.checkpoint.effective_radius


def resolve_model(spec: str, bands: int, scale: int, device: torch.device | str = "cpu",
                  source: str = "the input") -> ResolvedModel:
    """Load ``spec`` for data with ``bands`` bands at ``scale``; mismatches raise :class:`HsrInputError`."""
    from hsrcli.checkpoint import check_compatible, model_from_checkpoint, read_checkpoint
    from hsrcli.models import build
    from hsrcli.models import spec as model_spec
    from hsrcli.weights import bundled, checkpoint_path

    if spec == "bicubic":
        try:
            model = build("bicubic", bands, scale)
        except ValueError as exc:
            raise HsrInputError(str(exc)) from None
        return ResolvedModel(model.to(device), "bicubic", "bicubic", scale, None, None, None)
    path = checkpoint_path(spec)
    if path is None:
        known = ", ".join(["bicubic", *(c.name for c in bundled())])
        raise HsrInputError(f"unknown model {spec!r}: not a checkpoint file, and not a bundled model ({known})")
    ckpt = read_checkpoint(path, map_location="cpu")
    check_compatible(ckpt, bands, scale, source)
    model = model_from_checkpoint(ckpt).to(device).eval()
    m = ckpt.model
    agnostic = model_spec(m.name).band_agnostic
    return ResolvedModel(model, m.name, spec, m.scale, None if agnostic else m.bands, ckpt.normalization, ckpt)
