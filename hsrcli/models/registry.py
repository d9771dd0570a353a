"""Explicit model registry: name → builder with typed keyword arguments.

Every model is built as ``build(name, bands=B, scale=s, **kwargs)`` and is a pure
``nn.Module`` mapping an LR cube ``(N, B, h, w)`` to ``(N, B, s·h, s·w)`` on the
same (normalised) scale. Models do no I/O.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about a model: its builder and its capabilities.

    Training and inference read these instead of testing model names:

    * ``band_agnostic`` — one set of weights serves any band count (mixed data sets,
      ``--band-crop``, per-scene normalisation);
    * ``trainable`` — ``hsr train`` can fit it (False for fixed operators: bicubic);
    * ``band_steps`` — trained band by band with a recurrent state (CoarSR): some
      parameters are unused on the first band;
    * ``teacher`` — the model a ``--teacher`` checkpoint must be (LKCA-KD), None when
      the model cannot be distilled into;
    * ``normalised`` — works on normalised data (False for linear operators, which
      run on the scene's own values).
    """

    name: str
    builder: Callable[..., nn.Module]
    summary: str
    scales: tuple[int, ...]
    band_agnostic: bool
    min_bands: int = 1
    trainable: bool = True
    band_steps: bool = False
    teacher: str | None = None
    normalised: bool = True

    def kwargs(self) -> dict[str, object]:
        """The builder's keyword arguments and their defaults (besides bands and scale)."""
        sig = inspect.signature(self.builder)
        return {k: p.default for k, p in sig.parameters.items() if k not in ("bands", "scale")}


_REGISTRY: dict[str, ModelSpec] = {}


def register(name: str, summary: str, scales: tuple[int, ...], band_agnostic: bool, min_bands: int = 1,
             **capabilities):
    """Decorator adding a builder ``f(bands, scale, **kwargs) -> SRModel`` to the registry.

    ``capabilities``: the other :class:`ModelSpec` fields (``trainable``, ``band_steps``, ...).
    """

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelSpec(name, fn, summary, scales, band_agnostic, min_bands, **capabilities)
        return fn

    return deco


def _ensure_loaded() -> None:
    # Importing the model modules runs their @register decorators (explicit list, no scanning).
    from hsrcli.models import bicubic, coarsr, lkca, lkca_g  # noqa: F401


def names() -> list[str]:
    """Registered model names, in registration order."""
    _ensure_loaded()
    return list(_REGISTRY)


def trainable() -> list[str]:
    """Names of the models ``hsr train`` can fit."""
    return [n for n in names() if _REGISTRY[n].trainable]


def spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name`` (``KeyError`` with the known names otherwise)."""
    _ensure_loaded()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r} (known: {', '.join(_REGISTRY)})")
    return _REGISTRY[name]


def build(name: str, bands: int, scale: int, **kwargs) -> nn.Module:
    """Instantiate model ``name`` for ``bands`` bands and an integer ``scale``.

    Raises ``ValueError`` for an unsupported scale or band count, ``TypeError`` for
    unknown keyword arguments.
    """
    s = spec(name)
    if scale not in s.scales:
        raise ValueError(f"model {name!r} supports scales {', '.join(map(str, s.scales))}, not {scale}")
    if bands < s.min_bands:
        raise ValueError(f"model {name!r} needs at least {s.min_bands} bands, got {bands}")
    unknown = set(kwargs) - set(s.kwargs())
    if unknown:
        raise TypeError(f"model {name!r} has no option(s) {', '.join(sorted(unknown))} "
                        f"(options: {', '.join(s.kwargs())})")
    return s.builder(bands=bands, scale=scale, **kwargs)
