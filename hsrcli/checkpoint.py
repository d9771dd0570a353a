"""Checkpoints: ``state_dict`` plus metadata, loadable with ``torch.load(weights_only=True)``.

A checkpoint is a dict of plain types and tensors::

    {"format": "hsrcli-checkpoint/1",
     "model": {"name": "lkca", "bands": 31, "scale": 4, "kwargs": {...}},
     "state_dict": {...},
     "meta": {"wavelengths_nm": [...] | None, "normalization": {...} | None,
              "training": {...}, "metrics": {...}, "hsrcli_version": "...", "torch_version": "..."},
     ...training state (optimizer, scheduler, RNG, epoch) in last.pt only}

Writes are atomic (temporary file + rename), so a kill while saving never
corrupts an existing checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hsrcli.errors import HsrInputError
from hsrcli.io.atomic import remove_stale, temp_name

FORMAT = "hsrcli-checkpoint/1"


def make_checkpoint(model: nn.Module, name: str, bands: int, scale: int, kwargs: dict,
                    meta: dict | None = None, **extra: Any) -> dict:
    """Assemble a checkpoint dict (the model's weights are copied to CPU)."""
    from hsrcli import __version__

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    info = {"hsrcli_version": __version__, "torch_version": str(torch.__version__)}
    info.update(meta or {})
    return {"format": FORMAT, "model": {"name": name, "bands": bands, "scale": scale, "kwargs": dict(kwargs)},
            "state_dict": state, "meta": info, **extra}


def save_checkpoint(ckpt: dict, path: str | Path) -> Path:
    """Write atomically: a crash mid-write leaves the previous file intact."""
    path = Path(path)
    remove_stale(path.parent)
    tmp = temp_name(path)
    try:
        torch.save(ckpt, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint safely (``weights_only=True``); bad files raise :class:`HsrInputError`."""
    path = Path(path)
    if not path.is_file():
        raise HsrInputError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # pickle/zip errors come in many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HsrInputError(f"{path}: not a readable checkpoint ({first[:200]})") from None
    fmt = ckpt.get("format") if isinstance(ckpt, dict) else None
    if isinstance(fmt, str) and fmt.startswith("hsrcli-checkpoint/") and fmt != FORMAT:
        raise HsrInputError(f"{path}: checkpoint format {fmt!r} is not readable by this version of hsrcli "
                            f"(it reads {FORMAT!r}); upgrade hsrcli")
    if fmt != FORMAT:
        raise HsrInputError(f"{path}: not an hsrcli checkpoint (format {fmt!r})")
    return ckpt


def model_from_checkpoint(ckpt: dict) -> nn.Module:
    """Build the registry model a checkpoint describes and load its weights (strict)."""
    from hsrcli.models import build

    m = ckpt["model"]
    try:
        model = build(m["name"], m["bands"], m["scale"], **m["kwargs"])
    except (KeyError, ValueError, TypeError) as exc:
        raise HsrInputError(f"checkpoint describes a model this version cannot build: {exc}") from None
    model.load_state_dict(ckpt["state_dict"], strict=True)
    return model


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """``(model, checkpoint)`` from a file."""
    ckpt = read_checkpoint(path, map_location)
    return model_from_checkpoint(ckpt), ckpt


def check_compatible(ckpt: dict, bands: int, scale: int, source: str = "the input") -> None:
    """Refuse a band-specific checkpoint whose band count or scale differs from the data's."""
    from hsrcli.models import spec

    m = ckpt["model"]
    if m["scale"] != scale:
        raise HsrInputError(f"the model was trained for x{m['scale']}, not x{scale}; use -s {m['scale']} or a "
                            f"x{scale} model")
    if not spec(m["name"]).band_agnostic and m["bands"] != bands:
        raise HsrInputError(f"the {m['name']} model expects {m['bands']} bands but {source} has {bands}; use the "
                            "band-agnostic 'lkca-g' or train a model for this sensor with 'hsr train'")
