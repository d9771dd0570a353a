"""Turn a ``-m`` value into a ready model: a checkpoint path, a bundled name, ``bicubic``, or a
composite of checkpoints — ``A+B`` runs A then B (their scales multiply, e.g.
``lkca-g_x2+lkca-g_x4`` is ×8) and ``X,Y`` averages models of one scale (each may be a cascade)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from hsrcli.checkpoint import Checkpoint
from hsrcli.errors import HsrInputError
from hsrcli.infer.tileplan import border_pad, plan_overlap
from hsrcli.models.fold import fold_for_inference

#: separators of a composite ``-m`` value: average (outer), then cascade (inner)
AVERAGE, CASCADE = ",", "+"


@dataclass
class ResolvedModel:
    """A model ready for inference and what it was made from."""

    model: nn.Module
    name: str  # registry name (a composite: its parts' names, joined as in the -m value)
    label: str  # what the user asked for (path or bundled name)
    scale: int
    bands: int | None  # None: band-agnostic
    normalization: dict | None
    checkpoint: Checkpoint | None  # None: bicubic or a composite
    #: fed normalised values (False: a linear model, bicubic)
    normalised: bool = True
    #: measured effective receptive radius (LR px) stored with the weights, if any
    #: (``benchmarks/receptive_field.py``; see :mod:`hsrcli.infer.receptive`); a composite's follows from its parts'
    effective_radius: int | None = None
    #: a composite's models, in the order of the -m value
    parts: tuple[ResolvedModel, ...] = field(default_factory=tuple)

    @property
    def min_bands(self) -> int:
        """The fewest bands the model runs on (a composite: its most demanding part's)."""
        from hsrcli.models import spec as model_spec

        return max(p.min_bands for p in self.parts) if self.parts else model_spec(self.name).min_bands

    @property
    def border(self) -> int:
        """LR px by which a whole image is mirrored past its borders before the model, as ``hsr upscale``
        mirrors a scene with its default overlap (:func:`~hsrcli.infer.tileplan.border_pad`): ``hsr adapt``'s
        crops, ``hsr evaluate --as-upscale``'s images."""
        return border_pad(self.effective_radius, plan_overlap(self.model.receptive_radius, None)[1])

    def for_inference(self, device: torch.device | str) -> nn.Module:
        """:attr:`model` on ``device``, in eval mode and folded for inference in place
        (:func:`~hsrcli.models.fold.fold_for_inference`: weight and batch norms folded into the
        convolutions). The same numbers, to float rounding; it can no longer be trained as before
        (``hsr adapt`` trains :attr:`model` unfolded)."""
        return fold_for_inference(self.model.to(device).eval())


def is_composite(spec: str) -> bool:
    """True when ``spec`` combines models (``A+B``, ``X,Y``) rather than naming one file or bundled model."""
    from hsrcli.weights import checkpoint_path

    return (AVERAGE in spec or CASCADE in spec) and spec != "bicubic" and checkpoint_path(spec) is None


def resolve_model(spec: str, bands: int, scale: int, device: torch.device | str = "cpu",
                  source: str = "the input", exact: bool = False) -> ResolvedModel:
    """Load ``spec`` for data with ``bands`` bands at ``scale``; mismatches raise :class:`HsrInputError`.
    ``exact``: a cascade crops its intermediate images by its stages' theoretical radii, not the
    measured effective ones (``hsr upscale --exact``)."""
    if not is_composite(spec):
        return _resolve_one(spec, bands, scale, device, source)
    members = [_resolve_cascade(part.strip(), bands, device, source, exact) for part in spec.split(AVERAGE)]
    for m in members:
        if m.scale != scale:
            raise HsrInputError(f"-m {spec}: {m.label} upscales x{m.scale}, not x{scale}"
                                + (" (a cascade's scale is the product of its models')" if m.parts else ""))
    return members[0] if len(members) == 1 else _combine(spec, members, "average", exact)


def _resolve_cascade(spec: str, bands: int, device, source: str, exact: bool) -> ResolvedModel:
    stages = [_resolve_one(p.strip(), bands, None, device, source) for p in spec.split(CASCADE)]
    return stages[0] if len(stages) == 1 else _combine(spec, stages, "cascade", exact)


def _combine(spec: str, parts: list[ResolvedModel], how: str, exact: bool) -> ResolvedModel:
    """A :class:`~hsrcli.models.compose.Cascade` (its ``halos`` the parts' effective radii unless
    ``exact``) or :class:`~hsrcli.models.compose.Average` of ``parts``, refused when they are not fed
    the same values (one normalisation for the whole composite)."""
    from hsrcli.infer.inputs import per_scene
    from hsrcli.models.compose import Average, Cascade, average_radius, cascade_radius

    first = parts[0]
    for p in parts:
        if not p.normalised:
            raise HsrInputError(f"-m {spec}: {p.label} is linear; combine trained models only")
        same = per_scene(p) == per_scene(first) and (per_scene(p) or p.normalization == first.normalization)
        if not same:
            raise HsrInputError(f"-m {spec}: {p.label} and {first.label} were trained on differently normalised "
                                "data; combine models that share one normalisation")
    fixed = {p.bands for p in parts if p.bands is not None}
    effective = [p.effective_radius if p.effective_radius is not None else p.model.receptive_radius for p in parts]
    if how == "cascade":
        scales = [p.scale for p in parts]
        model = Cascade([p.model for p in parts], scales, None if exact else effective)
        radius, sep = cascade_radius(effective, scales), CASCADE
        scale = model.scale
    else:
        model, scale, radius, sep = Average([p.model for p in parts]), first.scale, average_radius(effective), AVERAGE
    return ResolvedModel(model, sep.join(p.name for p in parts), spec, scale, fixed.pop() if fixed else None,
                         first.normalization, None, True, radius, tuple(parts))


def _resolve_one(spec: str, bands: int, scale: int | None, device: torch.device | str, source: str) -> ResolvedModel:
    """One checkpoint (or bicubic); ``scale`` None: any (a cascade's stage), else it must match."""
    from hsrcli.checkpoint import check_compatible, model_from_checkpoint, read_checkpoint
    from hsrcli.models import build
    from hsrcli.models import spec as model_spec
    from hsrcli.weights import bundled, checkpoint_path

    if spec == "bicubic":
        if scale is None:
            raise HsrInputError("bicubic cannot be a stage of a cascade: it has no scale of its own")
        try:
            model = build("bicubic", bands, scale)
        except ValueError as exc:
            raise HsrInputError(str(exc)) from None
        return ResolvedModel(model.to(device), "bicubic", "bicubic", scale, None, None, None, normalised=False)
    path = checkpoint_path(spec)
    if path is None:
        known = ", ".join(["bicubic", *(c.name for c in bundled())])
        raise HsrInputError(f"unknown model {spec!r}: not a checkpoint file, and not a bundled model ({known})")
    ckpt = read_checkpoint(path, map_location="cpu")
    check_compatible(ckpt, bands, ckpt.model.scale if scale is None else scale, source)
    model = model_from_checkpoint(ckpt).to(device).eval()
    m = ckpt.model
    ms = model_spec(m.name)
    return ResolvedModel(model, m.name, spec, m.scale, None if ms.band_agnostic else m.bands, ckpt.normalization, ckpt,
                         ms.normalised, ckpt.effective_radius)
