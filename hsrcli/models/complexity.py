"""Parameter counts and FLOPs per LR pixel of registry models."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from hsrcli.models.base import SRModel


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def flops_per_lr_pixel(model: nn.Module, bands: int, size: int = 16) -> float:
    """FLOPs (2 × multiply-adds) of one forward pass divided by the LR pixels (``size²``).

    Counted with :class:`torch.utils.flop_counter.FlopCounterMode`, which counts
    convolutions and matrix products; elementwise work (bicubic resampling,
    activations, normalisation) is not included.
    """
    x = torch.rand(1, bands, size, size)
    model = model.eval()
    with FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() / (size * size)


def upsampler_params(model: nn.Module) -> int | None:
    """Parameters of the learnable upsampler of the LKCA family (None for other models)."""
    up = model.learnable_upsampler() if isinstance(model, SRModel) else None
    return None if up is None else count_params(up)


def model_table(bands: int, scale: int) -> list[dict]:
    """One row per registry model sized for ``bands`` × ``scale``: parameters, upsampler share,
    FLOPs per LR pixel (or why the combination is not supported); ``lkca-lr`` also gets its
    upsampler's size reduction against ``lkca``'s."""
    from hsrcli.errors import HsrInputError
    from hsrcli.models.registry import build, names, spec

    if bands < 1:
        raise HsrInputError("--bands must be >= 1")
    rows = []
    for name in names():
        s = spec(name)
        row = {"name": name, "summary": s.summary, "scales": list(s.scales), "band_agnostic": s.band_agnostic,
               "supported": scale in s.scales and bands >= s.min_bands}
        if row["supported"]:
            m = build(name, bands, scale)
            params, up = count_params(m), upsampler_params(m)
            row.update(params=params, upsampler_params=up, upsampler_share=None if not up else up / params,
                       flops_per_lr_pixel=flops_per_lr_pixel(m, bands))
        else:
            row["reason"] = (f"scale {scale} not supported" if scale not in s.scales
                             else f"needs at least {s.min_bands} bands")
        rows.append(row)
    by_name = {r["name"]: r for r in rows if r["supported"]}
    student = next((n for n in by_name if spec(n).teacher in by_name), None)
    if student is not None:
        teacher, row = by_name[spec(student).teacher], by_name[student]
        row["upsampler_reduction_vs_lkca"] = teacher["upsampler_params"] / row["upsampler_params"]
    return rows

