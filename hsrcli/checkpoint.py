"""Checkpoints: ``state_dict`` plus metadata, loadable with ``torch.load(weights_only=True)``.

A checkpoint is a dict of plain types and tensors::

    {"format": "hsrcli-checkpoint/1",
     "model": {"name": "lkca", "bands": 31, "scale": 4, "kwargs": {...}},
     "state_dict": {...},
     "meta": {"wavelengths_nm": [...] | None, "normalization": {...} | None,
              "training": {...}, "metrics": {...}, "hsrcli_version": "...", "torch_version": "..."},
     ...training state (config, epoch, optimizer, scheduler, …) in last.pt only}

In code it is a :class:`Checkpoint` (typed model record, weights, metadata, training state);
:func:`read_checkpoint` refuses other files and other format versions clearly. Writes are
atomic (temporary file + rename), so a kill while saving never corrupts an existing checkpoint.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hsrcli.errors import HsrInputError
from hsrcli.io.atomic import temp_name

FORMAT = "hsrcli-checkpoint/1"
#: Training-state entries that only ``--resume`` reads (left out of ``best.pt``).
RESUME_ONLY = frozenset({"optimizer", "scheduler", "scaler", "train_weights", "ema_updates"})


@dataclass(frozen=True)
class ModelRecord:
    """The registry model a checkpoint holds weights for."""

    name: str
    bands: int
    scale: int
    kwargs: dict = field(default_factory=dict)


@dataclass
class Checkpoint:
    """A checkpoint as a typed record (the file stays a dict of plain types and tensors).

    ``state`` is what ``last.pt`` adds for ``--resume`` (``config``, ``epoch``, ``best_psnr``,
    ``epochs_total``, ``seconds``, ``optimizer``, ``scheduler``, ``scaler``; with ``--ema``, whose
    average ``state_dict`` holds, the trained weights ``train_weights`` and ``ema_updates``).
    """

    model: ModelRecord
    state_dict: dict[str, torch.Tensor]
    meta: dict
    state: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict, where: str = "checkpoint") -> Checkpoint:
        """Check the format version and the model record; :class:`HsrInputError` naming ``where``."""
        fmt = d.get("format") if isinstance(d, dict) else None
        if isinstance(fmt, str) and fmt.startswith("hsrcli-checkpoint/") and fmt != FORMAT:
            raise HsrInputError(f"{where}: checkpoint format {fmt!r} is not readable by this version of hsrcli "
                                f"(it reads {FORMAT!r}); upgrade hsrcli")
        if fmt != FORMAT:
            raise HsrInputError(f"{where}: not an hsrcli checkpoint (format {fmt!r})")
        try:
            m = d["model"]
            record = ModelRecord(str(m["name"]), int(m["bands"]), int(m["scale"]), dict(m.get("kwargs") or {}))
            rest = {k: v for k, v in d.items() if k not in ("format", "model", "state_dict", "meta")}
            return cls(record, d["state_dict"], dict(d.get("meta") or {}), rest)
        except (KeyError, TypeError, ValueError) as exc:
            raise HsrInputError(f"{where}: corrupt checkpoint (bad or missing {exc})") from None

    def to_dict(self) -> dict:
        """The dict written to disk (``torch.save``; loadable with ``weights_only=True``)."""
        return {"format": FORMAT, "model": asdict(self.model), "state_dict": self.state_dict, "meta": self.meta,
                **self.state}

    def weights_only(self) -> Checkpoint:
        """The same checkpoint without what only ``--resume`` needs (``best.pt``): the optimiser,
        scheduler and scaler states and, with ``--ema``, the trained (not averaged) weights."""
        keep = {k: v for k, v in self.state.items() if k not in RESUME_ONLY}
        return Checkpoint(self.model, self.state_dict, self.meta, keep)

    @property
    def config(self) -> dict:
        """The training configuration (``config.json`` of the run), empty for other checkpoints."""
        return dict(self.state.get("config") or {})

    @property
    def normalization(self) -> dict | None:
        """How inputs were normalised in training (see :class:`hsrcli.data.normalize.Normalizer`)."""
        return self.meta.get("normalization")

    @property
    def effective_radius(self) -> int | None:
        """Measured effective receptive radius (LR px) stored by ``benchmarks/receptive_field.py``."""
        info = self.meta.get("effective_radius")
        return None if not info else int(info["lr_px"])


def cpu_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's ``state_dict``, detached and copied to the CPU (what checkpoints hold)."""
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def make_checkpoint(model: nn.Module, name: str, bands: int, scale: int, kwargs: dict,
                    meta: dict | None = None, **state: Any) -> Checkpoint:
    """Assemble a checkpoint (the model's weights are copied to CPU); ``state``: training state."""
    from hsrcli import __version__

    weights = cpu_weights(model)
    info = {"hsrcli_version": __version__, "torch_version": str(torch.__version__)}
    info.update(meta or {})
    return Checkpoint(ModelRecord(name, bands, scale, dict(kwargs)), weights, info, state)


