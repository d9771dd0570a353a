"""Bundled pretrained weights: ``<name>.pt`` checkpoints with ``<name>.json`` model cards.

A card (:class:`ModelCard`) says which registry model the weights are for (scale, band count
or band-agnostic), how they were trained (data, command, steps, hardware) and what they scored
on the held-out scenes (``test``, ``test_airborne``: written by ``benchmarks/quality.py``).

A card with a ``composite`` field and no ``.pt`` ships a combination of bundled weights instead
(:mod:`hsrcli.infer.resolve`): its name is the ``-m`` value itself (``lkca-g_x4+lkca-g_x2``, a
×4 then a ×2 model, ×8 in all), scored and ranked for the default like any other card.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from hsrcli.errors import HsrInputError

WEIGHTS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ModelCard:
    """The fields of a model card the code reads; ``raw`` keeps the whole card (shown by ``hsr models``)."""

    name: str
    model: str
    scale: int
    bands: int | None  # None: band-agnostic
    band_agnostic: bool
    file: Path | None  # None: a composite of other bundled weights
    rank: int = 0
    test: dict | None = None  # held-out CAVE scenes: psnr, gain_db, ssim, sam…
    test_airborne: dict | None = None
    trained_on: str = ""
    composite: str | None = None  # the -m value combining bundled weights (``A+B``: a cascade)
    #: the bundled model these weights were trained behind (``hsr train --after``): a cascade's later
    #: stage, used through a composite card, never the default on its own
    after: str | None = None
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, d: dict, file: Path | None = None) -> ModelCard:
        """Check the fields used; :class:`HsrInputError` naming the card otherwise."""
        try:
            agnostic = bool(d.get("band_agnostic", d.get("bands") is None))
            composite = d.get("composite")
            if composite is not None and composite != d["name"]:
                raise ValueError("composite: must equal the card's name (the -m value)")
            path = None if composite else Path(file or d.get("file") or WEIGHTS_DIR / f"{d['name']}.pt")
            return cls(name=str(d["name"]), model=str(d["model"]), scale=int(d["scale"]),
                       bands=None if agnostic else int(d["bands"]), band_agnostic=agnostic, file=path,
                       rank=int(d.get("rank", 0)),
                       test=d.get("test"), test_airborne=d.get("test_airborne"),
                       trained_on=str(d.get("trained_on", "")), composite=composite, after=d.get("after"),
                       raw=dict(d))
        except (KeyError, TypeError, ValueError) as exc:
            raise HsrInputError(f"model card {d.get('name', file)!r}: bad or missing {exc}") from None

    def to_dict(self) -> dict:
        """The card as stored, plus the weights' file."""
        return self.raw | {"file": None if self.file is None else str(self.file)}

    def fits(self, bands: int, scale: int) -> bool:
        """Usable for data with ``bands`` bands at ``scale``."""
        return self.scale == scale and (self.band_agnostic or self.bands == bands)


def bundled() -> list[ModelCard]:
    """Model cards of the bundled weights, by name."""
    cards = []
    for card in sorted(WEIGHTS_DIR.glob("*.json")):
        info = json.loads(card.read_text())
        info.setdefault("name", card.stem)
        cards.append(ModelCard.from_dict(info, None if info.get("composite") else card.with_suffix(".pt")))
    return cards


def checkpoint_path(spec: str) -> Path | None:
    """The checkpoint file ``spec`` names — a path, or a bundled model's name — or ``None``."""
    path = Path(spec)
    if path.is_file():
        return path
    bundled_file = WEIGHTS_DIR / f"{spec}.pt"
    return bundled_file if (WEIGHTS_DIR / f"{spec}.json").is_file() and bundled_file.is_file() else None


def require_checkpoint(spec: str, option: str) -> Path:
    """The checkpoint file ``spec`` names (:func:`checkpoint_path`), or :class:`HsrInputError` naming the
    command-line ``option`` that gave it (e.g. ``--init-from``)."""
    path = checkpoint_path(spec)
    if path is None:
        raise HsrInputError(f"{option} {spec!r}: not a checkpoint file, and not a bundled model (see 'hsr models')")
    return path


#: The held-out test sets a card records (``benchmarks/quality.py``): CAVE, then the airborne scenes.
TEST_SETS = ("test", "test_airborne")


def default_model(bands: int, scale: int) -> str:
    """The best bundled model that fits the data, else ``bicubic``.

    Fitting: the scale matches, the model is band-agnostic or was trained for this band
    count, and it is not a cascade's later stage (``after``). Best: the highest mean test
    PSNR over the held-out test sets that every fitting card recorded (CAVE for all; the
    airborne scenes too where only band-agnostic models fit, so that sensors the CAVE scenes
    do not stand for count); without one, band-specific before band-agnostic, then the card's
    ``rank``.
    """
    fits = [c for c in bundled() if c.fits(bands, scale) and c.after is None]
    if not fits:
        return "bicubic"
    scored = [c for c in fits if _psnr(c, "test") is not None]
    common = [t for t in TEST_SETS if all(_psnr(c, t) is not None for c in scored)]

    def key(c: ModelCard):
        values = [_psnr(c, t) for t in common]
        mean = sum(values) / len(values) if values and None not in values else None
        return (-(mean if mean is not None else float("-inf")), c.band_agnostic, c.rank)

    return min(fits, key=key).name


def _psnr(card: ModelCard, test_set: str) -> float | None:
    """The card's mean PSNR (dB) on a held-out test set (a :data:`TEST_SETS` field), if recorded."""
    return (getattr(card, test_set) or {}).get("psnr")
