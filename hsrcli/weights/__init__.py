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