def save_checkpoint(ckpt: Checkpoint | dict, path: str | Path) -> Path:
    """Write atomically: a crash mid-write leaves the previous file intact."""
    if isinstance(ckpt, Checkpoint):
        ckpt = ckpt.to_dict()
    path = Path(path)
    tmp = temp_name(path)
    try:
        torch.save(ckpt, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint safely (``weights_only=True``); bad files raise :class:`HsrInputError`."""
    path = Path(path)
    if not path.is_file():
        raise HsrInputError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - pickle/zip errors come in many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HsrInputError(f"{path}: not a readable checkpoint ({first[:200]})") from None
    return Checkpoint.from_dict(ckpt, str(path))


def model_from_checkpoint(ckpt: Checkpoint) -> nn.Module:
    """Build the registry model a checkpoint describes and load its weights (strict)."""
    from hsrcli.models import build

    m = ckpt.model
    try:
        model = build(m.name, m.bands, m.scale, **m.kwargs)
    except (KeyError, ValueError, TypeError) as exc:
        raise HsrInputError(f"checkpoint describes a model this version cannot build: {exc}") from None
    model.load_state_dict(ckpt.state_dict, strict=True)
    return model


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[nn.Module, Checkpoint]:
    """``(model, checkpoint)`` from a file."""
    ckpt = read_checkpoint(path, map_location)
    return model_from_checkpoint(ckpt), ckpt


def check_compatible(ckpt: Checkpoint, bands: int, scale: int, source: str = "the input",
                     prepared: bool = False) -> None:
    """Refuse a checkpoint whose scale differs from the data's, a band-specific one whose band count
    differs, and a band-agnostic one that needs more bands than the data has.

    ``prepared``: the data is a prepared data set, whose scale and bands are fixed (the advice then
    names ``hsr prepare -s`` / ``--bands`` rather than the options of a command that reads scenes).
    """
    from hsrcli.models import spec

    m = ckpt.model
    ms = spec(m.name)
    if m.scale != scale:
        if prepared:
            raise HsrInputError(f"the model was trained for x{m.scale}, not x{scale} as {source}; prepare a "
                                f"x{m.scale} data set ('hsr prepare -s {m.scale}') or use a x{scale} model")
        raise HsrInputError(f"the model was trained for x{m.scale}, not x{scale}; use -s {m.scale} or a "
                            f"x{scale} model")
    if bands < ms.min_bands:
        raise HsrInputError(f"the {m.name} model needs at least {ms.min_bands} bands but {source} has {bands}; "
                            "use the band-agnostic 'lkca-g' (any band count) or bicubic")
    if not ms.band_agnostic and m.bands != bands:
        wl = ckpt.meta.get("wavelengths_nm")
        span = f" ({min(wl):g}-{max(wl):g} nm)" if wl is not None and len(wl) == m.bands else ""
        example = f"--bands {min(wl):g}-{max(wl):g}nm" if span else "--bands"
        if prepared:
            raise HsrInputError(f"the {m.name} model expects {m.bands} bands{span} but {source} has {bands}; "
                                f"prepare a data set of those bands ('hsr prepare {example}') or use the "
                                "band-agnostic 'lkca-g'")
        select = f"select {m.bands} bands{span} with --bands (e.g. {example}), " if span \
            else f"select {m.bands} bands with --bands, "
        raise HsrInputError(f"the {m.name} model expects {m.bands} bands{span} but {source} has {bands}; {select}"
                            "use the band-agnostic 'lkca-g' or train a model for this sensor with 'hsr train'")
