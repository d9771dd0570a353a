"""Bundled pretrained weights: ``<name>.pt`` checkpoints with ``<name>.json`` model cards."""

from __future__ import annotations

import json
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent


def bundled() -> list[dict]:
    """Model cards of the bundled weights (empty until weights are trained and shipped)."""
    cards = []
    for card in sorted(WEIGHTS_DIR.glob("*.json")):
        info = json.loads(card.read_text())
        info.setdefault("name", card.stem)
        info["file"] = str(card.with_suffix(".pt"))
        cards.append(info)
    return cards


def default_model(bands: int, scale: int) -> str:
    """The best bundled model that fits the data, else ``bicubic``.

    Fitting: the scale matches, and the model is band-agnostic or was trained for this
    band count. Best: the highest test PSNR recorded in the model cards; without one,
    band-specific before band-agnostic, then the card's ``rank``.
    """
    fits = [c for c in bundled() if c.get("scale") == scale
            and (c.get("band_agnostic") or c.get("bands") == bands)]
    if not fits:
        return "bicubic"

    def key(c: dict):
        psnr = (c.get("test") or {}).get("psnr")
        return (-(psnr if psnr is not None else float("-inf")), bool(c.get("band_agnostic")), c.get("rank", 0))

    return sorted(fits, key=key)[0]["name"]
